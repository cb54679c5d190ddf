"""Winograd's F(2x2, 3x3) (jaxconv/winograd.py, the conv algorithm "winograd"): exact to float rounding.

Oracles: torch CPU (values and every gradient) and XLA's own convolution (``conv_algorithm("direct")``),
over random 2-d 3x3 stride-1 configurations (odd and even sizes down to 1x1, per-side padding in every
mode, bias, NCHW / NHWC / NHWC with torch's weight); the brute-force NumPy loop of ``tests/reference.py``;
and ``jax.test_util.check_grads`` (numerical derivatives) to second order.
"""

from __future__ import annotations

import random

import jax
import jax.numpy as jnp
import jax.test_util
import numpy as np
import pytest

torch = pytest.importorskip("torch")  # torch is the oracle

import jaxconv  # noqa: E402
from jaxconv import policy  # noqa: E402
from jaxconv.shapes import conv_spec  # noqa: E402
from tests import lanes  # noqa: E402
from tests.reference import conv_ref  # noqa: E402
from tests.test_conv_paths import check_parts, close, jax_conv, make_arrays, torch_conv, window_fits  # noqa: E402

W = "winograd"
force = policy.conv_algorithm


def random_config(rng: random.Random) -> dict:
    """A random 2-d 3x3 stride-1 undilated conv with one group: what Winograd computes."""
    while True:
        spatial = (rng.randint(1, 9), rng.randint(1, 9))
        mode = rng.choice(["zeros", "zeros", "zeros", "reflect", "replicate", "circular"])
        pads = tuple((rng.randint(0, 3), rng.randint(0, 3)) for _ in range(2))
        if not window_fits(mode, spatial, pads, (3, 3), (1, 1)):
            continue
        return dict(n=2, groups=1, cin=rng.randint(1, 5), cout=rng.randint(1, 5), spatial=spatial, k=(3, 3), s=(1, 1),
                    d=(1, 1), mode=mode, pads=pads, batch=rng.randint(1, 3), bias=rng.random() < 0.5,
                    channels_last=rng.random() < 0.5, torch_weight=rng.random() < 0.5)


# Seed 0 by default, 1-3 in the slow lane (tests/lanes.py): ~25 s each on the 2-core dev machine
# (15 convs, 3 plans), and every part is also pinned per form by test_conv_paths and the fixed cases below.
@pytest.mark.parametrize("seed", lanes.prefix(range(4), 1))
def test_random_configs_match_torch_and_xla(seed):
    """oracle: torch CPU and the direct lax path (y, dx, dw, db), Winograd for every part and in mixed plans."""
    rng = random.Random(seed)
    for _ in range(5):
        cfg = random_config(rng)
        x, w, b, r = make_arrays(cfg, rng.randrange(2 ** 31))
        ty, ct, tdx, tdw, tdb = torch_conv(cfg, x, w, b, r)
        ref = jax_conv(cfg, "direct", x, w, b, ct)
        for plan in (W, (W, W, "direct"), ("direct", "direct", W)):
            check_parts(jax_conv(cfg, plan, x, w, b, ct), (ty, tdx, tdw, tdb), ref, f"{plan}", cfg)


@pytest.mark.parametrize("shape, padding", [((2, 3, 7, 8), 1), ((1, 2, 3, 3), 0), ((1, 1, 1, 1), 2), ((2, 4, 6, 5), (2, 0))])
def test_against_the_numpy_loop(shape, padding):
    """oracle: tests/reference.py's conv_ref (a brute-force loop in float64, no jax)."""
    r = np.random.default_rng(sum(shape))
    x = r.standard_normal(shape).astype(np.float32)
    w = r.standard_normal((3, shape[1], 3, 3)).astype(np.float32)
    with force(W):
        y = jaxconv.conv2d(jnp.asarray(x), jnp.asarray(w), padding=padding)
    np.testing.assert_allclose(np.asarray(y), conv_ref(x, w, pads=padding), rtol=1e-5, atol=1e-5)


def test_jvp_and_second_order():
    """oracle: the direct path's JVP (both tangents, and x's alone: a symbolic-zero weight tangent);
    jax.test_util.check_grads (numerical) to second order, forward and reverse, in float64."""
    r = np.random.default_rng(1)
    with jax.enable_x64(True):
        for cl in (False, True):
            x = jnp.asarray(r.standard_normal((2, 3, 5, 6)))
            w = jnp.asarray(r.standard_normal((4, 3, 3, 3)))
            if cl:
                x, w = jnp.moveaxis(x, 1, -1), jnp.transpose(w, (2, 3, 1, 0))
            xd, wd = jnp.asarray(r.standard_normal(x.shape)), jnp.asarray(r.standard_normal(w.shape))

            def f(x, w, cl=cl):
                return jaxconv.conv2d(x, w, None, 1, ((1, 0), (2, 1)), channels_last=cl)
            with force("direct"):
                y0, t0 = jax.jvp(f, (x, w), (xd, wd))
                tx0 = jax.jvp(lambda x, w=w: f(x, w), (x,), (xd,))[1]
            with force(W):
                y, t = jax.jvp(f, (x, w), (xd, wd))
                tx = jax.jvp(lambda x, w=w: f(x, w), (x,), (xd,))[1]
                close(np.asarray(y), np.asarray(y0), "y")
                close(np.asarray(t), np.asarray(t0), "jvp")
                close(np.asarray(tx), np.asarray(tx0), "jvp x")
                if not cl:  # second order once (each order compiles its own programs)
                    jax.test_util.check_grads(f, (x[:1], w), order=2, modes=("fwd", "rev"), atol=1e-6, rtol=1e-6)


def test_vmap_jit_and_half_types():
    """oracle: the direct path, per example under vmap; float32 Winograd for float16 and bfloat16 inputs
    (the transforms run in float32, one rounding at the end: within the half type's rounding of the result)."""
    r = np.random.default_rng(2)
    x = jnp.asarray(r.standard_normal((3, 2, 4, 9, 9)).astype(np.float32))
    w = jnp.asarray(r.standard_normal((8, 4, 3, 3)).astype(np.float32))

    def f(x):
        return jaxconv.conv2d(x, w, padding=1)
    with force("direct"):
        ref = jax.vmap(f)(x)
    with force(W):
        got = jax.jit(jax.vmap(f))(x)
        close(np.asarray(got), np.asarray(ref), "vmap")
        for dtype in (jnp.float16, jnp.bfloat16):
            xh, wh = x[0].astype(dtype), w.astype(dtype)
            y = jaxconv.conv2d(xh, wh, padding=1)
            g = jax.grad(lambda x, wh=wh: jaxconv.conv2d(x, wh, padding=1).astype(jnp.float32).sum())(xh)
            assert y.dtype == g.dtype == dtype
            exact = jaxconv.conv2d(xh.astype(jnp.float32), wh.astype(jnp.float32), padding=1)
            eps = float(jnp.finfo(dtype).eps)
            np.testing.assert_allclose(np.asarray(y, np.float32), np.asarray(exact), rtol=eps, atol=eps * 4)


def _eqns(jaxpr):
    """Every equation of a jaxpr and of the jaxprs inside it (jit, custom derivatives)."""
    for e in jaxpr.eqns:
        yield e
        for v in e.params.values():
            for sub in (v if isinstance(v, (list, tuple)) else [v]):
                inner = getattr(sub, "jaxpr", sub)
                if hasattr(inner, "eqns"):
                    yield from _eqns(inner)


def test_input_gradient_runs_in_winograd_form():
    """oracle: the gradient's program. Reverse mode runs the input gradient as a Winograd conv of the
    cotangent (16 GEMMs over unit-stride views), not as plain autodiff's transpose of the 16 views, which
    places them with interior padding (jaxconv/winograd.py: 7.3 ms against 3.1 at 64 -> 64 @32)."""
    x, w = jnp.ones((2, 8, 10, 10)), jnp.ones((8, 8, 3, 3))
    with force(W):
        jaxpr = jax.make_jaxpr(jax.grad(lambda x: jaxconv.conv2d(x, w, padding=1).sum()))(x).jaxpr
    eqns = list(_eqns(jaxpr))
    assert sum(e.primitive.name == "dot_general" for e in eqns) >= 16
    assert not any(e.primitive.name == "conv_general_dilated" for e in eqns)
    interior = [e for e in eqns if e.primitive.name == "pad" and any(c[2] for c in e.params["padding_config"])]
    assert not interior, "interior padding in the input gradient: plain autodiff's transpose"


def test_cpu_plan_and_errors():
    """oracle: the measured CPU rule (jaxconv/policy.py): Winograd for the forward pass and input gradient of
    3x3 stride-1 convs with >= 32 channels and >= 2^27 multiply-adds, another algorithm's weight gradient; forcing it elsewhere is a ValueError
    that names the rule."""
    spec = conv_spec("conv2d", (8, 64, 32, 32), (64, 64, 3, 3), None, 1, 1, 1, 1, "zeros", False)
    assert policy.cpu_plan(spec) == (W, W, "gemm_scan")  # NCHW (tests/test_conv_paths.py); channels-last: tests/test_tap_gemm.py
    assert policy.plans(spec)["default"] == policy.DIRECT
    few = conv_spec("conv2d", (8, 16, 32, 32), (16, 16, 3, 3), None, 1, 1, 1, 1, "zeros", False)
    assert W not in policy.cpu_plan(few)
    small = conv_spec("conv2d", (2, 64, 32, 32), (64, 64, 3, 3), None, 1, 1, 1, 1, "zeros", False)
    assert W not in policy.cpu_plan(small)  # under 2^27 multiply-adds: no gain, only compile time
    x, w5 = jnp.ones((1, 2, 8, 8)), jnp.ones((2, 2, 5, 5))
    with force(W), pytest.raises(ValueError, match=r"conv_algorithm: conv algorithm 'winograd' needs a 2-d 3x3 conv"):
        jaxconv.conv2d(x, w5)
    with force(W), pytest.raises(ValueError, match=r"stride \(2, 2\)"):
        jaxconv.conv2d(x, jnp.ones((2, 2, 3, 3)), stride=2)
