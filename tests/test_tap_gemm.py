"""One GEMM per kernel tap (jaxconv/tap_gemm.py, the conv algorithm "tap_gemm"): exact to float rounding.

Oracles: torch CPU (values and every gradient) and XLA's own convolution (``conv_algorithm("direct")``),
over random dense configurations (1-d/2-d/3-d, stride, dilation, per-side padding in every mode, bias,
NCHW / NHWC / NHWC with torch's weight, 1-8 input channels so that both weight-gradient orientations
run); the brute-force NumPy loop of ``tests/reference.py``; ``jax.test_util.check_grads`` (numerical
derivatives) to second order; and the gradient's program (the form the module docstring measured).
"""

from __future__ import annotations

import random
import re

import jax
import jax.numpy as jnp
import jax.test_util
import numpy as np
import pytest

torch = pytest.importorskip("torch")  # torch is the oracle

import jaxconv  # noqa: E402
from jaxconv import policy, tap_gemm  # noqa: E402
from jaxconv.shapes import conv_spec  # noqa: E402
from tests import lanes  # noqa: E402
from tests.reference import conv_ref  # noqa: E402
from tests.test_conv_paths import check_parts, close, jax_conv, make_arrays, random_config, torch_conv  # noqa: E402
from tests.test_winograd import _eqns  # noqa: E402

TG = "tap_gemm"
force = policy.conv_algorithm


def dense_config(rng: random.Random) -> dict:
    """A random dense conv (tests/test_conv_paths.py's family with groups 1), 1-8 input channels."""
    cfg = random_config(rng)
    cfg.update(groups=1, cin=rng.randint(1, 8), cout=rng.randint(1, 4))
    return cfg


# Seed 0 by default, 1-3 in the slow lane (tests/lanes.py): every part is also pinned per form by
# test_conv_paths (which forces every algorithm on its own random family) and the fixed cases below.
@pytest.mark.parametrize("seed", lanes.prefix(range(4), 1))
def test_random_configs_match_torch_and_xla(seed):
    """oracle: torch CPU and the direct lax path (y, dx, dw, db); tap GEMMs for every part and as the
    weight gradient of XLA's forward and input gradient (the CPU plan's use)."""
    rng = random.Random(300 + seed)
    for _ in range(5):
        cfg = dense_config(rng)
        x, w, b, r = make_arrays(cfg, rng.randrange(2 ** 31))
        ty, ct, tdx, tdw, tdb = torch_conv(cfg, x, w, b, r)
        ref = jax_conv(cfg, "direct", x, w, b, ct)
        for plan in (TG, ("direct", "direct", TG)):
            check_parts(jax_conv(cfg, plan, x, w, b, ct), (ty, tdx, tdw, tdb), ref, f"{plan}", cfg)


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("cin", [3, 16])  # either side of tap_gemm.FEW_CHANNELS: both orientations
def test_resnet_shapes_match_torch(cin, channels_last):
    """oracle: torch CPU. A stem-like 7x7 stride-2 conv and a 3x3 stride-2 one with padding 3 / 1, batch 2,
    values and gradients, with the tap GEMMs as the weight gradient and in every part (the CPU plans'
    uses)."""
    for k, s, p in ((7, 2, 3), (3, 2, 1)):
        cfg = dict(n=2, groups=1, cin=cin, cout=8, spatial=(20, 18), k=(k, k), s=(s, s), d=(1, 1), mode="zeros",
                   pads=((p, p), (p, p)), batch=2, bias=True, channels_last=channels_last, torch_weight=True)
        x, w, b, r = make_arrays(cfg, k * cin)
        ty, ct, tdx, tdw, tdb = torch_conv(cfg, x, w, b, r)
        ref = jax_conv(cfg, "direct", x, w, b, ct)
        for plan in (("direct", "direct", TG), TG):  # the stems' and the strided convs' CPU plans
            check_parts(jax_conv(cfg, plan, x, w, b, ct), (ty, tdx, tdw, tdb), ref, f"{plan}", cfg)


@pytest.mark.parametrize("shape, wshape, stride, padding, dilation", [
    ((2, 3, 7, 8), (4, 3, 3, 3), 1, 1, 1), ((1, 2, 9, 9), (3, 2, 3, 2), 2, (2, 0), 2), ((2, 6, 5), (2, 6, 3), 1, 0, 2),
    ((1, 2, 4, 5, 4), (3, 2, 2, 3, 2), (1, 2, 1), 1, 1)])
def test_against_the_numpy_loop(shape, wshape, stride, padding, dilation):
    """oracle: tests/reference.py's conv_ref (a brute-force loop in float64, no jax), 1-d, 2-d and 3-d."""
    r = np.random.default_rng(sum(shape))
    x = r.standard_normal(shape).astype(np.float32)
    w = r.standard_normal(wshape).astype(np.float32)
    n = len(wshape) - 2
    pads = padding if isinstance(padding, int) else tuple((p, p) for p in padding)
    with force(TG):
        y = jaxconv.conv(jnp.asarray(x), jnp.asarray(w), None, stride, padding, dilation)
    np.testing.assert_allclose(np.asarray(y), conv_ref(x, w, stride=stride, pads=pads, dilation=dilation),
                               rtol=1e-5, atol=1e-5)
    assert y.ndim == n + 2


def test_jvp_and_second_order():
    """oracle: the direct path's JVP (both tangents, and w's alone: a symbolic-zero input tangent);
    jax.test_util.check_grads (numerical) to second order, forward and reverse, in float64, both
    layouts and both weight-gradient orientations."""
    r = np.random.default_rng(1)
    with jax.enable_x64(True):
        for cl, cin in ((False, 3), (True, 3), (True, 6)):
            x = jnp.asarray(r.standard_normal((2, cin, 5, 6)))
            w = jnp.asarray(r.standard_normal((4, cin, 3, 2)))
            if cl:
                x, w = jnp.moveaxis(x, 1, -1), jnp.transpose(w, (2, 3, 1, 0))
            xd, wd = jnp.asarray(r.standard_normal(x.shape)), jnp.asarray(r.standard_normal(w.shape))

            def f(x, w, cl=cl):
                return jaxconv.conv2d(x, w, None, (2, 1), ((1, 0), (2, 1)), channels_last=cl)
            with force("direct"):
                y0, t0 = jax.jvp(f, (x, w), (xd, wd))
                tw0 = jax.jvp(lambda w, x=x: f(x, w), (w,), (wd,))[1]
            with force(TG):
                y, t = jax.jvp(f, (x, w), (xd, wd))
                tw = jax.jvp(lambda w, x=x: f(x, w), (w,), (wd,))[1]
                close(np.asarray(y), np.asarray(y0), "y")
                close(np.asarray(t), np.asarray(t0), "jvp")
                close(np.asarray(tw), np.asarray(tw0), "jvp w")
                jax.test_util.check_grads(f, (x[:1], w), order=2, modes=("fwd", "rev"), atol=1e-6, rtol=1e-6)


def test_vmap_jit_and_half_types():
    """oracle: the direct path, per example under vmap; float16 and bfloat16 within the half type's rounding."""
    r = np.random.default_rng(2)
    x = jnp.asarray(r.standard_normal((3, 2, 6, 9, 9)).astype(np.float32))
    w = jnp.asarray(r.standard_normal((8, 6, 3, 3)).astype(np.float32))

    def f(x, w):
        return jaxconv.conv2d(x, w, padding=1)

    def dw(x, w):
        return jax.grad(lambda w: f(x, w).sum())(w)
    with force("direct"):
        ref, ref_dw = jax.vmap(f, (0, None))(x, w), jax.vmap(dw, (0, None))(x, w)
    with force(TG):
        close(np.asarray(jax.jit(jax.vmap(f, (0, None)))(x, w)), np.asarray(ref), "vmap")
        close(np.asarray(jax.jit(jax.vmap(dw, (0, None)))(x, w)), np.asarray(ref_dw), "vmap dw")
        for dtype, tol in ((jnp.float16, 5e-3), (jnp.bfloat16, 5e-2)):
            xh, wh = x[0].astype(dtype), w.astype(dtype)
            g = dw(xh, wh)
            assert f(xh, wh).dtype == g.dtype == dtype
            exact = np.asarray(dw(xh.astype(jnp.float32), wh.astype(jnp.float32)))
            np.testing.assert_allclose(np.asarray(g, np.float32), exact, rtol=tol, atol=tol * np.abs(exact).max())


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("cin", [3, 8])
def test_weight_gradient_runs_in_the_measured_form(cin, channels_last):
    """oracle: the optimised program. Under the CPU plan's (direct, direct, tap_gemm) the weight gradient is
    one dot per tap and no weight-shaped convolution; channels-last, each dot is X_t^T G, a (C, O) block, up
    to FEW_CHANNELS input channels and G^T X_t, (O, C), above, after one optimization barrier (the copied G^T).
    Plain autodiff of the forward would give neither (the module docstring has the figures)."""
    cout, k = 5, (3, 2)
    shape = (2, 9, 9, cin) if channels_last else (2, cin, 9, 9)
    w = jnp.ones((*k, cin, cout)) if channels_last else jnp.ones((cout, cin, *k))
    x = jnp.ones(shape)
    g = jnp.ones((2, 9, 10, cout) if channels_last else (2, cout, 9, 10))

    def dw(x, w, g):
        return jax.vjp(lambda w: jaxconv.conv2d(x, w, padding=1, channels_last=channels_last), w)[1](g)[0]
    with force(("direct", "direct", TG)):
        jaxpr = jax.make_jaxpr(dw)(x, w, g).jaxpr
        hlo = jax.jit(dw).lower(x, w, g).compile().as_text()
    assert not re.search(r"= f32\[[0-9,]+\]\S* convolution\(", hlo), "a convolution in the weight gradient"
    dots = re.findall(r"= f32\[(\d+),(\d+)\]\S* dot\(", hlo)
    assert len(dots) == 6, dots  # one per tap of the 3x2 kernel
    transposed = channels_last and cin > tap_gemm.FEW_CHANNELS
    if channels_last:
        assert {tuple(map(int, d)) for d in dots} == {(cout, cin) if transposed else (cin, cout)}
    assert any(e.primitive.name == "optimization_barrier" for e in _eqns(jaxpr)) == transposed


def test_weight_grad_function_and_errors():
    """oracle: the direct path's weight gradient (jaxconv.tap_gemm.weight_grad called directly, HWIO and
    OIHW); forcing it on a grouped conv is a ValueError naming the rule."""
    r = np.random.default_rng(4)
    x = jnp.asarray(r.standard_normal((2, 9, 8, 12)).astype(np.float32))
    for layout in (None, "OIHW"):  # unpadded: weight_grad takes the mode-padded input, as the ops hand it over
        spec = conv_spec("conv2d", x.shape, (3, 3, 12, 5) if layout is None else (5, 12, 3, 3), None, 2, 0, 1, 1,
                         "zeros", True, None, layout)
        g = jnp.asarray(r.standard_normal((2, *spec.out_spatial, 5)).astype(np.float32))
        w0 = jnp.zeros((3, 3, 12, 5) if layout is None else (5, 12, 3, 3))
        with force("direct"):
            ref = jax.vjp(lambda w, layout=layout: jaxconv.conv2d(x, w, None, 2, 0, channels_last=True, weight_layout=layout), w0)[1](g)[0]
        close(np.asarray(tap_gemm.weight_grad(x, g, spec)), np.asarray(ref), f"weight_grad {layout}")
    with force(TG), pytest.raises(ValueError, match=r"conv_algorithm: conv algorithm 'tap_gemm' needs a dense conv \(groups=1\), got groups=2"):
        jaxconv.conv2d(jnp.ones((1, 4, 6, 6)), jnp.ones((4, 2, 3, 3)), groups=2)


CL_TABLE = [
    # NHWC (x shape), OIHW weight (a ported network's channels-last program), stride, padding -> weight gradient
    (((8, 128, 128, 3), (64, 3, 7, 7), 2, 3), TG),  # ResNet stem at 128x128: few input channels, any size
    (((8, 224, 224, 3), (64, 3, 7, 7), 2, 3), TG),  # and at 224x224
    (((8, 128, 128, 3), (32, 3, 3, 3), 2, 1), TG),  # MobileNet's / EfficientNet's stem
    (((8, 32, 32, 64), (64, 64, 3, 3), 1, 1), TG),  # ResNet-18's 64-channel 3x3 at 128x128
    (((8, 32, 32, 64), (128, 64, 3, 3), 2, 1), TG),  # its downsampling conv (and its forward and input gradient)
    (((8, 7, 7, 512), (512, 512, 3, 3), 1, 1), TG),
    (((8, 56, 56, 64), (64, 64, 3, 3), 1, 1), "direct"),  # 56x56 out: XLA's
    (((8, 64, 64, 32), (32, 32, 3, 3), 1, 1), "direct"),  # 64x64 out
    (((8, 32, 32, 16), (16, 16, 3, 3), 1, 1), "direct"),  # 16 channels: a tie, XLA's
    (((8, 4, 4, 512), (512, 512, 3, 3), 1, 1), "gemm"),  # 4x4 out: im2col's GEMM
    (((8, 32, 32, 64), (64, 64, 1, 1), 1, 0), "gemm"),  # 1x1: a GEMM
    (((1, 8, 8, 2), (3, 2, 3, 3), 1, 0), "direct_hipad"),  # tiny: all dispatch
]


@pytest.mark.parametrize("args, expected", CL_TABLE)
def test_cpu_plan_weight_gradient_channels_last(args, expected):
    """oracle: the measured CPU rule (jaxconv/policy.py): the weight gradient of a channels-last dense 2-d conv
    with a small output and >= 32 input channels, or <= 4 input channels, is the tap GEMMs; the same conv NCHW
    keeps XLA's (each tap's slice would be transposed); every other backend keeps XLA's convolution."""
    xs, ws, s, p = args
    spec = conv_spec("conv2d", xs, ws, None, s, p, 1, 1, "zeros", True, None, "OIHW")
    assert policy.cpu_plan(spec)[2] == expected
    assert policy.plans(spec)["default"] == policy.DIRECT
    nchw = conv_spec("conv2d", (xs[0], xs[3], xs[1], xs[2]), ws, None, s, p, 1, 1, "zeros", False)
    assert TG not in policy.cpu_plan(nchw)


@pytest.mark.parametrize("xs, ws, expected", [
    ((8, 56, 56, 64), (3, 3, 64, 64), "gemm_scan"),  # 56x56 out, HWIO: the chunked im2col GEMM
    ((8, 64, 64, 32), (3, 3, 32, 32), "direct"),  # 32 input channels: a tie, XLA's
    ((8, 32, 32, 64), (3, 3, 64, 64), TG),  # small outputs keep the tap GEMMs whatever the weight's layout
])
def test_cpu_plan_weight_gradient_channels_last_hwio(xs, ws, expected):
    """oracle: the measured CPU rule (jaxconv/policy.py): jaxconv's own NHWC/HWIO layout takes the chunked im2col
    GEMM's weight gradient on outputs above 32x32 with >= 64 input channels; torch's OIHW weight there keeps
    XLA's (the table above)."""
    spec = conv_spec("conv2d", xs, ws, None, 1, 1, 1, 1, "zeros", True)
    assert spec.weight_hwio and policy.cpu_plan(spec)[2] == expected


@pytest.mark.parametrize("args, expected", [
    (((8, 32, 32, 64), (128, 64, 3, 3), 2, 1), (TG, TG, TG)),  # ResNet-18's downsampling conv at 128x128: 16x16 out
    (((8, 56, 56, 64), (128, 64, 3, 3), 2, 1), ("direct_hipad", TG, TG)),  # 28x28 out: XLA's forward (a tie)
    (((8, 32, 32, 32), (64, 32, 3, 3), 2, 1), ("direct_hipad", TG, TG)),  # 32 channels: the input gradient only
    (((8, 32, 32, 16), (32, 16, 3, 3), 2, 1), ("gemm", "gemm", "direct_hipad")),  # 16 channels: im2col's GEMM
    (((8, 128, 128, 3), (64, 3, 7, 7), 2, 3), ("direct_hipad", "phases", TG)),  # the stem: phases for dx
    (((8, 32, 32, 64), (64, 64, 3, 3), 1, 1), ("winograd", "winograd", TG)),  # stride 1: Winograd's
])
def test_cpu_plan_of_strided_channels_last_convs(args, expected):
    """oracle: the measured CPU rule (jaxconv/policy.py): a strided channels-last dense conv with >= 32 input
    channels takes the tap GEMMs' input gradient, and their forward too on outputs of at most 16x16 with >= 64
    channels; NCHW keeps XLA's."""
    xs, ws, s, p = args
    spec = conv_spec("conv2d", xs, ws, None, s, p, 1, 1, "zeros", True, None, "OIHW")
    assert policy.cpu_plan(spec) == expected
    nchw = conv_spec("conv2d", (xs[0], xs[3], xs[1], xs[2]), ws, None, s, p, 1, 1, "zeros", False)
    assert TG not in policy.cpu_plan(nchw)
