"""Pooling exact to PyTorch: max, min, average, power-average and adaptive pools, and unpooling.

Every pool here is one generic window reducer (:func:`window_reduce`, in the style of
Flax's ``pooling.pool``) plus thin wrappers with ``torch.nn.functional``'s names, positional
order and defaults. The reducer does not call ``lax.reduce_window``: it reads each
window *tap* (kernel offset) as a strided slice of the input, fills positions outside
the input (padding, ceil-mode overhang) with the reduction's identity, and folds the
taps in torch's scan order. XLA fuses the whole fold into one loop, which on CPU is
several times faster than ``reduce_window`` and keeps torch's summation order.

Max and min pools carry torch's exact winner rule (first extreme in window scan
order; a NaN wins over everything and the *last* NaN wins; padding never wins) and
get a custom VJP that sends each window's cotangent to that winner, with window
dilation, several times faster on CPU than ``jax.grad`` of ``lax.reduce_window``.

Window arithmetic (output sizes, ceil mode, torch's padding limit, average-pool
divisors, adaptive bins, unpooling sizes) comes from :mod:`jaxconv.shapes`.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jaxconv.shapes import (
    IntOrSeq,
    Padding,
    adaptive_pool_bins,
    arg_error,
    canonicalize,
    pool_padding,
    pool_window_counts,
    spec_cache,
    split_batch,
    unpool_output_shape,
)

__all__ = [
    "PoolSpec",
    "adaptive_avg_pool1d",
    "adaptive_avg_pool2d",
    "adaptive_avg_pool3d",
    "adaptive_max_pool1d",
    "adaptive_max_pool2d",
    "adaptive_max_pool3d",
    "avg_pool1d",
    "avg_pool2d",
    "avg_pool3d",
    "lp_pool1d",
    "lp_pool2d",
    "lp_pool3d",
    "max_pool1d",
    "max_pool2d",
    "max_pool3d",
    "max_unpool1d",
    "max_unpool2d",
    "max_unpool3d",
    "min_pool1d",
    "min_pool2d",
    "min_pool3d",
    "window_reduce",
]

# Up to this many taps per window the folds run over every tap in scan order (torch's
# summation order) and the max-pool VJP places cotangents tap by tap; beyond it sums
# run one dim at a time and the VJP scatters, so that code size stays O(sum of kernel).
_MAX_UNROLLED_TAPS = 64


# ---------------------------------------------------------------------------------------
# Static window geometry
# ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Axis:
    """Where the windows of one spatial dim read the input.

    Regular windows (``bins is None``) start at ``o * stride - lo`` and read ``taps``
    positions ``dilation`` apart; adaptive windows read ``[start, end)`` of their bin.
    """

    size: int
    out: int
    taps: int
    stride: int
    dilation: int
    lo: int
    hi: int  # right padding a VALID scan needs, ceil-mode overhang included
    bins: tuple[tuple[int, int], ...] | None = None

    def starts(self) -> np.ndarray:
        if self.bins is None:
            return np.arange(self.out) * self.stride - self.lo
        return np.array([a for a, _ in self.bins])

    def positions(self, a: int) -> np.ndarray:
        return self.starts() + a * self.dilation

    def real(self, a: int) -> np.ndarray:
        pos = self.positions(a)
        ok = (pos >= 0) & (pos < self.size)
        if self.bins is not None:
            ok &= a < np.array([b - s for s, b in self.bins])
        return ok

    def first(self) -> np.ndarray:
        """torch's fallback tap: the first one at a position >= 0 (its ``while (ih0 < 0) ih0 += d``)."""
        st = self.starts()
        a0 = np.where(st >= 0, 0, -(st // self.dilation))
        return np.minimum(a0, self.taps - 1)


@dataclass(frozen=True)
class PoolSpec:
    """Everything static about one pooling call: validated, resolved, hashable."""

    fn: str
    batched: bool
    axes: tuple[_Axis, ...]

    @property
    def n(self) -> int:
        return len(self.axes)

    @property
    def in_spatial(self) -> tuple[int, ...]:
        return tuple(a.size for a in self.axes)

    @property
    def out_spatial(self) -> tuple[int, ...]:
        return tuple(a.out for a in self.axes)

    @property
    def taps(self) -> int:
        return math.prod(a.taps for a in self.axes)

    @property
    def regular(self) -> bool:
        return all(a.bins is None for a in self.axes)

    @property
    def overlapping(self) -> bool:
        return any(a.bins is not None or a.stride < a.dilation * (a.taps - 1) + 1 for a in self.axes)


def _freeze(v: Any) -> Any:
    if isinstance(v, (list, tuple)):
        return tuple(_freeze(i) for i in v)
    return v


def _as_array(fn: str, name: str, v: Any) -> Any:
    if hasattr(v, "shape") and hasattr(v, "dtype"):
        return v
    try:
        return jnp.asarray(v)
    except TypeError:
        raise arg_error(fn, name, "must be an array", type(v).__name__, exc=TypeError) from None


def _check_dtype(fn: str, x: Any, floating_only: bool) -> None:
    dt = jnp.dtype(x.dtype)
    if floating_only:
        if not jnp.issubdtype(dt, jnp.floating):
            raise arg_error(fn, "input", "must have a floating dtype (as torch, which does not average integers)", str(dt), exc=TypeError)
    elif dt == jnp.bool_ or not (jnp.issubdtype(dt, jnp.floating) or jnp.issubdtype(dt, jnp.integer)):
        raise arg_error(fn, "input", "must have a floating or integer dtype", str(dt), exc=TypeError)


def _default_stride(stride: Any) -> Any:
    # torch treats stride=None, () and [] alike: stride = kernel_size.
    if stride is None or (isinstance(stride, (list, tuple)) and len(stride) == 0):
        return None
    return stride


@spec_cache
def _window_spec_cached(fn: str, shape: tuple[int, ...], n: int, kernel_size: Any, stride: Any, padding: Any,
                        dilation: Any, ceil_mode: bool) -> PoolSpec:
    batched = split_batch(fn, len(shape), n)
    spatial = shape[-n:]
    out, _, window_pads = pool_padding(spatial, kernel_size, stride, padding, dilation, ceil_mode, fn=fn)
    ks = canonicalize(kernel_size, n, "kernel_size", fn, min_value=1)
    ss = ks if stride is None else canonicalize(stride, n, "stride", fn, min_value=1)
    ds = canonicalize(dilation, n, "dilation", fn, min_value=1)
    axes = tuple(_Axis(i, o, k, s, d, lo, hi) for i, o, k, s, d, (lo, hi) in zip(spatial, out, ks, ss, ds, window_pads))
    return PoolSpec(fn, batched, axes)


def _window_spec(fn: str, x: Any, n: int, kernel_size: Any, stride: Any, padding: Any, dilation: Any,
                 ceil_mode: Any) -> PoolSpec:
    try:
        return _window_spec_cached(fn, tuple(x.shape), n, _freeze(kernel_size), _freeze(_default_stride(stride)),
                                   _freeze(padding), _freeze(dilation), bool(ceil_mode))
    except TypeError as e:
        if "unhashable" not in str(e):
            raise
        raise arg_error(fn, "kernel_size, stride, padding and dilation", "must be ints, sequences of ints, or a padding string",
                        (kernel_size, stride, padding, dilation), exc=TypeError) from None


@spec_cache
def _adaptive_spec_cached(fn: str, shape: tuple[int, ...], n: int, output_size: Any) -> PoolSpec:
    batched = split_batch(fn, len(shape), n)
    spatial = shape[-n:]
    bins = adaptive_pool_bins(spatial, output_size, fn=fn)
    axes = []
    for i, b in zip(spatial, bins):
        o = len(b)
        if i % o == 0:
            # Equal bins are plain windows (kernel = stride = in / out): the strided fast paths apply.
            axes.append(_Axis(i, o, i // o, i // o, 1, 0, 0))
        else:
            axes.append(_Axis(i, o, max(e - s for s, e in b), 0, 1, 0, 0, b))
    return PoolSpec(fn, batched, tuple(axes))


def _adaptive_spec(fn: str, x: Any, n: int, output_size: Any) -> PoolSpec:
    try:
        return _adaptive_spec_cached(fn, tuple(x.shape), n, _freeze(output_size))
    except TypeError as e:
        if "unhashable" not in str(e):
            raise
        raise arg_error(fn, "output_size", f"must be an int or a sequence of {n} ints or None", output_size, exc=TypeError) from None


# ---------------------------------------------------------------------------------------
# Taps and the generic reducer
# ---------------------------------------------------------------------------------------

def _bshape(ndim: int, axis: int, size: int) -> tuple[int, ...]:
    shape = [1] * ndim
    shape[axis] = size
    return tuple(shape)


def _grid_const(values: np.ndarray, nd: int, lead: int, dtype: Any, shape: tuple[int, ...]) -> jax.Array:
    """A static array over the spatial output dims, broadcast over the leading dims."""
    c = jnp.asarray(values.astype(dtype) if dtype is not None else values)
    return lax.broadcast_in_dim(c, shape, tuple(range(lead, nd)))


def _slice(x: jax.Array, starts: Sequence[int], limits: Sequence[int], strides: Sequence[int]) -> jax.Array:
    """``lax.slice``, with stride 1 in the dims where it takes a single element (same result).

    XLA's SPMD partitioner (jax 0.10) miscompiles a strided slice that takes one element of
    a sharded dim: wrong values or an HLO verifier error (a pool to one output row of a
    height-sharded input, e.g. global pooling). tests/test_sharding.py pins it.
    """
    strides = [1 if hi - lo <= 1 else st for lo, hi, st in zip(starts, limits, strides)]
    return lax.slice(x, starts, limits, strides)


def _tap(x: jax.Array, ax: _Axis, axis: int, a: int, fill: Any) -> jax.Array:
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
        v = _slice(x, lo_, hi_, st_)
        if o_lo or o_hi < ax.out:
            cfg = [(0, 0, 0)] * x.ndim
            cfg[axis] = (o_lo, ax.out - o_hi, 0)
            v = lax.pad(v, fill, cfg)
        return v
    pos = np.minimum(ax.positions(a), ax.size - 1)
    v = jnp.take(x, pos, axis=axis, mode="clip")
    real = ax.real(a)
    if not real.all():
        v = jnp.where(real.reshape(_bshape(x.ndim, axis, ax.out)), v, fill)
    return v


def _tap_nd(x: jax.Array, spec: PoolSpec, combo: Sequence[int], fill: Any) -> jax.Array:
    """Tap ``combo`` (one offset per spatial dim) of every window: one strided slice and one pad.

    Equal to composing :func:`_tap` over the dims, but without the per-dim intermediates
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
    v = _slice(x, starts, limits, strides)
    if any(lo or hi for lo, hi, _ in cfg):
        v = lax.pad(v, fill, cfg)
    for d, a in irregular:
        v = _tap(v, spec.axes[d], lead + d, a, fill)
    return v


def _reduce_scan(x: jax.Array, spec: PoolSpec, fill: Any, op: Callable[[Any, Any], Any]) -> jax.Array:
    """Fold ``op`` over every tap in window scan order (row-major over the kernel)."""
    acc = None
    for combo in itertools.product(*(range(ax.taps) for ax in spec.axes)):
        t = _tap_nd(x, spec, combo, fill)
        acc = t if acc is None else op(acc, t)
    return acc  # type: ignore[return-value]


def _axis_taps(x: jax.Array, ax: _Axis, axis: int, fill: Any) -> list[jax.Array]:
    """Every tap of the windows along one axis. Adaptive bins are read with a single gather
    of all ``(window, tap)`` positions (one gather per tap compiles and runs much slower)."""
    if ax.bins is None:
        return [_tap(x, ax, axis, a, fill) for a in range(ax.taps)]
    pos = ax.starts()[:, None] + np.arange(ax.taps)[None, :]
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
        taps = _axis_taps(x, spec.axes[d], lead + d, fill)
        acc = taps[0]
        for v in taps[1:]:
            acc = op(acc, v)
        x = acc
    return x


def _tiles(spec: PoolSpec) -> bool:
    """Whether the windows tile the input: adjacent, undilated, unpadded, no overhang."""
    return all(ax.bins is None and ax.lo == 0 and ax.stride == ax.taps and (ax.dilation == 1 or ax.taps == 1)
               and ax.out * ax.taps <= ax.size for ax in spec.axes)


def _sum_tiles(x: jax.Array, spec: PoolSpec) -> jax.Array:
    """Window sums of tiling windows as one reshape and reduce (its gradient is a broadcast).

    Used for sums only: they agree with the scan-order fold up to float rounding (exactly
    for small integers), while max/min need the fold's winner rule.
    """
    lead = x.ndim - spec.n
    limits = (*x.shape[:lead], *(ax.out * ax.taps for ax in spec.axes))
    if limits != x.shape:  # floor mode drops the remainder
        x = lax.slice(x, (0,) * x.ndim, limits)
    shape = (*x.shape[:lead], *itertools.chain.from_iterable((ax.out, ax.taps) for ax in spec.axes))
    return jnp.sum(x.reshape(shape), axis=tuple(lead + 2 * d + 1 for d in range(spec.n)))


@functools.partial(jax.custom_jvp, nondiff_argnums=(1,))
def _tile_sum(x: jax.Array, spec: PoolSpec) -> jax.Array:
    # The tap fold runs the forward pass faster than a reshape-reduce on CPU, but its
    # transpose (a pad per tap) is ~30x slower than the reshape-reduce's (a broadcast):
    # sums are linear, so the tangent can be computed the other way.
    return _reduce_fold(x, spec, 0, lax.add, False)


@_tile_sum.defjvp
def _tile_sum_jvp(spec: PoolSpec, primals: tuple[jax.Array], tangents: tuple[jax.Array]) -> tuple[jax.Array, jax.Array]:
    return _tile_sum(primals[0], spec), _sum_tiles(tangents[0], spec)


def _reduce(x: jax.Array, spec: PoolSpec, fill: Any, op: Callable[[Any, Any], Any], separable: bool = False) -> jax.Array:
    if op is lax.add and _tiles(spec) and spec.taps > 1:
        return _tile_sum(x, spec)
    return _reduce_fold(x, spec, fill, op, separable)


def _reduce_fold(x: jax.Array, spec: PoolSpec, fill: Any, op: Callable[[Any, Any], Any], separable: bool) -> jax.Array:
    if separable or spec.taps > _MAX_UNROLLED_TAPS or not spec.regular:
        return _reduce_separable(x, spec, fill, op)
    return _reduce_scan(x, spec, fill, op)


# ---------------------------------------------------------------------------------------
# Max / min with torch's winner, indices and the custom VJP
# ---------------------------------------------------------------------------------------

def _fill(dtype: Any, kind: str) -> Any:
    """The value padding takes so that it never wins: -inf/+inf, or the integer dtype's extremes."""
    dt = jnp.dtype(dtype)
    if jnp.issubdtype(dt, jnp.floating):
        return -jnp.inf if kind == "max" else jnp.inf
    info = jnp.iinfo(dt)
    return info.min if kind == "max" else info.max


def _tap_dtype(taps: int) -> Any:
    return jnp.int8 if taps <= 127 else jnp.int16 if taps <= 32767 else jnp.int32


def _index_dtype() -> Any:
    # torch returns int64 indices; JAX without jax_enable_x64 has no int64 arrays.
    return jax.dtypes.canonicalize_dtype(jnp.int64)


def _extreme_values(x: jax.Array, spec: PoolSpec, kind: str) -> jax.Array:
    # lax.max/lax.min propagate NaN, and a max is exact in any fold order.
    return _reduce(x, spec, _fill(x.dtype, kind), lax.max if kind == "max" else lax.min)


def _extreme_arg(x: jax.Array, spec: PoolSpec, kind: str) -> tuple[jax.Array, tuple[jax.Array, ...]]:
    """Window extremes and their per-dim tap offsets, with torch's CPU rule.

    torch scans each window in row-major order from ``(lowest, fallback)`` and takes a
    value iff ``val > max or isnan(val)``. One dim at a time gives the same winner: the
    first row holding the maximum and the first maximum in it, or the last row holding
    a NaN and the last NaN in it. Padding holds the lowest value, so it never beats the
    running maximum; the fallback tap (the first at a position >= 0) is forced where it
    is real, which makes a window of lowest values point at its first element as torch.
    """
    lead = x.ndim - spec.n
    fill = _fill(x.dtype, kind)
    better = lax.gt if kind == "max" else lax.lt
    nan_aware = jnp.issubdtype(x.dtype, jnp.floating)
    vals = x
    offs: dict[int, jax.Array] = {}
    for d in reversed(range(spec.n)):
        ax = spec.axes[d]
        axis = lead + d
        tdt = _tap_dtype(ax.taps)
        first = ax.first()
        shape = (*vals.shape[:axis], ax.out, *vals.shape[axis + 1:])
        m = lax.full(shape, fill, x.dtype)
        j = lax.broadcast_in_dim(jnp.asarray(first.astype(tdt)), shape, (axis,))
        carried = {e: lax.broadcast_in_dim(jnp.asarray(spec.axes[e].first().astype(offs[e].dtype)), shape, (lead + e,))
                   for e in offs}
        vtaps = _axis_taps(vals, ax, axis, fill)
        otaps = {e: _axis_taps(offs[e], ax, axis, 0) for e in offs}
        for a, v in enumerate(vtaps):
            upd = better(v, m)
            force = (first == a) & ax.real(a)
            if force.any():
                upd = lax.bitwise_or(upd, lax.broadcast_in_dim(jnp.asarray(force), shape, (axis,)))
            if nan_aware:
                upd = lax.bitwise_or(upd, lax.ne(v, v))
            m = lax.select(upd, v, m)
            j = lax.select(upd, lax.full(shape, a, tdt), j)
            for e in offs:
                carried[e] = lax.select(upd, otaps[e][a], carried[e])
        vals = m
        offs = {**carried, d: j}
    return vals, tuple(offs[d] for d in range(spec.n))


def _extreme_arg_scan(x: jax.Array, spec: PoolSpec, kind: str) -> tuple[jax.Array, jax.Array]:
    """:func:`_extreme_arg` over every tap of regular windows at once; returns the tap number.

    The input is padded once with the never-winning value and every tap is a plain
    strided slice of it: XLA fuses that chain into one loop (per-tap border pads inside
    it are several times slower).
    """
    lead = x.ndim - spec.n
    fill = jnp.asarray(_fill(x.dtype, kind), x.dtype)
    better = lax.gt if kind == "max" else lax.lt
    nan_aware = jnp.issubdtype(x.dtype, jnp.floating)
    tdt = _tap_dtype(spec.taps)
    shape = (*x.shape[:lead], *spec.out_spatial)
    nd = len(shape)
    xp = lax.pad(x, fill, [(0, 0, 0)] * lead + [(ax.lo, ax.hi, 0) for ax in spec.axes])
    firsts = [ax.first() for ax in spec.axes]
    sizes = [math.prod(b.taps for b in spec.axes[d + 1:]) for d in range(spec.n)]
    t0 = sum(np.ix_(*[f * sz for f, sz in zip(firsts, sizes)])) if spec.n > 1 else firsts[0] * sizes[0]
    m = lax.full(shape, fill, x.dtype)
    t = _grid_const(np.asarray(t0), nd, lead, tdt, shape)
    for tap, combo in enumerate(itertools.product(*(range(ax.taps) for ax in spec.axes))):
        starts = [0] * lead + [a * ax.dilation for a, ax in zip(combo, spec.axes)]
        limits = [*x.shape[:lead], *(a * ax.dilation + (ax.out - 1) * ax.stride + 1 for a, ax in zip(combo, spec.axes))]
        v = _slice(xp, starts, limits, [1] * lead + [ax.stride for ax in spec.axes])
        # A window whose real values all equal the fill (-inf, or the integer minimum)
        # points at its first real tap, as torch: that tap is taken where it is real.
        forced = np.ones((), bool)
        for f, a, ax in zip(firsts, combo, spec.axes):
            forced = np.logical_and.outer(forced, (f == a) & ax.real(a)) if forced.ndim else (f == a) & ax.real(a)
        if forced.all():
            m, t = v, lax.full(shape, tap, tdt)
            continue
        upd = better(v, m)
        if forced.any():
            upd = lax.bitwise_or(upd, _grid_const(forced, nd, lead, None, shape))
        if nan_aware:
            upd = lax.bitwise_or(upd, lax.ne(v, v))
        m = lax.select(upd, v, m)
        t = lax.select(upd, lax.full(shape, tap, tdt), t)
    return m, t


def _combine_offsets(offs: tuple[jax.Array, ...], spec: PoolSpec) -> jax.Array:
    tdt = _tap_dtype(spec.taps)
    t = offs[0].astype(tdt)
    for d in range(1, spec.n):
        t = lax.add(lax.mul(t, lax.full(t.shape, spec.axes[d].taps, tdt)), offs[d].astype(tdt))
    return t


def _split_offsets(t: jax.Array, spec: PoolSpec) -> tuple[jax.Array, ...]:
    t = t.astype(jnp.int32)
    offs = []
    for d in reversed(range(spec.n)):
        k = lax.full(t.shape, spec.axes[d].taps, jnp.int32)
        offs.append(lax.rem(t, k))  # t >= 0: truncation is floor
        t = lax.div(t, k)
    return tuple(reversed(offs))


def _flat_positions(offs: tuple[jax.Array, ...], spec: PoolSpec, dtype: Any, drop_unreal: bool = False) -> jax.Array:
    """Flat position in the unpadded input plane of each window's chosen tap (torch's indices)."""
    shape = offs[0].shape
    nd = len(shape)
    lead = nd - spec.n
    flat = None
    real = None
    plane = 1
    for d in reversed(range(spec.n)):
        ax = spec.axes[d]
        start = lax.broadcast_in_dim(jnp.asarray(ax.starts().astype(np.int64), dtype), shape, (lead + d,))
        pos = lax.add(start, lax.mul(offs[d].astype(dtype), lax.full(shape, ax.dilation, dtype)))
        term = lax.mul(pos, lax.full(shape, plane, dtype))
        flat = term if flat is None else lax.add(flat, term)
        if drop_unreal:
            ok = lax.bitwise_and(lax.ge(pos, lax.full(shape, 0, dtype)), lax.lt(pos, lax.full(shape, ax.size, dtype)))
            real = ok if real is None else lax.bitwise_and(real, ok)
        plane *= ax.size
    if drop_unreal:
        assert real is not None and flat is not None  # spec.n >= 1
        flat = lax.select(real, flat, lax.full(shape, plane, dtype))  # out of range: dropped by the scatter
    return flat  # type: ignore[return-value]


def _materialize(t: jax.Array) -> jax.Array:
    """Make XLA compute the winning taps once instead of once per backward use.

    The VJP reads every window's winner once per tap. XLA:CPU fuses cheap producers
    into their consumers even when that recomputes them per use, so without this the
    whole argmax chain is re-run for every tap of every input element (several times
    slower). ``lax.optimization_barrier`` is expanded before fusion on CPU; a window
    reduction is an op XLA will not duplicate into a consumer that reuses its elements
    (and XLA:CPU runs this trivial one as a plain copy).
    """
    tt = jnp.broadcast_to(t[..., None], (*t.shape, 2))
    low = jnp.asarray(jnp.iinfo(t.dtype).min, t.dtype)
    return lax.reduce_window(tt, low, lax.max, (1,) * t.ndim + (2,), (1,) * t.ndim + (2,), "VALID")[..., 0]


def _place_phases(g: jax.Array, t: jax.Array, spec: PoolSpec) -> jax.Array:
    """Scatter-free VJP of a regular pool: send each window's cotangent to its winning tap.

    Padded input position ``p = o * s + a * d`` splits by stride phase ``r = (a * d) % s``
    into ``q = o + (a * d) // s``: every tap adds a shifted copy of its masked cotangent to
    one phase grid, and the phases interleave back (``(Q, s) -> Q * s``) in one fusion.
    """
    n = spec.n
    lead_shape = g.shape[:-n]
    nl = len(lead_shape)
    qs = [-(-(ax.lo + ax.size + ax.hi) // ax.stride) for ax in spec.axes]
    phases: dict[tuple[int, ...], jax.Array] = {}
    zero = jnp.asarray(0, g.dtype)
    zeros_g = lax.full(g.shape, 0, g.dtype)
    for tap, combo in enumerate(itertools.product(*(range(ax.taps) for ax in spec.axes))):
        c = lax.select(lax.eq(t, lax.full(t.shape, tap, t.dtype)), g, zeros_g)
        cfg = [(0, 0, 0)] * nl
        key = []
        for ax, a, q in zip(spec.axes, combo, qs):
            shift, r = divmod(a * ax.dilation, ax.stride)
            cfg.append((shift, q - ax.out - shift, 0))
            key.append(r)
        c = lax.pad(c, zero, cfg)
        k = tuple(key)
        phases[k] = phases[k] + c if k in phases else c
    zeros = jnp.zeros((*lead_shape, *qs), g.dtype)
    strides = [ax.stride for ax in spec.axes]
    grid = jnp.stack([phases.get(k, zeros) for k in itertools.product(*(range(s) for s in strides))])
    grid = grid.reshape((*strides, *lead_shape, *qs))
    perm = list(range(n, n + nl))
    for d in range(n):
        perm += [n + nl + d, d]
    grid = grid.transpose(perm).reshape((*lead_shape, *(q * s for q, s in zip(qs, strides))))
    idx = (slice(None),) * nl + tuple(slice(ax.lo, ax.lo + ax.size) for ax in spec.axes)
    return grid[idx]


def _scatter_back(g: jax.Array, t: jax.Array, spec: PoolSpec) -> jax.Array:
    """VJP by scatter-add at the winners' flat positions (adaptive bins, very large windows)."""
    lead_shape = g.shape[:-spec.n]
    size = math.prod(spec.in_spatial)
    rows = math.prod(lead_shape)
    flat = _flat_positions(_split_offsets(t, spec), spec, jnp.int32, drop_unreal=True)  # size: dropped
    flat = flat.reshape(rows, -1)
    flat = lax.add(flat, lax.broadcasted_iota(jnp.int32, flat.shape, 0) * (size + 1))
    dx = jnp.zeros((rows * (size + 1),), g.dtype).at[flat.reshape(-1)].add(g.reshape(-1), mode="drop")
    return dx.reshape(rows, size + 1)[:, :size].reshape((*lead_shape, *spec.in_spatial))


def _backward(g: jax.Array, t: jax.Array, spec: PoolSpec) -> jax.Array:
    if spec.regular and spec.taps <= _MAX_UNROLLED_TAPS:
        return _place_phases(g, t, spec)
    return _scatter_back(g, t, spec)


def _winners(x: jax.Array, spec: PoolSpec, kind: str, for_vjp: bool) -> tuple[jax.Array, jax.Array]:
    """Window extremes and the combined number of each window's winning tap."""
    if not (spec.regular and spec.taps <= _MAX_UNROLLED_TAPS):
        # The scatter VJP reads each winner once: nothing to materialize.
        m, offs = _extreme_arg(x, spec, kind)
        return m, _combine_offsets(offs, spec)
    m, t = _extreme_arg_scan(x, spec, kind)
    if for_vjp:
        # The values' own chain (a plain max) is cheaper to run again than to carry.
        m = _extreme_values(x, spec, kind)
        # Non-overlapping windows with few taps read each winner once per tap, cheaply
        # enough that recomputing beats materializing (measured); the rest materializes.
        if spec.overlapping or spec.taps > 4:
            t = _materialize(t)
    return m, t


@functools.partial(jax.custom_vjp, nondiff_argnums=(1, 2))
def _extreme_pool(x: jax.Array, spec: PoolSpec, kind: str) -> jax.Array:
    return _extreme_values(x, spec, kind)


def _extreme_pool_fwd(x: jax.Array, spec: PoolSpec, kind: str) -> tuple[jax.Array, jax.Array]:
    return _winners(x, spec, kind, True)


def _extreme_pool_bwd(spec: PoolSpec, kind: str, t: jax.Array, g: jax.Array) -> tuple[jax.Array]:
    return (_backward(g, t, spec),)


_extreme_pool.defvjp(_extreme_pool_fwd, _extreme_pool_bwd)


@functools.partial(jax.custom_vjp, nondiff_argnums=(1, 2))
def _extreme_pool_idx(x: jax.Array, spec: PoolSpec, kind: str) -> tuple[jax.Array, jax.Array]:
    m, t = _winners(x, spec, kind, False)
    return m, _flat_positions(_split_offsets(t, spec), spec, _index_dtype())


def _extreme_pool_idx_fwd(x: jax.Array, spec: PoolSpec, kind: str) -> tuple[tuple[jax.Array, jax.Array], jax.Array]:
    m, t = _winners(x, spec, kind, True)
    return (m, _flat_positions(_split_offsets(t, spec), spec, _index_dtype())), t


def _extreme_pool_idx_bwd(spec: PoolSpec, kind: str, t: jax.Array, cts: Any) -> tuple[jax.Array]:
    return (_backward(cts[0], t, spec),)


_extreme_pool_idx.defvjp(_extreme_pool_idx_fwd, _extreme_pool_idx_bwd)


def _extreme_impl(x: jax.Array, spec: PoolSpec, kind: str, return_indices: bool) -> Any:
    if not spec.batched:
        x = x[None]
    if return_indices:
        y, i = _extreme_pool_idx(x, spec, kind)  # type: ignore[misc]
        return (y, i) if spec.batched else (y[0], i[0])
    y = _extreme_pool(x, spec, kind)
    return y if spec.batched else y[0]  # type: ignore[index]


_extreme_jit = jax.jit(_extreme_impl, static_argnums=(1, 2, 3))


def _extreme(fn: str, n: int, kind: str, input: Any, kernel_size: IntOrSeq, stride: IntOrSeq | None, padding: Padding,
             dilation: IntOrSeq, ceil_mode: bool, return_indices: bool) -> Any:
    input = _as_array(fn, "input", input)
    spec = _window_spec(fn, input, n, kernel_size, stride, padding, dilation, ceil_mode)
    _check_dtype(fn, input, floating_only=False)
    return _extreme_jit(input, spec, kind, bool(return_indices))


# ---------------------------------------------------------------------------------------
# Sums: average and power-average pools
# ---------------------------------------------------------------------------------------

def _acc_dtype(dtype: Any) -> Any:
    # torch accumulates half types in float32 (its "opmath" type).
    return jnp.float32 if jnp.dtype(dtype).itemsize < 4 else dtype


def _divisor(spec: PoolSpec, counts: tuple[tuple[int, ...], ...], dtype: Any, nd: int) -> jax.Array:
    lead = nd - spec.n
    div = None
    for d, c in enumerate(counts):
        v = jnp.asarray(np.asarray(c, np.float64), dtype).reshape(_bshape(nd, lead + d, len(c)))
        div = v if div is None else div * v
    return div  # type: ignore[return-value]


def _avg_impl(x: jax.Array, spec: PoolSpec, counts: tuple[tuple[int, ...], ...] | None, override: int | None) -> jax.Array:
    if not spec.batched:
        x = x[None]
    acc = _acc_dtype(x.dtype)
    s = _reduce(x.astype(acc), spec, 0, lax.add)
    if override is not None:
        y = s / jnp.asarray(override, acc)
    else:
        y = s / _divisor(spec, counts, acc, s.ndim)  # type: ignore[arg-type]
    y = y.astype(x.dtype)
    return y if spec.batched else y[0]


_avg_jit = jax.jit(_avg_impl, static_argnums=(1, 2, 3))


@spec_cache
def _avg_counts(fn: str, spatial: tuple[int, ...], kernel_size: Any, stride: Any, padding: Any, ceil_mode: bool,
                count_include_pad: bool) -> tuple[tuple[int, ...], ...]:
    per_dim = pool_window_counts(spatial, kernel_size, stride, padding, ceil_mode, fn=fn)
    # A window wholly in the padding sums to 0; dividing it by 1 keeps it 0 (torch skips it).
    return tuple(w if count_include_pad else tuple(max(c, 1) for c in r) for w, r in per_dim)


def _avg(fn: str, n: int, input: Any, kernel_size: IntOrSeq, stride: IntOrSeq | None, padding: Padding, ceil_mode: bool,
         count_include_pad: bool, divisor_override: int | None) -> jax.Array:
    input = _as_array(fn, "input", input)
    spec = _window_spec(fn, input, n, kernel_size, stride, padding, 1, ceil_mode)
    _check_dtype(fn, input, floating_only=True)
    if divisor_override is not None:
        if isinstance(divisor_override, bool) or not isinstance(divisor_override, (int, np.integer)):
            raise arg_error(fn, "divisor_override", "must be a non-zero int or None", divisor_override, exc=TypeError)
        if divisor_override == 0:
            raise arg_error(fn, "divisor_override", "must be a non-zero int or None", divisor_override)
        return _avg_jit(input, spec, None, int(divisor_override))
    counts = _avg_counts(fn, spec.in_spatial, _freeze(kernel_size), _freeze(_default_stride(stride)), _freeze(padding),
                         bool(ceil_mode), bool(count_include_pad))
    return _avg_jit(input, spec, counts, None)


def _pow(x: jax.Array, p: float) -> jax.Array:
    # torch's pow kernels special-case these exponents; matching them keeps results bit-close.
    if p == int(p) and abs(p) <= 4:
        return lax.integer_pow(x, int(p))
    if p == 0.5:
        return jnp.sqrt(x)
    return jnp.power(x, jnp.asarray(p, x.dtype))


def _lp_impl(x: jax.Array, spec: PoolSpec, counts: tuple[tuple[int, ...], ...], norm_type: float) -> jax.Array:
    if not spec.batched:
        x = x[None]
    acc = _acc_dtype(x.dtype)
    # torch: avg_pool(x ** p, padding=0, count_include_pad=True) * prod(kernel), then ** (1/p).
    # In ceil mode the overhang window is thus scaled by kernel size / its real count.
    s = _reduce(_pow(x.astype(acc), norm_type), spec, 0, lax.add)
    out = s / _divisor(spec, counts, acc, s.ndim) * jnp.asarray(math.prod(ax.taps for ax in spec.axes), acc)
    # sign(out) * relu(|out|) is out, but its gradient is 0 where out == 0 (torch's
    # "zero sum -> zero gradient"): keep the power off 0 so that no inf * 0 appears.
    nz = out != 0
    y = jnp.where(nz, _pow(jnp.where(nz, out, jnp.ones_like(out)), 1.0 / norm_type), jnp.zeros_like(out))
    y = y.astype(x.dtype)
    return y if spec.batched else y[0]


_lp_jit = jax.jit(_lp_impl, static_argnums=(1, 2, 3))


def _lp(fn: str, n: int, input: Any, norm_type: float, kernel_size: IntOrSeq, stride: IntOrSeq | None,
        ceil_mode: bool) -> jax.Array:
    input = _as_array(fn, "input", input)
    if isinstance(norm_type, bool) or not isinstance(norm_type, (int, float, np.integer, np.floating)):
        raise arg_error(fn, "norm_type", "must be a real number", norm_type, exc=TypeError)
    p = float(norm_type)
    if p == 0 or math.isnan(p):
        raise arg_error(fn, "norm_type", "must be non-zero and not NaN (the result is the sum ** (1 / norm_type))", norm_type)
    if math.isinf(p):
        # torch: max_pool(|x|) for +inf and -max_pool(-|x|) for -inf, padding 0, dilation 1.
        if p > 0:
            return _extreme(fn, n, "max", jnp.abs(input), kernel_size, stride, 0, 1, ceil_mode, False)
        return -_extreme(fn, n, "max", -jnp.abs(input), kernel_size, stride, 0, 1, ceil_mode, False)
    spec = _window_spec(fn, input, n, kernel_size, stride, 0, 1, ceil_mode)
    _check_dtype(fn, input, floating_only=True)
    counts = _avg_counts(fn, spec.in_spatial, _freeze(kernel_size), _freeze(_default_stride(stride)), 0, bool(ceil_mode), True)
    return _lp_jit(input, spec, counts, p)


# ---------------------------------------------------------------------------------------
# Adaptive pools
# ---------------------------------------------------------------------------------------

def _adaptive_avg_impl(x: jax.Array, spec: PoolSpec) -> jax.Array:
    if not spec.batched:
        x = x[None]
    acc = _acc_dtype(x.dtype)
    # Uneven (overlapping) bins are summed from one gather per dim (_axis_taps), not by an
    # averaging matrix, which would multiply each NaN/inf by the zero weights of the bins
    # without it and spread NaN over the whole row (torch keeps it in its own bins).
    s = _reduce(x.astype(acc), spec, 0, lax.add)
    sizes = tuple(tuple(e - b for b, e in ax.bins) if ax.bins is not None else (ax.taps,) * ax.out for ax in spec.axes)
    y = s / _divisor(spec, sizes, acc, s.ndim)
    y = y.astype(x.dtype)
    return y if spec.batched else y[0]


_adaptive_avg_jit = jax.jit(_adaptive_avg_impl, static_argnums=(1,))


# ---------------------------------------------------------------------------------------
# Unpooling
# ---------------------------------------------------------------------------------------

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


def _unpool_impl(x: jax.Array, indices: jax.Array, out_spatial: tuple[int, ...], batched: bool) -> jax.Array:
    if not batched:
        x, indices = x[None], indices[None]
    n = len(out_spatial)
    lead = x.shape[:-n]
    size = math.prod(out_spatial)
    length = math.prod(x.shape[-n:])
    rows = math.prod(lead)
    itype = jnp.int32 if rows * (size + 1) < 2**31 else indices.dtype
    idx = indices.reshape(rows, length).astype(itype)
    base = lax.broadcasted_iota(itype, (rows, length), 0) * size
    ok = (idx >= 0) & (idx < size)
    # Out-of-range indices go to one spare slot past the end (dropped), never into another plane.
    gidx = lax.select(ok, base + idx, lax.full(idx.shape, rows * size, itype))
    y = _unpool_flat(x.reshape(rows, length), gidx, size)
    y = y.reshape((*lead, *out_spatial))  # type: ignore[attr-defined]
    return y if batched else y[0]


_unpool_jit = jax.jit(_unpool_impl, static_argnums=(2, 3))


@spec_cache
def _unpool_size(fn: str, shape: tuple[int, ...], n: int, kernel_size: Any, stride: Any, padding: Any,
                 output_size: Any) -> tuple[tuple[int, ...], bool]:
    batched = split_batch(fn, len(shape), n)
    out = unpool_output_shape(shape[-n:], kernel_size, stride, padding, output_size, fn=fn)
    return out, batched


def _unpool(fn: str, n: int, input: Any, indices: Any, kernel_size: IntOrSeq, stride: IntOrSeq | None, padding: Padding,
            output_size: Sequence[int] | None) -> jax.Array:
    input = _as_array(fn, "input", input)
    indices = _as_array(fn, "indices", indices)
    if tuple(indices.shape) != tuple(input.shape):
        raise arg_error(fn, "indices", f"must have the input's shape {tuple(input.shape)}", f"shape {tuple(indices.shape)}")
    if not jnp.issubdtype(indices.dtype, jnp.integer):
        raise arg_error(fn, "indices", "must have an integer dtype (from a max pool with return_indices=True)",
                        str(indices.dtype), exc=TypeError)
    _check_dtype(fn, input, floating_only=False)
    if output_size is not None and hasattr(output_size, "__len__") and not isinstance(output_size, str):
        output_size = tuple(int(v) if isinstance(v, (int, np.integer)) else v for v in output_size)
    try:
        out, batched = _unpool_size(fn, tuple(input.shape), n, _freeze(kernel_size), _freeze(_default_stride(stride)),
                                    _freeze(padding), _freeze(output_size))
    except TypeError as e:
        if "unhashable" not in str(e):
            raise
        raise arg_error(fn, "kernel_size, stride, padding and output_size", "must be ints or sequences of ints",
                        (kernel_size, stride, padding, output_size), exc=TypeError) from None
    return _unpool_jit(input, indices, out, batched)


# ---------------------------------------------------------------------------------------
# The generic reducer
# ---------------------------------------------------------------------------------------

def _pool_impl(x: jax.Array, spec: PoolSpec, init_value: Any, reduce_fn: Callable[[Any, Any], Any]) -> jax.Array:
    if not spec.batched:
        x = x[None]
    y = _reduce(x, spec, init_value, reduce_fn)
    return y if spec.batched else y[0]


_pool_jit = jax.jit(_pool_impl, static_argnums=(1, 2, 3))


def window_reduce(
    input: jax.Array,
    init_value: Any,
    reduce_fn: Callable[[Any, Any], Any],
    kernel_size: IntOrSeq,
    stride: IntOrSeq | None = None,
    padding: Padding = 0,
    dilation: IntOrSeq = 1,
    ceil_mode: bool = False,
    *,
    spatial_dims: int | None = None,
) -> jax.Array:
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
    input = _as_array(fn, "input", input)
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
    spec = _window_spec(fn, input, spatial_dims, kernel_size, stride, padding, dilation, ceil_mode)
    try:
        hash(init_value)
    except TypeError:
        raise arg_error(fn, "init_value", "must be a Python or NumPy scalar", init_value, exc=TypeError) from None
    return _pool_jit(input, spec, init_value, reduce_fn)


# ---------------------------------------------------------------------------------------
# The torch.nn.functional wrappers
# ---------------------------------------------------------------------------------------

_SHAPES = {1: "(N, C, L)", 2: "(N, C, H, W)", 3: "(N, C, D, H, W)"}


def _max_nd(n: int, kind: str) -> Any:
    name = f"{kind}_pool{n}d"

    def pool_nd(
        input: jax.Array,
        kernel_size: IntOrSeq,
        stride: IntOrSeq | None = None,
        padding: Padding = 0,
        dilation: IntOrSeq = 1,
        ceil_mode: bool = False,
        return_indices: bool = False,
    ) -> Any:
        return _extreme(name, n, kind, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices)

    pool_nd.__name__ = pool_nd.__qualname__ = name
    ex = {1: ("jnp.array([[[1., 3., 2., 5., 4.]]])", "2"),
          2: ("jnp.arange(16.).reshape(1, 1, 4, 4)", "3, stride=2, padding=1"),
          3: ("jnp.arange(8.).reshape(1, 1, 2, 2, 2)", "2")}[n]
    out = {("max", 1): ("Array([[[3., 5.]]], dtype=float32)", "Array([[[1, 3]]], dtype=int32)"),
           ("max", 2): ("Array([[[[ 5.,  7.],\n               [13., 15.]]]], dtype=float32)",
                        "Array([[[[ 5,  7],\n               [13, 15]]]], dtype=int32)"),
           ("max", 3): ("Array([[[[[7.]]]]], dtype=float32)", "Array([[[[[7]]]]], dtype=int32)"),
           ("min", 1): ("Array([[[1., 2.]]], dtype=float32)", "Array([[[0, 2]]], dtype=int32)"),
           ("min", 2): ("Array([[[[0., 1.],\n               [4., 5.]]]], dtype=float32)",
                        "Array([[[[0, 1],\n               [4, 5]]]], dtype=int32)"),
           ("min", 3): ("Array([[[[[0.]]]]], dtype=float32)", "Array([[[[[0]]]]], dtype=int32)")}[(kind, n)]
    if kind == "max":
        what = f"""{n}-d max pooling with ``torch.nn.functional.{name}``'s arguments and results.

    Ties go to the first maximum in window scan order (row-major over the kernel), for
    the indices and for the gradient; a NaN in a window makes the output NaN and the
    index that of the window's last NaN (torch's CPU rule); padding never wins (it reads
    -inf, or the dtype's minimum for integers, which keep their dtype exactly). The
    gradient is a custom VJP that supports dilation (``jax.grad`` of
    ``lax.reduce_window`` does not) and is several times faster on CPU. Forward-mode
    differentiation (``jax.jvp``) is not supported."""
    else:
        what = f"""{n}-d min pooling: the mirror image of :func:`max_pool{n}d` (torch has none).

    ``{name}(x)`` equals ``-max_pool{n}d(-x)`` for floats, without negating: the first
    minimum in window scan order wins, for the indices and the gradient; a NaN wins
    over everything and the last NaN is reported; padding never wins (it reads +inf, or
    the dtype's maximum for integers, which keep their dtype exactly)."""
    pool_nd.__doc__ = f"""{what}

    Args:
      input: {_SHAPES[n]} or unbatched without N.
      kernel_size: int or {n} ints.
      stride: int or {n} ints; ``None`` (default) means ``kernel_size``.
      padding: an int or {n} ints (torch's form, at most ``kernel_size // 2``), or any
        form of :func:`jaxconv.shapes.resolve_padding` (per-side pairs, ``"same"``, ...).
      dilation: int or {n} ints, the spacing of the kernel's taps.
      ceil_mode: round the output size up; the last window must start inside the input
        or the left padding.
      return_indices: also return the flat position of each winner in its channel's
        unpadded spatial plane (for :func:`max_unpool{n}d`); int64 with
        ``jax_enable_x64``, int32 otherwise.

    Returns:
      The pooled array, ``out = floor_or_ceil((in + lo + hi - d*(k-1) - 1)/s) + 1`` per
      dim, and the indices if ``return_indices``.

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxconv
      >>> y, i = jaxconv.{name}({ex[0]}, {ex[1]}, return_indices=True)
      >>> y
      {out[0]}
      >>> i
      {out[1]}
    """
    return pool_nd


max_pool1d = _max_nd(1, "max")
max_pool2d = _max_nd(2, "max")
max_pool3d = _max_nd(3, "max")
min_pool1d = _max_nd(1, "min")
min_pool2d = _max_nd(2, "min")
min_pool3d = _max_nd(3, "min")


def _avg_nd(n: int) -> Any:
    name = f"avg_pool{n}d"

    def avg_pool_nd(
        input: jax.Array,
        kernel_size: IntOrSeq,
        stride: IntOrSeq | None = None,
        padding: Padding = 0,
        ceil_mode: bool = False,
        count_include_pad: bool = True,
        divisor_override: int | None = None,
    ) -> jax.Array:
        return _avg(name, n, input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override)

    avg_pool_nd.__name__ = avg_pool_nd.__qualname__ = name
    ex = {1: ("jnp.array([[[1., 2., 3., 4., 5.]]])", "2, ceil_mode=True", "Array([[[1.5, 3.5, 5. ]]], dtype=float32)"),
          2: ("jnp.ones((1, 1, 3, 3))", "2, stride=2, padding=1",
              "Array([[[[0.25, 0.5 ],\n               [0.5 , 1.  ]]]], dtype=float32)"),
          3: ("jnp.ones((1, 1, 2, 2, 2))", "2", "Array([[[[[1.]]]]], dtype=float32)")}[n]
    extra = "" if n > 1 else " (torch's avg_pool1d has no such argument)"
    avg_pool_nd.__doc__ = f"""{n}-d average pooling with ``torch.nn.functional.{name}``'s arguments.

    Window sums are taken in torch's scan order (in float32 for half types) and divided
    by torch's divisor: with ``count_include_pad`` the window clipped to the padded
    input (zero padding counts, the ceil-mode overhang does not); without it the number
    of input elements; ``divisor_override`` replaces both. No dilation, as torch.

    Args:
      input: {_SHAPES[n]} or unbatched without N, floating dtype.
      kernel_size: int or {n} ints.
      stride: int or {n} ints; ``None`` (default) means ``kernel_size``.
      padding: an int or {n} ints (at most ``kernel_size // 2``), or any form of
        :func:`jaxconv.shapes.resolve_padding`.
      ceil_mode: round the output size up (the last window starts inside the input or
        the left padding).
      count_include_pad: count zero padding in the divisor.
      divisor_override: a non-zero int divisor for every window{extra}.

    Returns:
      ``out = floor_or_ceil((in + lo + hi - k)/s) + 1`` per dim.

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxconv
      >>> jaxconv.{name}({ex[0]}, {ex[1]})
      {ex[2]}
    """
    return avg_pool_nd


avg_pool1d = _avg_nd(1)
avg_pool2d = _avg_nd(2)
avg_pool3d = _avg_nd(3)


def _lp_nd(n: int) -> Any:
    name = f"lp_pool{n}d"

    def lp_pool_nd(
        input: jax.Array,
        norm_type: float,
        kernel_size: IntOrSeq,
        stride: IntOrSeq | None = None,
        ceil_mode: bool = False,
    ) -> jax.Array:
        return _lp(name, n, input, norm_type, kernel_size, stride, ceil_mode)

    lp_pool_nd.__name__ = lp_pool_nd.__qualname__ = name
    ex = {1: ("jnp.array([[[3., 4., 1.]]])", "2.0, 2", "Array([[[5.]]], dtype=float32)"),
          2: ("jnp.full((1, 1, 2, 2), 2.0)", "2, 2", "Array([[[[4.]]]], dtype=float32)"),
          3: ("jnp.ones((1, 1, 2, 2, 2))", "1, 2", "Array([[[[[8.]]]]], dtype=float32)")}[n]
    lp_pool_nd.__doc__ = f"""{n}-d power-average pooling, ``torch.nn.functional.{name}``, built as torch builds it.

    ``(avg_pool(x ** p) * prod(kernel_size)) ** (1 / p)`` with no padding: the p-norm
    of each window. As torch: ``x ** p`` is not ``|x| ** p`` (negative inputs with odd
    or fractional ``p`` give negative sums or NaN); a ceil-mode window that overhangs
    the input is scaled by ``prod(kernel_size) / (its element count)``; the gradient is 0
    where the window sum is 0; ``p = inf`` is ``max_pool(|x|)`` and ``p = -inf`` is
    ``-max_pool(-|x|)``.

    Args:
      input: {_SHAPES[n]} or unbatched without N, floating dtype (any real dtype for
        ``p = +-inf``).
      norm_type: the power ``p`` (non-zero, may be ``+-inf``).
      kernel_size: int or {n} ints.
      stride: int or {n} ints; ``None`` (default) means ``kernel_size``.
      ceil_mode: round the output size up.

    Returns:
      ``out = floor_or_ceil((in - k)/s) + 1`` per dim.

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxconv
      >>> jaxconv.{name}({ex[0]}, {ex[1]})
      {ex[2]}
    """
    return lp_pool_nd


lp_pool1d = _lp_nd(1)
lp_pool2d = _lp_nd(2)
lp_pool3d = _lp_nd(3)


def _adaptive_nd(n: int, kind: str) -> Any:
    name = f"adaptive_{kind}_pool{n}d"
    ex_in = {1: "jnp.array([[[1., 2., 3., 4., 5.]]])", 2: "jnp.arange(16.).reshape(1, 1, 4, 4)",
             3: "jnp.arange(8.).reshape(1, 1, 2, 2, 2)"}[n]
    ex_out = {1: "3", 2: "(1, 2)", 3: "1"}[n]
    doc_args = f"""Args:
      input: {_SHAPES[n]} or unbatched without N.
      output_size: an int or {n} entries, each an int >= 1 or ``None`` (keep that dim).

    The bin of output ``i`` along a dim is ``[floor(i*in/out), ceil((i+1)*in/out))``, as
    torch: bins overlap where ``out`` does not divide ``in``."""

    if kind == "avg":
        def adaptive_nd(input: jax.Array, output_size: int | Sequence[int | None]) -> jax.Array:  # type: ignore[no-redef]
            input = _as_array(name, "input", input)
            spec = _adaptive_spec(name, input, n, output_size)
            _check_dtype(name, input, floating_only=True)
            return _adaptive_avg_jit(input, spec)

        res = {1: "Array([[[1.5, 3. , 4.5]]], dtype=float32)", 2: "Array([[[[6.5, 8.5]]]], dtype=float32)",
               3: "Array([[[[[3.5]]]]], dtype=float32)"}[n]
        adaptive_nd.__doc__ = f"""{n}-d adaptive average pooling, ``torch.nn.functional.{name}``.

    Each output is the mean of its bin (floating dtypes, half types summed in float32).

    {doc_args}

    Returns:
      ``(N, C, *output_size)``.

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxconv
      >>> jaxconv.{name}({ex_in}, {ex_out})
      {res}
    """
    else:
        def adaptive_nd(input: jax.Array, output_size: int | Sequence[int | None], return_indices: bool = False) -> Any:  # type: ignore[misc]
            input = _as_array(name, "input", input)
            spec = _adaptive_spec(name, input, n, output_size)
            _check_dtype(name, input, floating_only=False)
            return _extreme_jit(input, spec, "max", bool(return_indices))

        res = {1: "Array([[[2., 4., 5.]]], dtype=float32)", 2: "Array([[[[13., 15.]]]], dtype=float32)",
               3: "Array([[[[[7.]]]]], dtype=float32)"}[n]
        adaptive_nd.__doc__ = f"""{n}-d adaptive max pooling, ``torch.nn.functional.{name}``.

    The winner rule, indices and gradient are those of :func:`max_pool{n}d`; integer
    inputs keep their dtype (torch accepts floats only).

    {doc_args}
      return_indices: also return flat positions in each channel's plane (int64 with
        ``jax_enable_x64``, int32 otherwise).

    Returns:
      ``(N, C, *output_size)``, and the indices if ``return_indices``.

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxconv
      >>> jaxconv.{name}({ex_in}, {ex_out})
      {res}
    """
    adaptive_nd.__name__ = adaptive_nd.__qualname__ = name
    return adaptive_nd


adaptive_avg_pool1d = _adaptive_nd(1, "avg")
adaptive_avg_pool2d = _adaptive_nd(2, "avg")
adaptive_avg_pool3d = _adaptive_nd(3, "avg")
adaptive_max_pool1d = _adaptive_nd(1, "max")
adaptive_max_pool2d = _adaptive_nd(2, "max")
adaptive_max_pool3d = _adaptive_nd(3, "max")


def _unpool_nd(n: int) -> Any:
    name = f"max_unpool{n}d"

    def max_unpool_nd(
        input: jax.Array,
        indices: jax.Array,
        kernel_size: IntOrSeq,
        stride: IntOrSeq | None = None,
        padding: Padding = 0,
        output_size: Sequence[int] | None = None,
    ) -> jax.Array:
        return _unpool(name, n, input, indices, kernel_size, stride, padding, output_size)

    max_unpool_nd.__name__ = max_unpool_nd.__qualname__ = name
    ex = {1: ("jnp.array([[[1., 3., 2., 5.]]])", "2", "Array([[[0., 3., 0., 5.]]], dtype=float32)"),
          2: ("jnp.arange(16.).reshape(1, 1, 4, 4)", "2",
              "Array([[[[ 0.,  0.,  0.,  0.],\n               [ 0.,  5.,  0.,  7.],\n"
              "               [ 0.,  0.,  0.,  0.],\n               [ 0., 13.,  0., 15.]]]], dtype=float32)"),
          3: ("jnp.arange(8.).reshape(1, 1, 2, 2, 2)", "2", "Array([0., 0., 0., 0., 0., 0., 0., 7.], dtype=float32)")}[n]
    max_unpool_nd.__doc__ = f"""{n}-d max unpooling, ``torch.nn.functional.{name}``: the inverse of :func:`max_pool{n}d`.

    Scatters each input into zeros at its flat index (from ``max_pool{n}d(...,
    return_indices=True)``) in each channel's output plane. With duplicate indices the
    last input in scan order wins, as torch's CPU loop; the gradient reads the output
    gradient at every index, as torch. Out-of-range indices are dropped (torch raises;
    inside ``jit`` the values of the indices cannot be checked).

    Args:
      input: {_SHAPES[n]} or unbatched without N.
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
      >>> y, i = jaxconv.max_pool{n}d({ex[0]}, {ex[1]}, return_indices=True)
      >>> jaxconv.{name}(y, i, {ex[1]}){".reshape(-1)" if n == 3 else ""}
      {ex[2]}
    """
    return max_unpool_nd


max_unpool1d = _unpool_nd(1)
max_unpool2d = _unpool_nd(2)
max_unpool3d = _unpool_nd(3)
