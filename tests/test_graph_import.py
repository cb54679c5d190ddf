"""jaxconv.nn.from_torch's graph route (jaxconv.nn.graph_import): modes, transformations, torch-free
running, state dicts, dtypes, sizes, errors. Small hand-written networks; the torchvision zoo is in
tests/test_torchvision_zoo.py, independent hand-written models in tests/test_graph_import_models.py."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

torch = pytest.importorskip("torch")  # torch is the oracle and the source of the models
import torch.nn.functional as F  # noqa: E402
from torch import nn as tnn  # noqa: E402

from jaxconv import nn  # noqa: E402
from jaxconv.nn.graph_import import TorchGraphModule  # noqa: E402


class Net(tnn.Module):
    """Conv-BN-ReLU, a residual add, dropout, a dict output, TF-style padding from x.shape."""

    def __init__(self, p: float = 0.0) -> None:
        super().__init__()
        self.stem = tnn.Conv2d(3, 8, 3, stride=2)
        self.bn = tnn.BatchNorm2d(8)
        self.conv = tnn.Conv2d(8, 8, 3, padding=1, bias=False)
        self.drop = tnn.Dropout(p)
        self.fc = tnn.Linear(8, 5)

    def forward(self, x):
        h, w = x.shape[-2:]
        ph, pw = max((-(-h // 2) - 1) * 2 + 3 - h, 0), max((-(-w // 2) - 1) * 2 + 3 - w, 0)
        x = F.pad(x, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2))
        y = F.relu(self.bn(self.stem(x)))
        y = y + self.conv(y)
        f = torch.flatten(F.adaptive_avg_pool2d(y, 1), 1)
        return {"logits": self.fc(self.drop(f)), "features": y}


def _randomize(m: tnn.Module, seed: int = 0) -> tnn.Module:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for mod in m.modules():
            if isinstance(mod, tnn.BatchNorm2d):
                mod.running_mean.copy_(torch.randn(mod.num_features, generator=g))
                mod.running_var.copy_(torch.rand(mod.num_features, generator=g) + 0.5)
                mod.weight.copy_(torch.rand(mod.num_features, generator=g) + 0.5)
                mod.bias.copy_(torch.randn(mod.num_features, generator=g))
                mod.num_batches_tracked.fill_(3)
    return m


def _j(t: torch.Tensor) -> jax.Array:
    return jnp.asarray(t.detach().numpy())


def _close(a, b, rel: float = 1e-5) -> None:
    b = np.asarray(b)
    np.testing.assert_allclose(np.asarray(a), b, rtol=0, atol=rel + rel * float(np.abs(b).max(initial=0)))


@pytest.fixture(scope="module")
def ported():
    torch.manual_seed(0)
    tm = _randomize(Net()).eval()
    x = torch.randn(2, 3, 15, 15)
    return tm, nn.from_torch(tm, x), x


def test_eval_parity_dict_output_and_sizes(ported):
    """oracle: torch CPU. Dict output, padding computed from x.shape re-evaluated per call: batch 1 and 2,
    odd and even sizes, under nnx.jit."""
    tm, jm, _ = ported
    assert isinstance(jm, TorchGraphModule) and jm.use_running_average
    f = nnx.jit(lambda m, x: m(x))
    for shape in [(2, 3, 15, 15), (1, 3, 15, 15), (2, 3, 20, 17)]:
        x = torch.randn(*shape)
        got, want = f(jm, _j(x)), tm(x)
        assert set(got) == {"logits", "features"}
        for k in got:
            _close(got[k], want[k].detach().numpy())


def test_state_dict_keys_values_and_round_trip(ported, tmp_path):
    """oracle: torch's state_dict. Exactly torch's keys, values and dtypes; load_torch_state_dict from a
    mapping and from a .safetensors file changes the outputs as torch's load_state_dict does."""
    tm, jm, x = ported
    sd, want = nn.to_torch_state_dict(jm), tm.state_dict()
    assert list(sorted(sd)) == sorted(want)
    for k in want:
        assert sd[k].dtype == want[k].numpy().dtype, k
        np.testing.assert_array_equal(sd[k], want[k].numpy())
    assert isinstance(jm.bn.running_mean, nnx.BatchStat) and isinstance(jm.stem.weight, nnx.Param)
    other = _randomize(Net(), seed=1).eval()
    from safetensors.numpy import save_file

    path = tmp_path / "w.safetensors"
    save_file({k: v.numpy() for k, v in other.state_dict().items()}, str(path))
    clone = nnx.clone(jm)
    assert nn.load_torch_state_dict(clone, str(path)) == ([], [])
    _close(clone(_j(x))["logits"], other(x)["logits"].detach().numpy())
    nn.load_torch_state_dict(clone, tm.state_dict())
    _close(clone(_j(x))["logits"], tm(x)["logits"].detach().numpy())


def test_conversion_does_not_mutate_torch_model():
    """oracle: the torch model itself. Capturing in both modes changes neither its mode nor its tensors."""
    tm = _randomize(Net()).train()
    before = {k: v.clone() for k, v in tm.state_dict().items()}
    nn.from_torch(tm, torch.randn(2, 3, 9, 9))
    assert tm.training and all(m.training for m in tm.modules())
    for k, v in tm.state_dict().items():
        assert torch.equal(v, before[k]), k


def _torch_step(tm: tnn.Module, x: torch.Tensor, t: torch.Tensor, lr: float) -> dict[str, np.ndarray]:
    opt = torch.optim.SGD(tm.parameters(), lr=lr)
    opt.zero_grad()
    ((tm(x)["logits"] - t) ** 2).mean().backward()
    opt.step()
    return {k: v.detach().numpy().copy() for k, v in tm.state_dict().items()}


def _jax_step(jm: nnx.Module, x: jax.Array, t: jax.Array, lr: float) -> dict[str, np.ndarray]:
    opt = nnx.Optimizer(jm, optax.sgd(lr), wrt=nnx.Param)

    @nnx.jit
    def step(m, opt, x, t):
        grads = nnx.grad(lambda m: jnp.mean((m(x)["logits"] - t) ** 2))(m)
        opt.update(m, grads)

    step(jm, opt, x, t)
    return nn.to_torch_state_dict(jm)


def _check_deltas(before: dict, got: dict, want: dict) -> None:
    for k in want:
        dt = want[k].astype(np.float64) - before[k].astype(np.float64)
        dj = got[k].astype(np.float64) - before[k].astype(np.float64)
        tol = 0.01 * np.abs(dt).max(initial=0) + 1e-5 * max(1.0, float(np.abs(want[k]).max(initial=0)))
        assert np.abs(dj - dt).max(initial=0) <= tol, k


@pytest.mark.parametrize("captured_in", ["train", "eval"])
def test_train_step_matches_torch_whichever_mode_was_captured(captured_in):
    """oracle: torch CPU. One SGD step in train mode (batch statistics, running statistics with momentum and
    unbiased variance, num_batches_tracked): every state_dict tensor changes as torch's. Captured in eval
    mode and switched with .train(), or captured in train mode."""
    torch.manual_seed(1)
    tm = _randomize(Net()).train(captured_in == "train")
    x, t = torch.randn(4, 3, 12, 12), torch.randn(4, 5)
    jm = nn.from_torch(tm, x)
    assert jm.use_running_average == (captured_in == "eval")
    jm.train()
    tm.train()
    before = {k: v.numpy().copy() for k, v in tm.state_dict().items()}
    want = _torch_step(tm, x, t, 0.1)
    got = _jax_step(jm, _j(x), _j(t), 0.1)
    assert got["bn.num_batches_tracked"] == before["bn.num_batches_tracked"] + 1
    _check_deltas(before, got, want)
    jm.eval()
    tm.eval()
    _close(jm(_j(x))["logits"], tm(x)["logits"].detach().numpy())


def test_dropout_draws_from_rngs_in_train_mode_only():
    """oracle: torch's dropout rule (zero with probability p, scale the rest by 1/(1-p)). Train mode draws new
    masks from nnx.Rngs on each call; eval mode is the identity."""
    tm = Net(p=0.5).eval()
    x = torch.randn(2, 3, 9, 9)
    jm = nn.from_torch(tm, x, rngs=nnx.Rngs(dropout=3))
    jm.eval()
    _close(jm(_j(x))["logits"], tm(x)["logits"].detach().numpy())
    jm.train()
    a, b = jm(_j(x))["logits"], jm(_j(x))["logits"]
    assert not np.allclose(a, b)


def test_vmap_over_an_extra_axis_and_grad(ported):
    """oracle: the same calls one at a time, and torch's autograd. nnx.vmap over a leading axis of inputs;
    nnx.grad of the parameters equals torch's gradients."""
    tm, jm, _ = ported
    xs = torch.randn(3, 2, 3, 15, 15)
    out = nnx.vmap(lambda m, x: m(x)["logits"], in_axes=(None, 0))(jm, _j(xs))
    for i in range(3):
        _close(out[i], tm(xs[i])["logits"].detach().numpy())
    x = xs[0]
    tm.zero_grad()
    (tm(x)["logits"] ** 2).sum().backward()
    grads = nnx.grad(lambda m: jnp.sum(m(_j(x))["logits"] ** 2))(jm)
    flat = {".".join(map(str, p)): v[...] for p, v in nnx.to_flat_state(grads)}
    for k, p in tm.named_parameters():
        _close(flat[k], p.grad.numpy(), rel=1e-4)


def test_bfloat16_parameters():
    """oracle: torch CPU in float32, to bfloat16's precision. dtype= casts every floating parameter and buffer."""
    tm = _randomize(Net()).eval()
    x = torch.randn(2, 3, 9, 9)
    jm = nn.from_torch(tm, x, dtype=jnp.bfloat16)
    assert jm.stem.weight[...].dtype == jnp.bfloat16 and jm.bn.num_batches_tracked[...].dtype != jnp.bfloat16
    got = jm(_j(x).astype(jnp.bfloat16))["logits"]
    assert got.dtype == jnp.bfloat16
    want = tm(x)["logits"].detach().numpy()
    np.testing.assert_allclose(np.asarray(got, np.float32), want, atol=0.1 * float(np.abs(want).max()) + 0.05)


def test_fixed_size_raises_naming_the_captured_shape():
    """oracle: the capture. A forward that hard-codes a size fixes that dim; another size raises before XLA."""
    class Fixed(tnn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = tnn.Linear(3 * 4 * 4, 2)

        def forward(self, x):
            return self.fc(x.reshape(2, 3 * 4 * 4))

    tm = Fixed()
    jm = nn.from_torch(tm, torch.randn(2, 3, 4, 4))
    _close(jm(jnp.ones((2, 3, 4, 4))), tm(torch.ones(2, 3, 4, 4)).detach().numpy())
    with pytest.raises(ValueError, match=r"TorchGraphModule: input 0 has shape \(1, 3, 4, 4\), but the capture fixed its shape to \(2, 3, \*, \*\) "
                       r"\('\*' dims are free; captured at \(2, 3, 4, 4\)\)"):
        jm(jnp.ones((1, 3, 4, 4)))
    with pytest.raises(ValueError, match=r"TorchGraphModule: aten.reshape in Fixed at '<root>' \(test_graph_import.py:\d+\) "
                       r"fails for these input shapes \(self=\(2, 3, 4, 5\)\).*captured at input shapes \[\(2, 3, 4, 4\)\]"):
        jm(jnp.ones((2, 3, 4, 5)))
    with pytest.raises(TypeError, match=r"input 0 must be a JAX or NumPy array, got 'Tensor' \(convert with jnp.asarray"):
        jm(torch.ones(2, 3, 4, 4))


def test_unsupported_constructs_listed_at_once():
    """oracle: the captured graph. Every unsupported op is listed with its module path and the custom= hint;
    a model torch.export cannot capture gets the reason."""
    class Spectral(tnn.Module):
        def forward(self, x):
            return torch.fft.fft2(x).real

    class Two(tnn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.spec = Spectral()

        def forward(self, x):
            return torch.special.bessel_j0(self.spec(x))

    with pytest.raises(TypeError, match=r"(?s)cannot port Two: 3 unsupported construct.*aten\.fft_fft2 in Spectral at 'spec'.*aten\.real in "
                       r"Spectral.*aten\.special_bessel_j0 in Two at '<root>'.*custom="):
        nn.from_torch(Two(), torch.randn(2, 3, 4, 4), modes=("eval",))

    class DataDependent(tnn.Module):
        def forward(self, x):
            return x if x.sum() > 0 else -x

    with pytest.raises(TypeError, match=r"(?s)torch.export cannot capture DataDependent in its own \(train\) mode: .*data-dependent.*custom=\{DataDependent"):
        nn.from_torch(DataDependent(), torch.randn(2, 3))


def test_custom_converter_inside_a_graph():
    """oracle: torch CPU. A custom= type inside a captured forward stays opaque in the capture and runs the
    converter's NNX module; the state_dict keys are still torch's."""
    class Spectral(tnn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.c = tnn.Conv2d(3, 3, 1)

        def forward(self, x):
            return torch.fft.fft2(self.c(x)).real

    class Host(tnn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a = tnn.Conv2d(3, 3, 3, padding=1)
            self.s = Spectral()

        def forward(self, x):
            return self.s(F.relu(self.a(x))) + x

    class JSpectral(nnx.Module):
        def __init__(self, c):
            self.c = c

        def __call__(self, x):
            return jnp.fft.fft2(self.c(x)).real

    tm = Host().eval()
    x = torch.randn(2, 3, 6, 6)
    jm = nn.from_torch(tm, x, custom={Spectral: lambda m, convert: JSpectral(convert(m.c))})
    _close(jm(_j(x)), tm(x).detach().numpy())
    assert sorted(nn.to_torch_state_dict(jm)) == sorted(tm.state_dict())


_NO_TORCH = textwrap.dedent("""
    import pickle, sys
    sys.modules["torch"] = None          # any import of torch now fails
    import jax, jax.numpy as jnp, numpy as np, optax
    from flax import nnx
    from jaxconv import nn
    jm, x, want = pickle.load(open(sys.argv[1], "rb"))
    got = nnx.jit(lambda m, x: m(x))(jm, x)
    assert np.allclose(got["logits"], want, atol=1e-5), "eval output"
    jm.train()
    opt = nnx.Optimizer(jm, optax.sgd(0.1), wrt=nnx.Param)
    @nnx.jit
    def step(m, opt, x):
        loss, g = nnx.value_and_grad(lambda m: jnp.mean(m(x)["logits"] ** 2))(m)
        opt.update(m, g)
        return loss
    step(jm, opt, x)
    sd = nn.to_torch_state_dict(jm)
    np.savez(sys.argv[2], **sd)
    assert int(sd["bn.num_batches_tracked"]) == 4
    assert "torch" not in [m.split(".")[0] for m in sys.modules if sys.modules[m] is not None]
    print("ok")
""")


def test_runs_trains_and_saves_without_torch(ported, tmp_path):
    """oracle: torch CPU (expected outputs computed here). A ported model pickled into a process where torch
    cannot be imported: nnx.jit, nnx.grad, an optax step and saving its state all work."""
    tm, jm, x = ported
    path = tmp_path / "m.pkl"
    with open(path, "wb") as f:
        pickle.dump((jm, _j(x), tm(x)["logits"].detach().numpy()), f)
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    r = subprocess.run([sys.executable, "-c", _NO_TORCH, str(path), str(tmp_path / "sd.npz")], capture_output=True,
                       text=True, env=env, timeout=300)
    assert r.returncode == 0 and "ok" in r.stdout, r.stderr[-3000:]
    assert set(np.load(tmp_path / "sd.npz").files) == set(tm.state_dict())


_MESH = textwrap.dedent("""
    import os, pickle, sys
    os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=4"
    import jax, jax.numpy as jnp, numpy as np, optax
    from flax import nnx
    from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
    from jaxconv import nn
    jm, x, t = pickle.load(open(sys.argv[1], "rb"))
    def run(m, x, t):
        m = nnx.clone(m)
        m.train()
        opt = nnx.Optimizer(m, optax.sgd(0.1), wrt=nnx.Param)
        @nnx.jit
        def step(m, opt, x, t):
            loss, g = nnx.value_and_grad(lambda m: jnp.mean((m(x)["logits"] - t) ** 2))(m)
            opt.update(m, g)
            return loss
        return float(step(m, opt, x, t)), nn.to_torch_state_dict(m)
    l1, sd1 = run(jm, x, t)
    mesh = Mesh(np.array(jax.devices()[:4]), ("batch",))
    xs = jax.device_put(x, NamedSharding(mesh, P("batch")))
    ts = jax.device_put(t, NamedSharding(mesh, P("batch")))
    l2, sd2 = run(jm, xs, ts)
    assert len(jax.devices()) == 4
    assert abs(l1 - l2) <= 1e-5 * max(1, abs(l1)), (l1, l2)
    for k in sd1:
        np.testing.assert_allclose(sd2[k], sd1[k], rtol=1e-5, atol=1e-6, err_msg=k)
    print("ok")
""")


def test_data_parallel_step_on_4_devices_equals_unsharded(ported, tmp_path):
    """oracle: the unsharded step. A train step with the batch sharded over a 4-device CPU mesh (XLA's SPMD
    partitioner) gives the same loss and state as on one device."""
    _, jm, _ = ported
    path = tmp_path / "m.pkl"
    with open(path, "wb") as f:
        pickle.dump((jm, jnp.asarray(np.random.default_rng(0).standard_normal((8, 3, 15, 15)), jnp.float32),
                     jnp.asarray(np.random.default_rng(1).standard_normal((8, 5)), jnp.float32)), f)
    r = subprocess.run([sys.executable, "-c", _MESH, str(path)], capture_output=True, text=True, timeout=300,
                       env={**os.environ, "JAX_PLATFORMS": "cpu"})
    assert r.returncode == 0 and "ok" in r.stdout, r.stderr[-3000:]


def test_transposed_weight_matmuls_become_linear():
    """oracle: torch CPU, and the captured program. ``x @ w.t()`` and ``addmm(b, x, w.t())`` on parameters run as
    jaxconv.linear on torch's (out, in) layout: no transposed copy of the weight in the optimised HLO."""
    class MM(tnn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = tnn.Parameter(torch.randn(64, 256))
            self.b = tnn.Parameter(torch.randn(64))
            self.w2 = tnn.Parameter(torch.randn(8, 64))

        def forward(self, x):
            return torch.addmm(self.b, x, self.w.t()) @ self.w2.t()

    tm = MM()
    x = torch.randn(1, 256)
    jm = nn.from_torch(tm, x)
    assert [st.op for st in jm.programs["eval"].steps] == ["linear", "linear"]
    _close(jm(_j(x)), tm(x).detach().numpy())
    hlo = nnx.jit(lambda m, x: m(x)).lower(jm, _j(x)).compile().as_text()
    assert "transpose(" not in hlo


def test_summary_of_a_graph_module(ported):
    """oracle: torch's parameter count and the conv/linear FLOP formula. A row per torch module call or op."""
    tm, jm, _ = ported
    s = nn.summary(jm, (1, 3, 16, 16))
    assert s.total_params == sum(p.numel() for p in tm.parameters())
    assert sum(r.params for r in s.rows) == s.total_params
    names = [r.name for r in s.rows]
    assert {"stem", "bn", "conv", "fc"} <= set(names)
    stem = s.rows[names.index("stem")]
    assert stem.type == "Conv2d" and stem.output_shape == (1, 8, 8, 8)
    assert stem.flops == 2 * 8 * 8 * 8 * 3 * 9 + 8 * 8 * 8
    assert s.rows[names.index("fc")].flops == 2 * 8 * 5 + 5


def test_clamp_and_relu6_gradients_at_the_edges_are_torchs():
    """oracle: torch's autograd. clamp passes the gradient on the closed range, hardtanh/relu6 strictly inside."""
    class C(tnn.Module):
        def forward(self, x):
            return torch.clamp(x, 0.0, 6.0) + F.relu6(x) * 2

    x = torch.tensor([[-1.0, 0.0, 1.0, 6.0, 3.0, 7.0]], requires_grad=True)
    C()(x).sum().backward()
    jm = nn.from_torch(C().eval(), torch.randn(2, 6))
    g = jax.grad(lambda v: jm(v).sum())(_j(x))
    np.testing.assert_array_equal(np.asarray(g), x.grad.numpy())
