"""Brute-force NumPy oracle for jaxconv's CNN operations.

This module is the *independent test oracle* of the project: every function is
written from PyTorch's documented semantics (torch.nn.functional) and, where
the documentation is vague, from PyTorch's ATen CPU kernels (Pool.h,
MaxPoolKernel.cpp, AvgPoolKernel.cpp, AdaptivePooling.h, UpSample.h,
UpSampleKernel.cpp) and from torch/nn/functional.py.  It deliberately shares
no code and no assumptions with the implementation under test: it imports
neither jax nor jaxconv, only numpy and the standard library, and it is
written as plain Python loops over output positions (clarity over speed; the
inputs in tests are small).  tests/test_reference.py checks it against torch
CPU.

Conventions
-----------
* Every array is batched: ``x`` has shape ``(N, C, *spatial)`` with 1 to 3
  spatial dims (unfold/fold/pixel_(un)shuffle: 2 spatial dims).
* Arithmetic is done in float64 and results are float64 ("unless noted"):
  max pooling (``max_pool_ref``, ``adaptive_max_pool_ref`` and lp_pool with
  norm_type=+-inf, which is a max pool) keeps integer input dtypes; indices are
  always int64.
* Per-dimension arguments (kernel, stride, dilation, ...) may be an int (used
  for every spatial dim) or a sequence with one entry per spatial dim, in
  ARRAY order (first spatial dim first).
* Explicit padding for ``pad_ref`` and ``conv_ref`` is a sequence of
  ``(lo, hi)`` pairs per spatial dim in ARRAY order.  Note this is the
  opposite of torch ``F.pad``'s flat tuple, which starts with the LAST dim.
  ``conv_ref`` also accepts an int or a per-dim int (symmetric).
* Torch-style functions (pooling, conv_transpose, unfold) take symmetric int
  padding per dim, exactly like torch.
* Max pooling: padding never wins (it is not -inf padding: padded positions
  are simply skipped).  Indices are flat positions in each channel's
  *unpadded* spatial plane.  The window is scanned row-major over the kernel
  offsets; a value replaces the running max iff ``val > max or isnan(val)``.
  Hence the FIRST maximum wins on ties, but the LAST NaN in scan order wins
  when there are NaNs (torch CPU kernel rule, verified against torch).
* Window counts follow torch's pooling_output_shape (floor or ceil division;
  in ceil mode the last window must start inside the input or the left
  padding).
* Interpolation follows UpSample.h / UpSampleKernel.cpp, including the
  precision in which torch computes source coordinates (float32 for float32
  inputs, with the FMA contraction of torch's x86 kernels), the kernel-path
  differences of 2-d nearest, and the size shortcuts (see
  ``interpolate_ref``).

Nothing here validates torch's argument restrictions (e.g. pool padding at
most half the kernel, reflect padding smaller than the input); the functions
compute the natural extension of the definition instead.
"""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import numpy as np

__all__ = [
    "adaptive_avg_pool_ref",
    "adaptive_max_pool_ref",
    "avg_pool_ref",
    "conv_ref",
    "conv_transpose_ref",
    "fold_ref",
    "interpolate_ref",
    "lp_pool_ref",
    "max_pool_ref",
    "max_unpool_ref",
    "pad_ref",
    "pixel_shuffle_ref",
    "pixel_unshuffle_ref",
    "pool_output_size_ref",
    "unfold_ref",
]


# ---------------------------------------------------------------------------
# small helpers
# ---------------------------------------------------------------------------


def _nspatial(x):
    nd = x.ndim - 2
    if nd < 1:
        raise ValueError(f"expected a batched (N, C, *spatial) array, got shape {x.shape}")
    return nd


def _tup(v, nd, name="argument"):
    """int -> (v,)*nd; sequence -> tuple of ints of length nd."""
    if isinstance(v, (int, np.integer)):
        return (int(v),) * nd
    t = tuple(int(a) for a in v)
    if len(t) == 1 and nd > 1:
        t = t * nd
    if len(t) != nd:
        raise ValueError(f"{name} must have {nd} entries, got {v!r}")
    return t


def _pairs(pads, nd):
    """Normalise explicit padding to ((lo, hi),) * nd in array order.

    Accepts an int (symmetric everywhere), a sequence of ints (symmetric per
    dim) or a sequence of (lo, hi) pairs.
    """
    if isinstance(pads, (int, np.integer)):
        return ((int(pads), int(pads)),) * nd
    pads = list(pads)
    if len(pads) != nd:
        raise ValueError(f"padding must have {nd} entries, got {pads!r}")
    out = []
    for p in pads:
        if isinstance(p, (int, np.integer)):
            out.append((int(p), int(p)))
        else:
            lo, hi = p
            out.append((int(lo), int(hi)))
    return tuple(out)


def _stride(stride, ks, nd):
    """Pooling stride: None (or an empty sequence, as in torch) means kernel."""
    if stride is None or (isinstance(stride, (list, tuple)) and len(stride) == 0):
        return ks
    return _tup(stride, nd, "stride")


def _is_int_dtype(a):
    return np.issubdtype(a.dtype, np.integer)


def _f64(x):
    return np.asarray(x).astype(np.float64)


def _positions(shape):
    """All multi-indices of an array of ``shape``, row-major."""
    return itertools.product(*[range(s) for s in shape])


def _ravel(idx, shape):
    flat = 0
    for i, s in zip(idx, shape):
        flat = flat * s + i
    return flat


# ---------------------------------------------------------------------------
# 1. padding
# ---------------------------------------------------------------------------


def _pad_source_index(o, lo, n, mode):
    """Source index in [0, n) for output position o, or None (constant)."""
    j = o - lo
    if mode == "constant":
        return j if 0 <= j < n else None
    if mode == "replicate":
        return min(max(j, 0), n - 1)
    if mode == "circular":
        return j % n
    if mode == "reflect":
        # reflection about the edge elements, which are not repeated:
        # ... 2 1 | 0 1 2 ... n-1 | n-2 n-3 ...  (period 2(n-1)).
        # torch requires pad < n (a single reflection); this is the natural
        # periodic extension beyond that.
        if n == 1:
            return 0
        period = 2 * (n - 1)
        j = j % period
        return period - j if j >= n else j
    raise ValueError(f"unknown padding mode {mode!r}")


def pad_ref(x, pads, mode="constant", value=0.0):
    """Pad the spatial dims of x.

    pads: sequence of (lo, hi) per spatial dim in ARRAY order (first spatial
    dim first; the reverse of torch F.pad's flat tuple).  Negative pads crop.
    mode: "constant" (value), "reflect" (edge not repeated), "replicate"
    (edge repeated), "circular" (wrap around).
    Implemented by an explicit source-index map per output position.
    """
    x = _f64(x)
    nd = _nspatial(x)
    pp = _pairs(pads, nd)
    in_sp = x.shape[2:]
    out_sp = tuple(n + lo + hi for n, (lo, hi) in zip(in_sp, pp))
    if any(s < 0 for s in out_sp):
        raise ValueError(f"padding {pads!r} gives a negative size for {in_sp}")
    out = np.empty(x.shape[:2] + out_sp, dtype=np.float64)
    for o in _positions(out_sp):
        src = [_pad_source_index(oi, lo, n, mode) for oi, (lo, _), n in zip(o, pp, in_sp)]
        if any(s is None for s in src):
            out[(slice(None), slice(None), *o)] = value
        else:
            out[(slice(None), slice(None), *o)] = x[(slice(None), slice(None), *tuple(src))]
    return out


# ---------------------------------------------------------------------------
# 2. convolution (cross-correlation, like torch F.conv1d/2d/3d)
# ---------------------------------------------------------------------------


def conv_ref(x, w, b=None, stride=1, pads=0, dilation=1, groups=1):
    """out[n, o, p] = b[o] + sum_{c in group(o), k} w[o, c, k] * xpad[n, c, p*s + k*d]

    x: (N, C, *S); w: (O, C/groups, *K); zero padding pads = (lo, hi) per dim
    (or an int / per-dim int for symmetric padding).
    Output size per dim: floor((S + lo + hi - d*(K-1) - 1) / s) + 1.
    """
    x = _f64(x)
    w = _f64(w)
    nd = _nspatial(x)
    N, C = x.shape[:2]
    Cout, Cg = w.shape[:2]
    ks = w.shape[2:]
    if len(ks) != nd:
        raise ValueError("weight and input have different numbers of spatial dims")
    if C % groups or Cout % groups or C // groups != Cg:
        raise ValueError(f"bad groups={groups} for C={C}, Cout={Cout}, weight C/groups={Cg}")
    st = _tup(stride, nd, "stride")
    dl = _tup(dilation, nd, "dilation")
    pp = _pairs(pads, nd)
    in_sp = x.shape[2:]
    out_sp = tuple(max(0, (n + lo + hi - d * (k - 1) - 1) // s + 1) for n, (lo, hi), d, k, s in zip(in_sp, pp, dl, ks, st))
    Og = Cout // groups
    out = np.zeros((N, Cout, *out_sp), dtype=np.float64)
    for p in _positions(out_sp):
        for koff in _positions(ks):
            src = tuple(pi * s - lo + ki * d for pi, s, (lo, _), ki, d in zip(p, st, pp, koff, dl))
            if not all(0 <= si < n for si, n in zip(src, in_sp)):
                continue  # zero padding contributes nothing
            for g in range(groups):
                xv = x[(slice(None), slice(g * Cg, (g + 1) * Cg), *src)]  # (N, Cg)
                wv = w[(slice(g * Og, (g + 1) * Og), slice(None), *koff)]  # (Og, Cg)
                out[(slice(None), slice(g * Og, (g + 1) * Og), *p)] += xv @ wv.T
    if b is not None:
        out += _f64(b).reshape((1, Cout) + (1,) * nd)
    return out


def conv_transpose_ref(x, w, b=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """torch F.conv_transpose1d/2d/3d by the scatter definition.

    x: (N, C_in, *S); w: (C_in, O/groups, *K).  Every input element
    x[n, ci, i] scatters w[ci, oc, j] * x[n, ci, i] into
    out[n, g*O/groups + oc, i*s + j*d - p] (dropped when out of range).
    Output size per dim: (S-1)*s - 2p + d*(K-1) + output_padding + 1.
    """
    x = _f64(x)
    w = _f64(w)
    nd = _nspatial(x)
    N, C = x.shape[:2]
    Cw, Og = w.shape[:2]
    ks = w.shape[2:]
    if Cw != C or C % groups:
        raise ValueError(f"bad weight shape {w.shape} for input channels {C}, groups={groups}")
    st = _tup(stride, nd, "stride")
    pd = _tup(padding, nd, "padding")
    op = _tup(output_padding, nd, "output_padding")
    dl = _tup(dilation, nd, "dilation")
    in_sp = x.shape[2:]
    out_sp = tuple((n - 1) * s - 2 * p + d * (k - 1) + o + 1 for n, s, p, d, k, o in zip(in_sp, st, pd, dl, ks, op))
    if any(s < 0 for s in out_sp):
        raise ValueError(f"negative output size {out_sp}")
    Cg = C // groups
    Cout = Og * groups
    out = np.zeros((N, Cout, *out_sp), dtype=np.float64)
    for i in _positions(in_sp):
        for koff in _positions(ks):
            dst = tuple(ii * s + ki * d - p for ii, s, ki, d, p in zip(i, st, koff, dl, pd))
            if not all(0 <= di < n for di, n in zip(dst, out_sp)):
                continue
            for g in range(groups):
                xv = x[(slice(None), slice(g * Cg, (g + 1) * Cg), *i)]  # (N, Cg)
                wv = w[(slice(g * Cg, (g + 1) * Cg), slice(None), *koff)]  # (Cg, Og)
                out[(slice(None), slice(g * Og, (g + 1) * Og), *dst)] += xv @ wv
    if b is not None:
        out += _f64(b).reshape((1, Cout) + (1,) * nd)
    return out


# ---------------------------------------------------------------------------
# 4. pooling window count
# ---------------------------------------------------------------------------


def pool_output_size_ref(in_size, k, s, pad_lo=0, pad_hi=None, dilation=1, ceil_mode=False):
    """Number of pooling windows along one dim, by enumerating window starts.

    Window i covers padded positions [i*s, i*s + d*(k-1)] (padded coordinates,
    the input occupying [pad_lo, pad_lo + in_size)).  pad_hi=None means
    pad_hi = pad_lo.
    floor mode: window i exists iff it lies entirely inside the padded input.
    ceil mode : window i exists iff the previous window does not reach the
                last padded element ((i-1)*s + ek < L, ek = d*(k-1)+1, i.e.
                ceil division), AND it starts inside the input or the left
                padding (i*s < pad_lo + in_size).
    Equals torch's pooling_output_shape_pad_lr wherever that is >= 0 (and
    wherever torch's padding restrictions hold).
    """
    if pad_hi is None:
        pad_hi = pad_lo
    if s <= 0 or k <= 0 or dilation <= 0:
        raise ValueError("kernel, stride and dilation must be positive")
    L = in_size + pad_lo + pad_hi
    ek = dilation * (k - 1) + 1
    count = 0
    i = 0
    while True:
        start = i * s
        if ceil_mode:
            ok = (start - s + ek < L) and (start < pad_lo + in_size)
        else:
            ok = start + ek <= L
        if not ok:
            break
        count += 1
        i += 1
    return count


# ---------------------------------------------------------------------------
# 5. max pooling
# ---------------------------------------------------------------------------


def _max_dtype(x):
    """Output dtype of max pooling: integer dtypes kept, floats -> float64."""
    return x.dtype if _is_int_dtype(x) else np.float64


def _lowest(dtype):
    return np.iinfo(dtype).min if np.issubdtype(dtype, np.integer) else -np.inf


def _window_max(x_nc, cells, shape, fallback_index):
    """Max over cells (row-major window scan) of one channel plane.

    Rule of torch's CPU kernels: start at (lowest, fallback_index); take a
    value iff val > max or isnan(val).  So the first maximum wins on ties and
    the LAST NaN wins when there are NaNs.
    """
    maxval = _lowest(x_nc.dtype)
    maxidx = fallback_index
    for c in cells:
        v = x_nc[c]
        if v > maxval or (not _is_int_dtype(x_nc) and np.isnan(v)):
            maxval = v
            maxidx = _ravel(c, shape)
    return maxval, maxidx


def max_pool_ref(x, kernel, stride=None, padding=0, dilation=1, ceil_mode=False):
    """torch F.max_pool{1,2,3}d(..., return_indices=True) -> (values, indices).

    stride=None means stride = kernel (torch default).  padding: symmetric int
    per dim; padded positions are skipped (they never win).  indices: int64
    flat positions in the unpadded spatial plane of each channel.  Integer
    inputs keep their dtype; float inputs give float64.
    """
    x = np.asarray(x)
    if not _is_int_dtype(x):
        x = x.astype(np.float64)
    nd = _nspatial(x)
    ks = _tup(kernel, nd, "kernel")
    st = _stride(stride, ks, nd)
    pd = _tup(padding, nd, "padding")
    dl = _tup(dilation, nd, "dilation")
    in_sp = x.shape[2:]
    out_sp = tuple(pool_output_size_ref(n, k, s, p, p, d, ceil_mode) for n, k, s, p, d in zip(in_sp, ks, st, pd, dl))
    N, C = x.shape[:2]
    vals = np.empty((N, C, *out_sp), dtype=x.dtype)
    idxs = np.empty((N, C, *out_sp), dtype=np.int64)
    for o in _positions(out_sp):
        starts = [oi * s - p for oi, s, p in zip(o, st, pd)]
        # per-dim valid positions of the window, in kernel-offset order
        axes = [[st0 + j * d for j in range(k) if 0 <= st0 + j * d < n] for st0, k, d, n in zip(starts, ks, dl, in_sp)]
        cells = list(itertools.product(*axes))
        # torch's initial index: first in-range window position per dim (the
        # start advanced by dilation until >= 0); only used if nothing wins.
        first = []
        for st0, d in zip(starts, dl):
            while st0 < 0:
                st0 += d
            first.append(st0)
        fallback = _ravel(first, in_sp)
        for n in range(N):
            for c in range(C):
                v, i = _window_max(x[n, c], cells, in_sp, fallback)
                vals[(n, c, *o)] = v
                idxs[(n, c, *o)] = i
    return vals, idxs


# ---------------------------------------------------------------------------
# 6. average pooling
# ---------------------------------------------------------------------------


def avg_pool_ref(x, kernel, stride=None, padding=0, ceil_mode=False, count_include_pad=True, divisor_override=None):
    """torch F.avg_pool{1,2,3}d.

    Per dim the window is [o*s - p, o*s - p + k).  Divisor:
      * divisor_override if given;
      * count_include_pad=True: the window size clipped to [-p, in + p), i.e.
        zero padding counts but the ceil-mode overhang past in + p does not;
      * count_include_pad=False: the number of real input elements.
    A window with no real element gives 0 (torch's kernel skips it).
    """
    x = _f64(x)
    nd = _nspatial(x)
    ks = _tup(kernel, nd, "kernel")
    st = _stride(stride, ks, nd)
    pd = _tup(padding, nd, "padding")
    in_sp = x.shape[2:]
    out_sp = tuple(pool_output_size_ref(n, k, s, p, p, 1, ceil_mode) for n, k, s, p in zip(in_sp, ks, st, pd))
    out = np.zeros(x.shape[:2] + out_sp, dtype=np.float64)
    for o in _positions(out_sp):
        start = [oi * s - p for oi, s, p in zip(o, st, pd)]
        end = [min(a + k, n + p) for a, k, n, p in zip(start, ks, in_sp, pd)]
        pool_size = math.prod(b - a for a, b in zip(start, end))
        start_c = [max(a, 0) for a in start]
        end_c = [min(b, n) for b, n in zip(end, in_sp)]
        if any(a >= b for a, b in zip(start_c, end_c)):
            continue  # empty window -> 0
        if divisor_override is not None:
            div = divisor_override
        elif count_include_pad:
            div = pool_size
        else:
            div = math.prod(b - a for a, b in zip(start_c, end_c))
        total = np.zeros(x.shape[:2], dtype=np.float64)
        for cell in itertools.product(*[range(a, b) for a, b in zip(start_c, end_c)]):
            total += x[(slice(None), slice(None), *cell)]
        out[(slice(None), slice(None), *o)] = total / div
    return out


# ---------------------------------------------------------------------------
# 7. power-average (Lp) pooling
# ---------------------------------------------------------------------------


def lp_pool_ref(x, norm_type, kernel, stride=None, ceil_mode=False):
    """torch F.lp_pool{1,2,3}d, replicating torch/nn/functional.py literally:

        norm_type == +inf: max_pool(|x|, kernel, stride, 0, 1, ceil_mode)
        norm_type == -inf: -max_pool(-|x|, ...)   (i.e. the min of |x|)
        otherwise:
            out = avg_pool(x ** p, kernel, stride, padding=0, ceil_mode)
            return (sign(out) * relu(|out|) * prod(kernel)) ** (1/p)

    Torch corner behaviours kept on purpose:
      * avg_pool runs with count_include_pad=True and padding 0, so a
        ceil-mode overhang window divides by its number of REAL elements and
        is then multiplied by the FULL kernel area: the result is
        (sum_real |x|^p * area / n_real) ** (1/p), not the plain p-norm of the
        real elements.
      * x ** p is not |x| ** p: negative inputs with odd/fractional p give
        negative sums or NaN, and a negative sum ** (1/p) is NaN.
      * the +-inf results are max pools and keep integer dtypes.
    """
    x = np.asarray(x)
    nd = _nspatial(x)
    ks = _tup(kernel, nd, "kernel")
    if norm_type == math.inf:
        return max_pool_ref(np.abs(x), ks, stride, 0, 1, ceil_mode)[0]
    if norm_type == -math.inf:
        return -max_pool_ref(-np.abs(x), ks, stride, 0, 1, ceil_mode)[0]
    x = _f64(x)
    p = float(norm_type)
    with np.errstate(all="ignore"):
        xp = np.power(x, p)
        out = avg_pool_ref(xp, ks, stride, 0, ceil_mode, True, None)
        # torch.sign(nan) == 0 and relu(nan) == nan: a NaN stays NaN either way
        sgn = np.where(np.isnan(out), 0.0, np.sign(out))
        out = sgn * np.maximum(np.abs(out), 0.0) * math.prod(ks)
        return np.power(out, 1.0 / p)


# ---------------------------------------------------------------------------
# 8. adaptive pooling
# ---------------------------------------------------------------------------


def _adaptive_out(x, output_size):
    nd = _nspatial(x)
    if isinstance(output_size, (int, np.integer)):
        osz = (int(output_size),) * nd
    else:
        osz = tuple(output_size)
        if len(osz) != nd:
            raise ValueError(f"output_size must have {nd} entries")
        osz = tuple(x.shape[2 + i] if v is None else int(v) for i, v in enumerate(osz))
    return osz


def _adaptive_bin(i, in_size, out_size):
    """[start, end): start = floor(i*in/out), end = ceil((i+1)*in/out)."""
    start = (i * in_size) // out_size
    end = -((-(i + 1) * in_size) // out_size)
    return start, end


def adaptive_avg_pool_ref(x, output_size):
    """torch F.adaptive_avg_pool{1,2,3}d (None entries keep the input size)."""
    x = _f64(x)
    osz = _adaptive_out(x, output_size)
    in_sp = x.shape[2:]
    out = np.zeros(x.shape[:2] + osz, dtype=np.float64)
    for o in _positions(osz):
        bins = [_adaptive_bin(oi, n, m) for oi, n, m in zip(o, in_sp, osz)]
        total = np.zeros(x.shape[:2], dtype=np.float64)
        count = 0
        for cell in itertools.product(*[range(a, b) for a, b in bins]):
            total += x[(slice(None), slice(None), *cell)]
            count += 1
        out[(slice(None), slice(None), *o)] = total / count
    return out


def adaptive_max_pool_ref(x, output_size):
    """torch F.adaptive_max_pool{1,2,3}d(..., return_indices=True).

    Same bins as adaptive_avg_pool_ref; same max rule as max_pool_ref (first
    maximum wins, last NaN wins); indices are flat in the channel plane.
    Integer inputs keep their dtype (torch itself only accepts floats here).
    """
    x = np.asarray(x)
    if not _is_int_dtype(x):
        x = x.astype(np.float64)
    osz = _adaptive_out(x, output_size)
    in_sp = x.shape[2:]
    N, C = x.shape[:2]
    vals = np.empty((N, C, *osz), dtype=x.dtype)
    idxs = np.empty((N, C, *osz), dtype=np.int64)
    for o in _positions(osz):
        bins = [_adaptive_bin(oi, n, m) for oi, n, m in zip(o, in_sp, osz)]
        cells = list(itertools.product(*[range(a, b) for a, b in bins]))
        fallback = _ravel([a for a, _ in bins], in_sp)
        for n in range(N):
            for c in range(C):
                v, i = _window_max(x[n, c], cells, in_sp, fallback)
                vals[(n, c, *o)] = v
                idxs[(n, c, *o)] = i
    return vals, idxs


# ---------------------------------------------------------------------------
# 9. max unpooling
# ---------------------------------------------------------------------------


def max_unpool_ref(x, indices, output_spatial_size):
    """torch F.max_unpool{1,2,3}d: scatter x into zeros at flat indices.

    output_spatial_size: the spatial output shape (a full (N, C, *S) shape is
    also accepted).  Per channel, input elements are written in row-major
    order, so with duplicate indices the last write wins (torch CPU's
    sequential per-channel loop).  Out-of-range indices raise ValueError
    (torch raises too).
    """
    x = _f64(x)
    indices = np.asarray(indices)
    if indices.shape != x.shape:
        raise ValueError("indices must have the shape of x")
    nd = _nspatial(x)
    osz = tuple(int(v) for v in output_spatial_size)
    if len(osz) == nd + 2:
        osz = osz[2:]
    if len(osz) != nd:
        raise ValueError(f"output_spatial_size must have {nd} entries")
    N, C = x.shape[:2]
    plane = math.prod(osz)
    out = np.zeros((N, C, plane), dtype=np.float64)
    for n in range(N):
        for c in range(C):
            for p in _positions(x.shape[2:]):
                idx = int(indices[(n, c, *p)])
                if not 0 <= idx < plane:
                    raise ValueError(f"index {idx} out of range for output plane of size {plane}")
                out[n, c, idx] = x[(n, c, *p)]
    return out.reshape((N, C, *osz))


# ---------------------------------------------------------------------------
# 10. interpolation
# ---------------------------------------------------------------------------
#
# Source-coordinate rules, transcribed from aten/src/ATen/native/UpSample.h and
# cpu/UpSampleKernel.cpp.  ``T`` is the "opmath" type torch computes the
# coordinates in: float64 for float64 inputs, float32 otherwise.  Every
# floor is C's floorf(), i.e. the value is first rounded to float32.
#
#   compute_scales_value<T>(scale, in, out)
#       = T(1.0 / scale)          if a scale_factor was passed on (> 0)
#       = T(in) / T(out)          otherwise
#   area_pixel_compute_scale<T>(in, out, align_corners, scale)
#       = align_corners ? (out > 1 ? T(in-1)/T(out-1) : 0)
#                       : compute_scales_value<T>(scale, in, out)
#   area_pixel_compute_source_index<T>(scale, i, align_corners, cubic)
#       = align_corners ? scale * i
#                       : v = scale*(i + 0.5) - 0.5; (!cubic && v < 0) ? 0 : v


def _opmath_dtype(x, opmath):
    if opmath is not None:
        return np.dtype(opmath).type
    return np.float64 if np.asarray(x).dtype == np.float64 else np.float32


def _floorf(v):
    """C floorf() applied to a value (of any precision): round to f32, floor."""
    return math.floor(float(np.float32(v)))


def _compute_scales_value(T, scale, in_size, out_size):
    if scale is not None and scale > 0:
        return T(1.0 / scale)
    return T(in_size) / T(out_size)


def _area_pixel_compute_scale(T, in_size, out_size, align_corners, scale):
    if align_corners:
        if out_size > 1:
            return T(in_size - 1) / T(out_size - 1)
        return T(0)
    return _compute_scales_value(T, scale, in_size, out_size)


def _round_exact(T, q):
    """Round the exact rational q to the nearest T (ties to even), once."""
    d = float(q)  # correctly rounded to float64
    if T is np.float64:
        return np.float64(d)
    f = np.float32(d)
    best = None
    for c in (np.nextafter(f, np.float32(-np.inf)), f, np.nextafter(f, np.float32(np.inf))):
        err = abs(Fraction(float(c)) - q)
        even = (int(np.array(c).view(np.uint32)) & 1) == 0
        key = (err, not even)
        if best is None or key < best[0]:
            best = (key, c)
    return best[1]


def _area_pixel_compute_source_index(T, scale, i, align_corners, cubic, fma=True):
    if align_corners:
        return scale * T(i)
    half = T(i) + T(0.5)
    if fma:
        # torch's x86 CPU kernels are built for AVX2/AVX512 with FMA, and the
        # compiler contracts scale * (i + 0.5) - 0.5 into one fused
        # multiply-add: a single rounding (verified: float32 outputs differ by
        # up to ~ulp(src) * |dx| otherwise).
        v = _round_exact(T, Fraction(float(scale)) * Fraction(float(half)) - Fraction(1, 2))
    else:
        v = scale * half - T(0.5)
    if not cubic and v < T(0):
        return T(0)
    return v


def _nearest_taps(in_size, out_size, scale, exact, T, legacy_idx, fma):
    """Per output position: the single source index (weight 1)."""
    res = []
    for i in range(out_size):
        if legacy_idx:
            # nearest_idx / nearest_exact_idx (UpSample.h): float32 scale,
            # used by torch's 2-d nearest kernel when out_h + out_w <= 128.
            sc = _compute_scales_value(np.float32, scale, in_size, out_size)
            if not exact:
                if out_size == in_size:
                    src = i
                elif out_size == 2 * in_size:
                    src = i >> 1
                else:
                    src = min(_floorf(np.float32(i) * sc), in_size - 1)
            else:
                # (i + 0.5) is a double, times the float scale -> double
                src = min(_floorf((i + 0.5) * float(sc)), in_size - 1)
        else:
            # HelperInterpNearest / HelperInterpNearestExact (generic kernel)
            sc = _area_pixel_compute_scale(T, in_size, out_size, False, scale)
            if not exact:
                real = _area_pixel_compute_source_index(T, sc, i, True, False)
                src = min(_floorf(real), in_size - 1)
            else:
                real = _area_pixel_compute_source_index(T, sc, i, False, False, fma)
                src = min(_floorf(float(real) + 0.5), in_size - 1)
        res.append([(src, 1.0)])
    return res


def _linear_taps(in_size, out_size, scale, align_corners, T, fma):
    """compute_source_index_and_lambda (UpSample.h)."""
    res = []
    sc = _area_pixel_compute_scale(T, in_size, out_size, align_corners, scale)
    for i in range(out_size):
        if out_size == in_size:
            # torch's shortcut: identity copy whenever the sizes match, even
            # if a non-1 scale_factor was passed with recompute_scale_factor
            # False (then the non-shortcut formula would not be an identity).
            res.append([(i, 1.0), (i, 0.0)])
            continue
        real = _area_pixel_compute_source_index(T, sc, i, align_corners, False, fma)
        i0 = min(_floorf(real), in_size - 1)
        lam1 = min(max(real - T(i0), T(0)), T(1))
        lam0 = T(1) - lam1
        i1 = i0 + (1 if i0 < in_size - 1 else 0)
        res.append([(i0, float(lam0)), (i1, float(lam1))])
    return res


def _cubic_coeffs(T, t):
    A = T(-0.75)
    one = T(1)

    def conv1(v):  # |v| <= 1
        return ((A + T(2)) * v - (A + T(3))) * v * v + one

    def conv2(v):  # 1 < |v| < 2
        return ((A * v - T(5) * A) * v + T(8) * A) * v - T(4) * A

    x1 = t
    x2 = one - t
    return [conv2(x1 + one), conv1(x1), conv1(x2), conv2(x2 + one)]


def _cubic_taps(in_size, out_size, scale, align_corners, T, fma):
    """HelperInterpCubic::compute_indices_weights (no size shortcut)."""
    res = []
    sc = _area_pixel_compute_scale(T, in_size, out_size, align_corners, scale)
    for i in range(out_size):
        real = _area_pixel_compute_source_index(T, sc, i, align_corners, True, fma)
        i0 = min(_floorf(real), in_size - 1)
        t = min(max(real - T(i0), T(0)), T(1))
        coeffs = _cubic_coeffs(T, t)
        # taps i0-1 .. i0+2, each clamped to the border (torch's clamping)
        res.append([(min(max(i0 - 1 + j, 0), in_size - 1), float(coeffs[j])) for j in range(4)])
    return res


_MODE_DIMS = {"linear": 1, "bilinear": 2, "bicubic": 2, "trilinear": 3}


def interpolate_ref(
    x,
    size=None,
    scale_factor=None,
    mode="nearest",
    align_corners=None,
    recompute_scale_factor=None,
    *,
    opmath=None,
    nearest_path="auto",
    fma=True,
):
    """torch F.interpolate (antialias=False) for modes nearest, nearest-exact,
    linear (1-d), bilinear (2-d), bicubic (2-d), trilinear (3-d), area.

    Output size and scales (torch/nn/functional.py + UpSample.cpp):
      * size given: out = size, no scale is passed to the kernel, so the
        kernel uses in/out.
      * scale_factor given, recompute_scale_factor not True: out =
        floor(in * scale_factor) (double product) and the kernel uses the
        user's scale directly, as 1/scale_factor.
      * recompute_scale_factor=True: out = floor(in * scale_factor) and the
        kernel uses in/out.  Mode "area" always recomputes.
      * align_corners=True ignores any scale: (in-1)/(out-1) (0 if out == 1).

    Modes:
      * nearest:  src = min(floor(scale * i), in-1).
      * nearest-exact: src = min(floor(scale*(i+0.5)), in-1) (computed as in
        torch as floor((scale*(i+0.5) - 0.5 clamped at 0) + 0.5)).
      * linear family: separable, two taps per dim from
        compute_source_index_and_lambda: src = scale*(i+0.5)-0.5 clamped at
        0 (or scale*i with align_corners); i0 = min(floor(src), in-1),
        i1 = min(i0+1, in-1), l1 = clamp(src - i0, 0, 1), l0 = 1 - l1; and
        the shortcut out == in -> identity (even with a non-1 scale factor).
      * bicubic: A = -0.75, src unclamped (may be negative), four taps
        floor(src)-1 .. floor(src)+2 each clamped into [0, in-1]; no shortcut.
      * area: adaptive_avg_pool_ref(x, out).

    Keyword-only extras (to model torch's code paths exactly):
      opmath: dtype torch computes coordinates in; default float64 for a
        float64 input, float32 otherwise (torch's opmath of the input dtype).
        Only matters for floor() ties on coordinate boundaries and for the
        last bits of the weights.
      nearest_path: torch's 2-d nearest / nearest-exact CPU kernel uses the
        float32 ``nearest_idx`` rule (with shortcuts out == in -> copy,
        out == 2*in -> i >> 1 for "nearest") when out_h + out_w <= 128, and
        the generic rule (opmath scale, no shortcuts) otherwise; 1-d and 3-d
        use the generic rule.  "auto" reproduces that; "legacy" / "generic"
        force one rule.  The two differ only when a scale_factor is passed
        through (recompute_scale_factor not True) and out == in or
        out == 2*in, or in the rounding of floor ties.
      fma: torch's x86 CPU kernels (AVX2/AVX512 builds, what torch runs on
        any current x86 machine) evaluate the source coordinate
        scale * (i + 0.5) - 0.5 as one fused multiply-add (one rounding in
        opmath).  fma=True (default) models that; fma=False models two
        roundings (torch's non-FMA "DEFAULT" build).  Visible only in float32
        (errors ~ ulp(src) * |x[i+1] - x[i]|) and in floor ties.
    Values are accumulated in float64; the weights are the opmath weights
    torch computes (float32 lambdas for float32 input).  Every tap is used,
    even a zero-weight one, so inf/NaN under a zero weight gives NaN, as in
    torch.  Returns float64.
    """
    x_in = np.asarray(x)
    T = _opmath_dtype(x_in, opmath)
    x = _f64(x_in)
    nd = _nspatial(x)
    if nd > 3:
        raise ValueError("only 1 to 3 spatial dims are supported")
    modes = ("nearest", "nearest-exact", "area", "linear", "bilinear", "bicubic", "trilinear")
    if mode not in modes:
        raise ValueError(f"unknown mode {mode!r}")
    if mode in _MODE_DIMS and _MODE_DIMS[mode] != nd:
        raise ValueError(f"mode {mode!r} needs {_MODE_DIMS[mode]} spatial dims, got {nd}")
    if mode in ("nearest", "nearest-exact", "area"):
        if align_corners is not None:
            raise ValueError("align_corners option can only be set with the interpolating modes")
        align_corners = False
    elif align_corners is None:
        align_corners = False
    if (size is None) == (scale_factor is None):
        raise ValueError("exactly one of size or scale_factor must be given")
    in_sp = x.shape[2:]
    if size is not None:
        if recompute_scale_factor:
            raise ValueError("recompute_scale_factor is not meaningful with an explicit size")
        out_sp = _tup(size, nd, "size")
        scales = [None] * nd
    else:
        if isinstance(scale_factor, (list, tuple)):
            if len(scale_factor) != nd:
                raise ValueError(f"scale_factor must have {nd} entries")
            sfs = [float(s) for s in scale_factor]
        else:
            sfs = [float(scale_factor)] * nd
        # python: int(in * sf); C++: (int64_t)(double(in) * sf) -- identical
        out_sp = tuple(math.floor(float(n) * s) for n, s in zip(in_sp, sfs))
        if mode == "area":
            recompute_scale_factor = True
        scales = [None] * nd if recompute_scale_factor else sfs
    if any(o <= 0 for o in out_sp):
        raise ValueError(f"output size {out_sp} must be positive")

    if mode == "area":
        return adaptive_avg_pool_ref(x, out_sp)

    if mode in ("nearest", "nearest-exact"):
        if nearest_path == "auto":
            legacy = nd == 2 and out_sp[0] + out_sp[1] <= 128
        elif nearest_path in ("legacy", "generic"):
            legacy = nearest_path == "legacy"
        else:
            raise ValueError(f"unknown nearest_path {nearest_path!r}")
        taps = [_nearest_taps(n, o, s, mode == "nearest-exact", T, legacy, fma) for n, o, s in zip(in_sp, out_sp, scales)]
    elif mode == "bicubic":
        taps = [_cubic_taps(n, o, s, align_corners, T, fma) for n, o, s in zip(in_sp, out_sp, scales)]
    else:
        taps = [_linear_taps(n, o, s, align_corners, T, fma) for n, o, s in zip(in_sp, out_sp, scales)]

    out = np.zeros(x.shape[:2] + out_sp, dtype=np.float64)
    for o in _positions(out_sp):
        acc = np.zeros(x.shape[:2], dtype=np.float64)
        # every tap is used, even with weight 0 (as torch does): an inf or
        # NaN under a zero-weight tap therefore gives NaN, like in torch.
        for combo in itertools.product(*[taps[d][o[d]] for d in range(nd)]):
            wgt = math.prod(wt for _, wt in combo)
            with np.errstate(invalid="ignore"):
                acc += wgt * x[(slice(None), slice(None), *tuple(ix for ix, _ in combo))]
        out[(slice(None), slice(None), *o)] = acc
    return out


# ---------------------------------------------------------------------------
# 11. unfold / fold (im2col / col2im), 4-D input
# ---------------------------------------------------------------------------


def _blocks(in_sp, ks, dl, pd, st):
    return tuple((n + 2 * p - d * (k - 1) - 1) // s + 1 for n, k, d, p, s in zip(in_sp, ks, dl, pd, st))


def unfold_ref(x, kernel, dilation=1, padding=0, stride=1):
    """torch F.unfold for (N, C, H, W) -> (N, C*kh*kw, L).

    Row index c*kh*kw + i*kw + j (channel-major, then kernel offsets
    row-major); column index = block position, row-major over the
    (out_h, out_w) grid; zero padding.
    """
    x = _f64(x)
    if x.ndim != 4:
        raise ValueError("unfold_ref expects a 4-D (N, C, H, W) input")
    N, C, H, W = x.shape
    ks = _tup(kernel, 2, "kernel")
    dl = _tup(dilation, 2, "dilation")
    pd = _tup(padding, 2, "padding")
    st = _tup(stride, 2, "stride")
    bh, bw = _blocks((H, W), ks, dl, pd, st)
    bh, bw = max(bh, 0), max(bw, 0)
    out = np.zeros((N, C * ks[0] * ks[1], bh * bw), dtype=np.float64)
    for c in range(C):
        for i in range(ks[0]):
            for j in range(ks[1]):
                row = (c * ks[0] + i) * ks[1] + j
                for oh in range(bh):
                    for ow in range(bw):
                        h = oh * st[0] - pd[0] + i * dl[0]
                        w = ow * st[1] - pd[1] + j * dl[1]
                        if 0 <= h < H and 0 <= w < W:
                            out[:, row, oh * bw + ow] = x[:, c, h, w]
    return out


def fold_ref(cols, output_size, kernel, dilation=1, padding=0, stride=1):
    """torch F.fold: (N, C*kh*kw, L) -> (N, C, H, W), summing overlaps.

    Exact adjoint of unfold_ref; entries landing in the padding are dropped.
    """
    cols = _f64(cols)
    if cols.ndim != 3:
        raise ValueError("fold_ref expects a 3-D (N, C*kh*kw, L) input")
    N, CK, L = cols.shape
    H, W = _tup(output_size, 2, "output_size")
    ks = _tup(kernel, 2, "kernel")
    dl = _tup(dilation, 2, "dilation")
    pd = _tup(padding, 2, "padding")
    st = _tup(stride, 2, "stride")
    if CK % (ks[0] * ks[1]):
        raise ValueError("input dim 1 must be divisible by the kernel area")
    C = CK // (ks[0] * ks[1])
    bh, bw = _blocks((H, W), ks, dl, pd, st)
    if bh * bw != L:
        raise ValueError(f"expected L = {bh}*{bw} = {bh * bw} blocks, got {L}")
    out = np.zeros((N, C, H, W), dtype=np.float64)
    for c in range(C):
        for i in range(ks[0]):
            for j in range(ks[1]):
                row = (c * ks[0] + i) * ks[1] + j
                for oh in range(bh):
                    for ow in range(bw):
                        h = oh * st[0] - pd[0] + i * dl[0]
                        w = ow * st[1] - pd[1] + j * dl[1]
                        if 0 <= h < H and 0 <= w < W:
                            out[:, c, h, w] += cols[:, row, oh * bw + ow]
    return out


# ---------------------------------------------------------------------------
# 12. pixel shuffle
# ---------------------------------------------------------------------------


def pixel_shuffle_ref(x, r):
    """torch F.pixel_shuffle: (N, C*r*r, H, W) -> (N, C, H*r, W*r) with
    out[n, c, h*r + i, w*r + j] = x[n, c*r*r + i*r + j, h, w]."""
    x = _f64(x)
    if x.ndim != 4:
        raise ValueError("pixel_shuffle_ref expects a 4-D input")
    N, Cr, H, W = x.shape
    if Cr % (r * r):
        raise ValueError("channels must be divisible by r*r")
    C = Cr // (r * r)
    out = np.empty((N, C, H * r, W * r), dtype=np.float64)
    for c in range(C):
        for i in range(r):
            for j in range(r):
                for h in range(H):
                    for w in range(W):
                        out[:, c, h * r + i, w * r + j] = x[:, c * r * r + i * r + j, h, w]
    return out


def pixel_unshuffle_ref(x, r):
    """torch F.pixel_unshuffle: (N, C, H*r, W*r) -> (N, C*r*r, H, W), the
    inverse of pixel_shuffle_ref."""
    x = _f64(x)
    if x.ndim != 4:
        raise ValueError("pixel_unshuffle_ref expects a 4-D input")
    N, C, Hr, Wr = x.shape
    if Hr % r or Wr % r:
        raise ValueError("spatial sizes must be divisible by r")
    H, W = Hr // r, Wr // r
    out = np.empty((N, C * r * r, H, W), dtype=np.float64)
    for c in range(C):
        for i in range(r):
            for j in range(r):
                for h in range(H):
                    for w in range(W):
                        out[:, c * r * r + i * r + j, h, w] = x[:, c, h * r + i, w * r + j]
    return out
