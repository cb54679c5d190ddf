"""Where a ported network's time goes: a per-XLA-op profile of its jitted eval forward or train step.

The network (a torchvision model, random init, or the benchmark's tiny ResNet) is ported with
``jaxconv.nn.from_torch``, jitted over ``nnx.split``/``nnx.merge`` as ``benchmark.py`` does, run a few
times under ``jax.profiler.trace(..., create_perfetto_trace=True)``, and the trace's events are summed
per XLA op (each fusion, convolution, dot, copy) and per kind of op (the name without its number).
This is how the 7x7 depthwise fold recomputed in every LayerNorm consumer (ConvNeXt) and the NCHW <->
NHWC copies around XLA:CPU's convolutions (ResNet) were found.

Usage::

    python experiments/profile_network.py convnext_tiny             # eval forward, batch 8, 128x128
    python experiments/profile_network.py resnet18 --mode train --top 30
    python experiments/profile_network.py tiny_resnet --size 32 --hlo /tmp/tiny.hlo
    python experiments/profile_network.py mobilenet_v2 --compare-layouts   # captured vs channels-last
    python experiments/profile_network.py resnet18 --mode train --compare-without tap_gemm   # judge a CPU rule
    python experiments/profile_network.py resnet18 --mode train --keep-freed-memory  # no per-call page faults
    python experiments/profile_network.py resnet18 --mode train --compiler-options   # jaxconv.host_memory's

Times are milliseconds per call (summed over XLA's threads, so a kind's total can exceed the wall
time of the call when thunks run concurrently).
"""

from __future__ import annotations

import argparse
import collections
import glob
import gzip
import json
import os
import re
import sys
import tempfile
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

import jaxconv

if __name__ == "__main__" and "--keep-freed-memory" in sys.argv[1:]:
    jaxconv.host_memory.keep_freed_memory()  # before the benchmark module imports torch (jaxconv/host_memory.py)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchmark as B  # the benchmark's network builders and torchvision import

from jaxconv import policy


def build(name: str, batch: int, size: int, mode: str,
          compiler_options: dict[str, Any] | None = None) -> tuple[Any, tuple[Any, ...]]:
    """(jitted function, its arguments) for the ported network's eval forward or SGD train step; the jit
    gets ``compiler_options`` (e.g. :func:`jaxconv.host_memory.compiler_options`) where given."""
    import optax
    import torch
    from flax import nnx

    from jaxconv import nn as jnn

    torch.manual_seed(0)
    model = B._tiny_resnet() if name == "tiny_resnet" else getattr(B._torchvision().models, name)(weights=None, **B.NETWORKS.get(name, {}))
    ported = jnn.from_torch(model, torch.zeros(batch, 3, size, size))
    x = jnp.asarray(np.random.default_rng(0).standard_normal((batch, 3, size, size)), jnp.float32)
    if mode == "eval":
        ported.eval()
        graphdef, state = nnx.split(ported)
        return jax.jit(lambda st, x: nnx.merge(graphdef, st)(x), compiler_options=compiler_options), (state, x)
    ported.train()
    graphdef, params, rest = nnx.split(ported, nnx.Param, ...)
    y = jnp.zeros(batch, jnp.int32)

    def step(params: Any, rest: Any, x: Any) -> Any:
        m = nnx.merge(graphdef, params, rest)
        loss, grads = nnx.value_and_grad(lambda m: optax.softmax_cross_entropy_with_integer_labels(m(x), y).mean())(m)
        return jax.tree.map(lambda p, g: p - B.NETWORK_LR * g, nnx.state(m, nnx.Param), grads), loss
    return jax.jit(step, compiler_options=compiler_options), (params, rest, x)


def profile(f: Any, args: tuple[Any, ...], calls: int) -> tuple[float, dict[str, float], dict[str, float]]:
    """(wall ms per call, ms per call by XLA op, ms per call by kind of op) over ``calls`` traced calls."""
    for _ in range(3):
        jax.block_until_ready(f(*args))
    t0 = time.perf_counter()
    for _ in range(calls):
        jax.block_until_ready(f(*args))
    wall = (time.perf_counter() - t0) / calls * 1e3
    with tempfile.TemporaryDirectory() as d:
        with jax.profiler.trace(d, create_perfetto_trace=True):
            for _ in range(calls):
                jax.block_until_ready(f(*args))
        (path,) = glob.glob(f"{d}/**/*.trace.json.gz", recursive=True)
        with gzip.open(path) as fh:
            trace = json.load(fh)
    events = trace["traceEvents"] if isinstance(trace, dict) else trace
    # XLA's ops only (fusions, convolutions, dots, copies: the program's instruction names), not the
    # Python frames or the runtime's own spans.
    ops = set(re.findall(r"^\s*(?:ROOT )?%([\w.-]+) = ", f.lower(*args).compile().as_text(), re.M))
    by_op: collections.Counter[str] = collections.Counter()
    for e in events:
        if e.get("ph") == "X" and "dur" in e and e.get("name") in ops:
            by_op[e["name"]] += e["dur"] / 1e3 / calls
    by_kind: collections.Counter[str] = collections.Counter()
    for name, ms in by_op.items():
        by_kind[name.rsplit(".", 1)[0] if name.rsplit(".", 1)[-1].isdigit() else name] += ms
    return wall, dict(by_op), dict(by_kind)


def _alternate(exes: dict[str, Any], args: tuple[Any, ...], rounds: int) -> dict[str, list[float]]:
    """Seconds per call of each compiled program: ``rounds`` rounds of one call each, the order flipped
    every round, so that the machine's drift meets all alike."""
    for exe in exes.values():
        for _ in range(2):
            jax.block_until_ready(exe(*args))
    times: dict[str, list[float]] = {k: [] for k in exes}
    order = list(exes)
    for r in range(rounds):
        for k in (order if r % 2 == 0 else order[::-1]):
            t0 = time.perf_counter()
            jax.block_until_ready(exes[k](*args))
            times[k].append(time.perf_counter() - t0)
    return times


def _summary(times: dict[str, list[float]], slow: str, fast: str) -> dict[str, Any]:
    ups = sorted(a / b for a, b in zip(times[slow], times[fast]))
    return {"ms": {k: 1e3 * float(np.median(v)) for k, v in times.items()}, "speedup": float(np.median(ups)),
            "range": (ups[0], ups[-1])}


def compare_layouts(f: Any, args: tuple[Any, ...], rounds: int) -> dict[str, Any]:
    """Both activation layouts (jaxconv.policy.LAYOUTS) compiled in this process and timed alternately.

    Returns the median ms per layout and the median of the per-round speed-ups channels-last over
    captured (above 1: channels-last is faster) with their range.
    """
    exes = {}
    for layout in policy.LAYOUTS:
        with policy.graph_layout(layout):  # read while tracing
            exes[layout] = f.lower(*args).compile()
    return _summary(_alternate(exes, args, rounds), "captured", "channels_last")


def compare_without(name: str, batch: int, size: int, mode: str, algorithm: str, rounds: int,
                    compiler_options: dict[str, Any] | None = None) -> dict[str, Any]:
    """The default program against the same network with every CPU-plan part that is ``algorithm``
    replaced by XLA's own convolution (:func:`jaxconv.policy.xla_algorithm`), timed alternately.

    How a CPU-table rule is judged in a whole network (the tap-GEMM weight gradients: resnet18's train
    step 1.11-1.21x). Returns the median ms of ``"default"`` and ``"without"``, the median per-round
    speed-up of the default (above 1: the rule helps) with its range, and how many conv specs had a
    part replaced (``"replaced"``; 0: the two programs are the same).
    """
    if algorithm not in policy.ALGORITHMS:
        raise ValueError(f"compare_without: unknown conv algorithm {algorithm!r}; one of {policy.ALGORITHMS}")
    table = policy.cpu_plan
    replaced: set[Any] = set()

    def without(spec: Any) -> policy.Plan:
        plan = table(spec)
        if algorithm in plan:
            replaced.add(spec)
        return tuple(policy.xla_algorithm(spec) if a == algorithm else a for a in plan)  # type: ignore[return-value]
    exes = {}
    for label in ("default", "without"):
        policy.cpu_plan = table if label == "default" else without  # read while tracing: a fresh port each
        try:
            f, args = build(name, batch, size, mode, compiler_options)
            exes[label] = f.lower(*args).compile()
        finally:
            policy.cpu_plan = table
    return {**_summary(_alternate(exes, args, rounds), "without", "default"), "replaced": len(replaced)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("network", help="a torchvision.models name (resnet18, convnext_tiny, ...) or tiny_resnet")
    ap.add_argument("--mode", choices=("eval", "train"), default="eval")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--calls", type=int, default=5, help="traced calls (default 5)")
    ap.add_argument("--top", type=int, default=15, help="how many single ops to list (default 15)")
    ap.add_argument("--hlo", help="also write the optimised HLO here (to look an op up by its name)")
    ap.add_argument("--graph-layout", choices=("auto", "captured", "channels_last"), default="auto",
                    help="activation layout of the ported network (jaxconv.policy.graph_layout; default auto)")
    ap.add_argument("--compare-layouts", type=int, nargs="?", const=15, metavar="ROUNDS",
                    help="instead of the profile: time the captured and the channels-last program alternately "
                         "in this process (default 15 rounds)")
    ap.add_argument("--compare-without", metavar="ALGORITHM",
                    help="instead of the profile: time the default program against the same network with the CPU "
                         "plan's uses of this conv algorithm (e.g. tap_gemm) replaced by XLA's conv, alternately")
    ap.add_argument("--rounds", type=int, default=10, help="rounds of --compare-without (default 10)")
    ap.add_argument("--keep-freed-memory", action="store_true",
                    help="run with jaxconv.host_memory.keep_freed_memory() (applied at import, before torch's)")
    ap.add_argument("--compiler-options", action="store_true",
                    help="jit with jaxconv.host_memory.compiler_options() (XLA's temporaries in blocks of at most "
                         "8 MiB on the CPU, which malloc keeps for the next call: README, page-fault tax)")
    a = ap.parse_args(argv)
    options = jaxconv.host_memory.compiler_options() if a.compiler_options else None
    if options:
        print(f"compiler options: {options}")
    if a.compare_without:
        c = compare_without(a.network, a.batch, a.size, a.mode, a.compare_without, a.rounds, options)
        print(f"{a.network} {a.mode} (batch {a.batch}, {a.size}x{a.size}) on {jax.default_backend()}: default "
              f"{c['ms']['default']:.1f} ms, without {a.compare_without} {c['ms']['without']:.1f} ms; speed-up of the "
              f"default {c['speedup']:.2f}x (per-round range {c['range'][0]:.2f}-{c['range'][1]:.2f}, {a.rounds} rounds; "
              f"{c['replaced']} conv shapes changed)")
        return 0
    f, args = build(a.network, a.batch, a.size, a.mode, options)
    if a.compare_layouts:
        c = compare_layouts(f, args, a.compare_layouts)
        print(f"{a.network} {a.mode} (batch {a.batch}, {a.size}x{a.size}) on {jax.default_backend()}: captured "
              f"{c['ms']['captured']:.1f} ms, channels_last {c['ms']['channels_last']:.1f} ms; channels-last speed-up "
              f"{c['speedup']:.2f}x (per-round range {c['range'][0]:.2f}-{c['range'][1]:.2f}, {a.compare_layouts} rounds)")
        return 0
    with policy.graph_layout(None if a.graph_layout == "auto" else a.graph_layout):  # read while tracing
        wall, by_op, by_kind = profile(f, args, a.calls)
        hlo = f.lower(*args).compile().as_text() if a.hlo else ""
    print(f"{a.network} {a.mode} (batch {a.batch}, {a.size}x{a.size}, layout {a.graph_layout}) on "
          f"{jax.default_backend()}: {wall:.2f} ms per call")
    print("\nby kind of XLA op (ms per call):")
    for k, ms in sorted(by_kind.items(), key=lambda kv: -kv[1]):
        if ms >= 0.05:
            print(f"  {ms:9.2f}  {k}")
    print(f"\ntop {a.top} ops (ms per call):")
    for k, ms in sorted(by_op.items(), key=lambda kv: -kv[1])[:a.top]:
        print(f"  {ms:9.2f}  {k}")
    if a.hlo:
        with open(a.hlo, "w") as fh:
            fh.write(hlo)
        print(f"\noptimised HLO written to {a.hlo}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
