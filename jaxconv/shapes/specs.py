"""The frozen specs the ops run: one per call, built from the static shapes and the window rules.

Each op turns its arguments into one immutable, hashable spec here, cached on the static
shapes, and hands it unchanged to one jitted formulation (the spec is a static argument,
so it keys the jit cache). A spec says *what* is computed; *how* (XLA's convolution, a tap
fold, im2col + GEMM) is the algorithm policy's choice (:mod:`jaxconv.policy`), made per
backend at trace time and never stored in the spec.

The checks a layer's constructor makes (no input size yet) are functions of this module
too (:func:`check_padding`, :func:`check_pool_window`), so no layer fakes an input.

Pure Python, no JAX.

>>> s = conv_spec("conv2d", (8, 3, 32, 32), (16, 3, 3, 3), None, 2, "same", 1, 1, "zeros", False)
>>> s.out_spatial, s.mode_pads, s.batched
((16, 16), ((0, 1), (0, 1)), True)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from jaxconv.shapes.arguments import (
    PADDING_STRINGS,
    IntOrSeq,
    Padding,
    arg_error,
    check_int,
    freeze,
    frozen_args,
    is_int,
    spec_cache,
    split_batch,
)
from jaxconv.shapes.rules import (
    adaptive_pool_bins,
    check_output_padding,
    check_pool_padding,
    conv_transpose_window,
    conv_window,
    pool_window,
    resolve_padding,
    unpool_output_shape,
    window_args,
)

__all__ = [
    "PADDING_MODES",
    "ConvLayerArgs",
    "ConvSpec",
    "ConvTransposeSpec",
    "PoolSpec",
    "UnpoolSpec",
    "WindowAxis",
    "adaptive_pool_spec",
    "check_conv_layer",
    "check_nonzero_channels",
    "check_nonzero_spatial",
    "check_nonzero_weight_dim",
    "check_pad_limits",
    "check_padding",
    "check_pool_window",
    "conv_spec",
    "conv_transpose_spec",
    "pool_spec",
    "unpool_spec",
    "weight_layout_name",
]

#: torch's ``padding_mode`` values for convolutions.
PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


def _check_groups(fn: str, groups: object) -> int:
    if isinstance(groups, bool) or not is_int(groups):
        raise arg_error(fn, "groups", "must be an int >= 1", groups, exc=TypeError)
    if groups < 1:  # type: ignore[operator]
        raise arg_error(fn, "groups", "must be an int >= 1", groups)
    return int(groups)  # type: ignore[call-overload]


def check_nonzero_spatial(fn: str, shape: tuple[int, ...], spatial: tuple[int, ...], name: str = "input") -> None:
    """torch's rule for windowed ops: every spatial size is non-zero.

    >>> check_nonzero_spatial("conv2d", (1, 1, 0, 4), (0, 4))
    Traceback (most recent call last):
    ValueError: conv2d: `input` must have non-zero spatial sizes (as torch), got 'shape (1, 1, 0, 4)'
    """
    if any(s < 1 for s in spatial):
        raise arg_error(fn, name, "must have non-zero spatial sizes (as torch)", f"shape {shape}")


# torch 2.13's zero-channel rules (tests/test_zero_size.py re-derives every one from torch): an
# (N, C, *spatial) input may have N = 0 everywhere; C = 0 only where listed. "batched" means
# C = 0 is allowed in a batched input, "unbatched" in an unbatched (C, *spatial) one (whose C
# torch's kernel treats as its batch dim). The windowed pools allow neither; window_reduce has
# no torch counterpart and no rule.
_ZERO_CHANNELS_OK: dict[str, tuple[str, ...]] = {
    "adaptive_avg_pool1d": ("batched", "unbatched"),
    "adaptive_avg_pool2d": ("batched", "unbatched"),
    "adaptive_avg_pool3d": ("unbatched",),
    "adaptive_max_pool1d": ("unbatched",),
    "adaptive_max_pool2d": ("unbatched",),
    "adaptive_max_pool3d": ("unbatched",),
    "max_unpool1d": ("unbatched",),
    "max_unpool2d": ("unbatched",),
    "max_unpool3d": ("unbatched",),
    "window_reduce": ("batched", "unbatched"),
}


def check_nonzero_channels(fn: str, shape: tuple[int, ...], n: int, batched: bool, name: str = "input") -> None:
    """torch's rule for pools: the channel dim of ``(N, C, *spatial)`` / ``(C, *spatial)`` is non-zero.

    Only the batch dim may be 0 (torch: "Expected 3D or 4D (batch mode) tensor with optional 0 dim
    batch size"), except for the adaptive pools and max_unpool listed in ``_ZERO_CHANNELS_OK``.

    >>> check_nonzero_channels("max_pool1d", (1, 0, 6), 1, True)
    Traceback (most recent call last):
    ValueError: max_pool1d: `input` must have non-zero channels (as torch: only the batch dim may be 0), got 'shape (1, 0, 6)'
    >>> check_nonzero_channels("adaptive_max_pool1d", (0, 6), 1, False)  # unbatched: C is torch's batch dim
    """
    if shape[-n - 1] == 0 and ("batched" if batched else "unbatched") not in _ZERO_CHANNELS_OK.get(fn, ()):
        raise arg_error(fn, name, "must have non-zero channels (as torch: only the batch dim may be 0)", f"shape {shape}")


def check_nonzero_weight_dim(fn: str, w_shape: tuple[int, ...], dim: int, what: str) -> None:
    """torch's rule for convolutions: weight dim ``dim`` (``what``) is non-zero.

    >>> check_nonzero_weight_dim("conv1d", (0, 2, 3), 0, "out_channels")
    Traceback (most recent call last):
    ValueError: conv1d: `weight` must have non-zero out_channels (dim 0) (as torch), got 'shape (0, 2, 3)'
    """
    if w_shape[dim] == 0:
        raise arg_error(fn, "weight", f"must have non-zero {what} (dim {dim}) (as torch)", f"shape {w_shape}")


def check_pad_limits(fn: str, mode: str, pads: Sequence[tuple[int, int]], sizes: Sequence[int], name: str = "padding") -> None:
    """torch's limits for non-constant padding modes: reflect needs pad < size, circular pad <= size.

    >>> check_pad_limits("pad", "reflect", ((2, 2),), (2,))
    Traceback (most recent call last):
    ValueError: pad: `padding` must be < the input size (2,) in every dim for reflect padding, got ((2, 2),)
    """
    for (lo, hi), size in zip(pads, sizes):
        if mode == "reflect" and max(lo, hi) >= size:
            raise arg_error(fn, name, f"must be < the input size {tuple(sizes)} in every dim for reflect padding", tuple(pads))
        if mode == "circular" and max(lo, hi) > size:
            raise arg_error(fn, name, f"must be <= the input size {tuple(sizes)} in every dim for circular padding", tuple(pads))
        if mode == "replicate" and size < 1 and (lo or hi):
            raise arg_error(fn, name, "cannot replicate an empty dim", tuple(pads))


def check_padding(fn: str, padding: Padding, n: int, kernel_size: IntOrSeq, stride: IntOrSeq | None = 1,
                  dilation: IntOrSeq = 1) -> Padding:
    """Validate a padding of jaxconv's vocabulary without an input size (a layer's constructor).

    Returns it frozen (strings lower-cased), ready for a static attribute.

    >>> check_padding("Conv2d", [1, 2], 2, 3)
    (1, 2)
    >>> check_padding("Conv2d", "SAME", 2, 3)
    'same'
    """
    if isinstance(padding, str):
        if padding.lower() not in PADDING_STRINGS:
            raise arg_error(fn, "padding", f"must be an int, a sequence, or one of {PADDING_STRINGS}", padding)
        return padding.lower()
    ks, ss, _ = window_args(fn, n, kernel_size, stride, dilation)
    resolve_padding(padding, None, ks, ss, dilation, fn=fn, n=n)
    return freeze(padding)


def check_pool_window(fn: str, n: int, kernel_size: IntOrSeq, stride: IntOrSeq | None, padding: Padding,
                      dilation: IntOrSeq = 1) -> tuple[tuple[int, ...], tuple[int, ...], Padding]:
    """A pool layer's constructor checks: ``(kernel, stride, padding)`` canonical, torch's padding limit.

    >>> check_pool_window("MaxPool2d", 2, 3, None, 1)
    ((3, 3), (3, 3), 1)
    """
    ks, ss, _ = window_args(fn, n, kernel_size, _default_stride(stride), dilation)
    padding = check_padding(fn, padding, n, ks, ss, dilation)
    if not isinstance(padding, str):
        check_pool_padding(fn, padding, resolve_padding(padding, None, ks, ss, dilation, fn=fn, n=n), ks)
    return ks, ss, padding


@dataclass(frozen=True)
class ConvLayerArgs:
    """A convolution layer's constructor arguments, checked and canonical (no input size needed)."""

    in_channels: int
    out_channels: int
    kernel_size: tuple[int, ...]
    stride: tuple[int, ...]
    padding: Padding
    dilation: tuple[int, ...]
    groups: int
    output_padding: tuple[int, ...]


def check_conv_layer(fn: str, n: int, in_channels: int, out_channels: int, kernel_size: IntOrSeq, stride: IntOrSeq,
                     padding: Padding, dilation: IntOrSeq, groups: int, padding_mode: str,
                     output_padding: IntOrSeq | None = None) -> ConvLayerArgs:
    """The checks of ``Conv{n}d`` / ``ConvTranspose{n}d`` (with ``output_padding``) constructors.

    >>> check_conv_layer("Conv2d", 2, 3, 8, 3, 1, "same", 1, 1, "zeros").padding
    'same'
    """
    c_in, c_out = check_int(fn, "in_channels", in_channels, 1), check_int(fn, "out_channels", out_channels, 1)
    ks, ss, ds = window_args(fn, n, kernel_size, stride, dilation)
    g = check_int(fn, "groups", groups, 1)
    for name, c in (("in_channels", c_in), ("out_channels", c_out)):
        if c % g:
            raise arg_error(fn, "groups", f"must divide {name}={c}", groups)
    padding = check_padding(fn, padding, n, ks, ss, ds)
    ops = (0,) * n
    if output_padding is not None:
        if padding_mode != "zeros":
            raise arg_error(fn, "padding_mode", "must be 'zeros' for a transposed convolution (as torch)", padding_mode)
        ops = check_output_padding(fn, output_padding, ss, ds)
        if isinstance(padding, str) and any(ops):
            raise arg_error(fn, "output_padding", "must be 0 with a string padding (it is derived)", ops)
    elif not isinstance(padding_mode, str) or padding_mode not in PADDING_MODES:
        raise arg_error(fn, "padding_mode", f"must be one of {PADDING_MODES}", padding_mode)
    return ConvLayerArgs(c_in, c_out, ks, ss, padding, ds, g, ops)


# ---------------------------------------------------------------------------------------
# Convolution and transposed convolution
# ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ConvSpec:
    """Everything static about one convolution call, resolved and validated.

    ``mode_pads`` is the padding applied in ``mode`` before the convolution, ``lax_pads``
    the zero padding handed to it; ``batch`` is 1 for an unbatched input. ``channels_last``
    is the activations' layout (NHWC), ``weight_hwio`` the weight's: ``(*kernel, C_in/groups,
    C_out)``, else torch's ``(C_out, C_in/groups, *kernel)``; by default the same as the
    activations', and channels-last activations with torch's weights are what a torch model
    in channels-last memory format computes.
    """

    n: int
    batched: bool
    batch: int
    in_channels: int
    out_channels: int
    kernel: tuple[int, ...]
    stride: tuple[int, ...]
    dilation: tuple[int, ...]
    groups: int
    mode: str
    mode_pads: tuple[tuple[int, int], ...]
    lax_pads: tuple[tuple[int, int], ...]
    channels_last: bool
    in_spatial: tuple[int, ...]
    out_spatial: tuple[int, ...]
    weight_hwio: bool

    @property
    def depthwise(self) -> bool:
        """One input channel per group (``groups == in_channels``), as MobileNet's 3x3 convs."""
        return self.groups > 1 and self.groups == self.in_channels


@spec_cache
def _conv_spec(fn: str, x_shape: tuple[int, ...], w_shape: tuple[int, ...], b_shape: tuple[int, ...] | None,
               stride: Any, padding: Any, dilation: Any, groups: Any, padding_mode: Any, channels_last: bool,
               n_expected: int | None, weight_layout: Any = None) -> ConvSpec:
    w_rank = len(w_shape)
    if w_rank < 3:
        raise arg_error(fn, "weight", "must have rank >= 3: (out_channels, in_channels/groups, *kernel)", f"shape {w_shape}")
    n = w_rank - 2
    if n_expected is not None and n != n_expected:
        raise arg_error(fn, "weight", f"must have rank {n_expected + 2} for {n_expected}-d convolution", f"shape {w_shape}")
    batched = split_batch(fn, len(x_shape), n)
    hwio = _weight_hwio(fn, weight_layout, n, channels_last)
    check_nonzero_weight_dim(fn, w_shape, n + 1 if hwio else 0, "out_channels")
    if hwio:
        kernel, w_in, w_out = tuple(w_shape[:n]), w_shape[n], w_shape[n + 1]
    else:
        kernel, w_out, w_in = tuple(w_shape[2:]), w_shape[0], w_shape[1]
    if channels_last:
        c_in, spatial = x_shape[-1], tuple(x_shape[-n - 1:-1])
    else:
        c_in, spatial = x_shape[-n - 1], tuple(x_shape[-n:])
    groups = _check_groups(fn, groups)
    if w_out % groups:
        raise arg_error(fn, "groups", f"must divide out_channels={w_out} (weight shape {w_shape})", groups)
    if c_in != w_in * groups:
        hint = ""
        if not channels_last and x_shape[-1] == w_in * groups:
            hint = "; the input's last dim has that size: for a channels-last (NHWC) input pass channels_last=True"
        raise arg_error(fn, "input", f"must have in_channels = weight in_channels * groups = {w_in} * {groups} = {w_in * groups}"
                        f"{hint}", f"{c_in} channels (shape {x_shape})")
    if b_shape is not None and b_shape != (w_out,):
        raise arg_error(fn, "bias", f"must have shape ({w_out},) = (out_channels,)", f"shape {b_shape}")
    check_nonzero_spatial(fn, x_shape, spatial)
    if not isinstance(padding_mode, str) or padding_mode not in PADDING_MODES:
        raise arg_error(fn, "padding_mode", f"must be one of {PADDING_MODES}", padding_mode)
    w = conv_window(spatial, kernel, stride, padding, dilation, fn=fn)
    if padding_mode == "zeros" and (all(v == 1 for v in w.stride) or not any(lo or hi for lo, hi in w.pads)):
        mode_pads, lax_pads = ((0, 0),) * n, w.pads
    else:
        # Strided + padded zeros, or another mode: pad explicitly and convolve VALID. XLA
        # 0.10's CPU algebraic simplifier aborts the process (CHECK failure) when compiling
        # the input gradient of some strided, padded convs, e.g. x (1,1,4,1), k 2, stride 2,
        # padding 1; with the padding outside the conv the gradient compiles. XLA does not fold the
        # pad back into the window (on XLA:CPU the unpadded window is slower), so the forward pass of
        # XLA's own convolution takes it back itself (jaxconv/convolution.py, _forward).
        if padding_mode != "zeros":
            check_pad_limits(fn, padding_mode, w.pads, spatial)
        mode_pads, lax_pads = w.pads, ((0, 0),) * n
    return ConvSpec(n, batched, x_shape[0] if batched else 1, c_in, w_out, w.kernel, w.stride, w.dilation, groups,
                    padding_mode, mode_pads, lax_pads, bool(channels_last), spatial, w.out, hwio)


_SPATIAL_LETTERS = {1: "W", 2: "HW", 3: "DHW"}


def weight_layout_name(n: int, hwio: bool) -> str:
    """The ``weight_layout`` string of an ``n``-d weight: ``"HWIO"`` / ``"OIHW"`` for 2-d.

    >>> weight_layout_name(3, True), weight_layout_name(1, False)
    ('DHWIO', 'OIW')
    """
    k = _SPATIAL_LETTERS.get(n, "X" * n)
    return f"{k}IO" if hwio else f"OI{k}"


def _weight_hwio(fn: str, weight_layout: Any, n: int, channels_last: bool) -> bool:
    """``weight_layout`` (None: the activations' layout) as "the weight is ``(*kernel, I, O)``"."""
    if weight_layout is None:
        return bool(channels_last)
    k = _SPATIAL_LETTERS.get(n, "")
    first, last = f"OI{k}", f"{k}IO"
    if isinstance(weight_layout, str) and k and weight_layout in (first, last):
        return weight_layout == last
    if isinstance(weight_layout, str) and not k and len(weight_layout) == n + 2 and (
            weight_layout.startswith("OI") or weight_layout.endswith("IO")) and weight_layout.count("O") == 1:
        return weight_layout.endswith("IO")
    rule = (f"must be None (the input's layout), {first!r} (torch) or {last!r} (TF/Flax) for a {n}-d convolution"
            if k else f"must be None, or {n + 2} letters starting 'OI' (torch) or ending 'IO' (TF/Flax) for a {n}-d convolution")
    raise arg_error(fn, "weight_layout", rule, weight_layout)


def conv_spec(fn: str, x_shape: tuple[int, ...], w_shape: tuple[int, ...], b_shape: tuple[int, ...] | None,
              stride: IntOrSeq, padding: Padding, dilation: IntOrSeq, groups: int, padding_mode: str,
              channels_last: bool, n: int | None = None, weight_layout: str | None = None) -> ConvSpec:
    """Validate a convolution call and resolve it to a cached :class:`ConvSpec`.

    ``weight_layout`` (``"OIHW"`` / ``"HWIO"`` for 2-d, ``None``: as ``channels_last``) is the weight's layout.
    """
    stride, padding, dilation = frozen_args(fn, stride=stride, padding=padding, dilation=dilation)
    groups, padding_mode = frozen_args(fn, groups=groups, padding_mode=padding_mode)
    if not (weight_layout is None or isinstance(weight_layout, str)):
        raise arg_error(fn, "weight_layout", "must be None or a layout string such as 'OIHW' or 'HWIO'", weight_layout,
                        exc=TypeError)
    return _conv_spec(fn, tuple(x_shape), tuple(w_shape), None if b_shape is None else tuple(b_shape), stride, padding,
                      dilation, groups, padding_mode, bool(channels_last), n, weight_layout)


@dataclass(frozen=True)
class ConvTransposeSpec:
    """Everything static about one transposed-convolution call, resolved and validated."""

    n: int
    batched: bool
    stride: tuple[int, ...]
    dilation: tuple[int, ...]
    groups: int
    pads: tuple[tuple[int, int], ...]  # the forward conv's (lo, hi), cropped from the output
    output_padding: tuple[int, ...]
    lax_pads: tuple[tuple[int, int], ...]  # handed to lax; may be negative (crops)
    out_spatial: tuple[int, ...]


@spec_cache
def _conv_transpose_spec(fn: str, x_shape: tuple[int, ...], w_shape: tuple[int, ...], b_shape: tuple[int, ...] | None,
                         stride: Any, padding: Any, output_padding: Any, groups: Any, dilation: Any, output_size: Any,
                         n_expected: int | None) -> ConvTransposeSpec:
    if len(w_shape) < 3:
        raise arg_error(fn, "weight", "must have rank >= 3: (in_channels, out_channels/groups, *kernel)", f"shape {w_shape}")
    n = len(w_shape) - 2
    if n_expected is not None and n != n_expected:
        raise arg_error(fn, "weight", f"must have rank {n_expected + 2} for {n_expected}-d transposed convolution",
                        f"shape {w_shape}")
    batched = split_batch(fn, len(x_shape), n)
    w_in, w_out_g, kernel = w_shape[0], w_shape[1], tuple(w_shape[2:])
    check_nonzero_weight_dim(fn, w_shape, 0, "in_channels")
    c_in, spatial = x_shape[-n - 1], tuple(x_shape[-n:])
    groups = _check_groups(fn, groups)
    if w_in % groups:
        raise arg_error(fn, "groups", f"must divide in_channels = weight.shape[0] = {w_in} (weight shape {w_shape})", groups)
    if c_in != w_in:
        raise arg_error(fn, "input", f"must have in_channels = weight.shape[0] = {w_in}", f"{c_in} channels (shape {x_shape})")
    if any(k < 1 for k in kernel) or w_out_g < 1:
        raise arg_error(fn, "weight", "must have non-zero out_channels/groups and kernel sizes", f"shape {w_shape}")
    c_out = w_out_g * groups
    if b_shape is not None and b_shape != (c_out,):
        raise arg_error(fn, "bias", f"must have shape ({c_out},) = (weight.shape[1] * groups,)", f"shape {b_shape}")
    check_nonzero_spatial(fn, x_shape, spatial)
    w = conv_transpose_window(spatial, kernel, stride, padding, output_padding, dilation, output_size, fn=fn)
    lax_pads = tuple((d * (k - 1) - lo, d * (k - 1) - hi + op)
                     for k, d, (lo, hi), op in zip(kernel, w.dilation, w.pads, w.output_padding))
    # XLA's CPU conv-operand swapper (jaxlib 0.10) can misread a dim with lhs dilation
    # s >= 2 and zero padding as a "group" dim, and then aborts the process (CHECK
    # failure) compiling this conv or its weight gradient (grouped convs too, once XLA
    # has rewritten them ungrouped), e.g. k=2, s=2, p=1 or k=4, s=2, p=3 on tiny inputs.
    # One extra high row of padding, cropped after the conv, avoids the pattern.
    lax_pads = tuple((lo, hi + 1) if s > 1 and lo == hi == 0 else (lo, hi) for (lo, hi), s in zip(lax_pads, w.stride))
    return ConvTransposeSpec(n, batched, w.stride, w.dilation, groups, w.pads, w.output_padding, lax_pads, w.out)


def conv_transpose_spec(fn: str, x_shape: tuple[int, ...], w_shape: tuple[int, ...], b_shape: tuple[int, ...] | None,
                        stride: IntOrSeq, padding: Padding, output_padding: IntOrSeq, groups: int, dilation: IntOrSeq,
                        output_size: Any, n: int | None = None) -> ConvTransposeSpec:
    """Validate a transposed-convolution call and resolve it to a cached :class:`ConvTransposeSpec`."""
    s, p, op, g, d, o = frozen_args(fn, stride=stride, padding=padding, output_padding=output_padding, groups=groups,
                                    dilation=dilation, output_size=output_size)
    return _conv_transpose_spec(fn, tuple(x_shape), tuple(w_shape), None if b_shape is None else tuple(b_shape), s, p, op, g,
                                d, o, n)


# ---------------------------------------------------------------------------------------
# Pools
# ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class WindowAxis:
    """Where the windows of one spatial dim read the input.

    Regular windows (``bins is None``) start at ``o * stride - lo`` and read ``taps``
    positions ``dilation`` apart; adaptive windows read ``[start, end)`` of their bin.
    ``hi`` is the right padding a VALID scan needs, ceil-mode overhang included;
    ``divisors`` the average pool's divisor of each window along this dim, if any.
    """

    size: int
    out: int
    taps: int
    stride: int
    dilation: int
    lo: int
    hi: int
    bins: tuple[tuple[int, int], ...] | None = None
    divisors: tuple[int, ...] | None = None

    def starts(self) -> tuple[int, ...]:
        """The input position of each window's first tap (negative in the padding)."""
        if self.bins is None:
            return tuple(o * self.stride - self.lo for o in range(self.out))
        return tuple(a for a, _ in self.bins)

    def first(self) -> tuple[int, ...]:
        """torch's fallback tap per window: the first one at a position >= 0 (its ``while (ih0 < 0) ih0 += d``)."""
        return tuple(min(0 if s >= 0 else -(s // self.dilation), self.taps - 1) for s in self.starts())


@dataclass(frozen=True)
class PoolSpec:
    """Everything static about one pooling call: validated, resolved, hashable."""

    fn: str
    batched: bool
    axes: tuple[WindowAxis, ...]

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

    @property
    def tiling(self) -> bool:
        """Whether the windows tile the input: adjacent, undilated, unpadded, no overhang (floor mode may
        leave a remainder that no window reads)."""
        return all(a.bins is None and a.lo == 0 and a.stride == a.taps and (a.dilation == 1 or a.taps == 1)
                   and a.out * a.taps <= a.size for a in self.axes)

    @property
    def divisors(self) -> tuple[tuple[int, ...], ...] | None:
        """Per-dim average divisors (their outer product divides each window), if the spec has them."""
        if any(a.divisors is None for a in self.axes):
            return None
        return tuple(a.divisors for a in self.axes)  # type: ignore[misc]


def _default_stride(stride: Any) -> Any:
    # torch treats stride=None, () and [] alike: stride = kernel_size.
    if stride is None or (isinstance(stride, (list, tuple)) and len(stride) == 0):
        return None
    return stride


@spec_cache
def _pool_spec(fn: str, shape: tuple[int, ...], n: int, kernel_size: Any, stride: Any, padding: Any, dilation: Any,
               ceil_mode: bool, divisor: str | None) -> PoolSpec:
    batched = split_batch(fn, len(shape), n)
    spatial = shape[-n:]
    check_nonzero_channels(fn, shape, n, batched)
    check_nonzero_spatial(fn, shape, spatial)
    w = pool_window(spatial, kernel_size, stride, padding, dilation, ceil_mode, fn=fn)
    if divisor is None:
        divs: tuple[tuple[int, ...] | None, ...] = (None,) * n
    else:
        # A window wholly in the padding sums to 0; dividing it by 1 keeps it 0 (torch skips it).
        divs = tuple(wp if divisor == "padded" else tuple(max(c, 1) for c in r) for wp, r in w.counts())
    axes = tuple(WindowAxis(i, o, k, s, d, lo, hi, None, dv) for i, o, k, s, d, (lo, hi), dv
                 in zip(spatial, w.out, w.kernel, w.stride, w.dilation, w.scan_pads, divs))
    return PoolSpec(fn, batched, axes)


def pool_spec(fn: str, shape: tuple[int, ...], n: int, kernel_size: IntOrSeq, stride: IntOrSeq | None = None,
              padding: Padding = 0, dilation: IntOrSeq = 1, ceil_mode: bool = False, divisor: str | None = None) -> PoolSpec:
    """Validate a pooling call and resolve it to a cached :class:`PoolSpec`.

    ``divisor``: ``None`` (no averaging), ``"padded"`` (torch's ``count_include_pad=True``)
    or ``"real"`` (only input elements count).

    >>> s = pool_spec("avg_pool1d", (1, 1, 5), 1, 2, 2, 1, ceil_mode=True, divisor="real")
    >>> s.out_spatial, s.divisors
    ((3,), ((1, 2, 2),))
    """
    kernel_size, stride, padding, dilation = frozen_args(fn, kernel_size=kernel_size, stride=_default_stride(stride),
                                                         padding=padding, dilation=dilation)
    return _pool_spec(fn, tuple(shape), n, kernel_size, stride, padding, dilation, bool(ceil_mode), divisor)


@spec_cache
def _adaptive_pool_spec(fn: str, shape: tuple[int, ...], n: int, output_size: Any) -> PoolSpec:
    batched = split_batch(fn, len(shape), n)
    spatial = shape[-n:]
    check_nonzero_channels(fn, shape, n, batched)
    check_nonzero_spatial(fn, shape, spatial)
    bins = adaptive_pool_bins(spatial, output_size, fn=fn)
    axes = []
    for i, b in zip(spatial, bins):
        o = len(b)
        if o == 0:  # an empty output (torch returns one): no windows
            axes.append(WindowAxis(i, 0, 1, 1, 1, 0, 0, None, ()))
        elif i % o == 0:
            # Equal bins are plain windows (kernel = stride = in / out): the strided fast paths apply.
            axes.append(WindowAxis(i, o, i // o, i // o, 1, 0, 0, None, (i // o,) * o))
        else:
            axes.append(WindowAxis(i, o, max(e - s for s, e in b), 0, 1, 0, 0, b, tuple(e - s for s, e in b)))
    return PoolSpec(fn, batched, tuple(axes))


def adaptive_pool_spec(fn: str, shape: tuple[int, ...], n: int, output_size: int | Sequence[int | None]) -> PoolSpec:
    """Validate an adaptive pooling call and resolve it to a cached :class:`PoolSpec` (bins, divisors).

    >>> adaptive_pool_spec("adaptive_avg_pool1d", (1, 5), 1, 3).axes[0].bins
    ((0, 2), (1, 4), (3, 5))
    """
    (output_size,) = frozen_args(fn, output_size=output_size)
    return _adaptive_pool_spec(fn, tuple(shape), n, output_size)


@dataclass(frozen=True)
class UnpoolSpec:
    """A max unpooling call: whether batched, and the spatial output size."""

    batched: bool
    out_spatial: tuple[int, ...]


@spec_cache
def _unpool_spec(fn: str, shape: tuple[int, ...], n: int, kernel_size: Any, stride: Any, padding: Any,
                 output_size: Any) -> UnpoolSpec:
    batched = split_batch(fn, len(shape), n)
    check_nonzero_channels(fn, shape, n, batched)
    check_nonzero_spatial(fn, shape, shape[-n:])
    return UnpoolSpec(batched, unpool_output_shape(shape[-n:], kernel_size, stride, padding, output_size, fn=fn))


def unpool_spec(fn: str, shape: tuple[int, ...], n: int, kernel_size: IntOrSeq, stride: IntOrSeq | None = None,
                padding: Padding = 0, output_size: Sequence[int] | None = None) -> UnpoolSpec:
    """Validate a max unpooling call and resolve it to a cached :class:`UnpoolSpec`.

    >>> unpool_spec("max_unpool1d", (1, 1, 2), 1, 2).out_spatial
    (4,)
    """
    if output_size is not None and not isinstance(output_size, str) and isinstance(output_size, Sequence):
        output_size = tuple(int(v) if is_int(v) else v for v in output_size)  # type: ignore[call-overload]
    k, s_, p, o = frozen_args(fn, kernel_size=kernel_size, stride=_default_stride(stride), padding=padding,
                              output_size=output_size)
    return _unpool_spec(fn, tuple(shape), n, k, s_, p, o)
