"""N-d convolution with torch's arguments and the whole padding vocabulary.

Each public function canonicalises its arguments once into a frozen, hashable
:class:`ConvSpec` (cached on the static shapes) and then runs one jitted inner
function that makes a single ``lax.conv_general_dilated`` call.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax
from jax.custom_derivatives import SymbolicZero

from jaxconv.padding import check_pad_limits, pad_spatial
from jaxconv.shapes import (
    IntOrSeq,
    Padding,
    arg_error,
    canonicalize,
    conv_output_shape,
    resolve_padding,
    spec_cache,
    split_batch,
)

__all__ = ["ConvSpec", "conv", "conv1d", "conv2d", "conv3d", "conv_spec", "corr2d"]

PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


def freeze(v: Any) -> Any:
    """Lists -> tuples, recursively, so that arguments can key a cache."""
    if isinstance(v, (list, tuple)):
        return tuple(freeze(i) for i in v)
    return v


@dataclass(frozen=True)
class ConvSpec:
    """Everything static about one convolution call, resolved and validated."""

    n: int
    batched: bool
    stride: tuple[int, ...]
    dilation: tuple[int, ...]
    groups: int
    mode: str  # torch's padding_mode, applied by pad_spatial before the conv
    mode_pads: tuple[tuple[int, int], ...]  # padding applied by pad_spatial before the conv
    lax_pads: tuple[tuple[int, int], ...]  # padding handed to lax (zeros mode)
    channels_last: bool
    out_spatial: tuple[int, ...]
    # How the forward pass, the input gradient and the weight gradient are computed,
    # chosen statically from the shapes (see _choose_algorithms).
    algorithms: tuple[str, str, str] = ("direct", "direct", "direct")

    @property
    def algorithm(self) -> str:
        """The forward pass's algorithm."""
        return self.algorithms[0]

    @property
    def dimension_numbers(self) -> lax.ConvDimensionNumbers:
        n = self.n
        sp = tuple(range(2, n + 2))
        if self.channels_last:
            io = (0, n + 1, *range(1, n + 1))
            return lax.ConvDimensionNumbers(io, (n + 1, n, *range(n)), io)
        return lax.ConvDimensionNumbers((0, 1, *sp), (0, 1, *sp), (0, 1, *sp))


@spec_cache
def _conv_spec_cached(fn: str, x_shape: tuple[int, ...], w_shape: tuple[int, ...], b_shape: tuple[int, ...] | None,
                      stride: Any, padding: Any, dilation: Any, groups: Any, padding_mode: Any,
                      channels_last: bool, n_expected: int | None) -> ConvSpec:
    w_rank = len(w_shape)
    if w_rank < 3:
        raise arg_error(fn, "weight", "must have rank >= 3: (out_channels, in_channels/groups, *kernel)", f"shape {w_shape}")
    n = w_rank - 2
    if n_expected is not None and n != n_expected:
        raise arg_error(fn, "weight", f"must have rank {n_expected + 2} for {n_expected}-d convolution", f"shape {w_shape}")
    batched = split_batch(fn, len(x_shape), n)
    if channels_last:
        kernel = tuple(w_shape[:n])
        w_in, w_out = w_shape[n], w_shape[n + 1]
        c_in = x_shape[-1]
        spatial = tuple(x_shape[-n - 1:-1])
    else:
        kernel = tuple(w_shape[2:])
        w_out, w_in = w_shape[0], w_shape[1]
        c_in = x_shape[-n - 1]
        spatial = tuple(x_shape[-n:])
    if isinstance(groups, bool) or not isinstance(groups, int):
        raise arg_error(fn, "groups", "must be an int >= 1", groups, exc=TypeError)
    if groups < 1:
        raise arg_error(fn, "groups", "must be an int >= 1", groups)
    if w_out % groups:
        raise arg_error(fn, "groups", f"must divide out_channels={w_out} (weight shape {w_shape})", groups)
    if c_in != w_in * groups:
        raise arg_error(fn, "input", f"must have in_channels = weight in_channels * groups = {w_in} * {groups} = {w_in * groups}",
                        f"{c_in} channels (shape {x_shape})")
    if b_shape is not None and b_shape != (w_out,):
        raise arg_error(fn, "bias", f"must have shape ({w_out},) = (out_channels,)", f"shape {b_shape}")
    if any(s < 1 for s in spatial):
        raise arg_error(fn, "input", "must have spatial sizes >= 1", f"shape {x_shape}")
    ss = canonicalize(stride, n, "stride", fn, min_value=1)
    ds = canonicalize(dilation, n, "dilation", fn, min_value=1)
    if not isinstance(padding_mode, str) or padding_mode not in PADDING_MODES:
        raise arg_error(fn, "padding_mode", f"must be one of {PADDING_MODES}", padding_mode)
    pads = resolve_padding(padding, spatial, kernel, ss, ds, fn=fn)
    out = conv_output_shape(spatial, kernel, ss, pads, ds, fn=fn)
    if padding_mode == "zeros" and (all(v == 1 for v in ss) or not any(lo or hi for lo, hi in pads)):
        mode_pads, lax_pads = ((0, 0),) * n, pads
    elif padding_mode == "zeros":
        # Strided + padded: pad explicitly and convolve VALID. XLA 0.10's CPU algebraic
        # simplifier aborts the process (CHECK failure) when compiling the input gradient
        # of some strided, padded convs, e.g. x (1,1,4,1), k 2, stride 2, padding 1; with
        # the padding outside the conv the gradient compiles. Forward cost: the same
        # (XLA folds the pad into the convolution window).
        mode_pads, lax_pads = pads, ((0, 0),) * n
    else:
        check_pad_limits(fn, padding_mode, pads, spatial)
        mode_pads, lax_pads = pads, ((0, 0),) * n
    algorithms = _choose_algorithms(n, x_shape[0] if batched else 1, c_in, kernel, groups, lax_pads, out)
    return ConvSpec(n, batched, ss, ds, groups, padding_mode, mode_pads, lax_pads, bool(channels_last), out, algorithms)


def conv_spec(fn: str, x: Any, weight: Any, bias: Any, stride: IntOrSeq, padding: Padding, dilation: IntOrSeq,
              groups: int, padding_mode: str, channels_last: bool, n_expected: int | None) -> ConvSpec:
    """Validate a convolution call and resolve it to a cached :class:`ConvSpec`."""
    try:
        return _conv_spec_cached(fn, tuple(x.shape), tuple(weight.shape), None if bias is None else tuple(bias.shape),
                                 freeze(stride), freeze(padding), freeze(dilation), groups, padding_mode,
                                 bool(channels_last), n_expected)
    except TypeError as e:
        if "unhashable" not in str(e):
            raise
        raise arg_error(fn, "padding", "must be an int, a sequence of ints or pairs, or a string", padding, exc=TypeError) from None


# --- algorithms ---------------------------------------------------------------------------
# XLA:CPU (0.10, convolutions and dots lowered to YNNPACK) has performance cliffs that a
# static, shape-based choice avoids. Figures: single-thread CPU-time medians on this
# project's 2-core AMD EPYC machine (forward / input gradient / weight gradient, ms).
# * A convolution whose window has no padding at all is ~2.5x slower than the same one
#   with any padding (3x3 64->64, 58x58 VALID, batch 8: 62 / 28 / 59 as given to XLA;
#   24 / 27 / 22 with `stride` extra zero columns whose output column is cropped:
#   "direct_hipad"). The explicitly padded strided convs (the ResNet stem) are unpadded
#   windows too: stem forward 76 -> 33.
# * A 1x1 convolution is a GEMM ("gemm"): 1x1 256->1024 @14: 13 / 14 / 23 -> 11 / 11 / 10.
# * With few input channels (LeNet's 1->6 5x5, batch 64) XLA's convolutions are slow,
#   the input gradient most (a one-channel output): 3.1 / 8.1 / 1.3; im2col (one strided
#   slice per kernel offset) + a batched GEMM, whose transpose is a col2im of shifted
#   adds: 1.1 / 1.1 / 1.8. Its weight gradient loses to XLA's own, so the three parts
#   are chosen separately (a custom JVP whose tangent uses the gradient algorithms).
#   Past ~2M patch elements building the patches costs more than the GEMM saves.
# Every algorithm computes the same sums in another order: results agree to float32
# rounding (tests/test_conv_paths.py checks each against the others and torch).

ALGORITHMS = ("direct", "direct_hipad", "gemm")
_GEMM_MAX_K = 160  # in_channels * prod(kernel): small channel counts only
_GEMM_MAX_PATCH_ELEMS = 2 ** 21  # K * N * prod(out): patches up to 8 MiB of float32
_GEMM_MIN_PATCH_ELEMS = 2 ** 14  # below this a convolution is all dispatch: keep XLA's one op
_GEMM_BROADCAST_MAX = 2 ** 18  # N * out_channels * K: broadcast the weight, batch the GEMM


def _choose_algorithms(n: int, batch: int, c_in: int, kernel: tuple[int, ...], groups: int,
                       lax_pads: tuple[tuple[int, int], ...], out: tuple[int, ...]) -> tuple[str, str, str]:
    """(forward, input-gradient, weight-gradient) algorithms for these static shapes (pure, deterministic)."""
    unpadded = not any(lo or hi for lo, hi in lax_pads)
    k_elems = math.prod(kernel)
    patch_elems = c_in * k_elems * batch * math.prod(out)
    xla = "direct_hipad" if n == 2 and unpadded and k_elems > 1 else "direct"
    if groups == 1 and patch_elems >= _GEMM_MIN_PATCH_ELEMS:
        if k_elems == 1 and unpadded:
            return ("gemm", "gemm", "gemm")
        if n == 2 and c_in * k_elems <= _GEMM_MAX_K and patch_elems <= _GEMM_MAX_PATCH_ELEMS:
            return ("gemm", "gemm", xla)
    return (xla, xla, xla)


def _direct(x: jax.Array, w: jax.Array, spec: ConvSpec, precision: Any, pads: Any = None) -> jax.Array:
    return lax.conv_general_dilated(
        x, w, window_strides=spec.stride, padding=spec.lax_pads if pads is None else pads, rhs_dilation=spec.dilation,
        dimension_numbers=spec.dimension_numbers, feature_group_count=spec.groups, precision=precision,
    )


def _direct_hipad(x: jax.Array, w: jax.Array, spec: ConvSpec, precision: Any) -> jax.Array:
    # `stride` more zeros at the high end of the last spatial dim give exactly one more
    # output position there, which is cropped; the rest is untouched.
    pads = (*spec.lax_pads[:-1], (spec.lax_pads[-1][0], spec.lax_pads[-1][1] + spec.stride[-1]))
    y = _direct(x, w, spec, precision, pads)
    axis = spec.n if spec.channels_last else spec.n + 1
    return lax.slice_in_dim(y, 0, spec.out_spatial[-1], axis=axis)


def _gemm(x: jax.Array, w: jax.Array, spec: ConvSpec, precision: Any) -> jax.Array:
    # im2col: one strided slice of the (padded) input per kernel offset, stacked next to
    # the channels in the weight's own (C, *kernel) / (*kernel, C) order, then one GEMM.
    n, cl = spec.n, spec.channels_last
    sp_axes = range(1, n + 1) if cl else range(2, n + 2)
    if any(lo or hi for lo, hi in spec.lax_pads):
        cfg = [(0, 0, 0)] * x.ndim
        for ax, (lo, hi) in zip(sp_axes, spec.lax_pads):
            cfg[ax] = (lo, hi, 0)
        x = lax.pad(x, jnp.zeros((), x.dtype), cfg)
    kernel = w.shape[:n] if cl else w.shape[2:]
    taps = []
    for offs in itertools.product(*(range(k) for k in kernel)):
        start, limit, strides = [0] * x.ndim, list(x.shape), [1] * x.ndim
        for d, ax in enumerate(sp_axes):
            start[ax] = offs[d] * spec.dilation[d]
            limit[ax] = start[ax] + spec.stride[d] * (spec.out_spatial[d] - 1) + 1
            # stride 1 where one output fits: XLA's SPMD partitioner miscompiles a strided
            # slice taking one element of a sharded dim (tests/test_sharding.py)
            strides[ax] = spec.stride[d] if spec.out_spatial[d] > 1 else 1
        taps.append(lax.slice(x, start, limit, strides))
    batch, t, length = x.shape[0], len(taps), math.prod(spec.out_spatial)
    if cl:
        c, c_out = x.shape[-1], w.shape[-1]
        p = (taps[0] if t == 1 else jnp.stack(taps, axis=-2)).reshape(batch, length, t * c)
        y = lax.dot_general(p, w.reshape(t * c, c_out), (((2,), (0,)), ((), ())), precision=precision)
        return y.reshape(batch, *spec.out_spatial, c_out)
    c, c_out = x.shape[1], w.shape[0]
    p = (taps[0] if t == 1 else jnp.stack(taps, axis=2)).reshape(batch, c * t, length)
    w2 = w.reshape(c_out, c * t)
    if batch * c_out * c * t <= _GEMM_BROADCAST_MAX:
        # Small weights: a batched GEMM straight into NCHW beats one GEMM and a transpose.
        y = lax.dot_general(jnp.broadcast_to(w2, (batch, c_out, c * t)), p, (((2,), (1,)), ((0,), (0,))),
                            precision=precision)
    else:
        y = jnp.matmul(w2, p, precision=precision)
    return y.reshape(batch, c_out, *spec.out_spatial)


_ALGORITHMS = {"direct": _direct, "direct_hipad": _direct_hipad, "gemm": _gemm}


@functools.partial(jax.custom_jvp, nondiff_argnums=(2, 3))
def _mixed(x: jax.Array, w: jax.Array, spec: ConvSpec, precision: Any) -> jax.Array:
    return _ALGORITHMS[spec.algorithms[0]](x, w, spec, precision)


@functools.partial(_mixed.defjvp, symbolic_zeros=True)
def _mixed_jvp(spec: ConvSpec, precision: Any, primals: tuple[Any, Any], tangents: tuple[Any, Any]) -> tuple[Any, Any]:
    # The convolution is bilinear, so its tangent is conv(dx, w) + conv(x, dw); computing
    # each term with its own algorithm makes reverse mode transpose exactly those: the
    # input gradient is the transpose of the first term, the weight gradient of the second.
    x, w = primals
    xd, wd = tangents
    fwd, a_dx, a_dw = spec.algorithms
    y = _ALGORITHMS[fwd](x, w, spec, precision)
    terms = []
    if not isinstance(xd, SymbolicZero):
        terms.append(_ALGORITHMS[a_dx](xd, w, spec, precision))
    if not isinstance(wd, SymbolicZero):
        terms.append(_ALGORITHMS[a_dw](x, wd, spec, precision))
    yd = functools.reduce(jnp.add, terms) if terms else jnp.zeros_like(y)
    return y, yd


def _convolve(x: jax.Array, w: jax.Array, spec: ConvSpec, precision: Any) -> jax.Array:
    a = spec.algorithms
    if a[0] == a[1] == a[2]:  # one algorithm: plain autodiff of it
        return _ALGORITHMS[a[0]](x, w, spec, precision)
    return _mixed(x, w, spec, precision)


_forced_algorithm: tuple[str, str, str] | None = None


def _with_algorithms(spec: ConvSpec, algorithms: tuple[str, str, str]) -> ConvSpec:
    if "gemm" in algorithms and spec.groups != 1:
        raise ValueError(f"conv algorithm 'gemm' needs groups == 1, got {spec.groups}")
    return dataclasses.replace(spec, algorithms=algorithms)


@contextlib.contextmanager
def _force_algorithm(algorithm: str | tuple[str, str, str] | None) -> Iterator[None]:
    """Testing switch: run every convolution traced in this block with ``algorithm``.

    A name forces it for the forward pass and both gradients; a triple gives
    (forward, input gradient, weight gradient); None restores the automatic choice.
    """
    global _forced_algorithm
    triple = (algorithm,) * 3 if isinstance(algorithm, str) else algorithm
    if triple is not None and (len(triple) != 3 or any(a not in ALGORITHMS for a in triple)):
        raise ValueError(f"unknown conv algorithm {algorithm!r}; one of {ALGORITHMS} or a triple of them")
    saved, _forced_algorithm = _forced_algorithm, triple
    try:
        yield
    finally:
        _forced_algorithm = saved


def _conv_impl(x: jax.Array, w: jax.Array, b: jax.Array | None, spec: ConvSpec, precision: Any) -> jax.Array:
    if not spec.batched:
        x = x[None]
    if any(lo or hi for lo, hi in spec.mode_pads):
        if spec.channels_last:
            x = jnp.moveaxis(pad_spatial(jnp.moveaxis(x, -1, 1), spec.mode_pads, spec.mode), 1, -1)
        else:
            x = pad_spatial(x, spec.mode_pads, spec.mode)
    y = _convolve(x, w, spec, precision)
    if b is not None:
        y = y + (b if spec.channels_last else b.reshape((-1,) + (1,) * spec.n))
    return y if spec.batched else y[0]


_conv_jit = jax.jit(_conv_impl, static_argnums=(3, 4))


def _as_array(fn: str, name: str, v: Any) -> Any:
    if v is None or (hasattr(v, "shape") and hasattr(v, "dtype")):
        return v
    try:
        return jnp.asarray(v)
    except TypeError:
        raise arg_error(fn, name, "must be an array", type(v).__name__, exc=TypeError) from None


def _check_dtypes(fn: str, x: Any, w: Any, b: Any) -> None:
    if x.dtype != w.dtype:
        raise arg_error(fn, "weight", f"must have the input's dtype {x.dtype}", str(w.dtype), exc=TypeError)
    if b is not None and b.dtype != x.dtype:
        raise arg_error(fn, "bias", f"must have the input's dtype {x.dtype}", str(b.dtype), exc=TypeError)


def _conv(fn: str, n: int | None, input: Any, weight: Any, bias: Any, stride: IntOrSeq, padding: Padding,
          dilation: IntOrSeq, groups: int, padding_mode: str, channels_last: bool, precision: Any) -> jax.Array:
    input, weight, bias = _as_array(fn, "input", input), _as_array(fn, "weight", weight), _as_array(fn, "bias", bias)
    spec = conv_spec(fn, input, weight, bias, stride, padding, dilation, groups, padding_mode, channels_last, n)
    _check_dtypes(fn, input, weight, bias)
    if _forced_algorithm is not None:
        spec = _with_algorithms(spec, _forced_algorithm)
    return _conv_jit(input, weight, bias, spec, precision)


def conv(
    input: jax.Array,
    weight: jax.Array,
    bias: jax.Array | None = None,
    stride: IntOrSeq = 1,
    padding: Padding = 0,
    dilation: IntOrSeq = 1,
    groups: int = 1,
    *,
    padding_mode: str = "zeros",
    channels_last: bool = False,
    precision: Any = None,
) -> jax.Array:
    """N-d convolution (cross-correlation), the number of spatial dims taken from ``weight``.

    Args:
      input: ``(N, C_in, *spatial)`` or unbatched ``(C_in, *spatial)``; with
        ``channels_last``, ``(N, *spatial, C_in)`` or ``(*spatial, C_in)``.
      weight: ``(C_out, C_in / groups, *kernel)`` (torch's OIHW); with
        ``channels_last``, ``(*kernel, C_in / groups, C_out)`` (TF/Flax's HWIO).
      bias: optional ``(C_out,)``.
      stride: int or per-dim ints, >= 1.
      padding: int, per-dim ints, per-side pairs ``((lo, hi), ...)``, or ``"valid"``,
        ``"same"`` (XLA/TF rule for any stride and dilation), ``"same_lower"``,
        ``"full"``, ``"causal"``.
      dilation: int or per-dim ints, >= 1.
      groups: number of channel groups; divides ``C_in`` and ``C_out``.
      padding_mode: ``"zeros"``, ``"reflect"``, ``"replicate"`` or ``"circular"``
        (as ``torch.nn.Conv2d(padding_mode=...)``: the input is padded in that
        mode, then convolved without padding).
      channels_last: use NHWC inputs/outputs and HWIO weights.
      precision: passed to ``lax.conv_general_dilated``.

    Returns:
      ``(N, C_out, *out)`` with ``out = floor((in + lo + hi - d*(k-1) - 1)/s) + 1``
      per spatial dim (unbatched in, unbatched out).

    Unlike torch, ``padding="same"`` works with any stride: the output has
    ``ceil(in / s)`` positions and the odd padding pixel goes at the end, as XLA/TF.
    Flax's ``nnx.Conv`` uses the same rule but HWIO weights and NHWC inputs.

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxconv
      >>> x, w = jnp.ones((1, 2, 7, 7)), jnp.ones((4, 2, 3, 3))
      >>> jaxconv.conv(x, w, stride=2, padding="same").shape
      (1, 4, 4, 4)
    """
    return _conv("conv", None, input, weight, bias, stride, padding, dilation, groups, padding_mode, channels_last, precision)


def _make_conv_nd(n: int) -> Any:
    name = f"conv{n}d"

    def conv_nd(
        input: jax.Array,
        weight: jax.Array,
        bias: jax.Array | None = None,
        stride: IntOrSeq = 1,
        padding: Padding = 0,
        dilation: IntOrSeq = 1,
        groups: int = 1,
        *,
        padding_mode: str = "zeros",
        channels_last: bool = False,
        precision: Any = None,
    ) -> jax.Array:
        return _conv(name, n, input, weight, bias, stride, padding, dilation, groups, padding_mode, channels_last, precision)

    conv_nd.__name__ = conv_nd.__qualname__ = name
    shape = {1: "(N, C_in, L)", 2: "(N, C_in, H, W)", 3: "(N, C_in, D, H, W)"}[n]
    wshape = {1: "(C_out, C_in/groups, kL)", 2: "(C_out, C_in/groups, kH, kW)", 3: "(C_out, C_in/groups, kD, kH, kW)"}[n]
    ex = {1: ("jnp.ones((1, 2, 10))", "jnp.ones((3, 2, 3))", "(1, 3, 10)"),
          2: ("jnp.ones((1, 2, 8, 8))", "jnp.ones((3, 2, 3, 3))", "(1, 3, 8, 8)"),
          3: ("jnp.ones((1, 2, 4, 4, 4))", "jnp.ones((3, 2, 3, 3, 3))", "(1, 3, 4, 4, 4)")}[n]
    conv_nd.__doc__ = f"""{n}-d convolution with ``torch.nn.functional.{name}``'s arguments.

    Args:
      input: {shape} or unbatched without N.
      weight: {wshape}.
      bias: optional (C_out,).
      stride, padding, dilation, groups, padding_mode, channels_last, precision:
        as :func:`jaxconv.conv` (padding takes the whole vocabulary).

    Returns:
      The output, ``out = floor((in + lo + hi - d*(k-1) - 1)/s) + 1`` per spatial dim.

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxconv
      >>> jaxconv.{name}({ex[0]}, {ex[1]}, padding="same").shape
      {ex[2]}
    """
    return conv_nd


conv1d = _make_conv_nd(1)
conv2d = _make_conv_nd(2)
conv3d = _make_conv_nd(3)


def corr2d(X: jax.Array, K: jax.Array) -> jax.Array:
    """2-D cross-correlation of a plain ``(H, W)`` array with an ``(h, w)`` kernel (d2l's ``corr2d``).

    Returns:
      ``(H - h + 1, W - w + 1)``: ``Y[i, j] = sum(X[i:i+h, j:j+w] * K)``.

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxconv
      >>> X = jnp.arange(9.0).reshape(3, 3)
      >>> jaxconv.corr2d(X, jnp.array([[0.0, 1.0], [2.0, 3.0]]))
      Array([[19., 25.],
             [37., 43.]], dtype=float32)
    """
    fn = "corr2d"
    X, K = _as_array(fn, "X", X), _as_array(fn, "K", K)
    if X.ndim != 2:
        raise arg_error(fn, "X", "must be a 2-d (H, W) array", f"shape {tuple(X.shape)}")
    if K.ndim != 2:
        raise arg_error(fn, "K", "must be a 2-d (h, w) array", f"shape {tuple(K.shape)}")
    if K.dtype != X.dtype:
        K = K.astype(X.dtype)
    return _conv(fn, 2, X[None, None], K[None, None], None, 1, 0, 1, 1, "zeros", False, None)[0, 0]

