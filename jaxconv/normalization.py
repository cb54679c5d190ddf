"""Normalisation with ``torch.nn.functional``'s semantics: ``batch_norm``, ``layer_norm``, ``group_norm``.

Every function normalises ``y = (x - mean) / sqrt(var + eps) * weight + bias`` with the
*biased* variance (divided by the count), as torch. JAX is functional: where torch's
train-mode ``F.batch_norm`` writes new running statistics into its arguments in place,
:func:`batch_norm` only returns the output and :func:`batch_norm_update` returns the new
``(running_mean, running_var)`` (torch's momentum rule, *unbiased* batch variance).

Dtypes follow torch's CPU kernels: float16/bfloat16 inputs are computed in float32 (their
parameters may be float32 or the input's dtype, torch's "mixed dtype" rule) and the
output is rounded to the input's dtype; other float inputs need parameters of their own
dtype. Arguments are validated on static shapes before anything is traced.
"""

from __future__ import annotations

import functools
import math
import operator
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax
from jax.custom_derivatives import SymbolicZero

from jaxconv._plumbing import as_array
from jaxconv.policy import cpu_fusion_barrier
from jaxconv.shapes import arg_error, is_int

__all__ = ["batch_norm", "batch_norm_update", "group_norm", "layer_norm"]

_HALF = (jnp.dtype(jnp.float16), jnp.dtype(jnp.bfloat16))


def _opmath(dtype: Any) -> Any:
    """The dtype torch's CPU kernels compute in for inputs of ``dtype``."""
    return jnp.dtype(jnp.float32) if jnp.dtype(dtype) in _HALF else jnp.dtype(dtype)


# ---------------------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------------------

def _input(fn: str, input: Any, min_rank: int, what: str) -> jax.Array:
    x = as_array(fn, "input", input)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        raise arg_error(fn, "input", "must have a floating dtype", str(x.dtype), exc=TypeError)
    if x.ndim < min_rank:
        raise arg_error(fn, "input", f"must have rank >= {min_rank}: {what}", f"shape {tuple(x.shape)}")
    return x


def _param(fn: str, name: str, v: Any, x: jax.Array, shape: tuple[int, ...], what: str) -> jax.Array | None:
    """An optional per-channel (or per-element) parameter of ``shape`` in a dtype torch accepts with ``x``."""
    if v is None:
        return None
    p = as_array(fn, name, v)
    if tuple(p.shape) != shape:
        raise arg_error(fn, name, f"must have shape {shape} ({what})", f"shape {tuple(p.shape)}")
    allowed = (x.dtype, jnp.dtype(jnp.float32)) if x.dtype in _HALF else (x.dtype,)
    if p.dtype not in allowed:
        rule = (f"must have the input's dtype {x.dtype} or float32" if x.dtype in _HALF
                else f"must have the input's dtype {x.dtype} (cast it: {name}.astype(input.dtype))")
        raise arg_error(fn, name, rule, str(p.dtype), exc=TypeError)
    return p


def _float(fn: str, name: str, v: object, lo: float, hi: float | None = None) -> float:
    if isinstance(v, bool) or (not isinstance(v, (int, float)) and not hasattr(v, "__float__")):
        raise arg_error(fn, name, "must be a number", v, exc=TypeError)
    try:
        f = float(v)  # type: ignore[arg-type]
    except TypeError:  # e.g. a non-scalar array
        raise arg_error(fn, name, "must be a number", v, exc=TypeError) from None
    if not math.isfinite(f) or f < lo or (hi is not None and f > hi):
        raise arg_error(fn, name, f"must be a finite number in [{lo}, {'inf' if hi is None else hi}]", v)
    return f


def _bool(fn: str, name: str, v: object) -> bool:
    if not isinstance(v, bool) and type(v).__name__ != "bool_":
        raise arg_error(fn, name, "must be a bool", v, exc=TypeError)
    return bool(v)


def _momentum(fn: str, momentum: Any) -> Any:
    """A number in [0, 1], or a 0-d array (possibly traced, e.g. ``1 / num_batches_tracked``)."""
    if isinstance(momentum, jax.Array):
        if momentum.ndim != 0 or not jnp.issubdtype(momentum.dtype, jnp.floating):
            raise arg_error(fn, "momentum", "must be a number in [0, 1] or a 0-d float array",
                            f"{momentum.dtype} array of shape {tuple(momentum.shape)}", exc=TypeError)
        return momentum
    return _float(fn, "momentum", momentum, 0.0, 1.0)


def _channels(fn: str, input: Any, channels_last: Any) -> tuple[jax.Array, int, str]:
    """The input, its channel count and the per-channel parameters' rule, channels in dim 1 or last."""
    cl = _bool(fn, "channels_last", channels_last)
    x = _input(fn, input, 2, "(N, *, C)" if cl else "(N, C, *)")
    return x, x.shape[-1 if cl else 1], f"(C,): one entry per channel in dim {'-1' if cl else '1'} of the input"


def _per_channel(x: jax.Array, channels_last: bool) -> int:
    """How many values each channel has: every dim but the channel dim."""
    return math.prod(x.shape[:-1]) if channels_last else x.shape[0] * math.prod(x.shape[2:])


def _check_batch_size(fn: str, shape: tuple[int, ...], count: int) -> None:
    # torch's _verify_batch_size / "Expected more than 1 value per channel when training".
    if count == 1:
        raise arg_error(fn, "input", "must have more than 1 value per channel when training "
                        "(N * prod(spatial) > 1; torch: 'Expected more than 1 value per channel when training')", f"shape {shape}")


# ---------------------------------------------------------------------------------------
# batch_norm
# ---------------------------------------------------------------------------------------

def _affine(y: jax.Array, weight: jax.Array | None, bias: jax.Array | None, bshape: tuple[int, ...]) -> jax.Array:
    if weight is not None:
        y = y * weight.astype(y.dtype).reshape(bshape)
    if bias is not None:
        y = y + bias.astype(y.dtype).reshape(bshape)
    return y


def _channel_layout(x: jax.Array, channels_last: bool) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The reduced axes and the per-channel broadcast shape, channels in dim 1 or in the last dim."""
    if channels_last:
        return tuple(range(x.ndim - 1)), (1,) * (x.ndim - 1) + (-1,)
    return (0, *range(2, x.ndim)), (1, -1) + (1,) * (x.ndim - 2)


def _normalized(xc: jax.Array, axes: tuple[int, ...], bshape: tuple[int, ...], eps: float) -> tuple[jax.Array, jax.Array]:
    """``(xhat, rstd)``: ``xc`` normalised with its batch statistics over ``axes`` (biased variance)."""
    mean = jnp.mean(xc, axis=axes)
    var = jnp.mean(jnp.square(xc - mean.reshape(bshape)), axis=axes)
    rstd = lax.rsqrt(var + eps)
    return (xc - mean.reshape(bshape)) * rstd.reshape(bshape), rstd


@functools.partial(jax.custom_jvp, nondiff_argnums=(3, 4))
def _train_bn(xc: jax.Array, weight: jax.Array | None, bias: jax.Array | None, channels_last: bool, eps: float) -> jax.Array:
    axes, bshape = _channel_layout(xc, channels_last)
    return _affine(_normalized(xc, axes, bshape, eps)[0], weight, bias, bshape)


@functools.partial(_train_bn.defjvp, symbolic_zeros=True)
def _train_bn_jvp(channels_last: bool, eps: float, primals: tuple[Any, Any, Any], tangents: tuple[Any, Any, Any]
                  ) -> tuple[jax.Array, jax.Array]:
    # Train-mode batch norm's tangent in closed form, written so that its transpose is torch's backward
    # (native_batch_norm_backward): with s = weight * rstd, the input's cotangent is
    #   s * (ct - mean(ct) - xhat * mean(ct * xhat)),
    # the weight's sum(ct * xhat) and the bias's sum(ct). Each per-channel mean is taken of the unscaled
    # tangent, so the transposed reductions are sum(ct) and sum(ct * xhat) for the input too: XLA merges
    # them with the bias's and the weight's, two reductions per layer. Plain autodiff through the batch
    # mean and variance took five, and more elementwise passes (MobileNetV2's train step, batch 8,
    # 128x128: 260 reductions, 30 ms). tests/test_normalization.py checks values, gradients and second
    # order against torch.
    xc, weight, bias = primals
    xd, wd, bd = tangents
    axes, bshape = _channel_layout(xc, channels_last)
    xhat, rstd = _normalized(xc, axes, bshape, eps)
    y = _affine(xhat, weight, bias, bshape)
    count = math.prod(xc.shape[a] for a in axes)
    terms = []
    if not isinstance(xd, SymbolicZero):
        s = rstd if weight is None else rstd * weight
        # The minus signs sit on the per-channel factors: on the full-size terms, the transposed
        # reductions would be sums of -ct, which XLA does not merge with the bias's sum(ct).
        per = lambda v: (-s * (jnp.sum(v, axis=axes) / count)).reshape(bshape)  # noqa: E731
        terms.append(s.reshape(bshape) * xd + per(xd) + xhat * per(xd * xhat))
    if weight is not None and not isinstance(wd, SymbolicZero):
        terms.append(xhat * wd.reshape(bshape))
    if bias is not None and not isinstance(bd, SymbolicZero):
        terms.append(jnp.broadcast_to(bd.reshape(bshape), y.shape))
    yd = functools.reduce(jnp.add, terms) if terms else jnp.zeros_like(y)
    return y, yd


@functools.partial(jax.jit, static_argnames=("training", "eps", "channels_last"))
def _batch_norm_jit(x: jax.Array, running_mean: jax.Array | None, running_var: jax.Array | None, weight: jax.Array | None,
                    bias: jax.Array | None, training: bool, eps: float, channels_last: bool = False) -> jax.Array:
    ct = _opmath(x.dtype)
    xc = x.astype(ct)
    if training:
        w = None if weight is None else weight.astype(ct)
        b = None if bias is None else bias.astype(ct)
        return _train_bn(xc, w, b, channels_last, eps).astype(x.dtype)
    assert running_mean is not None and running_var is not None
    w = None if weight is None else weight.astype(ct)
    b = None if bias is None else bias.astype(ct)
    bshape = _channel_layout(x, channels_last)[1]
    return _eval_bn(xc, running_mean.astype(ct), running_var.astype(ct), w, b, bshape, eps).astype(x.dtype)


def _eval_bn_reference(x: jax.Array, mean: jax.Array, var: jax.Array, weight: jax.Array | None, bias: jax.Array | None,
                       bshape: tuple[int, ...], eps: float) -> jax.Array:
    return _affine((x - mean.reshape(bshape)) * lax.rsqrt(var.reshape(bshape) + eps), weight, bias, bshape)


@functools.partial(jax.custom_jvp, nondiff_argnums=(5, 6))
def _eval_bn(x: jax.Array, mean: jax.Array, var: jax.Array, weight: jax.Array | None, bias: jax.Array | None,
             bshape: tuple[int, ...], eps: float) -> jax.Array:
    """Evaluation-mode batch norm as torch's CPU kernel computes it: one multiply-add per element,
    ``x * alpha + beta`` with ``alpha = weight / sqrt(var + eps)`` and ``beta = bias - mean * alpha`` per
    channel (ATen's ``batch_norm_cpu_collect_linear_and_constant_terms``). torch's kernels fuse both
    multiply-adds, and so does XLA:CPU: the float32 values are bit-equal to torch's (the four-op form
    ``(x - mean) * rsqrt(var + eps) * weight + bias`` matched 37-55% of them; tests/test_normalization.py).
    Speed is unchanged (ported resnet18, mobilenet_v2 and efficientnet_b0 eval forwards 1.00x / 1.02x / 1.01x,
    timed alternately). Its tangent is the four-op form's: the weight term ``(x - mean) * invstd`` does not
    cancel as ``x * invstd - mean * invstd`` would."""
    # torch's 1 / sqrt, both correctly rounded: XLA's simplifier would rewrite 1 / sqrt(v) to rsqrt(v),
    # which XLA:CPU does not round as the two (28% of invstd's values differed): the barrier keeps them.
    alpha = 1 / lax.optimization_barrier(jnp.sqrt(var + eps))
    if weight is not None:
        alpha = alpha * weight
    beta = (jnp.zeros_like(alpha) if bias is None else bias) - mean * alpha
    return x * alpha.reshape(bshape) + beta.reshape(bshape)


@_eval_bn.defjvp
def _eval_bn_jvp(bshape: tuple[int, ...], eps: float, primals: tuple[Any, ...], tangents: tuple[Any, ...]) -> tuple[Any, Any]:
    x, mean, var, weight, bias = primals
    _, yd = jax.jvp(lambda x, m, v, w, b: _eval_bn_reference(x, m, v, w, b, bshape, eps), primals, tangents)
    return _eval_bn(x, mean, var, weight, bias, bshape, eps), yd


def _batch_norm(fn: str, input: Any, running_mean: Any, running_var: Any, weight: Any, bias: Any, training: bool,
                eps: float, channels_last: bool = False) -> jax.Array:
    """:func:`batch_norm` with errors naming ``fn`` (the layers call it with their class name)."""
    x, c, what = _channels(fn, input, channels_last)
    rm = _param(fn, "running_mean", running_mean, x, (c,), what)
    rv = _param(fn, "running_var", running_var, x, (c,), what)
    w = _param(fn, "weight", weight, x, (c,), what)
    b = _param(fn, "bias", bias, x, (c,), what)
    training = _bool(fn, "training", training)
    eps = _float(fn, "eps", eps, 0.0)
    if not training:
        for name, v in (("running_mean", rm), ("running_var", rv)):
            if v is None:
                raise arg_error(fn, name, "must be given in evaluation mode (training=False)", None)
    else:
        _check_batch_size(fn, tuple(x.shape), _per_channel(x, channels_last))
    return _batch_norm_jit(x, None if training else rm, None if training else rv, w, b, training, eps, channels_last)


def batch_norm(input: jax.Array, running_mean: jax.Array | None, running_var: jax.Array | None, weight: jax.Array | None = None,
               bias: jax.Array | None = None, training: bool = False, momentum: float = 0.1, eps: float = 1e-5, *,
               channels_last: bool = False) -> jax.Array:
    """Batch normalisation over dim 1: ``torch.nn.functional.batch_norm``, returning the output only.

    ``y = (x - mean) / sqrt(var + eps) * weight + bias`` per channel ``c`` of dim 1. With
    ``training=False`` ``mean``/``var`` are ``running_mean``/``running_var``; with
    ``training=True`` they are the batch statistics over every dim but 1 (biased variance,
    ``sum((x - mean)^2) / count``), and the gradient flows through them as in torch.

    Where torch's train mode also overwrites ``running_mean``/``running_var`` in place, JAX
    arrays are immutable: get the new values from :func:`batch_norm_update`.

    Args:
      input: ``(N, C, *)``, a floating dtype.
      running_mean, running_var: ``(C,)``; may be ``None`` only when ``training``.
      weight, bias: optional ``(C,)``.
      training: use the batch statistics (True) or the running ones (False).
      momentum: accepted for torch's signature; only :func:`batch_norm_update` uses it.
      eps: added to the variance, a finite number >= 0.

    Returns:
      ``(N, C, *)`` in the input's dtype.

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxconv
      >>> x = jnp.array([[1.0, 10.0], [3.0, 30.0]])  # (N=2, C=2)
      >>> jaxconv.batch_norm(x, None, None, training=True, eps=0.0)
      Array([[-1., -1.],
             [ 1.,  1.]], dtype=float32)
      >>> jaxconv.batch_norm(x, jnp.array([1.0, 10.0]), jnp.array([4.0, 100.0]), eps=0.0)
      Array([[0., 0.],
             [1., 2.]], dtype=float32)
    """
    _float("batch_norm", "momentum", momentum, 0.0, 1.0)
    return _batch_norm("batch_norm", input, running_mean, running_var, weight, bias, training, eps, channels_last)


@functools.partial(jax.jit, static_argnames=("channels_last",))
def _batch_norm_update_jit(x: jax.Array, running_mean: jax.Array, running_var: jax.Array,
                           momentum: Any, channels_last: bool = False) -> tuple[jax.Array, jax.Array]:
    ct = _opmath(x.dtype)
    xc = lax.stop_gradient(x).astype(ct)
    axes, bshape = _channel_layout(x, channels_last)
    count = _per_channel(x, channels_last)
    mean = jnp.mean(xc, axis=axes)
    var_sum = jnp.sum(jnp.square(xc - mean.reshape(bshape)), axis=axes)
    unbiased = var_sum / (count - 1)

    def update(running: jax.Array, stat: jax.Array) -> jax.Array:
        acc = jnp.result_type(ct, running.dtype)
        m = jnp.asarray(momentum, acc)
        return (m * stat.astype(acc) + (1 - m) * running.astype(acc)).astype(running.dtype)

    return update(running_mean, mean), update(running_var, unbiased)


def _batch_norm_update(fn: str, input: Any, running_mean: Any, running_var: Any, momentum: Any,
                       channels_last: bool = False) -> tuple[jax.Array, jax.Array]:
    """:func:`batch_norm_update` with errors naming ``fn``."""
    x, c, what = _channels(fn, input, channels_last)
    for name, v in (("running_mean", running_mean), ("running_var", running_var)):
        if v is None:
            raise arg_error(fn, name, "must be an array (the running statistic to update)", None, exc=TypeError)
    rm = _param(fn, "running_mean", running_mean, x, (c,), what)
    rv = _param(fn, "running_var", running_var, x, (c,), what)
    assert rm is not None and rv is not None
    m = _momentum(fn, momentum)
    if _per_channel(x, channels_last) <= 1:
        raise arg_error(fn, "input", "must have more than 1 value per channel when training "
                        "(the unbiased variance divides by N * prod(spatial) - 1)", f"shape {tuple(x.shape)}")
    return _batch_norm_update_jit(x, rm, rv, m, channels_last)


def batch_norm_update(input: jax.Array, running_mean: jax.Array, running_var: jax.Array, momentum: float = 0.1, *,
                      channels_last: bool = False) -> tuple[jax.Array, jax.Array]:
    """The running statistics torch's train-mode ``F.batch_norm`` writes in place, returned.

    ``new = (1 - momentum) * running + momentum * batch_stat`` per channel, with the batch
    mean and the *unbiased* batch variance ``sum((x - mean)^2) / (count - 1)`` over every
    dim but 1 (``count = N * prod(spatial)``). The batch statistics are computed in
    float32 for float16/bfloat16 inputs (torch's accumulate type) and are
    ``stop_gradient``-ed (torch's running statistics are buffers, not part of the graph);
    the results keep the running statistics' dtypes.

    Args:
      input: ``(N, C, *)``, a floating dtype, more than one value per channel.
      running_mean, running_var: ``(C,)``, the current running statistics.
      momentum: a number in ``[0, 1]``, or a 0-d float array (e.g. ``1 / num_batches_tracked``
        for torch's ``momentum=None`` cumulative average; not range-checked).

    Returns:
      ``(new_running_mean, new_running_var)``.

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxconv
      >>> x = jnp.array([[1.0], [3.0]])  # (N=2, C=1): mean 2, unbiased variance 2
      >>> jaxconv.batch_norm_update(x, jnp.zeros(1), jnp.ones(1), momentum=0.5)
      (Array([1.], dtype=float32), Array([1.5], dtype=float32))
    """
    return _batch_norm_update("batch_norm_update", input, running_mean, running_var, momentum, channels_last)


# ---------------------------------------------------------------------------------------
# layer_norm and group_norm
# ---------------------------------------------------------------------------------------

def check_normalized_shape(fn: str, normalized_shape: Any) -> tuple[int, ...]:
    """``normalized_shape`` as a tuple: an int (the last dim) or a non-empty sequence of ints >= 0 (also for ``nn.LayerNorm``)."""
    rule = "must be an int or a non-empty sequence of ints >= 0"
    if is_int(normalized_shape):
        ns: tuple[int, ...] = (operator.index(normalized_shape),)  # type: ignore[arg-type]
    elif isinstance(normalized_shape, Sequence) and not isinstance(normalized_shape, str) and all(
            is_int(v) for v in normalized_shape):
        ns = tuple(operator.index(v) for v in normalized_shape)
    else:
        raise arg_error(fn, "normalized_shape", rule, normalized_shape, exc=TypeError)
    if not ns or any(v < 0 for v in ns):
        raise arg_error(fn, "normalized_shape", rule, normalized_shape)
    return ns


@functools.partial(jax.jit, static_argnames=("n", "eps"))
def _layer_norm_jit(x: jax.Array, weight: jax.Array | None, bias: jax.Array | None, n: int, eps: float) -> jax.Array:
    ct = _opmath(x.dtype)
    xc = cpu_fusion_barrier(x.astype(ct))  # a fusion of its own on XLA:CPU (jaxconv.policy)
    axes = tuple(range(x.ndim - n, x.ndim))
    mean = jnp.mean(xc, axis=axes, keepdims=True)
    var = jnp.mean(jnp.square(xc - mean), axis=axes, keepdims=True)
    y = (xc - mean) * lax.rsqrt(var + eps)
    if weight is not None:
        y = y * weight.astype(ct)
    if bias is not None:
        y = y + bias.astype(ct)
    return y.astype(x.dtype)


def _layer_norm(fn: str, input: Any, normalized_shape: Any, weight: Any, bias: Any, eps: float) -> jax.Array:
    """:func:`layer_norm` with errors naming ``fn``."""
    ns = check_normalized_shape(fn, normalized_shape)
    x = _input(fn, input, 1, "(*, *normalized_shape)")
    if x.ndim < len(ns) or tuple(x.shape[x.ndim - len(ns):]) != ns:
        raise arg_error(fn, "normalized_shape", f"must equal the input's last {len(ns)} dim(s): input (*, {', '.join(map(str, ns))})",
                        f"{ns} for an input of shape {tuple(x.shape)}")
    what = "normalized_shape"
    w = _param(fn, "weight", weight, x, ns, what)
    b = _param(fn, "bias", bias, x, ns, what)
    eps = _float(fn, "eps", eps, 0.0)
    return _layer_norm_jit(x, w, b, len(ns), eps)


def layer_norm(input: jax.Array, normalized_shape: int | Sequence[int], weight: jax.Array | None = None,
               bias: jax.Array | None = None, eps: float = 1e-5) -> jax.Array:
    """Normalise over the last dims: ``torch.nn.functional.layer_norm``.

    ``y = (x - mean) / sqrt(var + eps) * weight + bias`` with ``mean`` and the biased
    ``var`` over the last ``len(normalized_shape)`` dims, separately for every leading index.

    Args:
      input: ``(*, *normalized_shape)``, a floating dtype.
      normalized_shape: the trailing shape to normalise over (an int for one dim; torch's
        functional wants a sequence, its ``nn.LayerNorm`` an int or a sequence).
      weight, bias: optional, of shape ``normalized_shape`` (elementwise affine).
      eps: added to the variance, a finite number >= 0.

    Returns:
      The input's shape and dtype.

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxconv
      >>> jaxconv.layer_norm(jnp.array([[1.0, 3.0], [0.0, 10.0]]), (2,), eps=0.0)
      Array([[-1.,  1.],
             [-1.,  1.]], dtype=float32)
    """
    return _layer_norm("layer_norm", input, normalized_shape, weight, bias, eps)


@functools.partial(jax.jit, static_argnames=("num_groups", "eps"))
def _group_norm_jit(x: jax.Array, weight: jax.Array | None, bias: jax.Array | None, num_groups: int, eps: float) -> jax.Array:
    ct = _opmath(x.dtype)
    n, c = x.shape[0], x.shape[1]
    g = x.astype(ct).reshape(n, num_groups, c // num_groups * math.prod(x.shape[2:]))
    mean = jnp.mean(g, axis=2, keepdims=True)
    var = jnp.mean(jnp.square(g - mean), axis=2, keepdims=True)
    y = ((g - mean) * lax.rsqrt(var + eps)).reshape(x.shape)
    return _affine(y, weight, bias, (1, c) + (1,) * (x.ndim - 2)).astype(x.dtype)


def _group_norm(fn: str, input: Any, num_groups: Any, weight: Any, bias: Any, eps: float) -> jax.Array:
    """:func:`group_norm` with errors naming ``fn``."""
    x = _input(fn, input, 2, "(N, C, *)")
    if not is_int(num_groups):
        raise arg_error(fn, "num_groups", "must be an int >= 1", num_groups, exc=TypeError)
    g = operator.index(num_groups)  # type: ignore[arg-type]
    if g < 1:
        raise arg_error(fn, "num_groups", "must be an int >= 1", num_groups)
    n, c = x.shape[0], x.shape[1]
    if c % g:
        raise arg_error(fn, "num_groups", f"must divide the input's channels C={c} (input shape {tuple(x.shape)})", num_groups)
    # torch's _verify_batch_size over [N * C / G, G, *spatial].
    _check_batch_size(fn, tuple(x.shape), n * (c // g) * math.prod(x.shape[2:]))
    what = "(C,): one entry per channel in dim 1 of the input"
    w = _param(fn, "weight", weight, x, (c,), what)
    b = _param(fn, "bias", bias, x, (c,), what)
    eps = _float(fn, "eps", eps, 0.0)
    return _group_norm_jit(x, w, b, g, eps)


def group_norm(input: jax.Array, num_groups: int, weight: jax.Array | None = None, bias: jax.Array | None = None,
               eps: float = 1e-5) -> jax.Array:
    """Normalise over groups of channels: ``torch.nn.functional.group_norm``.

    The ``C`` channels of dim 1 are split into ``num_groups`` consecutive groups of
    ``C / num_groups``; each sample's group is normalised with its own mean and biased
    variance over its channels and all spatial positions, then ``* weight[c] + bias[c]``
    per channel.

    Args:
      input: ``(N, C, *)``, a floating dtype.
      num_groups: an int >= 1 dividing ``C``.
      weight, bias: optional ``(C,)``.
      eps: added to each group's variance, a finite number >= 0.

    Returns:
      An array of the input's shape and dtype, normalised per sample and group.

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxconv
      >>> x = jnp.array([[1.0, 3.0, 0.0, 10.0]])  # (N=1, C=4): groups (1, 3) and (0, 10)
      >>> jaxconv.group_norm(x, 2, eps=0.0)
      Array([[-1.,  1., -1.,  1.]], dtype=float32)
    """
    return _group_norm("group_norm", input, num_groups, weight, bias, eps)
