"""Resizing exact to ``torch.nn.functional.interpolate``: nearest, nearest-exact, linear,
bilinear, trilinear, bicubic, area and lanczos, with and without antialiasing.

Every mode is separable. Per spatial dim, torch's coordinate rule (``UpSample.h``,
``UpSampleKernel.cpp``) is evaluated once, in NumPy, at trace time, from the static
shapes, into a small static table: for each output position the source indices
("taps"), their weights and which taps are real. The jitted function then gathers each
tap and sums them in tap order, one dim after the other, last spatial dim first, as
torch's separable kernels do. The tables reproduce torch's arithmetic in the precision
torch uses (float32 coordinates for float32/float16/bfloat16/uint8 input, float64 for
float64), including the fused multiply-adds of torch's x86-64 build, so that the
discontinuous choices (which pixel ``nearest`` picks, where a linear tap starts) are
torch's, not just close, and the linear and bicubic weights are torch's to the bit.

``jax.image.resize`` is a different function: its ``"nearest"`` is torch's
``"nearest-exact"``, it antialiases when downsampling unless told not to, it has no
``align_corners`` and no torch ``scale_factor`` semantics, its ``"cubic"`` uses Keys'
``a = -0.5`` where torch's bicubic uses ``a = -0.75``, and its ``"area"`` weighs pixel
overlaps where torch uses adaptive-pooling bins.
"""

from __future__ import annotations

import functools
import math
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Union

import jax
import jax.numpy as jnp
import numpy as np

from jaxconv import policy
from jaxconv._plumbing import as_array, eager_jit
from jaxconv.shapes import arg_error, check_nonzero_spatial, is_int, spec_cache

__all__ = [
    "MODES",
    "ResizeSpec",
    "interpolate",
    "resize_spec",
    "upsample",
    "upsample_bilinear",
    "upsample_nearest",
]

MODES = ("nearest", "nearest-exact", "linear", "bilinear", "bicubic", "trilinear", "area", "lanczos")
# Modes tied to one number of spatial dims (torch raises for any other rank).
_MODE_NDIM = {"linear": 1, "bilinear": 2, "bicubic": 2, "lanczos": 2, "trilinear": 3}
_NO_ALIGN = ("nearest", "nearest-exact", "area")
_AA_MODES = ("bilinear", "bicubic", "lanczos")
# torch CPU accepts uint8 only for these (nearest by copying, the others in int16 fixed point).
_UINT8_MODES = ("nearest", "nearest-exact", "bilinear", "bicubic", "lanczos")
_FLOATS = ("float16", "bfloat16", "float32", "float64")

Size = Union[int, Sequence[int]]
ScaleFactor = Union[float, Sequence[float]]


@dataclass(frozen=True)
class ResizeSpec:
    """Everything static about one ``interpolate`` call, resolved and validated.

    ``scales`` are the scale factors torch hands its kernels (``None`` where the
    kernel derives ``in / out`` from the sizes). ``legacy_nearest`` marks torch's
    channels-last nearest kernel (``nearest_idx``, float32 scale, with the shortcuts
    ``out == in`` and ``out == 2 * in``), which torch picks by shape.
    """

    mode: str
    dtype: str
    in_spatial: tuple[int, ...]
    out_spatial: tuple[int, ...]
    scales: tuple[float | None, ...]
    align_corners: bool
    antialias: bool
    legacy_nearest: bool


# ---------------------------------------------------------------------------------------
# Validation: torch/nn/functional.py's interpolate, then the kernels' checks
# ---------------------------------------------------------------------------------------

def _is_real(v: object) -> bool:
    if isinstance(v, bool):
        return False
    if is_int(v):
        return True
    try:
        float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False
    return not isinstance(v, (str, bytes)) and np.ndim(v) == 0  # type: ignore[arg-type]


def _freeze_size(fn: str, size: Any, n: int) -> tuple[int, ...]:
    if is_int(size):
        return (operator.index(size),) * n
    if isinstance(size, (str, bytes)) or not hasattr(size, "__len__"):
        raise arg_error(fn, "size", f"must be an int or a sequence of {n} ints", size, exc=TypeError)
    seq = tuple(size)
    if not all(is_int(v) for v in seq):
        raise arg_error(fn, "size", f"must be an int or a sequence of {n} ints", size, exc=TypeError)
    if len(seq) != n:
        raise arg_error(fn, "size", f"must have {n} entries, one per spatial dim of the input", seq)
    return tuple(operator.index(v) for v in seq)


def _freeze_scale(fn: str, scale_factor: Any, n: int) -> tuple[float, ...]:
    if _is_real(scale_factor):
        seq: tuple[Any, ...] = (scale_factor,) * n
    elif isinstance(scale_factor, (str, bytes)) or not hasattr(scale_factor, "__len__"):
        raise arg_error(fn, "scale_factor", f"must be a number or a sequence of {n} numbers", scale_factor, exc=TypeError)
    else:
        seq = tuple(scale_factor)
        if not all(_is_real(v) for v in seq):
            raise arg_error(fn, "scale_factor", f"must be a number or a sequence of {n} numbers", scale_factor, exc=TypeError)
        if len(seq) != n:
            raise arg_error(fn, "scale_factor", f"must have {n} entries, one per spatial dim of the input", seq)
    out = tuple(float(v) for v in seq)
    if not all(math.isfinite(v) for v in out):
        raise arg_error(fn, "scale_factor", "must be finite", out)
    return out


def _dtype_name(x: Any) -> str:
    return jnp.dtype(x.dtype).name


@spec_cache
def _resize_spec_cached(fn: str, shape: tuple[int, ...], dtype: str, size: tuple[int, ...] | None,
                        scale_factor: tuple[float, ...] | None, mode: str, align_corners: bool | None,
                        recompute_scale_factor: bool | None, antialias: bool) -> ResizeSpec:
    align = mode not in _NO_ALIGN and bool(align_corners)  # check_resize_args refused align_corners for the others
    n = len(shape) - 2
    in_sp = tuple(shape[2:])
    if recompute_scale_factor and size is not None:
        raise arg_error(fn, "recompute_scale_factor", "is not meaningful with an explicit `size`", recompute_scale_factor)
    if size is not None:
        out_sp, scales = size, (None,) * n
    else:
        assert scale_factor is not None
        # torch: int(in * s) in Python or (int64_t)(double(in) * s) in C++: the same double product.
        out_sp = tuple(int(i * s) for i, s in zip(in_sp, scale_factor))
        # "area" is adaptive average pooling, which only takes sizes: torch recomputes.
        recompute = bool(recompute_scale_factor) or mode == "area"
        scales = (None,) * n if recompute else scale_factor
    if antialias and not (mode in _AA_MODES and n == 2):
        raise arg_error(fn, "antialias", "is only supported for modes bilinear, bicubic and lanczos on 4-d "
                        f"(N, C, H, W) input (mode={mode!r}, rank {len(shape)})", antialias)
    if mode in _MODE_NDIM and _MODE_NDIM[mode] != n:
        want = _MODE_NDIM[mode]
        raise arg_error(fn, "input", f"must have rank {want + 2} (N, C, {', '.join('DHW'[3 - want:])}) for mode={mode!r}",
                        f"rank {len(shape)} (shape {shape})")
    if mode == "lanczos":
        if align:
            raise arg_error(fn, "align_corners", "must be False for mode='lanczos'", align_corners)
        if not antialias:
            raise arg_error(fn, "antialias", "must be True for mode='lanczos' (torch's Lanczos-3 is antialiased only)",
                            antialias)
    # torch 2.13: N may be 0; C only for "area" on 1-d and 2-d input (adaptive_avg_pool1d/2d
    # allow it, adaptive_avg_pool3d and the interpolation kernels do not); no spatial size.
    if shape[1] == 0 and not (mode == "area" and n < 3):
        raise arg_error(fn, "input", f"must have non-zero channels for mode={mode!r} on rank {len(shape)} input (as torch; "
                        "only 'area' on rank 3 or 4 input takes C = 0)", f"shape {shape}")
    check_nonzero_spatial(fn, shape, in_sp)
    lowest = 0 if mode == "area" else 1  # adaptive_avg_pool accepts (and returns) empty outputs
    if any(o < lowest for o in out_sp):
        what = "`size`" if size is not None else f"`scale_factor` {scale_factor} on spatial size {in_sp}"
        raise arg_error(fn, "size" if size is not None else "scale_factor",
                        f"must give output sizes >= {lowest} ({what} gives {out_sp})", size if size is not None else scale_factor)
    if dtype not in _FLOATS:
        if dtype != "uint8":
            raise arg_error(fn, "input", "must be a floating-point or uint8 array (as torch CPU)", dtype, exc=TypeError)
        if mode not in _UINT8_MODES:
            raise arg_error(fn, "input", f"must be floating point for mode={mode!r} (torch takes uint8 only for "
                            f"{', '.join(_UINT8_MODES)})", dtype, exc=TypeError)
    # torch's 2-d nearest kernels switch to the channels-last kernel (nearest_idx rules) when
    # out_h + out_w <= 128. (They also do for a channels-last contiguous input with C > 3, which
    # for a contiguous array means an all-ones spatial input, where every rule picks index 0.)
    legacy = mode in ("nearest", "nearest-exact") and n == 2 and sum(out_sp) <= 128
    return ResizeSpec(mode, dtype, in_sp, tuple(out_sp), tuple(scales), align, bool(antialias), legacy)


def check_resize_args(fn: str, size: Size | None, scale_factor: ScaleFactor | None, mode: str,
                      align_corners: bool | None, recompute_scale_factor: bool | None) -> None:
    """The checks of an ``interpolate`` call that need no input (``nn.Upsample``'s constructor makes them too).

    >>> check_resize_args("Upsample", None, 2.0, "nearest", True, None)
    Traceback (most recent call last):
    ValueError: Upsample: `align_corners` can only be set with the interpolating modes linear | bilinear | bicubic | trilinear; leave it None for mode='nearest', got True
    """
    if not isinstance(mode, str) or mode not in MODES:
        raise arg_error(fn, "mode", f"must be one of {MODES}", mode)
    if align_corners is not None and not isinstance(align_corners, (bool, np.bool_)):
        raise arg_error(fn, "align_corners", "must be None, True or False", align_corners, exc=TypeError)
    if recompute_scale_factor is not None and not isinstance(recompute_scale_factor, (bool, np.bool_)):
        raise arg_error(fn, "recompute_scale_factor", "must be None, True or False", recompute_scale_factor, exc=TypeError)
    if size is not None and scale_factor is not None:
        raise arg_error(fn, "size", "and `scale_factor` cannot both be given", (size, scale_factor))
    if size is None and scale_factor is None:
        raise arg_error(fn, "size", "or `scale_factor` must be given", None)
    if mode in _NO_ALIGN and align_corners is not None:
        raise arg_error(fn, "align_corners", f"can only be set with the interpolating modes "
                        f"linear | bilinear | bicubic | trilinear; leave it None for mode={mode!r}", align_corners)


def resize_spec(fn: str, input: Any, size: Size | None = None, scale_factor: ScaleFactor | None = None,
                mode: str = "nearest", align_corners: bool | None = None, recompute_scale_factor: bool | None = None,
                antialias: bool = False) -> ResizeSpec:
    """Validate an ``interpolate`` call (torch's rules and errors) and resolve it to a cached :class:`ResizeSpec`.

    >>> import jax.numpy as jnp
    >>> s = resize_spec("interpolate", jnp.zeros((1, 3, 5, 7)), scale_factor=1.5, mode="bilinear")
    >>> s.out_spatial, s.scales
    ((7, 10), (1.5, 1.5))
    """
    check_resize_args(fn, size, scale_factor, mode, align_corners, recompute_scale_factor)
    ndim = len(input.shape)
    if ndim not in (3, 4, 5):
        raise arg_error(fn, "input", "must have rank 3, 4 or 5: (N, C, L), (N, C, H, W) or (N, C, D, H, W) "
                        "(the batch dim is required, as in torch)", f"rank {ndim} (shape {tuple(input.shape)})")
    n = ndim - 2
    sz = None if size is None else _freeze_size(fn, size, n)
    sf = None if scale_factor is None else _freeze_scale(fn, scale_factor, n)
    return _resize_spec_cached(fn, tuple(int(d) for d in input.shape), _dtype_name(input), sz, sf, mode,
                               None if align_corners is None else bool(align_corners),
                               None if recompute_scale_factor is None else bool(recompute_scale_factor), bool(antialias))


# ---------------------------------------------------------------------------------------
# Static tables: torch's per-dim coordinate arithmetic, in torch's precision
# ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Plan:
    """One dim's resampling: ``out[i] = sum_k w[i, k] * x[idx[i, k]]`` over taps with ``valid[i, k]``.

    ``kind`` is ``"copy"`` (the dim is left alone), ``"take"`` (one tap, no arithmetic:
    nearest), ``"float"`` or ``"uint8"`` (int16 fixed-point weights with ``precision``
    fractional bits, torch's uint8 rule). ``w`` None means a plain sum divided by ``div``.
    """

    kind: str
    idx: np.ndarray | None = None
    w: np.ndarray | None = None
    valid: np.ndarray | None = None
    div: np.ndarray | None = None
    precision: int = 0


def _floorf(v: np.ndarray) -> np.ndarray:
    """C's ``floorf`` on a float or double value: round to float32 first, then floor."""
    return np.floor(np.asarray(v).astype(np.float32)).astype(np.int64)


def _scales_value(T: type, scale: float | None, n_in: int, n_out: int) -> Any:
    # compute_scales_value: the user's scale as 1/scale (a double division), else in/out in T.
    if scale is not None and scale > 0:
        return T(1.0 / scale)
    return T(n_in) / T(n_out)


def _area_scale(T: type, n_in: int, n_out: int, align: bool, scale: float | None) -> Any:
    if align:
        return T(n_in - 1) / T(n_out - 1) if n_out > 1 else T(0)
    return _scales_value(T, scale, n_in, n_out)


def _fma(T: type, a: Any, b: Any, c: Any) -> np.ndarray:
    """``a * b + c`` in T with one rounding, as a fused multiply-add.

    torch's CPU kernels are built by GCC, which contracts some ``a * b + c`` into FMAs in its
    AVX2/AVX512 kernels; the single rounding moves the source coordinate by up to one ulp
    (which moves linear/cubic weights by ~1e-5 near index 256 and decides nearest-exact ties).
    """
    a, b, c = np.broadcast_arrays(np.asarray(a, T), np.asarray(b, T), np.asarray(c, T))
    if T is np.float32:
        # a float32 product is exact in float64; the addition can then round only when the
        # terms are 2**29 apart, far from where a float32 rounding tie could fall
        return (a.astype(np.float64) * b + c).astype(np.float32)
    out = [float(Fraction(float(x)) * Fraction(float(y)) + Fraction(float(z))) for x, y, z in zip(a.ravel(), b.ravel(), c.ravel())]
    return np.array(out, np.float64).reshape(a.shape)


def _source_index(T: type, scale: Any, i: np.ndarray, align: bool, cubic: bool) -> np.ndarray:
    fi = i.astype(T)
    if align:
        return scale * fi
    src = _fma(T, scale, fi + T(0.5), T(-0.5))  # scale * (i + 0.5) - 0.5, contracted by torch's build
    return src if cubic else np.where(src < T(0), T(0), src).astype(T)


def _guard(T: type, real: np.ndarray, n_in: int) -> tuple[np.ndarray, np.ndarray]:
    # guard_index_and_lambda: index = min(floorf(real), in - 1), lambda clamped to [0, 1].
    idx = np.minimum(_floorf(real), n_in - 1)
    lam = np.minimum(np.maximum(real - idx.astype(T), T(0)), T(1)).astype(T)
    return idx, lam


def _nearest_idx(T: type, n_in: int, n_out: int, scale: float | None, exact: bool, legacy: bool) -> np.ndarray:
    i = np.arange(n_out, dtype=np.int64)
    if legacy:
        # nearest_idx / nearest_exact_idx of UpSample.h: a float32 scale.
        if not exact and n_out == n_in:
            return i
        if not exact and n_out == 2 * n_in:
            return i >> 1
        sc = _scales_value(np.float32, scale, n_in, n_out)
        if exact:  # (i + 0.5) is a double, times the float scale
            src = _floorf((i + 0.5) * np.float64(sc))
        else:
            src = _floorf(i.astype(np.float32) * sc)
        return np.minimum(src, n_in - 1)
    # HelperInterpNearest(Exact)::compute_indices_weights: scale in the opmath type T.
    sc = _area_scale(T, n_in, n_out, False, scale)
    if exact:
        real = _source_index(T, sc, i, False, False)
        src = _floorf(real.astype(np.float64) + 0.5)
    else:
        src = _floorf(_source_index(T, sc, i, True, False))
    return np.minimum(src, n_in - 1)


def _cubic1(T: type, x: Any, a: float) -> Any:
    """Keys' cubic convolution kernel for |x| <= 1 (cubic_convolution1), evaluated in T."""
    A = T(a)
    return ((A + T(2)) * x - (A + T(3))) * x * x + T(1)


def _cubic2(T: type, x: Any, a: float) -> Any:
    """Keys' cubic convolution kernel for 1 < |x| < 2 (cubic_convolution2), evaluated in T."""
    A = T(a)
    return ((A * x - T(5) * A) * x + T(8) * A) * x - T(4) * A


def _cubic_coeffs(T: type, t: np.ndarray, a: float) -> list[np.ndarray]:
    """get_cubic_upsample_coefficients, with the contractions of torch's x86-64 build (measured:
    the first two steps of each polynomial are fused, the last is not)."""
    A = T(a)

    def conv1(x: np.ndarray) -> np.ndarray:
        return (_fma(T, A + T(2), x, -(A + T(3))) * x * x + T(1)).astype(T)

    def conv2(x: np.ndarray) -> np.ndarray:
        return (_fma(T, _fma(T, A, x, -(T(5) * A)), x, T(8) * A) * x - T(4) * A).astype(T)

    # `x + 1.0` and `1.0 - t` are doubles stored back into T.
    x2 = (1.0 - t.astype(np.float64)).astype(T)
    return [conv2((t.astype(np.float64) + 1.0).astype(T)), conv1(t), conv1(x2), conv2((x2.astype(np.float64) + 1.0).astype(T))]


def _linear_taps(T: type, n_in: int, n_out: int, scale: float | None, align: bool) -> tuple[np.ndarray, np.ndarray]:
    i = np.arange(n_out, dtype=np.int64)
    if n_out == n_in:
        # compute_source_index_and_lambda's shortcut, taken even for a non-1 scale factor.
        # Both taps are kept (x * 1 + x * 0), as torch computes them.
        return np.stack([i, i], 1), np.stack([np.ones(n_out, T), np.zeros(n_out, T)], 1)
    sc = _area_scale(T, n_in, n_out, align, scale)
    i0, l1 = _guard(T, _source_index(T, sc, i, align, False), n_in)
    i1 = i0 + (i0 < n_in - 1)
    return np.stack([i0, i1], 1), np.stack([T(1) - l1, l1], 1)


def _cubic_taps(T: type, n_in: int, n_out: int, scale: float | None, align: bool) -> tuple[np.ndarray, np.ndarray]:
    i = np.arange(n_out, dtype=np.int64)
    sc = _area_scale(T, n_in, n_out, align, scale)
    i0, t = _guard(T, _source_index(T, sc, i, align, True), n_in)
    idx = np.clip(i0[:, None] + np.arange(-1, 3)[None, :], 0, n_in - 1)
    return idx, np.stack(_cubic_coeffs(T, t, -0.75), 1)


def _filter(name: str, T: type) -> tuple[int, Callable[[np.ndarray], np.ndarray]]:
    """torch's antialiasing filters (Pillow's): triangle, Keys cubic with a = -0.5, Lanczos-3."""
    if name == "bilinear":
        def tri(x: np.ndarray) -> np.ndarray:
            x = np.abs(x)
            return np.where(x < T(1), T(1) - x, T(0)).astype(T)
        return 2, tri
    if name == "bicubic":
        def cub(x: np.ndarray) -> np.ndarray:
            x = np.abs(x)
            return np.where(x < T(1), _cubic1(T, x, -0.5), np.where(x < T(2), _cubic2(T, x, -0.5), T(0))).astype(T)
        return 4, cub
    pi = T(math.pi)

    def sinc(x: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            px = x * pi
            return np.where(x == T(0), T(1), np.sin(px) / px).astype(T)

    def lanczos(x: np.ndarray) -> np.ndarray:
        x = np.abs(x)
        return np.where(x < T(3), sinc(x) * sinc((x.astype(np.float64) / 3.0).astype(T)), T(0)).astype(T)
    return 6, lanczos


def _aa_taps(T: type, mode: str, n_in: int, n_out: int, scale: float | None,
             align: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """HelperInterpBase::_compute_indices_min_size_weights_aa for every output position."""
    interp, filt = _filter(mode, T)
    sc = _area_scale(T, n_in, n_out, align, scale)
    # The filter widens by the downsampling factor; `interp * 0.5` is a double.
    support = T(interp * 0.5 * np.float64(sc)) if sc >= T(1) else T(interp * 0.5)
    k = math.ceil(support) * 2 + 1
    invscale = T(1.0 / np.float64(sc)) if sc >= T(1) else T(1.0)
    i = np.arange(n_out, dtype=np.int64)
    center = (np.float64(sc) * (i + 0.5)).astype(T)
    xmin = np.maximum(np.trunc((center - support).astype(np.float64) + 0.5).astype(np.int64), 0)
    xsize = np.minimum(np.trunc((center + support).astype(np.float64) + 0.5).astype(np.int64), n_in) - xmin
    xsize = np.clip(xsize, 0, k)
    j = np.arange(k)
    pos = xmin[:, None] + j[None, :]
    arg = (((pos.astype(T) - center[:, None]).astype(np.float64) + 0.5) * np.float64(invscale)).astype(T)
    valid = j[None, :] < xsize[:, None]
    w = np.where(valid, filt(arg), T(0)).astype(T)
    total = np.zeros(n_out, T)
    for jj in range(k):  # torch sums the weights one after another
        total = (total + w[:, jj]).astype(T)
    nz = total != T(0)
    w = np.where(nz[:, None], w / np.where(nz, total, T(1))[:, None], w).astype(T)
    return np.clip(pos, 0, n_in - 1), w, valid


def _uint8_weights(w: np.ndarray, wt_max: float) -> tuple[np.ndarray, int]:
    """_compute_index_ranges_int16_weights: as many fractional bits as int16 allows for the largest weight."""
    precision = 0
    while precision < 22:
        if int(0.5 + wt_max * (1 << (precision + 1))) >= (1 << 15):
            break
        precision += 1
    v = w * float(1 << precision)
    wi = np.where(v < 0, np.trunc(-0.5 + v), np.trunc(0.5 + v)).astype(np.int64)
    return wi.astype(np.int16).astype(np.int32), precision


def _uint8_taps(mode: str, n_in: int, n_out: int, scale: float | None,
                align: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """_compute_indices_min_size_weights (antialias=False, uint8): taps outside the input fold into the border taps."""
    interp = 2 if mode == "bilinear" else 4

    def filt(x: float) -> float:
        x = abs(x)
        if interp == 2:
            return 1.0 - x if x < 1.0 else 0.0
        # a = -0.75 here: without antialiasing the uint8 path keeps the float path's constant
        return _cubic1(float, x, -0.75) if x < 1.0 else _cubic2(float, x, -0.75) if x < 2.0 else 0.0

    T = np.float64
    sc = _area_scale(T, n_in, n_out, align, scale)
    i = np.arange(n_out, dtype=np.int64)
    idx0, lam = _guard(T, _source_index(T, sc, i, align, interp > 2), n_in)
    support = interp // 2
    w = np.zeros((n_out, interp))
    pos = np.zeros((n_out, interp), np.int64)
    valid = np.zeros((n_out, interp), bool)
    wt_max = 0.0
    for o in range(n_out):
        lo = int(idx0[o]) - support + 1
        xmin = max(lo, 0)
        xsize = min(max(min(int(idx0[o]) + support + 1, n_in) - xmin, 0), interp)
        slot = 0
        for jj in range(interp):
            wj = filt(float(jj + 1 - support) - float(lam[o]))
            if lo + jj <= 0:
                slot = 0
            elif lo + jj >= n_in - 1:
                slot = xsize - 1
            w[o, slot] += wj
            wt_max = max(wt_max, w[o, slot])
            slot += 1
        pos[o] = np.clip(xmin + np.arange(interp), 0, n_in - 1)
        valid[o, :xsize] = True
    wi, precision = _uint8_weights(w, wt_max)
    return pos, wi, valid, precision


def _area_taps(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Adaptive average pooling bins: start = floor(i * in / out), end = ceil((i + 1) * in / out)."""
    i = np.arange(n_out, dtype=np.int64)
    start = (i * n_in) // n_out
    end = -((-(i + 1) * n_in) // n_out)
    k = int((end - start).max()) if n_out else 1
    pos = start[:, None] + np.arange(k)[None, :]
    return np.minimum(pos, n_in - 1), pos < end[:, None], (end - start)


@functools.lru_cache(maxsize=1024)
def _axis_plan(mode: str, dtype: str, n_in: int, n_out: int, scale: float | None, align: bool, antialias: bool,
               legacy: bool) -> _Plan:
    T = np.float64 if dtype == "float64" else np.float32  # torch's opmath type for coordinates
    if mode in ("nearest", "nearest-exact"):
        return _Plan("take", idx=_nearest_idx(T, n_in, n_out, scale, mode == "nearest-exact", legacy).astype(np.int32))
    if mode == "area":
        idx, valid, count = _area_taps(n_in, n_out)
        return _Plan("float", idx=idx.astype(np.int32), valid=valid, div=count.astype(T))
    separable = antialias or dtype == "uint8"
    if separable and n_in == n_out:
        return _Plan("copy")  # torch's separable kernels skip a dim whose size does not change
    if dtype == "uint8":
        if antialias:
            idx, w, valid = _aa_taps(np.float64, mode, n_in, n_out, scale, align)
            wi, precision = _uint8_weights(w, float(w.max(initial=0.0)))
        else:
            idx, wi, valid, precision = _uint8_taps(mode, n_in, n_out, scale, align)
        return _Plan("uint8", idx=idx.astype(np.int32), w=wi, valid=valid, precision=precision)
    if antialias:
        # weights in the input's own float type (torch has no float16/bfloat16 kernel here)
        idx, w, valid = _aa_taps(T, mode, n_in, n_out, scale, align)
        return _Plan("float", idx=idx.astype(np.int32), w=w, valid=valid)
    idx, w = (_cubic_taps if mode == "bicubic" else _linear_taps)(T, n_in, n_out, scale, align)
    return _Plan("float", idx=idx.astype(np.int32), w=w)


def _plans(spec: ResizeSpec) -> tuple[_Plan, ...]:
    return tuple(_axis_plan(spec.mode, spec.dtype, i, o, s, spec.align_corners, spec.antialias, spec.legacy_nearest)
                 for i, o, s in zip(spec.in_spatial, spec.out_spatial, spec.scales))


# ---------------------------------------------------------------------------------------
# The jitted resampler
# ---------------------------------------------------------------------------------------

# Up to this many taps, one gather per tap feeding a multiply-add chain: XLA fuses it into one
# loop, several times faster than gathering all taps at once and reducing over them. Beyond
# (antialias or area downsampling by large factors) the single gather keeps the graph small.
_UNROLL_TAPS = 16


def _apply(x: jax.Array, axis: int, plan: _Plan, store_dtype: Any) -> jax.Array:
    if plan.kind == "copy":
        return x
    assert plan.idx is not None
    if plan.kind == "take":
        return jnp.take(x, plan.idx, axis=axis, mode="clip")
    n_out, k = plan.idx.shape
    tail = (1,) * (x.ndim - axis - 1)
    w = None
    if plan.w is not None:
        w = plan.w
        if plan.kind == "float" and store_dtype is not None:
            w = np.asarray(w, dtype=store_dtype)  # torch stores the weights in the input's dtype
        w = np.asarray(w).astype(x.dtype)
    zero = jnp.zeros((), x.dtype)
    if k <= _UNROLL_TAPS:
        y = None
        for j in range(k):  # summed in tap order, as torch does
            valid = None if plan.valid is None else plan.valid[:, j]
            if valid is not None and not valid.any():
                continue
            g = jnp.take(x, plan.idx[:, j], axis=axis, mode="clip")
            if valid is not None and not valid.all():
                # a padding tap adds nothing (not 0 * x, which is NaN for an infinite x)
                g = jnp.where(valid.reshape((n_out, *tail)), g, zero)
            if w is not None:
                g = g * w[:, j].reshape((n_out, *tail))
            y = g if y is None else y + g
        assert y is not None
    else:
        g = jnp.take(x, plan.idx.reshape(-1), axis=axis, mode="clip")
        g = g.reshape((*x.shape[:axis], n_out, k, *x.shape[axis + 1:]))
        if plan.valid is not None and not plan.valid.all():
            g = jnp.where(plan.valid.reshape((n_out, k, *tail)), g, zero)
        if w is not None:
            g = g * w.reshape((n_out, k, *tail))
        y = g.sum(axis=axis + 1, dtype=g.dtype)
    if plan.div is not None:
        y = y / jnp.asarray(plan.div, dtype=y.dtype).reshape((n_out, *tail))
    return y


# A gradient through the per-tap gathers would be JAX's transpose, one scatter-add per tap,
# which XLA:CPU runs several times slower than gathers. Each dim's resampling is a static
# sparse linear map, so its transpose is gathered instead: a reverse table lists, for each
# input position, the outputs (and weights) that read it.
_MAX_REVERSE_TAPS = 32


def _reverse_table(plan: _Plan, n_in: int, w: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """(outputs, weights, mask), each (n_in, R): input i receives ``sum_r w * g[outputs]`` where mask."""
    assert plan.idx is not None
    idx = plan.idx.reshape(plan.idx.shape[0], -1)  # a take plan has one tap
    n_out, k = idx.shape
    valid = np.ones((n_out, k), bool) if plan.valid is None else plan.valid
    # every valid (output, tap), grouped by the input it reads (the forward clips indices too),
    # kept in row-major (output, tap) order within each group by the stable sort
    o_grid, j_grid = np.indices((n_out, k))
    sel = valid.ravel()
    ii = np.clip(idx, 0, n_in - 1).ravel()[sel]
    order = np.argsort(ii, kind="stable")
    ii, oo, jj = ii[order], o_grid.ravel()[sel][order], j_grid.ravel()[sel][order]
    counts = np.bincount(ii, minlength=n_in)
    r = max(1, int(counts.max(initial=0)))
    q = np.arange(ii.size) - (np.cumsum(counts) - counts)[ii]  # slot within the group
    outs = np.zeros((n_in, r), np.int32)
    mask = np.zeros((n_in, r), bool)
    outs[ii, q], mask[ii, q] = oo, True
    coef = None
    if w is not None:
        coef = np.zeros((n_in, r), w.dtype)
        coef[ii, q] = w[oo, jj]
    return outs, coef, mask


def _weights(plan: _Plan, dtype: Any, store_dtype: Any) -> np.ndarray | None:
    if plan.w is None:
        return None
    w = plan.w
    if plan.kind == "float" and store_dtype is not None:
        w = np.asarray(w, dtype=store_dtype)
    return np.asarray(w).astype(dtype)


def _apply_transpose(g: jax.Array, axis: int, plan: _Plan, table: tuple[np.ndarray, np.ndarray | None, np.ndarray]) -> jax.Array:
    """The transpose of :func:`_apply` for ``plan`` (a float or take plan), by gathers."""
    outs, coef, mask = table
    n_in = outs.shape[0]
    tail = (1,) * (g.ndim - axis - 1)
    if plan.div is not None:
        g = g / jnp.asarray(plan.div, dtype=g.dtype).reshape((-1, *tail))
    zero = jnp.zeros((), g.dtype)
    dx = None
    for r in range(outs.shape[1]):
        t = jnp.take(g, outs[:, r], axis=axis, mode="clip")
        if coef is not None:
            t = t * coef[:, r].reshape((n_in, *tail))
        if not mask[:, r].all():
            t = jnp.where(mask[:, r].reshape((n_in, *tail)), t, zero)  # a select: no 0 * NaN
        dx = t if dx is None else dx + t
    assert dx is not None
    return dx


def _apply_diff(x: jax.Array, axis: int, plan: _Plan, store_dtype: Any) -> jax.Array:
    """:func:`_apply`, with a custom JVP whose reverse-mode transpose is gathers (see above)."""
    if plan.kind not in ("float", "take") or not jnp.issubdtype(x.dtype, jnp.floating):
        return _apply(x, axis, plan, store_dtype)
    table = _reverse_table(plan, x.shape[axis], _weights(plan, x.dtype, store_dtype) if plan.kind == "float" else None)
    if table[0].shape[1] > _MAX_REVERSE_TAPS:
        return _apply(x, axis, plan, store_dtype)

    def transpose(g: jax.Array) -> jax.Array:
        return _apply_transpose(g, axis, plan, table)

    @jax.custom_jvp
    def f(v: jax.Array) -> jax.Array:
        return _apply(v, axis, plan, store_dtype)

    @f.defjvp
    def f_jvp(primals: tuple[jax.Array], tangents: tuple[jax.Array]) -> tuple[jax.Array, jax.Array]:
        y = f(primals[0])
        # The tangent is the map itself, written as the transpose of the gather form:
        # reverse mode transposes it back into those gathers.
        (t,) = jax.linear_transpose(transpose, jax.ShapeDtypeStruct(y.shape, y.dtype))(tangents[0])
        return y, t

    # The gather-form gradient was chosen by CPU measurements: elsewhere autodiff's (jaxconv.policy).
    return policy.by_platform(f, lambda v: _apply(v, axis, plan, store_dtype), x)


def _resize_impl(x: jax.Array, spec: ResizeSpec) -> jax.Array:
    plans = _plans(spec)
    n = len(plans)
    dtype = x.dtype
    if spec.dtype == "uint8" and spec.mode not in ("nearest", "nearest-exact"):
        y = x.astype(jnp.int32)
        for d in reversed(range(n)):
            p = plans[d]
            if p.kind == "copy":
                continue
            y = _apply(y, y.ndim - n + d, p, None)
            # one uint8 pass: round half up via the bias, shift, saturate (torch's fixed-point trick)
            y = jnp.clip((y + (1 << (p.precision - 1))) >> p.precision, 0, 255)
        return y.astype(dtype)
    if spec.mode in ("nearest", "nearest-exact"):
        for d in reversed(range(n)):
            x = _apply_diff(x, x.ndim - n + d, plans[d], None)
        return x
    compute = jnp.float64 if spec.dtype == "float64" else jnp.float32
    store = None
    if spec.mode != "area" and not spec.antialias and spec.dtype in ("float16", "bfloat16"):
        store = jnp.dtype(dtype)
    y = x.astype(compute)
    for d in reversed(range(n)):  # last spatial dim first, as torch's separable kernels
        y = _apply_diff(y, y.ndim - n + d, plans[d], store)
    return y.astype(dtype)


_resize_jit = eager_jit(_resize_impl, static_argnums=(1,))


def _interpolate(fn: str, input: Any, size: Size | None, scale_factor: ScaleFactor | None, mode: str,
                 align_corners: bool | None, recompute_scale_factor: bool | None, antialias: bool) -> jax.Array:
    input = as_array(fn, "input", input)
    spec = resize_spec(fn, input, size, scale_factor, mode, align_corners, recompute_scale_factor, antialias)
    if spec.in_spatial == spec.out_spatial and all(p.kind == "copy" for p in _plans(spec)):
        return input
    if 0 in spec.out_spatial or 0 in input.shape[:2]:  # an empty result (torch's, see _resize_spec_cached)
        return jnp.zeros(tuple(input.shape[:2]) + spec.out_spatial, input.dtype)
    return _resize_jit(input, spec)


def interpolate(input: jax.Array, size: Size | None = None, scale_factor: ScaleFactor | None = None, mode: str = "nearest",
                align_corners: bool | None = None, recompute_scale_factor: bool | None = None, antialias: bool = False
                ) -> jax.Array:
    """Resize the spatial dims of ``(N, C, L)``, ``(N, C, H, W)`` or ``(N, C, D, H, W)``, exactly as torch.

    Args:
      input: a batched array; the number of spatial dims is ``input.ndim - 2`` (the
        batch dim is required, as in torch). float16/bfloat16/float32/float64; uint8
        for ``nearest``, ``nearest-exact``, ``bilinear``, ``bicubic`` and ``lanczos``
        (torch's int16 fixed-point arithmetic, bit-exact).
      size: output spatial size, an int or one int per spatial dim.
      scale_factor: a number or one per spatial dim; exactly one of ``size`` and
        ``scale_factor`` must be given.
      mode: ``"nearest"`` (torch's legacy rule ``src = floor(i * in / out)``),
        ``"nearest-exact"`` (``src = floor((i + 0.5) * in / out)``), ``"linear"``
        (3-d input), ``"bilinear"`` (4-d), ``"trilinear"`` (5-d), ``"bicubic"`` (4-d,
        ``a = -0.75``, border taps clamped), ``"area"`` (adaptive average pooling) or
        ``"lanczos"`` (4-d, needs ``antialias=True``).
      align_corners: for the linear modes and bicubic: map the corner pixel centres
        onto each other, ``src = i * (in - 1) / (out - 1)``; otherwise (default)
        ``src = (i + 0.5) * scale - 0.5``. Must be None for nearest, nearest-exact and area.
      recompute_scale_factor: with ``scale_factor``: True makes the kernel use
        ``in / out`` (the recomputed ratio); None or False make it use
        ``1 / scale_factor`` as given (torch's rule; ``area`` always recomputes).
      antialias: for bilinear, bicubic and lanczos on 4-d input: widen the filter by
        the downsampling factor (Pillow's resampling, as torch; bicubic then uses
        ``a = -0.5``).

    Returns:
      ``(N, C, *out)`` with ``out = size`` or ``out = floor(in * scale_factor)`` per
      spatial dim, in the input's dtype.

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxconv
      >>> x = jnp.arange(4.0).reshape(1, 1, 2, 2)
      >>> jaxconv.interpolate(x, scale_factor=2, mode="nearest")[0, 0]
      Array([[0., 0., 1., 1.],
             [0., 0., 1., 1.],
             [2., 2., 3., 3.],
             [2., 2., 3., 3.]], dtype=float32)
      >>> jaxconv.interpolate(x, size=3, mode="bilinear", align_corners=True)[0, 0]
      Array([[0. , 0.5, 1. ],
             [1. , 1.5, 2. ],
             [2. , 2.5, 3. ]], dtype=float32)
    """
    return _interpolate("interpolate", input, size, scale_factor, mode, align_corners, recompute_scale_factor, antialias)


def upsample(input: jax.Array, size: Size | None = None, scale_factor: ScaleFactor | None = None, mode: str = "nearest",
             align_corners: bool | None = None) -> jax.Array:
    """torch's deprecated ``F.upsample``: :func:`interpolate` with the same arguments.

    Returns:
      As :func:`interpolate`: ``out = size`` or ``floor(in * scale_factor)``.

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxconv
      >>> jaxconv.upsample(jnp.ones((1, 16, 28, 28)), scale_factor=2).shape
      (1, 16, 56, 56)
    """
    return _interpolate("upsample", input, size, scale_factor, mode, align_corners, None, False)


def upsample_nearest(input: jax.Array, size: Size | None = None, scale_factor: ScaleFactor | None = None) -> jax.Array:
    """torch's deprecated ``F.upsample_nearest``: ``interpolate(input, size, scale_factor, mode="nearest")``.

    Returns:
      ``(N, C, *out)``, ``out = size`` or ``floor(in * scale_factor)``.

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxconv
      >>> jaxconv.upsample_nearest(jnp.array([[[1.0, 2.0]]]), scale_factor=2)
      Array([[[1., 1., 2., 2.]]], dtype=float32)
    """
    return _interpolate("upsample_nearest", input, size, scale_factor, "nearest", None, None, False)


def upsample_bilinear(input: jax.Array, size: Size | None = None, scale_factor: ScaleFactor | None = None) -> jax.Array:
    """torch's deprecated ``F.upsample_bilinear``: bilinear with ``align_corners=True`` on 4-d input.

    Returns ``(N, C, H_out, W_out)``, the output size ``size`` or ``floor(in * scale_factor)`` per dim.

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxconv
      >>> jaxconv.upsample_bilinear(jnp.array([[[[0.0, 3.0]]]]), size=(1, 4))
      Array([[[[0., 1., 2., 3.]]]], dtype=float32)
    """
    return _interpolate("upsample_bilinear", input, size, scale_factor, "bilinear", True, None, False)
