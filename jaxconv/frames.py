"""Frame geometry of the window ops, computed by jaxconv: which cells each output position reads.

One frame per output position of a convolution, transposed convolution, max pool or
average pool, on an input of any number of spatial dims (the explorer and the GIF script
draw 1-d and 2-d ones): the drawn grid (the input with its padding; for a transposed
convolution the input spread ``stride`` apart with holes between; for a ceil-mode pool
the overhang past the padding), the window's cells with their kernel taps, the real
input cells read, and for average pools the divisor.

No window rule is written down here. Sizes, padding, the ceil-mode rule and the divisors
come from :mod:`jaxconv.shapes` (through :func:`jaxconv.cli.explain`, the formatter the
command line prints). The cells are read off jaxconv's own ops: the matrix of a linear
map is its Jacobian, and column ``a`` of it is the map of the one-hot input ``e_a``.
Convolutions run with a kernel whose taps are numbered ``1..prod(k)`` (row-major), so entry
``(o, a)`` is the tap joining input ``a`` to output ``o``, or 0; pools run
:func:`jaxconv.window_reduce` with ``lax.add`` (a sum pool over the pool's own windows).
Every window is read twice, over the input with the real padding and over the drawn grid
with none, and the two readings must agree.

Used by ``experiments/conv_arithmetic.py`` (GIFs) and ``jaxconv-explore`` (the browser).

>>> lay = layout(Config("conv", (5, 5), 3, stride=2, padding=1))
>>> lay.output, lay.size, len(lay.frames)
((3, 3), (7, 7), 9)
>>> sorted(lay.frames[0].inputs)        # output (0, 0) reads the top-left 2x2 of the input
[(0, 0), (0, 1), (1, 0), (1, 1)]
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from jaxconv import shapes
from jaxconv.cli import Explanation, explain

__all__ = ["KINDS", "OPS", "Cell", "Config", "Frame", "Layout", "Numbers", "classic", "grid_size", "layout", "numbers"]

#: The ops, as the explorer names them.
OPS = ("conv", "transpose", "max_pool", "avg_pool")
#: What a cell of the drawn grid is: an input cell, padding, a hole between the input cells of a
#: transposed convolution (its stride), or a ceil-mode pool's overhang past the padding (never counted).
KINDS = ("input", "pad", "hole", "overhang")

Cell = tuple[int, ...]


def _freeze(v: Any) -> Any:
    return tuple(_freeze(i) for i in v) if isinstance(v, (list, tuple)) else v


@dataclass(frozen=True)
class Config:
    """One window op, in torch's arguments; ``stride=None`` is 1, or the kernel size for pools.

    >>> Config("max_pool", (5, 5), 3, ceil_mode=True).explain().output_size
    (2, 2)
    """

    op: str
    input: Any
    kernel: Any
    stride: Any = None
    padding: Any = 0
    dilation: Any = 1
    ceil_mode: bool = False
    output_padding: Any = 0
    count_include_pad: bool = True
    name: str = field(default="custom", compare=False)

    def __post_init__(self) -> None:
        for name in ("input", "kernel", "stride", "padding", "dilation", "output_padding"):
            object.__setattr__(self, name, _freeze(getattr(self, name)))  # lists -> tuples: hashable

    def explain(self, fn: str = "frames") -> Explanation:
        """The output size and the formulas (:func:`jaxconv.cli.explain`), after the explorer's own checks."""
        if self.op not in OPS:
            raise shapes.arg_error(fn, "op", f"must be one of {OPS}", self.op)
        for name in ("ceil_mode", "count_include_pad"):
            if not isinstance(getattr(self, name), bool):
                raise shapes.arg_error(fn, name, "must be True or False", getattr(self, name), exc=TypeError)
        if not self.count_include_pad and self.op != "avg_pool":
            raise shapes.arg_error(fn, "count_include_pad", "applies to op='avg_pool' only", self.count_include_pad)
        op = {"max_pool": "pool", "avg_pool": "pool"}.get(self.op, self.op)
        e = explain(op, self.input, self.kernel, self.stride, self.padding, self.dilation,
                    ceil_mode=self.ceil_mode, output_padding=self.output_padding, fn=fn)
        if self.op == "avg_pool" and shapes.canonicalize(self.dilation, len(e.input_size), "dilation", fn) != (1,) * len(e.input_size):
            raise shapes.arg_error(fn, "dilation", "must be 1 for op='avg_pool' (torch's avg_pool has no dilation)", self.dilation)
        return e

    def resolved(self, fn: str = "frames") -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
        """``(input, kernel, stride, dilation)`` as tuples, one entry per spatial dim (validated)."""
        e = self.explain(fn)
        n = len(e.input_size)
        k = shapes.canonicalize(self.kernel, n, "kernel_size", fn)
        pool = self.op.endswith("pool")
        s = k if self.stride is None and pool else shapes.canonicalize(1 if self.stride is None else self.stride, n, "stride", fn)
        return e.input_size, k, s, shapes.canonicalize(self.dilation, n, "dilation", fn)


@dataclass(frozen=True)
class Frame:
    """What one output position reads, in grid coordinates (first spatial dim first).

    ``window``: the grid cells under the (dilated) kernel, padding and holes included;
    ``taps``: each window cell with the 1-based row-major kernel tap drawn there;
    ``inputs``: the real input cells read, in input coordinates; ``divisor``: an average
    pool's divisor; ``extra``: a window that only ``ceil_mode`` adds.
    """

    output: Cell
    window: frozenset[Cell]
    inputs: frozenset[Cell]
    taps: tuple[tuple[Cell, int], ...]
    divisor: int | None = None
    extra: bool = False


@dataclass(frozen=True)
class Layout:
    """The drawn grid and the frames: input cell ``a`` sits at ``a * step + lo`` (per dim), ``size`` cells in all."""

    config: Config
    explanation: Explanation
    input: Cell
    size: Cell
    lo: Cell
    step: Cell
    output: Cell
    pads: tuple[tuple[int, int], ...]
    frames: tuple[Frame, ...]

    def kind(self, g: Cell) -> str:
        """One of :data:`KINDS`; a cell that is padding in one dim and overhang in another is overhang."""
        kinds = set()
        for gi, lo, st, n, (_, hi) in zip(g, self.lo, self.step, self.input, self.pads):
            x = gi - lo
            if x % st == 0 and 0 <= x // st < n:
                kinds.add("input")
            elif 0 <= x <= (n - 1) * st:
                kinds.add("hole")
            else:
                kinds.add("overhang" if self.config.op.endswith("pool") and x >= n + hi else "pad")
        return next(k for k in ("overhang", "pad", "hole", "input") if k in kinds)

    def is_input(self, g: Cell) -> bool:
        """Whether grid cell ``g`` is an input cell."""
        return self.kind(g) == "input"

    def to_input(self, g: Cell) -> Cell:
        """The input coordinates of grid cell ``g`` (an input cell)."""
        return tuple((gi - lo) // st for gi, lo, st in zip(g, self.lo, self.step))

    def kinds(self) -> tuple[str, ...]:
        """:meth:`kind` of every grid cell, row-major."""
        return tuple(self.kind(tuple(int(v) for v in g)) for g in np.ndindex(*self.size))


def _matrix(f: Callable[[Any], Any], shape: Cell) -> np.ndarray:
    """The matrix of a linear map of ``(N, 1, *shape)`` arrays, as ``(*out, *shape)``: one call on all one-hot inputs."""
    import jax  # here, not at the top: jaxconv.explore serves its page and formulas without running JAX

    m = math.prod(shape)
    basis = np.eye(m, dtype=np.float32).reshape(m, 1, *shape)
    with jax.default_device(jax.devices("cpu")[0]):  # float32 and exact on CPU (small integers)
        y = np.asarray(f(basis))[:, 0]  # (m, *out)
    y = y.reshape(*shape, *y.shape[1:])
    n = len(shape)
    return np.rint(y.transpose(*range(n, y.ndim), *range(n))).astype(np.int64)


def grid_size(config: Config, fn: str = "frames") -> Cell:
    """The size of the drawn grid: the padded input (pools: with the ceil-mode overhang), or for a
    transposed convolution the stride-1 correlation's input, ``out + d*(k-1)``.

    >>> grid_size(Config("max_pool", (6,), 3, 2, ceil_mode=True)), grid_size(Config("transpose", (2, 2), 3, 2))
    ((7,), (7, 7))
    """
    e = config.explain(fn)
    ins, k, s, d = config.resolved(fn)
    if config.op == "transpose":
        return tuple(o + dj * (kj - 1) for o, dj, kj in zip(e.output_size, d, k))
    if config.op == "conv":
        return tuple(i + lo + hi for i, (lo, hi) in zip(ins, e.padding))
    _, _, window_pads = shapes.pool_padding(ins, k, s, config.padding, d, config.ceil_mode, fn=fn)
    return tuple(i + lo + hi for i, (lo, hi) in zip(ins, window_pads))


def _floor_count(i: int, k: int, s: int, pad: tuple[int, int], d: int) -> int:
    """Windows of one dim without ceil mode (0 where floor mode leaves none)."""
    try:
        return shapes.pool_output_shape((i,), (k,), (s,), (pad,), (d,), False)[0]
    except ValueError:
        return 0


@functools.lru_cache(maxsize=256)
def layout(config: Config, fn: str = "frames") -> Layout:
    """Every frame of a configuration, read off jaxconv (see the module docstring).

    Frames are in row-major order of the output positions: one per output position.

    >>> lay = layout(Config("avg_pool", (5,), 2, 2, padding=1, ceil_mode=True, count_include_pad=False))
    >>> [(f.output, sorted(f.window), f.divisor, f.extra) for f in lay.frames]
    [((0,), [(0,), (1,)], 1, False), ((1,), [(2,), (3,)], 2, False), ((2,), [(4,), (5,)], 2, False)]
    >>> [lay.kind((g,)) for g in range(lay.size[0])]
    ['pad', 'input', 'input', 'input', 'input', 'input', 'pad']
    >>> [(f.output, sorted(f.window)) for f in layout(Config("transpose", (2,), 3, 2)).frames][:2]
    [((0,), [(0,), (1,), (2,)]), ((1,), [(1,), (2,), (3,)])]
    """
    import jax.numpy as jnp
    from jax import lax

    import jaxconv

    e = config.explain(fn)
    ins, k, s, d = config.resolved(fn)
    n = len(ins)
    out, pads = e.output_size, e.padding
    taps_w = jnp.arange(1, math.prod(k) + 1, dtype=jnp.float32).reshape(1, 1, *k)
    grid = grid_size(config, fn)
    divisors: list[tuple[int, ...]] | None = None
    extra_from = tuple(out)  # only ceil mode adds windows
    if config.op == "conv":
        inputs = _matrix(lambda x: jaxconv.conv(x, taps_w, None, s, config.padding, d), ins)
        window = _matrix(lambda g: jaxconv.conv(g, taps_w, None, s, 0, d), grid)
        lo, step = tuple(p[0] for p in pads), (1,) * n
    elif config.op == "transpose":
        inputs = _matrix(lambda x: jaxconv.conv_transpose(x, taps_w, None, s, config.padding, config.output_padding, 1, d), ins)
        # Drawn as the stride-1 correlation it equals, with the flipped kernel, over a grid holding
        # input cell a at a * stride + lo. lo is read off the matrix: input a feeds output o through
        # tap t, and in that correlation tap t of output o sits at o + d * (k - 1 - t) (per dim).
        taps_at = np.unravel_index(np.maximum(inputs - 1, 0), k)
        lo_seen: list[set[int]] = [set() for _ in range(n)]
        for idx in zip(*np.nonzero(inputs)):
            o, a = idx[:n], idx[n:]
            for j in range(n):
                t = int(taps_at[j][idx])
                lo_seen[j].add(int(o[j] + d[j] * (k[j] - 1 - t) - a[j] * s[j]))
        if any(len(v) != 1 for v in lo_seen):
            raise RuntimeError(f"frames: {config} is not a stride-1 correlation over a dilated grid: {lo_seen}")
        lo, step = tuple(v.pop() for v in lo_seen), s
        flipped = jnp.flip(taps_w, axis=tuple(range(2, 2 + n)))
        window = _matrix(lambda g: jaxconv.conv(g, flipped, None, 1, 0, d), grid)
    else:
        def pool(padding: Any, ceil: bool) -> Callable[[Any], Any]:
            return lambda x: jaxconv.window_reduce(x, 0.0, lax.add, k, s, padding, d, ceil, spatial_dims=n)

        inputs = _matrix(pool(config.padding, config.ceil_mode), ins)
        window = _matrix(pool(0, False), grid)
        # A pool has no weights: its taps are numbered in the window's own row-major order.
        window = np.where(window > 0, np.cumsum(window.reshape(*out, -1), axis=-1).reshape(window.shape), 0)
        lo, step = tuple(p[0] for p in pads), (1,) * n
        extra_from = tuple(_floor_count(*a) for a in zip(ins, k, s, pads, d))
        if config.op == "avg_pool":
            counts = shapes.pool_window_counts(ins, k, s, config.padding, config.ceil_mode, fn=fn)
            divisors = [c[0 if config.count_include_pad else 1] for c in counts]
    if window.shape[:n] != tuple(out) or inputs.shape[:n] != tuple(out):
        raise RuntimeError(f"frames: {config}: jaxconv gives {window.shape[:n]} outputs, shapes says {out}")
    frames = []
    for o in np.ndindex(*out):
        cells = list(zip(*(c.tolist() for c in np.nonzero(window[o]))))
        taps = tuple(sorted(((tuple(c), int(window[o][c])) for c in cells), key=lambda ct: ct[1]))
        reads = frozenset(tuple(a) for a in zip(*(c.tolist() for c in np.nonzero(inputs[o]))))
        div = None if divisors is None else math.prod(dv[j] for j, dv in zip(o, divisors))
        frames.append(Frame(tuple(int(v) for v in o), frozenset(t[0] for t in taps), reads, taps, div,
                            any(oj >= f for oj, f in zip(o, extra_from))))
    lay = Layout(config, e, ins, tuple(int(v) for v in grid), lo, tuple(step), tuple(out), tuple(pads), tuple(frames))
    for fr in lay.frames:
        # The two readings must agree: the input cells under the window are exactly the inputs read.
        mapped = frozenset(lay.to_input(g) for g in fr.window if lay.is_input(g))
        if mapped != fr.inputs:
            raise RuntimeError(f"frames: {config}: window {sorted(mapped)} does not match inputs {sorted(fr.inputs)} at {fr.output}")
    return lay


@dataclass(frozen=True)
class Numbers:
    """Numbers mode: the input, the kernel (convolutions only) and jaxconv's output as nested lists, the value
    of every drawn grid cell (padding reads 0, or -inf for max pools; nan for the never-read overhang), and per
    frame the sum, max or mean that gives its output, written out with the values it reads."""

    input: list[Any]
    kernel: list[Any] | None
    output: list[Any]
    grid: list[Any]
    terms: tuple[str, ...]


def _fmt(v: float, factor: bool = False) -> str:
    """A value as numbers mode writes it: ``3``, ``0.3333``, ``-2`` (``(-2)`` as a factor of a product)."""
    if not math.isfinite(v):
        return str(v)
    text = str(int(v)) if v == int(v) and abs(v) < 1e15 else f"{v:.4g}"
    return f"({text})" if factor and v < 0 else text


def numbers(config: Config, x: Any = None, w: Any = None, fn: str = "frames") -> Numbers:
    """Run the op in jaxconv on one small input (default ``arange``; kernel default all ones).

    >>> nb = numbers(Config("conv", (3, 3), 2), np.arange(9.0).reshape(3, 3), [[0, 1], [2, 3]])  # seed 001's corr2d
    >>> nb.output, nb.terms[0]
    ([[19.0, 25.0], [37.0, 43.0]], '0·0 + 1·1 + 3·2 + 4·3 = 19')
    >>> numbers(Config("avg_pool", (4,), 3, 2, 1, count_include_pad=False)).terms
    ('(0 + 1) / 2 = 0.5', '(1 + 2 + 3) / 3 = 2')
    """
    import jax
    import jax.numpy as jnp

    import jaxconv

    lay = layout(config, fn)
    ins, k, s, d = config.resolved(fn)
    conv = config.op in ("conv", "transpose")
    if w is not None and not conv:
        raise shapes.arg_error(fn, "w", "applies to op='conv' and op='transpose' only (a pool has no kernel values)", w)

    def values(name: str, v: Any, shape: Cell) -> np.ndarray:
        arr = np.asarray(v, np.float32)
        if arr.ndim == 1 and len(shape) == 2 and shape[0] == 1:
            arr = arr[None]  # one row, written flat
        if arr.shape != shape:
            raise shapes.arg_error(fn, name, f"must have the {'input' if name == 'x' else 'kernel'} size {shape}", arr.shape)
        return arr

    xs = np.arange(math.prod(ins), dtype=np.float32).reshape(ins) if x is None else values("x", x, ins)
    ws = (np.ones(k, np.float32) if conv else None) if w is None else values("w", w, k)
    batch = jnp.asarray(xs[None, None])
    with jax.default_device(jax.devices("cpu")[0]):
        if config.op == "conv":
            y = jaxconv.conv(batch, jnp.asarray(ws)[None, None], None, s, config.padding, d, precision="highest")
        elif config.op == "transpose":
            y = jaxconv.conv_transpose(batch, jnp.asarray(ws)[None, None], None, s, config.padding, config.output_padding, 1, d,
                                       precision="highest")
        elif config.op == "max_pool":
            pool = {1: jaxconv.max_pool1d, 2: jaxconv.max_pool2d, 3: jaxconv.max_pool3d}[len(ins)]
            y = pool(batch, k, s, config.padding, d, config.ceil_mode)
        else:
            pool = {1: jaxconv.avg_pool1d, 2: jaxconv.avg_pool2d, 3: jaxconv.avg_pool3d}[len(ins)]
            y = pool(batch, k, s, config.padding, config.ceil_mode, config.count_include_pad)
        ys = np.asarray(y, np.float64)[0, 0]
    pad_value = -math.inf if config.op == "max_pool" else 0.0
    grid = np.full(lay.size, math.nan)
    for g in np.ndindex(*lay.size):
        kind = lay.kind(g)
        grid[g] = xs[lay.to_input(g)] if kind == "input" else (pad_value if kind != "overhang" else math.nan)
    terms = []
    for fr in lay.frames:
        read = [(g, t) for g, t in fr.taps if lay.is_input(g)]
        vals = [_fmt(float(xs[lay.to_input(g)])) for g, _ in read]
        out = _fmt(float(ys[fr.output]))
        if conv:
            assert ws is not None
            flat = ws.reshape(-1)
            body = " + ".join(f"{_fmt(float(xs[lay.to_input(g)]), True)}·{_fmt(float(flat[t - 1]), True)}" for g, t in read) \
                or "0 (only zeros read)"
        elif config.op == "max_pool":
            body = f"max({', '.join(vals)})"
        elif not read:  # torch skips a window wholly in the padding (count_include_pad=False); jaxconv gives 0 too
            body = "(no input cells read)"
        else:
            body = f"({' + '.join(vals)}) / {fr.divisor}"
        terms.append(f"{body} = {out}")
    return Numbers(xs.tolist(), None if ws is None else ws.tolist(), ys.tolist(), grid.tolist(), tuple(terms))


def classic() -> list[Config]:
    """Dumoulin & Visin's conv_arithmetic animations: 7 direct, dilation, and the transposes of the 7 direct ones.

    >>> [c.name for c in classic()][:2], len(classic())
    (['no_padding_no_strides', 'arbitrary_padding_no_strides'], 15)
    """
    direct = [
        Config("conv", (4, 4), (3, 3), (1, 1), 0, (1, 1), name="no_padding_no_strides"),
        Config("conv", (5, 5), (4, 4), (1, 1), 2, (1, 1), name="arbitrary_padding_no_strides"),
        Config("conv", (5, 5), (3, 3), (1, 1), 1, (1, 1), name="same_padding_no_strides"),
        Config("conv", (5, 5), (3, 3), (1, 1), 2, (1, 1), name="full_padding_no_strides"),
        Config("conv", (5, 5), (3, 3), (2, 2), 0, (1, 1), name="no_padding_strides"),
        Config("conv", (5, 5), (3, 3), (2, 2), 1, (1, 1), name="padding_strides"),
        Config("conv", (6, 6), (3, 3), (2, 2), 1, (1, 1), name="padding_strides_odd"),
    ]
    out = [*direct, Config("conv", (7, 7), (3, 3), (1, 1), 0, (2, 2), name="dilation")]
    for c in direct:
        # The transpose of a conv maps its output size back to its input size; output_padding
        # recovers the rows the strided conv dropped (shapes does that arithmetic).
        o = shapes.conv_output_shape(c.input, c.kernel, c.stride, c.padding, c.dilation)
        op = shapes.conv_transpose_output_padding(o, c.input, c.kernel, c.stride, c.padding, c.dilation)
        out.append(Config("transpose", o, c.kernel, c.stride, c.padding, (1, 1), output_padding=op, name=c.name + "_transposed"))
    return out

