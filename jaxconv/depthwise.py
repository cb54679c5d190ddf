"""Depthwise convolution (``groups == in_channels``, any channel multiplier) as a tap fold; grouped convs' forward too.

XLA:CPU (jax 0.10) runs a grouped convolution with one channel per group as a slow generic
loop: a 3x3 depthwise conv on (8, 96, 64, 64) takes ~25x longer than torch, and its
gradients are slower still. A depthwise conv is elementwise per tap instead: one strided
slice of the zero-padded input per kernel tap (:func:`jaxconv.taps.conv_tap`, the engine
the pools and the im2col GEMM read their taps with) times that tap's per-channel weight,
summed in tap order; XLA fuses the chain into one loop.

Plain autodiff of that fold is slow (the input gradient becomes a sum of pads, the weight
gradient one full pass over the input per tap), so the fold carries a custom JVP whose
tangent terms are written so that *their* transposes are the fast formulations:

* input gradient (:func:`_input_grad`): a gather-form fold of the padded cotangent with the
  flipped kernel, one phase grid per stride phase (no scatter, no interior padding), the
  phases interleaved by a reshape, as the max-pool VJP places its cotangents;
* weight gradient (:func:`_tap_sums`): per tap, the sum of cotangent x input tap, all taps in
  one variadic reduction (one pass over the input and the cotangent, where a ``reduce_sum``
  per tap is one pass per tap).

A grouped conv with narrow groups (``1 < groups < in_channels``, RegNet's 8 channels per group)
runs its forward as a fold too (:func:`grouped_fold`: taps x group-width terms); its gradients are
the grouped GEMM's (jaxconv/convolution.py), so it needs no rules of its own.

For large kernels (7x7: ConvNeXt) the forward fold's output is materialised on CPU
(:func:`_materialized`, :func:`jaxconv.policy.cpu_materialize`): XLA:CPU would otherwise fuse the
whole fold into every elementwise consumer of its output and recompute all 49 taps once per
consumer (ConvNeXt's LayerNorm reads it four times). The input gradient runs as one fusion
(measured faster in the train step).

The tangent of ``x`` is ``linear_transpose(_input_grad)``, and of ``w`` a primitive whose
transpose is a primitive computing :func:`_tap_sums` (JAX cannot transpose a variadic
reduction), so reverse mode runs exactly those formulations, and forward mode and higher
orders still work. Half types accumulate in float32 and return the
input dtype, as XLA's convolution does. ``tests/test_depthwise.py`` pins values and
gradients against torch and XLA's convolution (``conv_algorithm("direct")``).

>>> import jax.numpy as jnp, jaxconv
>>> from jaxconv import policy
>>> x, w = jnp.ones((1, 4, 6, 6)), jnp.ones((8, 1, 3, 3))  # multiplier 2
>>> with policy.conv_algorithm("taps"):
...     y = jaxconv.conv2d(x, w, padding=1, groups=4)
>>> y.shape, float(y[0, 0, 0, 0]), float(y[0, 0, 2, 2])
((1, 8, 6, 6), 4.0, 9.0)
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.core import ShapedArray
from jax.custom_derivatives import SymbolicZero
from jax.extend.core import Primitive
from jax.interpreters import ad, batching, mlir

from jaxconv.fusion import cpu_materialize
from jaxconv.shapes import ConvSpec
from jaxconv.taps import conv_tap

__all__ = ["depthwise_taps", "grouped_fold", "input_term", "supports", "weight_term"]

# The fold's output is materialised (_materialized) for kernels of at least _MATERIALIZE_MIN_TAPS taps
# (a grouped fold: taps x group width terms). Measured on the ported networks (batch 8, 128x128, ms),
# first with a loop over images against the plain fusion: ConvNeXt-T (7x7, then permute + LayerNorm)
# eval 161 vs 273; MobileNetV2 (3x3, BatchNorm) eval 60 vs 34; EfficientNet-B0 (3x3 and 5x5) eval 60
# vs 36 with the loop from 5x5 up. Then (2-core Xeon, 2026-12-07, the programs timed alternately, 12-20
# rounds) the depthwise fold behind cpu_materialize against the loop: ConvNeXt-T eval 120 vs 147 ms,
# train step 601 vs 592 (a tie); at 9 taps and up MobileNetV2's eval 20.1 vs 17.3 unmaterialised, at 25
# EfficientNet-B0's 30.4 vs 30.3. RegNetY-400MF's grouped fold (3x3 x 8 channels per group) keeps the
# loop: its train step 183 vs 204 ms through cpu_materialize (that whole-batch fusion took 43 ms of the
# step, the per-image loop 12), eval a tie (45.6 / 45.8).
_MATERIALIZE_MIN_TAPS = 49


def supports(spec: ConvSpec) -> bool:
    """Whether the tap fold computes ``spec``: one input channel per group (any multiplier)."""
    return spec.groups == spec.in_channels


def _acc_dtype(dtype: Any) -> Any:
    # float16/bfloat16 accumulate in float32 (XLA's convolution does; torch CPU too).
    return jnp.float32 if jnp.dtype(dtype).itemsize < 4 and jnp.issubdtype(dtype, jnp.floating) else dtype


def _axes(spec: ConvSpec, ndim: int) -> tuple[list[int], int]:
    """The spatial axes and the channel axis of a batched array in ``spec``'s layout."""
    if spec.channels_last:
        return list(range(1, spec.n + 1)), ndim - 1
    return list(range(2, spec.n + 2)), 1


def _zero_pad(x: jax.Array, spec: ConvSpec, pads: Any) -> jax.Array:
    if not any(lo or hi for lo, hi in pads):
        return x
    cfg = [(0, 0, 0)] * x.ndim
    for ax, (lo, hi) in zip(_axes(spec, x.ndim)[0], pads):
        cfg[ax] = (lo, hi, 0)
    return lax.pad(x, jnp.zeros((), x.dtype), cfg)


def _per_channel(v: jax.Array, spec: ConvSpec, ndim: int) -> jax.Array:
    """A ``(C,)`` weight row broadcastable against a batched array (channel axis 1 or last)."""
    return v if spec.channels_last else v.reshape((1, -1) + (1,) * (ndim - 2))


def _offsets(spec: ConvSpec) -> list[tuple[int, ...]]:
    """Every kernel tap in row-major (weight) order."""
    return list(itertools.product(*(range(k) for k in spec.kernel)))


def _fold(x: jax.Array, wk: jax.Array, spec: ConvSpec) -> jax.Array:
    """The forward pass: ``sum_t tap_t(pad(x)) * wk[t]`` in tap order; ``wk`` is ``(taps, C)``."""
    acc_dt = _acc_dtype(x.dtype)
    xp = _zero_pad(x, spec, spec.lax_pads).astype(acc_dt)
    axes, wk = _axes(spec, x.ndim)[0], wk.astype(acc_dt)

    def fold(xp: jax.Array) -> jax.Array:
        acc = None
        for t, offs in enumerate(_offsets(spec)):
            start = [a * d for a, d in zip(offs, spec.dilation)]
            v = conv_tap(xp, axes, start, spec.stride, spec.out_spatial) * _per_channel(wk[t], spec, x.ndim)
            acc = v if acc is None else acc + v
        return acc  # type: ignore[return-value]

    return _materialized(fold, xp, math.prod(spec.kernel)).astype(x.dtype)


def _materialized(f: Any, xp: jax.Array, taps: int, by_image: bool = False) -> jax.Array:
    """``f(xp)`` for a batch-wise ``f``, with ``taps >= _MATERIALIZE_MIN_TAPS`` computed into a buffer of
    its own: XLA:CPU would otherwise fuse the whole fold into each elementwise consumer and recompute
    every tap there (ConvNeXt's LayerNorm after its 7x7 depthwise conv: 4 copies of the 49-tap fold).
    Behind :func:`jaxconv.policy.cpu_materialize` (the whole batch in one fusion, on every core), or
    with ``by_image`` as a loop over images (a loop's output is never fused into its consumers; its
    body runs on one core)."""
    if taps < _MATERIALIZE_MIN_TAPS:
        return f(xp)
    if by_image and xp.shape[0] > 1:
        return lax.map(f, xp[:, None])[:, 0]
    return cpu_materialize(f(xp))


def _input_grad(ct: jax.Array, wk: jax.Array, spec: ConvSpec, x_shape: tuple[int, ...]) -> jax.Array:
    """The input gradient of :func:`_fold`, gathered (no scatter, no interior padding).

    Padded input position ``p = o * s + a * d`` splits by stride phase ``r = (a * d) % s`` into
    ``q = o + (a * d) // s``: each phase grid is a fold of stride-1 slices of the cotangent
    (padded by the largest shift), and the phases interleave back by a reshape; the lax
    padding is cropped at the end.
    """
    acc_dt = _acc_dtype(ct.dtype)
    axes = _axes(spec, ct.ndim)[0]
    padded = [x_shape[ax] + lo + hi for ax, (lo, hi) in zip(axes, spec.lax_pads)]
    qs = [-(-p // s) for p, s in zip(padded, spec.stride)]
    shifts = [((k - 1) * d) // s for k, d, s in zip(spec.kernel, spec.dilation, spec.stride)]
    cfg = [(0, 0, 0)] * ct.ndim
    for ax, lmax, q, o in zip(axes, shifts, qs, spec.out_spatial):
        cfg[ax] = (lmax, q - o, 0)
    ctp = lax.pad(ct.astype(acc_dt), jnp.zeros((), acc_dt), cfg)
    wk = wk.astype(acc_dt)

    def grid(ctp: jax.Array) -> jax.Array:
        phases: dict[tuple[int, ...], jax.Array] = {}
        for t, offs in enumerate(_offsets(spec)):
            r = tuple((a * d) % s for a, d, s in zip(offs, spec.dilation, spec.stride))
            start = [lmax - (a * d) // s for a, d, s, lmax in zip(offs, spec.dilation, spec.stride, shifts)]
            v = conv_tap(ctp, axes, start, [1] * spec.n, qs) * _per_channel(wk[t], spec, ct.ndim)
            phases[r] = phases[r] + v if r in phases else v
        if all(s == 1 for s in spec.stride):
            return phases[(0,) * spec.n]
        grid_shape = next(iter(phases.values())).shape
        zeros = jnp.zeros(grid_shape, acc_dt)
        grid = jnp.stack([phases.get(r, zeros) for r in itertools.product(*(range(s) for s in spec.stride))])
        grid = grid.reshape((*spec.stride, *grid_shape))
        perm, merged = [], []
        for ax in range(ct.ndim):  # each spatial dim q becomes (q, phase), merged into q * s
            if ax in axes:
                d = axes.index(ax)
                perm += [spec.n + ax, d]
                merged.append(qs[d] * spec.stride[d])
            else:
                perm.append(spec.n + ax)
                merged.append(grid_shape[ax])
        return grid.transpose(perm).reshape(merged)

    # Not materialised like the forward (_materialized): the input gradient's consumers (a batch norm's or
    # LayerNorm's backward, a residual add) fuse without recomputing it much, and one fusion over the
    # whole batch runs on every core: ported convnext_tiny's train step 895 -> 778 ms (1.20x,
    # alternating A/B, 2026-12-03) against the loop over images.
    g = grid(ctp)
    start, limit = [0] * ct.ndim, list(g.shape)
    for ax, (lo, _) in zip(axes, spec.lax_pads):
        start[ax], limit[ax] = lo, lo + x_shape[ax]
    return lax.slice(g, start, limit).astype(ct.dtype)


def _reduced_dims(spec: ConvSpec, ndim: int, batch: int) -> tuple[int, ...]:
    """The dims the weight gradient's one variadic reduction sums over (the rest after it, per tap).

    Measured (batch 8, 2 threads, ms, dims -> time, 2026-12-03): channels-last 3x3 96@64
    (0,) 4.1 / (0, 1) 6.4 / all 9.8; 5x5 240@28 16.7 / 6.5 / 7.0; 7x7 96@32 23.2 / 7.9 / 6.9.
    Again on EfficientNet-B0's and MobileNetV2's shapes (2026-12-06, (0,) / (0, 1)): 3x3 at batch 8
    32@64 1.6 / 4.4, 96@64 s2 1.5 / 2.5, 144@32 2.6 / 3.5, 480@8 0.4 / 0.7, and the batch dim alone
    wins every 3x3 shape at batch 2, 4 and 16 too; 5x5 at batch 8 240@16 8.5 / 3.5, 672@8 5.6 / 2.7.
    So channels-last reduces the batch dim alone for kernels of at most 9 taps, or while the kept
    (spatial, C) outputs of all taps are no larger than the input (``taps <= batch``); else the batch
    and the first spatial dim (ported mobilenet_v2's train step 265 -> 246 ms, efficientnet_b0's 325
    -> 316, alternating A/B, 12 rounds). NCHW: the spatial dims (3x3 96@64 2.6, 5x5 240@28 3.9,
    7x7 96@32 6.4; the batch dim alone 3.0 / 7.2 / 16.3)."""
    if spec.channels_last:
        return (0,) if math.prod(spec.kernel) <= max(batch, 9) or ndim < 3 else (0, 1)
    return tuple(range(2, ndim))


def _tap_sums(x: jax.Array, ct: jax.Array, spec: ConvSpec) -> jax.Array:
    """The weight gradient of :func:`_fold` as ``(taps, C)``: per tap, ``sum(ct * tap_t(pad(x)))`` over
    batch and space, every tap's sum in one variadic reduction (one pass over ``x`` and ``ct``).

    One ``reduce_sum`` per tap reads both arrays once per tap, out of cache: 3x3, 96 channels @64,
    batch 8, channels-last: 9 sums 57 ms, chunked by images through a ``lax.map`` 24-30 ms, one
    variadic reduction 4 ms (torch 2.6)."""
    acc_dt = _acc_dtype(x.dtype)
    xp = _zero_pad(x, spec, spec.lax_pads).astype(acc_dt)
    ctc = ct.astype(acc_dt)
    axes = _axes(spec, x.ndim)[0]
    prods = [conv_tap(xp, axes, [a * d for a, d in zip(offs, spec.dilation)], spec.stride, spec.out_spatial) * ctc
             for offs in _offsets(spec)]
    dims = _reduced_dims(spec, x.ndim, x.shape[0])
    zero = jnp.zeros((), acc_dt)
    sums = lax.reduce(prods, [zero] * len(prods), lambda a, b: [u + v for u, v in zip(a, b)], dims)
    c = x.shape[-1 if spec.channels_last else 1]
    # What is left of each sum: (*kept spatial, C) channels-last, (N, C) for NCHW.
    return jnp.stack([jnp.sum(v.reshape(-1, c), axis=0) for v in sums]).astype(x.dtype)


# --- the two bilinear primitives of the weight's tangent --------------------------------------
# The weight's tangent term conv(x, wd) must transpose into _tap_sums, whose variadic reduction JAX
# cannot transpose (lax.reduce with several operands has no transpose rule) and whose plain
# formulation (one reduce_sum per tap) is 10x slower. So the term and its transpose are two
# primitives, each the other's transpose in its second argument, lowered to the formulations above:
#   weight_term(x, w) = _fold(x, w)      (the conv, linear in w: its w-transpose is tap_sums)
#   tap_sums(x, ct)   = _tap_sums(x, ct) (the weight gradient, linear in ct: its ct-transpose is weight_term)
# Both are bilinear (their JVPs are themselves), and in x each transposes to _input_grad, so every
# order of forward and reverse mode works. vmap merges its batch dim into the channels (each
# channel is its own depthwise conv). tests/test_depthwise.py checks values and gradients of every
# order against torch and XLA's convolution.

_weight_term_p = Primitive("jaxconv_depthwise_weight_term")
_tap_sums_p = Primitive("jaxconv_depthwise_tap_sums")


def _weight_term_abstract(x: Any, w: Any, *, spec: ConvSpec) -> Any:
    return ShapedArray(_out_shape(x.shape, spec), x.dtype)


def _tap_sums_abstract(x: Any, ct: Any, *, spec: ConvSpec) -> Any:
    return ShapedArray((math.prod(spec.kernel), x.shape[-1 if spec.channels_last else 1]), x.dtype)


def _weight_term_impl(x: jax.Array, w: jax.Array, *, spec: ConvSpec) -> jax.Array:
    return _fold(x, w, spec)


def _tap_sums_impl(x: jax.Array, ct: jax.Array, *, spec: ConvSpec) -> jax.Array:
    return _tap_sums(x, ct, spec)


def _term_x_rule(ct: Any, x: Any, w: Any, *, spec: ConvSpec) -> jax.Array:
    return _input_grad(ct, w, spec, x.aval.shape)


def _sums_x_rule(cot: Any, x: Any, ct: Any, *, spec: ConvSpec) -> jax.Array:
    return _input_grad(ct, cot, spec, x.aval.shape)


def _channels_merged(v: jax.Array, spec: ConvSpec) -> jax.Array:
    """A ``(B, *activation)`` array as one activation with ``B * C`` channels."""
    if spec.channels_last:
        v = jnp.moveaxis(v, 0, -2)
        return v.reshape(*v.shape[:-2], -1)
    v = jnp.swapaxes(v, 0, 1)
    return v.reshape(v.shape[0], -1, *v.shape[3:])


def _channels_split(v: jax.Array, spec: ConvSpec, b: int) -> jax.Array:
    """The inverse of :func:`_channels_merged`: ``(B, *activation)``."""
    if spec.channels_last:
        return jnp.moveaxis(v.reshape(*v.shape[:-1], b, -1), -2, 0)
    return jnp.swapaxes(v.reshape(v.shape[0], b, -1, *v.shape[2:]), 0, 1)


def _batched(prim: Primitive, second_is_weight: bool) -> Any:
    def rule(args: Any, dims: Any, *, spec: ConvSpec) -> tuple[jax.Array, int]:
        b = next(a.shape[d] for a, d in zip(args, dims) if d is not None)  # an unmapped argument has dim None
        front = [jnp.broadcast_to(a, (b, *a.shape)) if d is None else jnp.moveaxis(a, d, 0)
                 for a, d in zip(args, dims)]
        c = front[0].shape[-1 if spec.channels_last else 2]
        merged = dataclasses.replace(spec, in_channels=b * c, out_channels=b * c, groups=b * c)
        x = _channels_merged(front[0], spec)
        second = (jnp.moveaxis(front[1], 0, 1).reshape(front[1].shape[1], -1) if second_is_weight
                  else _channels_merged(front[1], spec))
        out = prim.bind(x, second, spec=merged)
        if prim is _tap_sums_p:  # (taps, B * C) -> (B, taps, C)
            return jnp.moveaxis(out.reshape(out.shape[0], b, -1), 1, 0), 0
        return _channels_split(out, spec, b), 0
    return rule


for _p, _abstract, _impl in ((_weight_term_p, _weight_term_abstract, _weight_term_impl),
                             (_tap_sums_p, _tap_sums_abstract, _tap_sums_impl)):
    _p.def_impl(_impl)
    _p.def_abstract_eval(_abstract)
    mlir.register_lowering(_p, mlir.lower_fun(_impl, multiple_results=False))
ad.defbilinear(_weight_term_p, _term_x_rule, lambda ct, x, w, *, spec: _tap_sums_p.bind(x, ct, spec=spec))
ad.defbilinear(_tap_sums_p, _sums_x_rule, lambda cot, x, ct, *, spec: _weight_term_p.bind(x, cot, spec=spec))
batching.primitive_batchers[_weight_term_p] = _batched(_weight_term_p, True)
batching.primitive_batchers[_tap_sums_p] = _batched(_tap_sums_p, False)


def _out_shape(x_shape: tuple[int, ...], spec: ConvSpec) -> tuple[int, ...]:
    axes = _axes(spec, len(x_shape))[0]
    shape = list(x_shape)
    for ax, o in zip(axes, spec.out_spatial):
        shape[ax] = o
    return tuple(shape)


@functools.partial(jax.custom_jvp, nondiff_argnums=(2,))
def _depthwise(x: jax.Array, wk: jax.Array, spec: ConvSpec) -> jax.Array:
    return _fold(x, wk, spec)


@functools.partial(_depthwise.defjvp, symbolic_zeros=True)
def _depthwise_jvp(spec: ConvSpec, primals: tuple[Any, Any], tangents: tuple[Any, Any]) -> tuple[Any, Any]:
    # The conv is bilinear: tangent = conv(xd, w) + conv(x, wd). The first term is the linear
    # transpose of _input_grad, the second the weight-term primitive (whose transpose is the
    # tap-sums primitive), so reverse mode (which transposes the tangent) runs exactly _input_grad
    # and _tap_sums; forward mode evaluates the transposed forms (same values,
    # tests/test_depthwise.py::test_jvp_and_second_order).
    x, wk = primals
    xd, wd = tangents
    y = _depthwise(x, wk, spec)
    ct_aval = jax.ShapeDtypeStruct(_out_shape(x.shape, spec), x.dtype)
    terms = []
    if not isinstance(xd, SymbolicZero):
        terms.append(jax.linear_transpose(lambda ct: _input_grad(ct, wk, spec, x.shape), ct_aval)(xd)[0])
    if not isinstance(wd, SymbolicZero):
        terms.append(_weight_term_p.bind(x, wd, spec=spec))
    yd = functools.reduce(jnp.add, terms) if terms else jnp.zeros_like(y)
    return y, yd


def depthwise_taps(x: jax.Array, w: jax.Array, spec: ConvSpec, precision: Any = None) -> jax.Array:
    """The ``"taps"`` conv formulation: a batched, mode-padded ``x`` (``spec.lax_pads`` still to
    apply) with a depthwise weight, ``(C * m, 1, *kernel)`` or HWIO ``(*kernel, 1, C * m)`` (``spec.weight_hwio``).

    A channel multiplier ``m > 1`` (torch: output channel ``c * m + j`` reads input channel ``c``)
    repeats each input channel ``m`` times first, so the fold itself is always one weight per
    channel. ``precision`` is unused: every product is one elementwise multiply in the input
    (float32 for half types) precision.

    >>> import jax.numpy as jnp
    >>> from jaxconv.shapes import conv_spec
    >>> spec = conv_spec("conv1d", (1, 2, 5), (2, 1, 3), None, 1, 0, 1, 2, "zeros", False)
    >>> depthwise_taps(jnp.arange(10.0).reshape(1, 2, 5), jnp.ones((2, 1, 3)), spec)
    Array([[[ 3.,  6.,  9.],
            [18., 21., 24.]]], dtype=float32)
    """
    del precision
    m = spec.out_channels // spec.in_channels
    taps = math.prod(spec.kernel)
    if m > 1:
        x = jnp.repeat(x, m, axis=x.ndim - 1 if spec.channels_last else 1)
    if spec.weight_hwio:
        wk = w.reshape(taps, -1)
    elif spec.channels_last:
        # (taps, C) rows of torch's (C, 1, *kernel) weight, gathered: as a transpose, XLA:CPU fuses it
        # into the channels-last fold, which then loads each tap's weights with stride `taps`
        # (3x3, 96 channels @64, batch 8: 6.8 ms against 3.2 with HWIO weights); a gather's result is
        # materialised, contiguous (2.5 ms). tests/test_depthwise.py::test_channels_last_torch_weight_is_gathered
        rows = np.arange(w.size).reshape(-1, taps).T
        wk = jnp.take(w.reshape(-1), rows, axis=0, mode="clip")
    else:
        wk = w.reshape(-1, taps).T
    return _depthwise(x, wk, spec)


def input_term(xd: jax.Array, w: jax.Array, spec: ConvSpec, precision: Any = None) -> jax.Array:
    """``conv(xd, w)`` of a depthwise ``spec`` as the fold's own tangent: reverse mode, transposing it, runs
    the gather-form input gradient, as :func:`depthwise_taps` differentiated does. For a plan whose input
    gradient is ``"taps"`` and whose forward is another algorithm (``jaxconv.convolution``): applied to a
    tangent, the fold itself would be transposed by plain autodiff, the slow form above (ported LeNet's
    train step, batch 64, with the tap fold for its 1->6 conv's gradients only: 2.2x slower)."""
    return jax.jvp(lambda x: depthwise_taps(x, w, spec, precision), (jnp.zeros_like(xd),), (xd,))[1]


def weight_term(x: jax.Array, wd: jax.Array, spec: ConvSpec, precision: Any = None) -> jax.Array:
    """``conv(x, wd)`` of a depthwise ``spec`` as the fold's own tangent, whose transpose is the tap sums
    (as :func:`input_term`, for the weight gradient)."""
    return jax.jvp(lambda w: depthwise_taps(x, w, spec, precision), (jnp.zeros_like(wd),), (wd,))[1]


def grouped_fold(x: jax.Array, w: jax.Array, spec: ConvSpec, precision: Any = None) -> jax.Array:
    """A grouped conv's forward pass (``1 < groups < in_channels``) as a tap fold: a batched,
    mode-padded ``x`` (``spec.lax_pads`` still to apply), the weight ``(O, C / G, *kernel)`` or HWIO.

    Per kernel tap and per input channel ``j`` of a group, the tap's slice of channel ``g * (C/G) + j``
    of every group ``g``, broadcast over the group's ``O / G`` outputs, times their weights: ``taps *
    C/G`` elementwise terms that XLA fuses into one loop, where XLA:CPU runs a grouped convolution as a
    generic loop (RegNet's group width 8: 3x3 64@56 in 8 groups, batch 8, 68 ms, the fold 13 ms,
    torch 4.5). Its gradients are the
    plan's other parts (the grouped GEMM, :func:`jaxconv.policy.cpu_plan`); forced for every part,
    autodiff of the fold gives them (exact, slow). ``precision`` is unused: each product is one
    elementwise multiply in the input precision (float32 for half types).

    >>> import jax.numpy as jnp
    >>> from jaxconv.shapes import conv_spec
    >>> spec = conv_spec("conv1d", (1, 4, 5), (2, 2, 3), None, 1, 0, 1, 2, "zeros", False)
    >>> grouped_fold(jnp.ones((1, 4, 5)), jnp.ones((2, 2, 3)), spec)
    Array([[[6., 6., 6.],
            [6., 6., 6.]]], dtype=float32)
    """
    del precision
    g, taps = spec.groups, math.prod(spec.kernel)
    gw, kg = spec.in_channels // g, spec.out_channels // g
    acc_dt = _acc_dtype(x.dtype)
    xp = _zero_pad(x, spec, spec.lax_pads).astype(acc_dt)
    # (taps, C/G, G, O/G): the weights each (tap, j) term multiplies, per group and output.
    if spec.weight_hwio:
        wt = w.reshape(taps, gw, g, kg)
    else:
        wt = jnp.transpose(w.reshape(g, kg, gw, taps), (3, 2, 0, 1))
    axes, cl = _axes(spec, x.ndim)[0], spec.channels_last
    # Each tap's slice split as (B, *out, G, 1, C/G) channels-last or (B, G, 1, C/G, *out), so that
    # channel j of every group broadcasts over that group's (G, O/G) weights.
    wt = wt.astype(acc_dt).reshape(taps, gw, g, kg, *(() if cl else (1,) * spec.n))
    split, j_axis = (g, 1, gw), (-1 if cl else 3)

    def fold(xp: jax.Array) -> jax.Array:
        b = xp.shape[0]
        acc = None
        for t, offs in enumerate(_offsets(spec)):
            v = conv_tap(xp, axes, [a * d for a, d in zip(offs, spec.dilation)], spec.stride, spec.out_spatial)
            v = v.reshape(b, *spec.out_spatial, *split) if cl else v.reshape(b, *split, *spec.out_spatial)
            for j in range(gw):
                term = lax.index_in_dim(v, j, j_axis, keepdims=False) * wt[t, j]
                acc = term if acc is None else acc + term
        assert acc is not None
        return acc.reshape(b, *spec.out_spatial, g * kg) if cl else acc.reshape(b, g * kg, *spec.out_spatial)

    # The fold's output is materialised by a loop over images (:func:`_materialized`): XLA would
    # otherwise fuse all its terms into each consumer and recompute them there (RegNet's
    # squeeze-excitation reads it twice, a train-mode batch norm three times): ported
    # regnet_y_400mf's eval forward 67 -> 120 ms unmaterialised, against 73 with the loop.
    return _materialized(fold, xp, taps * gw, by_image=True).astype(x.dtype)
