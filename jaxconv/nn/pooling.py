"""Parameter-free window layers with ``torch.nn``'s constructors: pooling, unpooling,
upsampling, pixel shuffle, unfold/fold and padding.

Each layer validates its arguments at construction and calls the jaxconv function
of the same name (``MaxPool2d`` -> :func:`jaxconv.max_pool2d`, ...).
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from typing import Any

import jax
from flax import nnx

from jaxconv import pool
from jaxconv.nn.layers import RankedLayer
from jaxconv.padding import pad
from jaxconv.patches import fold, pixel_shuffle, pixel_unshuffle, unfold
from jaxconv.resize import check_resize_args, interpolate
from jaxconv.shapes import (
    IntOrSeq,
    Padding,
    arg_error,
    canonicalize,
    check_bool,
    check_float,
    check_int,
    check_padding,
    check_pool_window,
    freeze,
    from_torch_pad,
    is_int,
    window_args,
)

__all__ = [
    "AdaptiveAvgPool1d",
    "AdaptiveAvgPool2d",
    "AdaptiveAvgPool3d",
    "AdaptiveMaxPool1d",
    "AdaptiveMaxPool2d",
    "AdaptiveMaxPool3d",
    "AvgPool1d",
    "AvgPool2d",
    "AvgPool3d",
    "CircularPad1d",
    "CircularPad2d",
    "CircularPad3d",
    "ConstantPad1d",
    "ConstantPad2d",
    "ConstantPad3d",
    "Fold",
    "LPPool1d",
    "LPPool2d",
    "LPPool3d",
    "MaxPool1d",
    "MaxPool2d",
    "MaxPool3d",
    "MaxUnpool1d",
    "MaxUnpool2d",
    "MaxUnpool3d",
    "PixelShuffle",
    "PixelUnshuffle",
    "ReflectionPad1d",
    "ReflectionPad2d",
    "ReflectionPad3d",
    "ReplicationPad1d",
    "ReplicationPad2d",
    "ReplicationPad3d",
    "Unfold",
    "Upsample",
    "UpsamplingBilinear2d",
    "UpsamplingNearest2d",
    "ZeroPad1d",
    "ZeroPad2d",
    "ZeroPad3d",
]

def _by_rank(name: str) -> dict[int, Callable[..., Any]]:
    """``{1: pool.<name>1d, 2: ..., 3: ...}``: the functions a layer of each rank calls."""
    return {n: getattr(pool, f"{name}{n}d") for n in (1, 2, 3)}


_MAX_POOL, _AVG_POOL, _LP_POOL = _by_rank("max_pool"), _by_rank("avg_pool"), _by_rank("lp_pool")
_ADAPTIVE_AVG, _ADAPTIVE_MAX, _MAX_UNPOOL = _by_rank("adaptive_avg_pool"), _by_rank("adaptive_max_pool"), _by_rank("max_unpool")


# ---------------------------------------------------------------------------------------
# Pooling
# ---------------------------------------------------------------------------------------

class _MaxPoolNd(RankedLayer):
    def __init__(self, kernel_size: IntOrSeq, stride: IntOrSeq | None = None, padding: Padding = 0, dilation: IntOrSeq = 1,
                 return_indices: bool = False, ceil_mode: bool = False) -> None:
        fn = type(self).__name__
        self.kernel_size, self.stride, self.padding = check_pool_window(fn, self.n, kernel_size, stride, padding, dilation)
        self.dilation = canonicalize(dilation, self.n, "dilation", fn, min_value=1)
        self.return_indices = check_bool(fn, "return_indices", return_indices)
        self.ceil_mode = check_bool(fn, "ceil_mode", ceil_mode)

    def __call__(self, input: jax.Array) -> Any:
        return _MAX_POOL[self.n](input, self.kernel_size, self.stride, self.padding, self.dilation,
                                                 ceil_mode=self.ceil_mode, return_indices=self.return_indices)


def _pool_doc(name: str, fn: str, args: str, example: str, shape: str, out: str) -> str:
    return f"""``torch.nn.{name}``: a layer over :func:`jaxconv.{fn}`.

    Args:
      {args}

    ``padding`` takes torch's ints and jaxconv's vocabulary (per-side pairs, ``"same"``).
    Output size per dim: ``floor_or_ceil((in + lo + hi - d*(k-1) - 1)/s) + 1``.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxconv import nn
      >>> nn.{example}(jnp.ones({shape})).shape
      {out}
    """


_MAX_ARGS = "kernel_size, stride (default kernel_size), padding, dilation, return_indices, ceil_mode: as torch."


class MaxPool1d(_MaxPoolNd, n=1, doc=_pool_doc("MaxPool1d", "max_pool1d", _MAX_ARGS, "MaxPool1d(2)", "(1, 3, 9)", "(1, 3, 4)")): ...


class MaxPool2d(_MaxPoolNd, n=2, doc=_pool_doc("MaxPool2d", "max_pool2d", _MAX_ARGS, "MaxPool2d(2, ceil_mode=True)", "(1, 3, 9, 9)", "(1, 3, 5, 5)")): ...


class MaxPool3d(_MaxPoolNd, n=3, doc=_pool_doc("MaxPool3d", "max_pool3d", _MAX_ARGS, "MaxPool3d(2)", "(1, 3, 4, 8, 8)", "(1, 3, 2, 4, 4)")): ...


class _AvgPoolNd(RankedLayer):
    def __init__(self, kernel_size: IntOrSeq, stride: IntOrSeq | None = None, padding: Padding = 0, ceil_mode: bool = False,
                 count_include_pad: bool = True, divisor_override: int | None = None) -> None:
        fn = type(self).__name__
        self.kernel_size, self.stride, self.padding = check_pool_window(fn, self.n, kernel_size, stride, padding)
        self.ceil_mode = check_bool(fn, "ceil_mode", ceil_mode)
        self.count_include_pad = check_bool(fn, "count_include_pad", count_include_pad)
        if divisor_override is not None:
            if not is_int(divisor_override) or operator.index(divisor_override) == 0:
                raise arg_error(fn, "divisor_override", "must be a non-zero int or None", divisor_override)
            divisor_override = operator.index(divisor_override)
        self.divisor_override = divisor_override

    def __call__(self, input: jax.Array) -> jax.Array:
        f = _AVG_POOL[self.n]
        if self.n == 1:
            return f(input, self.kernel_size, self.stride, self.padding, self.ceil_mode, self.count_include_pad)
        return f(input, self.kernel_size, self.stride, self.padding, self.ceil_mode, self.count_include_pad,
                 self.divisor_override)


_AVG_ARGS = "kernel_size, stride (default kernel_size), padding, ceil_mode, count_include_pad, divisor_override: as torch."


class AvgPool1d(_AvgPoolNd):
    n = 1
    __doc__ = _pool_doc("AvgPool1d", "avg_pool1d", _AVG_ARGS.replace(", divisor_override", "") +
                        " (torch's AvgPool1d has no divisor_override; passing one is an error).",
                        "AvgPool1d(3, 2, 1)", "(1, 3, 9)", "(1, 3, 5)")

    def __init__(self, kernel_size: IntOrSeq, stride: IntOrSeq | None = None, padding: Padding = 0, ceil_mode: bool = False,
                 count_include_pad: bool = True) -> None:
        super().__init__(kernel_size, stride, padding, ceil_mode, count_include_pad)


class AvgPool2d(_AvgPoolNd, n=2, doc=_pool_doc("AvgPool2d", "avg_pool2d", _AVG_ARGS, "AvgPool2d(2, stride=2)", "(1, 6, 28, 28)", "(1, 6, 14, 14)")): ...


class AvgPool3d(_AvgPoolNd, n=3, doc=_pool_doc("AvgPool3d", "avg_pool3d", _AVG_ARGS, "AvgPool3d(2)", "(1, 3, 4, 8, 8)", "(1, 3, 2, 4, 4)")): ...


class _LPPoolNd(RankedLayer):
    def __init__(self, norm_type: float, kernel_size: IntOrSeq, stride: IntOrSeq | None = None, ceil_mode: bool = False) -> None:
        fn = type(self).__name__
        # What lp_pool accepts: any non-zero real power, +-inf included (a max pool of |x|).
        if isinstance(norm_type, bool) or not isinstance(norm_type, (int, float)) or norm_type == 0 or norm_type != norm_type:
            raise arg_error(fn, "norm_type", "must be a non-zero real number (inf allowed)", norm_type,
                            exc=ValueError if isinstance(norm_type, (int, float)) else TypeError)
        self.norm_type = float(norm_type)
        self.kernel_size, self.stride, self.padding = check_pool_window(fn, self.n, kernel_size, stride, 0)
        self.ceil_mode = check_bool(fn, "ceil_mode", ceil_mode)

    def __call__(self, input: jax.Array) -> jax.Array:
        return _LP_POOL[self.n](input, self.norm_type, self.kernel_size, self.stride, self.ceil_mode)


_LP_ARGS = "norm_type (p > 0), kernel_size, stride (default kernel_size), ceil_mode: as torch."


class LPPool1d(_LPPoolNd, n=1, doc=_pool_doc("LPPool1d", "lp_pool1d", _LP_ARGS, "LPPool1d(2, 3)", "(1, 3, 9)", "(1, 3, 3)")): ...


class LPPool2d(_LPPoolNd, n=2, doc=_pool_doc("LPPool2d", "lp_pool2d", _LP_ARGS, "LPPool2d(2, 2)", "(1, 3, 8, 8)", "(1, 3, 4, 4)")): ...


class LPPool3d(_LPPoolNd, n=3, doc=_pool_doc("LPPool3d", "lp_pool3d", _LP_ARGS, "LPPool3d(2, 2)", "(1, 3, 4, 8, 8)", "(1, 3, 2, 4, 4)")): ...


def _output_size(fn: str, output_size: Any, n: int) -> Any:
    items = (output_size,) * n if output_size is None or is_int(output_size) else output_size
    if isinstance(items, (str, bytes)) or not isinstance(items, Sequence) or len(items) != n:
        raise arg_error(fn, "output_size", f"must be an int or {n} entries (ints >= 1 or None)", output_size,
                        exc=TypeError if not isinstance(items, Sequence) else ValueError)
    for v in items:
        if v is not None and (not is_int(v) or int(v) < 1):
            raise arg_error(fn, "output_size", "entries must be ints >= 1 or None (keep the input size)", output_size)
    if is_int(output_size):
        return operator.index(output_size)  # type: ignore[arg-type]
    return tuple(None if v is None else operator.index(v) for v in items)


class _AdaptiveAvgPoolNd(RankedLayer):
    def __init__(self, output_size: IntOrSeq | None) -> None:
        self.output_size = _output_size(type(self).__name__, output_size, self.n)

    def __call__(self, input: jax.Array) -> jax.Array:
        return _ADAPTIVE_AVG[self.n](input, self.output_size)


class _AdaptiveMaxPoolNd(RankedLayer):
    def __init__(self, output_size: IntOrSeq | None, return_indices: bool = False) -> None:
        self.output_size = _output_size(type(self).__name__, output_size, self.n)
        self.return_indices = check_bool(type(self).__name__, "return_indices", return_indices)

    def __call__(self, input: jax.Array) -> Any:
        return _ADAPTIVE_MAX[self.n](input, self.output_size, self.return_indices)


_ADA_ARGS = "output_size: an int or one entry per spatial dim (None keeps that input size)."


class AdaptiveAvgPool1d(_AdaptiveAvgPoolNd, n=1, doc=_pool_doc("AdaptiveAvgPool1d", "adaptive_avg_pool1d", _ADA_ARGS, "AdaptiveAvgPool1d(3)", "(1, 2, 7)", "(1, 2, 3)")): ...


class AdaptiveAvgPool2d(_AdaptiveAvgPoolNd, n=2, doc=_pool_doc("AdaptiveAvgPool2d", "adaptive_avg_pool2d", _ADA_ARGS, "AdaptiveAvgPool2d((1, 1))", "(1, 2, 7, 7)", "(1, 2, 1, 1)")): ...


class AdaptiveAvgPool3d(_AdaptiveAvgPoolNd, n=3, doc=_pool_doc("AdaptiveAvgPool3d", "adaptive_avg_pool3d", _ADA_ARGS, "AdaptiveAvgPool3d(2)", "(1, 2, 4, 5, 5)", "(1, 2, 2, 2, 2)")): ...


class AdaptiveMaxPool1d(_AdaptiveMaxPoolNd, n=1, doc=_pool_doc("AdaptiveMaxPool1d", "adaptive_max_pool1d", _ADA_ARGS + " return_indices: as torch.", "AdaptiveMaxPool1d(3)", "(1, 2, 7)", "(1, 2, 3)")): ...


class AdaptiveMaxPool2d(_AdaptiveMaxPoolNd, n=2, doc=_pool_doc("AdaptiveMaxPool2d", "adaptive_max_pool2d", _ADA_ARGS + " return_indices: as torch.", "AdaptiveMaxPool2d((2, None))", "(1, 2, 7, 5)", "(1, 2, 2, 5)")): ...


class AdaptiveMaxPool3d(_AdaptiveMaxPoolNd, n=3, doc=_pool_doc("AdaptiveMaxPool3d", "adaptive_max_pool3d", _ADA_ARGS + " return_indices: as torch.", "AdaptiveMaxPool3d(2)", "(1, 2, 4, 5, 5)", "(1, 2, 2, 2, 2)")): ...


def _unpool_doc(n: int) -> str:
    shape = {1: "(1, 2, 8)", 2: "(1, 2, 8, 8)", 3: "(1, 2, 4, 4, 4)"}[n]
    return f"""``torch.nn.MaxUnpool{n}d``: a layer over :func:`jaxconv.max_unpool{n}d`.

    Args:
      kernel_size, stride (default kernel_size), padding: those of the max pool being inverted.

    Call: ``layer(input, indices, output_size=None)``, ``indices`` from a pool with
    ``return_indices=True``. Output size per dim: ``(in - 1)*s - 2*p + k`` unless ``output_size``.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxconv import nn
      >>> y, idx = nn.MaxPool{n}d(2, return_indices=True)(jnp.arange(float(jnp.prod(jnp.array({shape})))).reshape{shape})
      >>> nn.MaxUnpool{n}d(2)(y, idx).shape
      {shape}
    """


class _MaxUnpoolNd(RankedLayer):
    def __init__(self, kernel_size: IntOrSeq, stride: IntOrSeq | None = None, padding: IntOrSeq = 0) -> None:
        fn = type(self).__name__
        self.kernel_size, self.stride, _ = check_pool_window(fn, self.n, kernel_size, stride, 0)
        self.padding = canonicalize(padding, self.n, "padding", fn, min_value=0)

    def __call__(self, input: jax.Array, indices: jax.Array, output_size: Sequence[int] | None = None) -> jax.Array:
        return _MAX_UNPOOL[self.n](input, indices, self.kernel_size, self.stride, self.padding, output_size)


class MaxUnpool1d(_MaxUnpoolNd, n=1, doc=_unpool_doc(1)): ...


class MaxUnpool2d(_MaxUnpoolNd, n=2, doc=_unpool_doc(2)): ...


class MaxUnpool3d(_MaxUnpoolNd, n=3, doc=_unpool_doc(3)): ...


# --- upsampling, pixel shuffle, unfold/fold (layers over jaxconv.resize and jaxconv.patches) ---

class Upsample(nnx.Module):
    """``torch.nn.Upsample``: a layer over :func:`jaxconv.interpolate`.

    Args:
      size: output spatial size (int or per dim), or
      scale_factor: multiplier (float or per dim); exactly one of the two.
      mode: ``"nearest"`` (default), ``"nearest-exact"``, ``"linear"``, ``"bilinear"``,
        ``"bicubic"``, ``"trilinear"``, ``"area"`` (and jaxconv's ``"lanczos"``).
      align_corners: only for the linear/cubic modes, as torch.
      recompute_scale_factor: as torch.

    Unlike torch, which checks ``size``/``scale_factor``/``align_corners`` in ``forward``,
    the constructor rejects an invalid combination.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxconv import nn
      >>> nn.Upsample(scale_factor=2, mode="bilinear")(jnp.ones((1, 3, 4, 5))).shape
      (1, 3, 8, 10)
    """

    def __init__(self, size: IntOrSeq | None = None, scale_factor: float | Sequence[float] | None = None, mode: str = "nearest",
                 align_corners: bool | None = None, recompute_scale_factor: bool | None = None) -> None:
        fn = type(self).__name__
        # interpolate's own input-independent rules (mode, align_corners, size vs scale_factor), then the entries.
        check_resize_args(fn, size, scale_factor, mode, align_corners, recompute_scale_factor)
        if size is not None:
            seq = size if isinstance(size, Sequence) and not isinstance(size, str) else (size,)
            if not all(is_int(v) and int(v) >= 1 for v in seq) or not seq:
                raise arg_error(fn, "size", "must be an int >= 1 or a sequence of them", size)
        if scale_factor is not None:
            seq = scale_factor if isinstance(scale_factor, Sequence) and not isinstance(scale_factor, str) else (scale_factor,)
            if not seq:
                raise arg_error(fn, "scale_factor", "must be a positive number or a sequence of them", scale_factor)
            for v in seq:
                check_float(fn, "scale_factor", v, lo=0.0, lo_open=True)
        self.size = freeze(size)
        self.scale_factor = freeze(scale_factor)
        self.mode = mode
        self.align_corners = None if align_corners is None else bool(align_corners)
        self.recompute_scale_factor = recompute_scale_factor

    def __call__(self, input: jax.Array) -> jax.Array:
        return interpolate(input, self.size, self.scale_factor, self.mode, self.align_corners,
                                            self.recompute_scale_factor)


class UpsamplingNearest2d(Upsample):
    """``torch.nn.UpsamplingNearest2d``: ``Upsample(size, scale_factor, mode="nearest")``.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxconv import nn
      >>> nn.UpsamplingNearest2d(scale_factor=2)(jnp.ones((1, 3, 4, 5))).shape
      (1, 3, 8, 10)
    """

    def __init__(self, size: IntOrSeq | None = None, scale_factor: float | Sequence[float] | None = None) -> None:
        super().__init__(size, scale_factor, mode="nearest")


class UpsamplingBilinear2d(Upsample):
    """``torch.nn.UpsamplingBilinear2d``: ``Upsample(size, scale_factor, mode="bilinear", align_corners=True)``.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxconv import nn
      >>> nn.UpsamplingBilinear2d(size=(7, 9))(jnp.ones((1, 3, 4, 5))).shape
      (1, 3, 7, 9)
    """

    def __init__(self, size: IntOrSeq | None = None, scale_factor: float | Sequence[float] | None = None) -> None:
        super().__init__(size, scale_factor, mode="bilinear", align_corners=True)


class _Shuffle(nnx.Module):
    _f: Callable[[jax.Array, int], jax.Array]
    factor: int

    def __call__(self, input: jax.Array) -> jax.Array:
        return type(self)._f(input, self.factor)


class PixelShuffle(_Shuffle):
    """``torch.nn.PixelShuffle``: ``(*, C*r*r, H, W) -> (*, C, H*r, W*r)`` via :func:`jaxconv.pixel_shuffle`.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxconv import nn
      >>> nn.PixelShuffle(2)(jnp.ones((1, 12, 3, 4))).shape
      (1, 3, 6, 8)
      >>> nn.PixelShuffle(2)(jnp.arange(4.).reshape(1, 4, 1, 1))[0, 0]   # channel c -> offset (c // 2, c % 2)
      Array([[0., 1.],
             [2., 3.]], dtype=float32)
    """

    def __init__(self, upscale_factor: int) -> None:
        self.upscale_factor = self.factor = check_int("PixelShuffle", "upscale_factor", upscale_factor, 1)

    _f = staticmethod(pixel_shuffle)


class PixelUnshuffle(_Shuffle):
    """``torch.nn.PixelUnshuffle``: ``(*, C, H*r, W*r) -> (*, C*r*r, H, W)`` via :func:`jaxconv.pixel_unshuffle`,
    the inverse of :class:`PixelShuffle`.

    >>> import jax.numpy as jnp
    >>> from jaxconv import nn
    >>> nn.PixelUnshuffle(2)(jnp.ones((1, 3, 6, 8))).shape
    (1, 12, 3, 4)
    """

    def __init__(self, downscale_factor: int) -> None:
        self.downscale_factor = self.factor = check_int("PixelUnshuffle", "downscale_factor", downscale_factor, 1)

    _f = staticmethod(pixel_unshuffle)


def _check_patches(fn: str, kernel_size: IntOrSeq, dilation: IntOrSeq, padding: Padding, stride: IntOrSeq) -> tuple[Any, ...]:
    k, s, d = window_args(fn, 2, kernel_size, stride, dilation)
    return k, d, check_padding(fn, padding, 2, k, s, d), s


class Unfold(nnx.Module):
    """``torch.nn.Unfold``: sliding ``(N, C, H, W)`` patches -> ``(N, C*kH*kW, L)`` via :func:`jaxconv.unfold`.

    Args:
      kernel_size, dilation, padding, stride: as torch (padding also takes jaxconv's vocabulary).

    ``L = prod(floor((in + lo + hi - d*(k-1) - 1)/s) + 1)``.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxconv import nn
      >>> nn.Unfold(3, padding=1)(jnp.ones((1, 2, 4, 5))).shape
      (1, 18, 20)
    """

    def __init__(self, kernel_size: IntOrSeq, dilation: IntOrSeq = 1, padding: Padding = 0, stride: IntOrSeq = 1) -> None:
        self.kernel_size, self.dilation, self.padding, self.stride = _check_patches("Unfold", kernel_size, dilation, padding, stride)

    def __call__(self, input: jax.Array) -> jax.Array:
        return unfold(input, self.kernel_size, self.dilation, self.padding, self.stride)


class Fold(nnx.Module):
    """``torch.nn.Fold``: sum ``(N, C*kH*kW, L)`` patches back into ``(N, C, *output_size)`` via :func:`jaxconv.fold`.

    Args:
      output_size: spatial output size (int or 2 ints).
      kernel_size, dilation, padding, stride: as torch.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxconv import nn
      >>> nn.Fold((4, 5), 3, padding=1)(jnp.ones((1, 18, 20))).shape
      (1, 2, 4, 5)
    """

    def __init__(self, output_size: IntOrSeq, kernel_size: IntOrSeq, dilation: IntOrSeq = 1, padding: Padding = 0,
                 stride: IntOrSeq = 1) -> None:
        self.output_size = canonicalize(output_size, 2, "output_size", "Fold", min_value=1)
        self.kernel_size, self.dilation, self.padding, self.stride = _check_patches("Fold", kernel_size, dilation, padding, stride)

    def __call__(self, input: jax.Array) -> jax.Array:
        return fold(input, self.output_size, self.kernel_size, self.dilation, self.padding, self.stride)


# ---------------------------------------------------------------------------------------
# Padding layers
# ---------------------------------------------------------------------------------------

class _PadNd(nnx.Module):
    n: int = 0
    mode: str = "constant"

    def __init__(self, padding: IntOrSeq | Sequence[Sequence[int]], value: float = 0.0) -> None:
        fn, n = type(self).__name__, self.n
        if is_int(padding):
            pads = ((int(padding),) * 2,) * n  # type: ignore[arg-type]
        elif isinstance(padding, Sequence) and not isinstance(padding, str) and all(is_int(v) for v in padding):
            if len(padding) != 2 * n:
                raise arg_error(fn, "padding", f"must be an int, {2 * n} ints in torch's order "
                                f"(last dim first: left, right, ...), or {n} (lo, hi) pairs in array order", padding)
            pads = from_torch_pad(padding)  # type: ignore[arg-type]
        elif isinstance(padding, Sequence) and not isinstance(padding, str) and len(padding) == n and all(
                isinstance(p, Sequence) and not isinstance(p, str) and len(p) == 2 and all(is_int(v) for v in p)
                for p in padding):
            pads = tuple((int(lo), int(hi)) for lo, hi in padding)  # type: ignore[misc, union-attr]
        else:
            raise arg_error(fn, "padding", f"must be an int, {2 * n} ints in torch's order (last dim first), "
                            f"or {n} (lo, hi) pairs in array order", padding, exc=TypeError)
        if any(v < 0 for p in pads for v in p):
            # torch crops with negative pads; jaxconv.pad does not (slice the array instead).
            raise arg_error(fn, "padding", "must be >= 0 on every side (negative, cropping pads are not supported)", padding)
        self.pads = pads
        # torch's flat, last-dim-first form, as torch's module stores it.
        self.padding = tuple(v for lo_hi in reversed(pads) for v in lo_hi)
        self.value = check_float(fn, "value", value) if self.mode == "constant" else None

    def __call__(self, input: jax.Array) -> jax.Array:
        return pad(input, self.pads, self.mode, self.value)


def _pad_doc(name: str, n: int, mode: str, extra: str = "") -> str:
    flat = {1: "(left, right)", 2: "(left, right, top, bottom)", 3: "(left, right, top, bottom, front, back)"}[n]
    shape = {1: "(1, 2, 5)", 2: "(1, 2, 4, 5)", 3: "(1, 2, 3, 4, 5)"}[n]
    out = {1: "(1, 2, 8)", 2: "(1, 2, 5, 8)", 3: "(1, 2, 3, 5, 8)"}[n]
    arg = {1: "(1, 2)", 2: "(1, 2, 0, 1)", 3: "(1, 2, 0, 1, 0, 0)"}[n]
    return f"""``torch.nn.{name}``: pad the last {n} dim(s) in ``{mode}`` mode via :func:`jaxconv.pad`.

    Args:
      padding: an int, torch's flat tuple ``{flat}`` (last dim first), or
        {n} ``(lo, hi)`` pairs in array order (jaxconv's form). Negative (cropping)
        pads are not supported.{extra}

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxconv import nn
      >>> nn.{name}({arg}{', 0.5' if name.startswith('Constant') else ''})(jnp.ones({shape})).shape
      {out}
    """


def _make_pad(name: str, n: int, mode: str) -> type:
    attrs: dict[str, Any] = {"n": n, "mode": mode, "__module__": __name__, "__qualname__": name}
    if name.startswith("Constant"):
        attrs["__doc__"] = _pad_doc(name, n, mode, "\n      value: the fill value.")

        def init_constant(self: Any, padding: IntOrSeq | Sequence[Sequence[int]], value: float) -> None:
            _PadNd.__init__(self, padding, value)

        attrs["__init__"] = init_constant
    else:
        attrs["__doc__"] = _pad_doc(name, n, mode)

        def init(self: Any, padding: IntOrSeq | Sequence[Sequence[int]]) -> None:
            _PadNd.__init__(self, padding)

        attrs["__init__"] = init
    return type(name, (_PadNd,), attrs)


ZeroPad1d = _make_pad("ZeroPad1d", 1, "constant")
ZeroPad2d = _make_pad("ZeroPad2d", 2, "constant")
ZeroPad3d = _make_pad("ZeroPad3d", 3, "constant")
ConstantPad1d = _make_pad("ConstantPad1d", 1, "constant")
ConstantPad2d = _make_pad("ConstantPad2d", 2, "constant")
ConstantPad3d = _make_pad("ConstantPad3d", 3, "constant")
ReflectionPad1d = _make_pad("ReflectionPad1d", 1, "reflect")
ReflectionPad2d = _make_pad("ReflectionPad2d", 2, "reflect")
ReflectionPad3d = _make_pad("ReflectionPad3d", 3, "reflect")
ReplicationPad1d = _make_pad("ReplicationPad1d", 1, "replicate")
ReplicationPad2d = _make_pad("ReplicationPad2d", 2, "replicate")
ReplicationPad3d = _make_pad("ReplicationPad3d", 3, "replicate")
CircularPad1d = _make_pad("CircularPad1d", 1, "circular")
CircularPad2d = _make_pad("CircularPad2d", 2, "circular")
CircularPad3d = _make_pad("CircularPad3d", 3, "circular")


# ---------------------------------------------------------------------------------------
# from_torch converters for these layers
# ---------------------------------------------------------------------------------------

def torch_converters(tnn: Any) -> dict[type, Callable[[Any, Any], Any]]:
    """``{torch.nn type: converter}`` for the layers of this module (``tnn`` is ``torch.nn``)."""
    g = globals()
    reg: dict[type, Callable[[Any, Any], Any]] = {}

    def add(name: str, build: Callable[[Any], Any]) -> None:
        if hasattr(tnn, name):  # tolerate torch versions without a layer (e.g. CircularPad*)
            reg[getattr(tnn, name)] = lambda m, _: build(m)

    for n in (1, 2, 3):
        add(f"MaxPool{n}d", lambda m, n=n: g[f"MaxPool{n}d"](m.kernel_size, m.stride, m.padding, m.dilation, m.return_indices,
                                                             m.ceil_mode))
        add(f"AvgPool{n}d", lambda m, n=n: g[f"AvgPool{n}d"](
            m.kernel_size, m.stride, m.padding, m.ceil_mode, m.count_include_pad,
            *(() if n == 1 else (m.divisor_override,))))
        add(f"LPPool{n}d", lambda m, n=n: g[f"LPPool{n}d"](m.norm_type, m.kernel_size, m.stride, m.ceil_mode))
        add(f"AdaptiveAvgPool{n}d", lambda m, n=n: g[f"AdaptiveAvgPool{n}d"](m.output_size))
        add(f"AdaptiveMaxPool{n}d", lambda m, n=n: g[f"AdaptiveMaxPool{n}d"](m.output_size, m.return_indices))
        add(f"MaxUnpool{n}d", lambda m, n=n: g[f"MaxUnpool{n}d"](m.kernel_size, m.stride, m.padding))
        for kind in ("Zero", "Reflection", "Replication", "Circular"):
            add(f"{kind}Pad{n}d", lambda m, kind=kind, n=n: g[f"{kind}Pad{n}d"](m.padding))
        add(f"ConstantPad{n}d", lambda m, n=n: g[f"ConstantPad{n}d"](m.padding, m.value))
    add("Upsample", lambda m: Upsample(m.size, m.scale_factor, m.mode, m.align_corners, m.recompute_scale_factor))
    add("UpsamplingNearest2d", lambda m: UpsamplingNearest2d(m.size, m.scale_factor))
    add("UpsamplingBilinear2d", lambda m: UpsamplingBilinear2d(m.size, m.scale_factor))
    add("PixelShuffle", lambda m: PixelShuffle(m.upscale_factor))
    add("PixelUnshuffle", lambda m: PixelUnshuffle(m.downscale_factor))
    add("Unfold", lambda m: Unfold(m.kernel_size, m.dilation, m.padding, m.stride))
    add("Fold", lambda m: Fold(m.output_size, m.kernel_size, m.dilation, m.padding, m.stride))
    return reg
