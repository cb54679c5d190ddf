#!/usr/bin/env python
"""Seed 002's pooling on images: max-pool real pictures, before/after grid, TensorBoard.

The seed pools CIFAR-10 batches with ``nn.MaxPool2d(kernel_size=3, ceil_mode=False)``
and logs input and output images to TensorBoard. Without downloads, this script pools
pictures that ship with matplotlib (its sample data: a photo, an icon, a logo and an
MRI slice) with ``jaxconv.max_pool2d`` (or ``avg_pool2d``), checks every output size
against ``floor_or_ceil((n + 2p - k) / s) + 1`` written out here and every value
against torch when torch is installed, and writes a before/after grid PNG.

    python experiments/pool_images.py                           # 3x3 max pool -> runs/pool_images/pool_images.png
    python experiments/pool_images.py --kernel 2 --ceil-mode --mode avg
    python experiments/pool_images.py --tensorboard runs/tb     # needs tensorboardX: pip install -e '.[tensorboard]'
    tensorboard --logdir runs/tb

Exit status: 0 when every size and value matches, 1 on a mismatch, 2 for bad options
(or --tensorboard without tensorboardX).
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np

IMAGES = ("grace_hopper.jpg", "Minduka_Present_Blue_Pack.png", "logo2.png", "s1045.ima.gz")


def load_images(max_side: int | None) -> list[tuple[str, np.ndarray]]:
    """Matplotlib's sample pictures as float32 (C, H, W) arrays in [0, 1]; RGB or one channel."""
    import matplotlib.cbook as cbook
    from PIL import Image

    out = []
    for name in IMAGES:
        with cbook.get_sample_data(name) as f:
            if name.endswith(".ima.gz"):
                # A raw 256x256 16-bit MRI slice (as in matplotlib's own examples).
                arr = np.frombuffer(f.read(), np.uint16).reshape(256, 256).astype(np.float32)
                img = Image.fromarray((arr / arr.max() * 255).astype(np.uint8))
            else:
                img = Image.open(f).convert("RGB")
            if max_side and max(img.size) > max_side:
                img.thumbnail((max_side, max_side))
            a = np.asarray(img, np.float32) / 255.0
        out.append((name, a[None] if a.ndim == 2 else a.transpose(2, 0, 1)))
    return out


def expected_size(n: int, k: int, s: int, p: int, ceil_mode: bool) -> int:
    """torch's pooling size, written out: floor or ceil((n + 2p - k) / s) + 1, and in ceil
    mode the last window must start inside the input or the left padding."""
    out = (math.ceil if ceil_mode else math.floor)((n + 2 * p - k) / s) + 1
    if ceil_mode and (out - 1) * s >= n + p:
        out -= 1
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Max/avg-pool matplotlib's sample pictures with jaxconv (seed 002).",
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--kernel", type=int, default=3)
    ap.add_argument("--stride", type=int, default=None, help="default: the kernel size (torch's default)")
    ap.add_argument("--padding", type=int, default=0)
    ap.add_argument("--ceil-mode", action="store_true")
    ap.add_argument("--mode", choices=("max", "avg"), default="max")
    ap.add_argument("--max-side", type=int, default=None, help="shrink pictures to at most this many pixels a side first")
    ap.add_argument("--out", type=Path, default=Path("runs/pool_images"))
    ap.add_argument("--tensorboard", type=Path, default=None, metavar="DIR", help="also log input/output images here")
    ap.add_argument("--no-torch", action="store_true", help="skip the torch comparison")
    args = ap.parse_args(argv)
    stride = args.stride or args.kernel
    if args.kernel < 1 or stride < 1 or args.padding < 0:
        ap.error("--kernel and --stride must be >= 1, --padding >= 0")

    writer = None
    if args.tensorboard is not None:
        try:
            from tensorboardX import SummaryWriter
        except ImportError:
            print("error: --tensorboard needs the optional tensorboardX package: pip install -e '.[tensorboard]' "
                  "(or pip install tensorboardX)", file=sys.stderr)
            return 2
        writer = SummaryWriter(str(args.tensorboard))

    import jaxconv

    torch = None
    if not args.no_torch:
        try:
            import torch
        except ImportError:
            print("(torch is not installed: no torch column)")

    pool = jaxconv.max_pool2d if args.mode == "max" else jaxconv.avg_pool2d
    kw: dict[str, Any] = {"kernel_size": args.kernel, "stride": stride, "padding": args.padding, "ceil_mode": args.ceil_mode}
    try:
        images = load_images(args.max_side)
        results = []
        for name, x in images:
            results.append((name, x, np.asarray(pool(x[None], **kw)[0])))
    except (ValueError, TypeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2

    what = f"{args.mode}_pool2d(kernel_size={args.kernel}, stride={stride}, padding={args.padding}, ceil_mode={args.ceil_mode})"
    print(what)
    head = ["image", "input CxHxW", "expected", "jaxconv", *(["torch max |diff|"] if torch else []), ""]
    rows, failures = [], 0
    for name, x, y in results:
        exp = (x.shape[0], *(expected_size(n, args.kernel, stride, args.padding, args.ceil_mode) for n in x.shape[1:]))
        good = tuple(y.shape) == exp
        cells = [name, "x".join(map(str, x.shape)), "x".join(map(str, exp)), "x".join(map(str, y.shape))]
        if torch:
            tpool = torch.nn.functional.max_pool2d if args.mode == "max" else torch.nn.functional.avg_pool2d
            ty = tpool(torch.from_numpy(x)[None], **kw)[0].numpy()
            diff = float(np.abs(ty - y).max()) if ty.shape == y.shape else float("inf")
            good = good and diff <= 1e-6
            cells.append(f"{diff:.1e}")
        failures += not good
        rows.append([*cells, "ok" if good else "MISMATCH"])
        if writer is not None:
            step = len(rows) - 1  # one step per picture, as the seed's loop over batches
            writer.add_image("input", x, step, dataformats="CHW")
            writer.add_image("output", np.clip(y, 0, 1), step, dataformats="CHW")
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    for r in [head, *rows]:
        print(" | ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    if writer is not None:
        writer.close()
        print(f"TensorBoard images in {args.tensorboard} (tensorboard --logdir {args.tensorboard})")

    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 2.6 * len(results)))
    for r, (name, x, y) in enumerate(results):
        for c, (img, label) in enumerate(((x, "before"), (y, "after"))):
            ax = fig.add_subplot(len(results), 2, 2 * r + c + 1)
            hwc = img.transpose(1, 2, 0)
            ax.imshow(hwc[..., 0] if hwc.shape[-1] == 1 else np.clip(hwc, 0, 1), cmap="gray", interpolation="nearest")
            ax.set_title(f"{name} {label}: {img.shape[1]}x{img.shape[2]}", fontsize=8)
            ax.set(xticks=[], yticks=[])
    fig.suptitle(what, fontsize=9)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "pool_images.png"
    fig.savefig(path, dpi=72)
    print(f"wrote {path}")
    if failures:
        print(f"{failures} MISMATCH", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
