"""Convolution (jaxconv.conv): torch CPU and NumPy-loop parity, gradients, transforms, errors."""

from __future__ import annotations

import random

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

torch = pytest.importorskip("torch")  # torch is the oracle
import torch.nn.functional as F  # noqa: E402

import jaxconv  # noqa: E402
from tests import lanes  # noqa: E402
from tests.reference import conv_ref, pad_ref  # noqa: E402

TORCH_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
TORCH_MODULE = {1: torch.nn.Conv1d, 2: torch.nn.Conv2d, 3: torch.nn.Conv3d}
JAX_CONV = {1: jaxconv.conv1d, 2: jaxconv.conv2d, 3: jaxconv.conv3d}
TORCH_MODE = {"zeros": "constant", "reflect": "reflect", "replicate": "replicate", "circular": "circular"}
FORMS = ("int", "per_dim", "pairs", "valid", "same", "same_lower", "full", "causal")


def expected_pairs(form, padding, spatial, k, s, d):
    """The padding pairs each form means, from definitions independent of jaxconv.shapes."""
    keff = [dd * (kk - 1) + 1 for kk, dd in zip(k, d)]
    n = len(spatial)
    if form == "int":
        return [(padding, padding)] * n
    if form == "per_dim":
        return [(p, p) for p in padding]
    if form == "pairs":
        return [tuple(p) for p in padding]
    if form == "valid":
        return [(0, 0)] * n
    if form in ("same", "same_lower"):
        pairs = [tuple(p) for p in lax.padtype_to_pads(spatial, keff, s, "SAME")]  # XLA's own rule
        return pairs if form == "same" else [(hi, lo) for lo, hi in pairs]
    if form == "full":
        return [(e - 1, e - 1) for e in keff]
    if form == "causal":
        return [(e - 1, 0) for e in keff]
    raise AssertionError(form)


def random_config(rng: random.Random):
    """A random valid convolution over the whole parameter space (resampled until valid)."""
    while True:
        n = rng.choice([1, 1, 2, 2, 2, 3])
        groups = rng.choice([1, 1, 2, 3])
        cin, cout = groups * rng.randint(1, 2), groups * rng.randint(1, 2)
        hi_size = {1: 11, 2: 8, 3: 5}[n]
        spatial = tuple(rng.randint(1, hi_size) for _ in range(n))
        k = tuple(rng.randint(1, 4 if n < 3 else 3) for _ in range(n))
        s = tuple(rng.randint(1, 3) for _ in range(n))
        d = tuple(rng.randint(1, 2) for _ in range(n))
        form = rng.choice(FORMS)
        padding = {
            "int": rng.randint(0, 2),
            "per_dim": tuple(rng.randint(0, 2) for _ in range(n)),
            "pairs": tuple((rng.randint(0, 2), rng.randint(0, 2)) for _ in range(n)),
        }.get(form, form)
        if form in ("same", "VALID") and rng.random() < 0.3:
            padding = padding.upper()
        mode = rng.choice(["zeros", "zeros", "reflect", "replicate", "circular"])
        pairs = expected_pairs(form, padding if not isinstance(padding, str) else None, spatial, k, s, d)
        if mode == "reflect" and any(max(p) >= sz for p, sz in zip(pairs, spatial)):
            continue
        if mode == "circular" and any(max(p) > sz for p, sz in zip(pairs, spatial)):
            continue
        out = [(sz + lo + hi - (dd * (kk - 1) + 1)) // ss + 1 for sz, (lo, hi), kk, dd, ss in zip(spatial, pairs, k, d, s)]
        if min(sz + lo + hi - (dd * (kk - 1) + 1) for sz, (lo, hi), kk, dd in zip(spatial, pairs, k, d)) < 0 or min(out) < 1:
            continue
        return dict(n=n, groups=groups, cin=cin, cout=cout, spatial=spatial, k=k, s=s, d=d, form=form, padding=padding,
                    mode=mode, pairs=pairs, batched=(batched := rng.random() < 0.8), batch=rng.randint(1, 2) if batched else 1, bias=rng.random() < 0.6)


def torch_conv(cfg, x, w, b):
    """torch's answer: nn.ConvNd(padding_mode=...) where torch supports the form, else explicit F.pad + conv."""
    n = cfg["n"]
    tmode = TORCH_MODE[cfg["mode"]]
    if cfg["form"] in ("int", "per_dim") or (cfg["form"] == "same" and all(v == 1 for v in cfg["s"]) and cfg["padding"] == "same"):
        m = TORCH_MODULE[n](cfg["cin"], cfg["cout"], cfg["k"], stride=cfg["s"], padding=cfg["padding"], dilation=cfg["d"],
                            groups=cfg["groups"], bias=b is not None, padding_mode=cfg["mode"])
        with torch.no_grad():
            m.weight.copy_(w)
            if b is not None:
                m.bias.copy_(b)
        m.weight.requires_grad_(True)
        return m(x), m.weight, m.bias
    flat = [v for lo_hi in reversed(cfg["pairs"]) for v in lo_hi]
    xp = F.pad(x, flat, mode=tmode) if any(flat) else x
    return TORCH_CONV[n](xp, w, b, stride=cfg["s"], dilation=cfg["d"], groups=cfg["groups"]), w, b


def _jax_fwd_bwd(cfg):
    n = cfg["n"]
    conv = JAX_CONV[n]

    def f(x, w, b, g):
        def inner(x, w, b):
            return conv(x, w, b, cfg["s"], cfg["padding"], cfg["d"], cfg["groups"], padding_mode=cfg["mode"])
        y, vjp = jax.vjp(inner, x, w, b)
        return (y, *vjp(g))

    return jax.jit(f)


N_PARITY = 320
PARITY_CHUNK = 40  # configs per test: 8 chunks, the first by default (tests/lanes.py: CI's budget), all with --run-slow
PARITY_DEFAULT_CHUNKS = 1


def parity_configs() -> list[dict]:
    """The N_PARITY random configs, each with its own array seed (one sequence, whatever the chunking)."""
    rng = random.Random(1234)
    return [dict(random_config(rng), seed=i) for i in range(N_PARITY)]


def test_parity_default_lane_covers_every_form_mode_and_rank():
    """The default lane's configs (the first PARITY_DEFAULT_CHUNKS chunks) still draw every padding form, mode and rank. oracle: the draws."""
    cfgs = parity_configs()[:PARITY_DEFAULT_CHUNKS * PARITY_CHUNK]
    assert {c["form"] for c in cfgs} == set(FORMS) and len({c["mode"] for c in cfgs}) == 4 and {c["n"] for c in cfgs} == {1, 2, 3}


@pytest.mark.parametrize("chunk", lanes.prefix(range(N_PARITY // PARITY_CHUNK), PARITY_DEFAULT_CHUNKS))
def test_conv_random_parity_torch_and_reference(chunk):
    """oracle: torch CPU (nn.ConvNd with padding_mode, or F.pad + F.convNd) for values and gradients of
    input/weight/bias under jit, over 40 random configs per chunk; every 4th also against the NumPy loop reference."""
    for cfg in parity_configs()[chunk * PARITY_CHUNK:(chunk + 1) * PARITY_CHUNK]:
        i = cfg["seed"]
        nprng = np.random.default_rng(1234 + i)
        n = cfg["n"]
        xs = (cfg["batch"], cfg["cin"], *cfg["spatial"])
        ws = (cfg["cout"], cfg["cin"] // cfg["groups"], *cfg["k"])
        x = nprng.standard_normal(xs).astype(np.float32)
        w = nprng.standard_normal(ws).astype(np.float32)
        b = nprng.standard_normal(cfg["cout"]).astype(np.float32)
        tx = torch.tensor(x, requires_grad=True)
        tw = torch.tensor(w, requires_grad=True)
        tb = torch.tensor(b, requires_grad=True) if cfg["bias"] else None
        ty, tw_leaf, tb_leaf = torch_conv(cfg, tx, tw, tb)
        g = nprng.standard_normal(tuple(ty.shape)).astype(np.float32)
        (ty * torch.tensor(g)).sum().backward()

        jx = x if cfg["batched"] else x[0]
        jg = g if cfg["batched"] else g[0]
        y, dx, dw, db = _jax_fwd_bwd(cfg)(jx, w, b if cfg["bias"] else None, jg)
        if not cfg["batched"]:
            y, dx = y[None], dx[None]
        ctx = f"config {i}: {cfg}"
        assert y.shape == tuple(ty.shape), ctx
        np.testing.assert_allclose(y, ty.detach().numpy(), rtol=2e-5, atol=2e-5, err_msg=ctx)
        np.testing.assert_allclose(dx, tx.grad.numpy(), rtol=2e-5, atol=2e-5, err_msg=ctx)
        np.testing.assert_allclose(dw, tw_leaf.grad.numpy(), rtol=2e-5, atol=5e-5, err_msg=ctx)
        if cfg["bias"]:
            np.testing.assert_allclose(db, tb_leaf.grad.numpy(), rtol=2e-5, atol=5e-5, err_msg=ctx)
        if i % 4 == 0:
            xr = pad_ref(x, cfg["pairs"], TORCH_MODE[cfg["mode"]]) if cfg["mode"] != "zeros" else x
            pads = [(0, 0)] * n if cfg["mode"] != "zeros" else cfg["pairs"]
            ref = conv_ref(xr, w, b if cfg["bias"] else None, cfg["s"], pads, cfg["d"], cfg["groups"])
            np.testing.assert_allclose(y, ref, rtol=1e-5, atol=2e-5, err_msg=ctx)


@pytest.mark.parametrize("size", [5, 6, 7, 8, 9])
@pytest.mark.parametrize("stride", [1, 2, 3, 4])
@pytest.mark.parametrize("dilation", [1, 2, 3])
def test_same_any_stride_matches_lax_same(size, stride, dilation):
    """oracle: lax.conv_general_dilated(padding="SAME") — XLA/TF's rule — for strides 1-4, dilations 1-3."""
    key = jax.random.PRNGKey(size * 100 + stride * 10 + dilation)
    x = jax.random.normal(key, (2, 3, size, size + 1))
    w = jax.random.normal(jax.random.fold_in(key, 1), (4, 3, 3, 2))
    ref = lax.conv_general_dilated(x, w, (stride, stride), "SAME", rhs_dilation=(dilation, dilation),
                                   dimension_numbers=("NCHW", "OIHW", "NCHW"))
    got = jaxconv.conv2d(x, w, stride=stride, padding="same", dilation=dilation)
    assert got.shape == ref.shape == (2, 4, -(-size // stride), -(-(size + 1) // stride))
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("mode", ["zeros", "reflect", "replicate", "circular"])
@pytest.mark.parametrize("k, d", [(3, 1), (4, 1), (3, 2), (2, 3)])
def test_same_stride1_matches_torch_same(mode, k, d):
    """oracle: torch nn.Conv2d(padding="same", padding_mode=mode), stride 1 (the only stride torch allows)."""
    torch.manual_seed(k * 10 + d)
    m = torch.nn.Conv2d(2, 3, k, padding="same", dilation=d, padding_mode=mode)
    x = torch.randn(1, 2, 9, 8)
    got = jaxconv.conv2d(x.numpy(), m.weight.detach().numpy(), m.bias.detach().numpy(), padding="same", dilation=d, padding_mode=mode)
    np.testing.assert_allclose(got, m(x).detach().numpy(), rtol=1e-5, atol=1e-5)


def test_seed002_5x5_numbers():
    """oracle: seed 002's worked numbers (stride 1, stride 2, stride 2 + padding 1)."""
    X = jnp.array([[1, 2, 0, 3, 1], [0, 1, 2, 3, 1], [1, 2, 1, 0, 0], [5, 2, 3, 1, 1], [2, 1, 0, 1, 1]], jnp.float32)[None, None]
    K = jnp.array([[1, 2, 1], [0, 1, 0], [2, 1, 0]], jnp.float32)[None, None]
    np.testing.assert_array_equal(jaxconv.conv2d(X, K)[0, 0], [[10, 12, 12], [18, 16, 16], [13, 9, 3]])
    np.testing.assert_array_equal(jaxconv.conv2d(X, K, stride=2)[0, 0], [[10, 12], [13, 3]])
    np.testing.assert_array_equal(jaxconv.conv2d(X, K, stride=2, padding=1)[0, 0], [[1, 4, 8], [7, 16, 8], [14, 9, 4]])


def test_seed001_corr2d_and_edges():
    """oracle: seed 001 — d2l's corr2d example and the vertical-edge detector output."""
    X = jnp.arange(9.0).reshape(3, 3)
    np.testing.assert_array_equal(jaxconv.corr2d(X, jnp.array([[0.0, 1.0], [2.0, 3.0]])), [[19, 25], [37, 43]])
    img = jnp.ones((6, 8)).at[:, 2:6].set(0.0)
    Y = jaxconv.corr2d(img, jnp.array([[1.0, -1.0]]))
    expected = np.zeros((6, 7))
    expected[:, 1], expected[:, 5] = 1.0, -1.0
    np.testing.assert_array_equal(Y, expected)
    np.testing.assert_array_equal(jaxconv.corr2d(img.T, jnp.array([[1.0, -1.0]])), np.zeros((8, 5)))


def test_channels_last_equals_channels_first():
    """oracle: the NCHW path, transposed (NHWC input, HWIO weight), for every padding mode and groups."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 4, 7, 6)).astype(np.float32)
    w = rng.standard_normal((6, 2, 3, 2)).astype(np.float32)
    b = rng.standard_normal(6).astype(np.float32)
    for mode in ("zeros", "reflect", "circular"):
        ref = jaxconv.conv2d(x, w, b, 2, "same", 1, 2, padding_mode=mode)
        got = jaxconv.conv2d(x.transpose(0, 2, 3, 1), w.transpose(2, 3, 1, 0), b, 2, "same", 1, 2, padding_mode=mode, channels_last=True)
        np.testing.assert_allclose(got.transpose(0, 3, 1, 2), ref, rtol=1e-5, atol=1e-5)
    got1 = jaxconv.conv2d(x[0].transpose(1, 2, 0), w.transpose(2, 3, 1, 0), None, 1, 1, 1, 2, channels_last=True)
    np.testing.assert_allclose(got1.transpose(2, 0, 1), jaxconv.conv2d(x[0], w, None, 1, 1, 1, 2), rtol=1e-5, atol=1e-5)


def test_vmap_over_batch_and_weights_and_jit_grad():
    """oracle: the unbatched/explicitly-looped conv — vmap over inputs and over a stack of weights; grad agrees with torch."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 2, 6, 6)).astype(np.float32)
    ws = rng.standard_normal((4, 5, 2, 3, 3)).astype(np.float32)
    over_x = jax.vmap(lambda xi: jaxconv.conv2d(xi, ws[0], padding=1))(x)
    np.testing.assert_allclose(over_x, jaxconv.conv2d(x, ws[0], padding=1), rtol=1e-5, atol=1e-5)
    over_w = jax.vmap(lambda wi: jaxconv.conv2d(x, wi, stride=2, padding="same"))(ws)
    for j in range(4):
        np.testing.assert_allclose(over_w[j], jaxconv.conv2d(x, ws[j], stride=2, padding="same"), rtol=1e-5, atol=1e-5)
    gx = jax.jit(jax.grad(lambda x: (jaxconv.conv2d(x, ws[0], padding="same", padding_mode="reflect") ** 2).sum()))(x)
    tx = torch.tensor(x, requires_grad=True)
    m = torch.nn.Conv2d(2, 5, 3, padding="same", padding_mode="reflect", bias=False)
    with torch.no_grad():
        m.weight.copy_(torch.tensor(ws[0]))
    (m(tx) ** 2).sum().backward()
    np.testing.assert_allclose(gx, tx.grad.numpy(), rtol=1e-4, atol=1e-4)


def test_jit_costs_nothing_extra():
    """oracle: the jitted jaxconv program is the raw lax program (one convolution op in the HLO)."""
    x, w = jnp.ones((1, 2, 8, 8)), jnp.ones((3, 2, 3, 3))
    hlo = jax.jit(lambda x, w: jaxconv.conv2d(x, w, stride=2, padding="same")).lower(x, w).as_text()
    assert hlo.count("stablehlo.convolution") == 1


# ------------------------------------------------------------------ bad input, one test per class

X4 = jnp.ones((1, 4, 6, 6))
W4 = jnp.ones((6, 2, 3, 3))


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(stride=(2, 0)), ValueError, r"conv2d: `stride` must be >= 1 in every spatial dim, got \(2, 0\)"),
        (dict(dilation=0), ValueError, r"conv2d: `dilation` must be >= 1"),
        (dict(padding=-1), ValueError, r"conv2d: `padding` must be >= 0"),
        (dict(padding=((1, -1), (0, 0))), ValueError, r"conv2d: `padding` must be >= 0"),
        (dict(padding="half"), ValueError, r"conv2d: `padding` must be an int, a sequence, or one of"),
        (dict(padding_mode="mirror"), ValueError, r"conv2d: `padding_mode` must be one of"),
        (dict(stride=(1, 1, 1)), ValueError, r"conv2d: `stride` must have 2 entries"),
        (dict(padding=(1, 2, 3)), ValueError, r"conv2d: `padding` must have 2 entries"),
        (dict(groups=4), ValueError, r"conv2d: `groups` must divide out_channels"),
        (dict(groups=0), ValueError, r"conv2d: `groups` must be an int >= 1"),
        (dict(groups=1), ValueError, r"conv2d: `input` must have in_channels = weight in_channels \* groups"),
        (dict(stride=1.5), TypeError, r"conv2d: `stride` must be an int or a sequence"),
        (dict(padding=[1.0, 2]), TypeError, r"conv2d: `padding` entries must be ints"),
        (dict(padding=6, padding_mode="reflect"), ValueError, r"conv2d: `padding` must be < the input size"),
        (dict(padding=7, padding_mode="circular"), ValueError, r"conv2d: `padding` must be <= the input size"),
        (dict(bias=jnp.ones(5)), ValueError, r"conv2d: `bias` must have shape \(6,\)"),
        (dict(dilation=4), ValueError, r"conv2d: `kernel_size` \(dilated, with padding\) is larger than the padded input"),
    ],
)
def test_bad_arguments(kwargs, exc, match):
    """oracle: the error rule — ValueError/TypeError naming function, argument, value and rule, before XLA."""
    args = dict(stride=1, padding=0, dilation=1, groups=2)
    bias = kwargs.pop("bias", None)
    args.update(kwargs)
    with pytest.raises(exc, match=match):
        jaxconv.conv2d(X4, W4, bias, **args)


def test_bad_ranks_and_dtypes():
    """oracle: the error rule for rank, kernel larger than input, and dtype mismatches."""
    with pytest.raises(ValueError, match=r"conv2d: `input` must have rank 3 \(C, \*spatial\) or 4"):
        jaxconv.conv2d(jnp.ones((1, 1, 4, 4, 4)), jnp.ones((1, 1, 3, 3)))
    with pytest.raises(ValueError, match=r"conv2d: `weight` must have rank 4"):
        jaxconv.conv2d(jnp.ones((1, 1, 4, 4)), jnp.ones((1, 1, 3)))
    with pytest.raises(ValueError, match=r"conv: `weight` must have rank >= 3"):
        jaxconv.conv(jnp.ones((1, 1, 4)), jnp.ones((1, 3)))
    with pytest.raises(ValueError, match=r"conv1d: `kernel_size` .* larger than the padded input \(2,\)"):
        jaxconv.conv1d(jnp.ones((1, 1, 2)), jnp.ones((1, 1, 3)))
    with pytest.raises(TypeError, match=r"conv1d: `weight` must have the input's dtype float32"):
        jaxconv.conv1d(jnp.ones((1, 1, 4)), jnp.ones((1, 1, 3), jnp.bfloat16))
    with pytest.raises(ValueError, match=r"corr2d: `K` must be a 2-d"):
        jaxconv.corr2d(jnp.ones((4, 4)), jnp.ones((1, 2, 2)))


@pytest.mark.parametrize("n", [1, 2, 3])
def test_weight_layout_torch_weights_with_channels_last_inputs(n):
    """oracle: the channels-first conv of the same arrays, and torch. channels_last=True with
    weight_layout="OI..." (torch's weight unchanged) and channels_last=False with "...IO": the same
    output, unbatched too; the default follows channels_last."""
    r = np.random.default_rng(40 + n)
    x = r.standard_normal((2, 4, *(7,) * n)).astype(np.float32)
    w = r.standard_normal((6, 2, *(3,) * n)).astype(np.float32)
    b = r.standard_normal(6).astype(np.float32)
    want = getattr(F, f"conv{n}d")(torch.tensor(x), torch.tensor(w), torch.tensor(b), 2, 1, 1, 2).numpy()
    k = "DHW"[3 - n:]
    hwio = np.transpose(w, (*range(2, n + 2), 1, 0))
    got = jaxconv.conv(np.moveaxis(x, 1, -1), w, b, 2, 1, 1, 2, channels_last=True, weight_layout=f"OI{k}")
    np.testing.assert_allclose(np.moveaxis(np.asarray(got), -1, 1), want, rtol=1e-5, atol=1e-5)
    got = jaxconv.conv(x, hwio, b, 2, 1, 1, 2, weight_layout=f"{k}IO")
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    got = jaxconv.conv(np.moveaxis(x[0], 0, -1), w, b, 2, 1, 1, 2, channels_last=True, weight_layout=f"OI{k}")
    np.testing.assert_allclose(np.moveaxis(np.asarray(got), -1, 0), want[0], rtol=1e-5, atol=1e-5)
    explicit = jaxconv.conv(np.moveaxis(x, 1, -1), hwio, b, 2, 1, 1, 2, channels_last=True, weight_layout=f"{k}IO")
    default = jaxconv.conv(np.moveaxis(x, 1, -1), hwio, b, 2, 1, 1, 2, channels_last=True)
    np.testing.assert_array_equal(explicit, default)


@pytest.mark.parametrize(("layout", "exc", "match"), [
    ("HWOI", ValueError, r"conv2d: `weight_layout` must be None \(the input's layout\), 'OIHW' \(torch\) or 'HWIO' "
                         r"\(TF/Flax\) for a 2-d convolution, got 'HWOI'"),
    ("OIW", ValueError, r"conv2d: `weight_layout` must be None .*'OIHW'.* for a 2-d convolution, got 'OIW'"),
    (("O", "I", "H", "W"), TypeError, r"conv2d: `weight_layout` must be None or a layout string such as 'OIHW'"),
])
def test_weight_layout_errors(layout, exc, match):
    """oracle: the rule (None, or the rank's torch or TF/Flax layout name), raised before tracing reaches XLA."""
    with pytest.raises(exc, match=match):
        jaxconv.conv2d(jnp.ones((1, 4, 4, 2)), jnp.ones((3, 2, 3, 3)), channels_last=True, weight_layout=layout)
    with pytest.raises(exc, match=match):
        jax.jit(lambda x: jaxconv.conv2d(x, jnp.ones((3, 2, 3, 3)), channels_last=True, weight_layout=layout))(
            jnp.ones((1, 4, 4, 2)))


def test_errors_raised_before_tracing_reaches_xla():
    """oracle: inside jit the same ValueError appears at trace time (from our checks, not XLA's)."""
    with pytest.raises(ValueError, match=r"conv2d: `stride` must be >= 1"):
        jax.jit(lambda x: jaxconv.conv2d(x, W4, stride=0, groups=2))(X4)
