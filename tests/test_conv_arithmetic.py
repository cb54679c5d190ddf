"""experiments/conv_arithmetic.py: the cells each frame highlights, against a brute-force enumeration.

The script reads its geometry off jaxconv's Jacobians; these tests enumerate the same
cells with plain loops over the textbook definitions (oracle: Python loop enumeration),
for the 15 classic animations and a few lopsided configurations.
"""

from __future__ import annotations

import importlib.util
import itertools
import math
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _load():
    spec = importlib.util.spec_from_file_location("conv_arithmetic", ROOT / "experiments" / "conv_arithmetic.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


ca = _load()


def _pads(padding, i, k, s, d):
    """Per-dim (lo, hi) for ints, pairs and 'same' (TF: out = ceil(i / s), odd pixel at the end)."""
    out = []
    for dim in range(2):
        if padding == "same":
            o = math.ceil(i[dim] / s[dim])
            total = max(0, (o - 1) * s[dim] + d[dim] * (k[dim] - 1) + 1 - i[dim])
            out.append((total // 2, total - total // 2))
        else:
            p = padding if isinstance(padding, int) else padding[dim]
            out.append((p, p))
    return out


def brute_direct(c):
    """Direct conv: output o's window covers padded-grid cells o * s + u * d for taps u (row-major id u0*k1+u1+1)."""
    pads = _pads(c.padding, c.input, c.kernel, c.stride, c.dilation)
    grid = [c.input[j] + pads[j][0] + pads[j][1] for j in range(2)]
    out = [(grid[j] - c.dilation[j] * (c.kernel[j] - 1) - 1) // c.stride[j] + 1 for j in range(2)]
    frames = {}
    for o in itertools.product(range(out[0]), range(out[1])):
        taps = {}
        for u in itertools.product(range(c.kernel[0]), range(c.kernel[1])):
            g = tuple(o[j] * c.stride[j] + u[j] * c.dilation[j] for j in range(2))
            taps[g] = u[0] * c.kernel[1] + u[1] + 1
        inputs = {tuple(g[j] - pads[j][0] for j in range(2)) for g in taps}
        inputs = {a for a in inputs if all(0 <= a[j] < c.input[j] for j in range(2))}
        frames[o] = (taps, inputs)
    return tuple(out), tuple(p[0] for p in pads), frames


def brute_transposed(c):
    """Transposed conv as a scatter: input a reaches output a * s - p + t * d through tap t.

    Drawn as a stride-1 correlation with the flipped kernel over the input dilated by s
    and padded by d * (k - 1) - p: output o's window is grid cells o + u * d, showing tap k-1-u.
    """
    p = [c.padding if isinstance(c.padding, int) else c.padding[j] for j in range(2)]
    out = [(c.input[j] - 1) * c.stride[j] - 2 * p[j] + c.dilation[j] * (c.kernel[j] - 1) + c.output_padding[j] + 1
           for j in range(2)]
    lo = tuple(c.dilation[j] * (c.kernel[j] - 1) - p[j] for j in range(2))
    inputs = {o: set() for o in itertools.product(range(out[0]), range(out[1]))}
    for a in itertools.product(range(c.input[0]), range(c.input[1])):
        for t in itertools.product(range(c.kernel[0]), range(c.kernel[1])):
            o = tuple(a[j] * c.stride[j] - p[j] + t[j] * c.dilation[j] for j in range(2))
            if o in inputs:
                inputs[o].add(a)
    frames = {}
    for o in inputs:
        taps = {}
        for u in itertools.product(range(c.kernel[0]), range(c.kernel[1])):
            g = tuple(o[j] + u[j] * c.dilation[j] for j in range(2))
            taps[g] = (c.kernel[0] - 1 - u[0]) * c.kernel[1] + (c.kernel[1] - 1 - u[1]) + 1
        frames[o] = (taps, inputs[o])
    return tuple(out), lo, frames


EXTRA = [
    ca.Config("lopsided", (6, 7), (3, 2), (2, 1), (1, 0), (1, 2)),
    ca.Config("same_stride2_even_kernel", (6, 7), (4, 4), (2, 2), "same"),
    ca.Config("dilated_strided_padded", (9, 8), (3, 3), (3, 2), 2, (2, 3)),
    ca.Config("transposed_lopsided", (2, 3), (3, 2), (2, 3), (0, 1), (1, 1), True),
    ca.Config("transposed_dilated", (3, 3), (2, 2), (1, 1), 0, (2, 2), True),
    ca.Config("transposed_all", (3, 2), (3, 3), (3, 2), 1, (2, 1), True, (1, 0)),
]


@pytest.mark.parametrize("config", [*ca.classic(), *EXTRA], ids=lambda c: c.name)
def test_highlighted_cells_match_brute_force(config):
    """Every frame's window, tap numbers and input cells equal the loop enumeration (oracle: Python loop enumeration)."""
    lay = ca.layout(config)
    out, lo, frames = (brute_transposed if config.transposed else brute_direct)(config)
    assert lay.output == out
    assert lay.lo == lo
    assert [f.output for f in lay.frames] == list(itertools.product(range(out[0]), range(out[1])))  # one frame per output
    for f in lay.frames:
        taps, inputs = frames[f.output]
        assert dict(f.taps) == taps, f.output
        assert f.window == frozenset(taps), f.output
        assert f.inputs == frozenset(inputs), f.output


def test_classic_set_is_the_dumoulin_visin_list():
    """The default renders 8 direct (7 + dilation) and 7 transposed configurations (oracle: the issue's list)."""
    names = [c.name for c in ca.classic()]
    assert len(names) == 15 and len(set(names)) == 15
    direct = {c.name: (c.input[0], c.kernel[0], c.stride[0], c.padding, c.dilation[0]) for c in ca.classic() if not c.transposed}
    assert direct == {
        "no_padding_no_strides": (4, 3, 1, 0, 1), "arbitrary_padding_no_strides": (5, 4, 1, 2, 1),
        "same_padding_no_strides": (5, 3, 1, 1, 1), "full_padding_no_strides": (5, 3, 1, 2, 1),
        "no_padding_strides": (5, 3, 2, 0, 1), "padding_strides": (5, 3, 2, 1, 1),
        "padding_strides_odd": (6, 3, 2, 1, 1), "dilation": (7, 3, 1, 0, 2),
    }
    # Each transposed counterpart maps the direct conv's output size back to its input size.
    for c in ca.classic():
        if c.transposed:
            twin = next(d for d in ca.classic() if d.name == c.name.removesuffix("_transposed"))
            assert brute_transposed(c)[0] == twin.input, c.name
    odd = next(c for c in ca.classic() if c.name == "padding_strides_odd_transposed")
    assert odd.input == (3, 3) and odd.output_padding == (1, 1)
