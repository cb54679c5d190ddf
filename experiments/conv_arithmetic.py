#!/usr/bin/env python
"""Convolution-arithmetic animations (after Dumoulin & Visin), computed by jaxconv.

Each GIF has one frame per output position: on the left the input grid (blue cells,
with the padding, and for transposed convolutions the zeros inserted between input
cells, as dashed white cells), the kernel window over it shaded with its tap numbers;
on the right the output grid with the current position shaded.

Nothing about the geometry is written down here: the frames come from the package's
:mod:`jaxconv.frames` (shared with the browser explorer, ``jaxconv-explore``), which reads
which input cells feed which output cell, and through which kernel tap, off the Jacobian of
``jaxconv.conv`` / ``jaxconv.conv_transpose`` with a kernel whose taps are numbered 1..k*k
(a linear map's Jacobian is its matrix: entry (o, a) is the tap joining input a to output o,
or 0). Padding and output sizes come from :mod:`jaxconv.shapes`.

    python experiments/conv_arithmetic.py                        # the 15 classic GIFs into runs/conv_arithmetic
    python experiments/conv_arithmetic.py -i 7 -k 3 -s 2 -p 1    # one configuration
    python experiments/conv_arithmetic.py -i 3 -k 3 -s 2 --transposed --output-padding 1
    python experiments/conv_arithmetic.py -i 6 -k 3 -s 2 -p same # the whole padding vocabulary works

The issue asked for "the 14 classic ones" and listed 15 (8 direct, counting dilation, and
7 transposed): all 15 are rendered.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from jaxconv import frames, shapes

Pair = tuple[int, int]


@dataclass(frozen=True)
class Config:
    """One animation: a 2-d convolution (or transposed convolution) of an ``input`` grid."""

    name: str
    input: Pair
    kernel: Pair
    stride: Pair = (1, 1)
    padding: Any = 0  # jaxconv's padding vocabulary
    dilation: Pair = (1, 1)
    transposed: bool = False
    output_padding: Pair = (0, 0)

    def to_frames(self) -> frames.Config:
        """The same configuration in the package's terms (:class:`jaxconv.frames.Config`)."""
        return frames.Config("transpose" if self.transposed else "conv", self.input, self.kernel, self.stride, self.padding,
                             self.dilation, output_padding=self.output_padding if self.transposed else 0, name=self.name)


def layout(c: Config) -> frames.Layout:
    """Every frame of a configuration, read off jaxconv by :func:`jaxconv.frames.layout`."""
    return frames.layout(c.to_frames(), fn="conv_arithmetic")


def classic() -> list[Config]:
    """Dumoulin & Visin's animations (:func:`jaxconv.frames.classic`): 7 direct, dilation, and the 7 transposes."""
    return [Config(f.name, f.input, f.kernel, f.stride, f.padding, f.dilation, f.op == "transpose",
                   f.output_padding if f.op == "transpose" else (0, 0)) for f in frames.classic()]


BLUE, CYAN, DARK, GREY = "#5fa8d3", "#a8e0d8", "#1b4965", "#333333"


def render(c: Config, path: Path, dpi: int = 72, ms: int = 500) -> int:
    """Write one GIF; returns the number of frames."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle
    from PIL import Image

    lay = layout(c)
    gh, gw = lay.size
    oh, ow = lay.output
    gap = 2
    width, height = gw + gap + ow, max(gh, oh)
    fig = Figure(figsize=(0.45 * width + 0.4, 0.45 * height + 0.9), dpi=dpi)
    canvas = FigureCanvasAgg(fig)
    ax = fig.add_axes((0.02, 0.02, 0.96, 0.96 * height / (height + 2)))
    ax.set_xlim(-0.1, width + 0.1)
    ax.set_ylim(height + 0.1, -0.1)
    ax.set_aspect("equal")
    ax.axis("off")
    kind = "transposed conv" if c.transposed else "conv"
    pad_text = c.padding if isinstance(c.padding, str) else shapes.resolve_padding(c.padding, None, c.kernel, n=2)
    extra = f", output_padding={c.output_padding}" if c.transposed else ""
    fig.suptitle(f"{c.name}\n{kind}: input {c.input}, kernel {c.kernel}, stride {c.stride}, padding {pad_text}, "
                 f"dilation {c.dilation}{extra} -> output {lay.output}", fontsize=7)

    def cell(x: float, y: float, **kw: Any) -> Rectangle:
        r = Rectangle((x, y), 1, 1, **kw)
        ax.add_patch(r)
        return r

    grid_cells = {}
    for g in np.ndindex(gh, gw):
        real = lay.is_input(g)
        grid_cells[g] = cell(g[1], g[0], facecolor=BLUE if real else "white", edgecolor=GREY,
                             linestyle="-" if real else (0, (2, 2)), linewidth=0.8)
    x0 = gw + gap
    out_cells = {o: cell(x0 + o[1], o[0], facecolor=CYAN, edgecolor=GREY, linewidth=0.8) for o in np.ndindex(oh, ow)}
    shade = [cell(0, 0, facecolor=DARK, alpha=0.45, edgecolor="none", visible=False) for _ in range(c.kernel[0] * c.kernel[1])]
    labels = [ax.text(0, 0, "", fontsize=6, ha="center", va="center", color="white") for _ in shade]

    frames = []
    for fr in lay.frames:
        for r, t, ((gy, gx), tap) in zip(shade, labels, fr.taps):
            r.set_xy((gx, gy))
            r.set_visible(True)
            t.set_position((gx + 0.5, gy + 0.5))
            t.set_text(str(tap))
        for r, t in zip(shade[len(fr.taps):], labels[len(fr.taps):]):
            r.set_visible(False)
            t.set_text("")
        for o, r in out_cells.items():
            r.set_facecolor(DARK if o == fr.output else CYAN)
        canvas.draw()
        frames.append(Image.fromarray(np.asarray(canvas.buffer_rgba())).convert("P", palette=Image.Palette.ADAPTIVE, colors=32))
    path.parent.mkdir(parents=True, exist_ok=True)
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=ms, loop=0, optimize=False)
    return len(frames)


def _pair(v: list[int] | None, default: int) -> Pair:
    if not v:
        return (default, default)
    return (v[0], v[0]) if len(v) == 1 else (v[0], v[1])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Render convolution-arithmetic GIFs; geometry from jaxconv's Jacobians.",
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("-i", "--input", type=int, nargs="+", help="input size (one or two ints); without it, the classic set")
    p.add_argument("-k", "--kernel", type=int, nargs="+", default=[3])
    p.add_argument("-s", "--stride", type=int, nargs="+", default=[1])
    p.add_argument("-p", "--padding", nargs="+", default=["0"], help="int(s), or valid/same/same_lower/full/causal")
    p.add_argument("-d", "--dilation", type=int, nargs="+", default=[1])
    p.add_argument("--transposed", action="store_true")
    p.add_argument("--output-padding", type=int, nargs="+", default=[0])
    p.add_argument("--name", default=None, help="GIF name for a single configuration")
    p.add_argument("--only", nargs="+", default=None, help="render only these classic names")
    p.add_argument("--out", type=Path, default=Path("runs/conv_arithmetic"))
    p.add_argument("--dpi", type=int, default=72)
    p.add_argument("--ms", type=int, default=500, help="milliseconds per frame")
    args = p.parse_args(argv)

    if args.input:
        pad: Any = args.padding[0] if len(args.padding) == 1 else tuple(int(v) for v in args.padding)
        if isinstance(pad, str) and pad.lstrip("-").isdigit():
            pad = int(pad)
        configs = [Config(args.name or "custom", _pair(args.input, 0), _pair(args.kernel, 3), _pair(args.stride, 1), pad,
                          _pair(args.dilation, 1), args.transposed, _pair(args.output_padding, 0))]
    else:
        configs = classic()
        if args.only:
            unknown = set(args.only) - {c.name for c in configs}
            if unknown:
                p.error(f"unknown --only names {sorted(unknown)}; choose from {[c.name for c in configs]}")
            configs = [c for c in configs if c.name in args.only]
    try:
        for c in configs:
            path = args.out / f"{c.name}.gif"
            n = render(c, path, args.dpi, args.ms)
            print(f"{path}: {n} frames")
    except (ValueError, TypeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
