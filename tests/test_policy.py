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
