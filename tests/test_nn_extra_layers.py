"""jaxconv.nn LayerNorm, GroupNorm, Hardswish, Hardsigmoid, Mish, ChannelShuffle: imported from torch
inside Sequentials (outputs, parameter gradients, state_dict keys), the activations' values and
gradients at their kinks, channel shuffle's permutation, and the constructor and call errors."""

from __future__ import annotations

import contextlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from jaxconv import nn

torch = pytest.importorskip("torch")  # torch is only the oracle here; [test] installs it, so CI runs these
tnn = torch.nn

SEED = 3303


def _np(t) -> np.ndarray:
    return t.detach().numpy()


def _randomize_affine(module) -> None:
    """Non-trivial norm parameters (torch initialises ones and zeros), so that the copy is tested."""
    gen = torch.Generator().manual_seed(SEED)
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, (tnn.LayerNorm, tnn.GroupNorm)):
                if m.weight is not None:
                    m.weight.copy_(torch.rand(m.weight.shape, generator=gen) + 0.5)
                if m.bias is not None:
                    m.bias.copy_(torch.randn(m.bias.shape, generator=gen))


def _models():
    torch.manual_seed(SEED)
    return [
        # a MobileNetV3 / ShuffleNet-style stack: norms, hard activations, channel shuffle
        (tnn.Sequential(tnn.GroupNorm(4, 8), tnn.Hardswish(), tnn.ChannelShuffle(2), tnn.LayerNorm([8, 5, 6]),
                        tnn.Mish(inplace=True), tnn.Hardsigmoid()), (2, 8, 5, 6)),
        # the configurations without parameters or bias, and LayerNorm(int) over the last dim
        (tnn.Sequential(tnn.Linear(6, 8), tnn.LayerNorm(8, elementwise_affine=False), tnn.Hardswish(inplace=True),
                        tnn.Linear(8, 8, bias=False), tnn.LayerNorm(8, eps=1e-3, bias=False)), (3, 4, 6)),
        (tnn.Sequential(tnn.Linear(4, 6), tnn.GroupNorm(3, 3, affine=False), tnn.Mish(), tnn.GroupNorm(3, 3, eps=1e-2, bias=False),
                        tnn.ChannelShuffle(3), tnn.Hardsigmoid(inplace=True)), (2, 3, 4)),
    ]


@pytest.mark.parametrize("case", range(3))
def test_from_torch_sequential(case):
    """oracle: torch CPU. from_torch of a Sequential with the new layers: jitted output (<= 1e-5), the
    gradient of every parameter (<= 1e-4 relative), and exactly torch's state_dict keys."""
    tm, shape = _models()[case]
    _randomize_affine(tm)
    jm = nn.from_torch(tm)
    x = torch.randn(shape, generator=torch.Generator().manual_seed(SEED + case))
    y = tm(x)
    g = torch.randn(y.shape, generator=torch.Generator().manual_seed(case))
    (y * g).sum().backward()
    xj, gj = jnp.asarray(x.numpy()), jnp.asarray(g.numpy())

    @nnx.jit
    def value_and_grad(m):
        def loss(m):
            out = m(xj)
            return jnp.sum(out * gj), out
        return nnx.value_and_grad(loss, has_aux=True)(m)

    (_, out), grads = value_and_grad(jm)
    np.testing.assert_allclose(out, _np(y), rtol=1e-5, atol=1e-5)
    flat = {".".join(map(str, k)): v for k, v in nnx.to_flat_state(grads)}
    want = {k: p.grad.numpy() for k, p in tm.named_parameters()}
    assert set(flat) == set(want)
    for k in want:
        np.testing.assert_allclose(flat[k].get_value(), want[k], rtol=1e-4, atol=1e-5, err_msg=k)
    assert set(nn.to_torch_state_dict(jm)) == set(tm.state_dict())
    assert nn.load_torch_state_dict(jm, tm.state_dict()) == ([], [])
    for tl, jl in zip(tm, jm):
        assert type(jl).__name__ == type(tl).__name__


def test_parameters_are_torch_init_and_names():
    """oracle: torch CPU. weight = ones, bias = zeros, shapes and None-ness as torch's; dtype= is the parameter dtype."""
    for jl, tl in ((nn.LayerNorm((3, 4)), tnn.LayerNorm((3, 4))), (nn.LayerNorm(5, bias=False), tnn.LayerNorm(5, bias=False)),
                   (nn.LayerNorm(5, elementwise_affine=False), tnn.LayerNorm(5, elementwise_affine=False)),
                   (nn.GroupNorm(2, 6), tnn.GroupNorm(2, 6)), (nn.GroupNorm(2, 6, bias=False), tnn.GroupNorm(2, 6, bias=False)),
                   (nn.GroupNorm(3, 6, affine=False), tnn.GroupNorm(3, 6, affine=False))):
        sd = nn.to_torch_state_dict(jl)
        assert set(sd) == set(tl.state_dict())
        for k, v in tl.state_dict().items():
            np.testing.assert_array_equal(sd[k], v.numpy())
    assert nn.LayerNorm(3, dtype=jnp.bfloat16).weight[...].dtype == jnp.bfloat16
    assert nn.GroupNorm(1, 3, dtype=jnp.float16).bias[...].dtype == jnp.float16
    assert nn.LayerNorm([2, 3]).normalized_shape == (2, 3)


ACTIVATIONS = ["Hardswish", "Hardsigmoid", "Mish"]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", ACTIVATIONS)
def test_activation_values_and_gradients(name, dtype):
    """oracle: torch CPU (its forward and its backward formulas). Values to float rounding, gradients
    torch's including the kinks at -3 and 3 (torch's one-sided rules, not autodiff's average), +-0,
    and large |x| (Mish: finite, where autodiff of log1p(exp(x)) gives NaN)."""
    special = [-100.0, -20.0, -3.0, -2.9999, -0.0, 0.0, 2.9999, 3.0, 20.0, 100.0]
    x = np.concatenate([special, np.random.default_rng(SEED).standard_normal(30) * 4]).astype(dtype)
    tx = torch.tensor(x, requires_grad=True)
    ty = getattr(tnn, name)()(tx)
    ty.sum().backward()
    ctx = jax.enable_x64(True) if dtype == "float64" else contextlib.nullcontext()
    with ctx:
        layer = getattr(nn, name)()
        y, grad = jax.jit(lambda x: (layer(x), jax.grad(lambda x: layer(x).sum())(x)))(jnp.asarray(x))
        assert y.dtype == grad.dtype == np.dtype(dtype)
        tol = dict(rtol=1e-6, atol=1e-7) if dtype == "float32" else dict(rtol=1e-14, atol=1e-15)
        np.testing.assert_allclose(np.asarray(y), _np(ty), **tol)
        want = tx.grad.numpy()
        if name == "Hardsigmoid" and dtype == "float64":
            # torch's backward multiplies by the float constant 1.0f / 6.0f even in float64; ours is 1/6.
            assert set(np.unique(want)) == {0.0, float(np.float32(1 / 6))}
            want = np.where(want != 0, 1 / 6, 0.0)
        grad_tol = dict(rtol=2e-6, atol=1e-7) if dtype == "float32" else tol  # Mish: exp/log1p/tanh to a few ulp
        np.testing.assert_allclose(np.asarray(grad), want, **grad_tol)
        assert np.isfinite(np.asarray(grad)).all()


@pytest.mark.parametrize(("shape", "groups"), [((2, 6, 3), 3), ((1, 8, 2, 3), 2), ((2, 6, 1, 2, 2), 6), ((1, 4, 3), 1)])
def test_channel_shuffle(shape, groups):
    """oracle: torch CPU. ChannelShuffle over ranks 3 to 5 is the same permutation (exactly)."""
    x = torch.arange(float(np.prod(shape))).reshape(shape)
    got = nn.from_torch(tnn.ChannelShuffle(groups))(jnp.asarray(x.numpy()))
    np.testing.assert_array_equal(got, tnn.ChannelShuffle(groups)(x).numpy())


def test_supported_and_summary():
    """oracle: the table and the receptive-field rule. The new types are in supported_torch_layers, and
    summary treats them as spatially pointwise (the receptive field continues through them)."""
    assert {"LayerNorm", "GroupNorm", "Hardswish", "Hardsigmoid", "Mish", "ChannelShuffle"} <= set(nn.supported_torch_layers())
    model = nn.Sequential(nn.Conv2d(2, 4, 3, rngs=nnx.Rngs(0)), nn.GroupNorm(2, 4), nn.Hardswish(), nn.ChannelShuffle(2),
                          nn.LayerNorm([4, 6, 6]), nn.Mish(), nn.Hardsigmoid(), nn.Conv2d(4, 4, 3, rngs=nnx.Rngs(1)))
    s = nn.summary(model, (1, 2, 8, 8))
    assert [r.rf_size for r in s.rows] == [(3, 3)] * 7 + [(5, 5)]
    assert s.total_params == (2 * 4 * 9 + 4) + 2 * 4 + 2 * 4 * 6 * 6 + (4 * 4 * 9 + 4)


R = nnx.Rngs(0)

BAD_ARGS = [
    # (constructor, args, kwargs, exception, match)
    (nn.LayerNorm, (0.5,), {}, TypeError, r"LayerNorm: `normalized_shape` must be an int or a non-empty sequence of ints >= 0, got 0.5"),
    (nn.LayerNorm, ((),), {}, ValueError, r"LayerNorm: `normalized_shape` must be an int or a non-empty sequence"),
    (nn.LayerNorm, ((3, -1),), {}, ValueError, r"LayerNorm: `normalized_shape` must be an int or a non-empty"),
    (nn.LayerNorm, ("4",), {}, TypeError, r"LayerNorm: `normalized_shape` must be an int"),
    (nn.LayerNorm, (4, -1e-5), {}, ValueError, r"LayerNorm: `eps` must be a finite number in \[0.0, inf\]"),
    (nn.LayerNorm, (4,), {"elementwise_affine": 1}, TypeError, r"LayerNorm: `elementwise_affine` must be a bool, got 1"),
    (nn.LayerNorm, (4,), {"bias": "no"}, TypeError, r"LayerNorm: `bias` must be a bool"),
    (nn.LayerNorm, (4,), {"dtype": jnp.int32}, TypeError, r"LayerNorm: `dtype` must be a floating dtype"),
    (nn.LayerNorm, (4,), {"rngs": 0}, TypeError, r"LayerNorm: `rngs` must be an nnx.Rngs or None"),
    (nn.GroupNorm, (0, 4), {}, ValueError, r"GroupNorm: `num_groups` must be an int >= 1, got 0"),
    (nn.GroupNorm, (2.0, 4), {}, TypeError, r"GroupNorm: `num_groups` must be an int >= 1, got 2.0"),
    (nn.GroupNorm, (2, 0), {}, ValueError, r"GroupNorm: `num_channels` must be an int >= 1, got 0"),
    (nn.GroupNorm, (3, 4), {}, ValueError, r"GroupNorm: `num_groups` must divide num_channels=4, got 3"),
    (nn.GroupNorm, (2, 4, float("inf")), {}, ValueError, r"GroupNorm: `eps` must be a finite number"),
    (nn.GroupNorm, (2, 4), {"affine": None}, TypeError, r"GroupNorm: `affine` must be a bool"),
    (nn.GroupNorm, (2, 4), {"bias": 0}, TypeError, r"GroupNorm: `bias` must be a bool"),
    (nn.GroupNorm, (2, 4), {"dtype": "int8"}, TypeError, r"GroupNorm: `dtype` must be a floating dtype"),
    (nn.Hardswish, ("yes",), {}, TypeError, r"Hardswish: `inplace` must be a bool"),
    (nn.Hardsigmoid, (1,), {}, TypeError, r"Hardsigmoid: `inplace` must be a bool"),
    (nn.Mish, (None,), {}, TypeError, r"Mish: `inplace` must be a bool"),
    (nn.ChannelShuffle, (0,), {}, ValueError, r"ChannelShuffle: `groups` must be an int >= 1, got 0"),
    (nn.ChannelShuffle, (2.0,), {}, TypeError, r"ChannelShuffle: `groups` must be an int >= 1, got 2.0"),
]


@pytest.mark.parametrize(("ctor", "args", "kwargs", "exc", "match"), BAD_ARGS,
                         ids=[f"{c[0].__name__}-{i}" for i, c in enumerate(BAD_ARGS)])
def test_constructor_errors(ctor, args, kwargs, exc, match):
    """oracle: torch's argument rules. Each bad constructor argument -> jaxconv's error naming the layer and argument."""
    with pytest.raises(exc, match=match):
        ctor(*args, **kwargs)


CALL_ERRORS = [
    # (layer, input, exception, match)
    (nn.LayerNorm(4), jnp.ones((2, 3)), ValueError, r"LayerNorm: `normalized_shape` must equal the input's last 1 dim\(s\)"),
    (nn.LayerNorm((2, 4)), jnp.ones(4), ValueError, r"LayerNorm: `normalized_shape` must equal the input's last 2"),
    (nn.LayerNorm(4, dtype=jnp.float16), jnp.ones((2, 4)), TypeError, r"LayerNorm: `weight` must have the input's dtype float32"),
    (nn.GroupNorm(2, 4), jnp.ones((2, 6, 3)), ValueError, r"GroupNorm: `input` must be \(N, C, \*\) with num_channels=4 channels"),
    (nn.GroupNorm(2, 4), jnp.ones(4), ValueError, r"GroupNorm: `input` must be \(N, C, \*\)"),
    (nn.GroupNorm(4, 4), jnp.ones((1, 4)), ValueError, r"GroupNorm: `input` must have more than 1 value per channel"),
    (nn.GroupNorm(2, 4), jnp.ones((2, 4), jnp.int32), TypeError, r"GroupNorm: `input` must have a floating dtype"),
    (nn.ChannelShuffle(2), jnp.ones((2, 4)), ValueError, r"ChannelShuffle: `input` must have rank >= 3: \(N, C, \*\)"),
    (nn.ChannelShuffle(2), jnp.ones((2, 3, 4)), ValueError, r"ChannelShuffle: `input` must have a channel count divisible by groups=2"),
    (nn.ChannelShuffle(2), "x", TypeError, r"ChannelShuffle: `input` must be a jax.Array or a NumPy array"),
    (nn.Hardswish(), jnp.ones(3, jnp.int32), TypeError, r"Hardswish: `input` must have a floating dtype, got 'int32'"),
    (nn.Mish(), [1.0], TypeError, r"Mish: `input` must be a jax.Array or a NumPy array \(convert it with jnp.asarray\(\.\.\.\)\), got 'list'"),
]


@pytest.mark.parametrize(("layer", "x", "exc", "match"), CALL_ERRORS, ids=[f"{type(c[0]).__name__}-{i}" for i, c in enumerate(CALL_ERRORS)])
def test_call_errors(layer, x, exc, match):
    """oracle: torch's rules (trailing shape, channel count, rank > 2 for channel shuffle, divisibility,
    torch's dtype rule). Errors name the layer and the argument."""
    with pytest.raises(exc, match=match):
        layer(x)
