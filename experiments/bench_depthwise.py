"""Depthwise / grouped convolution speed per part: XLA's grouped conv, jaxconv's tap fold, torch CPU.

For each shape, the forward pass, the input gradient and the weight gradient are timed
separately (each its own jitted program; a gradient program returns only that gradient, so
XLA drops the unused forward), plus forward + backward together. jaxconv's formulations are
forced with ``jaxconv.policy.conv_algorithm`` ("direct": XLA's convolution; "taps": the tap
fold of jaxconv/depthwise.py; "auto": the CPU plan). torch runs ``F.conv2d`` and
``torch.nn.grad.conv2d_input`` / ``conv2d_weight`` on all threads. Medians over repeats
after warm-up, taken round-robin over the columns so that a load spike hits all alike.

    python experiments/bench_depthwise.py            # every shape, 9 repeats
    python experiments/bench_depthwise.py --quick    # two shapes, 5 repeats
    python experiments/bench_depthwise.py -k mobilenet --repeats 15 --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

import jaxconv
from jaxconv import policy

# name, (N, C, H, W), kernel, stride, padding, groups (None: depthwise), channel multiplier
SHAPES: list[tuple[str, tuple[int, int, int, int], int, int, int, int | None, int]] = [
    ("dw3x3 s1 96@64", (8, 96, 64, 64), 3, 1, 1, None, 1),
    ("mobilenetv2 dw3x3 s2 144@56", (8, 144, 56, 56), 3, 2, 1, None, 1),
    ("dw3x3 s1 32@112 valid", (8, 32, 112, 112), 3, 1, 0, None, 1),
    ("convnext dw7x7 s1 96@32", (8, 96, 32, 32), 7, 1, 3, None, 1),
    ("efficientnet dw5x5 s1 240@28", (8, 240, 28, 28), 5, 1, 2, None, 1),
    ("dw3x3 s1 x2 multiplier 32@56", (8, 32, 56, 56), 3, 1, 1, None, 2),
    ("grouped g8 3x3 s1 64@56", (8, 64, 56, 56), 3, 1, 1, 8, 1),
]
QUICK = ("dw3x3 s1 96@64", "mobilenetv2 dw3x3 s2 144@56")
PARTS = ("fwd", "dx", "dw", "fwd+bwd")


def _jax_parts(algorithm: str, x: jax.Array, w: jax.Array, ct: jax.Array, s: int, p: int, g: int) -> dict[str, Callable[[], Any]]:
    def conv(x: jax.Array, w: jax.Array) -> jax.Array:
        return jaxconv.conv2d(x, w, None, s, p, 1, g)

    progs = {
        "fwd": jax.jit(conv),
        "dx": jax.jit(lambda x, w, ct: jax.vjp(lambda x: conv(x, w), x)[1](ct)[0]),
        "dw": jax.jit(lambda x, w, ct: jax.vjp(lambda w: conv(x, w), w)[1](ct)[0]),
        "fwd+bwd": jax.jit(lambda x, w, ct: _fwd_bwd(conv, x, w, ct)),
    }
    out = {}
    with policy.conv_algorithm(None if algorithm == "auto" else algorithm):
        for part, f in progs.items():
            args = (x, w) if part == "fwd" else (x, w, ct)
            f.lower(*args)  # trace under the forced plan; the jit cache keys on it
            out[part] = (lambda f=f, args=args, a=algorithm: _under(a, f, args))
    return out


def _fwd_bwd(conv: Callable[..., jax.Array], x: jax.Array, w: jax.Array, ct: jax.Array) -> tuple[jax.Array, ...]:
    y, vjp = jax.vjp(conv, x, w)
    return (y, *vjp(ct))


def _under(algorithm: str, f: Callable[..., Any], args: tuple[Any, ...]) -> Any:
    with policy.conv_algorithm(None if algorithm == "auto" else algorithm):
        return jax.block_until_ready(f(*args))


def _torch_parts(x: np.ndarray, w: np.ndarray, ct: np.ndarray, s: int, p: int, g: int) -> dict[str, Callable[[], Any]]:
    import torch
    import torch.nn.functional as F
    from torch.nn import grad as tgrad
    tx, tw, tct = torch.tensor(x), torch.tensor(w), torch.tensor(ct)
    txg, twg = tx.clone().requires_grad_(True), tw.clone().requires_grad_(True)

    def fwd() -> Any:
        with torch.no_grad():
            return F.conv2d(tx, tw, None, s, p, 1, g)

    def both() -> Any:
        y = F.conv2d(txg, twg, None, s, p, 1, g)
        return torch.autograd.grad(y, (txg, twg), tct)

    return {"fwd": fwd, "dx": lambda: tgrad.conv2d_input(tx.shape, tw, tct, s, p, 1, g),
            "dw": lambda: tgrad.conv2d_weight(tx, tw.shape, tct, s, p, 1, g), "fwd+bwd": both}


def measure(name: str, shape: tuple[int, int, int, int], k: int, s: int, p: int, groups: int | None, mult: int,
            repeats: int) -> dict[str, dict[str, float]]:
    n, c, h, wd = shape
    g = c if groups is None else groups
    r = np.random.default_rng(0)
    x = r.standard_normal(shape).astype(np.float32)
    w = r.standard_normal((c * mult, c // g, k, k)).astype(np.float32)
    out_hw = (h + 2 * p - k) // s + 1, (wd + 2 * p - k) // s + 1
    ct = r.standard_normal((n, c * mult, *out_hw)).astype(np.float32)
    xj, wj, ctj = jnp.asarray(x), jnp.asarray(w), jnp.asarray(ct)
    cols: dict[str, dict[str, Callable[[], Any]]] = {"xla": _jax_parts("direct", xj, wj, ctj, s, p, g)}
    if g == c:
        cols["taps"] = _jax_parts("taps", xj, wj, ctj, s, p, g)
    cols["auto"] = _jax_parts("auto", xj, wj, ctj, s, p, g)
    cols["torch"] = _torch_parts(x, w, ct, s, p, g)
    times: dict[str, dict[str, list[float]]] = {col: {part: [] for part in PARTS} for col in cols}
    for col in cols.values():  # warm-up: compile and run twice
        for f in col.values():
            f()
            f()
    for _ in range(repeats):
        for part in PARTS:
            for col, fs in cols.items():
                t0 = time.perf_counter()
                fs[part]()
                times[col][part].append(time.perf_counter() - t0)
    return {col: {part: 1e3 * statistics.median(v) for part, v in parts.items()} for col, parts in times.items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="two shapes, 5 repeats")
    ap.add_argument("-k", default="", help="only shapes whose name contains this")
    ap.add_argument("--repeats", type=int, default=None)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="torch threads (default: all cores)")
    ap.add_argument("--json", default=None, help="write the medians here")
    args = ap.parse_args(argv)
    import torch
    torch.set_num_threads(args.threads)
    repeats = args.repeats or (5 if args.quick else 9)
    shapes = [sh for sh in SHAPES if args.k in sh[0] and (not args.quick or sh[0] in QUICK)]
    print(f"jax {jax.__version__} ({jax.default_backend()}), torch {torch.__version__} ({args.threads} threads), "
          f"medians of {repeats}, ms")
    print("| shape | part | xla | taps | auto | torch | torch/auto |")
    print("|---|---|---|---|---|---|---|")
    results = {}
    for name, shape, k, s, p, groups, mult in shapes:
        res = measure(name, shape, k, s, p, groups, mult, repeats)
        results[name] = res
        for part in PARTS:
            taps = f"{res['taps'][part]:.1f}" if "taps" in res else "n/a"
            print(f"| {name} | {part} | {res['xla'][part]:.1f} | {taps} | {res['auto'][part]:.1f} | "
                  f"{res['torch'][part]:.1f} | {res['torch'][part] / res['auto'][part]:.2f} |", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
