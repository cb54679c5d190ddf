"""The window rules: the padding vocabulary, output sizes, divisors, bins, counts, receptive fields.

Pure Python integers, no JAX. Each public function canonicalises its window arguments once
(:func:`window_args`) and applies one rule; :mod:`jaxconv.shapes.specs` builds the frozen
specs the ops run from these same functions, so an op and its shape formula cannot disagree.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from dataclasses import dataclass

from jaxconv.shapes.arguments import (
    PADDING_STRINGS,
    IntOrSeq,
    Padding,
    arg_error,
    canonicalize,
    is_int,
)

__all__ = [
    "ReceptiveField",
    "TransposedWindow",
    "Window",
    "adaptive_pool_bins",
    "check_output_padding",
    "check_pool_padding",
    "conv_flops",
    "conv_output_shape",
    "conv_params",
    "conv_transpose_output_padding",
    "conv_transpose_output_shape",
    "conv_transpose_padding",
    "conv_transpose_window",
    "conv_window",
    "effective_kernel",
    "from_torch_pad",
    "is_torch_style_padding",
    "pool_output_shape",
    "pool_padding",
    "pool_window",
    "pool_window_counts",
    "receptive_field",
    "resolve_padding",
    "unpool_output_shape",
    "window_args",
]


def window_args(fn: str, n: int, kernel_size: IntOrSeq, stride: IntOrSeq | None = 1,
                dilation: IntOrSeq = 1) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
    """``(kernel, stride, dilation)`` as ``n``-tuples of ints >= 1; ``stride=None`` is the kernel (pools).

    >>> window_args("max_pool2d", 2, 3, None)
    ((3, 3), (3, 3), (1, 1))
    """
    ks = canonicalize(kernel_size, n, "kernel_size", fn, min_value=1)
    ss = ks if stride is None else canonicalize(stride, n, "stride", fn, min_value=1)
    return ks, ss, canonicalize(dilation, n, "dilation", fn, min_value=1)


def _ndim(v: object) -> int:
    return 1 if is_int(v) else len(v)  # type: ignore[arg-type]


def effective_kernel(kernel_size: Sequence[int], dilation: Sequence[int]) -> tuple[int, ...]:
    """Span of a dilated kernel: ``d * (k - 1) + 1`` per dim.

    >>> effective_kernel((3, 3), (2, 1))
    (5, 3)
    """
    return tuple(d * (k - 1) + 1 for k, d in zip(kernel_size, dilation))


def from_torch_pad(flat: Sequence[int]) -> tuple[tuple[int, int], ...]:
    """Convert torch ``F.pad``'s flat, last-dim-first tuple into per-dim pairs in array order.

    >>> from_torch_pad((1, 2, 3, 4))    # F.pad(x, (left, right, top, bottom))
    ((3, 4), (1, 2))
    """
    flat = tuple(flat)
    if len(flat) % 2 or not all(is_int(v) for v in flat):
        raise arg_error("from_torch_pad", "flat", "must be an even-length sequence of ints", flat)
    pairs = [(int(flat[i]), int(flat[i + 1])) for i in range(0, len(flat), 2)]
    return tuple(reversed(pairs))


def _same_pads(in_size: int, k_eff: int, stride: int) -> tuple[int, int]:
    # The XLA/TensorFlow rule (jax.lax.padtype_to_pads): the output has ceil(in / s)
    # positions and the padding needed for that is split with the odd pixel at the end.
    out = -(-in_size // stride)
    total = max(0, (out - 1) * stride + k_eff - in_size)
    return total // 2, total - total // 2


def resolve_padding(padding: Padding, input_size: Sequence[int] | None, kernel_size: IntOrSeq, stride: IntOrSeq = 1,
                    dilation: IntOrSeq = 1, *, fn: str = "resolve_padding", n: int | None = None
                    ) -> tuple[tuple[int, int], ...]:
    """Resolve any padding spec to explicit ``((lo, hi), ...)`` pairs, one per spatial dim.

    Args:
      padding: an int, per-dim ints, per-side pairs, or one of ``"valid"``,
        ``"same"``, ``"same_lower"``, ``"full"``, ``"causal"`` (case-insensitive).
      input_size: spatial input sizes; only ``"same"``/``"same_lower"`` need them.
      kernel_size: int or per-dim kernel sizes.
      stride: int or per-dim strides (used by ``"same"``).
      dilation: int or per-dim dilations.
      fn: name of the calling function, for error messages.
      n: number of spatial dims, if ``input_size`` is not given.

    Returns:
      A tuple of ``(lo, hi)`` pairs of non-negative ints, first spatial dim first.

    ``"same"`` is XLA's rule for any stride: ``out = ceil(in / s)`` and
    ``total = max(0, (out - 1) * s + d * (k - 1) + 1 - in)``, ``lo = total // 2``.
    For stride 1 this equals torch's ``padding="same"``.

    >>> resolve_padding("same", (8, 8), 3, stride=2)
    ((0, 1), (0, 1))
    >>> resolve_padding((1, 0), None, 3, n=2)
    ((1, 1), (0, 0))
    >>> resolve_padding("causal", None, 3, dilation=2, n=1)
    ((4, 0),)
    """
    if n is None:
        if input_size is not None:
            n = len(input_size)
        elif not is_int(kernel_size) and not isinstance(kernel_size, str):
            n = len(kernel_size)  # type: ignore[arg-type]
        elif not isinstance(padding, (str, int)) and isinstance(padding, Sequence):
            n = len(padding)
        else:
            raise arg_error(fn, "padding", "needs the number of spatial dims (pass input_size or n)", padding)
    ks, ss, ds = window_args(fn, n, kernel_size, stride, dilation)
    return _resolve(fn, padding, None if input_size is None else tuple(input_size), ks, ss, ds)


def _resolve(fn: str, padding: Padding, input_size: tuple[int, ...] | None, ks: tuple[int, ...], ss: tuple[int, ...],
             ds: tuple[int, ...]) -> tuple[tuple[int, int], ...]:
    """:func:`resolve_padding` on canonical window arguments."""
    n = len(ks)
    keff = effective_kernel(ks, ds)
    if isinstance(padding, str):
        mode = padding.lower()
        if mode == "valid":
            return ((0, 0),) * n
        if mode == "full":
            return tuple((k - 1, k - 1) for k in keff)
        if mode == "causal":
            return tuple((k - 1, 0) for k in keff)
        if mode in ("same", "same_lower"):
            if input_size is None:
                raise arg_error(fn, "padding", "'same' needs the input size", padding)
            pads = tuple(_same_pads(i, k, s) for i, k, s in zip(input_size, keff, ss))
            if mode == "same_lower":
                pads = tuple((hi, lo) for lo, hi in pads)
            return pads
        raise arg_error(fn, "padding", f"must be an int, a sequence, or one of {PADDING_STRINGS}", padding)

    if is_int(padding):
        p = operator.index(padding)  # type: ignore[arg-type]
        pads = ((p, p),) * n
    elif isinstance(padding, Sequence):
        items = tuple(padding)
        if len(items) == 1 and n != 1:
            items = items * n
        if len(items) != n:
            raise arg_error(fn, "padding", f"must have {n} entries, one per spatial dim", padding)
        pairs = []
        for it in items:
            if is_int(it):
                pairs.append((operator.index(it), operator.index(it)))  # type: ignore[arg-type]
            elif isinstance(it, Sequence) and not isinstance(it, str) and len(it) == 2 and all(is_int(v) for v in it):
                pairs.append((operator.index(it[0]), operator.index(it[1])))
            else:
                raise arg_error(fn, "padding", "entries must be ints or (lo, hi) pairs of ints", padding, exc=TypeError)
        pads = tuple(pairs)
    else:
        raise arg_error(fn, "padding", f"must be an int, a sequence, or one of {PADDING_STRINGS}", padding, exc=TypeError)
    if any(v < 0 for pair in pads for v in pair):
        raise arg_error(fn, "padding", "must be >= 0 on every side", padding)
    return pads


def _check_nonempty(fn: str, out: tuple[int, ...], input_size: Sequence[int], what: str) -> None:
    if any(o < 1 for o in out):
        raise arg_error(
            fn, "kernel_size",
            f"(dilated, {what}) is larger than the padded input {tuple(input_size)}: output size would be {out}",
            "empty output")


@dataclass(frozen=True)
class Window:
    """The windows of one conv or pool along its spatial dims: canonical, resolved, hashable.

    Attributes:
      input_size, kernel, stride, dilation: ``n``-tuples of ints.
      pads: the resolved padding, ``(lo, hi)`` per dim.
      out: the output size per dim.
      scan_pads: the padding a VALID scan needs to give exactly ``out`` windows: ``pads`` with
        ``hi`` grown by a pool's ceil-mode overhang (never counted as padding).
    """

    input_size: tuple[int, ...]
    kernel: tuple[int, ...]
    stride: tuple[int, ...]
    dilation: tuple[int, ...]
    pads: tuple[tuple[int, int], ...]
    out: tuple[int, ...]
    scan_pads: tuple[tuple[int, int], ...]

    @property
    def n(self) -> int:
        return len(self.kernel)

    @property
    def effective_kernel(self) -> tuple[int, ...]:
        return effective_kernel(self.kernel, self.dilation)

    def counts(self) -> tuple[tuple[tuple[int, ...], tuple[int, ...]], ...]:
        """Average-pool divisors per dim and output position (see :func:`pool_window_counts`)."""
        result = []
        for o_n, i, (lo, hi), k, s in zip(self.out, self.input_size, self.pads, self.kernel, self.stride):
            starts = [o * s - lo for o in range(o_n)]
            result.append((tuple(min(a + k, i + hi) - a for a in starts),
                           tuple(max(0, min(a + k, i) - max(a, 0)) for a in starts)))
        return tuple(result)


def conv_window(input_size: IntOrSeq, kernel_size: IntOrSeq, stride: IntOrSeq = 1, padding: Padding = 0,
                dilation: IntOrSeq = 1, *, fn: str = "conv_window") -> Window:
    """The :class:`Window` of a convolution: ``out = floor((in + lo + hi - d * (k - 1) - 1) / s) + 1``.

    >>> conv_window((8, 8), 3, 2, "same").pads
    ((0, 1), (0, 1))
    """
    ins = canonicalize(input_size, _ndim(input_size), "input_size", fn, min_value=1)
    ks, ss, ds = window_args(fn, len(ins), kernel_size, stride, dilation)
    pads = _resolve(fn, padding, ins, ks, ss, ds)
    out = tuple(
        (i + lo + hi - k) // s + 1 if i + lo + hi >= k else 0
        for i, (lo, hi), k, s in zip(ins, pads, effective_kernel(ks, ds), ss)
    )
    _check_nonempty(fn, out, ins, "with padding")
    return Window(ins, ks, ss, ds, pads, out, pads)


def conv_output_shape(input_size: IntOrSeq, kernel_size: IntOrSeq, stride: IntOrSeq = 1, padding: Padding = 0,
                      dilation: IntOrSeq = 1, *, fn: str = "conv_output_shape") -> tuple[int, ...]:
    """Spatial output size of a convolution.

    ``out = floor((in + lo + hi - d * (k - 1) - 1) / s) + 1`` per dim.

    >>> conv_output_shape((8, 8), 3, stride=2, padding=1)
    (4, 4)
    >>> conv_output_shape((8, 8), (3, 5), stride=(3, 4), padding=(0, 1))
    (2, 2)
    >>> conv_output_shape(7, 3, stride=2, padding="same")
    (4,)
    """
    return conv_window(input_size, kernel_size, stride, padding, dilation, fn=fn).out


def _pool_out_1d(i: int, lo: int, hi: int, k_eff: int, s: int, ceil_mode: bool) -> int:
    span = i + lo + hi - k_eff
    # Python's // floors like torch's div_rtn, so in ceil mode a span of -1 with
    # stride > 1 still yields one window (torch allows it), while floor mode yields 0.
    out = (span + (s - 1 if ceil_mode else 0)) // s + 1
    # torch's rule: in ceil mode the last window must start inside the input or the
    # left padding, never in the right padding alone.
    if ceil_mode and (out - 1) * s >= i + lo:
        out -= 1
    return out


def is_torch_style_padding(padding: object) -> bool:
    """An int or a sequence of ints (torch's form), as opposed to pairs or strings.

    >>> is_torch_style_padding((1, 2)), is_torch_style_padding(((1, 0), (0, 0))), is_torch_style_padding("same")
    (True, False, False)
    """
    if is_int(padding):
        return True
    return isinstance(padding, Sequence) and not isinstance(padding, str) and all(is_int(v) for v in padding)


def check_pool_padding(fn: str, padding: Padding, pads: Sequence[tuple[int, int]], kernel: Sequence[int]) -> None:
    """torch's limit for a pool's symmetric int padding: at most half the (undilated) kernel.

    Explicit pairs and strings are jaxconv's vocabulary and are not limited. It needs no
    input size, so a layer's constructor checks it too.

    >>> check_pool_padding("max_pool2d", 2, ((2, 2), (2, 2)), (3, 3))
    Traceback (most recent call last):
    ValueError: max_pool2d: `padding` must be <= kernel_size // 2 = (1, 1) in every dim (torch's rule), got 2
    """
    if is_torch_style_padding(padding) and any(lo > k // 2 for (lo, _), k in zip(pads, kernel)):
        raise arg_error(fn, "padding", f"must be <= kernel_size // 2 = {tuple(k // 2 for k in kernel)} in every dim (torch's rule)",
                        padding)


def pool_window(input_size: IntOrSeq, kernel_size: IntOrSeq, stride: IntOrSeq | None = None, padding: Padding = 0,
                dilation: IntOrSeq = 1, ceil_mode: bool = False, *, fn: str = "pool_window") -> Window:
    """The :class:`Window` of a pool, torch's rule: ``out = floor_or_ceil((in + lo + hi - d * (k - 1) - 1) / s) + 1``.

    ``stride=None`` means the kernel size; with ``ceil_mode`` the last window must start inside
    the input or the left padding, and ``scan_pads`` holds its overhang.

    >>> w = pool_window((6,), 3, 2, 0, 1, True)
    >>> w.out, w.pads, w.scan_pads
    ((3,), ((0, 0),), ((0, 1),))
    """
    ins = canonicalize(input_size, _ndim(input_size), "input_size", fn, min_value=1)
    ks, ss, ds = window_args(fn, len(ins), kernel_size, stride, dilation)
    pads = _resolve(fn, padding, ins, ks, ss, ds)
    check_pool_padding(fn, padding, pads, ks)
    keff = effective_kernel(ks, ds)
    out = tuple(_pool_out_1d(i, lo, hi, k, s, bool(ceil_mode)) for i, (lo, hi), k, s in zip(ins, pads, keff, ss))
    _check_nonempty(fn, out, ins, "with padding")
    scan = tuple((lo, max(hi, (o - 1) * s + k - i - lo)) for o, i, (lo, hi), k, s in zip(out, ins, pads, keff, ss))
    return Window(ins, ks, ss, ds, pads, out, scan)


def pool_output_shape(input_size: IntOrSeq, kernel_size: IntOrSeq, stride: IntOrSeq | None = None, padding: Padding = 0,
                      dilation: IntOrSeq = 1, ceil_mode: bool = False, *, fn: str = "pool_output_shape") -> tuple[int, ...]:
    """Spatial output size of a pooling window (torch's rule, including ``ceil_mode``).

    ``out = floor_or_ceil((in + lo + hi - d * (k - 1) - 1) / s) + 1``; with
    ``ceil_mode`` the last window is dropped if it would start in the right padding.
    ``stride=None`` means ``stride = kernel_size``.

    >>> pool_output_shape((5, 5), 3, ceil_mode=True)
    (2, 2)
    >>> pool_output_shape((5, 5), 3)
    (1, 1)
    """
    return pool_window(input_size, kernel_size, stride, padding, dilation, ceil_mode, fn=fn).out


def pool_padding(input_size: IntOrSeq, kernel_size: IntOrSeq, stride: IntOrSeq | None = None, padding: Padding = 0,
                 dilation: IntOrSeq = 1, ceil_mode: bool = False, *, fn: str = "pool_padding"
                 ) -> tuple[tuple[int, ...], tuple[tuple[int, int], ...], tuple[tuple[int, int], ...]]:
    """Output size, the requested padding, and the padding a reducer must apply.

    Returns ``(out, pads, window_pads)`` of :func:`pool_window`: ``window_pads`` has the
    same ``lo`` and a ``hi`` grown by the ceil-mode overhang where there is one, so that a
    plain VALID window scan over the input padded by ``window_pads`` yields exactly ``out``
    positions. The overhang is never counted as padding (torch's avg-pool divisor rule).

    >>> pool_padding((5,), 3, 2, 0, 1, True)
    ((2,), ((0, 0),), ((0, 0),))
    >>> pool_padding((6,), 3, 2, 0, 1, True)
    ((3,), ((0, 0),), ((0, 1),))
    """
    w = pool_window(input_size, kernel_size, stride, padding, dilation, ceil_mode, fn=fn)
    return w.out, w.pads, w.scan_pads


def pool_window_counts(input_size: IntOrSeq, kernel_size: IntOrSeq, stride: IntOrSeq | None = None, padding: Padding = 0,
                       ceil_mode: bool = False, *, fn: str = "pool_window_counts"
                       ) -> tuple[tuple[tuple[int, ...], tuple[int, ...]], ...]:
    """Average-pool divisors per dim and output position: ``(with_padding, real)``.

    Window ``o`` starts at ``start = o * s - lo``. ``with_padding = min(start + k, in + hi) - start``
    counts zero padding but never the ceil-mode overhang past ``in + hi`` (torch's
    ``count_include_pad=True``); ``real = min(start + k, in) - max(start, 0)`` counts only
    input elements (``count_include_pad=False``, 0 for a window wholly in the padding).
    The divisor of an N-d window is the product of its per-dim counts.

    >>> pool_window_counts((5,), 2, 2, 1, ceil_mode=True)
    (((2, 2, 2), (1, 2, 2)),)
    >>> pool_window_counts((6,), 3, 2, 0, ceil_mode=True)   # the last window overhangs by one
    (((3, 3, 2), (3, 3, 2)),)
    """
    return pool_window(input_size, kernel_size, stride, padding, 1, ceil_mode, fn=fn).counts()


def adaptive_pool_bins(input_size: IntOrSeq, output_size: int | Sequence[int | None], *, fn: str = "adaptive_pool_bins"
                       ) -> tuple[tuple[tuple[int, int], ...], ...]:
    """The ``[start, end)`` input bin of every output position of an adaptive pool, per dim.

    torch's rule: ``start = floor(i * in / out)``, ``end = ceil((i + 1) * in / out)``; bins
    overlap where ``out`` does not divide ``in``. ``output_size`` is an int (every dim) or
    one entry per dim, ``None`` keeping that dim's input size; 0 gives no bins (an empty output, as torch).

    >>> adaptive_pool_bins((5,), 3)
    (((0, 2), (1, 4), (3, 5)),)
    >>> [len(b) for b in adaptive_pool_bins((7, 9), (None, 2))]
    [7, 2]
    """
    n = _ndim(input_size)
    ins = canonicalize(input_size, n, "input_size", fn, min_value=1)
    if is_int(output_size):
        outs_raw: tuple[object, ...] = (operator.index(output_size),) * n  # type: ignore[arg-type]
    elif isinstance(output_size, Sequence) and not isinstance(output_size, str):
        outs_raw = tuple(output_size)
        if len(outs_raw) == 1 and n != 1:
            outs_raw = outs_raw * n
        if len(outs_raw) != n:
            raise arg_error(fn, "output_size", f"must have {n} entries, one per spatial dim", output_size)
    else:
        raise arg_error(fn, "output_size", f"must be an int or a sequence of {n} ints or None", output_size, exc=TypeError)
    outs = []
    for v, i in zip(outs_raw, ins):
        if v is None:
            outs.append(i)
        elif not is_int(v):
            raise arg_error(fn, "output_size", f"must be an int or a sequence of {n} ints or None", output_size, exc=TypeError)
        elif operator.index(v) < 0:  # type: ignore[call-overload]
            raise arg_error(fn, "output_size", "must be >= 0 in every spatial dim (0: an empty output, as torch)", output_size)
        else:
            outs.append(operator.index(v))  # type: ignore[call-overload]
    return tuple(tuple(((o * i) // m, -((-(o + 1) * i) // m)) for o in range(m)) for i, m in zip(ins, outs))


def unpool_output_shape(input_size: IntOrSeq, kernel_size: IntOrSeq, stride: IntOrSeq | None = None, padding: Padding = 0,
                        output_size: Sequence[int] | None = None, *, fn: str = "unpool_output_shape") -> tuple[int, ...]:
    """Spatial output size of a max unpooling (torch's ``_unpool_output_size``).

    The default is ``(in - 1) * s - lo - hi + k`` per dim. An explicit ``output_size``
    (spatial, or with the leading ``(N, C)``) resolves the sizes a strided pool maps to the
    same input: it must lie strictly between ``default - s`` and ``default + s``.

    >>> unpool_output_shape((2, 2), 2)
    (4, 4)
    >>> unpool_output_shape((2,), 3, 2, 0, (6,))
    (6,)
    """
    n = _ndim(input_size)
    ins = canonicalize(input_size, n, "input_size", fn, min_value=1)
    ks, ss, ds = window_args(fn, n, kernel_size, stride)
    if isinstance(padding, str):
        raise arg_error(fn, "padding", "must be ints or (lo, hi) pairs (a string needs the pool's input size)", padding)
    pads = _resolve(fn, padding, None, ks, ss, ds)
    default = tuple((i - 1) * s - lo - hi + k for i, s, (lo, hi), k in zip(ins, ss, pads, ks))
    if output_size is None:
        out = default
    else:
        if is_int(output_size) or not isinstance(output_size, Sequence) or isinstance(output_size, str):
            raise arg_error(fn, "output_size", f"must be a sequence of {n} or {n + 2} ints", output_size, exc=TypeError)
        sizes = tuple(output_size)
        if len(sizes) == n + 2:
            sizes = sizes[2:]
        if len(sizes) != n or not all(is_int(v) for v in sizes):
            raise arg_error(fn, "output_size", f"must be a sequence of {n} or {n + 2} ints", output_size)
        out = tuple(operator.index(v) for v in sizes)  # type: ignore[call-overload]
        for o, d, s in zip(out, default, ss):
            if not d - s < o < d + s:
                lo_b = tuple(d - s for d, s in zip(default, ss))
                hi_b = tuple(d + s for d, s in zip(default, ss))
                raise arg_error(fn, "output_size", f"must lie strictly between {lo_b} and {hi_b} in every dim", output_size)
    if any(o < 1 for o in out):
        raise arg_error(fn, "output_size", "must be >= 1 in every dim (kernel, stride and padding give an empty output)", out)
    return out


@dataclass(frozen=True)
class TransposedWindow:
    """The windows of a transposed convolution: canonical, resolved, hashable.

    ``pads`` are the forward convolution's ``(lo, hi)``, cropped from the output;
    ``out = (in - 1) * s - lo - hi + d * (k - 1) + output_padding + 1`` per dim.
    """

    input_size: tuple[int, ...]
    kernel: tuple[int, ...]
    stride: tuple[int, ...]
    dilation: tuple[int, ...]
    pads: tuple[tuple[int, int], ...]
    output_padding: tuple[int, ...]
    out: tuple[int, ...]


def _spatial_output_size(fn: str, output_size: object, n: int) -> tuple[int, ...]:
    if isinstance(output_size, Sequence) and not isinstance(output_size, str) and len(output_size) == n + 2:
        # torch's module forward accepts (N, C, *spatial) as well as (*spatial).
        output_size = tuple(output_size)[2:]
    elif isinstance(output_size, Sequence) and not isinstance(output_size, str) and len(output_size) not in (1, n):
        raise arg_error(fn, "output_size", f"must have {n} or {n + 2} entries for {n} spatial dims", output_size)
    return canonicalize(output_size, n, "output_size", fn, min_value=1)  # type: ignore[arg-type]


def check_output_padding(fn: str, output_padding: IntOrSeq, stride: tuple[int, ...], dilation: tuple[int, ...]) -> tuple[int, ...]:
    """torch's rule for a transposed convolution: ``0 <= output_padding < max(stride, dilation)`` per dim.

    >>> check_output_padding("conv_transpose2d", 1, (2, 2), (1, 1))
    (1, 1)
    """
    ops = canonicalize(output_padding, len(stride), "output_padding", fn, min_value=0)
    limit = tuple(max(a, b) for a, b in zip(stride, dilation))
    if any(op >= m for op, m in zip(ops, limit)):
        raise arg_error(fn, "output_padding", f"must be < max(stride, dilation) = {limit} per dim", ops)
    return ops


def conv_transpose_window(input_size: IntOrSeq, kernel_size: IntOrSeq, stride: IntOrSeq = 1, padding: Padding = 0,
                          output_padding: IntOrSeq = 0, dilation: IntOrSeq = 1, output_size: IntOrSeq | None = None,
                          *, fn: str = "conv_transpose_window") -> TransposedWindow:
    """The :class:`TransposedWindow` of a transposed convolution (torch's rules).

    ``output_padding`` must be ``< max(stride, dilation)``. A string padding means the padding
    of the forward convolution this one is the adjoint of, on an input of ``in * s`` (so
    ``"same"`` gives ``out = in * s``, as TensorFlow's ``conv2d_transpose``), and derives
    ``output_padding``. An ``output_size`` (spatial, or with the leading ``(N, C)``) derives
    ``output_padding`` too; a string padding is then that of a forward conv on ``output_size``.

    >>> w = conv_transpose_window((4,), 3, 2, 1, output_size=(8,))
    >>> w.output_padding, w.out
    ((1,), (8,))
    """
    ins = canonicalize(input_size, _ndim(input_size), "input_size", fn, min_value=1)
    n = len(ins)
    ks, ss, ds = window_args(fn, n, kernel_size, stride, dilation)
    keff = effective_kernel(ks, ds)
    ops = check_output_padding(fn, output_padding, ss, ds)
    limit = tuple(max(a, b) for a, b in zip(ss, ds))
    if output_size is not None:
        if any(ops):
            raise arg_error(fn, "output_padding", "must be 0 when output_size is given (it is derived from it)", output_padding)
        outs = _spatial_output_size(fn, output_size, n)
        pads = _resolve(fn, padding, outs if isinstance(padding, str) else None, ks, ss, ds)
        base = tuple((i - 1) * s - lo - hi + k for i, s, (lo, hi), k in zip(ins, ss, pads, keff))
        ops = tuple(o - b for o, b in zip(outs, base))
        if any(op < 0 or op >= m for op, m in zip(ops, limit)):
            hi_ok = tuple(b + m - 1 for b, m in zip(base, limit))
            raise arg_error(fn, "output_size", f"must lie between {base} and {hi_ok} for this input, kernel, stride and padding",
                            outs)
    elif isinstance(padding, str):
        if any(ops):
            raise arg_error(fn, "output_padding", "must be 0 with a string padding (it is derived)", ops)
        fwd_in = tuple(i * s for i, s in zip(ins, ss))
        pads = _resolve(fn, padding, fwd_in, ks, ss, ds)
        # The forward conv on fwd_in must produce exactly input_size positions.
        fwd_out = tuple((f + lo + hi - k) // s + 1 for f, (lo, hi), k, s in zip(fwd_in, pads, keff, ss))
        if fwd_out != ins:
            raise arg_error(fn, "padding", f"does not invert to input size {ins} for a transposed conv", padding)
        ops = tuple(f - ((i - 1) * s - lo - hi + k) for f, i, s, (lo, hi), k in zip(fwd_in, ins, ss, pads, keff))
    else:
        pads = _resolve(fn, padding, None, ks, ss, ds)
    out = tuple((i - 1) * s - lo - hi + k + op for i, s, (lo, hi), k, op in zip(ins, ss, pads, keff, ops))
    _check_nonempty(fn, out, ins, "minus padding")
    return TransposedWindow(ins, ks, ss, ds, pads, ops, out)


def conv_transpose_output_shape(input_size: IntOrSeq, kernel_size: IntOrSeq, stride: IntOrSeq = 1, padding: Padding = 0,
                                output_padding: IntOrSeq = 0, dilation: IntOrSeq = 1, *, fn: str = "conv_transpose_output_shape"
                                ) -> tuple[int, ...]:
    """Spatial output size of a transposed convolution (see :func:`conv_transpose_window`).

    ``out = (in - 1) * s - lo - hi + d * (k - 1) + output_padding + 1`` per dim
    (torch: ``lo = hi = padding``).

    >>> conv_transpose_output_shape((4, 4), 3, stride=2, padding=1, output_padding=1)
    (8, 8)
    >>> conv_transpose_output_shape((4,), 4, stride=2, padding="same")
    (8,)
    """
    return conv_transpose_window(input_size, kernel_size, stride, padding, output_padding, dilation, fn=fn).out


def conv_transpose_padding(input_size: Sequence[int], kernel_size: IntOrSeq, stride: IntOrSeq = 1, padding: Padding = 0,
                           output_padding: IntOrSeq = 0, dilation: IntOrSeq = 1, *, fn: str = "conv_transpose_padding"
                           ) -> tuple[tuple[tuple[int, int], ...], tuple[int, ...]]:
    """Resolve a transposed convolution's padding to ``(pads, output_padding)``.

    ``pads`` are the forward convolution's ``(lo, hi)`` pairs that the transposed
    convolution crops. ``output_padding`` must be ``< max(stride, dilation)`` (torch's
    rule). For string paddings it is derived (and must be left at 0).

    >>> conv_transpose_padding((4,), 3, 2, "same")    # out = (4-1)*2 - 0 - 1 + 3 + 0 = 8 = in * stride
    (((0, 1),), (0,))
    """
    w = conv_transpose_window(input_size, kernel_size, stride, padding, output_padding, dilation, fn=fn)
    return w.pads, w.output_padding


def conv_transpose_output_padding(input_size: Sequence[int], output_size: Sequence[int], kernel_size: IntOrSeq,
                                  stride: IntOrSeq = 1, padding: Padding = 0, dilation: IntOrSeq = 1, *,
                                  fn: str = "conv_transpose_output_padding") -> tuple[int, ...]:
    """The ``output_padding`` that makes a transposed convolution produce ``output_size``.

    >>> conv_transpose_output_padding((4, 4), (8, 8), 3, 2, 1)
    (1, 1)
    """
    return conv_transpose_window(input_size, kernel_size, stride, padding, 0, dilation, output_size, fn=fn).output_padding


def conv_params(in_channels: int, out_channels: int, kernel_size: IntOrSeq, groups: int = 1, bias: bool = True) -> int:
    """Number of parameters of a convolution: ``prod(k) * Cin / groups * Cout (+ Cout)``.

    Seed 002's formula ``F * F * Ci * K + K``:

    >>> conv_params(3, 64, 3)
    1792
    """
    fn = "conv_params"
    if not is_int(in_channels) or in_channels < 1:
        raise arg_error(fn, "in_channels", "must be an int >= 1", in_channels)
    if not is_int(out_channels) or out_channels < 1:
        raise arg_error(fn, "out_channels", "must be an int >= 1", out_channels)
    _check_groups(fn, in_channels, out_channels, groups)
    ks = canonicalize(kernel_size, 1 if is_int(kernel_size) else len(kernel_size), "kernel_size", fn, min_value=1)  # type: ignore[arg-type]
    if is_int(kernel_size):
        ks = (operator.index(kernel_size),) * 2  # type: ignore[arg-type]
    return math.prod(ks) * (in_channels // groups) * out_channels + (out_channels if bias else 0)


def _check_groups(fn: str, in_channels: int, out_channels: int, groups: int) -> None:
    if not is_int(groups) or groups < 1:
        raise arg_error(fn, "groups", "must be an int >= 1", groups)
    if in_channels % groups:
        raise arg_error(fn, "groups", f"must divide in_channels={in_channels}", groups)
    if out_channels % groups:
        raise arg_error(fn, "groups", f"must divide out_channels={out_channels}", groups)


def conv_flops(input_size: IntOrSeq, in_channels: int, out_channels: int, kernel_size: IntOrSeq, stride: IntOrSeq = 1,
               padding: Padding = 0, dilation: IntOrSeq = 1, groups: int = 1, bias: bool = True, batch: int = 1) -> int:
    """FLOPs of a convolution forward pass, multiply-adds counted as 2, bias adds as 1.

    ``2 * N * Cout * prod(out) * Cin / groups * prod(k) (+ N * Cout * prod(out))``.

    >>> conv_flops((32, 32), 3, 16, 3, padding=1, bias=False)
    884736
    """
    fn = "conv_flops"
    _check_groups(fn, in_channels, out_channels, groups)
    w = conv_window(input_size, kernel_size, stride, padding, dilation, fn=fn)
    positions = batch * out_channels * math.prod(w.out)
    return 2 * positions * (in_channels // groups) * math.prod(w.kernel) + (positions if bias else 0)


@dataclass(frozen=True)
class ReceptiveField:
    """Receptive field of a stack of windows, per spatial dim.

    Attributes:
      size: how many input pixels one output pixel sees.
      stride: distance in input pixels between neighbouring output pixels (the "jump").
      start: input coordinate of the first output pixel's first input pixel
        (negative when it lies in the padding).
    """

    size: tuple[int, ...]
    stride: tuple[int, ...]
    start: tuple[int, ...]


def receptive_field(layers: Sequence[Sequence[IntOrSeq] | dict[str, object]], n: int | None = None) -> ReceptiveField:
    """Receptive field of a stack of convolution/pooling windows.

    Args:
      layers: each a dict with keys ``kernel_size`` and optional ``stride``,
        ``padding`` (ints or per-side pairs), ``dilation``; or a tuple
        ``(kernel_size, stride=1, padding=0, dilation=1)``.
      n: number of spatial dims (inferred from the first per-dim entry otherwise, else 2).

    Returns:
      A :class:`ReceptiveField`. ``size_out = size_in + d * (k - 1) * jump_in``,
      ``jump_out = jump_in * s``, ``start_out = start_in - lo * jump_in``.

    >>> receptive_field([(3,), (3,)], n=1)
    ReceptiveField(size=(5,), stride=(1,), start=(0,))
    >>> receptive_field([dict(kernel_size=7, stride=2, padding=3), dict(kernel_size=3, stride=2, padding=1)], n=2).size
    (11, 11)
    """
    fn = "receptive_field"
    specs = []
    for idx, layer in enumerate(layers):
        if isinstance(layer, dict):
            unknown = set(layer) - {"kernel_size", "stride", "padding", "dilation"}
            if unknown or "kernel_size" not in layer:
                raise arg_error(fn, f"layers[{idx}]", "must have kernel_size and only stride/padding/dilation besides", layer)
            spec = (layer["kernel_size"], layer.get("stride", 1), layer.get("padding", 0), layer.get("dilation", 1))
        else:
            spec = tuple(layer) + (1, 0, 1)[len(tuple(layer)) - 1:]
            if len(tuple(layer)) < 1 or len(tuple(layer)) > 4:
                raise arg_error(fn, f"layers[{idx}]", "must be (kernel_size, stride, padding, dilation)", layer)
        specs.append(spec)
    if n is None:
        n = next((len(v) for s in specs for v in s if isinstance(v, Sequence) and not isinstance(v, str)), 2)
    size, jump, start = [1] * n, [1] * n, [0] * n
    for k, s, p, d in specs:
        if s is None:
            s = k
        ks, ss, ds = window_args(fn, n, k, s, d)  # type: ignore[arg-type]
        if isinstance(p, str):
            raise arg_error(fn, "padding", "must be explicit (ints or pairs) in a receptive-field stack", p)
        pads = _resolve(fn, p, None, ks, ss, ds)  # type: ignore[arg-type]
        for j in range(n):
            size[j] += ds[j] * (ks[j] - 1) * jump[j]
            start[j] -= pads[j][0] * jump[j]
            jump[j] *= ss[j]
    return ReceptiveField(tuple(size), tuple(jump), tuple(start))
