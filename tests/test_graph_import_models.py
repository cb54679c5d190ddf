"""jaxconv.nn.from_torch(model, *example_inputs): hand-written torch CNNs (``tests/torch_models.py``)
captured by torch.export and ported to Flax NNX, checked against torch CPU: eval outputs under
nnx.jit, state_dict round trip, no mutation of the torch model, re-evaluated shape arithmetic
(and ValueError where the capture fixed a size), train mode (BatchNorm running statistics,
dropout), parameter gradients, float64, and the errors of unportable / uncapturable models.

Written from the PyTorch documentation and the public API contract only (not from the importer's
sources). Every port is made once per model and mode (``functools.cache``); tests that change a
port's state work on ``nnx.clone`` copies.
"""

from __future__ import annotations

import copy
import functools
import re
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

torch = pytest.importorskip("torch")  # torch is only the oracle here; [test] installs it, so CI runs these

from jaxconv import nn as jnn  # noqa: E402
from tests import torch_models as tmods  # noqa: E402

SEED = 20240

ALL = [c.name for c in tmods.CASES]
FLEXIBLE = [c.name for c in tmods.CASES if c.other_shapes]
FIXED = [c.name for c in tmods.CASES if c.bad_shapes]
# Subsets for the costlier checks (each port compiles its own train step / gradient), chosen to
# cover every distinct construct while keeping the file's time small.
TRAIN_CAPTURED = ["dropout", "sequential_subclass"]  # BN (two momenta) + both dropouts; nested Sequential subclasses
TRAIN_SWITCHED = ["dropout", "squeeze_excite"]
# pools / reflect pad / transposed conv / adaptive pool, interpolation, in-place ops, gathers and
# where, a shared module, the three norms, adaptive max pool and token reshapes:
GRADS = ["functional", "upsample_two_inputs", "inplace", "buffers", "shared_tuple", "norms_acts", "reshape_stack"]
assert {*TRAIN_CAPTURED, *TRAIN_SWITCHED} <= {c.name for c in tmods.CASES if c.has_bn} and set(GRADS) <= set(ALL)


# ---------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------

def _build(name: str, *, p0: bool = False) -> torch.nn.Module:
    """A fresh torch model with randomised norm statistics/affines; ``p0``: dropout p = 0."""
    case = tmods.CASES_BY_NAME[name]
    model = tmods.DropoutNet(p=0.0) if (p0 and name == "dropout") else case.build()
    return tmods.randomize(model, SEED + ALL.index(name))


def _inputs(shapes, seed: int = SEED):
    return tmods.make_inputs(shapes, seed)


def _jx(xs):
    return tuple(jnp.asarray(x.numpy()) for x in xs)


# One jitted call for every port: clones of a port (same graph, same shapes) reuse its compilation.
_CALL = nnx.jit(lambda m, *a: m(*a))


def _jit_call(model, *xs):
    return _CALL(model, *_jx(xs))


def _torch_np(out):
    """torch output (tensor / tuple / list / dict) -> the same structure of NumPy arrays."""
    if isinstance(out, torch.Tensor):
        return out.detach().numpy()
    if isinstance(out, dict):
        return {k: _torch_np(v) for k, v in out.items()}
    return tuple(_torch_np(v) for v in out)


def _leaves(out) -> list:
    if isinstance(out, dict):
        return [v for k in sorted(out) for v in _leaves(out[k])]
    if isinstance(out, (tuple, list)):
        return [v for o in out for v in _leaves(o)]
    return [out]


def _assert_close(got, want, rel: float = 1e-5, what: str = "output") -> None:
    """Structure equal to torch's; every array within rel + rel * max|torch|."""
    if isinstance(want, dict):
        assert isinstance(got, dict), f"{what}: torch returns a dict, the port {type(got).__name__}"
        assert set(got) == set(want), f"{what}: keys {sorted(got)} != torch's {sorted(want)}"
        for k in want:
            _assert_close(got[k], want[k], rel, f"{what}[{k!r}]")
        return
    if isinstance(want, tuple):
        assert isinstance(got, (tuple, list)), f"{what}: torch returns a tuple, the port {type(got).__name__}"
        assert len(got) == len(want), f"{what}: {len(got)} outputs, torch {len(want)}"
        for i, (g, w) in enumerate(zip(got, want)):
            _assert_close(g, w, rel, f"{what}[{i}]")
        return
    got = np.asarray(got)
    assert got.shape == want.shape, f"{what}: shape {got.shape}, torch {want.shape}"
    atol = rel + rel * float(np.max(np.abs(want), initial=0.0))
    np.testing.assert_allclose(got, want, rtol=0, atol=atol, err_msg=what)


def _snapshot(model: torch.nn.Module):
    return ({k: v.detach().clone() for k, v in model.state_dict().items()},
            {n: m.training for n, m in model.named_modules()},
            {n: p.requires_grad for n, p in model.named_parameters()})


def _assert_unchanged(model: torch.nn.Module, snap) -> None:
    sd, training, req = snap
    now = model.state_dict()
    assert list(now) == list(sd), "state_dict keys changed"
    for k, v in sd.items():
        assert now[k].dtype == v.dtype and torch.equal(now[k], v), f"{k} changed by the conversion"
    assert {n: m.training for n, m in model.named_modules()} == training, ".training flags changed"
    assert {n: p.requires_grad for n, p in model.named_parameters()} == req, "requires_grad changed"


class Port(NamedTuple):
    name: str
    model: torch.nn.Module  # in eval mode, as captured
    xs: tuple               # the example inputs of the capture
    ported: nnx.Module
    snap: tuple             # the torch model's state before the conversion


@functools.cache
def eval_port(name: str) -> Port:
    model = _build(name).eval()
    xs = _inputs(tmods.CASES_BY_NAME[name].shapes)
    snap = _snapshot(model)
    ported = jnn.from_torch(model, *xs)
    return Port(name, model, xs, ported, snap)


@pytest.fixture(scope="module")
def port(request) -> Port:
    """One eval-mode port per model (module-scoped and parametrised indirectly, so pytest runs a
    model's tests together, on one xdist worker as far as possible)."""
    return eval_port(request.param)


def _over(names):
    return pytest.mark.parametrize("port", names, indirect=True)


# ---------------------------------------------------------------------------------------
# (1) eval outputs
# ---------------------------------------------------------------------------------------

@_over(ALL)
def test_eval_matches_torch(port):
    """oracle: torch CPU. Eval-mode forward (random BatchNorm statistics and norm affines) under
    nnx.jit equals torch's, structure (array / tuple / dict) included, <= 1e-5 + 1e-5 * max|torch|."""
    _, model, xs, ported, _ = port
    assert isinstance(ported, nnx.Module)
    with torch.no_grad():
        want = _torch_np(model(*xs))
    _assert_close(_jit_call(ported, *xs), want)


@_over(ALL)
def test_params_and_buffers_are_nnx_variables(port):
    """oracle: torch CPU (parameter and buffer counts). Every torch parameter element is in an
    nnx.Param (no more, no fewer: a shared module counts once); the persistent buffers are
    nnx.BatchStat (a non-persistent one may be too)."""
    _, model, _, ported, _ = port
    n_param = sum(int(np.size(v)) for v in jax.tree.leaves(nnx.state(ported, nnx.Param)))
    assert n_param == sum(p.numel() for p in model.parameters())
    n_stat = sum(int(np.size(v)) for v in jax.tree.leaves(nnx.state(ported, nnx.BatchStat)))
    persistent = sum(v.numel() for k, v in model.state_dict().items() if k not in dict(model.named_parameters()))
    all_buffers = sum(b.numel() for b in model.buffers())
    assert persistent <= n_stat <= all_buffers, (persistent, n_stat, all_buffers)


# ---------------------------------------------------------------------------------------
# (2) state_dict round trip
# ---------------------------------------------------------------------------------------

@_over(ALL)
def test_to_torch_state_dict_round_trip(port):
    """oracle: torch CPU. to_torch_state_dict(port) has exactly model.state_dict()'s keys (the
    non-persistent buffer excluded) and equal values, shapes and dtype kinds (float / int / bool)."""
    _, model, _, ported, _ = port
    want = model.state_dict()
    got = jnn.to_torch_state_dict(ported)
    assert set(got) == set(want), f"missing {sorted(set(want) - set(got))}, extra {sorted(set(got) - set(want))}"
    for k, v in want.items():
        g = np.asarray(got[k])
        assert isinstance(got[k], np.ndarray), f"{k}: {type(got[k]).__name__}, not a NumPy array"
        assert g.shape == tuple(v.shape), f"{k}: shape {g.shape}, torch {tuple(v.shape)}"
        assert g.dtype.kind == v.numpy().dtype.kind, f"{k}: dtype {g.dtype}, torch {v.dtype}"
        np.testing.assert_array_equal(g, v.numpy(), err_msg=k)


def _perturbed(sd: dict, seed: int) -> dict:
    """Every entry changed: floats scaled and shifted (variances kept positive), integer buffers
    rolled / incremented, bool buffers inverted."""
    g = torch.Generator().manual_seed(seed)
    new = {}
    for k, v in sd.items():
        if v.dtype == torch.bool:
            new[k] = ~v
        elif not v.is_floating_point():
            new[k] = torch.roll(v, 1) if v.dim() else v + 3
        elif k.endswith("running_var"):
            new[k] = v * (0.5 + torch.rand(v.shape, generator=g))
        else:
            new[k] = v * (0.8 + 0.4 * torch.rand(v.shape, generator=g)) + 0.05 * torch.randn(v.shape, generator=g)
    return new


@_over(ALL)
def test_load_torch_state_dict_changes_outputs_like_torch(port):
    """oracle: torch CPU. load_torch_state_dict of a modified state dict (into a clone of the
    port) gives the outputs torch gives after model.load_state_dict of the same dict, and
    to_torch_state_dict then returns that dict."""
    _, model, xs, ported, _ = port
    new_sd = _perturbed(model.state_dict(), SEED + 1)
    tm2 = copy.deepcopy(model)
    tm2.load_state_dict(new_sd)
    with torch.no_grad():
        want, before = _torch_np(tm2(*xs)), _torch_np(model(*xs))
    assert any(not np.allclose(a, b) for a, b in zip(_leaves(want), _leaves(before)))  # the change matters
    jm2 = nnx.clone(ported)
    jnn.load_torch_state_dict(jm2, new_sd)
    _assert_close(_jit_call(jm2, *xs), want, what="after load_torch_state_dict")
    back = jnn.to_torch_state_dict(jm2)
    for k, v in new_sd.items():
        np.testing.assert_array_equal(np.asarray(back[k]), v.numpy(), err_msg=k)
    # The cached port itself is untouched by loading into its clone.
    _assert_close(_jit_call(ported, *xs), before, what="original port after loading into a clone")


# ---------------------------------------------------------------------------------------
# (3) the torch model is not mutated
# ---------------------------------------------------------------------------------------

@_over(ALL)
def test_conversion_does_not_mutate_torch_model(port):
    """oracle: torch CPU (the model's own state before conversion). Converting an eval-mode model
    leaves its state_dict (bitwise, dtypes, keys), every submodule's .training and every
    parameter's requires_grad as they were."""
    _, model, _, _, snap = port
    _assert_unchanged(model, snap)


# ---------------------------------------------------------------------------------------
# (4) shapes re-evaluated per call; fixed sizes refused
# ---------------------------------------------------------------------------------------

@_over(FLEXIBLE)
def test_other_batch_and_spatial_sizes(port):
    """oracle: torch CPU. The port captured at batch 2 runs at batch 1 and at another spatial size
    (odd / non-square; shape arithmetic in forward such as TF-same padding, view(x.size(0), -1),
    interpolate(size=other.shape[-2:]) re-evaluated), jitted, equal to torch."""
    name, model, _, ported, _ = port
    for i, shapes in enumerate(tmods.CASES_BY_NAME[name].other_shapes):
        xs = _inputs(shapes, SEED + 10 + i)
        with torch.no_grad():
            want = _torch_np(model(*xs))
        _assert_close(_jit_call(ported, *xs), want, what=f"at input shapes {shapes}")


@_over(FIXED)
def test_fixed_size_raises_value_error(port):
    """oracle: torch CPU (torch itself fails at these sizes: the forward fixes them). Calling the
    port at such a size raises ValueError naming the captured shape."""
    name, model, _, ported, _ = port
    case = tmods.CASES_BY_NAME[name]
    captured = case.shapes[0]
    # batch fixed too (view(2, -1)): the whole captured shape; else at least (C, H, W).
    dims = captured if name == "fixed_batch" else captured[1:]
    pattern = r"\D{1,4}".join(str(d) for d in dims)
    for shapes in case.bad_shapes:
        xs = _inputs(shapes, SEED + 20)
        with pytest.raises(RuntimeError):  # torch refuses it as well
            model(*xs)
        with pytest.raises(ValueError) as err:
            ported(*_jx(xs))
        assert re.search(pattern, str(err.value)), f"captured shape {captured} not named in: {err.value}"


# ---------------------------------------------------------------------------------------
# (5) train mode
# ---------------------------------------------------------------------------------------

def _stats_close(got_sd: dict, want_sd: dict, what: str) -> None:
    for k, v in want_sd.items():
        w = v.detach().numpy()
        g = np.asarray(got_sd[k])
        if w.dtype.kind in "iub":
            np.testing.assert_array_equal(g, w, err_msg=f"{what}: {k}")
        else:
            np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6 + 1e-5 * float(np.max(np.abs(w), initial=0)),
                                       err_msg=f"{what}: {k}")


def _check_train_steps(tm_train, ported, xs) -> None:
    """Two train-mode forwards (jitted) of the port vs torch: outputs, then running statistics and
    num_batches_tracked; then .eval() on both gives equal outputs from the updated statistics."""
    for i in range(2):
        want = _torch_np(tm_train(*xs))
        _assert_close(_jit_call(ported, *xs), want, what=f"train-mode output, step {i}")
    _stats_close(jnn.to_torch_state_dict(ported), tm_train.state_dict(), "after two train steps")
    tm_train.eval()
    ported.eval()
    with torch.no_grad():
        want = _torch_np(tm_train(*xs))
    _assert_close(_jit_call(ported, *xs), want, what="eval after training steps")


@pytest.mark.parametrize("name", TRAIN_CAPTURED)
def test_train_mode_captured_in_train(name):
    """oracle: torch CPU. A model captured in train mode (dropout p=0) starts in train mode: its
    BatchNorms normalise with batch statistics and update running_mean / running_var (unbiased)
    / num_batches_tracked exactly as torch's train-mode forward does (1e-5 relative); the torch
    model (stats, .training) is not mutated by the capture."""
    model = _build(name, p0=True).train()
    xs = _inputs(tmods.CASES_BY_NAME[name].shapes)
    reference = copy.deepcopy(model)
    snap = _snapshot(model)
    ported = jnn.from_torch(model, *xs, rngs=nnx.Rngs(0))
    _assert_unchanged(model, snap)
    _check_train_steps(reference, ported, xs)


@pytest.mark.parametrize("name", TRAIN_SWITCHED)
def test_train_mode_after_eval_capture(name):
    """oracle: torch CPU. A model captured in eval mode, switched with port.train(), updates the
    BatchNorm running statistics like torch's train-mode forward; .eval() then uses them."""
    model = _build(name, p0=True).eval()
    xs = _inputs(tmods.CASES_BY_NAME[name].shapes)
    ported = jnn.from_torch(model, *xs, rngs=nnx.Rngs(0))
    with torch.no_grad():
        _assert_close(_jit_call(ported, *xs), _torch_np(model(*xs)), what="eval-mode output before .train()")
    ported.train()
    _check_train_steps(copy.deepcopy(model).train(), ported, xs)


def test_train_mode_shared_batchnorm_updated_at_each_use():
    """oracle: torch CPU. A BatchNorm2d used twice in one forward (train mode): torch normalises
    each use with its own batch statistics, updates running_mean / running_var at each use and
    num_batches_tracked by 2 (7 -> 9); the port, one jitted forward, does the same."""
    model = tmods.randomize(tmods.SharedBNNet(), SEED).train()
    xs = _inputs(((2, 3, 16, 16),))
    reference = copy.deepcopy(model)
    ported = jnn.from_torch(model, *xs)
    want = _torch_np(reference(*xs))
    _assert_close(_jit_call(ported, *xs), want, what="train-mode output")
    assert int(reference.bn.num_batches_tracked) == 9
    _stats_close(jnn.to_torch_state_dict(ported), reference.state_dict(), "after one train step")


def test_train_model_whose_train_mode_cannot_be_captured():
    """oracle: torch CPU (torch.export.export(strict=False) captures BatchNorm2d(momentum=None) in
    eval mode but fails in train mode). Converting the model while it is in train mode (the port's
    initial mode) raises TypeError with torch's reason and the custom= hint, at conversion, not at
    the port's first call; in eval mode the same model ports and matches torch."""
    model = tmods.randomize(tmods.CumulativeBNNet(), SEED).train()
    xs = _inputs(((2, 3, 16, 16),))
    with pytest.raises(Exception) as torch_err:
        torch.export.export(model, xs, strict=False)
    reason = next(line.strip() for line in str(torch_err.value).splitlines() if line.strip())
    with pytest.raises(TypeError) as err:
        jnn.from_torch(model, *xs)
    msg = str(err.value)
    assert reason[:40] in msg and "custom=" in msg, msg
    model.eval()
    ported = jnn.from_torch(model, *xs)
    with torch.no_grad():
        _assert_close(_jit_call(ported, *xs), _torch_np(model(*xs)))


def test_dropout_train_mode_draws_from_rngs():
    """oracle: torch docs (nn.Dropout / F.dropout: in training each element is zeroed with
    probability p and the rest scaled by 1/(1-p); identity in eval). Two dropouts p=0.3 on a
    positive input: outputs are 0 or x/0.49, about 51% zeros; successive calls draw new masks;
    the same rng state (a clone) gives the same masks; .eval() is the identity; a port captured in eval
    mode drops out after .train()."""
    p = 0.3
    model = tmods.DropoutOnly(p).train()
    x = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(SEED)) + 0.5
    assert float((model(x) == 0).float().mean()) > 0.3  # torch: dropout active in train mode
    ported = jnn.from_torch(model, x, rngs=nnx.Rngs(0))
    twin = nnx.clone(ported)  # the same rng state
    step = _CALL
    xj = jnp.asarray(x.numpy())
    a, b = np.asarray(step(ported, xj)), np.asarray(step(ported, xj))
    keep = 1 / (1 - p) ** 2
    for out in (a, b):
        kept = out != 0
        np.testing.assert_allclose(out[kept], x.numpy()[kept] * keep, rtol=1e-6)
        assert abs((~kept).mean() - (1 - (1 - p) ** 2)) < 0.07, (~kept).mean()
    assert not np.array_equal(a != 0, b != 0), "two train-mode calls used the same dropout mask"
    np.testing.assert_array_equal(np.asarray(step(twin, xj)), a)
    ported.eval()
    np.testing.assert_array_equal(np.asarray(step(ported, xj)), x.numpy())
    # Captured in eval mode (where torch.export drops the dropouts), then switched with .train().
    late = jnn.from_torch(tmods.DropoutOnly(p).eval(), x, rngs=nnx.Rngs(1))
    np.testing.assert_array_equal(np.asarray(step(late, xj)), x.numpy())
    late.train()
    c = np.asarray(step(late, xj))
    kept = c != 0
    np.testing.assert_allclose(c[kept], x.numpy()[kept] * keep, rtol=1e-6)
    assert abs((~kept).mean() - (1 - (1 - p) ** 2)) < 0.07, (~kept).mean()


# ---------------------------------------------------------------------------------------
# (6) gradients
# ---------------------------------------------------------------------------------------

@nnx.jit
def _GRAD(model, *xs):
    return nnx.grad(lambda m: sum(jnp.sum(leaf ** 2) for leaf in _leaves(m(*xs))))(model)


@_over(GRADS)
def test_param_gradients_match_torch(port):
    """oracle: torch CPU autograd. nnx.grad of sum(output**2) (summed over every output) w.r.t.
    the port's nnx.Params equals torch's .grad of each parameter (mapped by state_dict key via
    to_torch_state_dict of a clone updated with the gradients), 1e-4 relative per tensor; a
    shared module gets the sum over both uses."""
    _, model, xs, ported, _ = port
    tm = copy.deepcopy(model)
    tm.zero_grad()
    sum((leaf ** 2).sum() for leaf in _leaves(tm(*xs))).backward()

    grads = _GRAD(ported, *_jx(xs))
    holder = nnx.clone(ported)
    nnx.update(holder, grads)
    got = jnn.to_torch_state_dict(holder)
    for k, p in tm.named_parameters():
        w = p.grad.numpy()
        np.testing.assert_allclose(np.asarray(got[k]), w, rtol=0, atol=1e-7 + 1e-4 * float(np.max(np.abs(w))),
                                   err_msg=f"d/d {k}")


# ---------------------------------------------------------------------------------------
# dtype
# ---------------------------------------------------------------------------------------

def test_float64_dtype():
    """oracle: torch CPU in float64 (model.double()). dtype=jnp.float64 under x64 makes every
    nnx.Param float64 while the int64 index buffer and the bool mask buffer stay integer / bool,
    and the float64 forward matches torch's float64 forward to 1e-10."""
    model = _build("buffers").eval()
    x = _inputs(tmods.CASES_BY_NAME["buffers"].shapes)[0]
    with jax.enable_x64(True):
        ported = jnn.from_torch(model, x, dtype=jnp.float64)
        params = jax.tree.leaves(nnx.state(ported, nnx.Param))
        assert params and all(v.dtype == jnp.float64 for v in params), [v.dtype for v in params]
        sd = jnn.to_torch_state_dict(ported)
        assert np.asarray(sd["perm"]).dtype.kind == "i" and np.asarray(sd["mask"]).dtype.kind == "b"
        got = ported(jnp.asarray(x.double().numpy()))
        assert got.dtype == jnp.float64
        with torch.no_grad():
            want = copy.deepcopy(model).double()(x.double()).numpy()
        np.testing.assert_allclose(np.asarray(got), want, rtol=0, atol=1e-10 * (1 + np.abs(want).max()))


# ---------------------------------------------------------------------------------------
# (7) errors
# ---------------------------------------------------------------------------------------

def test_unsupported_constructs_listed_at_once():
    """oracle: torch CPU (torch.export captures the model: aten.fft_rfft2 in submodule
    'spectral', aten.linalg_svd in 'svd_head'). One TypeError names both constructs and where
    they are, and hints at custom=."""
    model = tmods.UnsupportedModel().eval()
    x = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(SEED))
    model(x)
    torch.export.export(model, (x,), strict=False)  # capturable: the importer's own refusal is tested
    with pytest.raises(TypeError) as err:
        jnn.from_torch(model, x)
    msg = str(err.value)
    assert re.search("fft", msg, re.I), msg
    assert re.search("svd", msg, re.I), msg
    assert "spectral" in msg and "svd_head" in msg, msg
    assert "custom=" in msg, msg


def test_uncapturable_model_reports_capture_reason():
    """oracle: torch CPU (torch.export.export(strict=False) itself fails on `if x.sum() > 0:`).
    The importer raises TypeError carrying torch's reason and the custom= hint."""
    model = tmods.UncapturableModel().eval()
    x = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(SEED))
    with pytest.raises(Exception) as torch_err:
        torch.export.export(model, (x,), strict=False)
    reason = next(line.strip() for line in str(torch_err.value).splitlines() if line.strip())
    snap = _snapshot(model)
    with pytest.raises(TypeError) as err:
        jnn.from_torch(model, x)
    msg = str(err.value)
    assert "data-dependent" in msg, msg
    assert reason[:40] in msg, f"torch's reason {reason!r} not in: {msg}"
    assert "custom=" in msg, msg
    _assert_unchanged(model, snap)
