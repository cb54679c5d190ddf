"""Padding (jaxconv.pad): torch F.pad and NumPy-loop parity for every mode, the order convention, errors."""

from __future__ import annotations

import functools
import random

import jax
import jax.numpy as jnp
import numpy as np
import pytest

torch = pytest.importorskip("torch")  # torch is the oracle
import torch.nn.functional as F  # noqa: E402

import jaxconv  # noqa: E402
from jaxconv.shapes import from_torch_pad  # noqa: E402
from tests import lanes  # noqa: E402
from tests.reference import pad_ref  # noqa: E402

MODES = ("constant", "reflect", "replicate", "circular")


N_RANDOM = 300
RANDOM_CHUNK = 100


@functools.cache
def random_pad_cases() -> list[tuple]:
    """The N_RANDOM random configs (one draw sequence, whatever the chunking): (x, padding, pairs, mode,
    value, spatial dims, unbatched too)."""
    rng = random.Random(0)
    nprng = np.random.default_rng(0)
    cases: list[tuple] = []
    while len(cases) < N_RANDOM:
        n = rng.randint(1, 3)
        mode = rng.choice(MODES)
        spatial = tuple(rng.randint(1, 5) for _ in range(n))
        form = rng.choice(["pairs", "per_dim", "int"])
        if form == "pairs":
            padding = tuple((rng.randint(0, 3), rng.randint(0, 3)) for _ in range(n))
            pairs = padding
        elif form == "per_dim":
            padding = tuple(rng.randint(0, 3) for _ in range(n))
            pairs = tuple((p, p) for p in padding)
        else:
            padding = rng.randint(0, 3)
            pairs = ((padding, padding),) * n
        if mode == "reflect" and any(max(p) >= s for p, s in zip(pairs, spatial)):
            continue
        if mode == "circular" and any(max(p) > s for p, s in zip(pairs, spatial)):
            continue
        x = nprng.standard_normal((rng.randint(1, 2), rng.randint(1, 3), *spatial)).astype(np.float32)
        value = rng.choice([0.0, 1.5]) if mode == "constant" else None
        cases.append((x, padding, pairs, mode, value, n, rng.random() < 0.3))
    return cases


# The first 100 configs by default, the other 200 in the slow lane (tests/lanes.py: CI's budget; each
# config compiles its own programs, ~5 s a chunk on the 2-core dev machine).
@pytest.mark.parametrize("chunk", lanes.prefix(range(N_RANDOM // RANDOM_CHUNK), 1))
def test_pad_random_parity(chunk):
    """oracle: torch F.pad (flat last-dim-first tuple built by hand) and the NumPy loop reference, 100 configs a chunk."""
    for x, padding, pairs, mode, value, n, unbatched in random_pad_cases()[chunk * RANDOM_CHUNK:(chunk + 1) * RANDOM_CHUNK]:
        flat = [v for pair in reversed(pairs) for v in pair]  # torch: last dim first
        ref = F.pad(torch.tensor(x), flat, mode=mode, **({} if value is None else {"value": value})).numpy()
        got = jaxconv.pad(x, padding, mode, value, spatial_dims=n)
        np.testing.assert_array_equal(got, ref, err_msg=f"{mode} {pairs} {x.shape}")
        np.testing.assert_allclose(got, pad_ref(x, pairs, mode, 0.0 if value is None else value), rtol=1e-6)
        if unbatched:  # (C, *spatial)
            np.testing.assert_array_equal(jaxconv.pad(x[0], padding, mode, value, spatial_dims=n), ref[0])


def test_pad_random_default_chunk_covers_every_mode_form_and_rank():
    """The default lane's configs (the first chunk) still draw every mode, padding form and rank. oracle: the draws."""
    cases = random_pad_cases()[:RANDOM_CHUNK]
    assert {c[3] for c in cases} == set(MODES)
    assert {c[5] for c in cases} == {1, 2, 3}
    assert {type(c[1]).__name__ + (str(type(c[1][0]).__name__) if isinstance(c[1], tuple) else "") for c in cases} == {
        "int", "tupletuple", "tupleint"}
    assert any(c[6] for c in cases) and any(c[4] == 1.5 for c in cases)


def test_seed004_padding_order():
    """oracle: seed 004 — Conv2d(padding=(1, 0)) pads rows (top/bottom) like F.pad(x, (0, 0, 1, 1)), and jaxconv.pad(x, (1, 0)) does too."""
    x = torch.randn(1, 1, 4, 4)
    assert tuple(torch.nn.Conv2d(1, 1, 1, padding=(1, 0))(x).shape) == (1, 1, 6, 4)
    np.testing.assert_array_equal(jaxconv.pad(x.numpy(), (1, 0)), F.pad(x, (0, 0, 1, 1)).numpy())
    np.testing.assert_array_equal(jaxconv.pad(x.numpy(), from_torch_pad((0, 0, 1, 1))), F.pad(x, (0, 0, 1, 1)).numpy())
    assert jaxconv.pad(x.numpy(), (1, 0)).shape == (1, 1, 6, 4)


def test_pad_string_needs_kernel_and_same_resolves():
    """oracle: lax SAME padding sizes: a 7-wide input, k=3, s=2 pads (1, 1)."""
    x = jnp.ones((1, 1, 7))
    assert jaxconv.pad(x, "same", kernel_size=3, stride=2).shape == (1, 1, 9)
    with pytest.raises(ValueError, match=r"pad: `pad` is a string, which needs kernel_size="):
        jaxconv.pad(x, "same")


def test_pad_grad_and_jit_vmap():
    """oracle: torch autograd of F.pad(mode='reflect') — the adjoint folds reflected cells back."""
    x = np.random.default_rng(2).standard_normal((2, 3, 5, 4)).astype(np.float32)
    g = jax.jit(jax.grad(lambda x: (jaxconv.pad(x, ((2, 1), (0, 3)), "reflect") ** 3).sum()))(x)
    tx = torch.tensor(x, requires_grad=True)
    (F.pad(tx, (0, 3, 2, 1), mode="reflect") ** 3).sum().backward()
    np.testing.assert_allclose(g, tx.grad.numpy(), rtol=1e-5, atol=1e-5)
    v = jax.vmap(lambda xi: jaxconv.pad(xi, 1, "circular", spatial_dims=2))(x)  # an int pad of a rank-3 array is 1-d by default
    np.testing.assert_array_equal(v, jaxconv.pad(x, 1, "circular"))


@pytest.mark.parametrize(
    "shape, args, kwargs, exc, match",
    [
        ((1, 1, 2, 4), ((2, 0),), dict(mode="reflect"), ValueError, r"pad: `pad` must be < the input size \(2, 4\) in every dim for reflect"),
        ((1, 1, 4, 4), ((5, 0),), dict(mode="circular"), ValueError, r"pad: `pad` must be <= the input size"),
        ((1, 1, 4, 4), (1,), dict(mode="wrap"), ValueError, r"pad: `mode` must be one of"),
        ((1, 1, 4, 4), (1,), dict(mode="reflect", value=1.0), ValueError, r"pad: `value` is only used by mode='constant'"),
        ((1, 1, 4, 4), (-1,), {}, ValueError, r"pad: `pad` must be >= 0"),
        ((1, 1, 4, 4), ((1, 2, 3, 4, 5),), {}, ValueError, r"pad: `input` must have at least 5 dims to pad 5 dims"),
        ((3,), (((1, 1),),), dict(mode="reflect"), ValueError, r"pad: `input` must have rank 2 \(C, \*spatial\) or 3"),
        ((1, 1, 4, 4), (((1, 1),),), dict(mode="circular"), ValueError, r"pad: `input` must have rank 2 \(C, \*spatial\) or 3"),
        ((1, 0, 4), (((1, 1),),), dict(mode="replicate"), ValueError, r"pad: `input` must have non-zero sizes in every dim but"),
        ((1, 4), (1,), {}, ValueError, r"pad: `spatial_dims` must be an int >= 1"),
        ((1, 4), (1,), dict(spatial_dims=1.0), TypeError, r"pad: `spatial_dims` must be an int >= 1"),
        ((1, 1, 4, 4), (1.5,), {}, TypeError, r"pad: `pad` must be an int, a sequence"),
    ],
)
def test_pad_errors(shape, args, kwargs, exc, match):
    """oracle: torch's limits (reflect < size, circular <= size) and the error rule."""
    with pytest.raises(exc, match=match):
        jaxconv.pad(jnp.ones(shape), *args, **kwargs)


# torch 2.13's OpInfo samples for F.pad (common_methods_invocations.sample_inputs_nn_pad, copied:
# importing that module needs torch's test-only dependencies), low-rank inputs included. The
# negative (cropping) pads of the list are left out: jaxconv.pad does not crop (test below).
_OPINFO_PAD = {
    "reflect": [((1, 3), (1, 2)), ((1, 3), (0, 1)), ((0, 3, 3), (1, 2)), ((0, 3, 3), (0, 1)), ((1, 3, 3), (1, 2)),
                ((1, 3, 3), (0, 1)), ((1, 3, 3), (0, 2, 0, 1)), ((0, 3, 3, 3), (0, 2, 0, 1)), ((3, 3, 5, 5), (0, 2, 0, 1)),
                ((3, 3, 5, 5), (1, 1, 1, 1, 1, 1)), ((1, 3, 3, 3, 3), (1, 1, 1, 1, 1, 1))],
    "constant": [((1, 3), (1, 2)), ((1, 3), (0, 1)), ((1, 3), (0, 2, 0, 1)), ((0, 3, 3), (1, 2)), ((0, 3, 3), (0, 1)),
                 ((0, 3, 3), (0, 2, 0, 1)), ((0, 3, 3), (1, 1, 1, 1, 1, 1)), ((1, 3, 3), (1, 2)), ((1, 3, 3), (0, 1)),
                 ((1, 3, 3), (0, 2, 0, 1)), ((1, 3, 3), (1, 1, 1, 1, 1, 1)), ((0, 3, 3, 3), (1, 2)), ((0, 3, 3, 3), (0, 1)),
                 ((0, 3, 3, 3), (0, 2, 0, 1)), ((0, 3, 3, 3), (1, 1, 1, 1, 1, 1)), ((3, 3, 5, 5), (1, 2)),
                 ((3, 3, 5, 5), (0, 1)), ((3, 3, 5, 5), (0, 2, 0, 1)), ((3, 3, 5, 5), (1, 1, 1, 1, 1, 1)),
                 ((1, 3, 3, 3, 3), (1, 2)), ((1, 3, 3, 3, 3), (0, 1)), ((1, 3, 3, 3, 3), (0, 2, 0, 1)),
                 ((1, 3, 3, 3, 3), (1, 1, 1, 1, 1, 1)), ((1, 3, 3), (2, 2))],
    "circular": [((0, 3, 3), (1, 2)), ((0, 3, 3), (0, 1)), ((1, 3, 3), (1, 2)), ((1, 3, 3), (0, 1)),
                 ((0, 3, 3, 3), (0, 2, 0, 1)), ((3, 3, 5, 5), (0, 2, 0, 1)), ((1, 3, 3, 3, 3), (1, 1, 1, 1, 1, 1))],
}
_OPINFO_PAD["replicate"] = _OPINFO_PAD["reflect"]
_OPINFO_NEGATIVE = [((5, 3), (-1, -2, 1, 1), "constant"), ((1, 3, 4, 4), (-1, 1, -2, 1), "reflect")]


@pytest.mark.parametrize("mode, shape, flat", [(m, s, f) for m, cases in _OPINFO_PAD.items() for s, f in cases],
                         ids=lambda v: "x".join(map(str, v)) if isinstance(v, tuple) else str(v))
def test_pad_opinfo_samples(mode, shape, flat):
    """oracle: torch F.pad on torch's own OpInfo samples (low-rank inputs: (1, 3) padding both dims in constant mode, (1, 3) as (C, W) otherwise), converted with from_torch_pad."""
    x = np.random.default_rng(len(shape) * 7 + len(flat)).standard_normal(shape).astype(np.float32)
    value = {"value": 2.0} if mode == "constant" else {}
    ref = F.pad(torch.from_numpy(x), flat, mode=mode, **value).numpy()
    got = jaxconv.pad(jnp.asarray(x), from_torch_pad(flat), mode, value.get("value"))
    assert got.shape == ref.shape
    np.testing.assert_array_equal(np.asarray(got), ref)


@pytest.mark.parametrize("shape, flat, mode", _OPINFO_NEGATIVE)
def test_pad_opinfo_negative_pads_are_refused(shape, flat, mode):
    """oracle: jaxconv's documented difference: torch crops with negative pads, jaxconv.pad refuses them (slice instead)."""
    F.pad(torch.zeros(shape), flat, mode=mode)  # torch accepts them
    with pytest.raises(ValueError, match=r"pad: `pad` must be >= 0"):
        jaxconv.pad(jnp.zeros(shape), from_torch_pad(flat), mode)


@pytest.mark.parametrize("mode", MODES)
def test_pad_rank_rule_as_torch(mode):
    """oracle: torch F.pad's rank rule, ranks 0-5 x 1-3 padded dims: constant pads any dims (k <= ndim), the other modes need rank k + 1 or k + 2; where torch pads, the values agree."""
    rng = np.random.default_rng(3)
    for ndim in range(6):
        x = rng.standard_normal((3,) * ndim).astype(np.float32)
        for k in (1, 2, 3):
            flat = tuple(range(1, 2 * k + 1)) if mode == "constant" else (1, 2) * k  # reflect needs pad < 3
            try:
                ref = F.pad(torch.from_numpy(x), flat, mode=mode).numpy()
            except (RuntimeError, NotImplementedError):
                ref = None
            if ref is None:
                with pytest.raises(ValueError, match=r"^pad: `input` must have"):
                    jaxconv.pad(x, from_torch_pad(flat), mode)
            else:
                np.testing.assert_array_equal(np.asarray(jaxconv.pad(x, from_torch_pad(flat), mode)), ref,
                                              err_msg=f"{mode} rank {ndim} k {k}")


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
def test_pad_more_than_three_dims_beyond_torch(mode):
    """oracle: np.pad (reflect / edge / wrap = torch's reflect / replicate / circular): jaxconv pads 4 trailing dims, where torch's non-constant modes stop at 3."""
    x = np.random.default_rng(4).standard_normal((2, 1, 3, 2, 3, 4)).astype(np.float32)
    pads = ((1, 0), (0, 1), (2, 1), (1, 1))
    ref = np.pad(x, ((0, 0), (0, 0), *pads), mode={"reflect": "reflect", "replicate": "edge", "circular": "wrap"}[mode])
    np.testing.assert_array_equal(np.asarray(jaxconv.pad(x, pads, mode)), ref)
    with pytest.raises(ValueError, match=r"pad: `input` must have rank 5 \(C, \*spatial\) or 6"):
        jaxconv.pad(x[None], pads, mode)
