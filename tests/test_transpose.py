"""Transposed convolution (jaxconv.transpose): torch parity, the adjoint property, transforms, errors."""

from __future__ import annotations

import os
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

torch = pytest.importorskip("torch")  # torch is the oracle
import torch.nn.functional as F  # noqa: E402

import jaxconv  # noqa: E402
from jaxconv import shapes  # noqa: E402
from jaxconv.transpose import conv_transpose, conv_transpose1d, conv_transpose2d, conv_transpose3d  # noqa: E402
from tests import lanes  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reference as R  # noqa: E402

N_TORCH = 300
N_REF = 40
N_ADJOINT = 30
# The 300 torch-parity configurations each compile a forward and two backward convolutions;
# XLA's backend optimisation level 0 cuts that compile time by about a third without
# changing what is computed. Every other test here compiles with the default options.
FAST_COMPILE = {"xla_backend_optimization_level": 0}


def _close(out, ref, what=""):
    ref = np.asarray(ref, dtype=np.float64)
    # float32 sums of up to a few hundred O(1) products: the error scales with the magnitude.
    atol = 2e-5 * max(1.0, float(np.abs(ref).max(initial=0.0)))
    np.testing.assert_allclose(np.asarray(out, dtype=np.float64), ref, rtol=2e-5, atol=atol, err_msg=what)


def _ints(rng, lo, hi, n):
    return tuple(int(v) for v in rng.integers(lo, hi + 1, n))


def _random_config(seed: int, *, symmetric: bool = True):
    """A random valid torch configuration (torch's int paddings; output size >= 1)."""
    rng = np.random.default_rng(seed)
    while True:
        n = int(rng.integers(1, 4))
        groups = int(rng.choice([1, 1, 2, 3]))
        c_in = groups * int(rng.integers(1, 3))
        c_out_g = int(rng.integers(1, 3))
        kmax = {1: 5, 2: 3, 3: 2}[n]
        kernel = _ints(rng, 1, kmax, n)
        stride = _ints(rng, 1, 3, n)
        dilation = _ints(rng, 1, 3 if n < 3 else 2, n)
        padding = _ints(rng, 0, 3, n)
        output_padding = tuple(int(rng.integers(0, max(s, d))) for s, d in zip(stride, dilation))
        spatial = _ints(rng, 1, {1: 7, 2: 5, 3: 3}[n], n)
        try:
            out = shapes.conv_transpose_output_shape(spatial, kernel, stride, padding, output_padding, dilation)
        except ValueError:
            continue
        batched = bool(rng.random() < 0.8)
        x_shape = ((int(rng.integers(1, 3)),) if batched else ()) + (c_in, *spatial)
        x = rng.standard_normal(x_shape).astype(np.float32)
        w = rng.standard_normal((c_in, c_out_g, *kernel)).astype(np.float32)
        b = rng.standard_normal(c_out_g * groups).astype(np.float32) if rng.random() < 0.6 else None
        ct = rng.standard_normal(((x_shape[0],) if batched else ()) + (c_out_g * groups, *out)).astype(np.float32)
        # Mix ints and tuples, as users write them.
        def maybe_int(t):
            return t[0] if len(set(t)) == 1 and rng.random() < 0.5 else t
        args = dict(stride=maybe_int(stride), padding=maybe_int(padding), output_padding=maybe_int(output_padding),
                    groups=groups, dilation=maybe_int(dilation))
        return n, x, w, b, ct, args


def _jax_value_and_grads(x, w, b, ct, args):
    """Output and the gradients w.r.t. input, weight (and bias) of <conv_transpose(x, w, b), ct>, under jit."""

    def run(x, w, b, ct):
        out, vjp = jax.vjp(lambda x, w, b: conv_transpose(x, w, b, **args), x, w, b)
        return out, vjp(ct)

    return jax.jit(run, compiler_options=FAST_COMPILE)(x, w, b, ct)


def _torch_value_and_grads(n, x, w, b, ct, args):
    xt, wt = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    bt = None if b is None else torch.tensor(b, requires_grad=True)
    f = getattr(F, f"conv_transpose{n}d")
    out = f(xt, wt, bt, args["stride"], args["padding"], args["output_padding"], args["groups"], args["dilation"])
    out.backward(torch.tensor(ct))
    return out.detach().numpy(), xt.grad.numpy(), wt.grad.numpy(), None if bt is None else bt.grad.numpy()


# 50 of the 300 seeds by default, the rest in the slow lane (tests/lanes.py: CI's budget).
@pytest.mark.parametrize("seed", lanes.prefix(range(N_TORCH), 50))
def test_torch_parity_values_and_grads(seed):
    """Random stride/padding/output_padding/dilation/groups/bias, 1-3 d, batched or not; oracle: torch CPU."""
    n, x, w, b, ct, args = _random_config(seed)
    out_t, gx_t, gw_t, gb_t = _torch_value_and_grads(n, x, w, b, ct, args)
    out, (gx, gw, gb) = _jax_value_and_grads(x, w, b, ct, args)
    assert out.shape == out_t.shape
    _close(out, out_t, "value")
    _close(gx, gx_t, "grad input")
    _close(gw, gw_t, "grad weight")
    if b is not None:
        _close(gb, gb_t, "grad bias")


@pytest.mark.parametrize("seed", lanes.prefix(range(1000, 1000 + N_REF), 20))  # 20 by default (CI's budget), 20 slow
def test_reference_parity(seed):
    """Random batched configurations; oracle: NumPy loop reference (tests/reference.py conv_transpose_ref)."""
    n, x, w, b, _, args = _random_config(seed)
    if x.ndim == n + 1:
        x = x[None]
    ref = R.conv_transpose_ref(x, w, b, args["stride"], args["padding"], args["output_padding"], args["groups"],
                               args["dilation"])
    _close(conv_transpose(x, w, b, **args), ref)


def _nd(n):
    return {1: conv_transpose1d, 2: conv_transpose2d, 3: conv_transpose3d}[n]


@pytest.mark.parametrize("seed", range(2000, 2020))
def test_nd_names_and_positional_order(seed):
    """conv_transpose{n}d with torch's positional order equals conv_transpose; oracle: torch CPU."""
    n, x, w, b, _, a = _random_config(seed)
    pos = (a["stride"], a["padding"], a["output_padding"], a["groups"], a["dilation"])
    ref = getattr(F, f"conv_transpose{n}d")(torch.tensor(x), torch.tensor(w), None if b is None else torch.tensor(b), *pos)
    _close(_nd(n)(x, w, b, *pos), ref.numpy())
    _close(conv_transpose(x, w, b, *pos), ref.numpy())


# ------------------------------------------------------------------ the defining property


def _random_forward(seed):
    """A random forward conv config with per-side (possibly asymmetric) or string padding."""
    rng = np.random.default_rng(seed)
    while True:
        n = int(rng.integers(1, 4))
        groups = int(rng.choice([1, 2]))
        c_in, c_out = groups * int(rng.integers(1, 3)), groups * int(rng.integers(1, 3))
        kernel = _ints(rng, 1, {1: 5, 2: 3, 3: 2}[n], n)
        stride = _ints(rng, 1, 3, n)
        dilation = _ints(rng, 1, 2, n)
        spatial = _ints(rng, 1, {1: 9, 2: 6, 3: 4}[n], n)
        r = rng.random()
        if r < 0.2:
            padding = str(rng.choice(["same", "valid", "full", "causal", "same_lower"]))
        elif r < 0.6:
            padding = tuple((int(rng.integers(0, 3)), int(rng.integers(0, 3))) for _ in range(n))
        else:
            padding = _ints(rng, 0, 2, n)
        try:
            out = shapes.conv_output_shape(spatial, kernel, stride, padding, dilation)
        except ValueError:
            continue
        x = rng.standard_normal((2, c_in, *spatial)).astype(np.float32)
        w = rng.standard_normal((c_out, c_in // groups, *kernel)).astype(np.float32)
        y = rng.standard_normal((2, c_out, *out)).astype(np.float32)
        return n, x, w, y, stride, padding, dilation, groups


@pytest.mark.parametrize("seed", lanes.prefix(range(3000, 3000 + N_ADJOINT), 12))  # 12 by default (CI's budget), 18 slow
def test_adjoint_of_conv(seed):
    """conv_transpose(y, w, s, p, op, g, d) is the VJP of jaxconv.conv w.r.t. its input; oracle: jax.vjp of conv."""
    _, x, w, y, s, p, d, g = _random_forward(seed)
    _, vjp = jax.vjp(lambda x: jaxconv.conv(x, w, None, s, p, d, g), x)
    (expected,) = vjp(y)
    spatial = x.shape[2:]
    if isinstance(p, str):
        # A string padding means the padding of the forward conv on an input of output_size.
        got = conv_transpose(y, w, None, s, p, groups=g, dilation=d, output_size=spatial)
    else:
        pads = shapes.resolve_padding(p, spatial, w.shape[2:], s, d)
        op = shapes.conv_transpose_output_padding(y.shape[2:], spatial, w.shape[2:], s, pads, d)
        got = conv_transpose(y, w, None, s, pads, op, g, d)
        # output_size derives the same output_padding.
        _close(conv_transpose(y, w, None, s, pads, groups=g, dilation=d, output_size=spatial), expected)
    assert got.shape == x.shape
    _close(got, expected)


@pytest.mark.parametrize("n, size, kernel, stride, dilation", [
    (1, 5, 3, 2, 1), (1, 4, 4, 2, 1), (2, 3, 3, 3, 1), (2, 4, 2, 1, 2), (3, 2, 3, 2, 1), (2, 7, 5, 2, 2),
])
def test_same_padding_gives_in_times_stride(n, size, kernel, stride, dilation):
    """padding="same" gives out = in * stride and is the adjoint of conv(padding="same"); oracle: jax.vjp of conv."""
    rng = np.random.default_rng(n * 100 + size)
    y = rng.standard_normal((1, 2, *(size,) * n)).astype(np.float32)
    w = rng.standard_normal((2, 3, *(kernel,) * n)).astype(np.float32)
    got = conv_transpose(y, w, stride=stride, padding="same", dilation=dilation)
    assert got.shape == (1, 3, *(size * stride,) * n)
    x0 = jnp.zeros((1, 3, *(size * stride,) * n))
    _, vjp = jax.vjp(lambda x: jaxconv.conv(x, w, None, stride, "same", dilation), x0)
    _close(got, vjp(y)[0])


# ------------------------------------------------------------------ an XLA CPU abort, avoided

# Configurations (n, groups, c_in, c_out/groups, kernel, stride, dilation, padding, output_padding,
# spatial) on which XLA's CPU conv-operand swapper aborted the process compiling the forward conv,
# its weight gradient or the custom JVP's weight term, before transpose.py padded such dims by one
# extra row (see _spec_cached and _weight_tangent).
SWAP_ABORTS = [
    (2, 1, 1, 1, (2, 2), 2, 1, 1, (0, 1), (3, 1)),
    (3, 1, 1, 2, (1, 2, 3), (3, 2, 3), (1, 1, 2), 1, (0, 0, 1), (2, 4, 1)),
    (3, 1, 1, 1, (3, 2, 2), (1, 3, 2), (2, 1, 1), (1, 2, 1), 0, (2, 2, 4)),
    (2, 1, 1, 2, (4, 3), (2, 1), 1, (3, 0), 0, (3, 1)),
    (2, 1, 2, 1, (3, 3), (3, 1), (2, 1), (4, 0), 0, (3, 1)),
    (2, 2, 4, 1, (2, 4), 2, 1, (0, 3), 0, (2, 3)),
    (3, 2, 2, 2, (4, 4, 2), (2, 1, 2), 1, (3, 1, 0), (0, 0, 1), (3, 3, 3)),
    (3, 2, 4, 1, (2, 4, 4), (2, 3, 2), 1, (0, 3, 3), 0, (1, 3, 3)),
    (3, 2, 2, 2, (2, 4, 4), (2, 3, 2), (1, 2, 1), (1, 1, 3), 0, (3, 1, 3)),
    # forward mode (the dw term of the custom JVP)
    (3, 1, 1, 2, (2, 3, 3), (3, 3, 1), 2, (2, 4, 1), (1, 0, 0), (3, 3, 2)),
    (2, 1, 2, 2, (2, 4), 1, 2, 1, 0, (3, 2)),
]

_SWAP_CHILD = """
import json, sys
import jax, jax.numpy as jnp, numpy as np, torch, torch.nn.functional as F
from jaxconv.transpose import conv_transpose
errs = []
for n, g, ci, cog, k, s, d, p, op, sp in json.loads(sys.argv[1]):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, ci, *sp)).astype(np.float32)
    w = rng.standard_normal((ci, cog, *k)).astype(np.float32)
    f = lambda x, w: conv_transpose(x, w, None, s, p, op, g, d)
    def run(x, w):
        out, vjp = jax.vjp(f, x, w)
        ct = jnp.cos(out)
        gx2 = jax.grad(lambda x: jnp.sum(jax.grad(lambda x: jnp.sum(jnp.sin(f(x, w))))(x) ** 2))(x)
        tangent = jax.jvp(f, (x, w), (jnp.sin(x), jnp.cos(w)))[1] - f(jnp.sin(x), w) - f(x, jnp.cos(w))
        return (out, *vjp(ct), gx2, tangent)
    out, gx, gw, _, tangent = jax.jit(run)(x, w)
    errs.append(float(jnp.abs(tangent).max()))
    xt, wt = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    ot = getattr(F, f"conv_transpose{n}d")(xt, wt, None, s, p, op, g, d)
    ot.backward(torch.cos(ot.detach()))
    errs.append(max(float(np.abs(np.asarray(a) - b.detach().numpy()).max()) for a, b in
                    ((out, ot), (gx, xt.grad), (gw, wt.grad))))
print("MAXERR", max(errs))
"""


def test_xla_operand_swap_patterns_compile_and_match_torch():
    """Values, gradients, second-order gradients and jvp on shapes that made XLA CPU abort; oracle: torch CPU, bilinearity.

    Run in a subprocess: a regression would abort the interpreter, not fail an assertion.
    """
    import json
    import subprocess

    r = subprocess.run([sys.executable, "-c", _SWAP_CHILD, json.dumps(SWAP_ABORTS)], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert float(r.stdout.split("MAXERR")[1]) < 1e-4, r.stdout


# ------------------------------------------------------------------ output_size


@pytest.mark.parametrize("seed", range(4000, 4020))
def test_output_size_matches_torch_module(seed):
    """output_size= derives output_padding as ConvTranspose{n}d.forward(input, output_size); oracle: torch CPU."""
    n, x, w, b, _, a = _random_config(seed)
    rng = np.random.default_rng(seed)
    spatial = x.shape[-n:]
    base = shapes.conv_transpose_output_shape(spatial, w.shape[2:], a["stride"], a["padding"], 0, a["dilation"])
    ss = shapes.canonicalize(a["stride"], n, "stride")
    target = tuple(bs + int(rng.integers(0, s)) for bs, s in zip(base, ss))  # torch's range: < stride
    m = getattr(torch.nn, f"ConvTranspose{n}d")(x.shape[-n - 1], w.shape[1] * a["groups"], w.shape[2:], a["stride"],
                                                a["padding"], 0, a["groups"], b is not None, a["dilation"])
    with torch.no_grad():
        m.weight.copy_(torch.tensor(w))
        if b is not None:
            m.bias.copy_(torch.tensor(b))
        ref = m(torch.tensor(x), output_size=list(target)).numpy()
    got = conv_transpose(x, w, b, a["stride"], a["padding"], groups=a["groups"], dilation=a["dilation"], output_size=target)
    assert got.shape[-n:] == target
    _close(got, ref)
    # (N, C, *spatial) is accepted too, as torch's module does.
    full = (1, 1, *target)
    assert conv_transpose(x, w, b, a["stride"], a["padding"], groups=a["groups"], dilation=a["dilation"],
                          output_size=full).shape == got.shape


def test_output_size_string_padding():
    """With a string padding and output_size, the pads are those of the forward conv on output_size; oracle: jax.vjp of conv."""
    y = jnp.arange(12.0).reshape(1, 1, 3, 4)
    w = jnp.ones((1, 1, 3, 3))
    for target in [(5, 7), (6, 8)]:
        got = conv_transpose(y, w, stride=2, padding="same", output_size=target)
        _, vjp = jax.vjp(lambda x: jaxconv.conv(x, w, None, 2, "same"), jnp.zeros((1, 1, *target)))
        assert got.shape == (1, 1, *target)
        _close(got, vjp(y)[0])


# ------------------------------------------------------------------ transforms


def test_jit_vmap_grad():
    """jit, vmap over a stacked batch, and grad agree with the plain call; oracle: torch CPU and unbatched loop."""
    rng = np.random.default_rng(7)
    xs = rng.standard_normal((3, 2, 4, 5, 5)).astype(np.float32)
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    b = rng.standard_normal(6).astype(np.float32)
    kw = dict(stride=2, padding=1, output_padding=1, groups=2)
    f = lambda x, w, b: conv_transpose2d(x, w, b, **kw)  # noqa: E731
    stacked = jax.vmap(f, in_axes=(0, None, None))(xs, w, b)
    for i in range(3):
        ref = F.conv_transpose2d(torch.tensor(xs[i]), torch.tensor(w), torch.tensor(b), 2, 1, 1, 2)
        _close(stacked[i], ref.numpy())
        _close(jax.jit(f)(xs[i], w, b), ref.numpy())
    # vmap over weights too, and over unbatched inputs.
    ws = np.stack([w, 2 * w])
    out = jax.vmap(f, in_axes=(None, 0, None))(xs[0], ws, b)
    _close(out[1] - b.reshape(-1, 1, 1), 2 * (out[0] - b.reshape(-1, 1, 1)))
    per_ex = jax.vmap(f, in_axes=(0, None, None))(xs[0], w, b)
    _close(per_ex, f(xs[0], w, b))
    # grad of a scalar loss w.r.t. all three, against torch autograd.
    loss = lambda x, w, b: jnp.sum(jnp.sin(f(x, w, b)))  # noqa: E731
    gx, gw, gb = jax.jit(jax.grad(loss, argnums=(0, 1, 2)))(xs[0], w, b)
    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (xs[0], w, b))
    torch.sin(F.conv_transpose2d(xt, wt, bt, 2, 1, 1, 2)).sum().backward()
    _close(gx, xt.grad.numpy())
    _close(gw, wt.grad.numpy())
    _close(gb, bt.grad.numpy())


def test_second_order_grad():
    """Gradients of gradients (through the lhs-dilated conv's transpose rules) under jit; oracle: torch double backward."""
    rng = np.random.default_rng(8)
    x = rng.standard_normal((1, 2, 3, 3)).astype(np.float32)
    w = rng.standard_normal((2, 1, 2, 3)).astype(np.float32)
    v = rng.standard_normal(x.shape).astype(np.float32)
    kw = dict(stride=(2, 1), padding=(1, 0), output_padding=(1, 0))

    def gx_dot_v(x, w):
        gx = jax.grad(lambda x: jnp.sum(jnp.sin(conv_transpose2d(x, w, **kw))))(x)
        return jnp.sum(gx * v)

    hx, hw = jax.jit(jax.grad(gx_dot_v, argnums=(0, 1)))(x, w)
    xt, wt = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    (gxt,) = torch.autograd.grad(torch.sin(F.conv_transpose2d(xt, wt, None, **kw)).sum(), xt, create_graph=True)
    hxt, hwt = torch.autograd.grad((gxt * torch.tensor(v)).sum(), (xt, wt))
    _close(hx, hxt.numpy())
    _close(hw, hwt.numpy())


@pytest.mark.parametrize("seed", lanes.prefix(range(5000, 5016), 6))  # 6 by default (~2 s each: jacfwd), 10 slow
def test_forward_mode_is_bilinear(seed):
    """jax.jvp gives conv_transpose(dx, w) + conv_transpose(x, dw) (the custom JVP's weight term); oracle: bilinearity."""
    _, x, w, b, _, a = _random_config(seed)
    rng = np.random.default_rng(seed)
    dx, dw = rng.standard_normal(x.shape).astype(np.float32), rng.standard_normal(w.shape).astype(np.float32)
    f = jax.jit(lambda x, w: conv_transpose(x, w, None, **a))
    _, t = jax.jit(lambda x, w, dx, dw: jax.jvp(lambda x, w: conv_transpose(x, w, b, **a), (x, w), (dx, dw)))(x, w, dx, dw)
    _close(t, np.asarray(f(dx, w)) + np.asarray(f(x, dw)))
    # and jacfwd agrees with jacrev through the weight (the two forms of the weight term).
    jf = jax.jacfwd(lambda w: jnp.sum(jnp.sin(conv_transpose(x, w, b, **a))))(w)
    jr = jax.grad(lambda w: jnp.sum(jnp.sin(conv_transpose(x, w, b, **a))))(w)
    _close(jf, jr)


def test_integer_like_and_list_arguments():
    """Lists, numpy ints and 1-tuples are accepted like torch's; oracle: torch CPU."""
    x = np.ones((1, 2, 3, 3), np.float32)
    w = np.ones((2, 1, 2, 2), np.float32)
    ref = F.conv_transpose2d(torch.tensor(x), torch.tensor(w), None, [2, 1], (1,), 0, 1, 1).numpy()
    _close(conv_transpose2d(x, w, None, [2, np.int64(1)], (1,), 0, 1, 1), ref)


def test_precision_argument():
    """precision= is handed to lax (HIGHEST gives the same numbers on CPU); oracle: torch CPU."""
    x = np.arange(8, dtype=np.float32).reshape(1, 2, 4)
    w = np.arange(6, dtype=np.float32).reshape(2, 1, 3)
    ref = F.conv_transpose1d(torch.tensor(x), torch.tensor(w), stride=2).numpy()
    _close(conv_transpose1d(x, w, stride=2, precision=jax.lax.Precision.HIGHEST), ref)


# ------------------------------------------------------------------ bad input


X2 = jnp.ones((1, 4, 5, 5))
W2 = jnp.ones((4, 3, 3, 3))


@pytest.mark.parametrize("call, exc, match", [
    (lambda: conv_transpose2d(X2, W2, stride=2, output_padding=2), ValueError,
     r"conv_transpose2d: `output_padding` must be < max\(stride, dilation\)"),
    (lambda: conv_transpose2d(X2, W2, stride=1, dilation=2, output_padding=(0, 2)), ValueError, r"`output_padding` must be <"),
    (lambda: conv_transpose2d(X2, W2, stride=2, padding=1, output_size=(12, 9)), ValueError,
     r"`output_size` must lie between \(9, 9\) and \(10, 10\)"),
    (lambda: conv_transpose2d(X2, W2, stride=2, output_size=(11, 11, 11)), ValueError, r"`output_size` must have 2 or 4 entries"),
    (lambda: conv_transpose2d(X2, W2, stride=2, output_padding=1, output_size=(11, 11)), ValueError,
     r"`output_padding` must be 0 when output_size is given"),
    (lambda: conv_transpose2d(X2, W2, padding="same", output_padding=1, stride=2), ValueError,
     r"`output_padding` must be 0 with a string padding"),
    (lambda: conv_transpose2d(X2, jnp.ones((4, 3, 3))), ValueError, r"`weight` must have rank 4 for 2-d"),
    (lambda: conv_transpose(X2, jnp.ones((4, 3))), ValueError, r"`weight` must have rank >= 3"),
    (lambda: conv_transpose2d(X2, jnp.ones((2, 3, 3, 3))), ValueError, r"`input` must have in_channels = weight.shape\[0\] = 2"),
    (lambda: conv_transpose2d(X2, W2, groups=3), ValueError, r"`groups` must divide in_channels = weight.shape\[0\] = 4"),
    (lambda: conv_transpose2d(X2, W2, groups=0), ValueError, r"`groups` must be an int >= 1"),
    (lambda: conv_transpose2d(X2, W2, jnp.ones(4)), ValueError, r"`bias` must have shape \(3,\)"),
    (lambda: conv_transpose2d(X2, W2, jnp.ones(3), groups=2), ValueError, r"`bias` must have shape \(6,\)"),
    (lambda: conv_transpose2d(X2, W2, stride=0), ValueError, r"`stride` must be >= 1"),
    (lambda: conv_transpose2d(X2, W2, dilation=(1, 0)), ValueError, r"`dilation` must be >= 1"),
    (lambda: conv_transpose2d(X2, W2, padding=-1), ValueError, r"`padding` must be >= 0"),
    (lambda: conv_transpose2d(X2, W2, padding=4), ValueError, r"conv_transpose2d: .*output size would be"),
    (lambda: conv_transpose2d(X2[0, 0], W2), ValueError, r"`input` must have rank 3 \(C, \*spatial\) or 4"),
    (lambda: conv_transpose2d(X2, W2, padding="nope"), ValueError, r"`padding` must be an int, a sequence, or one of"),
    (lambda: conv_transpose2d(X2, W2, padding="valid", stride=2), ValueError, r"`padding` does not invert"),
    (lambda: conv_transpose2d(X2, W2, stride=1.5), TypeError, r"`stride` must be an int or a sequence of 2 ints"),
    (lambda: conv_transpose2d(X2, W2, padding=[{1}, 2]), TypeError, r"`padding` must be an int, a sequence"),
    (lambda: conv_transpose2d(X2, W2.astype(jnp.float16)), TypeError, r"`weight` must have the input's dtype"),
    (lambda: conv_transpose2d(X2, "w"), TypeError, r"`weight` must be a jax.Array or a NumPy array"),
])
def test_bad_input(call, exc, match):
    """Each bad argument raises a clear error naming the function and argument; oracle: the documented rules."""
    with pytest.raises(exc, match=match):
        call()


def test_torch_rejects_what_we_reject():
    """The torch-rule errors above are errors in torch too; oracle: torch CPU."""
    x, w = torch.ones(1, 4, 5, 5), torch.ones(4, 3, 3, 3)
    with pytest.raises(RuntimeError, match="output padding must be smaller"):
        F.conv_transpose2d(x, w, stride=2, output_padding=2)
    with pytest.raises(RuntimeError):
        F.conv_transpose2d(x, w, groups=3)
    with pytest.raises(RuntimeError, match="negative padding"):
        F.conv_transpose2d(x, w, padding=-1)
