"""Hand-written torch CNNs (ordinary ``nn.Module`` subclasses with their own ``forward``) for
``tests/test_graph_import_models.py``: the constructs a graph importer meets in real code but
torchvision's models lack (shape arithmetic in forward, functional calls with keywords, in-place
ops, integer/bool/non-persistent buffers, shared modules, tuple/dict outputs, ...).

Written from the PyTorch documentation only (not from jaxconv's sources). Every model here runs in
torch and is captured by ``torch.export.export(model, args, strict=False)``, except
``UncapturableModel`` (data-dependent Python control flow). ``UnsupportedModel`` is capturable but
uses two constructs (``torch.fft.rfft2`` and ``torch.linalg.svd``) that a CNN importer is not
expected to support.

``CASES`` lists every portable model with its example inputs and the properties the tests need.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

# ---------------------------------------------------------------------------------------
# Models
# ---------------------------------------------------------------------------------------

def pad_same(x: torch.Tensor, k: int, s: int, d: int = 1) -> torch.Tensor:
    """TensorFlow's "SAME" padding computed from ``x.shape`` (timm's ``pad_same``): the total pad
    of each spatial dim is ``max((ceil(i / s) - 1) * s + (k - 1) * d + 1 - i, 0)``, the odd pixel
    going to the bottom/right."""
    ih, iw = x.shape[-2:]
    ph = max((-(-ih // s) - 1) * s + (k - 1) * d + 1 - ih, 0)
    pw = max((-(-iw // s) - 1) * s + (k - 1) * d + 1 - iw, 0)
    return F.pad(x, [pw // 2, pw - pw // 2, ph // 2, ph - ph // 2])


class SamePadNet(nn.Module):
    """TF-"SAME" strided convs (pad computed from ``x.shape`` then ``F.pad`` + a pad-0 conv), BN,
    Hardswish; stride 2 on odd sizes makes the pad asymmetric."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, stride=2, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.act = nn.Hardswish()
        self.conv2 = nn.Conv2d(8, 8, 4, stride=2)  # even kernel: pad total is odd on even input too
        self.conv3 = nn.Conv2d(8, 6, 3, stride=1, dilation=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act(self.bn1(self.conv1(pad_same(x, 3, 2))))
        x = F.relu(self.conv2(pad_same(x, 4, 2)))
        return self.conv3(pad_same(x, 3, 1, d=2))


class ChunkSplitShuffleNet(nn.Module):
    """``torch.chunk``, ``torch.split`` with a sizes list, ``Tensor.split`` with an int, a
    ShuffleNet channel shuffle by view/transpose/contiguous/view, ``torch.cat``."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 12, 3, padding=1)
        self.dw = nn.Conv2d(6, 6, 3, padding=1, groups=6)
        self.pw = nn.Conv2d(10, 8, 1)

    @staticmethod
    def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
        b, c, h, w = x.size()
        x = x.view(b, groups, c // groups, h, w)
        x = torch.transpose(x, 1, 2).contiguous()
        return x.view(b, -1, h, w)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        a, b = torch.chunk(x, 2, dim=1)
        b = self.dw(F.relu(b))
        x = self.channel_shuffle(torch.cat((a, b), dim=1), 2)
        p, q, r = torch.split(x, [2, 4, 6], dim=1)
        q1, q2 = q.split(2, dim=1)
        x = torch.cat([r, q2 * torch.sigmoid(q1), p], 1)
        return self.pw(x)


class InplaceNet(nn.Module):
    """In-place ops: ``x += y``, ``x.relu_()``, ``F.relu(x, inplace=True)``, ``x.mul_(2)``,
    ``nn.ReLU(inplace=True)``, ``z.add_(x)``, ``Tensor.clamp_``."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1)
        self.conv3 = nn.Conv2d(8, 8, 1)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(x)
        y = self.conv2(F.relu(x))
        x += y
        x.relu_()
        z = self.conv3(x)
        z.mul_(2)
        z.add_(x)
        z = F.relu(z, inplace=True)
        w = (z - 0.5).clamp_(max=3.0)
        return self.relu(w)


class FunctionalNet(nn.Module):
    """Functional calls with keyword arguments on module-owned ``nn.Parameter``s:
    ``F.conv2d(..., bias=, stride=2, padding=1, groups=2)``, ``F.max_pool2d(kernel_size=3,
    stride=2, padding=1, ceil_mode=True)``, ``F.avg_pool2d(..., count_include_pad=False,
    ceil_mode=True)``, ``F.pad(mode="reflect")``, ``F.conv_transpose2d``, ``F.adaptive_avg_pool2d``,
    ``F.leaky_relu(negative_slope=)``, ``F.gelu``, ``F.silu``, ``F.linear``."""

    def __init__(self) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.w = nn.Parameter(torch.randn(8, 2, 3, 3, generator=g) * 0.3)     # groups=2 on 4 channels
        self.b = nn.Parameter(torch.randn(8, generator=g) * 0.1)
        self.wt = nn.Parameter(torch.randn(8, 6, 3, 3, generator=g) * 0.2)  # conv_transpose: (Cin, Cout/groups, kH, kW)
        self.bt = nn.Parameter(torch.randn(6, generator=g) * 0.1)
        self.fc_w = nn.Parameter(torch.randn(5, 6 * 3 * 3, generator=g) * 0.1)
        self.fc_b = nn.Parameter(torch.zeros(5))
        self.stem = nn.Conv2d(3, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)                                                           # 4 channels
        x = F.conv2d(x, self.w, bias=self.b, stride=2, padding=1, groups=2)  # 8 ch, ceil(h/2)
        x = F.leaky_relu(x, negative_slope=0.1)
        y = F.max_pool2d(x, kernel_size=3, stride=2, padding=1, ceil_mode=True)
        z = F.avg_pool2d(x, kernel_size=3, stride=2, padding=1, count_include_pad=False, ceil_mode=True)
        x = F.gelu(y) + F.silu(z)
        x = F.pad(x, (1, 2, 0, 1), mode="reflect")
        x = F.conv_transpose2d(x, self.wt, bias=self.bt, stride=2, padding=1, output_padding=1)
        x = F.adaptive_avg_pool2d(x, (3, 3))
        return F.linear(torch.flatten(x, 1), self.fc_w, self.fc_b)


class UpsampleNet(nn.Module):
    """Two positional inputs; ``F.interpolate(scale_factor=2, mode="bilinear",
    align_corners=False)`` and ``F.interpolate(size=skip.shape[-2:], mode="nearest")`` to an
    odd size that is no integer multiple; ``torch.cat``; ``nn.Upsample``."""

    def __init__(self) -> None:
        super().__init__()
        self.down = nn.Conv2d(8, 8, 3, stride=2, padding=1)
        self.lat = nn.Conv2d(4, 8, 1)
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.out = nn.Conv2d(16, 4, 3, padding=1)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        d = self.down(x)                                                     # x: (B, 8, 2h, 2w) -> (h, w)
        x = x + F.interpolate(d, scale_factor=2, mode="bilinear", align_corners=False)
        x = x + 0.5 * self.up(d)
        x = F.interpolate(x, size=skip.shape[-2:], mode="nearest")
        return self.out(torch.cat([x, self.lat(skip)], dim=1))


class SqueezeExcite(nn.Module):
    def __init__(self, c: int, r: int = 4) -> None:
        super().__init__()
        self.fc1 = nn.Linear(c, c // r)
        self.fc2 = nn.Linear(c // r, c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.fc2(F.relu(self.fc1(x.mean((2, 3)))))
        return x * torch.sigmoid(s)[:, :, None, None]


class SENet(nn.Module):
    """Conv-BN-SiLU, a squeeze-excitation block (``x.mean((2, 3))`` -> Linear -> sigmoid ->
    ``[:, :, None, None]``), an ECA-ish ``x.mean((2, 3), keepdim=True)`` gate, an adaptive avg
    pool + ``torch.flatten(x, 1)`` + Linear head."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 16, 3, stride=2, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(16)
        self.act = nn.SiLU()
        self.se = SqueezeExcite(16)
        self.gate = nn.Conv2d(16, 16, 1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(16, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.se(self.act(self.bn(self.conv(x))))
        x = x * torch.sigmoid(self.gate(x.mean((2, 3), keepdim=True)))
        return self.fc(torch.flatten(self.pool(x), 1))


class BufferNet(nn.Module):
    """An int64 channel-index buffer used with ``index_select``, a bool mask buffer used with
    ``torch.where``, a float buffer, and a non-persistent buffer (absent from state_dict)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.register_buffer("perm", torch.tensor([5, 2, 7, 0, 1, 6, 3, 4, 2, 5], dtype=torch.long))
        self.register_buffer("mask", torch.tensor([True, False, True, True, False, False, True, False, True, False])
                             .view(1, 10, 1, 1))
        self.register_buffer("offset", torch.linspace(-1.0, 1.0, 10).view(1, 10, 1, 1))
        self.register_buffer("scale", torch.full((1, 10, 1, 1), 1.5), persistent=False)
        self.head = nn.Conv2d(10, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.index_select(self.conv(x), 1, self.perm)          # 10 channels, two repeated
        x = torch.where(self.mask, x * self.scale, -x + self.offset)
        return self.head(x)


class SharedTupleNet(nn.Module):
    """A module used twice (the same conv at two points: shared weights, gradients add up) and a
    tuple output of three arrays."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.shared = nn.Conv2d(8, 8, 3, padding=1)
        self.head = nn.Conv2d(8, 2, 1)

    def forward(self, x: torch.Tensor):
        x = F.relu(self.stem(x))
        y = self.shared(x)
        z = self.shared(F.relu(y))
        return y, self.head(z), z.mean((2, 3))


class DictNet(nn.Module):
    """A dict output; a CBAM spatial attention from ``x.mean(1, keepdim=True)`` and
    ``torch.max(x, dim=1, keepdim=True)`` values; ``torch.amax``."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.spatial = nn.Conv2d(2, 1, 7, padding=3)
        self.cls = nn.Linear(8, 3)

    def forward(self, x: torch.Tensor):
        x = F.relu(self.conv(x))
        mx, _ = torch.max(x, dim=1, keepdim=True)
        att = torch.sigmoid(self.spatial(torch.cat([x.mean(1, keepdim=True), mx], dim=1)))
        x = x * att
        return {"features": x, "logits": self.cls(torch.amax(x, dim=(2, 3))), "attention": att}


class NormsActsNet(nn.Module):
    """BatchNorm2d, GroupNorm, LayerNorm over the channel dim after ``permute`` (ConvNeXt style),
    GELU (erf and tanh), SiLU, Hardswish, LeakyReLU, ``x.clamp(min=0, max=6)``, ReLU6,
    ``torch.max(x, dim=1, keepdim=True).values``."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.gn = nn.GroupNorm(4, 8)
        self.dw = nn.Conv2d(8, 8, 5, padding=2, groups=8)
        self.ln = nn.LayerNorm(8, eps=1e-6)
        self.pw = nn.Linear(8, 16)
        self.gelu = nn.GELU()
        self.gelu_tanh = nn.GELU(approximate="tanh")
        self.leaky = nn.LeakyReLU(0.2)
        self.hs = nn.Hardswish()
        self.relu6 = nn.ReLU6()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.leaky(self.bn(self.conv1(x)))
        x = F.silu(self.gn(x))
        y = self.dw(x).permute(0, 2, 3, 1)                    # NHWC
        y = self.gelu(self.pw(self.ln(y))).permute(0, 3, 1, 2)  # back to NCHW, 16 channels
        a, b = y[:, :8], y[:, 8:]
        x = x + self.hs(a).clamp(min=0, max=6) + self.relu6(self.gelu_tanh(b) * 4)
        return torch.cat([x, torch.max(x, dim=1, keepdim=True).values], dim=1)


class DropoutNet(nn.Module):
    """``nn.Dropout`` and ``F.dropout(x, p, training=self.training)`` around BatchNorm convs."""

    def __init__(self, p: float = 0.3) -> None:
        super().__init__()
        self.p = p
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.drop = nn.Dropout(p)
        self.conv2 = nn.Conv2d(8, 8, 3, stride=2, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(8, momentum=0.3)
        self.fc = nn.Linear(8, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.drop(F.relu(self.bn1(self.conv1(x))))
        x = F.relu(self.bn2(self.conv2(x)))
        x = F.dropout(x, self.p, training=self.training)
        return self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))


class DropoutOnly(nn.Module):
    """Just the two dropouts (for the train-mode dropout statistics test)."""

    def __init__(self, p: float = 0.3) -> None:
        super().__init__()
        self.p = p
        self.drop = nn.Dropout(p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.dropout(self.drop(x), self.p, training=self.training)


class ReshapeNet(nn.Module):
    """Patch embedding + token mixing: ``x.flatten(2).transpose(1, 2)``, LayerNorm + Linear on
    tokens, ``transpose(1, 2).reshape(b, c, h, w)`` from ``x.shape``, ``torch.stack`` over a new
    dim, ``x.permute``, ``x.view(x.size(0), -1)`` after an adaptive pool, a Linear head."""

    def __init__(self) -> None:
        super().__init__()
        self.patch = nn.Conv2d(3, 8, 4, stride=4)
        self.norm = nn.LayerNorm(8)
        self.mlp = nn.Linear(8, 8)
        self.conv = nn.Conv2d(8, 8, 3, padding=1)
        self.fc = nn.Linear(8 * 2 * 2, 6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.patch(x)
        b, c, h, w = x.shape
        t = x.flatten(2).transpose(1, 2)                      # (B, HW, C)
        t = t + self.mlp(self.norm(t))
        x = t.transpose(1, 2).reshape(b, c, h, w)
        s = torch.stack([x, self.conv(x)], dim=1)            # (B, 2, C, H, W)
        s = s.permute(0, 2, 1, 3, 4)                           # (B, C, 2, H, W)
        x = s.sum(2) * 0.5 + s[:, :, 1] * s[:, :, 0].tanh()
        x = F.adaptive_max_pool2d(x, 2)
        return self.fc(x.view(x.size(0), -1))


class ConvBNAct(nn.Sequential):
    """A Sequential subclass without its own forward."""

    def __init__(self, cin: int, cout: int, stride: int = 1) -> None:
        super().__init__(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class SeqSubclassNet(nn.Sequential):
    """The whole model a Sequential subclass (no forward) of Sequential subclasses, ending in
    AdaptiveAvgPool2d + Flatten + Linear."""

    def __init__(self) -> None:
        super().__init__(ConvBNAct(3, 8, 2), ConvBNAct(8, 12), nn.MaxPool2d(2, ceil_mode=True),
                         nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten(), nn.Linear(12, 5))


class Inner(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(self.conv(x))


class Block(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.inner = Inner(c)
        self.act = nn.GELU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.act(self.inner(x))


class Stage(nn.Module):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.down = nn.Conv2d(cin, cout, 2, stride=2)
        self.blocks = nn.ModuleList([Block(cout), Block(cout)])
        self.extra = nn.ModuleDict({"norm": nn.GroupNorm(2, cout)})

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.down(x)
        for blk in self.blocks:
            x = blk(x)
        return self.extra["norm"](x)


class DeepNestNet(nn.Module):
    """Submodules nested three levels deep (``stages.1.blocks.0.inner.bn.running_mean``), through
    a ModuleList and a ModuleDict, a loop over a ModuleList in forward."""

    def __init__(self) -> None:
        super().__init__()
        self.stages = nn.ModuleList([Stage(3, 8), Stage(8, 8)])
        self.head = nn.Linear(8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for s in self.stages:
            x = s(x)
        return self.head(x.mean((-2, -1)))


class FixedBatchNet(nn.Module):
    """``x.view(2, -1)`` then a Linear: batch fixed to 2 and spatial to 16x16 by the capture."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, stride=2, padding=1)
        self.fc = nn.Linear(4 * 8 * 8, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(F.relu(self.conv(x)).view(2, -1))


class FixedSpatialNet(nn.Module):
    """``x.reshape(-1, 4 * 8 * 8)`` then a Linear (classic LeNet/AlexNet style): any batch, but
    the spatial size fixed to 16x16 by the Linear's in_features."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, stride=2, padding=1)
        self.fc = nn.Linear(4 * 8 * 8, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(F.relu(self.conv(x)).reshape(-1, 4 * 8 * 8))


class SharedBNNet(nn.Module):
    """One BatchNorm2d applied at two points: in train mode torch updates its running statistics
    at each use (the second from the first's result) and num_batches_tracked by 2 per forward."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.bn(self.conv(x))
        return self.bn(F.relu(y) * 2 + 1)


class CumulativeBNNet(nn.Module):
    """BatchNorm2d(momentum=None) (cumulative moving average, factor 1 / num_batches_tracked):
    torch.export captures its eval mode but not its train mode (``float(num_batches_tracked)``
    is data-dependent)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4, momentum=None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(self.conv(x))


# ---------------------------------------------------------------------------------------
# Models that must not port
# ---------------------------------------------------------------------------------------

class Spectral(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.fft.rfft2(x).abs()


class SvdHead(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, s, _ = torch.linalg.svd(x, full_matrices=False)
        return s


class UnsupportedModel(nn.Module):
    """Capturable by torch.export, but with two constructs a CNN importer does not support:
    ``torch.fft.rfft2`` (in submodule ``spectral``) and ``torch.linalg.svd`` (in ``svd_head``)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.spectral = Spectral()
        self.svd_head = SvdHead()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        f = self.spectral(x)                      # (B, 4, H, W // 2 + 1)
        s = self.svd_head(x)                      # (B, 4, min(H, W))
        return f.mean((2, 3)) + s.mean(-1)


class UncapturableModel(nn.Module):
    """Python control flow on a tensor's value: torch.export cannot capture it."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        if x.sum() > 0:
            return x * 2
        return x - 1


# ---------------------------------------------------------------------------------------
# Cases
# ---------------------------------------------------------------------------------------

Shapes = tuple[tuple[int, ...], ...]


@dataclasses.dataclass(frozen=True)
class Case:
    """A portable model: ``build()`` returns a fresh torch model; ``shapes`` are the example
    inputs' shapes (for the capture); ``other_shapes`` are further input shapes the forward
    allows (batch 1, another spatial size; mostly both at once, to keep compilations few) at
    which the port must agree with torch; ``bad_shapes``
    are shapes the capture fixed against (calling there must raise ValueError)."""

    name: str
    build: Callable[[], nn.Module]
    shapes: Shapes
    other_shapes: tuple[Shapes, ...] = ()
    bad_shapes: tuple[Shapes, ...] = ()
    has_bn: bool = False


def _one(*shape: int) -> Shapes:
    return (tuple(shape),)


CASES: tuple[Case, ...] = (
    Case("same_pad", SamePadNet, _one(2, 3, 17, 15), (_one(1, 3, 17, 15), _one(2, 3, 20, 23)), has_bn=True),
    Case("chunk_split_shuffle", ChunkSplitShuffleNet, _one(2, 3, 16, 16), (_one(1, 3, 21, 18),)),
    Case("inplace", InplaceNet, _one(2, 3, 16, 16), (_one(1, 3, 19, 24),)),
    Case("functional", FunctionalNet, _one(2, 3, 19, 17), (_one(1, 3, 24, 26),)),
    Case("upsample_two_inputs", UpsampleNet, ((2, 8, 16, 16), (2, 4, 21, 19)),
         (((1, 8, 16, 16), (1, 4, 21, 19)), ((2, 8, 12, 20), (2, 4, 9, 31)))),
    Case("squeeze_excite", SENet, _one(2, 3, 20, 20), (_one(1, 3, 27, 16),), has_bn=True),
    Case("buffers", BufferNet, _one(2, 3, 16, 16), (_one(1, 3, 18, 22),)),
    Case("shared_tuple", SharedTupleNet, _one(2, 3, 16, 16), (_one(1, 3, 20, 17),)),
    Case("dict_out", DictNet, _one(2, 3, 16, 16), (_one(1, 3, 23, 19),)),
    Case("norms_acts", NormsActsNet, _one(2, 3, 16, 16), (_one(1, 3, 20, 24),), has_bn=True),
    Case("dropout", DropoutNet, _one(2, 3, 16, 16), (_one(1, 3, 21, 25),), has_bn=True),
    Case("reshape_stack", ReshapeNet, _one(2, 3, 16, 16), (_one(1, 3, 24, 32),)),
    Case("sequential_subclass", SeqSubclassNet, _one(2, 3, 18, 18), (_one(1, 3, 25, 16),),
         has_bn=True),
    Case("deep_nest", DeepNestNet, _one(2, 3, 16, 16), (_one(1, 3, 24, 20),), has_bn=True),
    Case("fixed_batch", FixedBatchNet, _one(2, 3, 16, 16), (), (_one(1, 3, 16, 16), _one(2, 3, 20, 20))),
    Case("fixed_spatial", FixedSpatialNet, _one(2, 3, 16, 16), (_one(1, 3, 16, 16),),
         (_one(2, 3, 20, 20),)),
)

CASES_BY_NAME = {c.name: c for c in CASES}


def make_inputs(shapes: Shapes, seed: int) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(seed)
    return tuple(torch.randn(*s, generator=g) for s in shapes)


def randomize(model: nn.Module, seed: int) -> nn.Module:
    """Non-trivial BatchNorm running statistics and affine parameters of every norm layer, so that
    eval mode (and the affine transform) is really tested; returns the model."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.5)
                m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                m.num_batches_tracked.fill_(7)
            if isinstance(m, (nn.modules.batchnorm._BatchNorm, nn.GroupNorm, nn.LayerNorm)):
                if m.weight is not None:
                    m.weight.copy_(torch.rand(m.weight.shape, generator=g) + 0.5)
                    m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.3)
    return model
