"""jaxconv.phases: strided convolutions as stride-1 convolutions over stride phases.

oracle: torch CPU ``F.conv*d`` (values, and input/weight gradients through ``jax.vjp``), over
seeded random strided configurations (1-d to 3-d, per-dim strides, per-side padding, groups,
both layouts), and the formulation when the policy runs it (forced with ``conv_algorithm``).
"""

from __future__ import annotations

import random

import jax
import jax.numpy as jnp
import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch CPU is the oracle of these tests")
F = torch.nn.functional

from jaxconv import phases  # noqa: E402
from jaxconv.padding import pad_spatial  # noqa: E402
from jaxconv.shapes import conv_spec  # noqa: E402
from tests import lanes  # noqa: E402

TORCH = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}


def configs(count: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    out = []
    while len(out) < count:
        n = rng.choice([1, 2, 2, 2, 3])
        g = rng.choice([1, 1, 2])
        cin, cout = g * rng.randint(1, 3), g * rng.randint(1, 3)
        k = tuple(rng.randint(1, 5) for _ in range(n))
        s = tuple(rng.randint(1, 3) for _ in range(n))
        if all(v == 1 for v in s):
            s = (2, *s[1:])
        p = tuple(rng.randint(0, kk // 2) for kk in k)
        size = tuple(rng.randint(kk, kk + 9) for kk in k)
        out.append(dict(seed=len(out), n=n, g=g, cin=cin, cout=cout, k=k, s=s, p=p, size=size, batch=rng.randint(1, 3),
                        cl=rng.random() < 0.25))
    return out


# 6 of the 30 configs by default, the rest in the slow lane (tests/lanes.py: CI's budget).
@pytest.mark.parametrize("cfg", lanes.prefix(configs(30), 6, ids=lambda c: f"{c['n']}d-k{c['k']}-s{c['s']}-p{c['p']}-g{c['g']}"))
def test_phase_conv_matches_torch_values_and_gradients(cfg):
    """oracle: torch CPU conv and its autograd, float32 to the suite's conv tolerance."""
    n, cl = cfg["n"], cfg["cl"]
    rng = np.random.default_rng(cfg["seed"])
    x = rng.standard_normal((cfg["batch"], cfg["cin"], *cfg["size"])).astype(np.float32)
    w = rng.standard_normal((cfg["cout"], cfg["cin"] // cfg["g"], *cfg["k"])).astype(np.float32)
    xt, wt = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    yt = TORCH[n](xt, wt, None, cfg["s"], cfg["p"], 1, cfg["g"])
    ct = rng.standard_normal(tuple(yt.shape)).astype(np.float32)
    yt.backward(torch.tensor(ct))
    xj, wj, ctj = jnp.asarray(x), jnp.asarray(w), jnp.asarray(ct)
    if cl:
        xj, ctj = jnp.moveaxis(xj, 1, -1), jnp.moveaxis(ctj, 1, -1)
        wj = jnp.transpose(wj, (*range(2, n + 2), 1, 0))
    spec = conv_spec(f"conv{n}d", xj.shape, wj.shape, None, cfg["s"], cfg["p"], 1, cfg["g"], "zeros", cl)
    assert phases.supports(spec)

    def f(x, w):
        xp = jnp.moveaxis(pad_spatial(jnp.moveaxis(x, -1, 1), spec.mode_pads, "zeros"), 1, -1) if cl else \
            pad_spatial(x, spec.mode_pads, "zeros")
        return phases.phase_conv(xp, w, spec, None)
    y, vjp = jax.vjp(f, xj, wj)
    dx, dw = vjp(ctj)
    if cl:
        y, dx = jnp.moveaxis(y, -1, 1), jnp.moveaxis(dx, -1, 1)
        dw = jnp.transpose(dw, (n + 1, n, *range(n)))
    for got, ref in ((y, yt.detach().numpy()), (dx, xt.grad.numpy()), (dw, wt.grad.numpy())):
        np.testing.assert_allclose(np.asarray(got), ref, rtol=2e-5, atol=2e-5 * max(1.0, float(np.abs(ref).max())))


def test_unsupported_specs():
    """oracle: the formulation's contract: stride 1 or dilation > 1 is not computed over phases."""
    assert not phases.supports(conv_spec("conv2d", (1, 3, 8, 8), (4, 3, 3, 3), None, 1, 1, 1, 1, "zeros", False))
    assert not phases.supports(conv_spec("conv2d", (1, 3, 9, 9), (4, 3, 3, 3), None, 2, 1, 2, 1, "zeros", False))
