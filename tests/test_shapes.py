"""Window arithmetic (jaxconv.shapes): padding vocabulary, output sizes, params, FLOPs (the CLI: tests/test_cli.py)."""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

import pytest
from jax import lax

torch = pytest.importorskip("torch")  # torch is the oracle
import torch.nn.functional as F  # noqa: E402

from jaxconv import shapes  # noqa: E402
from jaxconv.shapes import (  # noqa: E402
    conv_flops,
    conv_output_shape,
    conv_params,
    conv_transpose_output_padding,
    conv_transpose_output_shape,
    from_torch_pad,
    pool_output_shape,
    receptive_field,
    resolve_padding,
)

# ------------------------------------------------------------------ padding vocabulary


@pytest.mark.parametrize(
    "padding, expected",
    [
        (2, ((2, 2), (2, 2))),
        ((1, 2), ((1, 1), (2, 2))),
        (((1, 0), (2, 3)), ((1, 0), (2, 3))),
        ([[1, 0], 3], ((1, 0), (3, 3))),
        ("valid", ((0, 0), (0, 0))),
        ("VALID", ((0, 0), (0, 0))),
        ("full", ((2, 2), (4, 4))),
        ("causal", ((2, 0), (4, 0))),
    ],
)
def test_resolve_padding_forms(padding, expected):
    """oracle: the vocabulary table in the shapes docstring (kernel (3, 5))."""
    assert resolve_padding(padding, (8, 8), (3, 5)) == expected


def test_same_matches_lax_padtype_to_pads_random():
    """oracle: jax.lax.padtype_to_pads (XLA's SAME rule) over 400 random 1-d configs."""
    rng = random.Random(0)
    for _ in range(400):
        i, k, s, d = rng.randint(1, 20), rng.randint(1, 7), rng.randint(1, 5), rng.randint(1, 3)
        keff = d * (k - 1) + 1
        expected = tuple(tuple(p) for p in lax.padtype_to_pads((i,), (keff,), (s,), "SAME"))
        got = resolve_padding("same", (i,), k, s, d)
        assert got == expected, (i, k, s, d)
        lower = resolve_padding("Same_Lower", (i,), k, s, d)
        assert lower == ((got[0][1], got[0][0]),)
        # the defining property: ceil(in / s) outputs
        assert conv_output_shape((i,), k, s, "same", d) == (-(-i // s),)


def test_same_stride1_matches_torch_same():
    """oracle: torch F.conv1d(padding='same') output and values (stride 1 only in torch)."""
    rng = random.Random(1)
    for _ in range(50):
        i, k, d = rng.randint(1, 12), rng.randint(1, 6), rng.randint(1, 3)
        x = torch.randn(1, 1, i, dtype=torch.float64)
        w = torch.randn(1, 1, k, dtype=torch.float64)
        (lo, hi), = resolve_padding("same", (i,), k, 1, d)
        ref = F.conv1d(x, w, padding="same", dilation=d)
        mine = F.conv1d(F.pad(x, (lo, hi)), w, dilation=d)
        assert torch.allclose(ref, mine)


def test_from_torch_pad_order():
    """oracle: torch F.pad on a real tensor (seed 004's order confusion)."""
    x = torch.arange(12.0).reshape(1, 1, 3, 4)
    flat = (1, 2, 3, 0)  # left, right, top, bottom
    pairs = from_torch_pad(flat)
    assert pairs == ((3, 0), (1, 2))
    assert F.pad(x, flat).shape[-2:] == (3 + 3 + 0, 4 + 1 + 2)


# ------------------------------------------------------------------ output sizes


D2L_TABLE = [  # seed 000: 8x8 input, (kernel, padding, stride) -> output
    ((3, 3), (1, 1), (1, 1), (8, 8)),
    ((5, 3), (2, 1), (1, 1), (8, 8)),
    ((3, 3), (1, 1), (2, 2), (4, 4)),
    ((3, 5), (0, 1), (3, 4), (2, 2)),
    ((3, 5), (2, 1), (4, 1), (3, 6)),
    ((7, 5), (3, 2), (1, 1), (8, 8)),
]


@pytest.mark.parametrize("k, p, s, expected", D2L_TABLE)
def test_d2l_padding_and_strides_table(k, p, s, expected):
    """oracle: d2l 6.3 (seed 000) worked shapes, and torch Conv2d on an 8x8 input."""
    assert conv_output_shape((8, 8), k, s, p) == expected
    out = F.conv2d(torch.zeros(1, 1, 8, 8), torch.zeros(1, 1, *k), stride=s, padding=p)
    assert tuple(out.shape[-2:]) == expected


SEED002_TABLE = [  # input, kernel, stride, padding -> output (seed 002's table)
    (5, 2, 1, 0, 4), (5, 3, 1, 0, 3), (5, 2, 2, 0, 2), (6, 2, 2, 0, 3),
    (5, 2, 1, 1, 6), (5, 3, 1, 1, 5), (5, 3, 2, 2, 4),
]


@pytest.mark.parametrize("i, k, s, p, o", SEED002_TABLE)
def test_seed002_output_table(i, k, s, p, o):
    """oracle: seed 002's table H_o = (H_i + 2P - F)/S + 1."""
    assert conv_output_shape((i, i), k, s, p) == (o, o)


def _torch_conv_shape(ins, k, s, p, d):
    n = len(ins)
    f = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}[n]
    x = torch.empty(1, 1, *ins, device="meta")
    w = torch.empty(1, 1, *k, device="meta")
    return tuple(f(x, w, stride=s, padding=p, dilation=d).shape[2:])


def test_conv_output_shape_random_vs_torch():
    """oracle: torch F.conv{1,2,3}d output shapes (meta tensors) over 300 random configs."""
    rng = random.Random(2)
    checked = 0
    while checked < 300:
        n = rng.randint(1, 3)
        ins = tuple(rng.randint(1, 12) for _ in range(n))
        k = tuple(rng.randint(1, 5) for _ in range(n))
        s = tuple(rng.randint(1, 4) for _ in range(n))
        p = tuple(rng.randint(0, 3) for _ in range(n))
        d = tuple(rng.randint(1, 3) for _ in range(n))
        try:
            expected = _torch_conv_shape(ins, k, s, p, d)
        except RuntimeError:
            with pytest.raises(ValueError, match="kernel_size"):
                conv_output_shape(ins, k, s, p, d)
            continue
        assert conv_output_shape(ins, k, s, p, d) == expected, (ins, k, s, p, d)
        checked += 1


def test_pool_output_shape_random_vs_torch():
    """oracle: torch F.max_pool{1,2,3}d output shapes, ceil_mode both ways, 400 random configs."""
    rng = random.Random(3)
    pools = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}
    checked = 0
    while checked < 400:
        n = rng.randint(1, 3)
        ins = tuple(rng.randint(1, 10) for _ in range(n))
        k = tuple(rng.randint(1, 4) for _ in range(n))
        s = tuple(rng.randint(1, 4) for _ in range(n))
        d = tuple(rng.randint(1, 2) for _ in range(n))
        p = tuple(rng.randint(0, kk // 2 + 1) for kk in k)  # sometimes over torch's limit k // 2
        ceil = rng.random() < 0.5
        try:
            ref = pools[n](torch.zeros(1, 1, *ins), k, s, p, d, ceil_mode=ceil)
        except RuntimeError:
            with pytest.raises(ValueError):
                pool_output_shape(ins, k, s, p, d, ceil)
            continue
        assert pool_output_shape(ins, k, s, p, d, ceil) == tuple(ref.shape[2:]), (ins, k, s, p, d, ceil)
        checked += 1


def test_pool_ceil_mode_last_window_rule():
    """oracle: torch's rule by hand: in ceil mode a window starting in the right padding is dropped."""
    # i=5, k=2, s=2, p=1: ceil gives 4 windows, but the 4th starts at 6 >= 5 + 1 -> 3
    assert pool_output_shape((5,), 2, 2, 1, 1, True) == (3,)
    assert pool_output_shape((5, 5), 3, ceil_mode=True) == (2, 2)  # seed 002
    assert pool_output_shape((5, 5), 3, ceil_mode=False) == (1, 1)
    assert pool_output_shape((28, 28), 2, 2) == (14, 14)  # seed 003


def test_conv_transpose_output_shape_random_vs_torch():
    """oracle: torch F.conv_transpose{1,2,3}d output shapes over 300 random configs."""
    rng = random.Random(4)
    fns = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}
    checked = 0
    while checked < 300:
        n = rng.randint(1, 3)
        ins = tuple(rng.randint(1, 6) for _ in range(n))
        k = tuple(rng.randint(1, 4) for _ in range(n))
        s = tuple(rng.randint(1, 3) for _ in range(n))
        d = tuple(rng.randint(1, 2) for _ in range(n))
        p = tuple(rng.randint(0, 2) for _ in range(n))
        op = tuple(rng.randint(0, max(a, b) - 1) for a, b in zip(s, d))
        try:
            ref = fns[n](torch.zeros(1, 1, *ins), torch.zeros(1, 1, *k),  # real tensors: meta ones accept empty outputs
                         stride=s, padding=p, output_padding=op, dilation=d)
        except RuntimeError:
            with pytest.raises(ValueError):
                conv_transpose_output_shape(ins, k, s, p, op, d)
            continue
        assert conv_transpose_output_shape(ins, k, s, p, op, d) == tuple(ref.shape[2:])
        assert conv_transpose_output_padding(ins, tuple(ref.shape[2:]), k, s, p, d) == op
        checked += 1


def test_conv_transpose_same_inverts_forward_same():
    """oracle: the forward 'same' conv on in*s positions gives back `in` positions."""
    rng = random.Random(5)
    for _ in range(200):
        i, k, s, d = rng.randint(1, 9), rng.randint(1, 5), rng.randint(1, 4), rng.randint(1, 2)
        (out,) = conv_transpose_output_shape((i,), k, s, "same", 0, d)
        assert out == i * s
        assert conv_output_shape((out,), k, s, "same", d) == (i,)


# ------------------------------------------------------------------ params, FLOPs, receptive field


def test_conv_params_seed002_and_torch():
    """oracle: seed 002's F*F*Ci*K + K, and torch.nn.Conv2d parameter counts."""
    assert conv_params(3, 64, 3) == 3 * 3 * 3 * 64 + 64
    rng = random.Random(6)
    for _ in range(60):
        g = rng.choice([1, 2, 4])
        cin, cout = g * rng.randint(1, 4), g * rng.randint(1, 4)
        k = (rng.randint(1, 5), rng.randint(1, 5))
        bias = rng.random() < 0.5
        m = torch.nn.Conv2d(cin, cout, k, groups=g, bias=bias)
        assert conv_params(cin, cout, k, g, bias) == sum(p.numel() for p in m.parameters())


def test_conv_flops_by_enumeration():
    """oracle: counting multiply-adds of a brute-force loop over output positions."""
    ins, cin, cout, k, s, p = (7, 6), 4, 6, (3, 2), (2, 1), (1, 0)
    out = conv_output_shape(ins, k, s, p)
    macs = sum(1 for _ in range(cout) for _ in range(out[0]) for _ in range(out[1]) for _ in range(cin // 2) for _ in range(k[0] * k[1]))
    assert conv_flops(ins, cin, cout, k, s, p, groups=2, bias=False) == 2 * macs
    assert conv_flops(ins, cin, cout, k, s, p, groups=2, bias=True) == 2 * macs + cout * out[0] * out[1]


def _rf_bruteforce(layers, size=64):
    """Which input pixels influence output pixel 0, by propagating index sets (1-d)."""
    reach = {0}
    for k, s, p, d in reversed(layers):
        reach = {o * s - p + j * d for o in reach for j in range(k)}
    return max(reach) - min(reach) + 1, min(reach)


def test_receptive_field_by_enumeration():
    """oracle: brute-force back-propagation of index sets through random 1-d stacks."""
    rng = random.Random(7)
    for _ in range(100):
        layers = [(rng.randint(1, 5), rng.randint(1, 3), rng.randint(0, 2), rng.randint(1, 3)) for _ in range(rng.randint(1, 4))]
        size, start = _rf_bruteforce(layers)
        rf = receptive_field(layers, n=1)
        jump = 1
        for _, s, _, _ in layers:
            jump *= s
        assert rf.size == (size,) and rf.start == (start,) and rf.stride == (jump,), layers


# ------------------------------------------------------------------ errors


@pytest.mark.parametrize(
    "call, exc, match",
    [
        (lambda: conv_output_shape((8, 8), 3, (2, 0)), ValueError, r"`stride` must be >= 1 in every spatial dim, got \(2, 0\)"),
        (lambda: conv_output_shape((8, 8), 3, 1, 1, 0), ValueError, "`dilation` must be >= 1"),
        (lambda: conv_output_shape((8, 8), 3, 1, -1), ValueError, "`padding` must be >= 0"),
        (lambda: conv_output_shape((8, 8), 3, 1, "samee"), ValueError, "`padding` must be an int, a sequence, or one of"),
        (lambda: conv_output_shape((8, 8), (3, 3, 3)), ValueError, "`kernel_size` must have 2 entries"),
        (lambda: conv_output_shape((8, 8), 3, 1, (1, 2, 3)), ValueError, "`padding` must have 2 entries"),
        (lambda: conv_output_shape((8, 8), 2.5), TypeError, "`kernel_size` must be an int"),
        (lambda: conv_output_shape((8, 8), True), TypeError, "`kernel_size` must be an int"),
        (lambda: conv_output_shape((4, 4), 5), ValueError, "larger than the padded input"),
        (lambda: conv_output_shape((4, 4), 3, 1, 0, 2), ValueError, "larger than the padded input"),
        (lambda: pool_output_shape((4,), 0), ValueError, "`kernel_size` must be >= 1"),
        (lambda: pool_output_shape((8,), 3, 1, 2), ValueError, r"`padding` must be <= kernel_size // 2"),
        (lambda: conv_transpose_output_shape((4,), 3, 2, 0, 2), ValueError, "`output_padding` must be < max"),
        (lambda: conv_transpose_output_padding((4,), (20,), 3, 2, 0), ValueError, "`output_size` must lie between"),
        (lambda: conv_params(3, 4, 3, groups=2), ValueError, "`groups` must divide in_channels"),
        (lambda: resolve_padding("same", None, 3, n=2), ValueError, "'same' needs the input size"),
        (lambda: from_torch_pad((1, 2, 3)), ValueError, "`flat` must be an even-length"),
        (lambda: receptive_field([(3, 1, "same")], n=1), ValueError, "`padding` must be explicit"),
    ],
)
def test_errors_name_the_argument(call, exc, match):
    """oracle: the error-message rule 'fn: `arg` rule, got value'."""
    with pytest.raises(exc, match=match):
        call()


# ------------------------------------------------------------------ purity (the CLI is tested in tests/test_cli.py)


def test_shapes_has_no_jax_import():
    """oracle: the design rule — jaxconv.shapes is pure Python. A fresh interpreter imports it with the
    package's own ``__init__`` (which imports JAX for the ops) replaced by an empty stand-in."""
    pkg = Path(shapes.__file__).resolve().parents[1]
    code = (f"import sys, types; m = types.ModuleType('jaxconv'); m.__path__ = [{str(pkg)!r}]; sys.modules['jaxconv'] = m; "
            "import jaxconv.shapes, jaxconv.cli; print(sorted(k for k in sys.modules if k.split('.')[0] in ('jax', 'numpy')))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"
