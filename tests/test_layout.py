"""jaxconv.nn.layout and jaxconv.policy.graph_layout: a ported torch network held channels-last between the
ops that can computes torch's numbers (outputs, gradients, running statistics) with fewer layout copies; the
choice is per backend (a program lowered for CPU runs channels-last, one exported for cuda or tpu as captured)
and a scoped switch that is part of the jit cache key."""

from __future__ import annotations

import re

import jax
import numpy as np
import optax
import pytest
from flax import nnx

torch = pytest.importorskip("torch")  # torch is the oracle and the source of the models
import torch.nn.functional as F  # noqa: E402
from torch import nn as tnn  # noqa: E402

from jaxconv import nn, policy  # noqa: E402
from tests.test_graph_import import _close, _j, _randomize  # noqa: E402  (shared helpers: tolerance, torch -> jnp, BN statistics)

LAYOUTS = ["captured", "channels_last"]


class Net(tnn.Module):
    """Every kind of step the layout pass meets: a conv from the NCHW input, batch norm, ReLU, a max pool
    (run on the logical value), a depthwise conv, hardswish, squeeze-and-excitation (a global average pool,
    1x1 convs, sigmoid, a (N, C, 1, 1) scale), a residual add, a lower-rank (C, 1, 1) operand, a permute
    to NHWC and back, a global average pool, flatten, dropout and a linear head; two outputs."""

    def __init__(self, p: float = 0.0) -> None:
        super().__init__()
        self.stem = tnn.Conv2d(3, 8, 3, stride=2, padding=1, bias=False)
        self.bn = tnn.BatchNorm2d(8)
        self.dw = tnn.Conv2d(8, 8, 3, padding=1, groups=8, bias=False)
        self.bn2 = tnn.BatchNorm2d(8)
        self.se1, self.se2 = tnn.Conv2d(8, 4, 1), tnn.Conv2d(4, 8, 1)
        self.pw = tnn.Conv2d(8, 8, 1)
        self.shift = tnn.Parameter(torch.randn(8, 1, 1))
        self.ln = tnn.LayerNorm(8)
        self.drop = tnn.Dropout(p)
        self.fc = tnn.Linear(8, 5)

    def forward(self, x):
        y = F.relu(self.bn(self.stem(x)))
        y = F.max_pool2d(y, 3, 2, 1)
        z = F.hardswish(self.bn2(self.dw(y)))
        s = torch.sigmoid(self.se2(F.relu(self.se1(F.adaptive_avg_pool2d(z, 1)))))
        y = y + self.pw(z * s) + self.shift
        y = self.ln(y.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        f = torch.flatten(F.adaptive_avg_pool2d(y, 1), 1)
        return self.fc(self.drop(f)), y


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    tm = _randomize(Net()).eval()
    x = torch.randn(4, 3, 16, 16)
    return tm, nn.from_torch(tm, x), x


def _hlo(jm, x, layout: str | None) -> str:
    jm.eval()
    graphdef, state = nnx.split(jm)
    with policy.graph_layout(layout):
        return jax.jit(lambda s, x: nnx.merge(graphdef, s)(x)[0]).lower(state, x).compile().as_text()


@pytest.mark.parametrize("layout", LAYOUTS)
def test_eval_and_train_step_match_torch_in_either_layout(layout):
    """oracle: torch CPU. Eval outputs (both), then one train-mode step: the loss gradients of every
    parameter and the running statistics torch writes, with the layout forced either way."""
    torch.manual_seed(1)
    tm = _randomize(Net()).eval()  # its own: the train step below changes its running statistics
    x = torch.randn(4, 3, 16, 16)
    jm = nn.from_torch(tm, x)
    with policy.graph_layout(layout):
        logits, feats = jm(_j(x))
    tl, tf = tm(x)
    _close(logits, tl.detach().numpy())
    _close(feats, tf.detach().numpy())

    tm.train()
    jm.train()
    target = torch.randn(4, 5)
    tm.zero_grad()
    F.mse_loss(tm(x)[0], target).backward()
    graphdef, params, rest = nnx.split(jm, nnx.Param, ...)

    def step(p, r, x, t):
        m = nnx.merge(graphdef, p, r)
        grads = nnx.grad(lambda m: optax.l2_loss(m(x)[0], t).mean() * 2)(m)
        return grads, nnx.state(m, nnx.BatchStat)

    with policy.graph_layout(layout):
        grads, stats = jax.jit(step)(params, rest, _j(x), _j(target))
    flat = {".".join(map(str, p)): v[...] for p, v in nnx.to_flat_state(grads)}
    for k, p in tm.named_parameters():
        _close(flat[k], p.grad.numpy(), rel=1e-4)
    new = {".".join(map(str, p)): v[...] for p, v in nnx.to_flat_state(stats)}
    for k, v in tm.state_dict().items():
        if "running" in k:
            _close(new[k], v.numpy())


def test_channels_last_program_has_fewer_layout_copies(model):
    """oracle: the optimised HLO. Held channels-last, the conv chain needs fewer transposes than the
    program as captured (XLA:CPU's convolutions are channels-last: the captured program transposes
    activations in and out); with its depthwise conv, this net's CPU default is the channels-last program."""
    _, jm, x = model
    count = {layout: len(re.findall(r"\btranspose\(", _hlo(jm, _j(x), layout))) for layout in LAYOUTS}
    assert count["channels_last"] < count["captured"], count
    if jax.default_backend() == "cpu":
        assert len(re.findall(r"\btranspose\(", _hlo(jm, _j(x), None))) == count["channels_last"], count


class Dense(tnn.Module):
    """No depthwise conv: a conv, batch norm, ReLU and a 1x1 conv."""

    def __init__(self) -> None:
        super().__init__()
        self.a, self.bn, self.b = tnn.Conv2d(3, 8, 3, padding=1), tnn.BatchNorm2d(8), tnn.Conv2d(8, 4, 1)

    def forward(self, x):
        return self.b(F.relu(self.bn(self.a(x))))


def _conv_layouts(jm, x, platforms: tuple[str, ...], train: bool = False) -> set[str]:
    if train:
        jm.train()
    else:
        jm.eval()
    graphdef, state = nnx.split(jm)
    f = jax.jit(lambda s, x: nnx.merge(graphdef, s)(x))
    text = jax.export.export(f, platforms=platforms)(state, x).mlir_module()
    return set(re.findall(r"dim_numbers = (\[[^\]]*\])x", text))


@pytest.mark.parametrize("platform", ["cuda", "tpu"])
def test_the_cpu_choice_never_reaches_accelerator_programs(model, platform):
    """oracle: the exported StableHLO's convolution layouts, and torch. The CPU runs a program with a
    depthwise conv channels-last (policy.cpu_graph_layout): exported for cpu its convolutions are NHWC,
    exported for cuda or tpu all NCHW, as captured (lax.platform_dependent's branches; the stem's input
    gradient over stride phases is an NCHW convolution of its own on CPU). A network without depthwise
    convs runs as captured on CPU in eval mode, channels-last in train mode (its train program), and as
    captured for cuda/tpu in either. The branched program run here gives torch's numbers."""
    tm, jm, x = model
    assert _conv_layouts(jm, _j(x), (platform,)) == {"[b, f, 0, 1]"}
    assert "[b, 0, 1, f]" in _conv_layouts(jm, _j(x), ("cpu",))
    _close(jm(_j(x))[0], tm(x)[0].detach().numpy())
    torch.manual_seed(0)
    dense = _randomize(Dense()).eval()
    jd = nn.from_torch(dense, x, modes=("eval",))
    assert _conv_layouts(jd, _j(x), ("cpu",)) == {"[b, f, 0, 1]"}
    _close(jd(_j(x)), dense(x).detach().numpy())
    jt = nn.from_torch(dense, x, modes=("train",))
    assert "[b, 0, 1, f]" in _conv_layouts(jt, _j(x), ("cpu",), train=True)
    assert _conv_layouts(jt, _j(x), (platform,), train=True) == {"[b, f, 0, 1]"}


def test_switch_is_part_of_the_jit_cache_key(model):
    """oracle: a trace counter. graph_layout read while tracing: changing it retraces instead of reusing
    the program built under the other choice; the results agree."""
    _, jm, x = model
    jm.eval()
    graphdef, state = nnx.split(jm)
    traces = []

    @jax.jit
    def f(s, x):
        traces.append(1)
        return nnx.merge(graphdef, s)(x)[0]

    outs = {}
    for layout in ("captured", "channels_last", "captured"):
        with policy.graph_layout(layout):
            outs[layout] = f(state, _j(x))
    assert len(traces) == 2
    _close(outs["channels_last"], outs["captured"])
    with pytest.raises(ValueError, match=r"graph_layout: unknown layout 'nhwc'; one of \('captured', 'channels_last'\)"):
        with policy.graph_layout("nhwc"):
            pass


def test_dropout_draws_the_same_masks_in_either_layout():
    """oracle: the program as captured. Train-mode dropout takes one key per call from rngs and folds
    in each draw's index, so both layouts (and the auto choice, branched per platform) draw the same
    masks; calls differ."""
    torch.manual_seed(2)
    tm = _randomize(Net(p=0.5)).train()
    x = torch.randn(4, 3, 16, 16)
    outs = {}
    for layout in (*LAYOUTS, None):
        jm = nn.from_torch(tm, x, rngs=nnx.Rngs(dropout=5))
        with policy.graph_layout(layout):
            outs[layout] = (jm(_j(x))[0], jm(_j(x))[0])
    _close(outs["channels_last"][0], outs["captured"][0])
    _close(outs[None][1], outs["captured"][1])
    assert not np.allclose(outs["captured"][0], outs["captured"][1])


@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v2"])
def test_torchvision_networks_channels_last_match_torch(name):
    """oracle: torch CPU. A whole torchvision network (random init, randomised batch-norm statistics)
    in eval mode, forced channels-last: ResNet's stem, max pool, residual adds and 1x1 downsampling;
    MobileNetV2's depthwise and strided depthwise convs and ReLU6. Batch 2, 64x64."""
    from tests.torchvision_compat import import_torchvision

    torch.manual_seed(3)
    tm = _randomize(getattr(import_torchvision().models, name)(weights=None)).eval()
    x = torch.randn(2, 3, 64, 64)
    jm = nn.from_torch(tm, x, modes=("eval",))
    with policy.graph_layout("channels_last"):
        got = jm(_j(x))
    _close(got, tm(x).detach().numpy(), rel=1e-4)
