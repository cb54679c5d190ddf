"""Max and min pooling with torch's winner rule, indices and a custom VJP; adaptive max pooling.

torch's CPU rule, kept exactly: each window is scanned in row-major order and a value wins
iff ``val > max or isnan(val)``, so ties go to the first maximum, a NaN wins over everything
and the *last* NaN wins; padding reads the lowest value (``-inf``, or the integer minimum)
and never wins. Values are a plain fold of :mod:`jaxconv.taps` (a max is exact in any
order); the winners are tracked as tap numbers, from which come torch's indices (flat
positions in each channel's unpadded plane) and the VJP, which sends each window's
cotangent to its winner, dilation included: several times faster on CPU than
``jax.grad`` of ``lax.reduce_window``, which has no dilation. Min pools are the mirror image.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Sequence
from typing import Any, Literal, overload

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jaxconv import policy
from jaxconv._plumbing import as_array, check_dtype, eager_jit, per_example, strided_slice
from jaxconv.shapes import IntOrSeq, Padding, PoolSpec, adaptive_pool_spec, pool_spec
from jaxconv.taps import MAX_UNROLLED_TAPS, axis_taps, first, grid_const, real, reduce_windows, starts, tiled_shape

__all__ = [
    "adaptive_max_pool1d",
    "adaptive_max_pool2d",
    "adaptive_max_pool3d",
    "max_pool1d",
    "max_pool2d",
    "max_pool3d",
    "min_pool1d",
    "min_pool2d",
    "min_pool3d",
]

Array = jax.Array


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
    return reduce_windows(x, spec, _fill(x.dtype, kind), lax.max if kind == "max" else lax.min)


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
        fb = first(ax)
        shape = (*vals.shape[:axis], ax.out, *vals.shape[axis + 1:])
        m = lax.full(shape, fill, x.dtype)
        j = lax.broadcast_in_dim(jnp.asarray(fb.astype(tdt)), shape, (axis,))
        carried = {e: lax.broadcast_in_dim(jnp.asarray(first(spec.axes[e]).astype(offs[e].dtype)), shape, (lead + e,))
                   for e in offs}
        vtaps = axis_taps(vals, ax, axis, fill)
        otaps = {e: axis_taps(offs[e], ax, axis, 0) for e in offs}
        for a, v in enumerate(vtaps):
            upd = better(v, m)
            force = (fb == a) & real(ax, a)
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
    firsts = [first(ax) for ax in spec.axes]
    sizes = [math.prod(b.taps for b in spec.axes[d + 1:]) for d in range(spec.n)]
    t0 = sum(np.ix_(*[f * sz for f, sz in zip(firsts, sizes)])) if spec.n > 1 else firsts[0] * sizes[0]
    m = lax.full(shape, fill, x.dtype)
    t = grid_const(np.asarray(t0), nd, lead, tdt, shape)
    for tap, combo in enumerate(itertools.product(*(range(ax.taps) for ax in spec.axes))):
        starts = [0] * lead + [a * ax.dilation for a, ax in zip(combo, spec.axes)]
        limits = [*x.shape[:lead], *(a * ax.dilation + (ax.out - 1) * ax.stride + 1 for a, ax in zip(combo, spec.axes))]
        v = strided_slice(xp, starts, limits, [1] * lead + [ax.stride for ax in spec.axes])
        # A window whose real values all equal the fill (-inf, or the integer minimum)
        # points at its first real tap, as torch: that tap is taken where it is real.
        forced = np.ones((), bool)
        for f, a, ax in zip(firsts, combo, spec.axes):
            forced = np.logical_and.outer(forced, (f == a) & real(ax, a)) if forced.ndim else (f == a) & real(ax, a)
        if forced.all():
            m, t = v, lax.full(shape, tap, tdt)
            continue
        upd = better(v, m)
        if forced.any():
            upd = lax.bitwise_or(upd, grid_const(forced, nd, lead, None, shape))
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
    inside = None
    plane = 1
    for d in reversed(range(spec.n)):
        ax = spec.axes[d]
        start = lax.broadcast_in_dim(jnp.asarray(starts(ax).astype(np.int64), dtype), shape, (lead + d,))
        pos = lax.add(start, lax.mul(offs[d].astype(dtype), lax.full(shape, ax.dilation, dtype)))
        term = lax.mul(pos, lax.full(shape, plane, dtype))
        flat = term if flat is None else lax.add(flat, term)
        if drop_unreal:
            ok = lax.bitwise_and(lax.ge(pos, lax.full(shape, 0, dtype)), lax.lt(pos, lax.full(shape, ax.size, dtype)))
            inside = ok if inside is None else lax.bitwise_and(inside, ok)
        plane *= ax.size
    if drop_unreal:
        assert inside is not None and flat is not None  # spec.n >= 1
        flat = lax.select(inside, flat, lax.full(shape, plane, dtype))  # out of range: dropped by the scatter
    return flat  # type: ignore[return-value]


@jax.custom_jvp
def _materialize(t: jax.Array) -> jax.Array:
    """Make XLA compute ``t`` (the winning taps, or the pooled values) once instead of once per use.

    The VJP reads every window's winner once per tap. XLA:CPU fuses cheap producers
    into their consumers even when that recomputes them per use, so without this the
    whole argmax chain is re-run for every tap of every input element (several times
    slower). ``lax.optimization_barrier`` is expanded before fusion on CPU; a window
    reduction is an op XLA will not duplicate into a consumer that reuses its elements
    (and XLA:CPU runs this trivial one as a plain copy).
    """
    tt = jnp.broadcast_to(t[..., None], (*t.shape, 2))
    low = jnp.asarray(-jnp.inf if jnp.issubdtype(t.dtype, jnp.floating) else jnp.iinfo(t.dtype).min, t.dtype)
    return lax.reduce_window(tt, low, lax.max, (1,) * t.ndim + (2,), (1,) * t.ndim + (2,), "VALID")[..., 0]


# An identity, so its tangent is the input's tangent. JAX's generic reduce_window (which the
# float -inf init also binds, a traced constant being no monoid identity to it) has a JVP but no
# linearization: without this rule a second derivative through a pool's forward residuals fails
# (tests/test_transforms.py::test_check_grads_second_order[max_pool2d]).
_materialize.defjvp(lambda primals, tangents: (_materialize(primals[0]), tangents[0]))


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


def _place_tiles(g: jax.Array, t: jax.Array, spec: PoolSpec) -> jax.Array:
    """Scatter-free VJP of tiling windows: input position ``o * k + a`` is tap ``a`` of window ``o``.

    So the input gradient is one elementwise select over the input seen as
    ``(..., out, taps, ...)`` (a reshape): the window's cotangent where its winning tap
    is this position's tap, else 0; floor mode's uncovered remainder is zero padding.
    """
    lead_shape = g.shape[:-spec.n]
    shape = tiled_shape(lead_shape, spec)
    windows = (*range(len(lead_shape)), *(len(lead_shape) + 2 * d for d in range(spec.n)))
    if not _materialised(spec):
        # Winners recomputed here compare as float32 tap numbers (exact below 2**24): XLA:CPU vectorises
        # the compare with the float32 select (batch 64, (6, 28, 28), k2: 1.4 -> 0.6 ms against int8);
        # materialised ones stay integers (k4: 37 -> 90 ms as float32).
        t = t.astype(jnp.float32)
    tap = lax.full(shape, 0, t.dtype)
    for d, ax in enumerate(spec.axes):  # row-major over the window, as the winners' numbers
        a = lax.broadcasted_iota(t.dtype, shape, len(lead_shape) + 2 * d + 1)
        tap = lax.add(lax.mul(tap, lax.full(shape, ax.taps, t.dtype)), a)
    won = lax.eq(lax.broadcast_in_dim(t, shape, windows), tap)
    dx = lax.select(won, lax.broadcast_in_dim(g, shape, windows), lax.full(shape, 0, g.dtype))
    dx = dx.reshape((*lead_shape, *(ax.out * ax.taps for ax in spec.axes)))
    rest = [(0, 0, 0)] * len(lead_shape) + [(0, ax.size - ax.out * ax.taps, 0) for ax in spec.axes]
    return lax.pad(dx, jnp.asarray(0, g.dtype), rest)


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
    # The placements were chosen by CPU measurements: elsewhere the scatter-add (jaxconv.policy).
    # Tiling windows over at most two pooled dims take the select over the tiles, which beat the
    # phase placement's interleaving transpose (fwd+bwd ms, batch 8, alternating, 2026-12-07): k2 s2
    # on (64, 112, 112) 18-21 -> 4-5, k3 s3 44-46 -> 35-38, k8 s8 44-56 -> 19-33, 1-d k2 on 12544
    # 15-20 -> 3-5, channels-last (112, 112, 64) k3 31 -> 5.7 (k2 a tie), LeNet's (6, 28, 28) k2 at
    # batch 64 1.1-1.9 -> 0.5-0.7; a 3-d k2 pool lost (32 -> 89: three tiled dims of 2 innermost)
    # and keeps the phases. Past MAX_UNROLLED_TAPS the winners are not materialised and the select
    # would recompute each window's argmax per element: the scatter stays (k9 s9 on (64, 36, 36):
    # 3.1 ms scattered, 29.6 as tiles; k16 on (64, 64, 64) 3.2 / 5.2).
    # tests/test_pool.py::test_tiling_extreme_pool_gradients pins the forms.
    if spec.regular and spec.taps <= MAX_UNROLLED_TAPS:
        place = _place_tiles if spec.tiling and sum(ax.taps > 1 for ax in spec.axes) <= 2 else _place_phases
        return policy.by_platform(lambda g, t: place(g, t, spec), lambda g, t: _scatter_back(g, t, spec), g, t)
    return _scatter_back(g, t, spec)


def _winners(x: jax.Array, spec: PoolSpec, kind: str, for_vjp: bool) -> tuple[jax.Array, jax.Array]:
    """Window extremes and the combined number of each window's winning tap."""
    if not (spec.regular and spec.taps <= MAX_UNROLLED_TAPS):
        # The scatter VJP reads each winner once: nothing to materialize.
        m, offs = _extreme_arg(x, spec, kind)
        return m, _combine_offsets(offs, spec)
    m, t = _extreme_arg_scan(x, spec, kind)
    if for_vjp:
        # The values' own chain (a plain max) is cheaper to run again than to carry. They are not
        # materialised (as the winners are below): on XLA:CPU 0.10 a window-2 reduction after the fold
        # made YNNPACK's fusion pass take the whole fold, copying out each tap's slice first: the
        # 3x3 s2 pool's forward on (8, 64, 112, 112) took 42 ms instead of 3 (resnet18's train step
        # was unchanged, 1.00x, its eval program 1.05x faster without; 2026-12-05).
        # tests/test_pool.py::test_pool_values_not_materialised pins it.
        m = _extreme_values(x, spec, kind)
        if _materialised(spec):
            t = policy.by_platform(_materialize, lambda v: v, t)
    return m, t


def _materialised(spec: PoolSpec) -> bool:
    # Non-overlapping windows with few taps read each winner once per tap, cheaply enough that
    # recomputing beats materializing (measured on CPU); the rest materializes there. Other
    # backends fuse by their own costs.
    return spec.overlapping or spec.taps > 4


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


@per_example()
def _extreme_impl(x: jax.Array, spec: PoolSpec, kind: str, return_indices: bool) -> Any:
    if return_indices:
        return _extreme_pool_idx(x, spec, kind)
    return _extreme_pool(x, spec, kind)


_extreme_jit = eager_jit(_extreme_impl, static_argnums=(1, 2, 3))


def _extreme(fn: str, n: int, kind: str, input: Any, kernel_size: IntOrSeq, stride: IntOrSeq | None, padding: Padding,
             dilation: IntOrSeq, ceil_mode: bool, return_indices: bool) -> Any:
    input = as_array(fn, "input", input)
    spec = pool_spec(fn, input.shape, n, kernel_size, stride, padding, dilation, ceil_mode)
    check_dtype(fn, input, floating_only=False)
    return _extreme_jit(input, spec, kind, bool(return_indices))


def _adaptive_max(fn: str, n: int, input: Any, output_size: int | Sequence[int | None], return_indices: bool) -> Any:
    input = as_array(fn, "input", input)
    spec = adaptive_pool_spec(fn, input.shape, n, output_size)
    check_dtype(fn, input, floating_only=False)
    if 0 in spec.out_spatial:  # an empty output, as torch: nothing to compute
        shape = (*input.shape[:input.ndim - n], *spec.out_spatial)
        y = jnp.zeros(shape, input.dtype)
        return (y, jnp.zeros(shape, _index_dtype())) if return_indices else y
    return _extreme_jit(input, spec, "max", bool(return_indices))



# ---------------------------------------------------------------------------------------
# The torch.nn.functional functions. Each is one call of _extreme / _adaptive_max; the
# overloads give the return_indices=True form its (values, indices) type.
# ---------------------------------------------------------------------------------------

@overload
def max_pool2d(input: Array, kernel_size: IntOrSeq, stride: IntOrSeq | None = None, padding: Padding = 0, dilation: IntOrSeq = 1, ceil_mode: bool = False, return_indices: Literal[False] = False) -> Array: ...
@overload
def max_pool2d(input: Array, kernel_size: IntOrSeq, stride: IntOrSeq | None = None, padding: Padding = 0, dilation: IntOrSeq = 1, ceil_mode: bool = False, *, return_indices: Literal[True]) -> tuple[Array, Array]: ...
def max_pool2d(input: Array, kernel_size: IntOrSeq, stride: IntOrSeq | None = None, padding: Padding = 0, dilation: IntOrSeq = 1,
               ceil_mode: bool = False, return_indices: bool = False) -> Array | tuple[Array, Array]:
    """2-d max pooling with ``torch.nn.functional.max_pool2d``'s arguments and results.

    Ties go to the first maximum in window scan order (row-major over the kernel), for the
    indices and for the gradient; a NaN in a window makes the output NaN and the index that
    of the window's last NaN (torch's CPU rule); padding never wins (it reads -inf, or the
    dtype's minimum for integers, which keep their dtype exactly). The gradient is a custom
    VJP that supports dilation (``jax.grad`` of ``lax.reduce_window`` does not) and is several
    times faster on CPU. Forward-mode differentiation (``jax.jvp``) is not supported.

    Args:
      input: ``(N, C, H, W)`` or unbatched ``(C, H, W)``.
      kernel_size: int or 2 ints.
      stride: int or 2 ints; ``None`` (default) means ``kernel_size``.
      padding: an int or 2 ints (torch's form, at most ``kernel_size // 2``), or any form of
        :func:`jaxconv.shapes.resolve_padding` (per-side pairs, ``"same"``, ...).
      dilation: int or 2 ints, the spacing of the kernel's taps.
      ceil_mode: round the output size up; the last window must start inside the input or
        the left padding.
      return_indices: also return the flat position of each winner in its channel's
        unpadded spatial plane (for :func:`max_unpool2d`); int64 with ``jax_enable_x64``,
        int32 otherwise.

    Returns:
      The pooled array, ``out = floor_or_ceil((in + lo + hi - d*(k-1) - 1)/s) + 1`` per dim,
      and the indices if ``return_indices``.

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxconv
      >>> y, i = jaxconv.max_pool2d(jnp.arange(16.).reshape(1, 1, 4, 4), 3, stride=2, padding=1, return_indices=True)
      >>> y
      Array([[[[ 5.,  7.],
               [13., 15.]]]], dtype=float32)
      >>> i
      Array([[[[ 5,  7],
               [13, 15]]]], dtype=int32)
    """
    return _extreme("max_pool2d", 2, "max", input, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


@overload
def max_pool1d(input: Array, kernel_size: IntOrSeq, stride: IntOrSeq | None = None, padding: Padding = 0, dilation: IntOrSeq = 1, ceil_mode: bool = False, return_indices: Literal[False] = False) -> Array: ...
@overload
def max_pool1d(input: Array, kernel_size: IntOrSeq, stride: IntOrSeq | None = None, padding: Padding = 0, dilation: IntOrSeq = 1, ceil_mode: bool = False, *, return_indices: Literal[True]) -> tuple[Array, Array]: ...
def max_pool1d(input: Array, kernel_size: IntOrSeq, stride: IntOrSeq | None = None, padding: Padding = 0, dilation: IntOrSeq = 1,
               ceil_mode: bool = False, return_indices: bool = False) -> Array | tuple[Array, Array]:
    """1-d max pooling, ``torch.nn.functional.max_pool1d``: :func:`max_pool2d`'s rules over ``(N, C, L)`` or ``(C, L)``.

    >>> import jax.numpy as jnp
    >>> import jaxconv
    >>> jaxconv.max_pool1d(jnp.array([[[1., 3., 2., 5., 4.]]]), 2, return_indices=True)
    (Array([[[3., 5.]]], dtype=float32), Array([[[1, 3]]], dtype=int32))
    """
    return _extreme("max_pool1d", 1, "max", input, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


@overload
def max_pool3d(input: Array, kernel_size: IntOrSeq, stride: IntOrSeq | None = None, padding: Padding = 0, dilation: IntOrSeq = 1, ceil_mode: bool = False, return_indices: Literal[False] = False) -> Array: ...
@overload
def max_pool3d(input: Array, kernel_size: IntOrSeq, stride: IntOrSeq | None = None, padding: Padding = 0, dilation: IntOrSeq = 1, ceil_mode: bool = False, *, return_indices: Literal[True]) -> tuple[Array, Array]: ...
def max_pool3d(input: Array, kernel_size: IntOrSeq, stride: IntOrSeq | None = None, padding: Padding = 0, dilation: IntOrSeq = 1,
               ceil_mode: bool = False, return_indices: bool = False) -> Array | tuple[Array, Array]:
    """3-d max pooling, ``torch.nn.functional.max_pool3d``: :func:`max_pool2d`'s rules over ``(N, C, D, H, W)``.

    >>> import jax.numpy as jnp
    >>> import jaxconv
    >>> jaxconv.max_pool3d(jnp.arange(8.).reshape(1, 1, 2, 2, 2), 2, return_indices=True)
    (Array([[[[[7.]]]]], dtype=float32), Array([[[[[7]]]]], dtype=int32))
    """
    return _extreme("max_pool3d", 3, "max", input, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


@overload
def min_pool2d(input: Array, kernel_size: IntOrSeq, stride: IntOrSeq | None = None, padding: Padding = 0, dilation: IntOrSeq = 1, ceil_mode: bool = False, return_indices: Literal[False] = False) -> Array: ...
@overload
def min_pool2d(input: Array, kernel_size: IntOrSeq, stride: IntOrSeq | None = None, padding: Padding = 0, dilation: IntOrSeq = 1, ceil_mode: bool = False, *, return_indices: Literal[True]) -> tuple[Array, Array]: ...
def min_pool2d(input: Array, kernel_size: IntOrSeq, stride: IntOrSeq | None = None, padding: Padding = 0, dilation: IntOrSeq = 1,
               ceil_mode: bool = False, return_indices: bool = False) -> Array | tuple[Array, Array]:
    """2-d min pooling: the mirror image of :func:`max_pool2d` (torch has none).

    ``min_pool2d(x)`` equals ``-max_pool2d(-x)`` for floats, without negating: the first
    minimum in window scan order wins, for the indices and the gradient; a NaN wins over
    everything and the last NaN is reported; padding never wins (it reads +inf, or the
    dtype's maximum for integers, which keep their dtype exactly). Arguments and results
    as :func:`max_pool2d`.

    >>> import jax.numpy as jnp
    >>> import jaxconv
    >>> jaxconv.min_pool2d(jnp.arange(16.).reshape(1, 1, 4, 4), 3, stride=2, padding=1)
    Array([[[[0., 1.],
             [4., 5.]]]], dtype=float32)
    """
    return _extreme("min_pool2d", 2, "min", input, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


@overload
def min_pool1d(input: Array, kernel_size: IntOrSeq, stride: IntOrSeq | None = None, padding: Padding = 0, dilation: IntOrSeq = 1, ceil_mode: bool = False, return_indices: Literal[False] = False) -> Array: ...
@overload
def min_pool1d(input: Array, kernel_size: IntOrSeq, stride: IntOrSeq | None = None, padding: Padding = 0, dilation: IntOrSeq = 1, ceil_mode: bool = False, *, return_indices: Literal[True]) -> tuple[Array, Array]: ...
def min_pool1d(input: Array, kernel_size: IntOrSeq, stride: IntOrSeq | None = None, padding: Padding = 0, dilation: IntOrSeq = 1,
               ceil_mode: bool = False, return_indices: bool = False) -> Array | tuple[Array, Array]:
    """1-d min pooling: :func:`min_pool2d`'s rules over ``(N, C, L)`` or ``(C, L)``.

    >>> import jax.numpy as jnp
    >>> import jaxconv
    >>> jaxconv.min_pool1d(jnp.array([[[1., 3., 2., 5., 4.]]]), 2, return_indices=True)
    (Array([[[1., 2.]]], dtype=float32), Array([[[0, 2]]], dtype=int32))
    """
    return _extreme("min_pool1d", 1, "min", input, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


@overload
def min_pool3d(input: Array, kernel_size: IntOrSeq, stride: IntOrSeq | None = None, padding: Padding = 0, dilation: IntOrSeq = 1, ceil_mode: bool = False, return_indices: Literal[False] = False) -> Array: ...
@overload
def min_pool3d(input: Array, kernel_size: IntOrSeq, stride: IntOrSeq | None = None, padding: Padding = 0, dilation: IntOrSeq = 1, ceil_mode: bool = False, *, return_indices: Literal[True]) -> tuple[Array, Array]: ...
def min_pool3d(input: Array, kernel_size: IntOrSeq, stride: IntOrSeq | None = None, padding: Padding = 0, dilation: IntOrSeq = 1,
               ceil_mode: bool = False, return_indices: bool = False) -> Array | tuple[Array, Array]:
    """3-d min pooling: :func:`min_pool2d`'s rules over ``(N, C, D, H, W)``.

    >>> import jax.numpy as jnp
    >>> import jaxconv
    >>> jaxconv.min_pool3d(jnp.arange(8.).reshape(1, 1, 2, 2, 2), 2)
    Array([[[[[0.]]]]], dtype=float32)
    """
    return _extreme("min_pool3d", 3, "min", input, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


@overload
def adaptive_max_pool2d(input: Array, output_size: int | Sequence[int | None], return_indices: Literal[False] = False) -> Array: ...
@overload
def adaptive_max_pool2d(input: Array, output_size: int | Sequence[int | None], return_indices: Literal[True]) -> tuple[Array, Array]: ...
def adaptive_max_pool2d(input: Array, output_size: int | Sequence[int | None], return_indices: bool = False) -> Array | tuple[Array, Array]:
    """2-d adaptive max pooling, ``torch.nn.functional.adaptive_max_pool2d``.

    The bin of output ``i`` along a dim is ``[floor(i*in/out), ceil((i+1)*in/out))``, as
    torch: bins overlap where ``out`` does not divide ``in``. The winner rule, indices and
    gradient are those of :func:`max_pool2d`; integer inputs keep their dtype (torch accepts
    floats only).

    Args:
      input: ``(N, C, H, W)`` or unbatched ``(C, H, W)``.
      output_size: an int or 2 entries, each an int >= 1 or ``None`` (keep that dim).
      return_indices: also return flat positions in each channel's plane (int64 with
        ``jax_enable_x64``, int32 otherwise).

    Returns:
      ``(N, C, *output_size)``, and the indices if ``return_indices``.

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxconv
      >>> jaxconv.adaptive_max_pool2d(jnp.arange(16.).reshape(1, 1, 4, 4), (1, 2))
      Array([[[[13., 15.]]]], dtype=float32)
    """
    return _adaptive_max("adaptive_max_pool2d", 2, input, output_size, return_indices)


@overload
def adaptive_max_pool1d(input: Array, output_size: int | Sequence[int | None], return_indices: Literal[False] = False) -> Array: ...
@overload
def adaptive_max_pool1d(input: Array, output_size: int | Sequence[int | None], return_indices: Literal[True]) -> tuple[Array, Array]: ...
def adaptive_max_pool1d(input: Array, output_size: int | Sequence[int | None], return_indices: bool = False) -> Array | tuple[Array, Array]:
    """1-d adaptive max pooling: :func:`adaptive_max_pool2d`'s rules over ``(N, C, L)`` or ``(C, L)``.

    >>> import jax.numpy as jnp
    >>> import jaxconv
    >>> jaxconv.adaptive_max_pool1d(jnp.array([[[1., 2., 3., 4., 5.]]]), 3)
    Array([[[2., 4., 5.]]], dtype=float32)
    """
    return _adaptive_max("adaptive_max_pool1d", 1, input, output_size, return_indices)


@overload
def adaptive_max_pool3d(input: Array, output_size: int | Sequence[int | None], return_indices: Literal[False] = False) -> Array: ...
@overload
def adaptive_max_pool3d(input: Array, output_size: int | Sequence[int | None], return_indices: Literal[True]) -> tuple[Array, Array]: ...
def adaptive_max_pool3d(input: Array, output_size: int | Sequence[int | None], return_indices: bool = False) -> Array | tuple[Array, Array]:
    """3-d adaptive max pooling: :func:`adaptive_max_pool2d`'s rules over ``(N, C, D, H, W)``.

    >>> import jax.numpy as jnp
    >>> import jaxconv
    >>> jaxconv.adaptive_max_pool3d(jnp.arange(8.).reshape(1, 1, 2, 2, 2), 1)
    Array([[[[[7.]]]]], dtype=float32)
    """
    return _adaptive_max("adaptive_max_pool3d", 3, input, output_size, return_indices)
