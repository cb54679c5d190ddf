#!/usr/bin/env python
"""Every worked example of the seed notes, reproduced: expected | jaxconv | torch.

The seed notes (Chinese blog posts on d2l "padding and strides" and "convolutional
layers", a Conv2d/MaxPool2d walkthrough, pooling/upsampling, TF 'SAME' in PyTorch)
print numbers; this script recomputes each with jaxconv (and with torch, when torch
is installed) next to the number the note gives, and exits 1 on any mismatch.

    python experiments/seeds.py            # all seeds
    python experiments/seeds.py 002 004    # some of them
    python experiments/seeds.py --no-torch # without the torch column

Expected values are the notes' own printed outputs, copied here by hand (the notes
are not read at run time). Where a note's text is wrong the row says so and expects
the value the note's own code prints, which torch confirms.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

import jaxconv
from jaxconv import shapes

OK, BAD = "ok", "MISMATCH"


def fmt(v: Any) -> str:
    """Compact text for a table cell: shapes as 8x8, arrays as nested lists, ints without '.0'."""
    if v is None:
        return "-"
    if isinstance(v, str):
        return v
    if isinstance(v, tuple) and all(isinstance(i, (int, np.integer)) for i in v):
        return "x".join(map(str, v))
    a = np.asarray(v)
    if a.dtype.kind == "f" and np.all(np.isfinite(a)) and np.all(a == np.round(a)):
        a = a.astype(np.int64)
    if a.ndim == 0:
        return str(a.item()) if a.dtype.kind != "f" else f"{a.item():.4g}"
    if a.size > 48:
        # Big arrays are compared element by element; the cell only names them.
        return f"{'x'.join(map(str, a.shape))} array, sum {a.sum():.4f}"
    text = np.array2string(a, separator=",", precision=4, max_line_width=10_000, threshold=64)
    return text.replace("\n", "").replace(" ", "")


def same(expected: Any, got: Any, atol: float = 1e-5) -> bool:
    if isinstance(expected, tuple) and all(isinstance(i, int) for i in expected):
        return tuple(int(i) for i in got) == expected
    e, g = np.asarray(expected, dtype=np.float64), np.asarray(got, dtype=np.float64)
    return e.shape == g.shape and bool(np.allclose(e, g, atol=atol, rtol=1e-5))


class Table:
    """Rows of `case | expected | jaxconv [| more jaxconv columns] | torch | ok`; counts mismatches."""

    def __init__(self, title: str, columns: Sequence[str], use_torch: bool, note: str = "", info: Sequence[str] = ()) -> None:
        self.title, self.columns, self.use_torch, self.note, self.info = title, list(columns), use_torch, note, list(info)
        self.rows: list[list[str]] = []
        self.failures = 0

    def row(self, case: str, expected: Any, got: Sequence[Any], torch_fn: Callable[[], Any] | None = None,
            atol: float = 1e-5, info: Sequence[str] = ()) -> None:
        """Add a row; ``info`` cells are shown (e.g. the formula filled in), not compared."""
        values = list(got)
        if self.use_torch:
            values.append(torch_fn() if torch_fn is not None else None)
        good = all(v is None or same(expected, v, atol) for v in values)
        self.failures += not good
        want = fmt(expected)
        # A long value identical to the expected one is shown as "= expected" to keep rows readable.
        cells = ["= expected" if len(want) > 24 and fmt(v) == want else fmt(v) for v in values]
        self.rows.append([case, *info, want, *cells, OK if good else BAD])

    def print(self) -> None:
        head = ["case", *self.info, "expected", *self.columns, *(["torch"] if self.use_torch else []), ""]
        widths = [max(len(r[i]) for r in [head, *self.rows]) for i in range(len(head))]
        print(f"\n== {self.title}")
        if self.note:
            print(self.note)
        line = lambda cells: " | ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()  # noqa: E731
        print(line(head))
        print("-+-".join("-" * w for w in widths))
        for r in self.rows:
            print(line(r))


def torch_or_none() -> Any:
    try:
        import torch
    except ImportError:
        return None
    return torch


# ---------------------------------------------------------------------------------------
# seed 000: d2l 6.3 padding and strides
# ---------------------------------------------------------------------------------------

SHAPE_CASES = [
    # (where, kernel_size, padding, stride, expected output on an 8x8 input)
    ("000: Conv2d(k=3, p=1)", (3, 3), (1, 1), (1, 1), (8, 8)),
    ("000: Conv2d(k=(5,3), p=(2,1))", (5, 3), (2, 1), (1, 1), (8, 8)),
    ("001: Conv2d(k=(7,5), p=(3,2))", (7, 5), (3, 2), (1, 1), (8, 8)),
    ("000: Conv2d(k=3, p=1, s=2)", (3, 3), (1, 1), (2, 2), (4, 4)),
    ("000: Conv2d(k=(3,5), p=(0,1), s=(3,4))", (3, 5), (0, 1), (3, 4), (2, 2)),
    ("000 ex.2: Conv2d(k=(3,5), p=(2,1), s=(4,1))", (3, 5), (2, 1), (4, 1), (3, 6)),
]


def seed_000(torch: Any) -> list[Table]:
    t = Table("seed 000 (d2l 6.3 padding & strides): the six 8x8 cases, out = floor((n + 2p - k) / s) + 1",
              ["jaxconv.conv2d", "shapes.conv_output_shape"], torch is not None, info=["formula"])
    X = np.random.default_rng(0).random((1, 1, 8, 8), dtype=np.float32)
    for case, k, p, s, expected in SHAPE_CASES:
        w = np.ones((1, 1, *k), np.float32)
        formula = ", ".join(f"({8} + 2*{pi} - {ki})//{si} + 1 = {(8 + 2 * pi - ki) // si + 1}" for ki, pi, si in zip(k, p, s))
        got_conv = tuple(jaxconv.conv2d(X, w, stride=s, padding=p).shape[2:])
        got_shape = shapes.conv_output_shape((8, 8), k, s, p)

        def with_torch(k: Any = k, p: Any = p, s: Any = s) -> Any:
            conv = torch.nn.Conv2d(1, 1, kernel_size=k, padding=p, stride=s)
            return tuple(conv(torch.from_numpy(X)).shape[2:])

        t.row(case, expected, [got_conv, got_shape], with_torch if torch else None, info=[formula])
    # The note's motivating example: 240x240 through ten 5x5 convolutions without padding.
    size: tuple[int, ...] = (240, 240)
    for _ in range(10):
        size = shapes.conv_output_shape(size, 5)
    big = np.zeros((1, 1, 240, 240), np.float32)
    for _ in range(10):
        big = jaxconv.conv2d(big, np.zeros((1, 1, 5, 5), np.float32))
    t.row("000: 240x240, ten 5x5 convs, no padding", (200, 200), [tuple(big.shape[2:]), size],
          (lambda: tuple(torch.nn.Sequential(*[torch.nn.Conv2d(1, 1, 5) for _ in range(10)])(torch.zeros(1, 1, 240, 240)).shape[2:]))
          if torch else None, info=["240 - 10*(5 - 1) = 200"])
    return [t]


# ---------------------------------------------------------------------------------------
# seeds 001/002: corr2d, edge detection, the 5x5 / 3x3 numbers, parameter count, max pool
# ---------------------------------------------------------------------------------------

T1 = [[1, 2, 0, 3, 1], [0, 1, 2, 3, 1], [1, 2, 1, 0, 0], [5, 2, 3, 1, 1], [2, 1, 0, 1, 1]]
KERNEL = [[1, 2, 1], [0, 1, 0], [2, 1, 0]]


def seed_001(torch: Any) -> list[Table]:
    t = Table("seed 001 (d2l convolutional layers): corr2d and edge detection", ["jaxconv"], torch is not None)
    X = np.arange(9.0, dtype=np.float32).reshape(3, 3)
    K = np.array([[0.0, 1.0], [2.0, 3.0]], np.float32)

    def torch_corr(x: Any, k: Any) -> Any:
        return torch.nn.functional.conv2d(torch.from_numpy(x)[None, None], torch.from_numpy(k)[None, None])[0, 0].numpy()

    t.row("corr2d(arange(9).reshape(3,3), [[0,1],[2,3]])", [[19, 25], [37, 43]], [jaxconv.corr2d(X, K)],
          (lambda: torch_corr(X, K)) if torch else None)
    E = np.ones((6, 8), np.float32)
    E[:, 2:6] = 0
    edge = np.array([[1.0, -1.0]], np.float32)
    expected_edges = [[0, 1, 0, 0, 0, -1, 0]] * 6  # 1 = white->black, -1 = black->white
    t.row("X=ones(6,8), X[:,2:6]=0; corr2d(X, [[1,-1]])", expected_edges, [jaxconv.corr2d(E, edge)],
          (lambda: torch_corr(E, edge)) if torch else None)
    t.row("corr2d(X.T, [[1,-1]]): only vertical edges", np.zeros((8, 5)).tolist(), [jaxconv.corr2d(E.T.copy(), edge)],
          (lambda: torch_corr(E.T.copy(), edge)) if torch else None)
    return [t]


def seed_002(torch: Any) -> list[Table]:
    tables = []
    x = np.array(T1, np.float32)[None, None]
    k = np.array(KERNEL, np.float32)[None, None]
    F = torch.nn.functional if torch else None
    t = Table("seed 002 (Conv2d walkthrough): F.conv2d on the 5x5 input and 3x3 kernel", ["jaxconv.conv2d"], torch is not None)
    for case, kw, expected in [
        ("stride=1", {"stride": 1}, [[10, 12, 12], [18, 16, 16], [13, 9, 3]]),
        ("stride=2", {"stride": 2}, [[10, 12], [13, 3]]),
        ("stride=2, padding=1", {"stride": 2, "padding": 1}, [[1, 4, 8], [7, 16, 8], [14, 9, 4]]),
    ]:
        t.row(case, expected, [jaxconv.conv2d(x, k, **kw)[0, 0]],
              (lambda kw=kw: F.conv2d(torch.from_numpy(x), torch.from_numpy(k), **kw)[0, 0].numpy()) if torch else None)
    tables.append(t)

    t = Table("seed 002: the output-size table, H_o = (H_i + 2P - F)/S + 1", ["shapes.conv_output_shape", "jaxconv.conv2d"],
              torch is not None,
              note="(the note's formula column has typos for the padded rows, e.g. '4 = (5 + 1*2 - 2)/1 + 1';\n"
                   " its output column, used here, is right)")
    for n, f, s, p, expected in [(5, 2, 1, 0, 4), (5, 3, 1, 0, 3), (5, 2, 2, 0, 2), (6, 2, 2, 0, 3),
                                 (5, 2, 1, 1, 6), (5, 3, 1, 1, 5), (5, 3, 2, 2, 4)]:
        xx, ww = np.zeros((1, 1, n, n), np.float32), np.zeros((1, 1, f, f), np.float32)
        t.row(f"{n}x{n}, kernel {f}x{f}, stride {s}, padding {p}", (expected, expected),
              [shapes.conv_output_shape((n, n), f, s, p), tuple(jaxconv.conv2d(xx, ww, stride=s, padding=p).shape[2:])],
              (lambda n=n, f=f, s=s, p=p: tuple(torch.nn.Conv2d(1, 1, f, s, p)(torch.zeros(1, 1, n, n)).shape[2:]))
              if torch else None)
    tables.append(t)

    t = Table("seed 002: parameters of a conv layer, F * F * C_i * K + K", ["jaxconv.conv_params"], torch is not None)
    for f, ci, kk, expected in [(3, 3, 64, 1792), (5, 16, 32, 12832), (1, 64, 128, 8320), (3, 1, 1, 10)]:
        t.row(f"F={f}, C_i={ci}, K={kk}: {f}*{f}*{ci}*{kk} + {kk}", expected, [jaxconv.conv_params(ci, kk, f)],
              (lambda f=f, ci=ci, kk=kk: sum(p.numel() for p in torch.nn.Conv2d(ci, kk, f).parameters())) if torch else None)
    tables.append(t)

    t = Table("seed 002: MaxPool2d(kernel_size=3) on the 5x5 input; pooling size (H_i - f)/S + 1", ["jaxconv"],
              torch is not None)
    for ceil, expected in [(True, [[2, 3], [5, 1]]), (False, [[2]])]:
        t.row(f"max_pool2d(3, ceil_mode={ceil})", expected, [jaxconv.max_pool2d(x, 3, ceil_mode=ceil)[0, 0]],
              (lambda ceil=ceil: torch.nn.MaxPool2d(3, ceil_mode=ceil)(torch.from_numpy(x))[0, 0].numpy()) if torch else None)
    xx = np.zeros((1, 5, 4, 4), np.float32)
    t.row("4x4x5 input, 2x2 filter, stride 2 -> HxWxD", (2, 2, 5),
          [(*jaxconv.max_pool2d(xx, 2, 2).shape[2:], 5)],
          (lambda: (*torch.nn.MaxPool2d(2, 2)(torch.from_numpy(xx)).shape[2:], 5)) if torch else None)
    tables.append(t)
    return tables


# ---------------------------------------------------------------------------------------
# seed 003: pooling numbers, down/up sampling, ReLU
# ---------------------------------------------------------------------------------------

def seed_003(torch: Any) -> list[Table]:
    X = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4)
    X2 = np.concatenate([X, X + 1], axis=1)
    t = Table("seed 003 (pooling on arange(16).reshape(1,1,4,4))", ["jaxconv.max_pool2d"], torch is not None,
              note="(the note prints [[5,7],[13,15]] right under MaxPool2d(3): a line of the d2l original went\n"
                   " missing; MaxPool2d(3) gives [[10]] and [[5,7],[13,15]] is the (3, padding=1, stride=2) output)")
    cases: list[tuple[str, Any, dict[str, Any], Any]] = [
        ("MaxPool2d(3)", X, {"kernel_size": 3}, [[[[10]]]]),
        ("MaxPool2d(3, padding=1, stride=2)", X, {"kernel_size": 3, "padding": 1, "stride": 2}, [[[[5, 7], [13, 15]]]]),
        ("MaxPool2d((2,4), padding=(1,2), stride=(2,3))", X, {"kernel_size": (2, 4), "padding": (1, 2), "stride": (2, 3)},
         [[[[1, 3], [9, 11], [13, 15]]]]),
        ("2 channels cat(X, X+1): MaxPool2d(3, padding=1, stride=2)", X2, {"kernel_size": 3, "padding": 1, "stride": 2},
         [[[[5, 7], [13, 15]], [[6, 8], [14, 16]]]]),
    ]
    for case, inp, kw, expected in cases:
        t.row(case, expected, [jaxconv.max_pool2d(inp, **kw)],
              (lambda inp=inp, kw=kw: torch.nn.MaxPool2d(**kw)(torch.from_numpy(inp)).numpy()) if torch else None)

    s = Table("seed 003: down- and up-sampling on x = randn(1, 16, 28, 28): shapes, then values", ["jaxconv"], torch is not None)
    x = np.random.default_rng(3).standard_normal((1, 16, 28, 28)).astype(np.float32)
    F = torch.nn.functional if torch else None
    tx = (lambda: torch.from_numpy(x)) if torch else None
    s.row("MaxPool2d(2, stride=2)", (1, 16, 14, 14), [tuple(jaxconv.max_pool2d(x, 2, stride=2).shape)],
          (lambda: tuple(torch.nn.MaxPool2d(2, stride=2)(tx()).shape)) if torch else None)
    s.row("AvgPool2d(2, stride=2)", (1, 16, 14, 14), [tuple(jaxconv.avg_pool2d(x, 2, stride=2).shape)],
          (lambda: tuple(torch.nn.AvgPool2d(2, stride=2)(tx()).shape)) if torch else None)
    up = jaxconv.interpolate(x, scale_factor=2, mode="nearest")
    s.row("F.interpolate(x, scale_factor=2, mode='nearest')", (1, 16, 56, 56), [tuple(up.shape)],
          (lambda: tuple(F.interpolate(tx(), scale_factor=2, mode="nearest").shape)) if torch else None)
    # Values too, against the defining formulas (not just shapes).
    s.row("max pool value = max of each 2x2 block", x.reshape(1, 16, 14, 2, 14, 2).max(axis=(3, 5)),
          [jaxconv.max_pool2d(x, 2, stride=2)], (lambda: torch.nn.MaxPool2d(2, stride=2)(tx()).numpy()) if torch else None)
    s.row("avg pool value = mean of each 2x2 block", x.reshape(1, 16, 14, 2, 14, 2).mean(axis=(3, 5)),
          [jaxconv.avg_pool2d(x, 2, stride=2)], (lambda: torch.nn.AvgPool2d(2, stride=2)(tx()).numpy()) if torch else None)
    s.row("nearest x2 = each pixel copied into a 2x2 block", x.repeat(2, axis=2).repeat(2, axis=3), [up],
          (lambda: F.interpolate(tx(), scale_factor=2, mode="nearest").numpy()) if torch else None)
    s.row("ReLU keeps the shape, zeroes the negatives", np.maximum(x, 0), [jax.nn.relu(x)],
          (lambda: F.relu(tx()).numpy()) if torch else None)
    return [t, s]


# ---------------------------------------------------------------------------------------
# seed 004: TF 'SAME' in PyTorch, and the padding=(1, 0) vs F.pad order confusion
# ---------------------------------------------------------------------------------------

def tf_same_pads(n: int, k: int, s: int, d: int) -> tuple[int, int]:
    """TensorFlow's SAME, written out independently of jaxconv: out = ceil(n/s), odd pixel at the end."""
    out = math.ceil(n / s)
    total = max((out - 1) * s + (k - 1) * d + 1 - n, 0)
    return total // 2, total - total // 2


def seed_004(torch: Any) -> list[Table]:
    t = Table("seed 004 (TF 'SAME' in PyTorch): jaxconv padding='same' vs lax 'SAME' vs torch (F.pad, then conv)",
              ["jaxconv 'same'", "lax 'SAME'"], torch is not None,
              note="(expected: out = ceil(in / s) per dim; values compared between the columns to 1e-5;\n"
                   " the input is 7x8 (odd and even), the kernel 3x3 or 2x4 (odd and even))")
    rng = np.random.default_rng(4)
    x = rng.standard_normal((1, 2, 7, 8)).astype(np.float32)
    kernels = {"3x3": rng.standard_normal((3, 2, 3, 3)).astype(np.float32), "2x4": rng.standard_normal((3, 2, 2, 4)).astype(np.float32)}
    for kname, w in kernels.items():
        for s in (1, 2, 3, 4):
            for d in (1, 2, 3):
                expected_shape = (math.ceil(7 / s), math.ceil(8 / s))
                ours = np.asarray(jaxconv.conv2d(x, w, stride=s, padding="same", dilation=d))
                ref = np.asarray(lax.conv_general_dilated(jnp.asarray(x), jnp.asarray(w), (s, s), "SAME", rhs_dilation=(d, d),
                                                          precision=lax.Precision.HIGHEST))
                agree = ours.shape == ref.shape and np.allclose(ours, ref, atol=1e-5)
                got = [tuple(ours.shape[2:]) if agree else f"{ours.shape[2:]} differs", tuple(ref.shape[2:])]

                def with_torch(w: Any = w, s: int = s, d: int = d, ours: Any = ours) -> Any:
                    (t0, b0), (l0, r0) = (tf_same_pads(n, k, s, d) for n, k in zip((7, 8), w.shape[2:]))
                    xp = torch.nn.functional.pad(torch.from_numpy(x), (l0, r0, t0, b0))  # last dim first!
                    y = torch.nn.functional.conv2d(xp, torch.from_numpy(w), stride=s, dilation=d).numpy()
                    return tuple(y.shape[2:]) if y.shape == ours.shape and np.allclose(y, ours, atol=1e-4) else "values differ"

                t.row(f"kernel {kname}, stride {s}, dilation {d}", expected_shape, got, with_torch if torch else None)

    c = Table("seed 004: Conv2d(padding=(1, 0)) pads rows (dim -2), like F.pad(x, (0, 0, 1, 1)) - not F.pad(x, (1, 1, 0, 0))",
              ["jaxconv"], torch is not None,
              note="(x = arange(16).reshape(1,1,4,4); torch's F.pad takes (left, right, top, bottom): last dim first;\n"
                   " jaxconv.pad takes array order, first spatial dim first, like Conv2d's padding)")
    x = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4)
    one = np.ones((1, 1, 1, 1), np.float32)
    F = torch.nn.functional if torch else None
    tx = (lambda: torch.from_numpy(x)) if torch else None
    rows_padded = np.pad(x, ((0, 0), (0, 0), (1, 1), (0, 0)))
    c.row("Conv2d(1, 1, 1, padding=(1, 0)) with weight 1: shape", (1, 1, 6, 4),
          [tuple(jaxconv.conv2d(x, one, padding=(1, 0)).shape)], (lambda: tuple(F.conv2d(tx(), torch.ones(1, 1, 1, 1), padding=(1, 0)).shape)) if torch else None)
    c.row("... and its values: a zero row on top and bottom", rows_padded, [jaxconv.conv2d(x, one, padding=(1, 0))],
          (lambda: F.conv2d(tx(), torch.ones(1, 1, 1, 1), padding=(1, 0)).numpy()) if torch else None)
    c.row("jaxconv.pad(x, (1, 0)) = F.pad(x, (0, 0, 1, 1))", rows_padded, [jaxconv.pad(x, (1, 0))],
          (lambda: F.pad(tx(), (0, 0, 1, 1)).numpy()) if torch else None)
    c.row("shapes.from_torch_pad((0, 0, 1, 1))", ((1, 1), (0, 0)), [shapes.from_torch_pad((0, 0, 1, 1))])
    c.row("the confusion: F.pad(x, (1, 1, 0, 0)) pads columns", (1, 1, 4, 6),
          [tuple(jaxconv.pad(x, ((0, 0), (1, 1))).shape)], (lambda: tuple(F.pad(tx(), (1, 1, 0, 0)).shape)) if torch else None)
    return [t, c]


SEEDS: dict[str, Callable[[Any], list[Table]]] = {
    "000": seed_000, "001": seed_001, "002": seed_002, "003": seed_003, "004": seed_004,
}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("seeds", nargs="*", metavar="SEED", help=f"which seeds ({', '.join(SEEDS)}; default all)")
    p.add_argument("--no-torch", action="store_true", help="leave out the torch column")
    args = p.parse_args(argv)
    unknown = [s for s in args.seeds if s not in SEEDS]
    if unknown:
        p.error(f"unknown seed(s) {unknown}; choose from {list(SEEDS)}")
    torch = None if args.no_torch else torch_or_none()
    if torch is None and not args.no_torch:
        print("(torch is not installed: no torch column; pip install -e '.[torch]' adds it)")
    failures = rows = 0
    for name in args.seeds or list(SEEDS):
        for table in SEEDS[name](torch):
            table.print()
            failures += table.failures
            rows += len(table.rows)
    print(f"\n{rows - failures}/{rows} rows reproduced" + (f", {failures} MISMATCH" if failures else ""))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
