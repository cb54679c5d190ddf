"""jaxconv.policy beyond convolutions: the other ops' speed choices are made per backend.

oracles: the exported StableHLO for each platform (no GPU needed), and the CPU formulation's
gradients, which the other platforms' formulation must equal (run here on CPU by swapping
``policy.by_platform`` for its default branch). The conv plans are tested in tests/test_conv_paths.py.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxconv
from jaxconv import policy

CASES = {
    "max_pool2d k3 s2 p1": lambda x: jnp.sum(jnp.sin(jaxconv.max_pool2d(x, 3, 2, 1))),
    "min_pool2d k2": lambda x: jnp.sum(jnp.sin(jaxconv.min_pool2d(x, 2))),
    "max_pool2d with indices": lambda x: jnp.sum(jnp.sin(jaxconv.max_pool2d(x, 3, 1, 1, return_indices=True)[0])),
    "interpolate bilinear x2": lambda x: jnp.sum(jnp.sin(jaxconv.interpolate(x, scale_factor=2, mode="bilinear"))),
    "interpolate nearest to 7x5": lambda x: jnp.sum(jnp.sin(jaxconv.interpolate(x, size=(7, 5)))),
}


@pytest.mark.parametrize("name", CASES)
def test_cpu_tuned_gradient_forms_stay_on_cpu(name):
    """oracle: the exported programs. The scatter-free gradient forms chosen by CPU measurements appear only in the
    CPU program; cuda and tpu get the plain scatter-add form."""
    g = jax.jit(jax.grad(CASES[name]))
    x = jax.ShapeDtypeStruct((2, 3, 12, 10), jnp.float32)
    assert "scatter" not in jax.export.export(g, platforms=("cpu",))(x).mlir_module()
    assert "scatter" in jax.export.export(g, platforms=("cuda", "tpu"))(x).mlir_module()


@pytest.mark.parametrize("name", CASES)
def test_other_platforms_form_equals_the_cpu_form(name, monkeypatch):
    """oracle: the CPU formulation's gradient. The default (non-CPU) branch, run on CPU, gives the same gradient
    (max/min winners exactly; interpolate to float32 rounding)."""
    x = jnp.asarray(np.random.default_rng(0).integers(-4, 5, (2, 3, 12, 10)), jnp.float32)  # ties for the pools
    cpu = jax.grad(CASES[name])(x)
    monkeypatch.setattr(policy, "by_platform", lambda cpu_fn, default, *args: default(*args))
    jax.clear_caches()
    other = jax.grad(CASES[name])(x)
    jax.clear_caches()
    np.testing.assert_allclose(np.asarray(other), np.asarray(cpu), rtol=1e-6, atol=1e-6)


# --- cpu_fusion_barrier: layer_norm's input on XLA:CPU ---------------------------------------------


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64, jnp.float16, jnp.bfloat16])
def test_cpu_fusion_barrier_is_an_exact_identity(dtype):
    """oracle: the input itself. Every value comes back bit for bit (NaN and both infinities included), eager,
    jitted and vmapped, and the derivative is the identity (also at the infinities, where clamp's own is 0)."""
    with jax.enable_x64(dtype == jnp.float64):
        x = jnp.asarray([0.0, -0.0, 1.5, -3.25, np.inf, -np.inf, np.nan, 6e4], dtype)
        for f in (policy.cpu_fusion_barrier, jax.jit(policy.cpu_fusion_barrier), jax.vmap(policy.cpu_fusion_barrier)):
            y = f(x)
            assert y.dtype == x.dtype
            np.testing.assert_array_equal(np.asarray(y).view(np.uint8), np.asarray(x).view(np.uint8))
        c = jnp.arange(1, 9, dtype=dtype)
        g = jax.grad(lambda v: jnp.sum(policy.cpu_fusion_barrier(v) * c))(x)
        np.testing.assert_array_equal(np.asarray(g), np.asarray(c))
        _, t = jax.jvp(policy.cpu_fusion_barrier, (x,), (c,))
        np.testing.assert_array_equal(np.asarray(t), np.asarray(c))


def test_layer_norms_fusion_barrier_stays_on_cpu():
    """oracle: the exported StableHLO. The clamp that keeps layer_norm's reduction out of the producers' YNNPACK
    fusion is in the CPU program only; cuda and tpu get the plain layer norm."""
    f = jax.jit(lambda x, w: jaxconv.layer_norm(x, (8,), w))
    args = (jax.ShapeDtypeStruct((2, 5, 8), jnp.float32), jax.ShapeDtypeStruct((8,), jnp.float32))
    assert "stablehlo.clamp" in jax.export.export(f, platforms=("cpu",))(*args).mlir_module()
    assert "clamp" not in jax.export.export(f, platforms=("cuda", "tpu"))(*args).mlir_module()


def _ynn_fusions(hlo: str) -> list[str]:
    """The bodies of the YNNPACK fusions in an optimised XLA:CPU program's text."""
    import re

    names = re.findall(r"fusion\(.*calls=%([\w.]+), .*\"kind\":\"__ynn_fusion\"", hlo)
    return [re.search(r"^%" + re.escape(n) + r" .*?^}", hlo, re.M | re.S).group(0) for n in names]  # type: ignore[union-attr]


@pytest.mark.skipif(jax.default_backend() != "cpu", reason="pins XLA:CPU's YNNPACK fusion")
def test_layer_norm_barrier_keeps_convnext_blocks_apart_on_xla_cpu(monkeypatch):
    """oracle: XLA:CPU's optimised program (the behaviour cpu_fusion_barrier works around). A ConvNeXt (torchvision's
    blocks: 96 channels at 32x32 after the stem, then a downsampling LayerNorm2d; batch 8, 128x128) ported and
    compiled for eval: without the barrier XLA grows one YNNPACK fusion from the downsampling norm over the block's
    LayerNorm, both MLP matmuls and its erf GELU (the premise; ConvNeXt-T's 33 ms fusion); with it every YNNPACK
    fusion holds at most one matmul, and XLA keeps the clamp. If the premise fails, XLA no longer fuses that way and
    the barrier may be dropped (jaxconv/policy.py, cpu_fusion_barrier)."""
    import torch
    from flax import nnx

    from jaxconv import nn as jnn
    from jaxconv import normalization
    from tests.torchvision_compat import import_torchvision

    convnext = import_torchvision().models.convnext
    torch.manual_seed(0)
    model = convnext.ConvNeXt([convnext.CNBlockConfig(96, 192, 1), convnext.CNBlockConfig(192, None, 1)],
                              num_classes=10).eval()
    x = torch.randn(8, 3, 128, 128)

    def matmuls_per_fusion() -> tuple[list[int], str]:
        jax.clear_caches()
        ported = jnn.from_torch(model, x)
        ported.eval()
        graphdef, state = nnx.split(ported)
        hlo = jax.jit(lambda s, v: nnx.merge(graphdef, s)(v)).lower(state, jnp.asarray(x.numpy())).compile().as_text()
        return sorted(body.count(" dot(") for body in _ynn_fusions(hlo)), hlo

    with_barrier, hlo = matmuls_per_fusion()
    monkeypatch.setattr(normalization, "cpu_fusion_barrier", lambda v: v)
    without, _ = matmuls_per_fusion()
    jax.clear_caches()
    assert without and without[-1] >= 2, without
    assert with_barrier and with_barrier[-1] == 1, with_barrier
    assert " clamp(" in hlo


# --- cpu_materialize: the large depthwise folds' output on XLA:CPU --------------------------------


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64, jnp.float16, jnp.bfloat16, jnp.int32])
def test_cpu_materialize_is_an_exact_identity(dtype):
    """oracle: the input itself. Every value comes back bit for bit (NaN first, so that the conditional takes its
    other branch, -0.0 and both infinities included), eager, jitted, vmapped and jitted under vmap, and the
    derivative is the identity in both modes and to second order."""
    with jax.enable_x64(dtype == jnp.float64):
        if jnp.issubdtype(dtype, jnp.integer):
            xs = [jnp.asarray([[3, -7], [0, 2 ** 31 - 1]], dtype)]
        else:
            v = [np.nan, 0.0, -0.0, 1.5, -3.25, np.inf, -np.inf, 6e4]
            xs = [jnp.asarray(v, dtype).reshape(2, 4), jnp.asarray(v[1:] + v[:1], dtype).reshape(2, 4)]
        for x in xs:
            for f in (policy.cpu_materialize, jax.jit(policy.cpu_materialize), jax.vmap(policy.cpu_materialize),
                      jax.jit(jax.vmap(policy.cpu_materialize))):
                y = f(x)
                assert y.dtype == x.dtype and y.shape == x.shape
                np.testing.assert_array_equal(np.asarray(y).view(np.uint8), np.asarray(x).view(np.uint8))
        if jnp.issubdtype(dtype, jnp.integer):
            return
        x = jnp.asarray(np.random.default_rng(0).standard_normal((2, 4)), dtype)
        c = jnp.arange(1, 9, dtype=dtype).reshape(2, 4)
        g = jax.jit(jax.grad(lambda v: jnp.sum(policy.cpu_materialize(v) * c)))(x)
        np.testing.assert_array_equal(np.asarray(g), np.asarray(c))
        _, t = jax.jvp(jax.jit(policy.cpu_materialize), (x,), (c,))
        np.testing.assert_array_equal(np.asarray(t), np.asarray(c))
        def second(f):  # d/dv sum(d/du sum(f(u) ** 3)) = 6 v for the identity
            return jax.grad(lambda v: jnp.sum(jax.grad(lambda u: jnp.sum(f(u) ** 3))(v)))(x)
        # bit-equal to the same second derivative without it (in every dtype: no rounding of its own)
        np.testing.assert_array_equal(np.asarray(second(policy.cpu_materialize)), np.asarray(second(lambda u: u)))


def test_cpu_materialize_is_a_conditional_on_cpu_only():
    """oracle: the exported StableHLO. The conditional that keeps XLA:CPU from fusing a value into its consumers is
    in the CPU program only (its predicate reads the value itself, unbatched under vmap); cuda and tpu get the value
    as it is."""
    f = jax.jit(jax.vmap(lambda v: jnp.exp(policy.cpu_materialize(jnp.sin(v)))))
    x = jax.ShapeDtypeStruct((3, 5, 4), jnp.float32)
    cpu = jax.export.export(f, platforms=("cpu",))(x).mlir_module()
    assert cpu.count("stablehlo.case") == 1 and "stablehlo.select" not in cpu
    accel = jax.export.export(f, platforms=("cuda", "tpu"))(x).mlir_module()
    assert "stablehlo.case" not in accel and "stablehlo.sine" in accel
