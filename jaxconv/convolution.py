"""N-d convolution with torch's arguments and the whole padding vocabulary.

Each public function validates its arguments once into a frozen, hashable
:class:`jaxconv.shapes.ConvSpec` (cached on the static shapes) and runs one jitted inner
function. What the spec describes can be computed several ways (XLA's convolution, the
same with extra high padding, im2col + GEMM whole or over chunks of the batch, one GEMM per kernel
tap, ...), separately for the forward pass and each gradient; :mod:`jaxconv.policy` chooses per
backend, and this module holds the formulations.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax
from jax.custom_derivatives import SymbolicZero

from jaxconv import policy
from jaxconv._plumbing import as_array, check_same_dtype, eager_jit, per_example
from jaxconv.depthwise import depthwise_taps, grouped_fold
from jaxconv.depthwise import input_term as depthwise_input_term
from jaxconv.depthwise import weight_term as depthwise_weight_term
from jaxconv.padding import pad_spatial
from jaxconv.phases import phase_conv
from jaxconv.shapes import ConvSpec, IntOrSeq, Padding, arg_error, conv_spec
from jaxconv.tap_gemm import tap_gemm_conv
from jaxconv.tap_gemm import weight_term as tap_gemm_weight_term
from jaxconv.taps import conv_taps
from jaxconv.winograd import input_term as winograd_input_term
from jaxconv.winograd import winograd_conv

__all__ = ["conv", "conv1d", "conv2d", "conv3d", "corr2d"]

Array = jax.Array

_GEMM_BROADCAST_MAX = 2 ** 18  # N * out_channels * K: broadcast the weight, batch the GEMM


def dimension_numbers(spec: ConvSpec) -> lax.ConvDimensionNumbers:
    """NCHW or NHWC (``channels_last``) activations, OIHW or HWIO (``weight_hwio``) weights, for ``spec.n`` spatial dims."""
    n = spec.n
    io = (0, n + 1, *range(1, n + 1)) if spec.channels_last else (0, 1, *range(2, n + 2))
    rhs = (n + 1, n, *range(n)) if spec.weight_hwio else (0, 1, *range(2, n + 2))
    return lax.ConvDimensionNumbers(io, rhs, io)


def _direct(x: jax.Array, w: jax.Array, spec: ConvSpec, precision: Any, pads: Any = None) -> jax.Array:
    return lax.conv_general_dilated(
        x, w, window_strides=spec.stride, padding=spec.lax_pads if pads is None else pads, rhs_dilation=spec.dilation,
        dimension_numbers=dimension_numbers(spec), feature_group_count=spec.groups, precision=precision,
    )


def _direct_hipad(x: jax.Array, w: jax.Array, spec: ConvSpec, precision: Any) -> jax.Array:
    # `stride` more zeros at the high end of the last spatial dim give exactly one more
    # output position there, which is cropped; the rest is untouched.
    pads = (*spec.lax_pads[:-1], (spec.lax_pads[-1][0], spec.lax_pads[-1][1] + spec.stride[-1]))
    y = _direct(x, w, spec, precision, pads)
    axis = spec.n if spec.channels_last else spec.n + 1
    return lax.slice_in_dim(y, 0, spec.out_spatial[-1], axis=axis)


def _gemm(x: jax.Array, w: jax.Array, spec: ConvSpec, precision: Any) -> jax.Array:
    # im2col: one strided slice of the (padded) input per kernel offset, stacked next to
    # the channels in the weight's own (C, *kernel) / (*kernel, C) order, then one GEMM:
    # the weight is only reshaped, never transposed (a transposed 3x3 512->512 weight and
    # its gradient cost XLA:CPU ~10 ms each, more than the GEMM).
    n, cl = spec.n, spec.channels_last
    if not cl and spec.weight_hwio:  # NCHW with an HWIO weight: the OIHW form
        w = jnp.transpose(w, (n + 1, n, *range(n)))
    taps = conv_taps(x, spec)
    batch, t, length = x.shape[0], len(taps), math.prod(spec.out_spatial)
    if spec.groups > 1:
        return _grouped_gemm(taps, w, spec, precision)
    if cl:
        c, c_out = x.shape[-1], spec.out_channels
        if spec.weight_hwio:  # patches (*kernel, C) against the weight's (*kernel, C, O)
            p = (taps[0] if t == 1 else jnp.stack(taps, axis=-2)).reshape(batch, length, t * c)
            y = lax.dot_general(p, w.reshape(t * c, c_out), (((2,), (0,)), ((), ())), precision=precision)
        else:  # patches (C, *kernel) against torch's (O, C, *kernel)
            p = (taps[0] if t == 1 else jnp.stack(taps, axis=-1)).reshape(batch, length, c * t)
            y = lax.dot_general(p, w.reshape(c_out, c * t), (((2,), (1,)), ((), ())), precision=precision)
        return y.reshape(batch, *spec.out_spatial, c_out)
    c, c_out = x.shape[1], w.shape[0]
    p = (taps[0] if t == 1 else jnp.stack(taps, axis=2)).reshape(batch, c * t, length)
    w2 = w.reshape(c_out, c * t)
    if batch * c_out * c * t <= _GEMM_BROADCAST_MAX:
        # Small weights: a batched GEMM straight into NCHW beats one GEMM and a transpose.
        y = lax.dot_general(jnp.broadcast_to(w2, (batch, c_out, c * t)), p, (((2,), (1,)), ((0,), (0,))),
                            precision=precision)
    else:
        y = jnp.matmul(w2, p, precision=precision)
    return y.reshape(batch, c_out, *spec.out_spatial)


# The im2col columns of one step of "gemm_scan" are at most this many bytes, so that they are built,
# multiplied and (in the backward) rebuilt while they are in cache, where the whole batch's columns stream
# through memory: the ResNet stem's NCHW weight gradient (7x7 s2 3->64 @224, batch 8) takes 37 ms per image
# (7.4 MB of columns), 46 ms two images at a time and 86-100 ms for the whole batch at once (AMD EPYC,
# 2026-12-05; jaxconv/policy.py has the measurements that put it in the CPU plan).
_SCAN_CHUNK_BYTES = 8 * 2 ** 20


def scan_chunk(spec: ConvSpec, batch: int | None = None, itemsize: int = 4) -> int:
    """The images per step of ``"gemm_scan"``: the largest divisor of the batch whose im2col columns fit
    :data:`_SCAN_CHUNK_BYTES` (at least one image; the whole batch, i.e. plain ``"gemm"``, where they all fit).
    ``batch`` is the input's (``spec.batch`` unless a vmap folded its dim into it).

    >>> from jaxconv.shapes import conv_spec
    >>> scan_chunk(conv_spec("conv2d", (8, 3, 224, 224), (64, 3, 7, 7), None, 2, 3, 1, 1, "zeros", False))
    1
    >>> scan_chunk(conv_spec("conv2d", (8, 64, 32, 32), (64, 64, 3, 3), None, 1, 1, 1, 1, "zeros", False))
    2
    """
    per_image = spec.in_channels * math.prod(spec.kernel) * math.prod(spec.out_spatial) * itemsize
    batch = spec.batch if batch is None else batch
    limit = max(1, _SCAN_CHUNK_BYTES // per_image)
    return max(c for c in range(1, min(batch, limit) + 1) if batch % c == 0)


def _gemm_scan(x: jax.Array, w: jax.Array, spec: ConvSpec, precision: Any) -> jax.Array:
    # The im2col GEMM over equal chunks of the batch in a lax.scan, each step's body rematerialised in the
    # backward pass (jax.checkpoint): reverse mode rebuilds a chunk's columns for its gradients instead of
    # keeping every chunk's, so only the input is kept (the memory of XLA's own convolution) and the columns
    # never leave the cache. The weight gradient is the scan's transpose: one GEMM per chunk, accumulated.
    batch = x.shape[0]
    chunk = scan_chunk(spec, batch, x.dtype.itemsize)
    if chunk >= batch:
        return _gemm(x, w, spec, precision)
    body = jax.checkpoint(lambda xc, w: _gemm(xc, w, spec, precision))
    if chunk == 1:
        # One image per step scans the batch axis itself. Through a (batch, 1, ...) reshape XLA:CPU lays
        # the padded input and the cotangent out anew before the weight gradient's loop (two full copies):
        # the ResNet stem's NCHW weight gradient (7x7 s2 3->64 @224, batch 8) 65 -> 40 ms, medians of 11,
        # 2026-12-07; chunks of 2 and 4 time the same either way (tests/test_conv_paths.py pins the program).
        _, ys = lax.scan(lambda carry, xi: (carry, body(xi[None], w)[0]), None, x)
        return ys
    _, ys = lax.scan(lambda carry, xc: (carry, body(xc, w)), None, x.reshape(batch // chunk, chunk, *x.shape[1:]))
    return ys.reshape(batch, *ys.shape[2:])


def _grouped_gemm(taps: list[jax.Array], w: jax.Array, spec: ConvSpec, precision: Any) -> jax.Array:
    """The im2col GEMM of a grouped conv: one GEMM per group, batched over the groups, each contracting
    that group's ``C / groups`` channels x kernel taps. Its transposes (the parts the CPU policy uses it
    for, :func:`jaxconv.policy.cpu_plan`) are a col2im of batched GEMMs and, for the weight, a batched GEMM
    contracting over batch and output positions."""
    cl, g = spec.channels_last, spec.groups
    batch, t, length = taps[0].shape[0], len(taps), math.prod(spec.out_spatial)
    c_out = spec.out_channels
    kg = c_out // g
    if cl and spec.weight_hwio:  # patches (B, L, t, G, C/G) against (t, C/G, G, O/G)
        p = jnp.stack(taps, axis=-2).reshape(batch, length, t, g, -1)
        y = lax.dot_general(p, w.reshape(t, -1, g, kg), (((2, 4), (0, 1)), ((3,), (2,))), precision=precision)
    elif cl:  # patches (B, L, G, C/G * t) against torch's (G, O/G, C/G * t)
        p = jnp.stack(taps, axis=-1).reshape(batch, length, g, -1)
        y = lax.dot_general(p, w.reshape(g, kg, -1), (((3,), (2,)), ((2,), (0,))), precision=precision)
    else:  # NCHW (an HWIO weight was made OIHW above): weight (G, O/G, C/G * t) against patches (B, G, C/G * t, L)
        p = jnp.stack(taps, axis=2).reshape(batch, g, -1, length)
        y = lax.dot_general(w.reshape(g, kg, -1), p, (((2,), (2,)), ((0,), (1,))), precision=precision)
        return jnp.transpose(y, (2, 0, 1, 3)).reshape(batch, c_out, *spec.out_spatial)  # (G, O/G, B, L) -> NCHW
    return jnp.transpose(y, (1, 2, 0, 3)).reshape(batch, *spec.out_spatial, c_out)  # (G, B, L, O/G) -> NHWC


def _taps(x: jax.Array, w: jax.Array, spec: ConvSpec, precision: Any) -> jax.Array:
    # "taps": the tap fold (jaxconv/depthwise.py): a depthwise conv's, with its own gradient
    # formulations, or a grouped conv's (a forward pass; its gradients are the plan's other parts).
    return (depthwise_taps if spec.groups == spec.in_channels else grouped_fold)(x, w, spec, precision)


def _taps_term(depthwise_term: Any) -> Any:
    # a grouped spec's "taps" (grouped_fold) has no rules of its own: its terms are the fold applied to the tangent
    def term(a: jax.Array, b: jax.Array, spec: ConvSpec, precision: Any) -> jax.Array:
        return (depthwise_term if spec.groups == spec.in_channels else grouped_fold)(a, b, spec, precision)
    return term


_ALGORITHMS = {"direct": _direct, "direct_hipad": _direct_hipad, "gemm": _gemm, "gemm_scan": _gemm_scan, "taps": _taps,
               "phases": phase_conv, "winograd": winograd_conv, "tap_gemm": tap_gemm_conv}
# The input- and weight-gradient terms of an algorithm whose transpose is not its plain autodiff: each is
# written as the linear transpose of the gradient's fast form (jaxconv/winograd.py: the input gradient as a
# Winograd conv of the cotangent; jaxconv/tap_gemm.py: the weight gradient as one X_t^T G GEMM per tap).
# Every other algorithm's term is the algorithm itself, applied to that tangent.
# The depthwise fold's terms are its own custom JVP's (jaxconv/depthwise.py), for mixed plans: alone, "taps"
# differentiates through that JVP already, so a plan of "taps" only runs the fold directly (_run).
_INPUT_TERMS: dict[str, Any] = {"winograd": winograd_input_term, "taps": _taps_term(depthwise_input_term)}
_WEIGHT_TERMS: dict[str, Any] = {"tap_gemm": tap_gemm_weight_term, "taps": _taps_term(depthwise_weight_term)}
_OWN_RULES = ("taps",)  # algorithms whose plain call carries their gradient terms (their custom JVP)


def _refolds(spec: ConvSpec, algorithm: str) -> bool:
    """Whether the forward pass of ``algorithm`` takes the spec's explicit zero padding back into XLA's window."""
    return algorithm in ("direct", "direct_hipad") and spec.mode == "zeros" and any(lo or hi for lo, hi in spec.mode_pads)


def _forward(algorithm: str, x: jax.Array, w: jax.Array, spec: ConvSpec, precision: Any) -> jax.Array:
    """The forward pass of ``algorithm`` on the mode-padded ``x``.

    A strided conv's zero padding is applied explicitly before it (jaxconv/shapes/specs.py: XLA:CPU
    aborts compiling the input gradient of some strided, window-padded convolutions). XLA's own
    convolution of that padded input is not what a hand-written ``lax.conv_general_dilated`` call
    compiles to, and on XLA:CPU it is slower: an unpadded window (NCHW ResNet stem 7x7 s2 3->64 @224,
    batch 8: 47 ms, 34 with the extra high padding of "direct_hipad", 15 window-padded; at 128x128 8.5 /
    5.8 / 5.3; channels-last 12.4 / 31 / 12.3; 3x3 s2 32->32 @64 NCHW 3.1 / 2.6 / 2.0; 2-core Xeon,
    2026-12-07). So the forward pass crops the padding off again (XLA folds slice-of-pad away) and
    convolves with it in the window. Only the forward: :func:`_run` sends such a plan through
    :func:`_mixed`, whose tangent terms (and so the gradients) convolve the explicitly padded input,
    and whose rule computes the primal through :func:`_mixed` itself, so that no order of autodiff
    transposes the window-padded form (tests/test_conv_paths.py::test_strided_zero_padded_forward_is_window_padded).
    """
    if not _refolds(spec, algorithm):
        return _ALGORITHMS[algorithm](x, w, spec, precision)
    axes = range(1, spec.n + 1) if spec.channels_last else range(2, spec.n + 2)
    start, limit = [0] * x.ndim, list(x.shape)
    for ax, (lo, hi) in zip(axes, spec.mode_pads):
        start[ax], limit[ax] = lo, x.shape[ax] - hi
    # the spec pads explicitly instead of in the window (lax_pads are zeros): the window takes mode_pads
    return _direct(lax.slice(x, start, limit), w, spec, precision, spec.mode_pads)


@functools.partial(jax.custom_jvp, nondiff_argnums=(2, 3, 4))
def _mixed(x: jax.Array, w: jax.Array, spec: ConvSpec, plan: policy.Plan, precision: Any) -> jax.Array:
    return _forward(plan[0], x, w, spec, precision)


@functools.partial(_mixed.defjvp, symbolic_zeros=True)
def _mixed_jvp(spec: ConvSpec, plan: policy.Plan, precision: Any, primals: tuple[Any, Any],
               tangents: tuple[Any, Any]) -> tuple[Any, Any]:
    # The convolution is bilinear, so its tangent is conv(dx, w) + conv(x, dw); computing
    # each term with its own algorithm makes reverse mode transpose exactly those: the
    # input gradient is the transpose of the first term, the weight gradient of the second.
    x, w = primals
    xd, wd = tangents
    fwd, a_dx, a_dw = plan
    # The refolded forward (_forward) only through _mixed itself: differentiated again (second order), it
    # takes this rule, never plain autodiff of the window-padded convolution.
    y = _mixed(x, w, spec, plan, precision) if _refolds(spec, fwd) else _ALGORITHMS[fwd](x, w, spec, precision)
    terms = []
    record = policy._part_recorder  # jaxconv.tuning.recording: which parts the program needs
    if not isinstance(xd, SymbolicZero):
        terms.append(_INPUT_TERMS.get(a_dx, _ALGORITHMS[a_dx])(xd, w, spec, precision))
        if record is not None:
            record(spec, "dx")
    if not isinstance(wd, SymbolicZero):
        terms.append(_WEIGHT_TERMS.get(a_dw, _ALGORITHMS[a_dw])(x, wd, spec, precision))
        if record is not None:
            record(spec, "dw")
    yd = functools.reduce(jnp.add, terms) if terms else jnp.zeros_like(y)
    return y, yd


def _run(plan: policy.Plan, x: jax.Array, w: jax.Array, spec: ConvSpec, precision: Any) -> jax.Array:
    # One algorithm whose gradients are its plain autodiff (or its own custom JVP's, _OWN_RULES): no custom
    # JVP here. An algorithm with its own input- or weight-gradient term (Winograd, the tap GEMMs) always
    # takes _mixed, which applies them.
    own = plan[0] in _OWN_RULES or (plan[1] not in _INPUT_TERMS and plan[2] not in _WEIGHT_TERMS)
    if plan[0] == plan[1] == plan[2] and own and not _refolds(spec, plan[0]) and policy._part_recorder is None:
        return _ALGORITHMS[plan[0]](x, w, spec, precision)
    return _mixed(x, w, spec, plan, precision)


def _convolve(x: jax.Array, w: jax.Array, spec: ConvSpec, precision: Any) -> jax.Array:
    """The convolution of a batched, mode-padded ``x`` with the policy's plan for each platform."""
    per = policy.plans(spec)
    if len(set(per.values())) == 1:
        return _run(per["default"], x, w, spec, precision)
    # Every plan is traced; lowering keeps the branch of the platform it lowers for.
    branches = {platform: functools.partial(_run, plan, spec=spec, precision=precision) for platform, plan in per.items()}
    return lax.platform_dependent(x, w, **branches)


@per_example(spec_index=3)
def _conv_impl(x: jax.Array, w: jax.Array, b: jax.Array | None, spec: ConvSpec, precision: Any) -> jax.Array:
    if any(lo or hi for lo, hi in spec.mode_pads):
        # Channels-last inputs are padded where they lie: moved to NCHW and back, XLA:CPU materialises
        # the pad NCHW and the conv's taps read across it (EfficientNet-B0's 3x3 s2 depthwise conv,
        # 96 channels @64, batch 8: a 10 ms pad where an NHWC one takes ~1.5).
        x = pad_spatial(x, spec.mode_pads, spec.mode, trailing=int(spec.channels_last))
    y = _convolve(x, w, spec, precision)
    if b is not None:
        y = y + (b if spec.channels_last else b.reshape((-1,) + (1,) * spec.n))
    return y


_conv_jit = eager_jit(_conv_impl, static_argnums=(3, 4))


def _conv(fn: str, n: int | None, input: Any, weight: Any, bias: Any, stride: IntOrSeq, padding: Padding,
          dilation: IntOrSeq, groups: int, padding_mode: str, channels_last: bool, precision: Any,
          weight_layout: str | None) -> jax.Array:
    input, weight = as_array(fn, "input", input), as_array(fn, "weight", weight)
    bias = as_array(fn, "bias", bias, optional=True)
    spec = conv_spec(fn, input.shape, weight.shape, None if bias is None else bias.shape, stride, padding, dilation,
                     groups, padding_mode, channels_last, n, weight_layout)
    check_same_dtype(fn, input, weight=weight, bias=bias)
    return _conv_jit(input, weight, bias, spec, precision)


def conv(input: Array, weight: Array, bias: Array | None = None, stride: IntOrSeq = 1, padding: Padding = 0, dilation: IntOrSeq = 1,
         groups: int = 1, *, padding_mode: str = "zeros", channels_last: bool = False, precision: Any = None,
         weight_layout: str | None = None) -> Array:
    """N-d convolution (cross-correlation), the number of spatial dims taken from ``weight``.

    Args:
      input: ``(N, C_in, *spatial)`` or unbatched ``(C_in, *spatial)``; with
        ``channels_last``, ``(N, *spatial, C_in)`` or ``(*spatial, C_in)``.
      weight: ``(C_out, C_in / groups, *kernel)`` (torch's OIHW); with
        ``channels_last``, ``(*kernel, C_in / groups, C_out)`` (TF/Flax's HWIO), unless
        ``weight_layout`` says otherwise.
      bias: optional ``(C_out,)``.
      stride: int or per-dim ints, >= 1.
      padding: int, per-dim ints, per-side pairs ``((lo, hi), ...)``, or ``"valid"``,
        ``"same"`` (XLA/TF rule for any stride and dilation), ``"same_lower"``,
        ``"full"``, ``"causal"``.
      dilation: int or per-dim ints, >= 1.
      groups: number of channel groups; divides ``C_in`` and ``C_out``.
      padding_mode: ``"zeros"``, ``"reflect"``, ``"replicate"`` or ``"circular"``
        (as ``torch.nn.Conv2d(padding_mode=...)``: the input is padded in that
        mode, then convolved without padding).
      channels_last: use NHWC inputs/outputs and HWIO weights.
      precision: passed to ``lax.conv_general_dilated``.
      weight_layout: the weight's layout when it is not the input's: ``"OIHW"`` (torch) or
        ``"HWIO"`` (TF/Flax) for 2-d, ``"OIW"``/``"WIO"`` for 1-d, ``"OIDHW"``/``"DHWIO"``
        for 3-d. ``channels_last=True, weight_layout="OIHW"`` is a torch model in
        channels-last memory format: NHWC activations, torch's weights unchanged.

    Returns:
      ``(N, C_out, *out)`` with ``out = floor((in + lo + hi - d*(k-1) - 1)/s) + 1``
      per spatial dim (unbatched in, unbatched out).

    Unlike torch, ``padding="same"`` works with any stride: the output has
    ``ceil(in / s)`` positions and the odd padding pixel goes at the end, as XLA/TF.
    Flax's ``nnx.Conv`` uses the same rule but HWIO weights and NHWC inputs.

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxconv
      >>> x, w = jnp.ones((1, 2, 7, 7)), jnp.ones((4, 2, 3, 3))
      >>> jaxconv.conv(x, w, stride=2, padding="same").shape
      (1, 4, 4, 4)
    """
    return _conv("conv", None, input, weight, bias, stride, padding, dilation, groups, padding_mode, channels_last, precision,
                 weight_layout)


def conv1d(input: Array, weight: Array, bias: Array | None = None, stride: IntOrSeq = 1, padding: Padding = 0, dilation: IntOrSeq = 1,
           groups: int = 1, *, padding_mode: str = "zeros", channels_last: bool = False, precision: Any = None,
           weight_layout: str | None = None) -> Array:
    """1-d convolution, ``torch.nn.functional.conv1d``: :func:`conv` over ``(N, C_in, L)`` or ``(C_in, L)``.

    The weight is ``(C_out, C_in/groups, kL)``; ``padding`` takes the whole vocabulary.

    >>> import jax.numpy as jnp
    >>> import jaxconv
    >>> jaxconv.conv1d(jnp.ones((1, 2, 10)), jnp.ones((3, 2, 3)), padding="same").shape
    (1, 3, 10)
    """
    return _conv("conv1d", 1, input, weight, bias, stride, padding, dilation, groups, padding_mode, channels_last, precision,
                 weight_layout)


def conv2d(input: Array, weight: Array, bias: Array | None = None, stride: IntOrSeq = 1, padding: Padding = 0, dilation: IntOrSeq = 1,
           groups: int = 1, *, padding_mode: str = "zeros", channels_last: bool = False, precision: Any = None,
           weight_layout: str | None = None) -> Array:
    """2-d convolution, ``torch.nn.functional.conv2d``: :func:`conv` over ``(N, C_in, H, W)`` or ``(C_in, H, W)``.

    The weight is ``(C_out, C_in/groups, kH, kW)``; ``out = floor((in + lo + hi - d*(k-1) - 1)/s) + 1``
    per spatial dim; ``padding`` takes the whole vocabulary (``"same"`` for any stride).

    >>> import jax.numpy as jnp
    >>> import jaxconv
    >>> jaxconv.conv2d(jnp.ones((1, 2, 8, 8)), jnp.ones((3, 2, 3, 3)), stride=2, padding=1).shape
    (1, 3, 4, 4)
    """
    return _conv("conv2d", 2, input, weight, bias, stride, padding, dilation, groups, padding_mode, channels_last, precision,
                 weight_layout)


def conv3d(input: Array, weight: Array, bias: Array | None = None, stride: IntOrSeq = 1, padding: Padding = 0, dilation: IntOrSeq = 1,
           groups: int = 1, *, padding_mode: str = "zeros", channels_last: bool = False, precision: Any = None,
           weight_layout: str | None = None) -> Array:
    """3-d convolution, ``torch.nn.functional.conv3d``: :func:`conv` over ``(N, C_in, D, H, W)`` or ``(C_in, D, H, W)``.

    The weight is ``(C_out, C_in/groups, kD, kH, kW)``.

    >>> import jax.numpy as jnp
    >>> import jaxconv
    >>> jaxconv.conv3d(jnp.ones((1, 2, 4, 4, 4)), jnp.ones((3, 2, 3, 3, 3)), padding="same").shape
    (1, 3, 4, 4, 4)
    """
    return _conv("conv3d", 3, input, weight, bias, stride, padding, dilation, groups, padding_mode, channels_last, precision,
                 weight_layout)


def corr2d(X: jax.Array, K: jax.Array) -> jax.Array:
    """2-D cross-correlation of a plain ``(H, W)`` array with an ``(h, w)`` kernel (d2l's ``corr2d``).

    Returns:
      ``(H - h + 1, W - w + 1)``: ``Y[i, j] = sum(X[i:i+h, j:j+w] * K)``.

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxconv
      >>> X = jnp.arange(9.0).reshape(3, 3)
      >>> jaxconv.corr2d(X, jnp.array([[0.0, 1.0], [2.0, 3.0]]))
      Array([[19., 25.],
             [37., 43.]], dtype=float32)
    """
    fn = "corr2d"
    X, K = as_array(fn, "X", X), as_array(fn, "K", K)
    if X.ndim != 2:
        raise arg_error(fn, "X", "must be a 2-d (H, W) array", f"shape {tuple(X.shape)}")
    if K.ndim != 2:
        raise arg_error(fn, "K", "must be a 2-d (h, w) array", f"shape {tuple(K.shape)}")
    if K.dtype != X.dtype:
        K = K.astype(X.dtype)
    return _conv(fn, 2, X[None, None], K[None, None], None, 1, 0, 1, 1, "zeros", False, None, None)[0, 0]

