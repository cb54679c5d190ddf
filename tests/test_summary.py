"""jaxconv.nn.summary: shapes, parameters, FLOPs and receptive fields of whole models, abstractly."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

torch = pytest.importorskip("torch")  # torch is the source of the models and the oracle
from torch import nn as tnn  # noqa: E402

from jaxconv import nn  # noqa: E402


def lenet() -> nn.Sequential:
    r = nnx.Rngs(0)
    return nn.Sequential(
        nn.Conv2d(1, 6, kernel_size=5, padding=2, rngs=r), nn.Sigmoid(), nn.AvgPool2d(kernel_size=2, stride=2),
        nn.Conv2d(6, 16, kernel_size=5, rngs=r), nn.Sigmoid(), nn.AvgPool2d(kernel_size=2, stride=2),
        nn.Flatten(), nn.Linear(16 * 5 * 5, 120, rngs=r), nn.Sigmoid(), nn.Linear(120, 84, rngs=r), nn.Sigmoid(),
        nn.Linear(84, 10, rngs=r))


def torch_lenet() -> tnn.Sequential:
    return tnn.Sequential(
        tnn.Conv2d(1, 6, kernel_size=5, padding=2), tnn.Sigmoid(), tnn.AvgPool2d(kernel_size=2, stride=2),
        tnn.Conv2d(6, 16, kernel_size=5), tnn.Sigmoid(), tnn.AvgPool2d(kernel_size=2, stride=2),
        tnn.Flatten(), tnn.Linear(16 * 5 * 5, 120), tnn.Sigmoid(), tnn.Linear(120, 84), tnn.Sigmoid(), tnn.Linear(84, 10))


def test_lenet_summary():
    """oracle: torch CPU (parameter count, per-layer output shapes via forward hooks) and d2l's
    hand formulas for FLOPs (2 * C_out * H_out * W_out * C_in * k * k + bias) and receptive fields."""
    tm = torch_lenet()
    shapes = []
    for m in tm:
        m.register_forward_hook(lambda mod, inp, out: shapes.append(tuple(out.shape)))
    tm(torch.zeros(2, 1, 28, 28))
    s = nn.summary(lenet(), (2, 1, 28, 28))
    assert isinstance(s, str) and repr(s) == str(s)
    assert "Total params: 61,706" in s
    assert s.total_params == sum(p.numel() for p in tm.parameters()) == 61706
    assert [r.output_shape for r in s.rows] == shapes
    assert [r.name for r in s.rows] == [str(i) for i in range(12)]
    assert [r.params for r in s.rows] == [sum(p.numel() for p in m.parameters()) for m in tm]
    b = 2
    conv1 = 2 * b * 6 * 28 * 28 * 1 * 25 + b * 6 * 28 * 28
    conv2 = 2 * b * 16 * 10 * 10 * 6 * 25 + b * 16 * 10 * 10
    fcs = sum(2 * b * i * o + b * o for i, o in ((400, 120), (120, 84), (84, 10)))
    assert [r.flops for r in s.rows if r.flops] == [conv1, conv2, 2 * b * 400 * 120 + b * 120, 2 * b * 120 * 84 + b * 84,
                                                    2 * b * 84 * 10 + b * 10]
    assert s.total_flops == conv1 + conv2 + fcs
    assert f"Total FLOPs: {conv1 + conv2 + fcs:,}" in s
    # conv 5 -> 5; pool 2/2 -> 6 (jump 2); conv 5 -> 6 + 4*2 = 14; pool 2/2 -> 14 + 1*2 = 16 (jump 4).
    assert [r.rf_size for r in s.rows[:6]] == [(5, 5), (5, 5), (6, 6), (14, 14), (14, 14), (16, 16)]
    assert [r.rf_stride for r in s.rows[:6]] == [(1, 1), (1, 1), (2, 2), (2, 2), (2, 2), (4, 4)]
    assert all(r.rf_size is None for r in s.rows[6:])  # after Flatten
    for header in ("Layer", "Type", "Output shape", "Params", "FLOPs", "RF", "RF stride"):
        assert header in s.splitlines()[2]


def test_summary_is_abstract_and_leaves_the_model_alone():
    """oracle: memory and state. A 3 x 2048 x 2048 batch of 512 (about 26 GB of float32 activations)
    is summarised without allocating it, and BatchNorm in train mode keeps its statistics."""
    r = nnx.Rngs(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, rngs=r), nn.BatchNorm2d(8), nn.ReLU(), nn.Dropout(0.5, rngs=r),
                          nn.MaxPool2d(2), nn.Conv2d(8, 8, 3, stride=2, padding="same", rngs=r))
    s = nn.summary(model, (512, 3, 2048, 2048))
    assert s.output_shape == (512, 8, 512, 512)
    assert int(model[1].num_batches_tracked[...]) == 0
    np.testing.assert_array_equal(model[1].running_mean[...], np.zeros(8, np.float32))
    assert not model[1].use_running_average and not model[3].deterministic
    assert s.batch_stats == 8 + 8 + 1
    assert "Batch statistics (not trained): 17" in s
    # The layer classes are restored after the trace.
    assert "wrapped" not in repr(type(model[0]).__call__)


class ResBlock(nnx.Module):
    """A ResNet basic block: the sum makes the input of the last ReLU."""

    def __init__(self, cin: int, cout: int, stride: int = 2, *, rngs: nnx.Rngs) -> None:
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False, rngs=rngs)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False, rngs=rngs)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = (nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False, rngs=rngs), nn.BatchNorm2d(cout))
                         if stride != 1 or cin != cout else nn.Sequential())

    def __call__(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.shortcut(x))


def test_residual_block_rows_and_receptive_field():
    """oracle: hand derivation. Rows in call order named by path; the ReLU after the sum takes the larger
    branch's receptive field (3x3/s2 then 3x3: 3 + 2*2 = 7, jump 2) and is marked as inferred."""
    s = nn.summary(ResBlock(4, 8, rngs=nnx.Rngs(0)), (1, 4, 9, 9))
    assert [r.name for r in s.rows] == ["conv1", "bn1", "relu", "conv2", "bn2", "shortcut.0", "shortcut.1", "relu"]
    assert [r.rf_size for r in s.rows] == [(3, 3), (3, 3), (3, 3), (7, 7), (7, 7), (1, 1), (1, 1), (7, 7)]
    assert [r.rf_stride for r in s.rows] == [(2, 2)] * 8
    assert [r.rf_inferred for r in s.rows] == [False] * 7 + [True]
    assert "7x7*" in s and "* input made outside the layers" in s
    assert s.total_params == 4 * 8 * 9 + 8 * 8 * 9 + 4 * 8 + 3 * 2 * 8
    assert s.rows[0].flops == 2 * 8 * 5 * 5 * 4 * 9
    # With an identity shortcut (an empty Sequential) the sum's receptive field is the main branch's: 5.
    s = nn.summary(ResBlock(4, 4, stride=1, rngs=nnx.Rngs(0)), (1, 4, 6, 6))
    assert s.rows[-1].name == "relu" and s.rows[-1].rf_size == (5, 5) and s.rows[-1].rf_inferred


class Up(nnx.Module):
    def __init__(self, *, rngs: nnx.Rngs) -> None:
        self.up = nn.ConvTranspose2d(8, 4, 2, stride=2, groups=2, rngs=rngs)
        self.conv = nn.Conv2d(8, 4, 3, padding=1, rngs=rngs)

    def __call__(self, x, skip):
        return self.conv(jnp.concatenate([skip, self.up(x, output_size=skip.shape[-2:])], axis=1))


def test_two_inputs_and_transposed_conv_flops():
    """oracle: hand formula. A transposed conv does 2 * N * C_in * H_in * W_in * (C_out / g) * k * k
    multiply-adds plus the bias; after an upsampling the receptive field is undefined ('-')."""
    s = nn.summary(Up(rngs=nnx.Rngs(0)), [(2, 8, 4, 5), (2, 4, 9, 11)])
    up, conv = s.rows
    assert up.output_shape == (2, 4, 9, 11) and conv.output_shape == (2, 4, 9, 11)
    assert up.flops == 2 * 2 * 8 * 4 * 5 * (4 // 2) * 4 + 2 * 4 * 9 * 11
    assert conv.flops == 2 * 2 * 4 * 9 * 11 * 8 * 9 + 2 * 4 * 9 * 11
    assert up.rf_size is None and conv.rf_size is None
    assert "input 0" in s and "input 1" in s


def test_one_dimensional_and_padding_layers():
    """oracle: hand derivation. 1-d stack: reflect pad 2 (size 1), conv k3 d2 (5), max pool k3 s2 (5 + 2 = 7, jump 2),
    adaptive avg pool 8 -> 4 (window 2: 7 + 2 = 9, jump 4)."""
    r = nnx.Rngs(0)
    model = nn.Sequential(nn.ReflectionPad1d(2), nn.Conv1d(2, 3, 3, dilation=2, rngs=r), nn.MaxPool1d(3, 2, padding=1),
                          nn.AdaptiveAvgPool1d(4))
    s = nn.summary(model, (1, 2, 16))
    assert [r.output_shape for r in s.rows] == [(1, 2, 20), (1, 3, 16), (1, 3, 8), (1, 3, 4)]
    assert [r.rf_size for r in s.rows] == [(1,), (5,), (7,), (9,)]
    assert [r.rf_stride for r in s.rows] == [(1,), (1,), (2,), (4,)]


def test_foreign_modules_and_tuple_outputs():
    """oracle: the documented contract. A flax.nnx layer gets a row (its parameters counted, FLOPs '?',
    not in the total); a pool returning indices shows the values' shape in the row, both in the output."""
    r = nnx.Rngs(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3, rngs=r), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nnx.Linear(4, 2, rngs=r))
    s = nn.summary(model, (2, 3, 9, 9))
    assert [r.type for r in s.rows] == ["Conv2d", "AdaptiveAvgPool2d", "Flatten", "flax.Linear"]
    assert s.rows[-1].params == 10 and s.rows[-1].flops is None
    assert s.total_flops == s.rows[0].flops and s.total_params == 112 + 10
    assert "layers marked ? are not jaxconv.nn layers" in s
    # Adaptive pooling 7x7 -> 1x1 is one 7x7 window: 3 + 6 = 9.
    assert s.rows[1].rf_size == (9, 9) and s.rows[1].rf_stride == (7, 7)
    s = nn.summary(nn.Sequential(nn.MaxPool2d(3, 2, 1, return_indices=True)), (2, 3, 9, 9))
    assert s.rows[0].output_shape == (2, 3, 5, 5)
    assert s.output_shape == ((2, 3, 5, 5), (2, 3, 5, 5))
    assert "-> output ((2, 3, 5, 5), (2, 3, 5, 5))" in s


def test_summary_errors():
    """oracle: the documented contract. Bad model, bad shapes, and a failing layer named by its path."""
    with pytest.raises(TypeError, match=r"summary: `model` must be an nnx.Module, got 'function'"):
        nn.summary(lambda x: x, (1, 2))
    for bad in [(), (1, 0, 3), "x", 3, [(1, 2), ()]]:
        with pytest.raises(ValueError, match=r"summary: `input_shape` must be a shape"):
            nn.summary(lenet(), bad)
    with pytest.raises(ValueError, match=r"summary: layer '7' \(Linear\) on input \(1, 576\): Linear: `input` must have "
                                         r"last dim in_features=400"):
        nn.summary(lenet(), (1, 1, 32, 32))
    assert "wrapped" not in repr(nn.Linear.__call__)  # restored after the error too
