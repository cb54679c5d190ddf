"""jaxconv.nn.from_torch / load_torch_state_dict: whole architectures and every supported layer
against torch CPU, error messages, and torch staying an optional import."""

from __future__ import annotations

import subprocess
import sys

import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

torch = pytest.importorskip("torch")  # torch is the source of the models and the oracle
from torch import nn as tnn  # noqa: E402

from jaxconv import nn  # noqa: E402

SEED = 4242


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().numpy()


def _jit_call(model, *xs):
    return nnx.jit(lambda m, *a: m(*a))(model, *(jnp.asarray(x.numpy()) for x in xs))


def _randomize_bn(module: torch.nn.Module, gen: torch.Generator) -> None:
    """Non-trivial BatchNorm statistics and affine parameters, so that eval mode is really tested."""
    for m in module.modules():
        if isinstance(m, tnn.modules.batchnorm._BatchNorm):
            with torch.no_grad():
                m.running_mean.copy_(torch.randn(m.num_features, generator=gen))
                m.running_var.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
                m.weight.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
                m.bias.copy_(torch.randn(m.num_features, generator=gen))
                m.num_batches_tracked.fill_(7)


# ---------------------------------------------------------------------------------------
# Architectures
# ---------------------------------------------------------------------------------------

def d2l_lenet() -> tnn.Module:
    return tnn.Sequential(
        tnn.Conv2d(1, 6, kernel_size=5, padding=2), tnn.Sigmoid(), tnn.AvgPool2d(kernel_size=2, stride=2),
        tnn.Conv2d(6, 16, kernel_size=5), tnn.Sigmoid(), tnn.AvgPool2d(kernel_size=2, stride=2),
        tnn.Flatten(), tnn.Linear(16 * 5 * 5, 120), tnn.Sigmoid(), tnn.Linear(120, 84), tnn.Sigmoid(), tnn.Linear(84, 10))


def test_lenet():
    """oracle: torch CPU. d2l's LeNet imported and run jitted on random input, <= 1e-5."""
    torch.manual_seed(SEED)
    tm = d2l_lenet().eval()
    jm = nn.from_torch(tm)
    x = torch.randn(3, 1, 28, 28)
    np.testing.assert_allclose(_jit_call(jm, x), _np(tm(x)), atol=1e-5, rtol=1e-5)
    assert isinstance(jm, nn.Sequential) and isinstance(jm[2], nn.AvgPool2d)


def vgg_block(num_convs: int, cin: int, cout: int) -> tnn.Module:
    layers: list[tnn.Module] = []
    for _ in range(num_convs):
        layers += [tnn.Conv2d(cin, cout, kernel_size=3, padding=1), tnn.ReLU()]
        cin = cout
    layers.append(tnn.MaxPool2d(kernel_size=2, stride=2, ceil_mode=True))
    return tnn.Sequential(*layers)


def test_vgg_block_ceil_mode():
    """oracle: torch CPU. Two VGG blocks (3x3 convs, 2x2 max pool with ceil_mode) on odd sizes, jitted."""
    torch.manual_seed(SEED + 1)
    tm = tnn.Sequential(vgg_block(2, 3, 8), vgg_block(1, 8, 8)).eval()
    jm = nn.from_torch(tm)
    x = torch.randn(2, 3, 11, 9)  # 11x9 -> 6x5 -> 3x3: both pools use the ceil-mode overhang
    want = _np(tm(x))
    assert want.shape == (2, 8, 3, 3)
    np.testing.assert_allclose(_jit_call(jm, x), want, atol=1e-5, rtol=1e-5)


class TorchBasicBlock(tnn.Module):
    """torchvision's ResNet BasicBlock, with a strided 1x1 projection shortcut."""

    def __init__(self, cin: int, cout: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = tnn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = tnn.BatchNorm2d(cout)
        self.relu = tnn.ReLU()
        self.conv2 = tnn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = tnn.BatchNorm2d(cout)
        self.shortcut = (tnn.Sequential(tnn.Conv2d(cin, cout, 1, stride, bias=False), tnn.BatchNorm2d(cout))
                         if stride != 1 or cin != cout else tnn.Sequential())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.shortcut(x))


class BasicBlock(nnx.Module):
    """The same block in jaxconv.nn, built from converted parts."""

    def __init__(self, conv1, bn1, conv2, bn2, shortcut) -> None:
        self.conv1, self.bn1, self.conv2, self.bn2, self.shortcut = conv1, bn1, conv2, bn2, shortcut
        self.relu = nn.ReLU()

    def __call__(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.shortcut(x))


def convert_basic_block(m: TorchBasicBlock, convert) -> BasicBlock:
    return BasicBlock(convert(m.conv1), convert(m.bn1), convert(m.conv2), convert(m.bn2), convert(m.shortcut))


def test_resnet_basic_block_custom_converter():
    """oracle: torch CPU. A stem + two BasicBlocks (one with a strided 1x1 shortcut), BatchNorm in eval
    with random running statistics, converted with custom={TorchBasicBlock: ...}, jitted."""
    gen = torch.Generator().manual_seed(SEED + 2)
    torch.manual_seed(SEED + 2)
    tm = tnn.Sequential(tnn.Conv2d(3, 8, 3, padding=1, bias=False), tnn.BatchNorm2d(8), tnn.ReLU(),
                        TorchBasicBlock(8, 8), TorchBasicBlock(8, 16, stride=2))
    _randomize_bn(tm, gen)
    tm.eval()
    jm = nn.from_torch(tm, custom={TorchBasicBlock: convert_basic_block})
    assert isinstance(jm[4], BasicBlock) and jm[4].bn1.use_running_average
    x = torch.randn(2, 3, 9, 10)
    want = _np(tm(x))
    assert want.shape == (2, 16, 5, 5)
    np.testing.assert_allclose(_jit_call(jm, x), want, atol=1e-5, rtol=1e-5)
    # The converted model has exactly torch's state_dict keys.
    assert nn.load_torch_state_dict(jm, tm.state_dict()) == ([], [])


class TorchUp(tnn.Module):
    """A U-Net decoder step: transposed conv up, concatenate the skip, two 3x3 convs."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.up = tnn.ConvTranspose2d(cin, cin // 2, kernel_size=2, stride=2)
        self.conv = tnn.Sequential(tnn.Conv2d(cin, cout, 3, padding=1, bias=False), tnn.BatchNorm2d(cout), tnn.ReLU(),
                                   tnn.Conv2d(cout, cout, 3, padding=1), tnn.ReLU())

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = self.up(x, output_size=skip.shape[-2:])
        return self.conv(torch.cat([skip, x], dim=1))


class Up(nnx.Module):
    """The same block built by hand from jaxconv.nn layers, with torch's attribute names."""

    def __init__(self, cin: int, cout: int, *, rngs: nnx.Rngs) -> None:
        self.up = nn.ConvTranspose2d(cin, cin // 2, kernel_size=2, stride=2, rngs=rngs)
        self.conv = nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False, rngs=rngs), nn.BatchNorm2d(cout), nn.ReLU(),
                                  nn.Conv2d(cout, cout, 3, padding=1, rngs=rngs), nn.ReLU())

    def __call__(self, x, skip):
        x = self.up(x, output_size=skip.shape[-2:])
        return self.conv(jnp.concatenate([skip, x], axis=1))


@pytest.mark.parametrize("skip_size", [(8, 10), (9, 11)])
def test_unet_up_block_load_state_dict(skip_size):
    """oracle: torch CPU. ConvTranspose2d (output_size for odd skips) + concatenation, built by hand,
    weights copied with load_torch_state_dict, jitted."""
    gen = torch.Generator().manual_seed(SEED + 3)
    torch.manual_seed(SEED + 3)
    tm = TorchUp(8, 4)
    _randomize_bn(tm, gen)
    tm.eval()
    jm = Up(8, 4, rngs=nnx.Rngs(0))
    jm.eval()
    assert nn.load_torch_state_dict(jm, tm.state_dict()) == ([], [])
    x, skip = torch.randn(2, 8, 4, 5), torch.randn(2, 4, *skip_size)
    want = _np(tm(x, skip))
    assert want.shape == (2, 4, *skip_size)
    np.testing.assert_allclose(_jit_call(jm, x, skip), want, atol=1e-5, rtol=1e-5)


def test_round_trip_to_torch_state_dict():
    """oracle: torch CPU. A model trained in jaxconv goes back into torch with to_torch_state_dict."""
    jm = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1, rngs=nnx.Rngs(1)), nn.BatchNorm2d(3), nn.Tanh(), nn.Flatten(),
                       nn.Linear(3 * 4 * 4, 2, rngs=nnx.Rngs(2)))
    jm(jnp.ones((2, 2, 4, 4)) * jnp.arange(4.0))  # one train-mode step changes the running statistics
    jm.eval()
    tm = tnn.Sequential(tnn.Conv2d(2, 3, 3, padding=1), tnn.BatchNorm2d(3), tnn.Tanh(), tnn.Flatten(), tnn.Linear(48, 2))
    tm.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in nn.to_torch_state_dict(jm).items()})
    tm.eval()
    x = torch.randn(2, 2, 4, 4)
    np.testing.assert_allclose(jm(jnp.asarray(x.numpy())), _np(tm(x)), atol=1e-5, rtol=1e-5)
    assert int(tm[1].num_batches_tracked) == 1


def test_imported_weights_are_copies():
    """oracle: torch CPU. Changing the torch model afterwards (in-place BatchNorm updates) does not
    change the imported model: on CPU jnp.asarray could alias torch's buffers."""
    tm = tnn.Sequential(tnn.Conv2d(1, 2, 3), tnn.BatchNorm2d(2))
    jm = nn.from_torch(tm)
    w0 = np.asarray(jm[0].weight[...]).copy()
    tm(torch.randn(2, 1, 5, 5))  # train mode: updates running_mean in place
    with torch.no_grad():
        tm[0].weight.add_(1.0)
    np.testing.assert_array_equal(jm[1].running_mean[...], np.zeros(2, np.float32))
    np.testing.assert_array_equal(jm[0].weight[...], w0)


# ---------------------------------------------------------------------------------------
# Every supported layer
# ---------------------------------------------------------------------------------------

LAYERS = [
    # (torch module, input shape)
    (tnn.Conv1d(2, 4, 3, stride=2, padding=1, dilation=2), (2, 2, 11)),
    (tnn.Conv2d(4, 6, (3, 2), padding="same", groups=2, padding_mode="reflect"), (2, 4, 6, 7)),
    (tnn.Conv2d(3, 3, 3, padding=2, padding_mode="circular", bias=False), (1, 3, 5, 6)),
    (tnn.Conv3d(2, 2, 2, padding=1, padding_mode="replicate"), (1, 2, 3, 4, 3)),
    (tnn.ConvTranspose1d(2, 4, 3, stride=2, padding=1, output_padding=1), (2, 2, 5)),
    (tnn.ConvTranspose2d(4, 2, 3, stride=2, padding=1, groups=2, dilation=2), (1, 4, 3, 4)),
    (tnn.ConvTranspose3d(2, 2, 2, stride=2, bias=False), (1, 2, 2, 3, 2)),
    (tnn.Linear(5, 3), (4, 5)),
    (tnn.Flatten(0, 1), (2, 3, 4)),
    (tnn.BatchNorm1d(3).eval(), (4, 3, 5)),
    (tnn.Dropout(0.3).eval(), (2, 5)),
    (tnn.Identity(), (2, 3)),
    (tnn.GELU("tanh"), (2, 3)),
    (tnn.MaxPool1d(3, stride=2, padding=1, dilation=2, ceil_mode=True), (2, 3, 10)),
    (tnn.MaxPool3d(2, ceil_mode=True), (1, 2, 3, 5, 4)),
    (tnn.AvgPool1d(3, 2, 1, count_include_pad=False), (2, 2, 9)),
    (tnn.AvgPool2d(3, 2, 1, ceil_mode=True, divisor_override=4), (1, 2, 8, 7)),
    (tnn.AvgPool3d(2, padding=1), (1, 1, 3, 4, 5)),
    (tnn.LPPool1d(2, 3, 2), (1, 2, 9)),
    (tnn.LPPool2d(1.5, 2), (1, 2, 6, 5)),
    (tnn.AdaptiveAvgPool1d(4), (2, 3, 10)),
    (tnn.AdaptiveAvgPool2d((3, None)), (1, 2, 7, 5)),
    (tnn.AdaptiveMaxPool2d((2, 3)), (1, 2, 7, 8)),
    (tnn.AdaptiveMaxPool3d(2), (1, 1, 3, 5, 4)),
    (tnn.ZeroPad2d((1, 2, 0, 3)), (1, 2, 3, 4)),
    (tnn.ConstantPad1d(2, 1.5), (2, 3, 4)),
    (tnn.ReflectionPad2d((2, 1, 1, 2)), (1, 2, 4, 5)),
    (tnn.ReplicationPad3d(1), (1, 1, 2, 3, 2)),
    (tnn.CircularPad1d((2, 3)), (1, 2, 4)),
    (tnn.Upsample(scale_factor=2, mode="nearest"), (1, 2, 3, 4)),
    (tnn.Upsample(size=(5, 7), mode="bilinear", align_corners=False), (1, 2, 3, 4)),
    (tnn.UpsamplingBilinear2d(scale_factor=2), (1, 1, 3, 3)),
    (tnn.PixelShuffle(2), (1, 8, 2, 3)),
    (tnn.PixelUnshuffle(2), (1, 2, 4, 6)),
    (tnn.Unfold(2, dilation=1, padding=1, stride=2), (1, 2, 5, 4)),
    (tnn.Fold((4, 5), 2, padding=1, stride=2), (1, 8, 9)),
]


@pytest.mark.parametrize(("tm", "shape"), LAYERS, ids=[f"{type(m).__name__}-{i}" for i, (m, _) in enumerate(LAYERS)])
def test_each_supported_layer(tm, shape):
    """oracle: torch CPU. from_torch(layer)(x) == layer(x) (<= 1e-5) and its class is the jaxconv.nn twin."""
    gen = torch.Generator().manual_seed(SEED + len(shape))
    x = torch.randn(shape, generator=gen)
    jm = nn.from_torch(tm)
    assert type(jm).__name__ == type(tm).__name__
    np.testing.assert_allclose(jm(jnp.asarray(x.numpy())), _np(tm(x)), atol=1e-5, rtol=1e-5)


def test_max_pool_indices_and_unpool():
    """oracle: torch CPU. MaxPool2d(return_indices=True) -> MaxUnpool2d round trip, imported."""
    tp, tu = tnn.MaxPool2d(2, return_indices=True), tnn.MaxUnpool2d(2)
    x = torch.randn(1, 2, 5, 6, generator=torch.Generator().manual_seed(SEED))
    y, idx = tp(x)
    jy, jidx = nn.from_torch(tp)(jnp.asarray(x.numpy()))
    np.testing.assert_allclose(jy, _np(y), atol=1e-6)
    np.testing.assert_array_equal(jidx, _np(idx))
    want = _np(tu(y, idx, output_size=(5, 6)))
    np.testing.assert_allclose(nn.from_torch(tu)(jy, jidx, output_size=(5, 6)), want, atol=1e-6)


def test_train_mode_is_kept():
    """oracle: torch CPU. A BatchNorm in train mode is imported in train mode and updates its
    running statistics as torch's does; Dropout in train mode draws from the given rngs."""
    tm = tnn.Sequential(tnn.Conv2d(2, 3, 1), tnn.BatchNorm2d(3), tnn.Dropout(0.5))
    jm = nn.from_torch(tm, rngs=nnx.Rngs(dropout=1))
    assert not jm[1].use_running_average and not jm[2].deterministic
    x = torch.randn(4, 2, 3, 3)
    tm(x)
    jm(jnp.asarray(x.numpy()))
    np.testing.assert_allclose(jm[1].running_mean[...], _np(tm[1].running_mean), atol=1e-6)
    np.testing.assert_allclose(jm[1].running_var[...], _np(tm[1].running_var), atol=1e-6)


# ---------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------

class MyBlock(tnn.Module):
    def forward(self, x):
        return x * 2


class MyConv(tnn.Conv2d):
    """A subclass with its own forward: matched by exact type, so it is unsupported."""

    def forward(self, x):
        return super().forward(x).relu()


def test_module_with_own_forward_needs_example_inputs():
    """oracle: the tree's paths and torch CPU. A module with its own forward is captured as a graph:
    without example inputs the error names its type and path; with them it ports (graph route, inside
    the structural Sequential), or a custom converter replaces it."""
    tm = tnn.Sequential(tnn.Conv2d(1, 2, 3), tnn.Sequential(tnn.ReLU(), tnn.ReLU(), tnn.ReLU(), MyBlock()))
    with pytest.raises(TypeError, match=r"from_torch: modules with their own forward \(MyBlock at '1\.3'\) .*example inputs"):
        nn.from_torch(tm)
    with pytest.raises(TypeError, match=r"from_torch: modules with their own forward \(MyConv at '<root>'\)"):
        nn.from_torch(MyConv(1, 1, 1))
    with pytest.raises(TypeError, match="unsupported layer ModuleList at the root: it has no forward"):
        nn.from_torch(tnn.ModuleList([tnn.ReLU()]), torch.randn(1, 1))
    x = torch.randn(2, 1, 5, 5)
    jm = nn.from_torch(tm, x)
    assert isinstance(jm, nn.Sequential) and type(jm[1][3]).__name__ == "TorchGraphModule"
    np.testing.assert_allclose(jm(jnp.asarray(x.numpy())), _np(tm(x)), atol=1e-6)
    mc = MyConv(1, 1, 1)
    np.testing.assert_allclose(nn.from_torch(mc, x)(jnp.asarray(x.numpy())), _np(mc(x)), atol=1e-6)
    # A custom converter makes it work without example inputs.
    jm = nn.from_torch(tm, custom={MyBlock: lambda m, convert: (lambda x: x * 2)})
    np.testing.assert_allclose(jm(jnp.asarray(x.numpy())), _np(tm(x)), atol=1e-6)


def test_from_torch_argument_errors():
    """oracle: the documented contract. Bad arguments and inexpressible configurations."""
    with pytest.raises(TypeError, match=r"from_torch: `module` must be a torch.nn.Module, got 'int'"):
        nn.from_torch(3)
    with pytest.raises(TypeError, match=r"`custom` must be a mapping"):
        nn.from_torch(tnn.ReLU(), custom=[1])
    with pytest.raises(TypeError, match=r"`custom` keys must be torch module types"):
        nn.from_torch(tnn.ReLU(), custom={"ReLU": print})
    with pytest.raises(TypeError, match=r"`custom\[ReLU\]` must be callable"):
        nn.from_torch(tnn.ReLU(), custom={tnn.ReLU: 3})
    with pytest.raises(TypeError, match=r"from_torch: cannot convert Softmax at '0': Softmax: `dim` must be an int"):
        nn.from_torch(tnn.Sequential(tnn.Softmax()))
    with pytest.raises(ValueError, match=r"from_torch: cannot convert ZeroPad2d at the root: .*must be >= 0"):
        nn.from_torch(tnn.ZeroPad2d(-1))


def test_load_state_dict_errors():
    """oracle: torch's load_state_dict contract. Shape mismatch names the parameter; missing and
    unexpected keys are errors (or returned with strict=False); nothing changes on failure."""
    jm = nn.Sequential(nn.Conv2d(1, 2, 3, rngs=nnx.Rngs(0)), nn.BatchNorm2d(2))
    sd = tnn.Sequential(tnn.Conv2d(1, 2, 3), tnn.BatchNorm2d(2)).state_dict()
    w0 = np.asarray(jm[0].weight[...]).copy()
    bad = dict(sd)
    bad["0.weight"] = torch.zeros(2, 1, 5, 5)
    with pytest.raises(ValueError, match=r"load_torch_state_dict: parameter `0.weight` must have shape \(2, 1, 3, 3\), "
                                         r"got \(2, 1, 5, 5\)"):
        nn.load_torch_state_dict(jm, bad)
    np.testing.assert_array_equal(jm[0].weight[...], w0)
    missing = {k: v for k, v in sd.items() if k != "1.running_var"}
    with pytest.raises(ValueError, match=r"missing keys \(in the model, not in state_dict\): 1.running_var"):
        nn.load_torch_state_dict(jm, missing)
    extra = {**sd, "2.weight": torch.ones(1)}
    with pytest.raises(ValueError, match=r"unexpected keys \(in state_dict, not in the model\): 2.weight"):
        nn.load_torch_state_dict(jm, extra)
    assert nn.load_torch_state_dict(jm, {**missing, "2.weight": torch.ones(1)}, strict=False) == (["1.running_var"], ["2.weight"])
    with pytest.raises(TypeError, match=r"`model` must be an nnx\.Module"):
        nn.load_torch_state_dict(tnn.ReLU(), sd)
    with pytest.raises(TypeError, match="`state_dict` must be a mapping"):
        nn.load_torch_state_dict(jm, [1, 2])


def test_supported_layers_list():
    """oracle: the issue's list. Everything it names is in the table."""
    names = set(nn.supported_torch_layers())
    for n in (1, 2, 3):
        for k in ("Conv", "ConvTranspose", "MaxPool", "AvgPool", "AdaptiveAvgPool", "AdaptiveMaxPool", "MaxUnpool",
                  "BatchNorm", "ZeroPad", "ReflectionPad", "ReplicationPad", "CircularPad", "ConstantPad"):
            assert f"{k}{n}d" in names
    assert {"LPPool1d", "LPPool2d", "Upsample", "PixelShuffle", "PixelUnshuffle", "Unfold", "Fold", "Linear", "Flatten",
            "ReLU", "LeakyReLU", "Sigmoid", "Tanh", "GELU", "Identity", "Dropout", "Sequential"} <= names


def test_import_does_not_import_torch():
    """oracle: sys.modules in a fresh interpreter. torch is optional: `import jaxconv.nn` leaves it out."""
    code = "import sys, jaxconv, jaxconv.nn; assert 'torch' not in sys.modules, 'torch imported'; print('ok')"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
