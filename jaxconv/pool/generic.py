"""The generic window reducer behind every pool: :func:`window_reduce` (Flax's ``pooling.pool``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax

from jaxconv._plumbing import as_array, eager_jit, per_example
from jaxconv.shapes import IntOrSeq, Padding, PoolSpec, arg_error, pool_spec
from jaxconv.taps import reduce_windows

__all__ = ["window_reduce"]


@per_example()
def _pool_impl(x: jax.Array, spec: PoolSpec, init_value: Any, reduce_fn: Callable[[Any, Any], Any]) -> jax.Array:
    return reduce_windows(x, spec, init_value, reduce_fn)


_pool_jit = eager_jit(_pool_impl, static_argnums=(1, 2, 3))


def window_reduce(input: jax.Array, init_value: Any, reduce_fn: Callable[[Any, Any], Any], kernel_size: IntOrSeq,
                  stride: IntOrSeq | None = None, padding: Padding = 0, dilation: IntOrSeq = 1, ceil_mode: bool = False, *,
                  spatial_dims: int | None = None) -> jax.Array:
    """Reduce every pooling window of the trailing spatial dims with a binary function.

    The generic window reducer behind every pool here (Flax's ``pooling.pool``, with
    torch's window arguments and channel-first layout; not named ``pool``, which would
    shadow the ``jaxconv.pool`` module). Window positions outside the
    input (padding, ceil-mode overhang) read ``init_value``; ``reduce_fn`` is folded over
    the window's taps in scan order (row-major over the kernel), so for windows of at
    most 64 taps it needs no associativity. Larger windows are folded one dim at a time,
    which needs ``reduce_fn`` associative and commutative (like ``lax.max``, ``lax.add``).

    Args:
      input: ``(N, C, *spatial)`` or unbatched ``(C, *spatial)``.
      init_value: the value padding reads, usually ``reduce_fn``'s identity.
      reduce_fn: a jit-able binary function on arrays, e.g. ``lax.add`` or ``lax.max``.
      kernel_size, stride (default ``kernel_size``), padding, dilation, ceil_mode: the
        windows, as for :func:`max_pool2d`; ``padding`` takes the whole vocabulary of
        :func:`jaxconv.shapes.resolve_padding`.
      spatial_dims: the number of spatial dims; by default ``len(kernel_size)`` for a
        sequence, else ``input.ndim - 2``.

    Returns:
      ``(N, C, *out)``: ``out = floor_or_ceil((in + lo + hi - d*(k-1) - 1)/s) + 1`` per dim,
      with torch's ceil-mode rule (the last window starts inside the input or left padding).

    Example:
      >>> import jax.numpy as jnp
      >>> from jax import lax
      >>> import jaxconv
      >>> jaxconv.window_reduce(jnp.arange(16.0).reshape(1, 1, 4, 4), 0.0, lax.add, 2)   # sum pool
      Array([[[[10., 18.],
               [42., 50.]]]], dtype=float32)
    """
    fn = "window_reduce"
    input = as_array(fn, "input", input)
    if spatial_dims is None:
        if isinstance(kernel_size, Sequence) and not isinstance(kernel_size, str):
            spatial_dims = len(kernel_size)
        else:
            spatial_dims = input.ndim - 2
    if isinstance(spatial_dims, bool) or not isinstance(spatial_dims, int) or spatial_dims < 1:
        raise arg_error(fn, "spatial_dims", "must be an int >= 1 (pass it for an unbatched input with an int kernel_size)",
                        spatial_dims)
    if not callable(reduce_fn):
        raise arg_error(fn, "reduce_fn", "must be a binary function of arrays", reduce_fn, exc=TypeError)
    spec = pool_spec(fn, input.shape, spatial_dims, kernel_size, stride, padding, dilation, ceil_mode)
    try:
        hash(init_value)
    except TypeError:
        raise arg_error(fn, "init_value", "must be a Python or NumPy scalar", init_value, exc=TypeError) from None
    return _pool_jit(input, spec, init_value, reduce_fn)
