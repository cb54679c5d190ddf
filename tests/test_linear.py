"""jaxconv.linear: values and gradients against torch's F.linear (float32 and float64), the
weight used in torch's (out, in) layout without a transpose, and every error."""

from __future__ import annotations

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import jaxconv
from jaxconv import nn

torch = pytest.importorskip("torch")  # torch is only the oracle here; [test] installs it, so CI runs these
F = torch.nn.functional

SEED = 9216
TOL = {"float32": dict(rtol=1e-5, atol=1e-6), "float64": dict(rtol=1e-12, atol=1e-13)}
BATCH_SHAPES = [(), (1,), (8,), (2, 3)]


def _rng(*key: int) -> np.random.Generator:
    return np.random.default_rng([SEED, *key])


def _vjp_jax(x, w, b, g):
    """linear(x, w, b) and the gradients of sum(linear(x, w, b) * g) w.r.t. x, w (and b), in one jitted program."""
    def loss(x, w, b):
        return jnp.sum(jaxconv.linear(x, w, b) * g)
    args = (0, 1) if b is None else (0, 1, 2)
    y, grads = jax.jit(lambda x, w, b: (jaxconv.linear(x, w, b), jax.grad(loss, argnums=args)(x, w, b)))(x, w, b)
    return (y, *grads)


def _vjp_torch(x, w, b, g):
    ts = [torch.tensor(a, requires_grad=True) for a in (x, w) + (() if b is None else (b,))]
    y = F.linear(*ts)
    (y * torch.tensor(g)).sum().backward()
    return (y.detach().numpy(), *(t.grad.numpy() for t in ts))


def _case(dtype: str, batch: tuple[int, ...], bias: bool, seed: int, w_shape: tuple[int, ...] | None = None):
    r = _rng(seed)
    cin, cout = int(r.integers(1, 9)), int(r.integers(1, 9))
    w_shape = (cout, cin) if w_shape is None else w_shape
    x = r.standard_normal((*batch, w_shape[-1])).astype(dtype)
    w = r.standard_normal(w_shape).astype(dtype)
    b = r.standard_normal(w_shape[:-1]).astype(dtype) if bias else None
    g = r.standard_normal((*batch, *w_shape[:-1])).astype(dtype)
    return x, w, b, g


def _compare(dtype: str, x, w, b, g) -> None:
    want = _vjp_torch(x, w, b, g)
    if dtype == "float64":
        with jax.enable_x64(True):
            got = [np.asarray(v) for v in _vjp_jax(*(None if a is None else jnp.asarray(a) for a in (x, w, b, g)))]
    else:
        got = [np.asarray(v) for v in _vjp_jax(*(None if a is None else jnp.asarray(a) for a in (x, w, b, g)))]
    names = ["output", "d input", "d weight", "d bias"]
    for name, gv, tv in zip(names, got, want):
        assert gv.dtype == np.dtype(dtype), name
        assert gv.shape == tv.shape, name
        np.testing.assert_allclose(gv, tv, err_msg=name, **TOL[dtype])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("batch", BATCH_SHAPES, ids=[f"batch{b}" for b in BATCH_SHAPES])
def test_values_and_gradients_match_torch(batch, dtype):
    """oracle: torch CPU. Random (in, out) sizes, with and without bias: jit(linear) and the gradients
    for input, weight and bias under jit, float32 to 1e-5 relative, float64 (x64) to 1e-12."""
    for bias in (True, False):
        _compare(dtype, *_case(dtype, batch, bias, len(batch) * 10 + bias))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_one_d_weight_and_scalar_bias(dtype):
    """oracle: torch CPU. A 1-d weight (in_features,) gives an output without the out dim; with a 0-d bias."""
    _compare(dtype, *_case(dtype, (2, 3), False, 1, w_shape=(5,)))  # torch: (2, 3, 5) x (5,) -> (2, 3)
    x, w, b, g = _case(dtype, (), True, 2, w_shape=(4,))  # (4,) x (4,) + () -> ()
    _compare(dtype, x, w, np.asarray(b, dtype).reshape(()), g)
    assert jaxconv.linear(jnp.ones((2, 2, 4)), jnp.ones(4), jnp.float32(1.0)).shape == (2, 2)


def test_bias_broadcasting_as_torch():
    """oracle: torch CPU. A bias that broadcasts to the output without enlarging it ((N, out), (1,), ())."""
    r = _rng(3)
    x, w = r.standard_normal((2, 3), dtype=np.float32), r.standard_normal((4, 3), dtype=np.float32)
    for b_shape in ((2, 4), (1, 4), (1,), ()):
        b = r.standard_normal(b_shape).astype(np.float32)
        want = F.linear(torch.tensor(x), torch.tensor(w), torch.tensor(b)).numpy()
        np.testing.assert_allclose(jaxconv.linear(jnp.asarray(x), jnp.asarray(w), jnp.asarray(b)), want, rtol=1e-6, atol=1e-6)


def test_numpy_inputs_and_bfloat16():
    """oracle: torch CPU. NumPy arrays are accepted; bfloat16 accumulates in float32 and rounds once
    (within one bfloat16 rounding of torch's bfloat16 F.linear)."""
    r = _rng(4)
    x, w, b = (r.standard_normal(s).astype(np.float32) for s in ((3, 16), (5, 16), (5,)))
    np.testing.assert_allclose(jaxconv.linear(x, w, b), F.linear(*map(torch.tensor, (x, w, b))).numpy(), rtol=1e-5, atol=1e-5)
    got = jaxconv.linear(*(jnp.asarray(a, jnp.bfloat16) for a in (x, w, b)))
    assert got.dtype == jnp.bfloat16
    want = F.linear(*(torch.tensor(a).bfloat16() for a in (x, w, b))).float().numpy()
    np.testing.assert_allclose(np.asarray(got, np.float32), want, rtol=1.6e-2, atol=1.6e-2)


def test_vmap_over_weights():
    """oracle: torch.func.vmap of F.linear. vmap over a stack of weights and inputs (per-example layers)."""
    r = _rng(5)
    x, w, b = (r.standard_normal(s).astype(np.float32) for s in ((4, 2, 3), (4, 5, 3), (4, 5)))
    got = jax.vmap(jaxconv.linear)(jnp.asarray(x), jnp.asarray(w), jnp.asarray(b))
    want = torch.func.vmap(F.linear)(*map(torch.tensor, (x, w, b))).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


# ---------------------------------------------------------------------------------------
# Structure: no transposed copy of the weight
# ---------------------------------------------------------------------------------------

def _stablehlo_transposes(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if "stablehlo.transpose" in line]


def _hlo_transposes(text: str) -> list[str]:
    # An instruction whose opcode is transpose (op_name metadata such as "transpose(jvp(...))"
    # is the autodiff transpose pass, not an instruction).
    return [line.strip() for line in text.splitlines() if re.search(r"=\s*\S+\s+transpose\(", line)]


@pytest.mark.parametrize("batch", BATCH_SHAPES, ids=[f"batch{b}" for b in BATCH_SHAPES])
def test_no_transpose_of_the_weight(batch):
    """oracle: the StableHLO that jit hands to XLA, and XLA's optimised HLO.

    The forward program is one dot_general contracting the input's last dim with dim 1 of the
    weight argument, and neither it nor the gradient program has a transpose. The same detector
    sees the transpose of ``x @ w.T`` (XLA would fold it under jit, but an eager call makes the
    copy: what made nn.Linear(9216, 4096) 20x slower than torch at batch 1).
    """
    x, w, b = jnp.ones((*batch, 3)), jnp.ones((4, 3)), jnp.ones(4)
    fwd = jax.jit(jaxconv.linear).lower(x, w, b).as_text()
    assert _stablehlo_transposes(fwd) == []
    dots = [line for line in fwd.splitlines() if "stablehlo.dot_general" in line]
    assert len(dots) == 1, dots
    assert re.search(rf"dot_general %arg0, %arg1, contracting_dims = \[{len(batch)}\] x \[1\]", dots[0]), dots[0]
    grad = jax.jit(jax.grad(lambda x, w, b: jaxconv.linear(x, w, b).sum(), argnums=(0, 1, 2))).lower(x, w, b)
    assert _stablehlo_transposes(grad.as_text()) == []
    assert _hlo_transposes(grad.compile().as_text()) == []
    assert _hlo_transposes(jax.jit(jaxconv.linear).lower(x, w, b).compile().as_text()) == []
    # The detector's power: the transposed form is caught.
    assert _stablehlo_transposes(jax.jit(lambda x, w, b: x @ w.T + b).lower(x, w, b).as_text())


def test_layer_traces_no_transpose():
    """oracle: the jaxpr of an eager nn.Linear call. No transpose (a copy of the weight per call)."""
    layer = nn.Linear(6, 5, rngs=nnx.Rngs(0))
    jaxpr = str(jax.make_jaxpr(lambda x: layer(x))(jnp.ones((2, 6))))
    assert "transpose" not in jaxpr and "dot_general" in jaxpr
    assert "transpose" in str(jax.make_jaxpr(lambda x: x @ layer.weight[...].T)(jnp.ones((2, 6))))


def test_precision_is_passed_to_dot_general():
    """oracle: the lowered StableHLO. precision='highest' reaches the dot_general."""
    text = jax.jit(lambda x, w: jaxconv.linear(x, w, precision="highest")).lower(jnp.ones((2, 3)), jnp.ones((4, 3))).as_text()
    assert "precision = [HIGHEST, HIGHEST]" in text


# ---------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------

X, W, B = jnp.ones((2, 3)), jnp.ones((4, 3)), jnp.ones(4)

ERRORS = [
    # (args, exception, match)
    ((jnp.ones(()), W), ValueError, r"linear: `input` must have rank >= 1: \(\*, in_features\), got 'shape \(\)'"),
    ((jnp.ones((2, 5)), W), ValueError,
     r"linear: `input` must have last dim in_features = weight.shape\[-1\] = 3 \(weight shape \(4, 3\)\), got 'shape \(2, 5\)'"),
    ((X, jnp.ones((4, 3, 1))), ValueError, r"linear: `weight` must have rank 2 \(out_features, in_features\) or 1"),
    ((X, jnp.ones(())), ValueError, r"linear: `weight` must have rank 2"),
    ((X, W, jnp.ones(5)), ValueError, r"linear: `bias` must have shape \(4,\) = \(out_features,\).*got 'shape \(5,\)'"),
    ((X, W, jnp.ones((3, 4))), ValueError, r"linear: `bias` must have shape \(4,\).*without enlarging it"),
    ((X, W, jnp.ones((1, 1, 4))), ValueError, r"linear: `bias` must have shape"),
    ((X, jnp.ones(3), jnp.ones(1)), ValueError, r"linear: `bias` must be 0-d \(a scalar\) with a 1-d weight"),
    ((X, W.astype(jnp.float16)), TypeError,
     r"linear: `weight` must have the input's dtype float32 \(cast one of them, e\.g\. weight\.astype\(input\.dtype\)\), "
     r"got 'float16'"),
    ((X, W, B.astype(jnp.int32)), TypeError, r"linear: `bias` must have the input's dtype float32 \(cast it"),
    ((X > 0, W > 0), TypeError, r"linear: `input` must have a numeric dtype, got 'bool'"),
    (("x", W), TypeError, r"linear: `input` must be a jax.Array or a NumPy array \(convert it with jnp.asarray\(\.\.\.\)\), got 'str'"),
    ((X, [[1.0, 2.0, 3.0]]), TypeError, r"linear: `weight` must be a jax.Array or a NumPy array \(convert it with jnp.asarray\(\.\.\.\)\), got 'list'"),
    ((X, W, 1.0), TypeError, r"linear: `bias` must be a jax.Array or a NumPy array \(convert it with jnp.asarray\(\.\.\.\)\), got 'float'"),
]


@pytest.mark.parametrize(("args", "exc", "match"), ERRORS, ids=[f"err{i}" for i in range(len(ERRORS))])
def test_errors(args, exc, match):
    """oracle: torch's rules (rank >= 1, in_features agree, rank <= 2, bias broadcast, same dtypes), in
    jaxconv's message form; the same error under jit (at trace time) where the arguments are arrays."""
    with pytest.raises(exc, match=match):
        jaxconv.linear(*args)
    if all(isinstance(a, jax.Array) for a in args):
        with pytest.raises(exc, match=match):
            jax.jit(jaxconv.linear)(*args)


def test_torch_tensor_input_says_how_to_convert():
    """oracle: the documented conversion. A torch tensor is a TypeError naming jnp.asarray(t.numpy())."""
    t = torch.ones(2, 3)
    with pytest.raises(TypeError, match=r"linear: `input` must be a jax.Array or a NumPy array \(convert a torch tensor with "
                                        r"jnp.asarray\(t.numpy\(\)\).*got 'torch.Tensor'"):
        jaxconv.linear(t, W)
    with pytest.raises(TypeError, match=r"linear: `weight` .*jnp.asarray\(t.numpy\(\)\)"):
        jaxconv.linear(X, torch.ones(4, 3))
    with pytest.raises(TypeError, match=r"linear: `bias` .*jnp.asarray\(t.numpy\(\)\)"):
        jaxconv.linear(X, W, torch.ones(4))
