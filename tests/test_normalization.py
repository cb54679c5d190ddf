"""jaxconv.batch_norm / batch_norm_update / layer_norm / group_norm against torch.nn.functional:
values and gradients (float32 and float64), torch's in-place running-statistic updates, the
half-precision rules, and every error."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxconv

torch = pytest.importorskip("torch")  # torch is only the oracle here; [test] installs it, so CI runs these
F = torch.nn.functional

SEED = 1502
TOL = {"float32": dict(rtol=1e-5, atol=2e-6), "float64": dict(rtol=1e-12, atol=1e-12)}
DTYPES = ["float32", "float64"]


def _rng(*key: int) -> np.random.Generator:
    return np.random.default_rng([SEED, *key])


def _x64(dtype: str):
    return jax.enable_x64(True) if dtype == "float64" else contextlib.nullcontext()


def _check_vjp(dtype: str, jfn, tfn, arrays: list[np.ndarray | None], grad_idx: list[int], seed: int) -> None:
    """jfn(*arrays) and its gradients w.r.t. arrays[grad_idx] (of sum(out * g)), in one jitted program,
    == torch's (autograd), to TOL[dtype]."""
    ts = [None if a is None else torch.tensor(a, requires_grad=i in grad_idx) for i, a in enumerate(arrays)]
    ty = tfn(*ts)
    g = _rng(seed, 99).standard_normal(tuple(ty.shape)).astype(dtype)
    (ty * torch.tensor(g)).sum().backward()
    want = [ty.detach().numpy()] + [ts[i].grad.numpy() for i in grad_idx]
    with _x64(dtype):
        js = [None if a is None else jnp.asarray(a) for a in arrays]

        @jax.jit
        def run(*diff):
            def f(*d):
                full = list(js)
                for i, v in zip(grad_idx, d):
                    full[i] = v
                return jfn(*full)
            y, vjp = jax.vjp(f, *diff)
            return y, vjp(jnp.asarray(g))

        y, grads = run(*(js[i] for i in grad_idx))
        got = [np.asarray(y)] + [np.asarray(v) for v in grads]
    names = ["output"] + [f"d arg{i}" for i in grad_idx]
    for name, gv, tv in zip(names, got, want):
        assert gv.dtype == np.dtype(dtype) and gv.shape == tv.shape, name
        np.testing.assert_allclose(gv, tv, err_msg=name, **TOL[dtype])


# ---------------------------------------------------------------------------------------
# batch_norm
# ---------------------------------------------------------------------------------------

BN_SHAPES = [(6, 3), (2, 3, 4, 3)]
# (shape, training, running statistics given, weight, bias)
BN_CASES = [
    ((2, 3, 4, 3), False, True, True, True),
    ((4, 2, 5), True, True, True, True),
    ((2, 2, 2, 3, 2), True, False, True, False),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("shape", "training", "stats", "weight", "bias"), BN_CASES, ids=[f"bn{i}" for i in range(len(BN_CASES))])
def test_batch_norm_matches_torch(shape, training, stats, weight, bias, dtype):
    """oracle: torch CPU. Eval (running statistics) and train (batch statistics, biased variance; the
    gradient flows through them), ranks 2 to 5, with and without weight/bias/running statistics:
    values and the gradients for input, weight and bias under jit, float32 to 1e-5, float64 to 1e-12."""
    r = _rng(len(shape), training)
    c = shape[1]
    x = (r.standard_normal(shape) * 2 + 1).astype(dtype)
    rm, rv = r.standard_normal(c).astype(dtype), (r.random(c) + 0.5).astype(dtype)
    w, b = (r.random(c) + 0.5).astype(dtype), r.standard_normal(c).astype(dtype)
    eps = float(r.choice([1e-5, 1e-3]))

    def jfn(x, rm, rv, w, b):
        return jaxconv.batch_norm(x, rm, rv, w, b, training, 0.1, eps)

    def tfn(x, rm, rv, w, b):
        # torch writes into the running statistics in train mode: give it copies.
        return F.batch_norm(x, None if rm is None else rm.clone(), None if rv is None else rv.clone(), w, b, training, 0.1, eps)

    arrays = [x, rm if stats else None, rv if stats else None, w if weight else None, b if bias else None]
    _check_vjp(dtype, jfn, tfn, arrays, [i for i in (0, 3, 4) if arrays[i] is not None], seed=len(shape))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", BN_SHAPES, ids=[f"rank{len(s)}" for s in BN_SHAPES])
def test_batch_norm_update_matches_torch_in_place(shape, dtype):
    """oracle: torch CPU's train-mode F.batch_norm, which overwrites running_mean/running_var in
    place: (1 - momentum) * running + momentum * stat with the unbiased batch variance. Three steps
    with changing momentum, float32 to 1e-6 and float64 to 1e-12; the update has no gradient."""
    r = _rng(len(shape), 7)
    c = shape[1]
    trm, trv = torch.tensor(r.standard_normal(c).astype(dtype)), torch.tensor((r.random(c) + 0.5).astype(dtype))
    with _x64(dtype):
        rm, rv = jnp.asarray(trm.numpy().copy()), jnp.asarray(trv.numpy().copy())
        for step, momentum in enumerate((0.1, 0.5, 1.0)):
            x = (r.standard_normal(shape) * 3 - 1).astype(dtype)
            F.batch_norm(torch.tensor(x), trm, trv, training=True, momentum=momentum)
            rm, rv = jaxconv.batch_norm_update(jnp.asarray(x), rm, rv, momentum)
            assert rm.dtype == rv.dtype == np.dtype(dtype)
            tol = dict(rtol=1e-6, atol=1e-7) if dtype == "float32" else TOL[dtype]
            np.testing.assert_allclose(rm, trm.numpy(), err_msg=f"step {step}", **tol)
            np.testing.assert_allclose(rv, trv.numpy(), err_msg=f"step {step}", **tol)
        g = jax.grad(lambda x: sum(jnp.sum(s) for s in jaxconv.batch_norm_update(x, rm, rv)))(jnp.asarray(x))
        np.testing.assert_array_equal(g, np.zeros_like(x))


_BIT_EQUAL_SCRIPT = """
import itertools, json
import numpy as np, torch, jax, jaxconv
F = torch.nn.functional
out = {}
for i, (shape, cl) in enumerate([((8, 64, 16, 16), False), ((8, 64, 16, 16), True), ((4, 3, 5, 7), False),
                                 ((16, 10), False), ((2, 7, 3, 4, 5), False)]):
    for has_w, has_b in itertools.product((True, False), repeat=2):
        r = np.random.default_rng([i, has_w, has_b])
        c = shape[1]
        x = (r.standard_normal(shape) * 3 + r.choice([1.0, 100.0])).astype(np.float32)
        rm = (r.standard_normal(c) * 50).astype(np.float32)
        rv = (10.0 ** r.uniform(-3, 4, c)).astype(np.float32)
        w = r.standard_normal(c).astype(np.float32) if has_w else None
        b = r.standard_normal(c).astype(np.float32) if has_b else None
        tx = torch.tensor(x)
        if cl:
            tx = tx.contiguous(memory_format=torch.channels_last)
        t = [None if a is None else torch.tensor(a) for a in (w, b)]
        want = F.batch_norm(tx, torch.tensor(rm), torch.tensor(rv), t[0], t[1], False, 0.1, 1e-5).numpy()
        for how, fn in (("eager", jaxconv.batch_norm), ("jit", jax.jit(lambda *a: jaxconv.batch_norm(*a)))):
            got = np.asarray(fn(x, rm, rv, w, b))
            out[f"{shape} cl={cl} w={has_w} b={has_b} {how}"] = int(np.sum(got != want))
print("RESULT " + json.dumps(out))
"""


def test_batch_norm_eval_is_bit_equal_to_torch():
    """oracle: torch CPU's eval-mode F.batch_norm, float32, bit for bit: torch's kernel and jaxconv both compute
    x * alpha + beta with alpha = weight / sqrt(var + eps) and beta = bias - mean * alpha, both multiply-adds
    fused. Ranks 2 to 5, with and without weight and bias, torch's channels-last memory format (its other
    kernel) too, eager and under jit; values up to 1e4 and variances from 1e-3 to 1e4, so that a second rounding
    would show. The fusing of multiply-adds is LLVM's optimisation, which this suite's XLA_FLAGS turn down
    (tests/conftest.py), so it runs in a subprocess at XLA's default level, as users run."""
    env = dict(os.environ)
    env["XLA_FLAGS"] = " ".join(f for f in env.get("XLA_FLAGS", "").split()
                                if not f.startswith(("--xla_backend_optimization_level", "--xla_llvm_disable_expensive_passes")))
    env["JAX_PLATFORMS"] = "cpu"
    proc = subprocess.run([sys.executable, "-c", _BIT_EQUAL_SCRIPT], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    mismatches = json.loads(next(ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT "))[len("RESULT "):])
    assert len(mismatches) == 40 and not any(mismatches.values()), mismatches


@pytest.mark.parametrize("training", [False, True], ids=["eval", "train"])
@pytest.mark.parametrize("shape", [(2, 3, 4, 5), (4, 2, 5), (2, 2, 3, 2, 3)], ids=["rank4", "rank3", "rank5"])
def test_batch_norm_channels_last_matches_torch(shape, training):
    """oracle: torch CPU on the channels-first input. channels_last=True normalises over the last dim:
    the output, the gradients for input, weight and bias, and batch_norm_update's running statistics
    equal torch's with the channel dim moved last (float64 to 1e-12)."""
    r = _rng(len(shape), 11, training)
    c = shape[1]
    x = (r.standard_normal(shape) * 2 + 1).astype("float64")
    rm, rv = r.standard_normal(c), r.random(c) + 0.5
    w, b = r.random(c) + 0.5, r.standard_normal(c)

    def jfn(x, rm, rv, w, b):
        y = jaxconv.batch_norm(jnp.moveaxis(x, 1, -1), rm, rv, w, b, training, 0.1, 1e-3, channels_last=True)
        return jnp.moveaxis(y, -1, 1)

    def tfn(x, rm, rv, w, b):
        return F.batch_norm(x, rm.clone(), rv.clone(), w, b, training, 0.1, 1e-3)

    _check_vjp("float64", jfn, tfn, [x, rm, rv, w, b], [0, 3, 4], seed=len(shape))
    trm, trv = torch.tensor(rm), torch.tensor(rv)
    F.batch_norm(torch.tensor(x), trm, trv, training=True, momentum=0.3)
    with _x64("float64"):
        got = jaxconv.batch_norm_update(jnp.moveaxis(jnp.asarray(x), 1, -1), jnp.asarray(rm), jnp.asarray(rv), 0.3,
                                        channels_last=True)
        np.testing.assert_allclose(got[0], trm.numpy(), **TOL["float64"])
        np.testing.assert_allclose(got[1], trv.numpy(), **TOL["float64"])


@pytest.mark.parametrize("channels_last", [False, True], ids=["nchw", "nhwc"])
def test_batch_norm_train_second_order_and_jvp_match_torch(channels_last):
    """oracle: torch CPU's double backward and torch.func.jvp of train-mode F.batch_norm. jaxconv's
    train-mode batch norm has a closed-form tangent (its transpose is torch's backward formula), so
    the gradient of a function of the input gradient, and forward mode, are checked on their own
    (float64 to 1e-10)."""
    r = _rng(21, channels_last)
    x = r.standard_normal((3, 4, 5, 2)) * 2 + 1
    w, b, g = r.random(4) + 0.5, r.standard_normal(4), r.standard_normal((3, 4, 5, 2))
    xd, wd, bd = r.standard_normal(x.shape), r.standard_normal(4), r.standard_normal(4)
    tx, tw, tb = (torch.tensor(v, requires_grad=True) for v in (x, w, b))
    ty = F.batch_norm(tx, None, None, tw, tb, True, 0.1, 1e-3)
    (gx,) = torch.autograd.grad((ty * torch.tensor(g)).sum(), tx, create_graph=True)
    want = torch.autograd.grad((gx ** 2).sum(), (tx, tw))
    _, want_jvp = torch.func.jvp(lambda a, c, d: F.batch_norm(a, None, None, c, d, True, 0.1, 1e-3),
                                 (torch.tensor(x), torch.tensor(w), torch.tensor(b)),
                                 (torch.tensor(xd), torch.tensor(wd), torch.tensor(bd)))
    move = (lambda v: jnp.moveaxis(v, 1, -1)) if channels_last else (lambda v: v)
    back = (lambda v: jnp.moveaxis(v, -1, 1)) if channels_last else (lambda v: v)
    with _x64("float64"):
        def f(x, w, b):
            return back(jaxconv.batch_norm(move(x), None, None, w, b, True, 0.1, 1e-3, channels_last=channels_last))

        def inner(x, w):
            return jnp.sum(jax.grad(lambda x: jnp.sum(f(x, w, jnp.asarray(b)) * g))(x) ** 2)

        got = jax.jit(jax.grad(inner, argnums=(0, 1)))(jnp.asarray(x), jnp.asarray(w))
        _, got_jvp = jax.jvp(f, (jnp.asarray(x), jnp.asarray(w), jnp.asarray(b)),
                             (jnp.asarray(xd), jnp.asarray(wd), jnp.asarray(bd)))
    for name, gv, tv in (("d/dx", got[0], want[0]), ("d/dw", got[1], want[1]), ("jvp", got_jvp, want_jvp)):
        np.testing.assert_allclose(np.asarray(gv), tv.detach().numpy(), rtol=1e-10, atol=1e-10, err_msg=name)


def test_batch_norm_update_traced_momentum_and_jit():
    """oracle: torch CPU with momentum=None (cumulative average: factor 1 / num_batches_tracked).
    A traced 0-d momentum under jit gives torch's running statistics."""
    tbn = torch.nn.BatchNorm1d(3, momentum=None)
    rm, rv = jnp.zeros(3), jnp.ones(3)
    step = jax.jit(jaxconv.batch_norm_update)
    for n in range(1, 4):
        x = _rng(n).standard_normal((5, 3)).astype(np.float32)
        tbn(torch.tensor(x))
        rm, rv = step(jnp.asarray(x), rm, rv, 1.0 / jnp.float32(n))
    np.testing.assert_allclose(rm, tbn.running_mean.numpy(), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(rv, tbn.running_var.numpy(), rtol=1e-6, atol=1e-7)


def test_half_precision_rules():
    """oracle: torch CPU. bfloat16 inputs compute in float32 with float32 or bfloat16 parameters
    (torch's mixed-dtype rule) and return bfloat16, within one bfloat16 rounding of torch; the
    running-statistic update of bfloat16 statistics too."""
    r = _rng(11)
    x = r.standard_normal((4, 3, 5)).astype(np.float32)
    w, b = r.random(3).astype(np.float32) + 0.5, r.standard_normal(3).astype(np.float32)
    xb = torch.tensor(x).bfloat16()
    xj = jnp.asarray(xb.float().numpy()).astype(jnp.bfloat16)
    tol = dict(rtol=2e-2, atol=2e-2)
    cases = [
        (jaxconv.batch_norm(xj, None, None, jnp.asarray(w), jnp.asarray(b), True),
         F.batch_norm(xb, None, None, torch.tensor(w), torch.tensor(b), True)),
        (jaxconv.layer_norm(xj, (5,)), F.layer_norm(xb, (5,))),
        (jaxconv.layer_norm(xj, (3, 5), jnp.ones((3, 5), jnp.bfloat16)), F.layer_norm(xb, (3, 5), torch.ones(3, 5).bfloat16())),
        (jaxconv.group_norm(xj, 3, jnp.asarray(w), jnp.asarray(b)), F.group_norm(xb, 3, torch.tensor(w), torch.tensor(b))),
    ]
    for got, want in cases:
        assert got.dtype == jnp.bfloat16
        np.testing.assert_allclose(np.asarray(got, np.float32), want.float().numpy(), **tol)
    trm, trv = torch.zeros(3).bfloat16(), torch.ones(3).bfloat16()
    F.batch_norm(xb, trm, trv, training=True)
    rm, rv = jaxconv.batch_norm_update(xj, jnp.zeros(3, jnp.bfloat16), jnp.ones(3, jnp.bfloat16))
    assert rm.dtype == rv.dtype == jnp.bfloat16
    np.testing.assert_allclose(np.asarray(rm, np.float32), trm.float().numpy(), **tol)
    np.testing.assert_allclose(np.asarray(rv, np.float32), trv.float().numpy(), **tol)


# ---------------------------------------------------------------------------------------
# layer_norm and group_norm
# ---------------------------------------------------------------------------------------

# (input shape, normalized_shape, weight, bias)
LN_CASES = [((5, 4), (4,), True, True), ((2, 3, 4), (3, 4), True, False), ((2, 2, 3, 3), (2, 3, 3), False, False)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("shape", "normalized_shape", "weight", "bias"), LN_CASES, ids=[f"ln{i}" for i in range(len(LN_CASES))])
def test_layer_norm_matches_torch(shape, normalized_shape, weight, bias, dtype):
    """oracle: torch CPU. Over 1 to all trailing dims, with weight and bias, weight only, neither:
    values and gradients (input, weight, bias) under jit, float32 to 1e-5, float64 to 1e-12."""
    r = _rng(len(shape), len(normalized_shape))
    x = (r.standard_normal(shape) * 3 + 2).astype(dtype)
    w, b = (r.random(normalized_shape) + 0.5).astype(dtype), r.standard_normal(normalized_shape).astype(dtype)
    eps = float(r.choice([1e-5, 1e-2]))

    def jfn(x, w, b):
        return jaxconv.layer_norm(x, normalized_shape, w, b, eps)

    def tfn(x, w, b):
        return F.layer_norm(x, normalized_shape, w, b, eps)

    arrays = [x, w if weight else None, b if bias else None]
    _check_vjp(dtype, jfn, tfn, arrays, [i for i in (0, 1, 2) if arrays[i] is not None], seed=len(shape))


# (input shape, num_groups, affine)
GN_CASES = [((4, 6), 3, True), ((2, 4, 5), 1, False), ((1, 6, 3, 2, 2), 3, True)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("shape", "num_groups", "affine"), GN_CASES, ids=[f"gn{i}" for i in range(len(GN_CASES))])
def test_group_norm_matches_torch(shape, num_groups, affine, dtype):
    """oracle: torch CPU. Inputs of rank 2 to 5, 1 to C groups, with and without weight/bias: values and
    gradients (input, weight, bias) under jit, float32 to 1e-5, float64 to 1e-12."""
    r = _rng(len(shape), num_groups)
    c = shape[1]
    x = (r.standard_normal(shape) * 2 - 1).astype(dtype)
    w, b = (r.random(c) + 0.5).astype(dtype), r.standard_normal(c).astype(dtype)

    def jfn(x, w, b):
        return jaxconv.group_norm(x, num_groups, w, b, 1e-5)

    def tfn(x, w, b):
        return F.group_norm(x, num_groups, w, b, 1e-5)

    arrays = [x, w if affine else None, b if affine else None]
    _check_vjp(dtype, jfn, tfn, arrays, [i for i in (0, 1, 2) if arrays[i] is not None], seed=len(shape))


def test_vmap():
    """oracle: torch CPU per example. vmap over a leading axis equals the per-example calls."""
    r = _rng(12)
    xs = r.standard_normal((3, 2, 4, 5)).astype(np.float32)
    got = jax.vmap(lambda x: jaxconv.group_norm(x, 2))(jnp.asarray(xs))
    want = np.stack([F.group_norm(torch.tensor(x), 2).numpy() for x in xs])
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=2e-6)
    got = jax.vmap(lambda x: jaxconv.batch_norm(x, None, None, training=True))(jnp.asarray(xs))
    want = np.stack([F.batch_norm(torch.tensor(x), None, None, training=True).numpy() for x in xs])
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=2e-6)


# ---------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------

X, C3 = jnp.ones((2, 3, 4)), jnp.ones(3)

ERRORS = [
    # (function, args, kwargs, exception, match)
    ("batch_norm", (jnp.ones(3), C3, C3), {}, ValueError, r"batch_norm: `input` must have rank >= 2: \(N, C, \*\), got 'shape \(3,\)'"),
    ("batch_norm", (X, jnp.ones(4), C3), {}, ValueError, r"batch_norm: `running_mean` must have shape \(3,\) \(\(C,\): one entry"),
    ("batch_norm", (X, C3, jnp.ones((3, 1))), {}, ValueError, r"batch_norm: `running_var` must have shape \(3,\)"),
    ("batch_norm", (X, C3, C3, jnp.ones(2)), {}, ValueError, r"batch_norm: `weight` must have shape \(3,\)"),
    ("batch_norm", (X, C3, C3, None, jnp.ones(4)), {}, ValueError, r"batch_norm: `bias` must have shape \(3,\)"),
    ("batch_norm", (X, None, C3), {}, ValueError, r"batch_norm: `running_mean` must be given in evaluation mode \(training=False\)"),
    ("batch_norm", (X, C3, None), {}, ValueError, r"batch_norm: `running_var` must be given in evaluation mode"),
    ("batch_norm", (jnp.ones((1, 3)), None, None), {"training": True}, ValueError,
     r"batch_norm: `input` must have more than 1 value per channel when training .*got 'shape \(1, 3\)'"),
    ("batch_norm", (X, C3, C3), {"training": 1}, TypeError, r"batch_norm: `training` must be a bool, got 1"),
    ("batch_norm", (X, C3, C3), {"eps": -1e-5}, ValueError, r"batch_norm: `eps` must be a finite number in \[0.0, inf\]"),
    ("batch_norm", (X, C3, C3), {"eps": "small"}, TypeError, r"batch_norm: `eps` must be a number"),
    ("batch_norm", (X, C3, C3), {"momentum": 1.5}, ValueError, r"batch_norm: `momentum` must be a finite number in \[0.0, 1.0\]"),
    ("batch_norm", (X.astype(jnp.int32), C3, C3), {}, TypeError, r"batch_norm: `input` must have a floating dtype, got 'int32'"),
    ("batch_norm", (X, C3.astype(jnp.float16), C3), {}, TypeError,
     r"batch_norm: `running_mean` must have the input's dtype float32 \(cast it: running_mean.astype\(input.dtype\)\)"),
    ("batch_norm", (X.astype(jnp.bfloat16), C3.astype(jnp.float16), C3), {}, TypeError,
     r"batch_norm: `running_mean` must have the input's dtype bfloat16 or float32, got 'float16'"),
    ("batch_norm", ("x", C3, C3), {}, TypeError, r"batch_norm: `input` must be a jax.Array or a NumPy array \(convert it with jnp.asarray\(\.\.\.\)\), got 'str'"),
    ("batch_norm_update", (jnp.ones((1, 3)), C3, C3), {}, ValueError,
     r"batch_norm_update: `input` must have more than 1 value per channel when training"),
    ("batch_norm_update", (jnp.ones((1, 3, 1)), C3, C3), {}, ValueError, r"batch_norm_update: `input` must have more than 1 value"),
    ("batch_norm_update", (X, C3, C3, 1.5), {}, ValueError, r"batch_norm_update: `momentum` must be a finite number in \[0.0, 1.0\]"),
    ("batch_norm_update", (X, C3, C3, None), {}, TypeError, r"batch_norm_update: `momentum` must be a number, got None"),
    ("batch_norm_update", (X, C3, C3, jnp.ones(2)), {}, TypeError, r"batch_norm_update: `momentum` must be a number in \[0, 1\] or a 0-d"),
    ("batch_norm_update", (X, None, C3), {}, TypeError, r"batch_norm_update: `running_mean` must be an array"),
    ("batch_norm_update", (X, C3, jnp.ones(4)), {}, ValueError, r"batch_norm_update: `running_var` must have shape \(3,\)"),
    ("batch_norm_update", (jnp.ones(3), C3, C3), {}, ValueError, r"batch_norm_update: `input` must have rank >= 2"),
    ("batch_norm", (X, C3, C3), {"channels_last": True}, ValueError,
     r"batch_norm: `running_mean` must have shape \(4,\) \(\(C,\): one entry per channel in dim -1 of the input\)"),
    ("batch_norm", (jnp.ones(3), C3, C3), {"channels_last": True}, ValueError, r"batch_norm: `input` must have rank >= 2: \(N, \*, C\)"),
    ("batch_norm", (X, C3, C3), {"channels_last": 1}, TypeError, r"batch_norm: `channels_last` must be a bool, got 1"),
    ("batch_norm", (jnp.ones((1, 1, 3)), None, None), {"training": True, "channels_last": True}, ValueError,
     r"batch_norm: `input` must have more than 1 value per channel when training"),
    ("batch_norm_update", (jnp.ones((1, 1, 3)), C3, C3), {"channels_last": True}, ValueError,
     r"batch_norm_update: `input` must have more than 1 value per channel"),
    ("layer_norm", (X, (3,)), {}, ValueError,
     r"layer_norm: `normalized_shape` must equal the input's last 1 dim\(s\): input \(\*, 3\), got '\(3,\) for an input of shape \(2, 3, 4\)'"),
    ("layer_norm", (X, (1, 2, 3, 4)), {}, ValueError, r"layer_norm: `normalized_shape` must equal the input's last 4 dim"),
    ("layer_norm", (X, ()), {}, ValueError, r"layer_norm: `normalized_shape` must be an int or a non-empty sequence of ints >= 0"),
    ("layer_norm", (X, 4.0), {}, TypeError, r"layer_norm: `normalized_shape` must be an int or a non-empty sequence"),
    ("layer_norm", (X, (3, "4")), {}, TypeError, r"layer_norm: `normalized_shape` must be an int or"),
    ("layer_norm", (X, (4,), jnp.ones(3)), {}, ValueError, r"layer_norm: `weight` must have shape \(4,\) \(normalized_shape\)"),
    ("layer_norm", (X, (3, 4), None, jnp.ones(4)), {}, ValueError, r"layer_norm: `bias` must have shape \(3, 4\)"),
    ("layer_norm", (X, (4,)), {"eps": float("nan")}, ValueError, r"layer_norm: `eps` must be a finite number"),
    ("layer_norm", (X, (4,), jnp.ones(4, jnp.float16)), {}, TypeError, r"layer_norm: `weight` must have the input's dtype float32"),
    ("group_norm", (X, 2), {}, ValueError, r"group_norm: `num_groups` must divide the input's channels C=3 \(input shape \(2, 3, 4\)\), got 2"),
    ("group_norm", (X, 0), {}, ValueError, r"group_norm: `num_groups` must be an int >= 1, got 0"),
    ("group_norm", (X, 1.0), {}, TypeError, r"group_norm: `num_groups` must be an int >= 1, got 1.0"),
    ("group_norm", (jnp.ones(3), 1), {}, ValueError, r"group_norm: `input` must have rank >= 2"),
    ("group_norm", (jnp.ones((1, 3)), 3), {}, ValueError, r"group_norm: `input` must have more than 1 value per channel"),
    ("group_norm", (X, 3, jnp.ones(4)), {}, ValueError, r"group_norm: `weight` must have shape \(3,\)"),
    ("group_norm", (X, 3, None, jnp.ones((3, 1))), {}, ValueError, r"group_norm: `bias` must have shape \(3,\)"),
    ("group_norm", (X, 3), {"eps": -1.0}, ValueError, r"group_norm: `eps` must be a finite number in \[0.0, inf\]"),
]


@pytest.mark.parametrize(("fn", "args", "kwargs", "exc", "match"), ERRORS, ids=[f"{e[0]}-{i}" for i, e in enumerate(ERRORS)])
def test_errors(fn, args, kwargs, exc, match):
    """oracle: torch's rules (ranks, per-channel shapes, divisibility, more than one value per channel
    when training, torch's dtype rules) in jaxconv's message form naming the function and the
    argument; under jit with the input traced, the same error at trace time."""
    f = getattr(jaxconv, fn)
    with pytest.raises(exc, match=match):
        f(*args, **kwargs)
    if isinstance(args[0], jax.Array):
        with pytest.raises(exc, match=match):
            jax.jit(lambda x: f(x, *args[1:], **kwargs))(args[0])


def test_torch_rules_that_are_not_errors():
    """oracle: torch CPU. One value per group is fine for group_norm when N * C/G * spatial > 1 (torch
    checks only that product); zero-size inputs normalise to zero-size outputs."""
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    np.testing.assert_allclose(jaxconv.group_norm(jnp.asarray(x), 3), F.group_norm(torch.tensor(x), 3).numpy())
    assert jaxconv.layer_norm(jnp.ones((2, 0)), (0,)).shape == (2, 0)
    assert jaxconv.group_norm(jnp.ones((2, 6, 0)), 3).shape == (2, 6, 0)
    assert jaxconv.batch_norm(jnp.ones((2, 3, 0)), None, None, training=True).shape == (2, 3, 0)
