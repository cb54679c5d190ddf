#!/usr/bin/env python
"""Port torchvision models to JAX with ``jaxconv.nn.from_torch``: parity with torch, speed, compile time.

A model is built with random weights (``weights=None``; nothing is ever downloaded) and, unless
``--state-dict`` gives its weights, with every norm layer's statistics and affine parameters
randomised, so that eval-mode normalisation is really compared. It is ported with
``jnn.from_torch(model, x)``, run jitted in eval mode, and compared with torch CPU.

    python experiments/port_torchvision.py --model resnet18
    python experiments/port_torchvision.py --model resnet50 --batch 8 --size 224
    python experiments/port_torchvision.py --model resnet18 --state-dict resnet18.safetensors   # or a torch .pt
    python experiments/port_torchvision.py --all            # markdown zoo table over the tested models

Tolerance (float32): ``max|jax - torch| <= 1e-4 + 1e-4 * max|torch|`` (per output of a dict output).
Forward times are medians of the jitted forward (experiments/benchmark.py's timer); compile time is
``jax.jit(...).lower(...).compile()``.

Exit status: 0 when every model ports and is within tolerance, 1 otherwise, 2 for bad options.
"""

from __future__ import annotations

import argparse
import contextlib
import inspect
import os
import sys
import time
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import torch
from flax import nnx
from tqdm import tqdm

from jaxconv import nn as jnn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchmark import Impl, compile_impl, time_impls  # experiments/benchmark.py: the shared timer

RTOL, ATOL = 1e-4, 1e-4


def _torchvision() -> Any:
    # torchvision 0.28.0 here is CUDA-linked: its C++ ops fail to load beside the CPU torch, but its models are pure
    for op in ("nms", "qnms"):  # Python; defining the two op schemas before the import is enough (guarded: once).
        with contextlib.suppress(RuntimeError):
            torch.library.define(f"torchvision::{op}", "(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    import torchvision
    return torchvision


# The models of tests/test_torchvision_zoo.py (EVAL): name -> (constructor keyword arguments, input size, batch).
ZOO: dict[str, tuple[dict[str, Any], int, int]] = {
    "resnet18": ({}, 64, 2),
    "resnet50": ({}, 64, 2),
    "vgg11_bn": ({}, 64, 2),
    "alexnet": ({}, 64, 1),
    "squeezenet1_0": ({}, 64, 2),
    "squeezenet1_1": ({}, 64, 1),
    "mobilenet_v2": ({}, 64, 2),
    "mobilenet_v3_small": ({}, 64, 2),
    "efficientnet_b0": ({}, 64, 2),
    "densenet121": ({}, 64, 2),
    "googlenet": ({"aux_logits": False, "init_weights": True}, 64, 2),
    "inception_v3": ({"aux_logits": False, "init_weights": True}, 80, 2),
    "shufflenet_v2_x0_5": ({}, 64, 1),
    "regnet_y_400mf": ({}, 64, 2),
    "convnext_tiny": ({}, 64, 2),
    "mnasnet0_5": ({}, 64, 2),
    "segmentation.fcn_resnet50": ({}, 64, 1),
    "segmentation.lraspp_mobilenet_v3_large": ({}, 64, 2),
}


def build(name: str, seed: int, state_dict: str | None = None) -> torch.nn.Module:
    """The torchvision model ``name`` (``segmentation.`` prefix optional) in eval mode; random or loaded weights."""
    tv = _torchvision()
    short = name.removeprefix("segmentation.")
    kwargs = dict(ZOO.get(name, ZOO.get(f"segmentation.{short}", ({}, 0, 0)))[0])
    fn = tv.models.get_model_builder(short)
    kwargs["weights"] = None
    if "weights_backbone" in inspect.signature(fn).parameters:
        kwargs["weights_backbone"] = None
    torch.manual_seed(seed)
    model = fn(**kwargs)
    if state_dict is None:
        randomize_norms(model, torch.Generator().manual_seed(seed + 1))
    else:
        model.load_state_dict(load_state_dict(state_dict))
    return model.eval()


def load_state_dict(path: str) -> dict[str, torch.Tensor]:
    if path.endswith(".safetensors"):
        from safetensors.torch import load_file
        return load_file(path)
    sd = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(sd, Mapping):
        raise ValueError(f"{path}: not a state dict (a mapping of names to tensors), got {type(sd).__name__}")
    return dict(sd)


def randomize_norms(model: torch.nn.Module, gen: torch.Generator) -> None:
    """Non-trivial BatchNorm/LayerNorm/GroupNorm statistics and affine parameters, and convnext's layer scales."""
    nn = torch.nn
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.running_mean.copy_(torch.randn(m.num_features, generator=gen))
                m.running_var.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
                if m.affine:
                    m.weight.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
                    m.bias.copy_(torch.randn(m.num_features, generator=gen))
            elif isinstance(m, (nn.LayerNorm, nn.GroupNorm)) and m.weight is not None:
                m.weight.copy_(torch.rand(m.weight.shape, generator=gen) + 0.5)
                m.bias.copy_(torch.randn(m.bias.shape, generator=gen) * 0.5)
        for pname, p in model.named_parameters():
            if pname.endswith("layer_scale"):
                p.copy_(torch.rand(p.shape, generator=gen) * 0.5 + 0.25)


def leaves(y: Any, where: str = "out") -> dict[str, Any]:
    """An output as {path: array}: a tensor or array, or a dict/tuple/list of them."""
    if isinstance(y, Mapping):
        return {k2: v2 for k, v in y.items() for k2, v2 in leaves(v, f"{where}[{k!r}]").items()}
    if isinstance(y, (tuple, list)):
        return {k2: v2 for i, v in enumerate(y) for k2, v2 in leaves(v, f"{where}[{i}]").items()}
    return {where: y}


def differences(got: Any, want: Any) -> tuple[float, float, bool]:
    """(max abs difference, max abs / max|torch|, within tolerance) over all outputs."""
    g, w = leaves(got), leaves(want)
    if list(g) != list(w):
        raise ValueError(f"output structure {list(g)} != torch's {list(w)}")
    worst_abs, worst_rel, ok = 0.0, 0.0, True
    for k, tw in w.items():
        a, b = np.asarray(g[k], np.float64), tw.detach().numpy().astype(np.float64)
        if a.shape != b.shape:
            raise ValueError(f"{k}: shape {a.shape} != torch's {b.shape}")
        err, scale = float(np.max(np.abs(a - b))), float(np.max(np.abs(b)))
        worst_abs, worst_rel = max(worst_abs, err), max(worst_rel, err / max(scale, 1e-30))
        ok = ok and err <= ATOL + RTOL * scale
    return worst_abs, worst_rel, ok


def _fmt_t(t: float | None) -> str:
    return "n/a" if t is None else f"{t * 1e3:.2f} ms"


def run_model(name: str, batch: int | None, size: int | None, seed: int, state_dict: str | None, budget: float,
              show_summary: bool, log: Callable[[str], None]) -> dict[str, Any]:
    """Build, port, compare and time one model; the results as a dict (``error`` set on a failure)."""
    zoo_size, zoo_batch = ZOO.get(name, ZOO.get(f"segmentation.{name}", ({}, 64, 2)))[1:]
    batch, size = batch or zoo_batch, size or zoo_size
    res: dict[str, Any] = {"model": name, "batch": batch, "size": size, "ported": False}
    model = build(name, seed, state_dict)
    x = torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(seed + 2))
    weights = f"weights from {state_dict}" if state_dict else "random weights, norm statistics randomised"
    log(f"{name}: batch {batch}, 3x{size}x{size}, seed {seed}, {weights}")
    with torch.no_grad():
        want = model(x)
    t0 = time.perf_counter()
    try:
        ported = jnn.from_torch(model, x)
    except Exception as e:
        res["error"] = f"{type(e).__name__}: {e}"
        log(f"port failed: {res['error']}")
        return res
    res["ported"], res["port_s"] = True, time.perf_counter() - t0
    log(f"port: {res['port_s']:.2f} s")
    xj = jnp.asarray(x.numpy())
    graphdef, state = nnx.split(ported)
    forward = jax.jit(lambda s, x: nnx.merge(graphdef, s)(x))  # eval mode: a pure function of (state, x)
    try:
        call, res["compile_s"], _, _ = compile_impl(Impl(jitted=forward, args=(state, xj)))
        got = jax.block_until_ready(call())
        res["max_abs"], res["max_rel"], res["ok"] = differences(got, want)
    except Exception as e:
        res["error"] = f"{type(e).__name__}: {e}"
        log(f"run failed: {res['error']}")
        return res
    log(f"compile (jitted forward): {res['compile_s']:.2f} s")
    log(f"max |jax - torch| = {res['max_abs']:.3g}, max rel (/ max|torch|) = {res['max_rel']:.3g}: "
        f"{'within' if res['ok'] else 'EXCEEDS'} tolerance {ATOL:g} + {RTOL:g} max|torch|")

    def torch_call() -> Any:
        with torch.no_grad():
            return model(x)
    times, reps = time_impls({"jax": call, "torch": torch_call}, budget, 3, 50)
    res["jax_s"], res["torch_s"] = times["jax"], times["torch"]
    log(f"forward (median of {reps}): jax {_fmt_t(res['jax_s'])} (jitted), torch {_fmt_t(res['torch_s'])}; "
        f"torch/jax = {res['torch_s'] / res['jax_s']:.2f}x")
    if show_summary:
        try:
            log(str(jnn.summary(ported, tuple(x.shape))))
        except Exception as e:  # summary may not know graph-captured modules
            log(f"(jnn.summary does not support this model: {type(e).__name__}: {str(e)[:200]})")
    return res


def zoo_table(results: list[dict[str, Any]]) -> str:
    lines = ["| model | ported | max diff (abs / rel) | forward time jax / torch |", "|---|---|---|---|"]
    for r in results:
        ported = "yes" if r["ported"] else f"no: {r.get('error', '')[:120]}"
        if "max_abs" in r:
            diff = f"{r['max_abs']:.2g} / {r['max_rel']:.2g}" + ("" if r["ok"] else " (EXCEEDS tolerance)")
        else:
            diff = "n/a" if not r.get("error") or not r["ported"] else f"failed: {r['error'][:120]}"
        speed = f"{_fmt_t(r.get('jax_s'))} / {_fmt_t(r.get('torch_s'))}"
        lines.append(f"| {r['model']} | {ported} | {diff} | {speed} |".replace("\n", " "))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    what = ap.add_mutually_exclusive_group(required=True)
    what.add_argument("--model", help="a torchvision model name, e.g. resnet18, segmentation.fcn_resnet50")
    what.add_argument("--all", action="store_true", help="every model of the tested zoo: a markdown table")
    ap.add_argument("--state-dict", metavar="FILE", help="weights: a torch .pt state dict or a .safetensors file")
    ap.add_argument("--batch", type=int, default=None, help="batch size (default: the zoo's, 2 or 1)")
    ap.add_argument("--size", type=int, default=None, help="input height = width (default: 64, inception_v3 80)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--budget", type=float, default=1.0, help="seconds of timed repeats per model (default 1.0)")
    ap.add_argument("--no-summary", action="store_true", help="do not print jnn.summary")
    ap.add_argument("--threads", type=int, default=None,
                    help="run XLA and torch on this many threads (as experiments/benchmark.py; 1 is steadier on a busy machine)")
    args = ap.parse_args(argv)
    if (args.batch is not None and args.batch < 1) or (args.size is not None and args.size < 1):
        ap.error("--batch and --size must be >= 1")
    if args.all and args.state_dict:
        ap.error("--state-dict goes with --model")
    if args.state_dict and not Path(args.state_dict).is_file():
        ap.error(f"--state-dict {args.state_dict}: no such file")
    if args.threads is not None:
        if args.threads < 1:
            ap.error("--threads must be >= 1")
        # XLA reads its flags when the CPU backend starts, i.e. at the first computation below.
        flags = "--xla_cpu_multi_thread_eigen=false" if args.threads == 1 else ""
        os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {flags} intra_op_parallelism_threads={args.threads}"
        torch.set_num_threads(args.threads)
    if args.model:
        try:
            res = run_model(args.model, args.batch, args.size, args.seed, args.state_dict, args.budget,
                            not args.no_summary, print)
        except Exception:
            traceback.print_exc()
            return 1
        return 0 if res.get("ok") else 1

    results = []
    for name in tqdm(list(ZOO), desc="zoo", unit="model", file=sys.stderr, dynamic_ncols=True):
        lines: list[str] = []
        try:
            res = run_model(name, args.batch, args.size, args.seed, None, args.budget, False, lines.append)
        except Exception as e:
            res = {"model": name, "ported": False, "error": f"{type(e).__name__}: {e}"}
        tqdm.write(" | ".join(lines), file=sys.stderr)
        results.append(res)
        jax.clear_caches()
    print(zoo_table(results))
    failed = [r["model"] for r in results if not r.get("ok")]
    print(f"\n{len(results) - len(failed)}/{len(results)} models ported within tolerance"
          + (f"; failed: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
