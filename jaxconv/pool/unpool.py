"""Max unpooling, ``torch.nn.functional.max_unpool*``: the inverse of a max pool with indices.

Each input is scattered into zeros at its flat index in its channel's output plane; with
duplicate indices the last input in scan order wins, as torch's CPU loop (a scatter-max of
positions, then a gather of the winners). The gradient gathers the output gradient at every
index, as torch's backward.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax

from jaxconv._plumbing import as_array, check_dtype, eager_jit, per_example
from jaxconv.shapes import IntOrSeq, Padding, UnpoolSpec, arg_error, unpool_spec

__all__ = ["max_unpool1d", "max_unpool2d", "max_unpool3d"]

Array = jax.Array


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def _unpool_flat(x: jax.Array, idx: jax.Array, size: int) -> jax.Array:
    # x, idx: (rows, length), idx already offset by row * size (out-of-range: row * size + size).
    # torch writes each plane's inputs in order, so with duplicate indices the last one
    # wins: scatter each input's position with max, then read the winners.
    rows, length = x.shape
    src = lax.broadcasted_iota(jnp.int32, (rows * length,), 0)
    win = jnp.full((rows * size + 1,), -1, jnp.int32).at[idx.reshape(-1)].max(src, mode="drop")[:-1]
    vals = jnp.take(x.reshape(-1), jnp.maximum(win, 0), mode="clip")
    return lax.select(win >= 0, vals, lax.full(vals.shape, 0, vals.dtype)).reshape(rows, size)


def _unpool_flat_fwd(x: jax.Array, idx: jax.Array, size: int) -> tuple[jax.Array, jax.Array]:
    return _unpool_flat(x, idx, size), idx


def _unpool_flat_bwd(size: int, idx: jax.Array, g: jax.Array) -> tuple[jax.Array, None]:
    # torch's backward gathers the output gradient at every index, duplicates included.
    rows = g.shape[0]
    gf = jnp.concatenate([g.reshape(-1), jnp.zeros((1,), g.dtype)])  # the extra slot reads 0 for dropped indices
    return jnp.take(gf, jnp.clip(idx, 0, rows * size), mode="clip"), None


_unpool_flat.defvjp(_unpool_flat_fwd, _unpool_flat_bwd)


@per_example(n_arrays=2)
def _unpool_impl(x: jax.Array, indices: jax.Array, spec: UnpoolSpec) -> jax.Array:
    n = len(spec.out_spatial)
    lead = x.shape[:-n]
    size = math.prod(spec.out_spatial)
    length = math.prod(x.shape[-n:])
    rows = math.prod(lead)
    itype = jnp.int32 if rows * (size + 1) < 2**31 else indices.dtype
    idx = indices.reshape(rows, length).astype(itype)
    base = lax.broadcasted_iota(itype, (rows, length), 0) * size
    ok = (idx >= 0) & (idx < size)
    # Out-of-range indices go to one spare slot past the end (dropped), never into another plane.
    gidx = lax.select(ok, base + idx, lax.full(idx.shape, rows * size, itype))
    y = _unpool_flat(x.reshape(rows, length), gidx, size)
    return y.reshape((*lead, *spec.out_spatial))  # type: ignore[attr-defined]


_unpool_jit = eager_jit(_unpool_impl, static_argnums=(2,))


def _unpool(fn: str, n: int, input: Any, indices: Any, kernel_size: IntOrSeq, stride: IntOrSeq | None, padding: Padding,
            output_size: Sequence[int] | None) -> jax.Array:
    input = as_array(fn, "input", input)
    indices = as_array(fn, "indices", indices)
    if tuple(indices.shape) != tuple(input.shape):
        raise arg_error(fn, "indices", f"must have the input's shape {tuple(input.shape)}", f"shape {tuple(indices.shape)}")
    if not jnp.issubdtype(indices.dtype, jnp.integer):
        raise arg_error(fn, "indices", "must have an integer dtype (from a max pool with return_indices=True)",
                        str(indices.dtype), exc=TypeError)
    check_dtype(fn, input, floating_only=False)
    spec = unpool_spec(fn, input.shape, n, kernel_size, stride, padding, output_size)
    return _unpool_jit(input, indices, spec)


def max_unpool2d(input: Array, indices: Array, kernel_size: IntOrSeq, stride: IntOrSeq | None = None, padding: Padding = 0,
                 output_size: Sequence[int] | None = None) -> Array:
    """2-d max unpooling, ``torch.nn.functional.max_unpool2d``: the inverse of :func:`max_pool2d`.

    Scatters each input into zeros at its flat index (from ``max_pool2d(...,
    return_indices=True)``) in each channel's output plane. With duplicate indices the
    last input in scan order wins, as torch's CPU loop; the gradient reads the output
    gradient at every index, as torch. Out-of-range indices are dropped (torch raises;
    inside ``jit`` the values of the indices cannot be checked).

    Args:
      input: ``(N, C, H, W)`` or unbatched ``(C, H, W)``.
      indices: integer array of ``input``'s shape.
      kernel_size, stride (default ``kernel_size``), padding: those of the pool being
        inverted (ints, or ``(lo, hi)`` pairs).
      output_size: the spatial size to produce (also accepted with the leading N, C),
        for the input sizes a strided pool maps to the same output.

    Returns:
      ``(N, C, *out)`` with ``out = (in - 1)*s - lo - hi + k`` per dim unless ``output_size``.

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxconv
      >>> y, i = jaxconv.max_pool2d(jnp.arange(16.).reshape(1, 1, 4, 4), 2, return_indices=True)
      >>> jaxconv.max_unpool2d(y, i, 2)
      Array([[[[ 0.,  0.,  0.,  0.],
               [ 0.,  5.,  0.,  7.],
               [ 0.,  0.,  0.,  0.],
               [ 0., 13.,  0., 15.]]]], dtype=float32)
    """
    return _unpool("max_unpool2d", 2, input, indices, kernel_size, stride, padding, output_size)


def max_unpool1d(input: Array, indices: Array, kernel_size: IntOrSeq, stride: IntOrSeq | None = None, padding: Padding = 0,
                 output_size: Sequence[int] | None = None) -> Array:
    """1-d max unpooling, the inverse of :func:`max_pool1d`: :func:`max_unpool2d`'s rules over ``(N, C, L)``.

    >>> import jax.numpy as jnp
    >>> import jaxconv
    >>> y, i = jaxconv.max_pool1d(jnp.array([[[1., 3., 2., 5.]]]), 2, return_indices=True)
    >>> jaxconv.max_unpool1d(y, i, 2)
    Array([[[0., 3., 0., 5.]]], dtype=float32)
    """
    return _unpool("max_unpool1d", 1, input, indices, kernel_size, stride, padding, output_size)


def max_unpool3d(input: Array, indices: Array, kernel_size: IntOrSeq, stride: IntOrSeq | None = None, padding: Padding = 0,
                 output_size: Sequence[int] | None = None) -> Array:
    """3-d max unpooling, the inverse of :func:`max_pool3d`: :func:`max_unpool2d`'s rules over ``(N, C, D, H, W)``.

    >>> import jax.numpy as jnp
    >>> import jaxconv
    >>> y, i = jaxconv.max_pool3d(jnp.arange(8.).reshape(1, 1, 2, 2, 2), 2, return_indices=True)
    >>> jaxconv.max_unpool3d(y, i, 2).reshape(-1)
    Array([0., 0., 0., 0., 0., 0., 0., 7.], dtype=float32)
    """
    return _unpool("max_unpool3d", 3, input, indices, kernel_size, stride, padding, output_size)
