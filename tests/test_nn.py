"""jaxconv.nn layers: torch's init distributions, module == function, BatchNorm/Dropout/activations
against torch, an optax training step, and the constructor errors."""

from __future__ import annotations

import math
import random
from collections import OrderedDict

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import scipy.stats
from flax import nnx

torch = pytest.importorskip("torch")  # torch is the oracle

import jaxconv  # noqa: E402
from jaxconv import nn  # noqa: E402

SEED = 20260
PAD_FORMS = ("int", "per_dim", "pairs", "valid", "same", "full", "causal")


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().numpy()


def randn(seed: int, shape: tuple[int, ...]) -> jax.Array:
    # NumPy, not jax.random: jax.random compiles its generator once per shape, which costs more
    # here than the layers under test.
    return jnp.asarray(np.random.default_rng(seed).standard_normal(shape, dtype=np.float32))


# ---------------------------------------------------------------------------------------
# Initialisation: the same distributions as torch
# ---------------------------------------------------------------------------------------

INIT_CASES = [
    ("Conv1d", (6, 40, 5), {}),
    ("Conv2d", (16, 32, 3), {}),
    ("Conv2d", (16, 48, (3, 5)), {"groups": 4}),
    ("Conv3d", (4, 20, 3), {}),
    ("ConvTranspose1d", (30, 12, 4), {}),
    ("ConvTranspose2d", (40, 12, 3), {"groups": 2}),
    ("ConvTranspose3d", (15, 6, 3), {"groups": 3}),
    ("Linear", (36, 200), {}),
]


@pytest.mark.parametrize(("name", "args", "kwargs"), INIT_CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(INIT_CASES)])
def test_init_distribution_matches_torch(name, args, kwargs):
    """oracle: torch CPU. Weight and bias are U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with torch's fan_in.

    Two-sample KS test of our samples against torch's (seeded, so deterministic; a
    wrong fan_in, e.g. forgetting groups or using C_in for ConvTranspose, shifts the
    bound by >= sqrt(2) and gives p < 1e-30). Weights pooled over 3 draws.
    """
    torch.manual_seed(SEED)
    tw, tb, jw, jb = [], [], [], []
    for i in range(3):
        tm = getattr(torch.nn, name)(*args, **kwargs)
        jm = getattr(nn, name)(*args, **kwargs, rngs=nnx.Rngs(SEED + i))
        assert tuple(jm.weight[...].shape) == tuple(tm.weight.shape)
        assert tuple(jm.bias[...].shape) == tuple(tm.bias.shape)
        tw.append(_np(tm.weight).ravel())
        tb.append(_np(tm.bias).ravel())
        jw.append(np.asarray(jm.weight[...]).ravel())
        jb.append(np.asarray(jm.bias[...]).ravel())
    tw, tb, jw, jb = map(np.concatenate, (tw, tb, jw, jb))
    if name == "Linear":
        fan_in = args[0]
    elif name.startswith("ConvTranspose"):
        fan_in = args[1] // kwargs.get("groups", 1) * math.prod(jm.kernel_size)
    else:
        fan_in = args[0] // kwargs.get("groups", 1) * math.prod(jm.kernel_size)
    bound = 1 / math.sqrt(fan_in)
    assert nn.layers.kaiming_uniform_bound(fan_in) == pytest.approx(bound)
    for ours, theirs in ((jw, tw), (jb, tb)):
        assert np.abs(ours).max() <= bound * (1 + 1e-6)
        assert np.abs(theirs).max() <= bound * (1 + 1e-6)
        assert scipy.stats.ks_2samp(ours, theirs).pvalue > 1e-6
    # Enough weight samples that the range is essentially filled: max |w| > 0.99 bound.
    assert np.abs(jw).max() > 0.99 * bound
    assert scipy.stats.kstest(jw, scipy.stats.uniform(-bound, 2 * bound).cdf).pvalue > 1e-6


def test_init_detects_wrong_fan_in():
    """oracle: torch CPU. The KS test above has the power to see a sqrt(2) error in the bound."""
    torch.manual_seed(SEED)
    tm = torch.nn.Conv2d(16, 32, 3)
    jm = nn.Conv2d(32, 32, 3, rngs=nnx.Rngs(0))  # fan_in twice torch's
    assert scipy.stats.ks_2samp(np.asarray(jm.weight[...]).ravel(), _np(tm.weight).ravel()).pvalue < 1e-20


def test_init_is_seeded_and_dtype():
    """oracle: determinism. Same Rngs -> same weights; dtype= sets the parameter dtype."""
    a = nn.Conv2d(3, 4, 3, rngs=nnx.Rngs(7))
    b = nn.Conv2d(3, 4, 3, rngs=nnx.Rngs(7))
    np.testing.assert_array_equal(a.weight[...], b.weight[...])
    assert nn.Linear(3, 4, dtype=jnp.float16, rngs=nnx.Rngs(0)).weight[...].dtype == jnp.float16
    assert nn.Conv1d(3, 4, 3, bias=False, rngs=nnx.Rngs(0)).bias is None


# ---------------------------------------------------------------------------------------
# Module output == function output
# ---------------------------------------------------------------------------------------

def _conv_config(rng: random.Random, transpose: bool):
    while True:
        n = rng.choice([1, 2, 2, 3])
        g = rng.choice([1, 1, 2])
        cin, cout = g * rng.randint(1, 2), g * rng.randint(1, 2)
        k = tuple(rng.randint(1, 3) for _ in range(n))
        s = tuple(rng.randint(1, 2) for _ in range(n))
        d = tuple(rng.randint(1, 2) for _ in range(n))
        spatial = tuple(rng.randint(3, {1: 9, 2: 7, 3: 4}[n]) for _ in range(n))
        form = rng.choice(PAD_FORMS if not transpose else ("int", "per_dim", "pairs", "same", "valid"))
        padding = {"int": rng.randint(0, 1), "per_dim": tuple(rng.randint(0, 1) for _ in range(n)),
                   "pairs": tuple((rng.randint(0, 1), rng.randint(0, 1)) for _ in range(n))}.get(form, form)
        mode = "zeros" if transpose or form != "int" else rng.choice(["zeros", "reflect", "replicate", "circular"])
        op = tuple(rng.randint(0, max(a, b) - 1) for a, b in zip(s, d)) if transpose and form not in ("same", "valid") else 0
        batched = rng.random() < 0.8
        try:
            if transpose:
                jaxconv.shapes.conv_transpose_output_shape(spatial, k, s, padding, op, d)
            else:
                jaxconv.shapes.conv_output_shape(spatial, k, s, padding, d)
                if mode == "reflect" and padding >= min(spatial):
                    continue
        except ValueError:
            continue
        return n, cin, cout, k, s, padding, d, g, op, mode, spatial, batched, rng.random() < 0.7


@pytest.mark.parametrize("case", range(8))
def test_conv_module_equals_function(case):
    """oracle: jaxconv.conv{n}d. The layer is a thin shell: identical output for random configs."""
    rng = random.Random(SEED + case)
    n, cin, cout, k, s, padding, d, g, _, mode, spatial, batched, bias = _conv_config(rng, False)
    layer = getattr(nn, f"Conv{n}d")(cin, cout, k, s, padding, d, g, bias, mode, rngs=nnx.Rngs(case))
    x = randn(case, ((2,) if batched else ()) + (cin, *spatial))
    want = getattr(jaxconv, f"conv{n}d")(x, layer.weight[...], None if layer.bias is None else layer.bias[...], s, padding, d,
                                         g, padding_mode=mode)
    np.testing.assert_array_equal(layer(x), want)
    if case % 4 == 0:  # under nnx.jit too (a few cases: each compiles the whole layer again)
        np.testing.assert_array_equal(nnx.jit(lambda m, x: m(x))(layer, x), want)


@pytest.mark.parametrize("case", range(6))
def test_conv_transpose_module_equals_function(case):
    """oracle: jaxconv.conv_transpose{n}d, and torch's ConvTranspose forward(output_size=...)."""
    rng = random.Random(SEED + 100 + case)
    n, cin, cout, k, s, padding, d, g, op, _, spatial, batched, bias = _conv_config(rng, True)
    layer = getattr(nn, f"ConvTranspose{n}d")(cin, cout, k, s, padding, op, g, bias, d, rngs=nnx.Rngs(case))
    x = randn(case, ((2,) if batched else ()) + (cin, *spatial))
    b = None if layer.bias is None else layer.bias[...]
    want = getattr(jaxconv.transpose, f"conv_transpose{n}d")(x, layer.weight[...], b, s, padding, op, g, d)
    np.testing.assert_array_equal(layer(x), want)
    torch_padding = isinstance(padding, int) or (isinstance(padding, tuple) and all(isinstance(p, int) for p in padding))
    if torch_padding:
        # torch's forward(input, output_size) overrides output_padding; same here.
        tm = getattr(torch.nn, f"ConvTranspose{n}d")(cin, cout, k, s, padding, op, g, bias, d)
        with torch.no_grad():
            tm.weight.copy_(torch.tensor(np.asarray(layer.weight[...])))
            if bias:
                tm.bias.copy_(torch.tensor(np.asarray(layer.bias[...])))
        xt = torch.tensor(np.asarray(x))
        base = jaxconv.shapes.conv_transpose_output_shape(spatial, k, s, padding, 0, d)
        size = tuple(b + a - 1 for b, a in zip(base, s))  # torch's forward allows up to stride - 1 extra
        np.testing.assert_allclose(layer(x, output_size=size), _np(tm(xt, output_size=size)), atol=1e-5, rtol=1e-5)


WINDOW_LAYERS = [
    # (layer, the jaxconv call it must equal, input shape)
    (lambda: nn.MaxPool1d(3, 2, 1, 2, ceil_mode=True), lambda x: jaxconv.pool.max_pool1d(x, 3, 2, 1, 2, True), (2, 3, 11)),
    (lambda: nn.MaxPool2d((2, 3), padding="same", return_indices=True),
     lambda x: jaxconv.pool.max_pool2d(x, (2, 3), None, "same", return_indices=True), (1, 2, 7, 8)),
    (lambda: nn.MaxPool3d(2, 1, ((1, 0), (0, 1), (1, 1))),
     lambda x: jaxconv.pool.max_pool3d(x, 2, 1, ((1, 0), (0, 1), (1, 1))), (2, 3, 4, 4)),
    (lambda: nn.AvgPool1d(3, 2, 1, True, False), lambda x: jaxconv.pool.avg_pool1d(x, 3, 2, 1, True, False), (2, 2, 9)),
    (lambda: nn.AvgPool2d(3, 2, 1, divisor_override=5), lambda x: jaxconv.pool.avg_pool2d(x, 3, 2, 1, False, True, 5),
     (2, 7, 6)),
    (lambda: nn.AvgPool3d(2, ceil_mode=True), lambda x: jaxconv.pool.avg_pool3d(x, 2, None, 0, True), (1, 1, 3, 5, 4)),
    (lambda: nn.LPPool1d(3, 2), lambda x: jaxconv.pool.lp_pool1d(x, 3, 2), (1, 2, 8)),
    (lambda: nn.LPPool2d(2, (2, 3), 1, True), lambda x: jaxconv.pool.lp_pool2d(x, 2, (2, 3), 1, True), (1, 2, 5, 6)),
    (lambda: nn.LPPool3d(1.5, 2), lambda x: jaxconv.pool.lp_pool3d(x, 1.5, 2), (1, 1, 4, 4, 4)),
    (lambda: nn.AdaptiveAvgPool1d(3), lambda x: jaxconv.pool.adaptive_avg_pool1d(x, 3), (2, 3, 10)),
    (lambda: nn.AdaptiveAvgPool2d((None, 2)), lambda x: jaxconv.pool.adaptive_avg_pool2d(x, (None, 2)), (1, 2, 5, 7)),
    (lambda: nn.AdaptiveAvgPool3d(2), lambda x: jaxconv.pool.adaptive_avg_pool3d(x, 2), (1, 1, 3, 5, 4)),
    (lambda: nn.AdaptiveMaxPool1d(4, True), lambda x: jaxconv.pool.adaptive_max_pool1d(x, 4, True), (1, 2, 9)),
    (lambda: nn.AdaptiveMaxPool2d(3), lambda x: jaxconv.pool.adaptive_max_pool2d(x, 3), (2, 5, 7)),
    (lambda: nn.AdaptiveMaxPool3d((1, 2, 3)), lambda x: jaxconv.pool.adaptive_max_pool3d(x, (1, 2, 3)), (1, 1, 3, 5, 4)),
    (lambda: nn.Upsample(scale_factor=(2, 1.5), mode="bicubic", align_corners=True),
     lambda x: jaxconv.interpolate(x, None, (2, 1.5), "bicubic", True), (1, 2, 3, 4)),
    (lambda: nn.Upsample(size=7, mode="linear"), lambda x: jaxconv.interpolate(x, 7, None, "linear"), (1, 2, 3)),
    (lambda: nn.UpsamplingNearest2d(size=(5, 6)), lambda x: jaxconv.interpolate(x, (5, 6)), (1, 2, 3, 4)),
    (lambda: nn.UpsamplingBilinear2d(scale_factor=2),
     lambda x: jaxconv.interpolate(x, None, 2, "bilinear", True), (1, 2, 3, 4)),
    (lambda: nn.PixelShuffle(2), lambda x: jaxconv.patches.pixel_shuffle(x, 2), (1, 8, 2, 3)),
    (lambda: nn.PixelUnshuffle(3), lambda x: jaxconv.patches.pixel_unshuffle(x, 3), (2, 6, 9)),
    (lambda: nn.Unfold((2, 3), 1, 1, 2), lambda x: jaxconv.patches.unfold(x, (2, 3), 1, 1, 2), (1, 2, 5, 6)),
    (lambda: nn.Fold((4, 5), 2, 1, 0, 1), lambda x: jaxconv.patches.fold(x, (4, 5), 2, 1, 0, 1), (1, 8, 12)),
    (lambda: nn.ZeroPad1d((1, 2)), lambda x: jaxconv.pad(x, ((1, 2),)), (2, 3, 4)),
    (lambda: nn.ZeroPad2d((1, 2, 3, 0)), lambda x: jaxconv.pad(x, ((3, 0), (1, 2))), (1, 2, 3, 4)),
    (lambda: nn.ZeroPad3d(1), lambda x: jaxconv.pad(x, 1, spatial_dims=3), (1, 1, 2, 3, 2)),
    (lambda: nn.ConstantPad2d(((0, 1), (2, 0)), -1.5), lambda x: jaxconv.pad(x, ((0, 1), (2, 0)), value=-1.5), (2, 3, 4)),
    (lambda: nn.ReflectionPad1d(2), lambda x: jaxconv.pad(x, ((2, 2),), "reflect"), (1, 2, 5)),
    (lambda: nn.ReflectionPad2d((1, 0, 2, 1)), lambda x: jaxconv.pad(x, ((2, 1), (1, 0)), "reflect"), (1, 2, 4, 4)),
    (lambda: nn.ReflectionPad3d(1), lambda x: jaxconv.pad(x, 1, "reflect", spatial_dims=3), (1, 1, 2, 3, 3)),
    (lambda: nn.ReplicationPad1d((0, 3)), lambda x: jaxconv.pad(x, ((0, 3),), "replicate"), (1, 2, 3)),
    (lambda: nn.ReplicationPad2d(2), lambda x: jaxconv.pad(x, 2, "replicate", spatial_dims=2), (1, 1, 2, 3)),
    (lambda: nn.ReplicationPad3d((1, 0, 0, 1, 1, 1)),
     lambda x: jaxconv.pad(x, ((1, 1), (0, 1), (1, 0)), "replicate"), (1, 1, 2, 2, 2)),
    (lambda: nn.CircularPad1d(3), lambda x: jaxconv.pad(x, ((3, 3),), "circular"), (2, 1, 4)),
    (lambda: nn.CircularPad2d((1, 1, 0, 2)), lambda x: jaxconv.pad(x, ((0, 2), (1, 1)), "circular"), (1, 2, 3, 3)),
    (lambda: nn.CircularPad3d(1), lambda x: jaxconv.pad(x, 1, "circular", spatial_dims=3), (1, 1, 2, 2, 3)),
]


@pytest.mark.parametrize(("make", "fn", "shape"), WINDOW_LAYERS, ids=[f"window-{i}" for i in range(len(WINDOW_LAYERS))])
def test_window_layer_equals_function(make, fn, shape):
    """oracle: the jaxconv function of the same name. Pooling, upsampling, patch and padding layers are
    thin shells: identical outputs (and indices) on random input."""
    layer = make()
    x = randn(len(shape), shape)
    got, want = layer(x), fn(x)
    for g, w in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
        np.testing.assert_array_equal(g, w)


def test_max_unpool_layer_equals_function():
    """oracle: jaxconv.max_unpool{n}d, with and without output_size."""
    for n, shape in ((1, (1, 2, 8)), (2, (1, 2, 5, 6)), (3, (1, 1, 4, 4, 5))):
        x = randn(n, shape)
        y, idx = getattr(nn, f"MaxPool{n}d")(2, return_indices=True)(x)
        unpool = getattr(nn, f"MaxUnpool{n}d")(2)
        f = getattr(jaxconv.pool, f"max_unpool{n}d")
        np.testing.assert_array_equal(unpool(y, idx), f(y, idx, 2))
        np.testing.assert_array_equal(unpool(y, idx, output_size=shape[2:]), f(y, idx, 2, None, 0, shape[2:]))


def test_linear_flatten_identity_against_torch():
    """oracle: torch CPU. Linear (any leading dims), Flatten over many (start, end), Identity."""
    torch.manual_seed(SEED)
    tl = torch.nn.Linear(5, 3)
    jl = nn.Linear(5, 3, rngs=nnx.Rngs(0))
    nn.load_torch_state_dict(jl, tl.state_dict())
    for shape in [(5,), (2, 5), (2, 4, 5)]:
        x = torch.randn(shape)
        np.testing.assert_allclose(jl(jnp.asarray(x.numpy())), _np(tl(x)), atol=1e-6, rtol=1e-6)
    x = torch.randn(2, 3, 4, 5)
    for s in range(-4, 4):
        for e in range(-4, 4):
            try:
                want = torch.nn.Flatten(s, e)(x)
            except RuntimeError:
                with pytest.raises(ValueError, match="Flatten"):
                    nn.Flatten(s, e)(jnp.asarray(x.numpy()))
                continue
            assert nn.Flatten(s, e)(jnp.asarray(x.numpy())).shape == tuple(want.shape)
    np.testing.assert_array_equal(nn.Identity(3, foo=1)(jnp.ones(3)), jnp.ones(3))


ACTIVATIONS = [
    ("ReLU", (), {}), ("ReLU6", (), {}), ("LeakyReLU", (0.2,), {}), ("LeakyReLU", (), {}), ("ELU", (0.7,), {}),
    ("Sigmoid", (), {}), ("Tanh", (), {}), ("SiLU", (), {}), ("GELU", (), {}), ("GELU", ("tanh",), {}),
    ("Softmax", (1,), {}), ("LogSoftmax", (-1,), {}),
]


@pytest.mark.parametrize(("name", "args", "kwargs"), ACTIVATIONS, ids=[f"{a[0]}{a[1]}" for a in ACTIVATIONS])
def test_activations_against_torch(name, args, kwargs):
    """oracle: torch CPU, including values around 0 and beyond 6."""
    torch.manual_seed(SEED)
    x = torch.randn(2, 3, 5) * 4
    x[0, 0, :3] = torch.tensor([0.0, -0.0, 6.0])
    want = _np(getattr(torch.nn, name)(*args, **kwargs)(x))
    got = getattr(nn, name)(*args, **kwargs)(jnp.asarray(x.numpy()))
    np.testing.assert_allclose(got, want, atol=2e-6, rtol=2e-6)


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_is_torchs_formula(approximate):
    """oracle: torch CPU in float64 (values and gradient to 1e-14 over -40..40: the erf form torch's kernel
    computes, not jax.nn.gelu's erfc one) and in float32 (within float32 rounding)."""
    xs = np.concatenate([np.linspace(-40, 40, 2001), [0.0, -0.0, 1e-30, -1e-30]])
    tx = torch.tensor(xs, requires_grad=True)
    ty = torch.nn.functional.gelu(tx, approximate=approximate)
    ty.backward(torch.ones_like(ty))
    with jax.enable_x64(True):
        f = nn.GELU(approximate)
        y, vjp = jax.vjp(f, jnp.asarray(xs))
        (g,) = vjp(jnp.ones_like(y))
    np.testing.assert_allclose(np.asarray(y), ty.detach().numpy(), rtol=1e-14, atol=1e-14)
    # atol 1e-13: in the tanh form's far negative tail torch's gradient flushes to exactly 0 where
    # jax.nn.gelu's leaves 3e-14 (rounding of 1 - tanh^2 near -7); the erf form agrees to 1e-16 there.
    np.testing.assert_allclose(np.asarray(g), tx.grad.numpy(), rtol=1e-12, atol=1e-13)
    x32 = xs.astype(np.float32)
    if approximate == "none":  # the erf form, not erfc (XLA:CPU's erfc series is 2.7x slower)
        assert "erfc" not in str(jax.make_jaxpr(nn.GELU())(jnp.asarray(x32)))
    want = torch.nn.functional.gelu(torch.tensor(x32), approximate=approximate).numpy()
    np.testing.assert_allclose(np.asarray(nn.GELU(approximate)(jnp.asarray(x32))), want, rtol=2e-6, atol=2e-6)


# ---------------------------------------------------------------------------------------
# BatchNorm and Dropout
# ---------------------------------------------------------------------------------------

BN_CASES = [
    (1, (6, 3), {}),
    (1, (4, 3, 5), {"momentum": 0.3}),
    (2, (3, 3, 4, 5), {}),
    (2, (2, 3, 3, 3), {"momentum": None}),
    (2, (2, 3, 3, 3), {"affine": False}),
    (2, (2, 3, 3, 3), {"track_running_stats": False}),
    (2, (2, 3, 3, 3), {"bias": False}),
    (3, (2, 3, 2, 3, 3), {"eps": 1e-3}),
]


@pytest.mark.parametrize(("n", "shape", "kwargs"), BN_CASES, ids=[f"bn{c[0]}d-{i}" for i, c in enumerate(BN_CASES)])
def test_batchnorm_train_and_eval_against_torch(n, shape, kwargs):
    """oracle: torch CPU. Three jitted train steps (batch statistics, running stats with momentum
    and unbiased variance, num_batches_tracked), then eval with the running statistics."""
    torch.manual_seed(SEED + n)
    tm = getattr(torch.nn, f"BatchNorm{n}d")(shape[1], **kwargs)
    if tm.weight is not None:
        with torch.no_grad():
            tm.weight.uniform_(0.5, 1.5)
            if tm.bias is not None:
                tm.bias.uniform_(-1, 1)
    jm = nn.from_torch(tm)
    assert jm.use_running_average is False  # torch modules start in train mode

    @nnx.jit
    def step(m, x):
        return m(x)

    for _ in range(3):
        x = torch.randn(shape) * 2 + 1
        want = _np(tm(x))
        np.testing.assert_allclose(step(jm, jnp.asarray(x.numpy())), want, atol=1e-5, rtol=1e-5)
    if tm.track_running_stats:
        np.testing.assert_allclose(jm.running_mean[...], _np(tm.running_mean), atol=1e-6, rtol=1e-6)
        np.testing.assert_allclose(jm.running_var[...], _np(tm.running_var), atol=1e-6, rtol=1e-6)
        assert int(jm.num_batches_tracked[...]) == int(tm.num_batches_tracked) == 3
    tm.eval()
    jm.eval()
    x = torch.randn(shape)
    np.testing.assert_allclose(step(jm, jnp.asarray(x.numpy())), _np(tm(x)), atol=1e-5, rtol=1e-5)


def test_batchnorm_errors_at_call():
    """oracle: torch's rules. Wrong rank, wrong channels, one value per channel in train mode."""
    bn = nn.BatchNorm2d(3)
    with pytest.raises(ValueError, match=r"BatchNorm2d: `input` must have rank 4"):
        bn(jnp.ones((3, 4, 4)))
    with pytest.raises(ValueError, match="num_features=3"):
        bn(jnp.ones((2, 4, 4, 4)))
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        nn.BatchNorm1d(3)(jnp.ones((1, 3)))


def test_dropout_train_and_eval():
    """oracle: definition. Eval: identity. Train: zeros with rate ~p, survivors scaled by 1/(1-p)."""
    d = nn.Dropout(0.25, rngs=nnx.Rngs(dropout=0))
    x = jnp.ones((100, 100))
    y = np.asarray(d(x))
    assert set(np.unique(y).tolist()) <= {0.0, float(np.float32(1) / np.float32(0.75))}
    assert abs((y == 0).mean() - 0.25) < 0.02  # 10k Bernoulli(0.25): sd 0.0043
    assert not np.array_equal(y, np.asarray(d(x)))  # a fresh mask each call
    d.eval()
    np.testing.assert_array_equal(d(x), x)
    with pytest.raises(ValueError, match="rngs"):
        nn.Dropout(0.5)(x)


# ---------------------------------------------------------------------------------------
# Sequential and training
# ---------------------------------------------------------------------------------------

def test_sequential_container():
    """oracle: torch.nn.Sequential's behaviour: names, indexing, slicing, OrderedDict."""
    r = nnx.Rngs(0)
    net = nn.Sequential(nn.Linear(4, 3, rngs=r), nn.ReLU(), nn.Linear(3, 2, rngs=r))
    assert len(net) == 3 and isinstance(net[1], nn.ReLU) and isinstance(net[-1], nn.Linear)
    assert len(net[:2]) == 2
    x = jnp.ones((2, 4))
    np.testing.assert_allclose(net(x), net[2](net[1](net[0](x))))
    named = nn.Sequential(OrderedDict(conv=nn.Conv1d(1, 2, 3, rngs=r), act=nn.Tanh()))
    assert [k for k, _ in named.named_children()] == ["conv", "act"]
    assert set(nn.to_torch_state_dict(named)) == {"conv.weight", "conv.bias"}
    with pytest.raises(TypeError, match="must be callable"):
        nn.Sequential(nn.ReLU(), 3)


def test_optax_training_step_lowers_loss():
    """oracle: the loss itself. One SGD step (nnx.jit, BatchNorm in train mode) lowers it."""
    r = nnx.Rngs(0)
    model = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding="same", rngs=r), nn.BatchNorm2d(4), nn.ReLU(),
        nn.Conv2d(4, 4, 3, stride=2, padding=1, rngs=r), nn.Tanh(), nn.Flatten(), nn.Dropout(0.1, rngs=r),
        nn.Linear(4 * 4 * 4, 3, rngs=r),
    )
    x = randn(1, (8, 1, 8, 8))
    y = jnp.asarray(np.random.default_rng(2).integers(0, 3, 8))
    opt = nnx.Optimizer(model, optax.sgd(0.05), wrt=nnx.Param)

    def loss_fn(m):
        return optax.softmax_cross_entropy_with_integer_labels(m(x), y).mean()

    @nnx.jit
    def train_step(m, opt):
        loss, grads = nnx.value_and_grad(loss_fn)(m)
        opt.update(m, grads)
        return loss

    model.eval()
    before = float(loss_fn(model))
    model.train()
    w0 = np.asarray(model[0].weight[...]).copy()
    train_step(model, opt)
    model.eval()
    after = float(loss_fn(model))
    assert after < before
    assert not np.array_equal(w0, np.asarray(model[0].weight[...]))
    assert int(model[1].num_batches_tracked[...]) == 1


# ---------------------------------------------------------------------------------------
# Constructor errors
# ---------------------------------------------------------------------------------------

R = nnx.Rngs(0)

BAD_ARGS = [
    # (constructor, args, kwargs, exception, match)
    (nn.Conv2d, (0, 4, 3), {}, ValueError, r"Conv2d: `in_channels` must be an int >= 1, got 0"),
    (nn.Conv2d, (3.0, 4, 3), {}, TypeError, r"Conv2d: `in_channels` must be an int"),
    (nn.Conv2d, (3, 0, 3), {}, ValueError, r"`out_channels` must be an int >= 1"),
    (nn.Conv2d, (3, 4, 0), {}, ValueError, r"Conv2d: `kernel_size` must be >= 1"),
    (nn.Conv2d, (3, 4, (3, 3, 3)), {}, ValueError, r"`kernel_size` must have 2 entries"),
    (nn.Conv2d, (3, 4, 3), {"stride": 0}, ValueError, r"`stride` must be >= 1"),
    (nn.Conv2d, (3, 4, 3), {"dilation": (1, 0)}, ValueError, r"`dilation` must be >= 1"),
    (nn.Conv2d, (3, 4, 3), {"padding": -1}, ValueError, r"`padding` must be >= 0"),
    (nn.Conv2d, (3, 4, 3), {"padding": "middle"}, ValueError, r"Conv2d: `padding` must be an int, a sequence, or one of"),
    (nn.Conv2d, (3, 4, 3), {"padding": (1, 2, 3)}, ValueError, r"`padding` must have 2 entries"),
    (nn.Conv2d, (3, 4, 3), {"groups": 2}, ValueError, r"`groups` must divide in_channels=3"),
    (nn.Conv2d, (4, 3, 3), {"groups": 2}, ValueError, r"`groups` must divide out_channels=3"),
    (nn.Conv2d, (4, 4, 3), {"groups": 0}, ValueError, r"`groups` must be an int >= 1"),
    (nn.Conv2d, (3, 4, 3), {"padding_mode": "mirror"}, ValueError, r"`padding_mode` must be one of"),
    (nn.Conv2d, (3, 4, 3), {"bias": "yes"}, TypeError, r"`bias` must be a bool"),
    (nn.Conv2d, (3, 4, 3), {"dtype": jnp.int32}, TypeError, r"`dtype` must be a floating dtype"),
    (nn.Conv1d, (3, 4, 3), {"rngs": 0}, TypeError, r"Conv1d: `rngs` must be an nnx.Rngs"),
    (nn.Conv3d, (3, 4, (1, 2)), {}, ValueError, r"Conv3d: `kernel_size` must have 3 entries"),
    (nn.ConvTranspose2d, (3, 4, 3), {"stride": 2, "output_padding": 2}, ValueError,
     r"ConvTranspose2d: `output_padding` must be < max\(stride, dilation\)"),
    (nn.ConvTranspose2d, (3, 4, 3), {"padding_mode": "reflect"}, ValueError, r"`padding_mode` must be 'zeros'"),
    (nn.ConvTranspose2d, (3, 4, 3), {"padding": "same", "output_padding": 1, "stride": 2}, ValueError,
     r"`output_padding` must be 0 with a string padding"),
    (nn.ConvTranspose1d, (3, 4, 3), {"groups": 2}, ValueError, r"ConvTranspose1d: `groups` must divide in_channels=3"),
    (nn.ConvTranspose3d, (2, 4, 3), {"padding": -1}, ValueError, r"`padding` must be >= 0"),
    (nn.Linear, (0, 3), {}, ValueError, r"Linear: `in_features` must be an int >= 1"),
    (nn.Linear, (3, -1), {}, ValueError, r"Linear: `out_features` must be an int >= 1"),
    (nn.Linear, (3, 2), {"rngs": None}, TypeError, r"Linear: `rngs` must be an nnx.Rngs"),
    (nn.Flatten, (1.5,), {}, TypeError, r"Flatten: `start_dim` must be an int"),
    (nn.LeakyReLU, ("a",), {}, TypeError, r"LeakyReLU: `negative_slope` must be a number"),
    (nn.ELU, (float("nan"),), {}, ValueError, r"ELU: `alpha` must be a finite number"),
    (nn.GELU, ("erf",), {}, ValueError, r"GELU: `approximate` must be 'none' or 'tanh'"),
    (nn.Softmax, (), {}, TypeError, r"Softmax: `dim` must be an int"),
    (nn.LogSoftmax, (None,), {}, TypeError, r"LogSoftmax: `dim` must be an int"),
    (nn.ReLU, ("yes",), {}, TypeError, r"ReLU: `inplace` must be a bool"),
    (nn.Dropout, (1.5,), {}, ValueError, r"Dropout: `p` must be a finite number in \[0.0, 1.0\]"),
    (nn.Dropout, (0.5,), {"rngs": 3}, TypeError, r"Dropout: `rngs` must be an nnx.Rngs or None"),
    (nn.BatchNorm2d, (0,), {}, ValueError, r"BatchNorm2d: `num_features` must be an int >= 1"),
    (nn.BatchNorm2d, (3,), {"eps": 0}, ValueError, r"BatchNorm2d: `eps` must be a finite number in \(0.0, inf\]"),
    (nn.BatchNorm1d, (3,), {"momentum": 2}, ValueError, r"BatchNorm1d: `momentum` must be a finite number in \[0.0, 1.0\]"),
    (nn.BatchNorm3d, (3,), {"affine": 1}, TypeError, r"BatchNorm3d: `affine` must be a bool"),
    (nn.Sequential, (nn.ReLU(), "x"), {}, TypeError, r"Sequential: `layers\[1\]` must be callable"),
    (nn.MaxPool2d, (0,), {}, ValueError, r"MaxPool2d: `kernel_size` must be >= 1"),
    (nn.MaxPool2d, (2,), {"stride": (1, 0)}, ValueError, r"MaxPool2d: `stride` must be >= 1"),
    (nn.MaxPool2d, (3,), {"padding": 2}, ValueError, r"MaxPool2d: `padding` must be <= kernel_size // 2"),
    (nn.MaxPool1d, (2,), {"dilation": 0}, ValueError, r"MaxPool1d: `dilation` must be >= 1"),
    (nn.MaxPool3d, (2,), {"ceil_mode": "no"}, TypeError, r"MaxPool3d: `ceil_mode` must be a bool"),
    (nn.MaxPool2d, (2,), {"return_indices": None}, TypeError, r"MaxPool2d: `return_indices` must be a bool"),
    (nn.MaxPool2d, (2,), {"padding": "middle"}, ValueError, r"MaxPool2d: `padding` must be an int, a sequence, or one of"),
    (nn.AvgPool2d, (2,), {"divisor_override": 0}, ValueError, r"AvgPool2d: `divisor_override` must be a non-zero int"),
    (nn.AvgPool1d, ((2, 2),), {}, ValueError, r"AvgPool1d: `kernel_size` must have 1 entries"),
    (nn.AvgPool3d, (2,), {"count_include_pad": 1}, TypeError, r"AvgPool3d: `count_include_pad` must be a bool"),
    (nn.LPPool2d, (0, 2), {}, ValueError, r"LPPool2d: `norm_type` must be a non-zero real number"),
    (nn.LPPool1d, (2, -1), {}, ValueError, r"LPPool1d: `kernel_size` must be >= 1"),
    (nn.AdaptiveAvgPool2d, ((2, 0),), {}, ValueError, r"AdaptiveAvgPool2d: `output_size` entries must be ints >= 1 or None"),
    (nn.AdaptiveMaxPool1d, ((2, 2),), {}, ValueError, r"AdaptiveMaxPool1d: `output_size` must be an int or 1 entries"),
    (nn.AdaptiveMaxPool3d, (2,), {"return_indices": 2}, TypeError, r"AdaptiveMaxPool3d: `return_indices` must be a bool"),
    (nn.MaxUnpool2d, (2,), {"padding": -1}, ValueError, r"MaxUnpool2d: `padding` must be >= 0"),
    (nn.Upsample, (), {}, ValueError, r"Upsample: `size` (or|and) `scale_factor` (must be given|cannot both be given)"),
    (nn.Upsample, (4, 2), {}, ValueError, r"Upsample: `size` (or|and) `scale_factor` (must be given|cannot both be given)"),
    (nn.Upsample, (0,), {}, ValueError, r"Upsample: `size` must be an int >= 1"),
    (nn.Upsample, (None, -2.0), {}, ValueError, r"Upsample: `scale_factor` must be a finite number in \(0.0, inf\]"),
    (nn.Upsample, (None, 2), {"mode": "cubic"}, ValueError, r"Upsample: `mode` must be one of"),
    (nn.Upsample, (None, 2), {"align_corners": True}, ValueError, r"Upsample: `align_corners` can only be set with the interpolating modes"),
    (nn.PixelShuffle, (0,), {}, ValueError, r"PixelShuffle: `upscale_factor` must be an int >= 1"),
    (nn.PixelUnshuffle, (1.5,), {}, TypeError, r"PixelUnshuffle: `downscale_factor` must be an int >= 1"),
    (nn.Unfold, (0,), {}, ValueError, r"Unfold: `kernel_size` must be >= 1"),
    (nn.Unfold, (2,), {"stride": 0}, ValueError, r"Unfold: `stride` must be >= 1"),
    (nn.Fold, ((4, 0), 2), {}, ValueError, r"Fold: `output_size` must be >= 1"),
    (nn.Fold, (4, 2), {"padding": -1}, ValueError, r"Fold: `padding` must be >= 0"),
    (nn.ZeroPad2d, ((1, 2, 3),), {}, ValueError, r"ZeroPad2d: `padding` must be an int, 4 ints in torch's order"),
    (nn.ZeroPad2d, (-1,), {}, ValueError, r"ZeroPad2d: `padding` must be >= 0 on every side \(negative, cropping pads"),
    (nn.ReflectionPad1d, ("same",), {}, TypeError, r"ReflectionPad1d: `padding` must be an int, 2 ints"),
    (nn.ConstantPad3d, (1, "x"), {}, TypeError, r"ConstantPad3d: `value` must be a number"),
    (nn.CircularPad2d, (((1, 1),),), {}, TypeError, r"CircularPad2d: `padding` must be an int, 4 ints"),
]


@pytest.mark.parametrize(("ctor", "args", "kwargs", "exc", "match"), BAD_ARGS,
                         ids=[f"{c[0].__name__}-{i}" for i, c in enumerate(BAD_ARGS)])
def test_constructor_errors(ctor, args, kwargs, exc, match):
    """oracle: torch's argument rules (and jaxconv's vocabulary). Each bad argument -> a clear error."""
    needs_rngs = ctor in (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d,
                          nn.Linear)
    if needs_rngs and "rngs" not in kwargs:
        kwargs = {**kwargs, "rngs": R}
    with pytest.raises(exc, match=match):
        ctor(*args, **kwargs)


def test_padding_vocabulary_in_layers():
    """oracle: jaxconv.shapes. 'same' with stride 2 (torch refuses it) gives ceil(in / s)."""
    layer = nn.Conv2d(2, 3, 4, stride=2, padding="same", rngs=nnx.Rngs(0))
    assert layer(jnp.ones((1, 2, 7, 9))).shape == (1, 3, 4, 5)
    layer = nn.Conv1d(2, 3, 3, padding="causal", dilation=2, rngs=nnx.Rngs(0))
    assert layer(jnp.ones((1, 2, 10))).shape == (1, 3, 10)
    layer = nn.Conv2d(2, 3, 3, padding=((1, 0), (2, 2)), rngs=nnx.Rngs(0))
    assert layer(jnp.ones((2, 7, 9))).shape == (3, 6, 11)


@pytest.mark.parametrize("p", [float("inf"), -float("inf"), 1.5, -2.0])
def test_lppool_layer_takes_what_the_function_takes(p):
    """oracle: jaxconv.lp_pool2d. The layer is a thin shell: every norm_type the function accepts, inf included."""
    x = jnp.asarray(np.random.default_rng(0).uniform(0.5, 2.0, (1, 2, 6, 6)), jnp.float32)
    np.testing.assert_array_equal(np.asarray(nn.LPPool2d(p, 2)(x)), np.asarray(jaxconv.lp_pool2d(x, p, 2)))


@pytest.mark.parametrize("mode", ["nearest", "nearest-exact", "area", "linear", "bilinear", "bicubic", "trilinear"])
@pytest.mark.parametrize("align_corners", [None, False, True])
def test_upsample_accepts_exactly_what_interpolate_accepts(mode, align_corners):
    """oracle: jaxconv.interpolate's own rule (one rule, checked by both): Upsample's constructor raises iff
    interpolate raises for the same mode and align_corners, with the same message."""
    rank = {"linear": 3, "trilinear": 5}.get(mode, 4)
    x = jnp.ones((1, 1) + (4,) * (rank - 2))
    try:
        jaxconv.interpolate(x, scale_factor=2, mode=mode, align_corners=align_corners)
        expected = None
    except ValueError as e:
        expected = str(e).split("`", 1)[1]
    try:
        nn.Upsample(scale_factor=2, mode=mode, align_corners=align_corners)
        got = None
    except ValueError as e:
        got = str(e).split("`", 1)[1]
    assert got == expected
