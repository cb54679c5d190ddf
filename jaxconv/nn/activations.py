"""Mobile-network activations and channel shuffle: ``Hardswish``, ``Hardsigmoid``, ``Mish``, ``ChannelShuffle``.

The activations compute torch's CPU formulas, operation for operation, and their
gradients are torch's backward formulas (custom JVPs), including at the kinks
``x = -3`` and ``x = 3`` where autodiff of ``clip`` would split the difference, and
for large ``x`` where autodiff of Mish's ``log1p(exp(x))`` gives ``inf / inf``.
The basic activations (``ReLU``, ``GELU``, ...) live in :mod:`jaxconv.nn.layers`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

from jaxconv._plumbing import as_array
from jaxconv.shapes import arg_error, check_bool, check_int

__all__ = ["ChannelShuffle", "Hardsigmoid", "Hardswish", "Mish"]


@jax.custom_jvp
def _hardswish(x: jax.Array) -> jax.Array:
    return x * jnp.clip(x + 3, 0, 6) / 6  # torch: x * min(max(x + 3, 0), 6) / 6


@_hardswish.defjvp
def _hardswish_jvp(primals: tuple[jax.Array], tangents: tuple[jax.Array]) -> tuple[jax.Array, jax.Array]:
    (x,), (t,) = primals, tangents
    # torch's hardswish_backward: 0 up to -3, x / 3 + 1/2 on the open interval (-3, 3), 1 from 3 on.
    d = jnp.where(x <= -3, jnp.zeros_like(x), jnp.where(x < 3, x / 3 + 0.5, jnp.ones_like(x)))
    return _hardswish(x), d * t


@jax.custom_jvp
def _hardsigmoid(x: jax.Array) -> jax.Array:
    return jnp.clip(x + 3, 0, 6) / 6  # torch: min(max(x + 3, 0), 6) / 6


@_hardsigmoid.defjvp
def _hardsigmoid_jvp(primals: tuple[jax.Array], tangents: tuple[jax.Array]) -> tuple[jax.Array, jax.Array]:
    (x,), (t,) = primals, tangents
    # torch's hardsigmoid_backward: 1/6 on the open interval (-3, 3), else 0.
    d = jnp.where((x > -3) & (x < 3), jnp.full_like(x, 1 / 6), jnp.zeros_like(x))
    return _hardsigmoid(x), d * t


@jax.custom_jvp
def _mish(x: jax.Array) -> jax.Array:
    return x * jnp.tanh(jnp.log1p(jnp.exp(x)))  # torch: x * tanh(log1p(exp(x)))


@_mish.defjvp
def _mish_jvp(primals: tuple[jax.Array], tangents: tuple[jax.Array]) -> tuple[jax.Array, jax.Array]:
    (x,), (t,) = primals, tangents
    # torch's mish_backward: tanh(softplus(x)) + x * sigmoid(x) * (1 - tanh(softplus(x))^2).
    sigmoid = 1 / (1 + jnp.exp(-x))
    tsp = jnp.tanh(jnp.log1p(jnp.exp(x)))
    return x * tsp, (tsp + x * sigmoid * (1 - tsp * tsp)) * t


def _floating(fn: str, input: Any) -> jax.Array:
    x = as_array(fn, "input", input)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        raise arg_error(fn, "input", "must have a floating dtype", str(x.dtype), exc=TypeError)
    return x


class _Elementwise(nnx.Module):
    """An elementwise activation of floating inputs; ``inplace`` is accepted for torch compatibility and
    ignored (JAX arrays are immutable)."""

    _f: Callable[[jax.Array], jax.Array]

    def __init__(self, inplace: bool = False) -> None:
        check_bool(type(self).__name__, "inplace", inplace)

    def __call__(self, input: jax.Array) -> jax.Array:
        return type(self)._f(_floating(type(self).__name__, input))


class Hardswish(_Elementwise):
    """``torch.nn.Hardswish(inplace=False)``: ``x * min(max(x + 3, 0), 6) / 6``, elementwise (MobileNetV3).

    >>> import jax.numpy as jnp
    >>> from jaxconv import nn
    >>> nn.Hardswish()(jnp.array([-4.0, -1.5, 0.0, 1.5, 4.0]))
    Array([-0.   , -0.375,  0.   ,  1.125,  4.   ], dtype=float32)
    """

    _f = staticmethod(_hardswish)


class Hardsigmoid(_Elementwise):
    """``torch.nn.Hardsigmoid(inplace=False)``: ``min(max(x + 3, 0), 6) / 6``, elementwise (MobileNetV3's squeeze-excite gate).

    >>> import jax.numpy as jnp
    >>> from jaxconv import nn
    >>> nn.Hardsigmoid()(jnp.array([-4.0, 0.0, 1.5, 4.0]))
    Array([0.  , 0.5 , 0.75, 1.  ], dtype=float32)
    """

    _f = staticmethod(_hardsigmoid)


class Mish(_Elementwise):
    """``torch.nn.Mish(inplace=False)``: ``x * tanh(softplus(x))`` with ``softplus(x) = log(1 + exp(x))``, elementwise.

    >>> import jax.numpy as jnp
    >>> from jaxconv import nn
    >>> nn.Mish()(jnp.array([0.0, 100.0]))
    Array([  0., 100.], dtype=float32)
    """

    _f = staticmethod(_mish)


class ChannelShuffle(nnx.Module):
    """``torch.nn.ChannelShuffle`` (ShuffleNet): interleave ``groups`` groups of channels.

    ``(N, C, *)`` is reshaped to ``(N, groups, C / groups, *)``, dims 1 and 2 are swapped
    and the result reshaped back to ``(N, C, *)``: output channel ``j * groups + i`` is
    input channel ``i * (C / groups) + j``.

    Args:
      groups: an int >= 1 dividing the input's channels.

    Returns (when called): the input's shape, channels permuted. The input needs rank >= 3
    (as torch).

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxconv import nn
      >>> nn.ChannelShuffle(2)(jnp.arange(6.0).reshape(1, 6, 1))[0, :, 0]
      Array([0., 3., 1., 4., 2., 5.], dtype=float32)
    """

    def __init__(self, groups: int) -> None:
        self.groups = check_int("ChannelShuffle", "groups", groups, 1)

    def __call__(self, input: jax.Array) -> jax.Array:
        fn = "ChannelShuffle"
        x = as_array(fn, "input", input)
        if x.ndim < 3:
            raise arg_error(fn, "input", "must have rank >= 3: (N, C, *) (as torch)", f"shape {tuple(x.shape)}")
        n, c, rest = x.shape[0], x.shape[1], tuple(x.shape[2:])
        g = self.groups
        if c % g:
            raise arg_error(fn, "input", f"must have a channel count divisible by groups={g}", f"shape {tuple(x.shape)}")
        return jnp.swapaxes(x.reshape(n, g, c // g, *rest), 1, 2).reshape(x.shape)


def torch_converters(tnn: Any) -> dict[type, Callable[[Any, Any], Any]]:
    """``{torch.nn type: converter}`` for the layers of this module (``tnn`` is ``torch.nn``; torch is not imported here)."""
    return {
        tnn.Hardswish: lambda m, _: Hardswish(),
        tnn.Hardsigmoid: lambda m, _: Hardsigmoid(),
        tnn.Mish: lambda m, _: Mish(),
        tnn.ChannelShuffle: lambda m, _: ChannelShuffle(m.groups),
    }
