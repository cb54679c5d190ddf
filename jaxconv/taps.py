"""The tap engine: every window op as a fold over its kernel taps, each tap one strided slice.

A *tap* is one kernel offset; tap ``a`` of every window along a dim is a strided slice of
the input (``start = a * dilation - lo``, step ``stride``), with the positions outside the
input (padding, ceil-mode overhang, past an adaptive bin) filled with a given value. A
window op is then a fold of those slices: XLA fuses the chain into one elementwise loop,
which on CPU runs several times faster than ``lax.reduce_window`` and keeps torch's scan
order. The pools use it for every reduction; the convolutions' tap formulations (im2col,
depthwise) read the same slices.

The geometry comes from a :class:`jaxconv.shapes.PoolSpec`'s :class:`~jaxconv.shapes.WindowAxis`
entries, unchanged.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jaxconv._plumbing import strided_slice
from jaxconv.fusion import cpu_materialize
from jaxconv.shapes import ConvSpec, PoolSpec, WindowAxis

__all__ = [
    "MAX_UNROLLED_TAPS",
    "axis_taps",
    "bshape",
    "conv_tap",
    "conv_taps",
    "first",
    "fold_windows",
    "grid_const",
    "positions",
    "real",
    "reduce_windows",
    "starts",
    "tap",
    "tap_nd",
    "tiled_shape",
]

# Up to this many taps per window the folds run over every tap in scan order (torch's
# summation order) and the max-pool VJP places cotangents tap by tap; beyond it sums
# run one dim at a time and the VJP scatters, so that code size stays O(sum of kernel).
MAX_UNROLLED_TAPS = 64


def starts(ax: WindowAxis) -> np.ndarray:
    """The input position of each window's first tap along ``ax`` (negative in the padding)."""
    return np.asarray(ax.starts(), np.int64)


def positions(ax: WindowAxis, a: int) -> np.ndarray:
    """The input position of tap ``a`` of each window along ``ax``."""
    return starts(ax) + a * ax.dilation


def real(ax: WindowAxis, a: int) -> np.ndarray:
    """Whether tap ``a`` of each window along ``ax`` reads the input (not padding, overhang or past its bin)."""
    pos = positions(ax, a)
    ok = (pos >= 0) & (pos < ax.size)
    if ax.bins is not None:
        ok &= a < np.array([b - s for s, b in ax.bins])
    return ok


def first(ax: WindowAxis) -> np.ndarray:
    """torch's fallback tap of each window: the first one at a position >= 0."""
    return np.asarray(ax.first(), np.int64)


def bshape(ndim: int, axis: int, size: int) -> tuple[int, ...]:
    shape = [1] * ndim
    shape[axis] = size
    return tuple(shape)


def grid_const(values: np.ndarray, nd: int, lead: int, dtype: Any, shape: tuple[int, ...]) -> jax.Array:
    """A static array over the spatial output dims, broadcast over the leading dims."""
    c = jnp.asarray(values.astype(dtype) if dtype is not None else values)
    return lax.broadcast_in_dim(c, shape, tuple(range(lead, nd)))


def conv_tap(x: jax.Array, axes: Sequence[int], offsets: Sequence[int], strides: Sequence[int],
             out: Sequence[int]) -> jax.Array:
    """One kernel tap of a convolution over an already zero-padded ``x``: along each of ``axes``,
    ``out[d]`` elements from ``offsets[d]`` in steps of ``strides[d]`` (one strided slice).

    The im2col GEMM and the depthwise tap fold read their taps through this; unlike :func:`tap`
    it needs no fill, since the padding is already in ``x``.

    >>> import jax.numpy as jnp
    >>> conv_tap(jnp.arange(10), (0,), (1,), (3,), (3,))
    Array([1, 4, 7], dtype=int32)
    """
    start, limit, step = [0] * x.ndim, list(x.shape), [1] * x.ndim
    for ax, o, s, n in zip(axes, offsets, strides, out):
        start[ax], limit[ax], step[ax] = o, o + s * (n - 1) + 1, s
    return strided_slice(x, start, limit, step)


def conv_taps(x: jax.Array, spec: ConvSpec) -> list[jax.Array]:
    """Every kernel tap of a convolution over a batched, mode-padded ``x``: ``x`` zero-padded by
    ``spec.lax_pads`` on its spatial dims (NCHW, or NHWC with ``spec.channels_last``), then one
    :func:`conv_tap` per kernel offset, in row-major kernel order (the weight's kernel-dim order).

    The im2col GEMM and the tap GEMMs (:mod:`jaxconv.tap_gemm`) read their taps through this.

    >>> import jax.numpy as jnp
    >>> from jaxconv.shapes import conv_spec
    >>> spec = conv_spec("conv1d", (1, 1, 5), (1, 1, 2), None, 2, 0, 1, 1, "zeros", False)
    >>> [t.tolist() for t in conv_taps(jnp.arange(1.0, 6.0).reshape(1, 1, 5), spec)]
    [[[[1.0, 3.0]]], [[[2.0, 4.0]]]]
    """
    axes = range(1, spec.n + 1) if spec.channels_last else range(2, spec.n + 2)
    if any(lo or hi for lo, hi in spec.lax_pads):
        cfg = [(0, 0, 0)] * x.ndim
        for ax, (lo, hi) in zip(axes, spec.lax_pads):
            cfg[ax] = (lo, hi, 0)
        x = lax.pad(x, jnp.zeros((), x.dtype), cfg)
    return [conv_tap(x, axes, [a * d for a, d in zip(offs, spec.dilation)], spec.stride, spec.out_spatial)
            for offs in itertools.product(*(range(k) for k in spec.kernel))]


def tap(x: jax.Array, ax: WindowAxis, axis: int, a: int, fill: Any) -> jax.Array:
    """Tap ``a`` of every window along ``axis``: the input where the tap is real, ``fill`` elsewhere."""
    out_shape = (*x.shape[:axis], ax.out, *x.shape[axis + 1:])
    fill = jnp.asarray(fill, x.dtype)
    if ax.bins is None:
        s = ax.stride
        first = a * ax.dilation - ax.lo  # input position of window 0's tap
        o_lo = 0 if first >= 0 else -(first // s)
        o_hi = min(ax.out, (ax.size - 1 - first) // s + 1) if first <= ax.size - 1 else 0
        if o_hi <= o_lo:
            return jnp.full(out_shape, fill)
        start = first + o_lo * s
        lo_, hi_, st_ = [0] * x.ndim, list(x.shape), [1] * x.ndim
        lo_[axis], hi_[axis], st_[axis] = start, start + (o_hi - o_lo - 1) * s + 1, s
        v = strided_slice(x, lo_, hi_, st_)
        if o_lo or o_hi < ax.out:
            cfg = [(0, 0, 0)] * x.ndim
            cfg[axis] = (o_lo, ax.out - o_hi, 0)
            v = lax.pad(v, fill, cfg)
        return v
    pos = np.minimum(positions(ax, a), ax.size - 1)
    v = jnp.take(x, pos, axis=axis, mode="clip")
    ok = real(ax, a)
    if not ok.all():
        v = jnp.where(ok.reshape(bshape(x.ndim, axis, ax.out)), v, fill)
    return v


def tap_nd(x: jax.Array, spec: PoolSpec, combo: Sequence[int], fill: Any) -> jax.Array:
    """Tap ``combo`` (one offset per spatial dim) of every window: one strided slice and one pad.

    Equal to composing :func:`tap` over the dims, but without the per-dim intermediates
    that XLA would otherwise materialize when several taps share them.
    """
    lead = x.ndim - spec.n
    fill = jnp.asarray(fill, x.dtype)
    starts, limits, strides, cfg = [0] * x.ndim, list(x.shape), [1] * x.ndim, [(0, 0, 0)] * x.ndim
    irregular = []
    for d, (ax, a) in enumerate(zip(spec.axes, combo)):
        axis = lead + d
        if ax.bins is not None:
            irregular.append((d, a))
            continue
        first = a * ax.dilation - ax.lo
        o_lo = 0 if first >= 0 else -(first // ax.stride)
        o_hi = min(ax.out, (ax.size - 1 - first) // ax.stride + 1) if first <= ax.size - 1 else 0
        if o_hi <= o_lo:
            shape = (*x.shape[:lead], *spec.out_spatial)
            return jnp.full(shape, fill)
        starts[axis] = first + o_lo * ax.stride
        limits[axis] = starts[axis] + (o_hi - o_lo - 1) * ax.stride + 1
        strides[axis] = ax.stride
        cfg[axis] = (o_lo, ax.out - o_hi, 0)
    v = strided_slice(x, starts, limits, strides)
    if any(lo or hi for lo, hi, _ in cfg):
        v = lax.pad(v, fill, cfg)
    for d, a in irregular:
        v = tap(v, spec.axes[d], lead + d, a, fill)
    return v


def _reduce_scan(x: jax.Array, spec: PoolSpec, fill: Any, op: Callable[[Any, Any], Any]) -> jax.Array:
    """Fold ``op`` over every tap in window scan order (row-major over the kernel)."""
    acc = None
    for combo in itertools.product(*(range(ax.taps) for ax in spec.axes)):
        t = tap_nd(x, spec, combo, fill)
        acc = t if acc is None else op(acc, t)
    return acc  # type: ignore[return-value]


def axis_taps(x: jax.Array, ax: WindowAxis, axis: int, fill: Any) -> list[jax.Array]:
    """Every tap of the windows along one axis. Adaptive bins are read with a single gather
    of all ``(window, tap)`` positions (one gather per tap compiles and runs much slower)."""
    if ax.bins is None:
        return [tap(x, ax, axis, a, fill) for a in range(ax.taps)]
    pos = starts(ax)[:, None] + np.arange(ax.taps)[None, :]
    real = pos < np.array([e for _, e in ax.bins])[:, None]
    g = jnp.take(x, np.minimum(pos, ax.size - 1).reshape(-1), axis=axis, mode="clip")
    g = g.reshape((*x.shape[:axis], ax.out, ax.taps, *x.shape[axis + 1:]))
    if not real.all():
        mask = lax.broadcast_in_dim(jnp.asarray(real), g.shape, (axis, axis + 1))
        g = lax.select(mask, g, lax.full(g.shape, fill, g.dtype))
    return [lax.index_in_dim(g, a, axis + 1, keepdims=False) for a in range(ax.taps)]


def _reduce_separable(x: jax.Array, spec: PoolSpec, fill: Any, op: Callable[[Any, Any], Any]) -> jax.Array:
    """Fold ``op`` one spatial dim at a time (needs an associative, commutative ``op``)."""
    lead = x.ndim - spec.n
    for d in reversed(range(spec.n)):
        taps = axis_taps(x, spec.axes[d], lead + d, fill)
        acc = taps[0]
        for v in taps[1:]:
            acc = op(acc, v)
        x = acc
    return x


def _sum_tiles(x: jax.Array, spec: PoolSpec) -> jax.Array:
    """Window sums of tiling windows as one reshape and reduce (its gradient is a broadcast).

    Used for sums only: they agree with the scan-order fold up to float rounding (exactly
    for small integers), while max/min need the fold's winner rule.
    """
    lead = x.ndim - spec.n
    limits = (*x.shape[:lead], *(ax.out * ax.taps for ax in spec.axes))
    if limits != x.shape:  # floor mode drops the remainder
        x = lax.slice(x, (0,) * x.ndim, limits)
    return jnp.sum(x.reshape(tiled_shape(x.shape[:lead], spec)), axis=tuple(lead + 2 * d + 1 for d in range(spec.n)))


def tiled_shape(lead_shape: tuple[int, ...], spec: PoolSpec) -> tuple[int, ...]:
    """The covered part of a tiling pool's input as ``(*lead, out_1, taps_1, ..., out_n, taps_n)``: a reshape."""
    return (*lead_shape, *itertools.chain.from_iterable((ax.out, ax.taps) for ax in spec.axes))


@functools.partial(jax.custom_jvp, nondiff_argnums=(1,))
def _tile_sum(x: jax.Array, spec: PoolSpec) -> jax.Array:
    # The tap fold runs the forward pass faster than a reshape-reduce on CPU, but its
    # transpose (a pad per tap) is ~30x slower than the reshape-reduce's (a broadcast):
    # sums are linear, so the tangent can be computed the other way.
    return fold_windows(x, spec, 0, lax.add, False)


@_tile_sum.defjvp
def _tile_sum_jvp(spec: PoolSpec, primals: tuple[jax.Array], tangents: tuple[jax.Array]) -> tuple[jax.Array, jax.Array]:
    # The tangent's transpose broadcasts the cotangent over every window tap; on CPU it is
    # materialised first (jaxconv.fusion.cpu_materialize: XLA:CPU fused its producer into that
    # broadcast and recomputed it per tap; LeNet's train step 7.34 -> 5.69 ms).
    # tests/test_pool.py::test_tiling_sum_pool_cotangent_is_materialised
    return _tile_sum(primals[0], spec), cpu_materialize(_sum_tiles(tangents[0], spec))


def reduce_windows(x: jax.Array, spec: PoolSpec, fill: Any, op: Callable[[Any, Any], Any], separable: bool = False) -> jax.Array:
    if op is lax.add and spec.tiling and spec.taps > 1:
        return _tile_sum(x, spec)
    return fold_windows(x, spec, fill, op, separable)


def fold_windows(x: jax.Array, spec: PoolSpec, fill: Any, op: Callable[[Any, Any], Any], separable: bool) -> jax.Array:
    if separable or spec.taps > MAX_UNROLLED_TAPS or not spec.regular:
        return _reduce_separable(x, spec, fill, op)
    return _reduce_scan(x, spec, fill, op)
