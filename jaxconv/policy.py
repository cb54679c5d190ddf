"""The algorithm policy: *how* a convolution is computed, per backend; the spec says *what*.

Every formulation here computes the same sums as XLA's own convolution in another order
(``tests/test_conv_paths.py`` checks each against the others and torch), so the choice is
one of speed only, and speed is measured per backend. The measurements behind the CPU table
(:func:`cpu_plan`) were taken on XLA:CPU; they never decide a GPU or TPU program: the ops
emit the CPU plan and the default plan (XLA's own convolution) as the branches of
``lax.platform_dependent``, so a program lowered or exported for ``cuda`` or ``tpu`` holds
XLA's convolution (``tests/test_conv_paths.py`` exports for both without a GPU).

The plan is a triple ``(forward, input gradient, weight gradient)`` of :data:`ALGORITHMS`.
:func:`conv_algorithm` forces one in a ``with`` block; the switch is a JAX config state that
is part of the jit cache key, so changing it retraces rather than reusing a program built
under the other choice.

>>> import jaxconv
>>> from jaxconv import policy
>>> spec = jaxconv.shapes.conv_spec("conv2d", (64, 1, 28, 28), (6, 1, 5, 5), None, 1, 2, 1, 1, "zeros", False)
>>> policy.cpu_plan(spec)
('gemm', 'gemm', 'direct')
>>> with policy.conv_algorithm("direct"):
...     policy.plans(spec)
{'cpu': ('direct', 'direct', 'direct'), 'default': ('direct', 'direct', 'direct')}
"""

from __future__ import annotations

import contextlib
import itertools
import math
from collections.abc import Callable, Iterator
from typing import Any

from jax import lax
from jax._src import config as _jax_config  # the config-state mechanism jax's own scoped flags use

from jaxconv.fusion import cpu_fusion_barrier, cpu_materialize
from jaxconv.shapes import ConvSpec
from jaxconv.tap_gemm import supports as tap_gemm_supports
from jaxconv.winograd import supports as winograd_supports

__all__ = ["ALGORITHMS", "DIRECT", "LAYOUTS", "by_platform", "conv_algorithm", "cpu_fusion_barrier", "cpu_graph_layout",
           "cpu_materialize", "cpu_plan", "forced_layout", "forced_plan", "graph_layout", "graph_layouts", "plans"]

#: The convolution formulations: XLA's convolution, the same with extra high padding, im2col + GEMM,
#: the same over cache-sized chunks of the batch in a ``lax.scan`` (``"gemm_scan"``), the tap fold
#: of a depthwise or grouped conv (``groups > 1``; :mod:`jaxconv.depthwise`), a strided conv as a
#: stride-1 conv over stride phases (stride > 1, dilation 1; :mod:`jaxconv.phases`), Winograd's
#: F(2x2, 3x3) (2-d 3x3, stride 1, dilation 1, groups 1; :mod:`jaxconv.winograd`), and one GEMM per
#: kernel tap without im2col columns (groups 1; :mod:`jaxconv.tap_gemm`).
ALGORITHMS = ("direct", "direct_hipad", "gemm", "gemm_scan", "taps", "phases", "winograd", "tap_gemm")
Plan = tuple[str, str, str]
#: The platforms ``lax.platform_dependent`` can branch on besides ``"cpu"``.
ACCELERATORS = ("cuda", "rocm", "tpu")
#: XLA's own convolution for the forward pass and both gradients: the default off CPU.
DIRECT: Plan = ("direct", "direct", "direct")

# A JAX config state (as jax_default_matmul_precision): thread-local, scoped by a context
# manager, and included in the jit cache key and the trace context.
_STATE = _jax_config.enum_state(
    name="jaxconv_conv_algorithm",
    enum_values=["auto", *(",".join(p) for p in itertools.product(ALGORITHMS, repeat=3))],
    default="auto",
    help="jaxconv: force a convolution plan ('auto', or 'forward,input_grad,weight_grad' of "
         f"{ALGORITHMS}); use jaxconv.policy.conv_algorithm.",
    include_in_jit_key=True,
    include_in_trace_context=True,
)


def _parse(algorithm: str | tuple[str, ...] | None) -> Plan | None:
    triple = (algorithm,) * 3 if isinstance(algorithm, str) else algorithm
    if triple is None:
        return None
    if not isinstance(triple, tuple) or len(triple) != 3 or any(a not in ALGORITHMS for a in triple):
        raise ValueError(f"conv_algorithm: unknown conv algorithm {algorithm!r}; one of {ALGORITHMS} or a triple of them")
    return triple  # type: ignore[return-value]


@contextlib.contextmanager
def conv_algorithm(algorithm: str | tuple[str, str, str] | None) -> Iterator[None]:
    """Run every convolution traced in this block with ``algorithm`` on every backend.

    A name forces it for the forward pass and both gradients; a triple gives (forward,
    input gradient, weight gradient); ``None`` restores the automatic, per-backend choice.
    For tests and measurements: the results agree to float rounding whatever is chosen.
    ``"taps"`` needs a grouped or depthwise conv (a ``ValueError`` at the call otherwise).

    >>> import jax.numpy as jnp, jaxconv
    >>> with conv_algorithm("gemm"):
    ...     jaxconv.conv2d(jnp.ones((1, 1, 4, 4)), jnp.ones((1, 1, 3, 3))).shape
    (1, 1, 2, 2)
    """
    triple = _parse(algorithm)
    with _STATE("auto" if triple is None else ",".join(triple)):
        yield


def forced_plan() -> Plan | None:
    """The plan :func:`conv_algorithm` forces in the current scope, or ``None``."""
    value = _STATE.value
    return None if value == "auto" else tuple(value.split(","))  # type: ignore[return-value]


# --- the CPU table ------------------------------------------------------------------------
# XLA:CPU (0.10, convolutions and dots lowered to YNNPACK) has performance cliffs that a
# static, shape-based choice avoids. Figures: single-thread CPU-time medians on this
# project's 2-core AMD EPYC machine (forward / input gradient / weight gradient, ms).
# * A convolution whose window has no padding at all is ~2.5x slower than the same one
#   with any padding (3x3 64->64, 58x58 VALID, batch 8: 62 / 28 / 59 as given to XLA;
#   24 / 27 / 22 with `stride` extra zero columns whose output column is cropped:
#   "direct_hipad"). The explicitly padded strided convs (the ResNet stem) are unpadded
#   windows too: stem forward 76 -> 33.
# * A 1x1 convolution is a GEMM ("gemm"): 1x1 256->1024 @14: 13 / 14 / 23 -> 11 / 11 / 10.
# * With few input channels (LeNet's 1->6 5x5, batch 64) XLA's convolutions are slow,
#   the input gradient most (a one-channel output): 3.1 / 8.1 / 1.3; im2col (one strided
#   slice per kernel offset) + a batched GEMM, whose transpose is a col2im of shifted
#   adds: 1.1 / 1.1 / 1.8. Its weight gradient loses to XLA's own, so the three parts
#   are chosen separately (a custom JVP whose tangent uses the gradient algorithms).
#   Past ~2M patch elements building the patches costs more than the GEMM saves.
# * Tiny outputs with many channels (ResNet's last stage at a 128x128 input: 3x3 512->512 @4x4,
#   batch 8): XLA:CPU's convolution 8.9 / 7.5 / 13.5, im2col + GEMM 3.7 / 3.2 / 4.3 (torch's
#   forward 3.4); at 8x8 (256 ch) the two tie (4.8 / 4.6 / 5.5 vs 4.7 / 4.0 / 5.1) and at 16x16
#   XLA wins. Quiet machine, medians of 7, 2026-12-02.
_GEMM_MAX_K = 160  # in_channels * prod(kernel): small channel counts only
_GEMM_MAX_OUT_TINY = 16  # prod(out_spatial): at most 4x4 outputs take the GEMM whatever the channels
_GEMM_MAX_PATCH_ELEMS = 2 ** 21  # K * N * prod(out): patches up to 8 MiB of float32
_GEMM_MIN_PATCH_ELEMS = 2 ** 14  # below this a convolution is all dispatch: keep XLA's one op


# * Depthwise convs (groups == in_channels: MobileNet, EfficientNet, ConvNeXt's 7x7) are
#   XLA:CPU's slowest case, a generic grouped loop for every part; the tap fold of
#   jaxconv/depthwise.py ("taps": one strided slice per tap times a per-channel weight,
#   with gather-form input-gradient and chunked weight-gradient formulations) wins every
#   part on every shape measured (experiments/bench_depthwise.py, batch 8, 2 threads,
#   under load from other jobs; XLA -> taps, forward / input grad / weight grad, ms):
#   3x3 s1 96@64: 304 / 293 / 505 -> 16 / 14 / 68; 3x3 s2 144@56 (MobileNetV2):
#   128 / 863 / 142 -> 12 / 8 / 32; 3x3 VALID 32@112: 486 / 892 / 693 -> 7 / 7 / 49;
#   7x7 96@32 (ConvNeXt): 343 / 342 / 612 -> 12 / 9 / 96. Measured in 2-d only, so
#   1-d/3-d depthwise convs stay with XLA (the fold computes them exactly when forced).
# * Grouped convs (1 < groups < in_channels: RegNet's group width 8, ResNeXt's 32 groups) get
#   XLA:CPU's gradients from a pathological path, the weight gradient most: ~200-400 ms for any
#   shape, even 3x3 440->440 in 55 groups @4x4 (forward 0.9 ms), 3 s at 128 channels in 32 groups
#   @32; regnet_y_400mf's train step (batch 8, 128x128) took 4.4 s, 16 such convs. The grouped
#   im2col GEMM ("gemm": one strided slice per tap, a GEMM per group batched over the groups)
#   wins both gradients on every shape measured (XLA -> gemm, input / weight gradient, ms,
#   batch 8, 3x3): 48@64 s2 g6 20.1 / 245 -> 8.4 / 11.8; 104@16 g13 4.1 / 279 -> 1.6 / 2.1;
#   440@4 g55 0.8 / 224 -> 0.4 / 0.5; 128@32 g32 58 / 3039 -> 19 / 46; 128@32 g2 49 / 231 ->
#   29 / 69; 64@56 g4 66 / 779 -> 39 / 84; 512@8 g8 13 / 216 -> 6.2 / 8.0. Its forward is mixed
#   (48@64 s2 g6 10.3 -> 12.9, 128@32 g2 49.5 -> 56.6, 64@56 g4 68 -> 89; 128@32 g32 54 -> 39),
#   so the forward stays XLA's, except for grouped 1x1 convs, a batched GEMM in every part
#   (ShuffleNet's 240 -> 240 in 3 groups @28: 14.1 / 10.7 / 73.2 -> 6.2 / 3.8 / 3.6). The
#   gradients' patches cost prod(kernel) / prod(stride) times the input's memory (9x for a 3x3
#   stride-1 conv), only in the backward pass. Measured in 2-d only: 1-d/3-d stay with XLA.
#   Ported regnet_y_400mf, batch 8, 128x128: train step 5.0 s -> 0.32 s (torch 0.17 s); the GEMM's
#   forward too, timed alternately against this plan in one process: eval 1.05x, train 0.95x, a wash,
#   so XLA's stays. AMD EPYC, 2 threads, medians of 5-15, 2026-12-03.
_TAPS_MIN_ELEMS = 2 ** 14  # out elements x taps: below this a conv is all dispatch, keep XLA's one op
# * A grouped conv's forward with narrow groups is a tap fold too (jaxconv/depthwise.py:grouped_fold,
#   taps x group-width elementwise terms). XLA -> fold, forward, ms, batch 8, 3x3, NHWC / NCHW:
#   group width 8: 64@56 66 / 72 -> 11 / 12 (torch 3.5 / 4.3); 48@64 s2 6.2 / 9.7 -> 5.4 / 7.7;
#   104@32 14 / 16 -> 7.3 / 7.2; 440@8 4.1 / 4.1 -> 2.2 / 2.2; 256@16 8.1 / 9.7 -> 5.9 / 4.7; width 4:
#   128@32 46 / 63 -> 5.2 / 2.8. Width 16 loses (256@16 8.2 / 9.9 -> 90 / 13; 64@56 50 / 63 -> 191 /
#   32), width 32 by 10x: past 8 channels per group, or 72 terms, XLA's convolution stays. Measured
#   for 3x3 kernels only, hence the terms bound. AMD EPYC, 2 threads, medians of 11, 2026-12-03.
_FOLD_MAX_GROUP_WIDTH = 8
_FOLD_MAX_TERMS = 72


# * The input gradient of a strided conv with few input channels (the ResNet stem, 7x7 s2
#   3->64 @224, batch 8) is XLA:CPU's lhs-dilated convolution with a 3-channel output, its
#   slow path: 87-102 ms (torch 58); over stride phases (jaxconv/phases.py: a stride-1 conv
#   of the space-to-depth input, 12 channels) 36 ms. Its forward (104 vs 42) and weight
#   gradient (134 vs 76) are slower over phases, and with 64 input channels (3x3 s2 64->128
#   @56) the phases lose every part (14 / 78 vs 12 / 26 for dx / dw): input gradient only,
#   few channels only (the gemm bound). Quiet machine, medians of 7, 2026-12-02.
#   The stem's forward stays XLA's direct conv: the whole batch's im2col columns alone (49 strided
#   slices, NHWC) take 58 ms against XLA's whole forward's 21.8, and keeping the forward's columns for
#   the weight gradient ties (fwd + dw 70 vs 71 ms) while keeping 59 MB more (2026-12-04). Its weight
#   gradient is the tap GEMMs' channels-last and the chunked im2col GEMM's NCHW (both below).


# * Dense 3x3 stride-1 convs (ResNet's, VGG's, U-Net's) by Winograd's F(2x2, 3x3)
#   (jaxconv/winograd.py: 16 GEMMs over transformed tiles, 4/9 of the multiplies). Batch 8, XLA ->
#   winograd, forward / input gradient / weight gradient, ms, NHWC: 64@32 6.9 / 7.0 / 7.4 ->
#   3.5 / 3.4 / 11.1; 64@56 20.1 / 19.4 / 21.4 -> 9.5 / 10.4 / 53.3; 128@28 10.3 / 10.3 / 14.6 ->
#   6.9 / 7.7 / 14.4; 256@14 11.1 / 11.5 / 12.4 -> 6.0 / 6.2 / 12.4; 512@7 15.8 / 14.5 / 11.6 ->
#   11.9 / 9.9 / 21.5; 192@16 9.8 / 9.3 -> 5.7 / 5.0; a tie where XLA's conv already runs at the
#   GEMM rate (128@14 and 128@16: 2.5 / 2.4 and 3.5 / 3.3 -> 2.4 / 2.3 and 3.1 / 3.3). NCHW (the
#   transforms run NHWC between two transposes, as XLA's own conv does): 64@32 7.5 -> 5.0,
#   64@56 21.9 -> 16.2, 256@14 11.4 -> 8.1, 128@16 3.7 -> 4.5 (the one loss). Its weight
#   gradient (16 GEMMs contracting over every tile) loses or ties everywhere: XLA's stays.
#   Fewer channels than 32 were not measured (the gemm rule takes most of them). Small convs
#   gain nothing and each Winograd conv adds ~40 kernels to compile (resnet18's train step 5 -> 11-15
#   s): NCHW 64@16 batch 8 1.7 / 1.7 -> 1.5 / 1.9, 64@32 batch 2 2.0 / 2.0 -> 1.9 / 2.9, 64@16
#   batch 2 0.5 / 0.5 -> 0.6 / 0.6; so only convs of >= 2^27 multiply-adds (64@32 batch 8: 1.5e8).
#   AMD EPYC, 2 threads, min of 3 medians of 15, 2026-12-02 (session 7).
_WINOGRAD_MIN_CHANNELS = 32
_WINOGRAD_MIN_MACS = 2 ** 27  # batch * out positions * in * out channels * 9


# * The weight gradient of a channels-last dense conv as one GEMM per kernel tap (jaxconv/tap_gemm.py,
#   no im2col columns). Inside a train step XLA:CPU runs that gradient as a YNNPACK convolution whose
#   window is the whole output, slow on small outputs. Timed alone against XLA's weight gradient of
#   the same conv (batch 8, NHWC, torch's OIHW weight, XLA -> tap GEMMs, ms, the programs compiled in
#   one process and timed alternately, medians of 7): 3x3 s1 64@32 31.0 -> 14.4, 256@14 22.5 -> 14.1;
#   3x3 s2 64->128 @32 7.5 -> 5.0; the stem 7x7 s2 3->64 @128 31.4 -> 19.6, @224 267 -> 102; and
#   (best of 3 medians of 9 against a conv with its padding in the window) 48@32 9.8 -> 4.1, 32@32 7.6
#   -> 3.5, 128@28 31.1 -> 25.4, 512@7 38.3 -> 22.8, 3x3 3->64 @128 68.0 -> 27.2. XLA keeps larger
#   outputs with more channels (64@56 52.4 -> 57.5, 32@64 23.8 -> 31.2, 16@64 3.3 -> 4.8) and few
#   channels at any size (16@32 3.4 -> 3.5; LeNet's conv2 6->16 5x5 @14, batch 64, 2.1 -> 2.9), and
#   every NCHW conv: there each tap's slice is transposed before its GEMM (64@32 30.7 -> 30.0, 256@14
#   23.8 -> 25.5, 3x3 s2 64->128 @32 6.7 -> 11.8, the stem @128 33.0 -> 192, @224 157 -> 584). Hence
#   channels-last convs with outputs of at most 32x32 positions and at least 32 input channels, or at
#   most 4 input channels (RGB stems) at any size; 2-d only (1-d and 3-d not measured); the 4x4
#   outputs keep im2col's GEMM (512@4 6.2 against 13.1). A ported network's train program runs
#   channels-last on CPU (cpu_graph_layout below), so these are its weight gradients. The whole
#   programs, with and without this rule, timed alternately in one process (train step, batch 8,
#   128x128; experiments/profile_network.py NET --mode train --compare-without tap_gemm): resnet18
#   1.11x, 1.21x and 1.14x (three runs, 8-10 rounds, 0.99-1.35), convnext_tiny 1.03x, mobilenet_v2
#   1.01x, regnet_y_400mf 0.98x (the last three change only their stems and downsampling convs;
#   within noise). AMD EPYC, 2 threads, a VM at about half its best speed (2026-12-04, session 14).
_TAP_GEMM_MAX_OUT = 32 * 32  # prod(out_spatial)
_TAP_GEMM_MIN_CHANNELS = 32  # in_channels, on those small outputs
_TAP_GEMM_MAX_RGB = 4  # in_channels: a stem's weight gradient at any size
# * The input gradient of a strided channels-last dense conv (ResNet's 3x3 s2 downsampling), and its
#   forward on small outputs, as the tap GEMMs too (the input gradient: one GEMM per tap of the
#   cotangent, padded back into place and summed). Batch 8, NHWC, OIHW weight, XLA (direct_hipad) ->
#   tap GEMMs, fwd / dx, ms, one process, alternately, medians of 9: 3x3 s2 64->128 @32 4.44 / 3.48 ->
#   3.46 / 2.74; 128->256 @16 4.50 / 3.57 -> 3.55 / 3.10; 64->128 @56 15.4 / 16.4 -> 15.7 / 13.8 (the
#   forward a tie on a 28x28 output); 32->64 @32 1.61 / 1.56 -> 1.54 / 1.10. Stride 1 loses to
#   Winograd (64@32 4.1 / 4.1 -> 7.5 / 6.7), the stem's forward to XLA (@128 12.3 -> 201; its input
#   gradient, 52 -> 29 there, ties at 224, 129 -> 127, so phases stay). resnet18's train step (batch 8,
#   128x128), with and without this rule, timed alternately: 1.045x (10 rounds, 0.98-1.16). 2026-12-04.
_TAP_GEMM_FWD_MAX_OUT = 16 * 16  # prod(out_spatial): the forward only on small outputs
_TAP_GEMM_FWD_MIN_CHANNELS = 64
# * NCHW dense convs' weight gradients as the im2col GEMM over cache-sized
#   chunks of the batch ("gemm_scan", jaxconv/convolution.py: a lax.scan whose steps build, multiply and,
#   rematerialised in the backward, rebuild one chunk's columns). XLA:CPU's NCHW weight gradient is its
#   slowest and least stable part: the ResNet stem's (7x7 s2 3->64 @224, batch 8) took 78 ms on
#   2026-12-02, 170-270 ms on 2026-12-05 on the same kind of machine (torch 20-24). The whole batch's
#   columns at once lost (86-113 ms: the columns stream through memory); a chunk's stay in cache.
#   Batch 8, NCHW, OIHW, plan -> gemm_scan, fwd / dw ms, one process, round-robin, min of 3 medians of
#   5 (AMD EPYC, 2 threads, 2026-12-05): the stem @224 33 / 170-222 -> 25 / 51-56, @128 9.5 / 25.1 -> 8.3 /
#   9.4; 3x3 s2 64->128 @56 12-15 / 16-18 -> 9.3-12 / 11-16, @32 4.8 / 4.7 -> 2.8 / 2.8; 128->256 @16 3.3 /
#   6.3 -> 2.4 / 2.3; 32->64 @64 dw 14.9 -> 6.4; the weight gradient of stride-1 convs (their forward is
#   Winograd's): 64@56 51-54 -> 24-25, 128@28 26-36 -> 18-26, 64@32 16.2 -> 10.5, 128@16 6.9 -> 5.5,
#   256@8 5.5 -> 4.2, 32@64 19.1 -> 11.3, 3->64 @128 68 -> 24.5, 64@224 batch 1 262 -> 209. The forward
#   of stride-1 convs loses to Winograd (64@32 5.2 -> 7.8), their input gradient (a col2im per chunk)
#   loses everywhere (the stem 38 -> 76, 3x3 s2 @56 11 -> 16), and so does everything with few output
#   channels, where the GEMM is thin and the columns cost more than it saves (3x3 16->16 @112 dw 7.8 ->
#   15.8; LeNet's 1->6 and 6->16 keep XLA's, or tie). The strided forwards it wins (above: the stem, 3x3
#   s2; ported resnet18's eval program 1.05x) stay XLA's all the same: a scan over a batch-sharded input
#   makes XLA's SPMD partitioner gather the batch and replicate the output, where XLA's conv keeps it
#   sharded; a weight gradient is a sum over the batch, replicated either way (tests/test_sharding.py).
#   Whole VJPs (fwd + dx + dw, with the strided forwards too): the stem @224 251 -> 92, 3x3 s2 64->128
#   @56 28-40 -> 27, 64@56 77 -> 62, 128@28 45 -> 38. Channels-last convs keep the tap
#   GEMMs on outputs of at most 32x32 and RGB stems (the chunked GEMM's NHWC stem dw 12.2 -> 15.3 @128,
#   99 -> 124 @224; 3x3 s2 64->128 @32 2.6 -> 3.7, @56 8.2 -> 11.6). On larger outputs channels-last
#   convs with HWIO weights (jaxconv's NHWC default) take its weight gradient where they have >= 64 input
#   channels (3x3 64@56: XLA's 50-57 -> 27 ms, the VJP 65 -> 35; 32@64 16 -> 14, a tie); with torch's OIHW
#   weight the columns' (C, *kernel) order, the weight's, interleaves taps and channels, and it loses
#   (64@56 50 -> 68, 32@64 16 -> 56), so ported networks (OIHW) keep XLA's there.
_SCAN_MIN_OUT_CHANNELS = 32
_SCAN_HWIO_MIN_IN_CHANNELS = 64
# * The forward of an NCHW strided dense conv whose whole batch's im2col columns fit 8 MiB (the plain GEMM,
#   no scan: the batch stays a dim of the GEMM, so a batch-sharded input keeps a batch-sharded output),
#   ResNet's 3x3 s2 downsampling at a 128x128 input. XLA (direct_hipad) -> im2col GEMM, fwd ms, medians of
#   15, one process, alternately (2026-12-07): 3x3 s2 64->128 @32 batch 8 5.5 -> 3.8, 128->256 @16 4.2 ->
#   3.3, 256->256 @16 batch 4 4.7 -> 3.2, 32->64 @64 batch 4 4.3 -> 3.0, 64->128 @56 batch 2 3.3 -> 2.7,
#   64->128 @112 batch 1 6.5 -> 5.8; their input and weight gradients keep their own forms (the VJPs
#   without the forward tie: 7.8 / 8.0, 6.9 / 6.9, ...). Larger columns take the batch in chunks, which
#   wins the stem's and @56's forward too but not batch sharding (the chunked GEMM bullet above).


def _nchw_scan(spec: ConvSpec) -> bool:
    """Whether an NCHW conv is one whose weight gradient the chunked im2col GEMM runs (above)."""
    return (spec.n == 2 and spec.groups == 1 and not spec.channels_last and math.prod(spec.kernel) > 1
            and spec.out_channels >= _SCAN_MIN_OUT_CHANNELS)


def _weight_grad(spec: ConvSpec, xla: str) -> str:
    """XLA's weight gradient (``xla``), or one GEMM per tap (channels-last) or the chunked im2col GEMM (NCHW,
    and channels-last with HWIO weights on large outputs) where that measured faster (above)."""
    if _nchw_scan(spec):
        return "gemm_scan"
    if spec.n != 2 or spec.groups != 1 or math.prod(spec.kernel) == 1 or not spec.channels_last:
        return xla
    small_out = math.prod(spec.out_spatial) <= _TAP_GEMM_MAX_OUT and spec.in_channels >= _TAP_GEMM_MIN_CHANNELS
    if small_out or spec.in_channels <= _TAP_GEMM_MAX_RGB:
        return "tap_gemm"
    if (spec.weight_hwio and spec.in_channels >= _SCAN_HWIO_MIN_IN_CHANNELS
            and spec.out_channels >= _SCAN_MIN_OUT_CHANNELS):  # larger outputs, HWIO weights (above)
        return "gemm_scan"
    return xla


def xla_algorithm(spec: ConvSpec) -> str:
    """XLA's own convolution in the form the CPU runs fastest: ``"direct_hipad"`` for a 2-d window with
    no padding at all (above), ``"direct"`` otherwise."""
    unpadded = not any(lo or hi for lo, hi in spec.lax_pads)
    return "direct_hipad" if spec.n == 2 and unpadded and math.prod(spec.kernel) > 1 else "direct"


def cpu_plan(spec: ConvSpec) -> Plan:
    """The CPU plan for a spec, from the measured table above (pure, deterministic)."""
    unpadded = not any(lo or hi for lo, hi in spec.lax_pads)
    k_elems = math.prod(spec.kernel)
    patch_elems = spec.in_channels * k_elems * spec.batch * math.prod(spec.out_spatial)
    taps_elems = spec.out_channels * k_elems * spec.batch * math.prod(spec.out_spatial)
    if spec.depthwise and spec.n == 2 and taps_elems >= _TAPS_MIN_ELEMS:
        return ("taps", "taps", "taps")
    xla = xla_algorithm(spec)
    if spec.n == 2 and 1 < spec.groups < spec.in_channels:
        if k_elems == 1 and unpadded:
            return ("gemm", "gemm", "gemm")
        gw = spec.in_channels // spec.groups
        fold = gw <= _FOLD_MAX_GROUP_WIDTH and gw * k_elems <= _FOLD_MAX_TERMS and taps_elems >= _TAPS_MIN_ELEMS
        return ("taps" if fold else xla, "gemm", "gemm")
    if spec.groups == 1 and patch_elems >= _GEMM_MIN_PATCH_ELEMS:
        if k_elems == 1 and unpadded:
            return ("gemm", "gemm", "gemm")
        if spec.n == 2 and spec.in_channels * k_elems <= _GEMM_MAX_K and patch_elems <= _GEMM_MAX_PATCH_ELEMS:
            return ("gemm", "gemm", _weight_grad(spec, xla))
        if spec.n == 2 and math.prod(spec.out_spatial) <= _GEMM_MAX_OUT_TINY and patch_elems <= _GEMM_MAX_PATCH_ELEMS:
            return ("gemm", "gemm", "gemm")
    if (winograd_supports(spec) and min(spec.in_channels, spec.out_channels) >= _WINOGRAD_MIN_CHANNELS
            and spec.in_channels * taps_elems >= _WINOGRAD_MIN_MACS):
        return ("winograd", "winograd", _weight_grad(spec, xla))
    if (spec.n == 2 and spec.groups == 1 and spec.in_channels * k_elems <= _GEMM_MAX_K and k_elems > 1
            and patch_elems >= _GEMM_MIN_PATCH_ELEMS and any(s > 1 for s in spec.stride) and all(d == 1 for d in spec.dilation)):
        return (xla, "phases", _weight_grad(spec, xla))
    if patch_elems < _GEMM_MIN_PATCH_ELEMS:  # all dispatch: XLA's one op
        return (xla, xla, xla)
    if (spec.n == 2 and spec.groups == 1 and spec.channels_last and k_elems > 1 and any(s > 1 for s in spec.stride)
            and spec.in_channels >= _TAP_GEMM_MIN_CHANNELS):
        small = math.prod(spec.out_spatial) <= _TAP_GEMM_FWD_MAX_OUT and spec.in_channels >= _TAP_GEMM_FWD_MIN_CHANNELS
        return ("tap_gemm" if small else xla, "tap_gemm", _weight_grad(spec, xla))
    if (spec.n == 2 and spec.groups == 1 and not spec.channels_last and k_elems > 1 and patch_elems >= _GEMM_MIN_PATCH_ELEMS
            and patch_elems <= _GEMM_MAX_PATCH_ELEMS and any(s > 1 for s in spec.stride) and all(d == 1 for d in spec.dilation)):
        return ("gemm", xla, _weight_grad(spec, xla))  # NCHW strided forwards whose whole columns fit (above)
    return (xla, xla, _weight_grad(spec, xla))


#: A hook for measured plans (:mod:`jaxconv.tuning` installs it): ``(spec, platform) -> plan or None``.
#: ``None`` (the default) means no measured plan: the tables above decide.
measured_plan: Callable[[ConvSpec, str], Plan | None] | None = None
#: A hook that sees every spec :func:`plans` is asked about (:func:`jaxconv.tuning.recording` installs it).
_recorder: Callable[[ConvSpec], None] | None = None
#: A hook told which gradient parts (``"dx"``, ``"dw"``) a traced program differentiates, per spec
#: (``jaxconv.tuning._recording_parts`` installs it for :func:`jaxconv.tuning.tune`; while it is set every conv
#: traces through its custom JVP, which reports the tangents it gets).
_part_recorder: Callable[[ConvSpec, str], None] | None = None


def _invalid(spec: ConvSpec, plan: Plan) -> str | None:
    """Why ``plan`` cannot compute ``spec``, or ``None``."""
    if "phases" in plan and not (any(s > 1 for s in spec.stride) and all(d == 1 for d in spec.dilation)):
        return f"conv algorithm 'phases' needs a strided, undilated conv, got stride {spec.stride}, dilation {spec.dilation}"
    if "winograd" in plan and not winograd_supports(spec):
        return (f"conv algorithm 'winograd' needs a 2-d 3x3 conv with stride 1, dilation 1 and groups 1, got kernel "
                f"{spec.kernel}, stride {spec.stride}, dilation {spec.dilation}, groups={spec.groups}")
    if "tap_gemm" in plan and not tap_gemm_supports(spec):
        return f"conv algorithm 'tap_gemm' needs a dense conv (groups=1), got groups={spec.groups}"
    if "taps" in plan and spec.groups == 1 < spec.in_channels:
        return (f"conv algorithm 'taps' needs a grouped or depthwise conv (groups > 1, or groups == in_channels), "
                f"got groups=1 with in_channels={spec.in_channels}")
    return None


def valid_for(spec: ConvSpec, plan: Plan) -> bool:
    """Whether every part of ``plan`` can compute ``spec`` (``"taps"`` needs ``groups > 1`` or a depthwise conv,
    ``"phases"`` a strided conv, ``"winograd"`` a 3x3 stride-1 one, ``"tap_gemm"`` ``groups == 1``)."""
    return _invalid(spec, plan) is None


def plans(spec: ConvSpec) -> dict[str, Plan]:
    """The plan per platform for a spec: ``{"cpu": ..., "default": ...}`` (default: every other backend;
    a measured plan adds its own platform's key, e.g. ``"cuda"``).

    A plan forced by :func:`conv_algorithm` applies everywhere. Otherwise a measured plan for the
    platform (:mod:`jaxconv.tuning`, when enabled) wins; else the CPU gets :func:`cpu_plan` and every
    other backend XLA's own convolution (:data:`DIRECT`), which no measurement on those platforms
    has beaten yet.
    """
    if _recorder is not None:
        _recorder(spec)
    forced = forced_plan()
    if forced is not None:
        why = _invalid(spec, forced)
        if why is not None:
            raise ValueError(f"conv_algorithm: {why}")
        return {"cpu": forced, "default": forced}
    out = {"cpu": cpu_plan(spec), "default": DIRECT}
    if measured_plan is not None:
        # A measurement decides only the platform it was taken on (its own lax.platform_dependent branch).
        for platform in ("cpu", *ACCELERATORS):
            tuned = measured_plan(spec, platform)
            if tuned is not None and valid_for(spec, tuned) and tuned != out.get(platform, out["default"]):
                out[platform] = tuned
    return out


# --- the other ops' speed choices -----------------------------------------------------------
# Each is between exact formulations (tested against each other and torch); the CPU one was
# chosen by CPU measurements, so it runs on CPU only and every other backend gets the plain
# formulation XLA would be handed without jaxconv's CPU tuning:
# * interpolate's gradient: gathers over a static reverse table on CPU (XLA:CPU runs the
#   scatter-adds of autodiff several times slower), autodiff's scatter-adds elsewhere;
# * the max/min pools' VJP: the scatter-free placements on CPU (one select over the tiles of
#   tiling windows, the stride phases otherwise), one scatter-add of each window's cotangent at
#   its winner elsewhere.
# * layer_norm's input: behind :func:`cpu_fusion_barrier` on CPU (XLA:CPU's YNNPACK fusion
#   otherwise pulls whole blocks into the norm's reduction), plain elsewhere; the large depthwise
#   folds' outputs and the tiling sum pools' cotangents behind :func:`cpu_materialize` on CPU
#   (both in jaxconv/fusion.py, re-exported here).


def by_platform(cpu: Callable[..., Any], default: Callable[..., Any], *args: Any) -> Any:
    """``cpu(*args)`` in a program lowered for CPU, ``default(*args)`` for every other platform.

    Both are traced; ``lax.platform_dependent`` keeps the branch of the platform it lowers for.

    >>> import jax, jax.numpy as jnp
    >>> f = jax.jit(lambda x: by_platform(lambda v: v + 1, lambda v: v - 1, x))
    >>> f(jnp.zeros(1)) if jax.default_backend() == "cpu" else jnp.ones(1)
    Array([1.], dtype=float32)
    """
    return lax.platform_dependent(*args, cpu=cpu, default=default)


# --- the layout of a ported network's activations ----------------------------------------------
# A graph-imported torch model (jaxconv.nn.from_torch) computes in NCHW. XLA:CPU runs its
# convolutions channels-last (YNNPACK), so the captured program's convolutions get their
# activations transposed in and out where XLA's layout assignment does not absorb it. Held
# channels-last between the ops that can (jaxconv/nn/layout.py; the same sums in another memory
# layout), the ported networks measured (batch 8, 128x128, 2-core Xeon, the two programs
# compiled in one process and timed alternately: experiments/profile_network.py
# --compare-layouts, median of 8-15 rounds of the per-round speed-up channels-last over
# captured, eval / train step, 2026-12-02): mobilenet_v2 1.29 / 0.98, efficientnet_b0
# 1.01 / 0.99, convnext_tiny 1.03 / 1.07, resnet18 0.90 / 0.94. The networks with depthwise
# convolutions gain: jaxconv's depthwise tap fold runs faster channels-last (each tap a
# contiguous per-channel vector: 3x3, 96 channels @64, batch 8: 2.5 ms against 3.3 NCHW), and
# their 1x1 convolutions are GEMMs either way. Dense-only networks lost then: XLA already assigns
# NHWC layouts across their captured conv-BN-ReLU chains and still copies every OIHW weight
# to HWIO. Since the Winograd rule (whose NCHW form runs between two transposes) and the grouped
# GEMM gradients, measured again on the AMD machine (2026-12-03, same command, 6-15 rounds),
# dense-only networks' train programs gain channels-last and their eval programs are mixed:
# eval / train resnet18 0.93-0.95 / 1.04-1.07, resnet50 1.17 / 1.16, squeezenet1_1 1.18 / 1.13,
# alexnet 1.00 / 1.03, densenet121 1.02 / 0.96-1.01, regnet_y_400mf 1.08 / 1.22. So the CPU runs a
# program channels-last where it has a depthwise convolution or is captured in train mode.

#: The layouts a ported network's activations can be held in: as captured (NCHW), or
#: channels-last between the ops that can.
LAYOUTS = ("captured", "channels_last")


def cpu_graph_layout(depthwise: bool, training: bool = False) -> str:
    """The CPU's layout for a ported network (the measurements above): channels-last where the program
    has a depthwise convolution or was captured in train mode, as captured otherwise.

    >>> cpu_graph_layout(True), cpu_graph_layout(False), cpu_graph_layout(False, training=True)
    ('channels_last', 'captured', 'channels_last')
    """
    return "channels_last" if depthwise or training else "captured"

_LAYOUT = _jax_config.enum_state(
    name="jaxconv_graph_layout",
    enum_values=["auto", *LAYOUTS],
    default="auto",
    help="jaxconv: the activation layout of graph-imported torch models ('auto': the per-backend "
         "choice); use jaxconv.policy.graph_layout.",
    include_in_jit_key=True,
    include_in_trace_context=True,
)


@contextlib.contextmanager
def graph_layout(layout: str | None) -> Iterator[None]:
    """Run graph-imported torch models traced in this block with activations in ``layout`` on every backend.

    ``"captured"`` is torch's NCHW throughout; ``"channels_last"`` holds activations NHWC
    between the ops that can (convolutions, batch norm, elementwise ops, pools);
    ``None`` restores the per-backend choice (:func:`graph_layouts`). The results agree to
    float rounding whatever is chosen; the switch is part of the jit cache key, so changing
    it retraces.

    >>> with graph_layout("captured"):
    ...     forced_layout()
    'captured'
    """
    if layout is not None and layout not in LAYOUTS:
        raise ValueError(f"graph_layout: unknown layout {layout!r}; one of {LAYOUTS} or None")
    with _LAYOUT("auto" if layout is None else layout):
        yield


def forced_layout() -> str | None:
    """The layout :func:`graph_layout` forces in the current scope, or ``None`` (the per-backend choice)."""
    value = _LAYOUT.value
    return None if value == "auto" else value


#: A hook for measured layouts (:mod:`jaxconv.tuning` installs it): ``(program key, platform) -> layout or None``.
measured_layout: Callable[[str, str], str | None] | None = None
#: A hook that sees every program key :func:`graph_layouts` is asked about (:func:`jaxconv.tuning.tune` installs it).
_layout_recorder: Callable[[str], None] | None = None


def graph_layouts(program: str | None = None, *, depthwise: bool = False, training: bool = False) -> dict[str, str]:
    """The layout of a ported network per platform, as :func:`plans`: ``{"cpu": ..., "default": ...}``.

    A layout forced by :func:`graph_layout` applies everywhere. Otherwise a measured layout for
    the program (``program``: its key, :func:`jaxconv.nn.graph_import.program_key`; measured by
    :func:`jaxconv.tune`, when plans are enabled) wins on the platform it was measured on; else
    the CPU gets :func:`cpu_graph_layout` (``depthwise``: the program has a depthwise
    convolution; ``training``: it was captured in train mode) and every other backend the captured layout.

    >>> graph_layouts(depthwise=True)
    {'cpu': 'channels_last', 'default': 'captured'}
    """
    if program is not None and _layout_recorder is not None:
        _layout_recorder(program)
    forced = forced_layout()
    if forced is not None:
        return {"cpu": forced, "default": forced}
    out = {"cpu": cpu_graph_layout(depthwise, training), "default": "captured"}
    if program is not None and measured_layout is not None:
        for platform in ("cpu", *ACCELERATORS):
            tuned = measured_layout(program, platform)
            if tuned in LAYOUTS and tuned != out.get(platform, out["default"]):
                out[platform] = tuned  # type: ignore[assignment]
    return out
