"""The explorer's presets: the d2l shape table, the seed notes' worked examples, the conv_arithmetic classics.

Each preset is a :class:`jaxconv.frames.Config` with what the note printed for it (the
output size, and for the worked examples the output values), copied by hand from the notes
(the same numbers as ``experiments/seeds.py``); ``tests/test_explore.py`` checks that
jaxconv reproduces every one of them.

>>> p = PRESETS["seed002-stride2-pad1"]
>>> p.expected_size, p.expected_values
((3, 3), [[1, 4, 8], [7, 16, 8], [14, 9, 4]])
>>> p.query()["padding"], p.query()["numbers"]
('1', '1')
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from jaxconv.explore.query import to_query
from jaxconv.frames import Config, classic

__all__ = ["GROUPS", "PRESETS", "Preset"]

#: Seed 002's 5x5 input and 3x3 kernel.
T1 = [[1, 2, 0, 3, 1], [0, 1, 2, 3, 1], [1, 2, 1, 0, 0], [5, 2, 3, 1, 1], [2, 1, 0, 1, 1]]
KERNEL = [[1, 2, 1], [0, 1, 0], [2, 1, 0]]
ARANGE16 = [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11], [12, 13, 14, 15]]
EDGES = [[1, 1, 0, 0, 0, 0, 1, 1]] * 6  # seed 001: ones(6, 8) with columns 2..5 zeroed


@dataclass(frozen=True)
class Preset:
    """A named configuration and what its note printed; ``numbers`` opens it in numbers mode with ``x``/``w``."""

    id: str
    group: str
    title: str
    config: Config
    expected_size: tuple[int, ...]
    expected_values: Any = None
    x: Any = None
    w: Any = None
    numbers: bool = field(default=False)

    def query(self) -> dict[str, str]:
        """The URL query that opens this preset."""
        return {"preset": self.id, **to_query(self.config, self.numbers, self.x, self.w)}


D2L = "d2l 6.3 padding and strides (seed 000), 8×8 input"
TABLE = "Conv2d output-size table (seed 002), H_o = (H_i + 2P − F)/S + 1"
WORKED = "worked numbers (seeds 001–004)"
POOLS = "pooling rules"
CLASSIC = "conv_arithmetic animations (Dumoulin & Visin)"
#: The preset groups, in the page's order.
GROUPS = (WORKED, D2L, TABLE, POOLS, CLASSIC)


def _presets() -> list[Preset]:
    out = []
    for i, (title, k, p, s, size) in enumerate([
        ("Conv2d(k=3, p=1)", (3, 3), (1, 1), (1, 1), (8, 8)),
        ("Conv2d(k=(5,3), p=(2,1))", (5, 3), (2, 1), (1, 1), (8, 8)),
        ("Conv2d(k=(7,5), p=(3,2)) (seed 001)", (7, 5), (3, 2), (1, 1), (8, 8)),
        ("Conv2d(k=3, p=1, s=2)", (3, 3), (1, 1), (2, 2), (4, 4)),
        ("Conv2d(k=(3,5), p=(0,1), s=(3,4))", (3, 5), (0, 1), (3, 4), (2, 2)),
        ("exercise 2: Conv2d(k=(3,5), p=(2,1), s=(4,1))", (3, 5), (2, 1), (4, 1), (3, 6)),
    ]):
        out.append(Preset(f"d2l-{i}", D2L, f"8×8, {title} → {size[0]}×{size[1]}", Config("conv", (8, 8), k, s, p), size))
    for n, f, s, p, o in [(5, 2, 1, 0, 4), (5, 3, 1, 0, 3), (5, 2, 2, 0, 2), (6, 2, 2, 0, 3),
                          (5, 2, 1, 1, 6), (5, 3, 1, 1, 5), (5, 3, 2, 2, 4)]:
        out.append(Preset(f"table-{n}-{f}-{s}-{p}", TABLE, f"{n}×{n}, kernel {f}, stride {s}, padding {p} → {o}×{o}",
                          Config("conv", (n, n), f, s, p), (o, o)))
    worked = [
        ("seed001-corr2d", "seed 001: corr2d(arange(9), [[0,1],[2,3]])", Config("conv", (3, 3), 2),
         [[19, 25], [37, 43]], [[0, 1, 2], [3, 4, 5], [6, 7, 8]], [[0, 1], [2, 3]]),
        ("seed001-edges", "seed 001: edge detection, kernel [[1,-1]]", Config("conv", (6, 8), (1, 2)),
         [[0, 1, 0, 0, 0, -1, 0]] * 6, EDGES, [[1, -1]]),
        ("seed002-stride1", "seed 002: conv2d on the 5×5 input, stride 1", Config("conv", (5, 5), 3, 1),
         [[10, 12, 12], [18, 16, 16], [13, 9, 3]], T1, KERNEL),
        ("seed002-stride2", "seed 002: stride 2", Config("conv", (5, 5), 3, 2), [[10, 12], [13, 3]], T1, KERNEL),
        ("seed002-stride2-pad1", "seed 002: stride 2, padding 1", Config("conv", (5, 5), 3, 2, 1),
         [[1, 4, 8], [7, 16, 8], [14, 9, 4]], T1, KERNEL),
        ("seed002-maxpool-ceil", "seed 002: MaxPool2d(3, ceil_mode=True) on the 5×5 input",
         Config("max_pool", (5, 5), 3, ceil_mode=True), [[2, 3], [5, 1]], T1, None),
        ("seed002-maxpool", "seed 002: MaxPool2d(3, ceil_mode=False)", Config("max_pool", (5, 5), 3), [[2]], T1, None),
        ("seed003-maxpool3", "seed 003: MaxPool2d(3) on arange(16)", Config("max_pool", (4, 4), 3), [[10]], ARANGE16, None),
        ("seed003-maxpool3-p1-s2", "seed 003: MaxPool2d(3, padding=1, stride=2)", Config("max_pool", (4, 4), 3, 2, 1),
         [[5, 7], [13, 15]], ARANGE16, None),
        ("seed003-maxpool-2x4", "seed 003: MaxPool2d((2,4), padding=(1,2), stride=(2,3))",
         Config("max_pool", (4, 4), (2, 4), (2, 3), (1, 2)), [[1, 3], [9, 11], [13, 15]], ARANGE16, None),
        ("seed003-avgpool2", "seed 003: AvgPool2d(2, stride=2) = mean of each 2×2 block", Config("avg_pool", (4, 4), 2, 2),
         [[2.5, 4.5], [10.5, 12.5]], ARANGE16, None),
        ("seed004-pad-1-0", "seed 004: Conv2d(1, 1, 1, padding=(1,0)) pads rows, like F.pad(x, (0,0,1,1))",
         Config("conv", (4, 4), 1, 1, (1, 0)), [[0] * 4, *ARANGE16, [0] * 4], ARANGE16, [[1]]),
    ]
    for pid, title, cfg, values, x, w in worked:
        size = (len(values), len(values[0]))
        out.append(Preset(pid, WORKED, title, cfg, size, values, x, w, numbers=True))
    out.append(Preset("seed004-same-stride2", WORKED, "seed 004: TF 'SAME' with stride 2 on 7×8, kernel 3 → ceil(in/s)",
                      Config("conv", (7, 8), 3, 2, "same"), (4, 4)))
    out += [
        Preset("pool-ceil-overhang", POOLS, "avg pool 6×6, k3, s2, ceil_mode: the last window overhangs (divisor 3·2)",
               Config("avg_pool", (6, 6), 3, 2, ceil_mode=True), (3, 3), numbers=True),
        Preset("pool-ceil-dropped", POOLS, "max pool 5, k2, s2, p1, ceil_mode: a window starting in the right padding is dropped",
               Config("max_pool", (5,), 2, 2, 1, ceil_mode=True), (3,)),
        Preset("pool-no-pad-count", POOLS, "avg pool 5×5, k3, s2, p1, count_include_pad=False",
               Config("avg_pool", (5, 5), 3, 2, 1, count_include_pad=False), (3, 3), numbers=True),
        Preset("pool-dilated", POOLS, "max pool 7×7, k3, dilation 2", Config("max_pool", (7, 7), 3, 1, 0, 2), (3, 3)),
    ]
    for c in classic():
        out.append(Preset(c.name, CLASSIC, c.name.replace("_", " "), c, c.explain().output_size))
    return out


#: Every preset by id, in the page's order within each group.
PRESETS: dict[str, Preset] = {p.id: p for p in _presets()}
