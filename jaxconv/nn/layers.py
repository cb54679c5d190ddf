"""Flax NNX layers with ``torch.nn``'s constructors, parameter names and layouts.

Each layer is a thin shell over the jaxconv function of the same name: the
constructor validates its arguments (torch's order and defaults, plus jaxconv's
padding vocabulary) and creates ``nnx.Param``s named ``weight`` and ``bias`` in
torch's layout with torch's default initialisation; ``__call__`` calls the function.
"""

from __future__ import annotations

import functools
import math
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from jax import lax

from jaxconv.affine import linear
from jaxconv.convolution import conv1d, conv2d, conv3d
from jaxconv.normalization import _batch_norm, _batch_norm_update
from jaxconv.shapes import (
    PADDING_MODES,
    IntOrSeq,
    Padding,
    arg_error,
    check_bool,
    check_conv_layer,
    check_float,
    check_int,
    is_int,
)
from jaxconv.transpose import conv_transpose1d, conv_transpose2d, conv_transpose3d

__all__ = [
    "ELU",
    "GELU",
    "BatchNorm1d",
    "BatchNorm2d",
    "BatchNorm3d",
    "Conv1d",
    "Conv2d",
    "Conv3d",
    "ConvTranspose1d",
    "ConvTranspose2d",
    "ConvTranspose3d",
    "Dropout",
    "Flatten",
    "Identity",
    "LeakyReLU",
    "Linear",
    "LogSoftmax",
    "ReLU",
    "ReLU6",
    "Sequential",
    "SiLU",
    "Sigmoid",
    "Softmax",
    "Tanh",
]

CONV_PADDING_MODES = PADDING_MODES


def param_dtype(fn: str, dtype: Any) -> Any:
    """A layer's parameter dtype: float32 by default, any floating dtype, else a clear error."""
    if dtype is None:
        return jnp.float32
    try:
        dt = jnp.dtype(dtype)
    except TypeError:
        raise arg_error(fn, "dtype", "must be a floating dtype", dtype, exc=TypeError) from None
    if not jnp.issubdtype(dt, jnp.floating):
        raise arg_error(fn, "dtype", "must be a floating dtype", dtype, exc=TypeError)
    return dt


def _check_rngs(fn: str, rngs: Any) -> nnx.Rngs:
    if not isinstance(rngs, nnx.Rngs):
        raise arg_error(fn, "rngs", "must be an nnx.Rngs (e.g. rngs=nnx.Rngs(0))", type(rngs).__name__, exc=TypeError)
    return rngs


def kaiming_uniform_bound(fan_in: int) -> float:
    """Bound of torch's default weight and bias init: ``1 / sqrt(fan_in)``.

    torch's ``kaiming_uniform_(w, a=sqrt(5))`` draws from ``U(-b, b)`` with
    ``b = gain * sqrt(3 / fan_in)`` and ``gain = sqrt(2 / (1 + a^2)) = sqrt(1/3)``,
    which is ``1 / sqrt(fan_in)``; the bias uses the same bound.

    >>> kaiming_uniform_bound(25)
    0.2
    """
    return 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0


@functools.partial(jax.jit, static_argnums=1)
def _uniform01(key: jax.Array, size: int) -> jax.Array:
    return jax.random.uniform(key, (size,), jnp.float32)


@functools.partial(jax.jit, static_argnums=(1, 2))
def _scale(u: jax.Array, shape: tuple[int, ...], dtype: Any, bound: jax.Array) -> jax.Array:
    return ((2 * u[:math.prod(shape)] - 1) * bound).reshape(shape).astype(dtype)


def _uniform(rngs: nnx.Rngs, shape: tuple[int, ...], bound: float, dtype: Any) -> jax.Array:
    size = math.prod(shape)
    # The random generator is drawn at a few bucketed sizes (powers of two, then multiples
    # of 2**16) so that a model with many layer shapes compiles it a few times, not once per
    # shape; only the cheap slice-and-scale compiles per shape. Traceable (nnx.eval_shape, jit).
    bucket = 1 << max(8, (size - 1).bit_length()) if size <= 1 << 16 else -(-size // (1 << 16)) << 16
    return _scale(_uniform01(rngs.params(), bucket), shape, jnp.dtype(dtype), jnp.float32(bound))


class RankedLayer(nnx.Module):
    """Base of the layers written once for N spatial dims, with trivial 1-d/2-d/3-d subclasses (Equinox's pattern).

    ``class Conv2d(_ConvNd, n=2, doc=...): ...`` sets the class's rank ``n`` and its docstring.
    """

    n: int = 0

    def __init_subclass__(cls, n: int = 0, doc: str | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if n:
            cls.n = n
        if doc is not None:
            cls.__doc__ = doc


# ---------------------------------------------------------------------------------------
# Convolutions
# ---------------------------------------------------------------------------------------

def _conv_params(fn: str, w_shape: tuple[int, ...], fan_in_channels: int, out_channels: int, bias: bool, dtype: Any,
                 rngs: nnx.Rngs) -> tuple[nnx.Param, nnx.Param | None]:
    """``weight`` of ``w_shape`` and an optional ``bias``, both torch's default ``U(-b, b)``, ``b = 1/sqrt(fan_in)``,
    ``fan_in = weight.size(1) * prod(kernel)``."""
    use_bias = check_bool(fn, "bias", bias)
    dt = param_dtype(fn, dtype)
    rngs = _check_rngs(fn, rngs)
    bound = kaiming_uniform_bound(fan_in_channels * math.prod(w_shape[2:]))
    weight = nnx.Param(_uniform(rngs, w_shape, bound, dt))
    return weight, (nnx.Param(_uniform(rngs, (out_channels,), bound, dt)) if use_bias else None)


_CONV_FN = {1: conv1d, 2: conv2d, 3: conv3d}
_CONV_TRANSPOSE_FN = {1: conv_transpose1d, 2: conv_transpose2d, 3: conv_transpose3d}


class _ConvNd(RankedLayer):
    def __init__(self, in_channels: int, out_channels: int, kernel_size: IntOrSeq, stride: IntOrSeq = 1, padding: Padding = 0,
                 dilation: IntOrSeq = 1, groups: int = 1, bias: bool = True, padding_mode: str = "zeros", *, dtype: Any = None,
                 rngs: nnx.Rngs) -> None:
        fn = type(self).__name__
        a = check_conv_layer(fn, self.n, in_channels, out_channels, kernel_size, stride, padding, dilation, groups,
                             padding_mode)
        self.in_channels, self.out_channels, self.kernel_size, self.stride = a.in_channels, a.out_channels, a.kernel_size, a.stride
        self.padding, self.dilation, self.groups, self.padding_mode = a.padding, a.dilation, a.groups, padding_mode
        w_shape = (self.out_channels, self.in_channels // self.groups, *self.kernel_size)
        self.weight, self.bias = _conv_params(fn, w_shape, w_shape[1], self.out_channels, bias, dtype, rngs)

    def __call__(self, input: jax.Array) -> jax.Array:
        bias = None if self.bias is None else self.bias[...]
        return _CONV_FN[self.n](input, self.weight[...], bias, self.stride, self.padding, self.dilation, self.groups,
                                padding_mode=self.padding_mode)


def _conv_doc(n: int) -> str:
    fn = f"conv{n}d"
    k = {1: "kL", 2: "kH, kW", 3: "kD, kH, kW"}[n]
    shape = {1: "(2, 3, 8)", 2: "(2, 3, 8, 8)", 3: "(2, 3, 4, 8, 8)"}[n]
    out = {1: "(2, 4, 4)", 2: "(2, 4, 4, 4)", 3: "(2, 4, 2, 4, 4)"}[n]
    return f"""{n}-d convolution layer: ``torch.nn.Conv{n}d``'s constructor over :func:`jaxconv.{fn}`.

    Args:
      in_channels, out_channels: channel counts (``groups`` divides both).
      kernel_size, stride, dilation: int or {n} ints.
      padding: torch's int / per-dim ints / ``"same"`` / ``"valid"``, or any of jaxconv's
        vocabulary (per-side pairs, ``"same"`` with any stride, ``"full"``, ``"causal"``).
      groups: channel groups.
      bias: whether to learn a bias.
      padding_mode: ``"zeros"``, ``"reflect"``, ``"replicate"`` or ``"circular"``.
      dtype: parameter dtype (default float32).
      rngs: ``nnx.Rngs`` for the initialisation.

    Parameters: ``weight`` ``(out_channels, in_channels / groups, {k})`` and ``bias``
    ``(out_channels,)``, both ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))`` with
    ``fan_in = in_channels / groups * prod(kernel_size)`` (torch's default).

    Returns (when called): ``out = floor((in + lo + hi - d*(k-1) - 1)/s) + 1`` per dim.

    Example:
      >>> import jax.numpy as jnp
      >>> from flax import nnx
      >>> from jaxconv import nn
      >>> layer = nn.Conv{n}d(3, 4, 3, stride=2, padding="same", rngs=nnx.Rngs(0))
      >>> layer(jnp.ones({shape})).shape
      {out}
    """


class Conv1d(_ConvNd, n=1, doc=_conv_doc(1)): ...


class Conv2d(_ConvNd, n=2, doc=_conv_doc(2)): ...


class Conv3d(_ConvNd, n=3, doc=_conv_doc(3)): ...


class _ConvTransposeNd(RankedLayer):
    def __init__(self, in_channels: int, out_channels: int, kernel_size: IntOrSeq, stride: IntOrSeq = 1, padding: Padding = 0,
                 output_padding: IntOrSeq = 0, groups: int = 1, bias: bool = True, dilation: IntOrSeq = 1,
                 padding_mode: str = "zeros", *, dtype: Any = None, rngs: nnx.Rngs) -> None:
        fn = type(self).__name__
        a = check_conv_layer(fn, self.n, in_channels, out_channels, kernel_size, stride, padding, dilation, groups,
                             padding_mode, output_padding)
        self.in_channels, self.out_channels, self.kernel_size, self.stride = a.in_channels, a.out_channels, a.kernel_size, a.stride
        self.padding, self.dilation, self.groups, self.padding_mode = a.padding, a.dilation, a.groups, padding_mode
        self.output_padding = a.output_padding
        # torch computes fan_in from weight.size(1) = out_channels / groups (its weight is (C_in, C_out/groups, *k)).
        w_shape = (self.in_channels, self.out_channels // self.groups, *self.kernel_size)
        self.weight, self.bias = _conv_params(fn, w_shape, w_shape[1], self.out_channels, bias, dtype, rngs)

    def __call__(self, input: jax.Array, output_size: Sequence[int] | None = None) -> jax.Array:
        bias = None if self.bias is None else self.bias[...]
        # As torch's forward: an output_size overrides the constructor's output_padding.
        op = self.output_padding if output_size is None else 0
        return _CONV_TRANSPOSE_FN[self.n](input, self.weight[...], bias, self.stride, self.padding, op,
                                          self.groups, self.dilation, output_size=output_size)


def _conv_transpose_doc(n: int) -> str:
    k = {1: "kL", 2: "kH, kW", 3: "kD, kH, kW"}[n]
    shape = {1: "(2, 4, 5)", 2: "(2, 4, 5, 5)", 3: "(2, 4, 2, 5, 5)"}[n]
    out = {1: "(2, 3, 10)", 2: "(2, 3, 10, 10)", 3: "(2, 3, 4, 10, 10)"}[n]
    return f"""{n}-d transposed convolution layer: ``torch.nn.ConvTranspose{n}d`` over :func:`jaxconv.conv_transpose{n}d`.

    Args:
      in_channels, out_channels, kernel_size, stride, padding, output_padding,
        groups, bias, dilation: as torch (note torch's order: ``groups, bias, dilation``).
        ``padding`` also takes jaxconv's vocabulary (``"same"`` gives ``out = in * stride``).
      padding_mode: only ``"zeros"`` (as torch).
      dtype: parameter dtype (default float32).
      rngs: ``nnx.Rngs`` for the initialisation.

    Parameters: ``weight`` ``(in_channels, out_channels / groups, {k})`` and ``bias``
    ``(out_channels,)``, ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))`` with torch's
    ``fan_in = out_channels / groups * prod(kernel_size)`` (from ``weight.size(1)``).

    Call: ``layer(input, output_size=None)``; ``output_size`` picks the output_padding (as torch).
    ``out = (in - 1)*s - lo - hi + d*(k - 1) + output_padding + 1`` per dim.

    Example:
      >>> import jax.numpy as jnp
      >>> from flax import nnx
      >>> from jaxconv import nn
      >>> up = nn.ConvTranspose{n}d(4, 3, 2, stride=2, rngs=nnx.Rngs(0))
      >>> up(jnp.ones({shape})).shape
      {out}
    """


class ConvTranspose1d(_ConvTransposeNd, n=1, doc=_conv_transpose_doc(1)): ...


class ConvTranspose2d(_ConvTransposeNd, n=2, doc=_conv_transpose_doc(2)): ...


class ConvTranspose3d(_ConvTransposeNd, n=3, doc=_conv_transpose_doc(3)): ...


# ---------------------------------------------------------------------------------------
# Linear, Flatten, Identity
# ---------------------------------------------------------------------------------------

class Linear(nnx.Module):
    """Fully connected layer with ``torch.nn.Linear``'s constructor and layout: ``y = x @ weight.T + bias``.

    Args:
      in_features, out_features: sizes of the last input and output dims.
      bias: whether to learn a bias.
      dtype: parameter dtype (default float32).
      rngs: ``nnx.Rngs`` for the initialisation.

    Parameters: ``weight`` ``(out_features, in_features)`` and ``bias`` ``(out_features,)``,
    both ``U(-1/sqrt(in_features), 1/sqrt(in_features))`` (torch's default).

    Returns (when called): ``(*, out_features)`` for an input ``(*, in_features)``.

    Example:
      >>> import jax.numpy as jnp
      >>> from flax import nnx
      >>> from jaxconv import nn
      >>> nn.Linear(400, 120, rngs=nnx.Rngs(0))(jnp.ones((2, 400))).shape
      (2, 120)
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, *, dtype: Any = None, rngs: nnx.Rngs) -> None:
        fn = "Linear"
        self.in_features = check_int(fn, "in_features", in_features, 1)
        self.out_features = check_int(fn, "out_features", out_features, 1)
        use_bias = check_bool(fn, "bias", bias)
        dt = param_dtype(fn, dtype)
        rngs = _check_rngs(fn, rngs)
        bound = kaiming_uniform_bound(self.in_features)
        self.weight = nnx.Param(_uniform(rngs, (self.out_features, self.in_features), bound, dt))
        self.bias = nnx.Param(_uniform(rngs, (self.out_features,), bound, dt)) if use_bias else None

    def __call__(self, input: jax.Array) -> jax.Array:
        if input.ndim < 1 or input.shape[-1] != self.in_features:
            raise arg_error("Linear", "input", f"must have last dim in_features={self.in_features}", f"shape {tuple(input.shape)}")
        # One dot_general on the (out, in) weight: `input @ weight.T` copies the weight per eager call.
        return linear(input, self.weight[...], None if self.bias is None else self.bias[...])


class Flatten(nnx.Module):
    """Flatten dims ``start_dim..end_dim`` into one (``torch.nn.Flatten``).

    Args:
      start_dim: first dim to flatten (default 1, keeping the batch dim).
      end_dim: last dim to flatten (default -1).

    Returns (when called): the input reshaped, the flattened dims multiplied together.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxconv import nn
      >>> nn.Flatten()(jnp.ones((2, 16, 5, 5))).shape
      (2, 400)
    """

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        fn = "Flatten"
        if not is_int(start_dim):
            raise arg_error(fn, "start_dim", "must be an int", start_dim, exc=TypeError)
        if not is_int(end_dim):
            raise arg_error(fn, "end_dim", "must be an int", end_dim, exc=TypeError)
        self.start_dim, self.end_dim = int(start_dim), int(end_dim)

    def __call__(self, input: jax.Array) -> jax.Array:
        nd = max(input.ndim, 1)
        s = self.start_dim + nd if self.start_dim < 0 else self.start_dim
        e = self.end_dim + nd if self.end_dim < 0 else self.end_dim
        if not (0 <= s < nd and 0 <= e < nd):
            raise arg_error("Flatten", "start_dim/end_dim", f"must lie in [-{nd}, {nd - 1}] for a rank-{input.ndim} input",
                            (self.start_dim, self.end_dim))
        if s > e:
            raise arg_error("Flatten", "start_dim", "must not come after end_dim", (self.start_dim, self.end_dim))
        shape = tuple(input.shape) or (1,)
        return input.reshape((*shape[:s], math.prod(shape[s:e + 1]), *shape[e + 1:]))


class Identity(nnx.Module):
    """Return the input unchanged (``torch.nn.Identity``; constructor arguments are ignored, as torch).

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxconv import nn
      >>> nn.Identity()(jnp.ones(3)).shape
      (3,)
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __call__(self, input: jax.Array) -> jax.Array:
        return input


# ---------------------------------------------------------------------------------------
# Activations
# ---------------------------------------------------------------------------------------

def _act_doc(name: str, formula: str, example_args: str = "") -> str:
    return f"""``torch.nn.{name}``: {formula}, elementwise.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxconv import nn
      >>> nn.{name}({example_args})(jnp.zeros((2, 3))).shape
      (2, 3)
    """


class ReLU(nnx.Module):
    __doc__ = _act_doc("ReLU", "``max(x, 0)``")

    def __init__(self, inplace: bool = False) -> None:
        check_bool("ReLU", "inplace", inplace)  # accepted for torch compatibility; JAX arrays are immutable

    def __call__(self, input: jax.Array) -> jax.Array:
        return jax.nn.relu(input)


class ReLU6(nnx.Module):
    __doc__ = _act_doc("ReLU6", "``min(max(x, 0), 6)``")

    def __init__(self, inplace: bool = False) -> None:
        check_bool("ReLU6", "inplace", inplace)

    def __call__(self, input: jax.Array) -> jax.Array:
        return jnp.clip(input, 0, 6)


class LeakyReLU(nnx.Module):
    __doc__ = _act_doc("LeakyReLU", "``x if x >= 0 else negative_slope * x``", "0.1")

    def __init__(self, negative_slope: float = 0.01, inplace: bool = False) -> None:
        self.negative_slope = check_float("LeakyReLU", "negative_slope", negative_slope)
        check_bool("LeakyReLU", "inplace", inplace)

    def __call__(self, input: jax.Array) -> jax.Array:
        return jnp.where(input >= 0, input, input * jnp.asarray(self.negative_slope, input.dtype))


class ELU(nnx.Module):
    __doc__ = _act_doc("ELU", "``x if x > 0 else alpha * (exp(x) - 1)``")

    def __init__(self, alpha: float = 1.0, inplace: bool = False) -> None:
        self.alpha = check_float("ELU", "alpha", alpha)
        check_bool("ELU", "inplace", inplace)

    def __call__(self, input: jax.Array) -> jax.Array:
        return jax.nn.elu(input, self.alpha)


class Sigmoid(nnx.Module):
    __doc__ = _act_doc("Sigmoid", "``1 / (1 + exp(-x))``")

    def __call__(self, input: jax.Array) -> jax.Array:
        return jax.nn.sigmoid(input)


class Tanh(nnx.Module):
    __doc__ = _act_doc("Tanh", "``tanh(x)``")

    def __call__(self, input: jax.Array) -> jax.Array:
        return jnp.tanh(input)


class SiLU(nnx.Module):
    __doc__ = _act_doc("SiLU", "``x * sigmoid(x)``")

    def __init__(self, inplace: bool = False) -> None:
        check_bool("SiLU", "inplace", inplace)

    def __call__(self, input: jax.Array) -> jax.Array:
        return jax.nn.silu(input)


def _gelu(input: jax.Array, approximate: bool = False) -> jax.Array:
    """torch's GELU: ``0.5 * x * (1 + erf(x / sqrt(2)))``, or its tanh approximation.

    torch's CPU kernel computes exactly this erf form. ``jax.nn.gelu(approximate=False)`` writes it
    with ``erfc``, which XLA:CPU expands into a slower series: 3.9 ms against 1.4 for the erf form on
    (8, 32, 32, 384) float32 (torch 1.0), forward + backward 3.1 against 2.3; ConvNeXt-T's train step
    spent 64 ms in it (batch 8, 128x128). Both agree with torch to float32 rounding (1.2e-6 and 1.4e-6
    absolute at |x| <= 12; tests/test_nn.py).

    >>> import jax.numpy as jnp
    >>> [round(float(v), 4) for v in _gelu(jnp.array([-1.0, 0.0, 1.0]))]
    [-0.1587, 0.0, 0.8413]
    """
    if approximate:
        return jax.nn.gelu(input, approximate=True)
    return 0.5 * input * (1 + lax.erf(input * np.asarray(1 / math.sqrt(2), input.dtype)))


class GELU(nnx.Module):
    __doc__ = _act_doc("GELU", "``x * Phi(x)`` (``approximate='none'``, erf) or its tanh approximation (``'tanh'``)",
                       "approximate='tanh'")

    def __init__(self, approximate: str = "none") -> None:
        if approximate not in ("none", "tanh"):
            raise arg_error("GELU", "approximate", "must be 'none' or 'tanh'", approximate)
        self.approximate = approximate

    def __call__(self, input: jax.Array) -> jax.Array:
        return _gelu(input, approximate=self.approximate == "tanh")


class _SoftmaxLike(nnx.Module):
    _f: Callable[..., jax.Array]

    def __init__(self, dim: int | None = None) -> None:
        if not is_int(dim):
            # torch's dim=None picks a dim from the rank (a deprecated legacy rule); we ask for it.
            raise arg_error(type(self).__name__, "dim", "must be an int (torch's implicit dim=None is not supported)", dim,
                            exc=TypeError)
        self.dim = int(dim)  # type: ignore[arg-type]

    def __call__(self, input: jax.Array) -> jax.Array:
        return type(self)._f(input, axis=self.dim)


class Softmax(_SoftmaxLike):
    __doc__ = _act_doc("Softmax", "``exp(x) / sum(exp(x), dim)``", "dim=1")
    _f = staticmethod(jax.nn.softmax)


class LogSoftmax(_SoftmaxLike):
    __doc__ = _act_doc("LogSoftmax", "``x - logsumexp(x, dim)``", "dim=1")
    _f = staticmethod(jax.nn.log_softmax)


# ---------------------------------------------------------------------------------------
# Dropout and BatchNorm (train/eval via nnx's ``model.train()`` / ``model.eval()``)
# ---------------------------------------------------------------------------------------

class Dropout(nnx.Dropout):
    """``torch.nn.Dropout(p)``: zero each element with probability ``p`` and scale the rest by ``1/(1-p)``.

    Identity in eval mode (``model.eval()``, or ``deterministic=True``). Like torch,
    a new layer is in train mode, which draws masks from ``rngs`` (given here or at call time).

    Args:
      p: drop probability in ``[0, 1]``.
      inplace: accepted for torch compatibility (ignored).
      rngs: ``nnx.Rngs`` with a ``dropout`` stream (or a default one) for the masks.

    Example:
      >>> import jax.numpy as jnp
      >>> from flax import nnx
      >>> from jaxconv import nn
      >>> d = nn.Dropout(0.5, rngs=nnx.Rngs(0))
      >>> d.eval()
      >>> d(jnp.ones(4))
      Array([1., 1., 1., 1.], dtype=float32)
    """

    def __init__(self, p: float = 0.5, inplace: bool = False, *, rngs: nnx.Rngs | None = None) -> None:
        p = check_float("Dropout", "p", p, lo=0.0, hi=1.0)
        check_bool("Dropout", "inplace", inplace)
        if rngs is not None and not isinstance(rngs, (nnx.Rngs, nnx.RngStream)):
            raise arg_error("Dropout", "rngs", "must be an nnx.Rngs or None", type(rngs).__name__, exc=TypeError)
        super().__init__(p, rngs=rngs)
        self.p = p


class _BatchNorm(nnx.Module):
    n: int = 0
    ranks: tuple[int, ...] = ()

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True,
                 track_running_stats: bool = True, *, bias: bool = True, dtype: Any = None, use_running_average: bool = False,
                 rngs: nnx.Rngs | None = None) -> None:
        fn = type(self).__name__
        self.num_features = check_int(fn, "num_features", num_features, 1)
        self.eps = check_float(fn, "eps", eps, lo=0.0, lo_open=True)
        self.momentum = None if momentum is None else check_float(fn, "momentum", momentum, lo=0.0, hi=1.0)
        self.affine = check_bool(fn, "affine", affine)
        self.track_running_stats = check_bool(fn, "track_running_stats", track_running_stats)
        use_bias = check_bool(fn, "bias", bias)
        self.use_running_average = check_bool(fn, "use_running_average", use_running_average)
        dt = param_dtype(fn, dtype)
        c = self.num_features
        self.weight = nnx.Param(jnp.ones((c,), dt)) if self.affine else None
        self.bias = nnx.Param(jnp.zeros((c,), dt)) if self.affine and use_bias else None
        if self.track_running_stats:
            self.running_mean = nnx.BatchStat(jnp.zeros((c,), dt))
            self.running_var = nnx.BatchStat(jnp.ones((c,), dt))
            self.num_batches_tracked = nnx.BatchStat(jnp.zeros((), jnp.int32))
        else:
            self.running_mean = self.running_var = self.num_batches_tracked = None

    def __call__(self, input: jax.Array, *, use_running_average: bool | None = None) -> jax.Array:
        fn = type(self).__name__
        if input.ndim not in self.ranks:
            want = " or ".join(str(r) for r in self.ranks)
            raise arg_error(fn, "input", f"must have rank {want} (N, C, ...)", f"shape {tuple(input.shape)}")
        if input.shape[1] != self.num_features:
            raise arg_error(fn, "input", f"must have num_features={self.num_features} channels in dim 1", f"shape {tuple(input.shape)}")
        eval_mode = self.use_running_average if use_running_average is None else use_running_average
        rm, rv, nbt_var = self.running_mean, self.running_var, self.num_batches_tracked
        mean, var = (rm[...], rv[...]) if rm is not None and rv is not None else (None, None)
        weight = None if self.weight is None else self.weight[...]
        bias = None if self.bias is None else self.bias[...]
        # Eval mode uses the running statistics; train mode, or a layer without them, the batch's.
        y = _batch_norm(fn, input, mean, var, weight, bias, not (eval_mode and mean is not None), self.eps)
        if not eval_mode and rm is not None and rv is not None and nbt_var is not None:
            nbt = nbt_var[...] + 1
            nbt_var[...] = nbt
            # momentum=None: torch's cumulative average, factor 1 / num_batches_tracked.
            factor = 1.0 / nbt.astype(rm[...].dtype) if self.momentum is None else self.momentum
            rm[...], rv[...] = _batch_norm_update(fn, input, rm[...], rv[...], factor)
        return y


def _bn_doc(n: int) -> str:
    shape = {1: "(N, C) or (N, C, L)", 2: "(N, C, H, W)", 3: "(N, C, D, H, W)"}[n]
    ex = {1: "(4, 3, 5)", 2: "(4, 3, 5, 5)", 3: "(4, 3, 2, 5, 5)"}[n]
    return f"""``torch.nn.BatchNorm{n}d`` over inputs {shape}.

    Train mode (the default, as torch; ``model.train()``) normalises with the batch
    statistics (biased variance) and updates ``running_mean`` / ``running_var``
    (unbiased variance) as ``(1 - momentum) * running + momentum * batch``
    (``momentum=None``: cumulative average); eval mode (``model.eval()``) uses the running
    statistics. ``y = (x - mean) / sqrt(var + eps) * weight + bias``.

    Args:
      num_features: channels C.
      eps, momentum, affine, track_running_stats, bias: as torch.
      dtype: parameter dtype (default float32).
      use_running_average: start in eval mode.
      rngs: unused (accepted for a uniform constructor).

    Parameters: ``weight`` (ones) and ``bias`` (zeros) as ``nnx.Param``; ``running_mean``,
    ``running_var`` and ``num_batches_tracked`` as ``nnx.BatchStat``.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxconv import nn
      >>> bn = nn.BatchNorm{n}d(3)
      >>> bn(jnp.arange(float(jnp.prod(jnp.array({ex})))).reshape{ex}).shape
      {ex}
      >>> float(bn.num_batches_tracked[...])
      1.0
    """


class BatchNorm1d(_BatchNorm):
    n, ranks = 1, (2, 3)
    __doc__ = _bn_doc(1)


class BatchNorm2d(_BatchNorm):
    n, ranks = 2, (4,)
    __doc__ = _bn_doc(2)


class BatchNorm3d(_BatchNorm):
    n, ranks = 3, (5,)
    __doc__ = _bn_doc(3)


# ---------------------------------------------------------------------------------------
# Sequential
# ---------------------------------------------------------------------------------------

class Sequential(nnx.Module):
    """Apply layers in order (``torch.nn.Sequential``); children are named ``"0"``, ``"1"``, ... as torch.

    Args:
      *layers: callables (layers or functions), or a single ``OrderedDict`` of named layers.

    Returns (when called): the last layer's output.

    Example:
      >>> import jax.numpy as jnp
      >>> from flax import nnx
      >>> from jaxconv import nn
      >>> net = nn.Sequential(nn.Conv2d(1, 6, 5, padding=2, rngs=nnx.Rngs(0)), nn.ReLU())
      >>> net(jnp.ones((1, 1, 28, 28))).shape
      (1, 6, 28, 28)
      >>> sorted(nnx.to_flat_state(nnx.state(net, nnx.Param)).to_nested_state()["0"])
      ['bias', 'weight']
    """

    def __init__(self, *layers: Callable[..., Any] | OrderedDict[str, Callable[..., Any]]) -> None:
        if len(layers) == 1 and isinstance(layers[0], OrderedDict):
            items = list(layers[0].items())
        else:
            items = [(str(i), m) for i, m in enumerate(layers)]
        for name, m in items:
            if not isinstance(name, str) or not name or "." in name:
                raise arg_error("Sequential", "layers", "must be named by non-empty strings without '.'", name, exc=TypeError)
            if not callable(m):
                raise arg_error("Sequential", f"layers[{name}]", "must be callable", type(m).__name__, exc=TypeError)
            setattr(self, name, m)
        self._names = tuple(name for name, _ in items)

    def __len__(self) -> int:
        return len(self._names)

    def __iter__(self) -> Iterator[Any]:
        return (getattr(self, n) for n in self._names)

    def __getitem__(self, index: int | slice | str) -> Any:
        if isinstance(index, str):
            return getattr(self, index)
        if isinstance(index, slice):
            return Sequential(OrderedDict((n, getattr(self, n)) for n in self._names[index]))
        return getattr(self, self._names[index])

    def named_children(self) -> Iterator[tuple[str, Any]]:
        """``(name, layer)`` pairs in call order."""
        return ((n, getattr(self, n)) for n in self._names)

    def __call__(self, input: Any) -> Any:
        for name in self._names:
            input = getattr(self, name)(input)
        return input
