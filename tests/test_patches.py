"""unfold / fold / pixel_shuffle / pixel_unshuffle (jaxconv.patches): torch parity, adjointness, transforms, errors."""

from __future__ import annotations

import os
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

torch = pytest.importorskip("torch")  # torch is the oracle
import torch.nn.functional as F  # noqa: E402

from jaxconv import shapes  # noqa: E402
from jaxconv.patches import fold, pixel_shuffle, pixel_unshuffle, unfold  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reference as R  # noqa: E402

from tests import lanes  # noqa: E402

N_UNFOLD = 100
N_FOLD = 100
N_REF = 24
N_SHUFFLE = 24
# Compile time dominates these tests. Gradients are compared with torch on every
# GRAD_EVERY-th random configuration only: unfold's gradient is fold and fold's is
# unfold (both compared with torch on every configuration), and
# test_fold_unfold_relation_and_adjoint checks that fold is unfold's exact transpose.
GRAD_EVERY = 3


def _close(out, ref):
    ref = np.asarray(ref, dtype=np.float64)
    atol = 1e-5 * max(1.0, float(np.abs(ref).max(initial=0.0)))
    np.testing.assert_allclose(np.asarray(out, dtype=np.float64), ref, rtol=1e-5, atol=atol)


def _random_window(seed: int):
    """Random torch unfold/fold arguments with at least one block; returns (x shape, args, blocks)."""
    rng = np.random.default_rng(seed)
    while True:
        k = tuple(int(v) for v in rng.integers(1, 4, 2))
        d = tuple(int(v) for v in rng.integers(1, 3, 2))
        p = tuple(int(v) for v in rng.integers(0, 3, 2))
        s = tuple(int(v) for v in rng.integers(1, 4, 2))
        hw = tuple(int(v) for v in rng.integers(1, 8, 2))
        try:
            blocks = shapes.conv_output_shape(hw, k, s, p, d)
        except ValueError:
            continue
        lead = (int(rng.integers(1, 3)),) if rng.random() < 0.8 else ()
        c = int(rng.integers(1, 4))

        def maybe_int(t):
            return t[0] if t[0] == t[1] and rng.random() < 0.5 else t

        args = dict(kernel_size=maybe_int(k), dilation=maybe_int(d), padding=maybe_int(p), stride=maybe_int(s))
        return rng, (*lead, c, *hw), args, blocks


def _value_and_vjp(f, x, ct):
    @jax.jit
    def run(x, ct):
        out, vjp = jax.vjp(f, x)
        return out, vjp(ct)[0]

    return run(x, ct)


def _torch_value_and_grad(f, x, ct):
    xt = torch.tensor(x, requires_grad=True)
    out = f(xt)
    out.backward(torch.tensor(ct))
    return out.detach().numpy(), xt.grad.numpy()


@pytest.mark.parametrize("seed", lanes.prefix(range(N_UNFOLD), 50))  # 50 by default (CI's budget), 50 slow
def test_unfold_torch_parity(seed):
    """Random kernel/dilation/padding/stride, batched or not: values (bit-exact) and, every 3rd, the gradient, under jit; oracle: torch CPU."""
    rng, shape, a, blocks = _random_window(seed)
    x = rng.standard_normal(shape).astype(np.float32)
    ct = rng.standard_normal((*shape[:-3], shape[-3] * np.prod(np.broadcast_to(a["kernel_size"], 2)), np.prod(blocks)))
    ct = ct.astype(np.float32)
    ref, gref = _torch_value_and_grad(lambda t: F.unfold(t, **a), x, ct)
    if seed % GRAD_EVERY:
        out = jax.jit(lambda t: unfold(t, **a))(x)
    else:
        out, g = _value_and_vjp(lambda t: unfold(t, **a), x, ct)
        _close(g, gref)
    assert out.shape == ref.shape
    np.testing.assert_array_equal(np.asarray(out), ref)  # a gather: no arithmetic


@pytest.mark.parametrize("seed", lanes.prefix(range(10_000, 10_000 + N_FOLD), 50))  # 50 by default, 50 slow
def test_fold_torch_parity(seed):
    """Random output_size/kernel/dilation/padding/stride, batched or not: values and, every 3rd, the gradient, under jit; oracle: torch CPU."""
    rng, shape, a, blocks = _random_window(seed)
    kk = int(np.prod(np.broadcast_to(a["kernel_size"], 2)))
    cols = rng.standard_normal((*shape[:-3], shape[-3] * kk, int(np.prod(blocks)))).astype(np.float32)
    ct = rng.standard_normal(shape).astype(np.float32)
    out_size = shape[-2:] if rng.random() < 0.8 else list(shape[-2:])
    ref, gref = _torch_value_and_grad(lambda t: F.fold(t, out_size, **a), cols, ct)
    if seed % GRAD_EVERY:
        out = jax.jit(lambda t: fold(t, out_size, **a))(cols)
    else:
        out, g = _value_and_vjp(lambda t: fold(t, out_size, **a), cols, ct)
        np.testing.assert_array_equal(np.asarray(g), gref)  # fold's gradient is unfold: a gather
    assert out.shape == ref.shape
    _close(out, ref)


@pytest.mark.parametrize("seed", range(20_000, 20_000 + N_REF))
def test_unfold_fold_reference(seed):
    """Batched unfold and fold on random configurations; oracle: NumPy loop reference (unfold_ref, fold_ref)."""
    rng, shape, a, blocks = _random_window(seed)
    x = rng.standard_normal((1, *shape[-3:])).astype(np.float32)
    args = (a["kernel_size"], a["dilation"], a["padding"], a["stride"])
    _close(unfold(x, *args), R.unfold_ref(x, *args))
    cols = rng.standard_normal((1, shape[-3] * int(np.prod(np.broadcast_to(a["kernel_size"], 2))), int(np.prod(blocks))))
    cols = cols.astype(np.float32)
    _close(fold(cols, shape[-2:], *args), R.fold_ref(cols, shape[-2:], *args))


@pytest.mark.parametrize("seed", range(30_000, 30_012))
def test_fold_unfold_relation_and_adjoint(seed):
    """fold(unfold(x)) == x * fold(unfold(ones)), and fold is unfold's exact linear transpose; oracle: the identities."""
    rng, shape, a, _ = _random_window(seed)
    x = jnp.asarray(rng.standard_normal(shape).astype(np.float32))
    hw = shape[-2:]
    counts = fold(unfold(jnp.ones_like(x), **a), hw, **a)
    _close(fold(unfold(x, **a), hw, **a), x * counts)
    cols = unfold(x, **a)
    y = jnp.asarray(rng.standard_normal(cols.shape).astype(np.float32))
    (t,) = jax.linear_transpose(lambda v: unfold(v, **a), x)(y)
    _close(fold(y, hw, **a), t)


@pytest.mark.parametrize("padding, explicit", [
    (((1, 0), (2, 1)), ((1, 0), (2, 1))),
    ("same", None),
    ("valid", ((0, 0), (0, 0))),
    ("full", ((2, 2), (1, 1))),
])
def test_padding_vocabulary(padding, explicit):
    """Per-side pairs and strings mean zero padding by those amounts; oracle: torch CPU on the F.pad-ed input."""
    x = np.random.default_rng(1).standard_normal((1, 2, 5, 6)).astype(np.float32)
    k = (3, 2)
    if explicit is None:
        explicit = shapes.resolve_padding(padding, (5, 6), k)
    (t, b), (le, ri) = explicit
    xp = F.pad(torch.tensor(x), (le, ri, t, b))
    ref = F.unfold(xp, k).numpy()
    np.testing.assert_array_equal(np.asarray(unfold(x, k, padding=padding)), ref)
    cols = np.random.default_rng(2).standard_normal(ref.shape).astype(np.float32)
    full = F.fold(torch.tensor(cols), xp.shape[-2:], k).numpy()
    _close(fold(cols, (5, 6), k, padding=padding), full[..., t:t + 5, le:le + 6])


def test_unfold_integer_and_bool_dtypes():
    """unfold is a gather, so it works on dtypes torch's im2col rejects (int, bool); oracle: torch CPU on float."""
    x = np.arange(2 * 3 * 5 * 4).reshape(2, 3, 5, 4)
    ref = F.unfold(torch.tensor(x, dtype=torch.float64), 2, 1, 1, 2).numpy()
    got = unfold(jnp.asarray(x, jnp.int32), 2, 1, 1, 2)
    assert got.dtype == jnp.int32
    np.testing.assert_array_equal(np.asarray(got), ref)
    assert unfold(jnp.ones((1, 3, 3), bool), 2).dtype == jnp.bool_


def test_zero_batch():
    """A batch of size 0 works, as in torch; oracle: torch CPU."""
    assert unfold(jnp.ones((0, 2, 4, 4)), 2).shape == tuple(F.unfold(torch.ones(0, 2, 4, 4), 2).shape)
    assert fold(jnp.ones((0, 8, 9)), 4, 2).shape == tuple(F.fold(torch.ones(0, 8, 9), 4, 2).shape)


# ------------------------------------------------------------------ pixel shuffle


@pytest.mark.parametrize("seed", range(N_SHUFFLE))
def test_pixel_shuffle_torch_parity_and_round_trip(seed):
    """Random r and leading dims (0-2): bit-exact values and gradient under jit, round trip; oracle: torch CPU."""
    rng = np.random.default_rng(seed)
    r = int(rng.integers(1, 4))
    lead = tuple(int(v) for v in rng.integers(1, 3, int(rng.integers(0, 3))))
    c, h, w = int(rng.integers(1, 3)), int(rng.integers(1, 4)), int(rng.integers(1, 4))
    x = rng.standard_normal((*lead, c * r * r, h, w)).astype(np.float32)
    ref = F.pixel_shuffle(torch.tensor(x), r).numpy()
    ct = rng.standard_normal(ref.shape).astype(np.float32)

    @jax.jit
    def run(x, ct):
        out, vjp = jax.vjp(lambda t: pixel_shuffle(t, r), x)
        return out, pixel_unshuffle(out, r), vjp(ct)[0]

    out, back, g = (np.asarray(a) for a in run(x, ct))
    np.testing.assert_array_equal(out, ref)
    np.testing.assert_array_equal(back, x)
    np.testing.assert_array_equal(back, F.pixel_unshuffle(torch.tensor(ref), r).numpy())
    _, gref = _torch_value_and_grad(lambda t: F.pixel_shuffle(t, r), x, ct)
    np.testing.assert_array_equal(g, gref)
    if len(lead) == 1:
        np.testing.assert_array_equal(out, R.pixel_shuffle_ref(x, r))
        np.testing.assert_array_equal(back, R.pixel_unshuffle_ref(ref, r))


# ------------------------------------------------------------------ transforms


def test_jit_vmap_grad():
    """Every op under jit, vmap (over an extra leading axis) and grad; oracle: per-example loop and torch autograd."""
    rng = np.random.default_rng(3)
    xs = rng.standard_normal((3, 2, 2, 6, 5)).astype(np.float32)
    a = dict(kernel_size=(3, 2), dilation=(1, 2), padding=1, stride=(2, 1))
    ops = {
        "unfold": (lambda x: unfold(x, **a), lambda t: F.unfold(t, **a)),
        "fold": (lambda x: fold(unfold(x, **a), (6, 5), **a), lambda t: F.fold(F.unfold(t, **a), (6, 5), **a)),
        "pixel_shuffle": (lambda x: pixel_shuffle(x.reshape(2, 4, 3, 5), 2), lambda t: F.pixel_shuffle(t.reshape(2, 4, 3, 5), 2)),
        "pixel_unshuffle": (lambda x: pixel_unshuffle(x[..., :4], 2), lambda t: F.pixel_unshuffle(t[..., :4], 2)),
    }
    for f, tf in ops.values():
        stacked = jax.vmap(f)(xs)
        jitted = jax.jit(f)
        for i in range(3):
            _close(stacked[i], tf(torch.tensor(xs[i])).numpy())
            _close(jitted(xs[i]), stacked[i])
        g = jax.jit(jax.grad(lambda x, f=f: jnp.sum(jnp.sin(f(x)))))(xs[0])
        xt = torch.tensor(xs[0], requires_grad=True)
        torch.sin(tf(xt)).sum().backward()
        _close(g, xt.grad.numpy())
    # unbatched inputs under vmap too.
    per = jax.vmap(lambda x: unfold(x, **a))(xs[0])
    _close(per, unfold(xs[0], **a))


# ------------------------------------------------------------------ bad input


X = jnp.ones((1, 2, 5, 5))


@pytest.mark.parametrize("call, exc, match", [
    (lambda: unfold(X[0, 0], 2), ValueError, r"unfold: `input` must have rank 3 \(C, \*spatial\) or 4"),
    (lambda: unfold(jnp.ones((1, 2, 3, 4, 4)), 2), ValueError, r"unfold: `input` must have rank 3"),
    (lambda: unfold(X, 6), ValueError, r"unfold: `kernel_size` .*output size would be \(0, 0\)"),
    (lambda: unfold(X, (2, 2, 2)), ValueError, r"unfold: `kernel_size` must have 2 entries"),
    (lambda: unfold(X, 0), ValueError, r"unfold: `kernel_size` must be >= 1"),
    (lambda: unfold(X, 2, stride=0), ValueError, r"unfold: `stride` must be >= 1"),
    (lambda: unfold(X, 2, dilation=(1, 0)), ValueError, r"unfold: `dilation` must be >= 1"),
    (lambda: unfold(X, 2, padding=-1), ValueError, r"unfold: `padding` must be >= 0"),
    (lambda: unfold(X, 2, padding=[{1}, 0]), TypeError, r"unfold: `padding` must be an int, a sequence"),
    (lambda: unfold(jnp.ones((1, 0, 4, 4)), 2), ValueError, r"unfold: `input` must have non-zero channel"),
    (lambda: unfold(X, 2.0), TypeError, r"unfold: `kernel_size` must be an int or a sequence of 2 ints"),
    (lambda: fold(jnp.ones((1, 8, 9)), (4, 4), 2, stride=2), ValueError,
     r"fold: `input` must have dim -1 = L = the number of sliding blocks 2 \* 2 = 4"),
    (lambda: fold(jnp.ones((1, 7, 9)), (4, 4), 2), ValueError, r"fold: `input` must have dim -2 = C \* prod\(kernel_size\) = C \* 4"),
    (lambda: fold(jnp.ones((1, 0, 9)), (4, 4), 2), ValueError, r"fold: `input` must have dim -2"),
    (lambda: fold(jnp.ones((1, 1, 8, 9)), (4, 4), 2), ValueError, r"fold: `input` must have rank 2 .* or 3"),
    (lambda: fold(jnp.ones((1, 8, 9)), (4, 4, 4), 2), ValueError, r"fold: `output_size` must have 2 entries"),
    (lambda: fold(jnp.ones((1, 8, 9)), (0, 4), 2), ValueError, r"fold: `output_size` must be >= 1"),
    (lambda: fold(jnp.ones((1, 8, 1)), 1, 2), ValueError, r"fold: `kernel_size` .*output size would be"),
    (lambda: pixel_shuffle(jnp.ones((1, 3, 2, 2)), 2), ValueError,
     r"pixel_shuffle: `input` must have channels \(dim -3\) divisible by upscale_factor\*\*2 = 4"),
    (lambda: pixel_shuffle(jnp.ones((4, 2)), 2), ValueError, r"pixel_shuffle: `input` must have rank >= 3"),
    (lambda: pixel_shuffle(jnp.ones((4, 2, 2)), 0), ValueError, r"pixel_shuffle: `upscale_factor` must be >= 1"),
    (lambda: pixel_shuffle(jnp.ones((4, 2, 2)), 2.0), TypeError, r"pixel_shuffle: `upscale_factor` must be an int"),
    (lambda: pixel_unshuffle(jnp.ones((1, 1, 3, 2)), 2), ValueError,
     r"pixel_unshuffle: `input` must have height and width divisible by downscale_factor = 2"),
    (lambda: pixel_unshuffle(jnp.ones((1, 1, 2, 3)), 2), ValueError, r"pixel_unshuffle: `input` must have height and width"),
    (lambda: pixel_unshuffle(jnp.ones((1, 2, 2)), -1), ValueError, r"pixel_unshuffle: `downscale_factor` must be >= 1"),
    (lambda: pixel_unshuffle(jnp.ones((2, 2)), 1), ValueError, r"pixel_unshuffle: `input` must have rank >= 3"),
])
def test_bad_input(call, exc, match):
    """Each bad argument raises a clear error naming the function and argument; oracle: torch's documented checks."""
    with pytest.raises(exc, match=match):
        call()


@pytest.mark.parametrize("call", [
    lambda: F.fold(torch.ones(1, 8, 9), (4, 4), 2, stride=2),
    lambda: F.fold(torch.ones(1, 7, 9), (4, 4), 2),
    lambda: F.unfold(torch.ones(1, 2, 5, 5), 6),
    lambda: F.pixel_shuffle(torch.ones(1, 3, 2, 2), 2),
    lambda: F.pixel_unshuffle(torch.ones(1, 1, 3, 2), 2),
])
def test_torch_rejects_what_we_reject(call):
    """The divisibility and block-count errors above are errors in torch too; oracle: torch CPU."""
    with pytest.raises(RuntimeError):
        call()
