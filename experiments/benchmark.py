"""Benchmark jaxconv side by side with raw ``lax``, PyTorch CPU and Flax.

Every case runs the same computation several ways, in one process, on the
same inputs:

* ``jaxconv``: the public jaxconv op (jitted, like a user's train step);
* ``lax``: the raw ``lax``/``jax`` call a user would otherwise write, in the
  same layout (NCHW);
* ``torch``: PyTorch CPU on all cores;
* ``flax``: Flax's pooling functions (NHWC, their own layout) where Flax has the op.

Timings are medians over repeats after warm-up, taken round-robin (one call of
each implementation per round) so that a load spike on a shared machine hits
all of them alike. Each jitted implementation is also lowered and compiled
once on its own to report its compile time and XLA's memory analysis.

Besides the single ops: ``linear`` at batch 1, 8 and 64 (an ``nn.Linear(9216, 4096)`` weight), the
forward pass, input gradient and weight gradient of two convolutions timed apart (``conv2d part``), and
whole networks (``--networks``): resnet18, mobilenet_v2, efficientnet_b0 and convnext_tiny from
torchvision (random init, dropout and stochastic depth off), batch 8, 128x128, ported once with
``jaxconv.nn.from_torch``, eval forward and one SGD train step against torch, each network in a fresh
subprocess so that torch's peak RSS increase over its train step is its own. ``--tuned`` adds a
column of its own: each network program tuned with ``jaxconv.tune`` (a temporary plan file) and timed
beside the default one, with the tuning time; the targets are judged at the defaults.

Usage::

    python experiments/benchmark.py                # default set (no networks), a few minutes
    python experiments/benchmark.py --networks     # only the network rows, several minutes
    python experiments/benchmark.py --networks --tuned  # and each also tuned by jaxconv.tune, ~45 minutes
    python experiments/benchmark.py --networks --keep-freed-memory  # malloc keeps XLA's freed temporaries
    python experiments/benchmark.py --networks --compiler-options  # jitted with host_memory.compiler_options()
    python experiments/benchmark.py --all          # both
    python experiments/benchmark.py --quick        # reduced set with one tiny network, < 1 minute
    python experiments/benchmark.py --json out.json -k conv
    bash experiments/gpu_benchmark.sh              # on a GPU machine: versions + --gpu --all

Ratios are ``other time / jaxconv time``: above 1 means jaxconv is faster.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from tqdm import tqdm

import jaxconv
from jaxconv import policy, shapes
from jaxconv.shapes import conv_spec

if __name__ == "__main__" and "--keep-freed-memory" in sys.argv[1:]:
    # before torch's import starts its first thread: threads keep the malloc arena they first took, and
    # one of torch's handed to XLA's workers maps their blocks anyway (jaxconv/host_memory.py)
    jaxconv.host_memory.keep_freed_memory()
try:
    import torch
    import torch.nn.functional as F
except ImportError:  # torch is optional: its column then reads n/a
    torch = None  # type: ignore[assignment]
    F = None  # type: ignore[assignment]

try:
    import flax.linen as flax_linen
except ImportError:
    flax_linen = None  # type: ignore[assignment]

IMPLS = ("jaxconv", "lax", "torch", "flax")


# --------------------------------------------------------------------------- timing

@dataclass
class Impl:
    """One way of running a case.

    Either ``call()`` runs it once (torch, eager JAX), or ``jitted`` (a ``jax.jit``
    object) is compiled ahead of time on ``args`` (timed: the compile time column) and
    ``run(executable)`` runs it once (default: ``executable(*args)``).
    """

    call: Callable[[], Any] | None = None
    jitted: Any = None
    args: tuple[Any, ...] = ()
    run: Callable[[Any], Any] | None = None


@dataclass
class Case:
    name: str
    group: str  # "conv", "parts", "linear", "pool", "resize", "train", "eager", "network"
    build: Callable[[], dict[str, Impl | None]]
    flops: float | None = None  # per call
    quick: bool = False
    eager: bool = False
    quick_build: Callable[[], dict[str, Impl | None]] | None = None  # smaller inputs for --quick
    quick_flops: float | None = None
    # jaxconv hands XLA the very program of the raw-lax column (same algorithm, same padding):
    # the rows where "<= 1.02x lax" measures jaxconv's own overhead.
    same_program: bool = False
    # Rows measured another way than build + time (the network rows, in a subprocess):
    # measure(budget, min_rep, max_rep, threads, quick) -> the rows.
    measure: Callable[..., list[Result]] | None = None
    quick_label: str = " [quick batch]"  # appended to the name of a --quick row built by quick_build


@dataclass
class Result:
    case: str
    group: str
    times: dict[str, float | None] = field(default_factory=dict)  # median seconds
    compile_s: dict[str, float | None] = field(default_factory=dict)
    peak_bytes: dict[str, int | None] = field(default_factory=dict)
    repeats: int = 0
    flops: float | None = None
    notes: dict[str, str] = field(default_factory=dict)
    same_program: bool = False
    hlo: dict[str, str] = field(default_factory=dict)  # normalised optimised HLO, to compare programs
    extra: dict[str, Any] = field(default_factory=dict)  # network rows: model, mode, port time, torch's peak memory


# Where the torch column runs: "cpu", or "cuda" under --gpu when torch sees a GPU (set by main).
TORCH_DEVICE = "cpu"
#: --graph-layout: the activation layout of the ported networks (None: jaxconv.policy's per-backend choice).
GRAPH_LAYOUT: str | None = None
#: --tuned: also time each ported network with plans measured by jaxconv.tune (set by main).
TUNED = False
# --compiler-options: the network programs jitted with jaxconv.host_memory.compiler_options() (XLA's per-call
# temporaries in blocks malloc keeps on its heap: README, Performance); by default a plain jax.jit, as a user writes it.
COMPILER_OPTIONS = False



def _torch_sgd_step(model: Any, x: Any, y: Any, lr: float) -> Callable[[], Any]:
    """One torch SGD step on cross-entropy (the torch column of the train-step rows)."""
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    loss_fn = torch.nn.CrossEntropyLoss()

    def step() -> Any:
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss
    return step

def _tt(a: np.ndarray) -> Any:
    """A torch tensor of ``a`` on TORCH_DEVICE."""
    t = torch.from_numpy(np.ascontiguousarray(a))
    return t if TORCH_DEVICE == "cpu" else t.to(TORCH_DEVICE)


def _block(v: Any) -> Any:
    if TORCH_DEVICE != "cpu":
        torch.cuda.synchronize()
    return jax.block_until_ready(v)


def compile_exe(impl: Impl) -> tuple[Any, float, int | None, int | None]:
    """AOT-compile: (the executable, compile seconds, XLA's peak bytes, XLA's temp bytes; None where not reported)."""
    t0 = time.perf_counter()
    exe = impl.jitted.lower(*impl.args).compile()  # trace + lower + XLA compile
    dt = time.perf_counter() - t0
    peak = temp = None
    try:
        m = exe.memory_analysis()
        temp = m.temp_size_in_bytes
        peak = getattr(m, "peak_memory_in_bytes", 0) or (
            m.argument_size_in_bytes + m.output_size_in_bytes + m.temp_size_in_bytes - m.alias_size_in_bytes)
    except Exception:  # not every backend reports it
        pass
    return exe, dt, peak, temp


def compile_impl(impl: Impl) -> tuple[Callable[[], Any], float, int | None, str]:
    """AOT-compile a jitted implementation: (a one-call thunk, compile seconds, XLA's peak bytes or None)."""
    exe, dt, peak, _ = compile_exe(impl)
    run, args = impl.run, impl.args
    return ((lambda: run(exe)) if run is not None else (lambda: exe(*args))), dt, peak, _normalised_hlo(exe)


def _normalised_hlo(exe: Any) -> str:
    """The optimised HLO's instructions without names and metadata: equal strings mean the same program."""
    try:
        text = exe.as_text()
    except Exception:
        return ""
    text = re.sub(r",?\s*metadata=\{[^}]*\}", "", text)
    text = re.sub(r"%[\w.\-]+", "%", text)
    # Instructions only (the module header and the stack-frame tables name source files),
    # as a sorted multiset: XLA may list independent instructions in another order.
    return "\n".join(sorted(line.strip() for line in text.splitlines() if re.match(r"\s*(ROOT )?% = ", line)))


SETTLE_S = 0.005  # the longest pause after a round-robin call (time_impls)


def time_impls(calls: dict[str, Callable[[], Any]], budget_s: float, min_rep: int, max_rep: int
               ) -> tuple[dict[str, float], int]:
    """Median seconds per implementation after warm-up.

    JAX implementations are timed round-robin (one call of each per round, so a load
    spike hits them alike), each call followed by a pause as long as its first timing, at
    most ``SETTLE_S``: XLA:CPU frees a call's temporaries after its outputs are ready, and
    that work ran into the next implementation's timing (raw lax's ``x @ w.T`` at batch 1
    copies the 151 MB weight transposed every call; jaxconv's GEMV timed right after it
    took 9.6-10.0 ms, 5.3 with a 5 ms pause, 4.0-4.5 alone; 2026-12-08). torch is timed in
    its own block afterwards, because its OpenMP workers keep spinning for a while after
    each call and would slow down whatever JAX call came next.
    """
    first: dict[str, float] = {}
    for name, call in calls.items():
        _block(call())
        t0 = time.perf_counter()
        _block(call())
        first[name] = time.perf_counter() - t0
    reps = int(min(max_rep, max(min_rep, budget_s / max(sum(first.values()), 1e-9))))
    samples: dict[str, list[float]] = {k: [] for k in calls}
    groups = [[k for k in calls if k != "torch"], [k for k in calls if k == "torch"]]
    for group in groups:
        if not group:
            continue
        time.sleep(0.05)  # let the other framework's worker threads go idle
        for name in group:
            _block(calls[name]())
        for _ in range(reps):
            for name in group:
                t0 = time.perf_counter()
                _block(calls[name]())
                samples[name].append(time.perf_counter() - t0)
                if len(group) > 1:
                    time.sleep(min(SETTLE_S, first[name]))
    return {k: statistics.median(v) for k, v in samples.items()}, reps


# --------------------------------------------------------------------------- helpers

def _rand(rng: np.random.Generator, shape: tuple[int, ...], scale: float = 1.0) -> np.ndarray:
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def _fb(f: Callable[..., Any], n_diff: int) -> Callable[..., Any]:
    """(args..., ct) -> (y, grads of the first n_diff args) via one VJP."""
    def g(*args: Any) -> Any:
        *xs, ct = args
        y, vjp = jax.vjp(lambda *d: f(*d, *xs[n_diff:]), *xs[:n_diff])
        return y, vjp(ct)
    return g


def _jax_impl(f: Callable[..., Any], args: tuple[Any, ...]) -> Impl:
    return Impl(jitted=jax.jit(f), args=args)


def _torch_fwd(f: Callable[..., Any], args: tuple[Any, ...]) -> Impl:
    def call() -> Any:
        with torch.no_grad():
            return f(*args)
    return Impl(call)


def _torch_fb(f: Callable[..., Any], args: tuple[Any, ...], n_diff: int, ct: Any) -> Impl:
    leaves = [a.detach().clone().requires_grad_(True) for a in args[:n_diff]]
    rest = args[n_diff:]

    def call() -> Any:
        for t in leaves:
            t.grad = None
        f(*leaves, *rest).backward(ct)
        return [t.grad for t in leaves]
    return Impl(call)


def _sym(name: str, module: Any = None) -> Any:
    """A jaxconv symbol that may not exist yet (ops are being written in parallel)."""
    return getattr(jaxconv if module is None else module, name, None)


# --------------------------------------------------------------------------- cases

def conv_case(name: str, n: int, cin: int, hw: int, cout: int, k: int, s: int, p: int, *, bwd: bool,
              channels_last: bool = False, quick: bool = False, quick_n: int | None = None) -> Case:
    def build(n: int = n) -> dict[str, Impl | None]:
        rng = np.random.default_rng(0)
        x = _rand(rng, (n, cin, hw, hw))
        w = _rand(rng, (cout, cin, k, k), (cin * k * k) ** -0.5)
        ho = (hw + 2 * p - k) // s + 1
        ct = _rand(rng, (n, cout, ho, ho))
        if channels_last:
            xj, wj, ctj = x.transpose(0, 2, 3, 1), w.transpose(2, 3, 1, 0), ct.transpose(0, 2, 3, 1)
            dn = ("NHWC", "HWIO", "NHWC")
        else:
            xj, wj, ctj, dn = x, w, ct, ("NCHW", "OIHW", "NCHW")
        xj, wj, ctj = jnp.asarray(xj), jnp.asarray(wj), jnp.asarray(ctj)

        def jc(x: Any, w: Any) -> Any:
            return jaxconv.conv2d(x, w, None, s, p, channels_last=channels_last)

        def rl(x: Any, w: Any) -> Any:
            return lax.conv_general_dilated(x, w, (s, s), ((p, p), (p, p)), dimension_numbers=dn)

        out: dict[str, Impl | None] = {}
        if bwd:
            out["jaxconv"] = _jax_impl(_fb(jc, 2), (xj, wj, ctj))
            out["lax"] = _jax_impl(_fb(rl, 2), (xj, wj, ctj))
        else:
            out["jaxconv"] = _jax_impl(jc, (xj, wj))
            out["lax"] = _jax_impl(rl, (xj, wj))
        if torch is not None:
            tx, tw, tct = _tt(x), _tt(w), _tt(ct)
            if channels_last:  # torch's own NHWC: channels_last memory format
                tx, tw = tx.contiguous(memory_format=torch.channels_last), tw.contiguous(memory_format=torch.channels_last)
                tct = tct.contiguous(memory_format=torch.channels_last)

            def tf(x: Any, w: Any) -> Any:
                return F.conv2d(x, w, None, s, p)
            out["torch"] = _torch_fb(tf, (tx, tw), 2, tct) if bwd else _torch_fwd(tf, (tx, tw))
        return out

    def flops(n: int) -> float:
        return float(shapes.conv_flops((hw, hw), cin, cout, k, s, p, bias=False, batch=n) * (3 if bwd else 1))

    layout = "NHWC" if channels_last else "NCHW"
    label = f"conv2d {name} {layout} {'fwd+bwd' if bwd else 'fwd'}"
    qn = n if quick_n is None else quick_n
    xs, ws = ((n, hw, hw, cin), (k, k, cin, cout)) if channels_last else ((n, cin, hw, hw), (cout, cin, k, k))
    spec = conv_spec("conv2d", xs, ws, None, s, p, 1, 1, "zeros", channels_last, 2)
    # the plan of the backend this runs on (jaxconv.policy: the CPU table on CPU, XLA's conv elsewhere)
    plan = policy.plans(spec)["cpu" if jax.default_backend() == "cpu" else "default"]
    same = plan == policy.DIRECT and not any(lo or hi for lo, hi in spec.mode_pads)
    return Case(label, "conv", build, flops(n), quick=quick, quick_build=lambda: build(qn), quick_flops=flops(qn),
                same_program=same)


def conv_transpose_case(bwd: bool, quick: bool = False) -> Case:
    # A U-Net up-step: ConvTranspose2d(128, 64, 2, stride=2) on (8, 128, 28, 28) -> (8, 64, 56, 56).
    n, cin, cout, hw, k, s = 8, 128, 64, 28, 2, 2

    def build() -> dict[str, Impl | None]:
        rng = np.random.default_rng(1)
        x = _rand(rng, (n, cin, hw, hw))
        w = _rand(rng, (cin, cout, k, k), (cin * k * k) ** -0.5)
        ct = _rand(rng, (n, cout, hw * s, hw * s))
        xj, wj, ctj = jnp.asarray(x), jnp.asarray(w), jnp.asarray(ct)
        fn = _sym("conv_transpose2d")

        def rl(x: Any, w: Any) -> Any:
            # The textbook form: dilate the input by the stride, pad by k-1, flip the kernel, swap I/O.
            wf = jnp.flip(w, (2, 3)).transpose(1, 0, 2, 3)
            return lax.conv_general_dilated(x, wf, (1, 1), ((k - 1, k - 1),) * 2, lhs_dilation=(s, s),
                                            dimension_numbers=("NCHW", "OIHW", "NCHW"))

        def jc(x: Any, w: Any) -> Any:
            return fn(x, w, None, s)

        out: dict[str, Impl | None] = {}
        wrap = (lambda f: _jax_impl(_fb(f, 2), (xj, wj, ctj))) if bwd else (lambda f: _jax_impl(f, (xj, wj)))
        out["jaxconv"] = wrap(jc) if fn is not None else None
        out["lax"] = wrap(rl)
        if torch is not None:
            tx, tw, tct = _tt(x), _tt(w), _tt(ct)

            def tf(x: Any, w: Any) -> Any:
                return F.conv_transpose2d(x, w, None, s)
            out["torch"] = _torch_fb(tf, (tx, tw), 2, tct) if bwd else _torch_fwd(tf, (tx, tw))
        return out

    flops = 2 * n * cin * hw * hw * cout * k * k * (3 if bwd else 1)
    return Case(f"conv_transpose2d U-Net up 128->64 k2 s2 @28 {'fwd+bwd' if bwd else 'fwd'}", "conv", build, float(flops),
                quick=quick)


def _window_impls(x: np.ndarray, ct: np.ndarray, bwd: bool, jc: Callable[..., Any] | None, rl: Callable[..., Any],
                  fl: Callable[..., Any], tf: Callable[..., Any]) -> dict[str, Impl | None]:
    """The four columns of a one-input window op on NCHW ``x`` (Flax's in NHWC), forward or forward+backward."""
    xj, ctj = jnp.asarray(x), jnp.asarray(ct)
    xh, cth = jnp.asarray(x.transpose(0, 2, 3, 1)), jnp.asarray(ct.transpose(0, 2, 3, 1))

    def wrap(f: Callable[..., Any], xa: Any, cta: Any) -> Impl:
        return _jax_impl(_fb(f, 1), (xa, cta)) if bwd else _jax_impl(f, (xa,))
    out: dict[str, Impl | None] = {
        "jaxconv": wrap(jc, xj, ctj) if jc is not None else None,
        "lax": wrap(rl, xj, ctj),
        "flax": wrap(fl, xh, cth) if flax_linen is not None else None,
    }
    if torch is not None:
        tx, tct = _tt(x), _tt(ct)
        out["torch"] = _torch_fb(tf, (tx,), 1, tct) if bwd else _torch_fwd(tf, (tx,))
    return out


def pool_case(kind: str, shape: tuple[int, ...], k: int, s: int, p: int, bwd: bool, quick: bool = False) -> Case:
    def build(shape: tuple[int, ...] = shape) -> dict[str, Impl | None]:
        rng = np.random.default_rng(2)
        x = _rand(rng, shape)
        n, c, h, _ = shape
        ho = (h + 2 * p - k) // s + 1
        ct = _rand(rng, (n, c, ho, ho))
        win, strides, pads = (1, 1, k, k), (1, 1, s, s), ((0, 0), (0, 0), (p, p), (p, p))
        if kind == "max":
            fn = _sym("max_pool2d")

            def jc(x: Any) -> Any:
                return fn(x, k, s, p)

            def rl(x: Any) -> Any:
                return lax.reduce_window(x, -jnp.inf, lax.max, win, strides, pads)

            def fl(x: Any) -> Any:
                return flax_linen.max_pool(x, (k, k), (s, s), ((p, p), (p, p)))

            def tf(x: Any) -> Any:
                return F.max_pool2d(x, k, s, p)
        else:
            fn = _sym("avg_pool2d")

            def jc(x: Any) -> Any:
                return fn(x, k, s, p)

            def rl(x: Any) -> Any:  # count_include_pad=True (torch's default): a constant divisor
                return lax.reduce_window(x, 0.0, lax.add, win, strides, pads) / (k * k)

            def fl(x: Any) -> Any:
                return flax_linen.avg_pool(x, (k, k), (s, s), ((p, p), (p, p)), count_include_pad=True)

            def tf(x: Any) -> Any:
                return F.avg_pool2d(x, k, s, p)

        return _window_impls(x, ct, bwd, jc if fn is not None else None, rl, fl, tf)

    shp = "x".join(map(str, shape))
    name = f"{kind}_pool2d k{k} s{s} p{p} ({shp}) {'fwd+bwd' if bwd else 'fwd'}"
    return Case(name, "pool", build, None, quick=quick, quick_build=lambda: build((1, *shape[1:])))


def adaptive_case(bwd: bool, quick: bool = False) -> Case:
    shape, out_hw = (8, 64, 56, 56), 7

    def build() -> dict[str, Impl | None]:
        rng = np.random.default_rng(3)
        x = _rand(rng, shape)
        ct = _rand(rng, (*shape[:2], out_hw, out_hw))
        fn = _sym("adaptive_avg_pool2d")
        kk = shape[2] // out_hw  # 56 / 7: uniform bins, so raw lax is one reduce_window

        def jc(x: Any) -> Any:
            return fn(x, out_hw)

        def rl(x: Any) -> Any:
            return lax.reduce_window(x, 0.0, lax.add, (1, 1, kk, kk), (1, 1, kk, kk), "VALID") / (kk * kk)

        def fl(x: Any) -> Any:
            return flax_linen.avg_pool(x, (kk, kk), (kk, kk))

        def tf(x: Any) -> Any:
            return F.adaptive_avg_pool2d(x, out_hw)
        return _window_impls(x, ct, bwd, jc if fn is not None else None, rl, fl, tf)

    return Case(f"adaptive_avg_pool2d (8x64x56x56)->7x7 {'fwd+bwd' if bwd else 'fwd'}", "pool", build, None, quick=quick)


def interpolate_case(bwd: bool, quick: bool = False) -> Case:
    shape = (8, 64, 56, 56)

    def build() -> dict[str, Impl | None]:
        rng = np.random.default_rng(4)
        x = _rand(rng, shape)
        out_shape = (*shape[:2], shape[2] * 2, shape[3] * 2)
        ct = _rand(rng, out_shape)
        xj, ctj = jnp.asarray(x), jnp.asarray(ct)
        fn = _sym("interpolate")

        def jc(x: Any) -> Any:
            return fn(x, scale_factor=2, mode="bilinear", align_corners=False)

        def rl(x: Any) -> Any:
            # Upsampling, so jax.image.resize's antialiasing is moot and its half-pixel rule is torch's.
            return jax.image.resize(x, out_shape, "bilinear")

        def wrap(f: Callable[..., Any]) -> Impl:
            return _jax_impl(_fb(f, 1), (xj, ctj)) if bwd else _jax_impl(f, (xj,))
        out: dict[str, Impl | None] = {"jaxconv": wrap(jc) if fn is not None else None, "lax": wrap(rl)}
        if torch is not None:
            tx, tct = _tt(x), _tt(ct)

            def tf(x: Any) -> Any:
                return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
            out["torch"] = _torch_fb(tf, (tx,), 1, tct) if bwd else _torch_fwd(tf, (tx,))
        return out

    return Case(f"interpolate bilinear x2 (8x64x56x56) {'fwd+bwd' if bwd else 'fwd'}", "resize", build, None, quick=quick)


def _lenet_torch(seed: int = 0) -> Any:
    torch.manual_seed(seed)
    nn = torch.nn
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.Sigmoid(), nn.AvgPool2d(2, 2),
        nn.Conv2d(6, 16, 5), nn.Sigmoid(), nn.AvgPool2d(2, 2), nn.Flatten(),
        nn.Linear(400, 120), nn.Sigmoid(), nn.Linear(120, 84), nn.Sigmoid(), nn.Linear(84, 10))


def _lenet_params_np(seed: int = 0) -> dict[str, np.ndarray]:
    if torch is not None:
        return {k: v.detach().numpy().copy() for k, v in _lenet_torch(seed).state_dict().items()}
    rng = np.random.default_rng(seed)
    shapes_ = {"0": ((6, 1, 5, 5), 25), "3": ((16, 6, 5, 5), 150), "7": ((120, 400), 400), "9": ((84, 120), 120),
               "11": ((10, 84), 84)}
    out = {}
    for k, (s, fan) in shapes_.items():
        out[f"{k}.weight"] = rng.uniform(-fan ** -0.5, fan ** -0.5, s).astype(np.float32)
        out[f"{k}.bias"] = rng.uniform(-fan ** -0.5, fan ** -0.5, s[0]).astype(np.float32)
    return out


def lenet_case(quick: bool = False) -> Case:
    batch, lr = 64, 0.1

    def build() -> dict[str, Impl | None]:
        import optax

        rng = np.random.default_rng(5)
        x = _rand(rng, (batch, 1, 28, 28))
        y = rng.integers(0, 10, batch).astype(np.int32)
        xj, yj = jnp.asarray(x), jnp.asarray(y)
        params0 = _lenet_params_np()
        tx = optax.sgd(lr)

        def xent(logits: Any, labels: Any) -> Any:
            return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()

        # raw lax: a hand-written functional LeNet
        def lax_forward(p: dict[str, Any], x: Any) -> Any:
            def conv(x: Any, w: Any, b: Any, pad: int) -> Any:
                y = lax.conv_general_dilated(x, w, (1, 1), ((pad, pad), (pad, pad)), dimension_numbers=("NCHW", "OIHW", "NCHW"))
                return y + b[:, None, None]

            def pool(x: Any) -> Any:
                return lax.reduce_window(x, 0.0, lax.add, (1, 1, 2, 2), (1, 1, 2, 2), "VALID") / 4

            h = pool(jax.nn.sigmoid(conv(x, p["0.weight"], p["0.bias"], 2)))
            h = pool(jax.nn.sigmoid(conv(h, p["3.weight"], p["3.bias"], 0)))
            h = h.reshape(h.shape[0], -1)
            h = jax.nn.sigmoid(h @ p["7.weight"].T + p["7.bias"])
            h = jax.nn.sigmoid(h @ p["9.weight"].T + p["9.bias"])
            return h @ p["11.weight"].T + p["11.bias"]

        def make_step(forward: Callable[[Any, Any], Any]) -> Callable[..., Any]:
            def step(p: Any, opt: Any, x: Any, y: Any) -> Any:
                loss, g = jax.value_and_grad(lambda p: xent(forward(p, x), y))(p)
                upd, opt = tx.update(g, opt, p)
                return optax.apply_updates(p, upd), opt, loss
            return step

        def stateful(step: Callable[..., Any], p: Any) -> Impl:
            # Carry the state between calls as a real training loop does; buffers are donated.
            state = {"p": p, "opt": tx.init(p)}

            def run(exe: Any) -> Any:
                state["p"], state["opt"], loss = exe(state["p"], state["opt"], xj, yj)
                return loss
            return Impl(jitted=jax.jit(step, donate_argnums=(0, 1)), args=(p, state["opt"], xj, yj), run=run)

        out: dict[str, Impl | None] = {}
        plax = {k: jnp.asarray(v) for k, v in params0.items()}
        out["lax"] = stateful(make_step(lax_forward), plax)

        try:
            from flax import nnx

            from jaxconv import nn as jnn
            r = nnx.Rngs(0)
            model = jnn.Sequential(
                jnn.Conv2d(1, 6, 5, padding=2, rngs=r), jnn.Sigmoid(), jnn.AvgPool2d(2, 2),
                jnn.Conv2d(6, 16, 5, rngs=r), jnn.Sigmoid(), jnn.AvgPool2d(2, 2), jnn.Flatten(),
                jnn.Linear(400, 120, rngs=r), jnn.Sigmoid(), jnn.Linear(120, 84, rngs=r), jnn.Sigmoid(),
                jnn.Linear(84, 10, rngs=r))
            jnn.load_torch_state_dict(model, params0)  # the same initial weights as the other columns
            graphdef, state = nnx.split(model)

            def jc_forward(st: Any, x: Any) -> Any:
                return nnx.merge(graphdef, st)(x)
            out["jaxconv"] = stateful(make_step(jc_forward), state)
        except (ImportError, AttributeError, TypeError, ValueError) as e:
            out["jaxconv"] = None
            print(f"  (LeNet jaxconv.nn column unavailable: {type(e).__name__}: {e})", file=sys.stderr)

        if torch is not None:
            tm = _lenet_torch().to(TORCH_DEVICE)
            out["torch"] = Impl(_torch_sgd_step(tm, _tt(x), _tt(y).long(), lr))
        return out

    f = (shapes.conv_flops((28, 28), 1, 6, 5, padding=2, batch=batch) + shapes.conv_flops((14, 14), 6, 16, 5, batch=batch)
         + 2 * batch * (400 * 120 + 120 * 84 + 84 * 10))
    return Case("LeNet train step (batch 64, SGD)", "train", build, float(3 * f), quick=quick)


def eager_case(kind: str, quick: bool = False) -> Case:
    def build() -> dict[str, Impl | None]:
        x = jnp.asarray(np.arange(64, dtype=np.float32).reshape(1, 1, 8, 8))
        out: dict[str, Impl | None] = {}
        if kind == "conv":
            w = jnp.ones((1, 1, 3, 3), jnp.float32)
            out["jaxconv"] = Impl(lambda: jaxconv.conv2d(x, w))
            out["lax"] = Impl(lambda: lax.conv_general_dilated(x, w, (1, 1), ((0, 0), (0, 0))))
            if torch is not None:
                tx, tw = _tt(np.array(x)), _tt(np.ones((1, 1, 3, 3), np.float32))
                out["torch"] = _torch_fwd(lambda a, b: F.conv2d(a, b), (tx, tw))
        else:
            fn = _sym("max_pool2d")
            out["jaxconv"] = Impl(lambda: fn(x, 2)) if fn is not None else None
            out["lax"] = Impl(lambda: lax.reduce_window(x, -jnp.inf, lax.max, (1, 1, 2, 2), (1, 1, 2, 2), "VALID"))
            if torch is not None:
                tx = _tt(np.array(x))
                out["torch"] = _torch_fwd(lambda a: F.max_pool2d(a, 2), (tx,))
        return out

    what = "conv2d (1x1x8x8, 3x3)" if kind == "conv" else "max_pool2d (1x1x8x8, k2)"
    return Case(f"eager {what}", "eager", build, None, quick=quick, eager=True)


def linear_case(batch: int, bwd: bool, quick: bool = False) -> Case:
    # AlexNet/VGG's first classifier layer, nn.Linear(9216, 4096): batch 1 is a GEMV over a 151 MB weight.
    fin, fout = 9216, 4096

    def build(batch: int = batch, fin: int = fin, fout: int = fout) -> dict[str, Impl | None]:
        rng = np.random.default_rng(6)
        x, w, b = _rand(rng, (batch, fin)), _rand(rng, (fout, fin), fin ** -0.5), _rand(rng, (fout,))
        ct = _rand(rng, (batch, fout))
        xj, wj, bj, ctj = (jnp.asarray(a) for a in (x, w, b, ct))

        def jc(x: Any, w: Any, b: Any) -> Any:
            return jaxconv.linear(x, w, b)

        def rl(x: Any, w: Any, b: Any) -> Any:
            return x @ w.T + b

        out: dict[str, Impl | None] = {}
        for nm, f in (("jaxconv", jc), ("lax", rl)):
            out[nm] = _jax_impl(_fb(f, 3), (xj, wj, bj, ctj)) if bwd else _jax_impl(f, (xj, wj, bj))
        if torch is not None:
            targs = (_tt(x), _tt(w), _tt(b))
            out["torch"] = _torch_fb(F.linear, targs, 3, _tt(ct)) if bwd else _torch_fwd(F.linear, targs)
        return out

    def flops(batch: int, fin: int, fout: int) -> float:
        return float(2 * batch * fin * fout * (3 if bwd else 1))

    qb, qin, qout = 1, 2304, 1024
    return Case(f"linear 9216->4096 batch {batch} {'fwd+bwd' if bwd else 'fwd'}", "linear", build,
                flops(batch, fin, fout), quick=quick, quick_build=lambda: build(qb, qin, qout),
                quick_flops=flops(qb, qin, qout), quick_label=f" [quick: {qin}->{qout}]")


PARTS = ("fwd", "dx", "dw")


def conv_part_case(name: str, n: int, cin: int, hw: int, cout: int, k: int, s: int, p: int, part: str,
                   quick: bool = False, quick_n: int = 1) -> Case:
    """One part of a convolution on its own: the forward pass, the input gradient or the weight gradient.

    JAX: ``jax.vjp`` with respect to ``x`` only (dx) or ``w`` only (dw), returning only the gradient, so
    XLA drops the forward pass. torch: ``aten.convolution_backward`` with one output mask bit, the kernel
    autograd runs for that gradient, without autograd's forward pass.
    """
    def build(n: int = n) -> dict[str, Impl | None]:
        rng = np.random.default_rng(7)
        x = _rand(rng, (n, cin, hw, hw))
        w = _rand(rng, (cout, cin, k, k), (cin * k * k) ** -0.5)
        ho = (hw + 2 * p - k) // s + 1
        ct = _rand(rng, (n, cout, ho, ho))
        xj, wj, ctj = jnp.asarray(x), jnp.asarray(w), jnp.asarray(ct)

        def jc(x: Any, w: Any) -> Any:
            return jaxconv.conv2d(x, w, None, s, p)

        def rl(x: Any, w: Any) -> Any:
            return lax.conv_general_dilated(x, w, (s, s), ((p, p), (p, p)), dimension_numbers=("NCHW", "OIHW", "NCHW"))

        def part_fn(f: Callable[..., Any]) -> Impl:
            if part == "fwd":
                return _jax_impl(f, (xj, wj))
            if part == "dx":
                return _jax_impl(lambda x, w, ct: jax.vjp(lambda x: f(x, w), x)[1](ct)[0], (xj, wj, ctj))
            return _jax_impl(lambda x, w, ct: jax.vjp(lambda w: f(x, w), w)[1](ct)[0], (xj, wj, ctj))

        out: dict[str, Impl | None] = {"jaxconv": part_fn(jc), "lax": part_fn(rl)}
        if torch is not None:
            tx, tw, tct = _tt(x), _tt(w), _tt(ct)
            if part == "fwd":
                out["torch"] = _torch_fwd(lambda x, w: F.conv2d(x, w, None, s, p), (tx, tw))
            else:
                mask = [part == "dx", part == "dw", False]

                def tcall() -> Any:
                    return torch.ops.aten.convolution_backward(tct, tx, tw, None, [s, s], [p, p], [1, 1], False,
                                                               [0, 0], 1, mask)
                out["torch"] = Impl(tcall)
        return out

    def flops(n: int) -> float:
        return float(shapes.conv_flops((hw, hw), cin, cout, k, s, p, bias=False, batch=n))

    spec = conv_spec("conv2d", (n, cin, hw, hw), (cout, cin, k, k), None, s, p, 1, 1, "zeros", False, 2)
    plan = policy.plans(spec)["cpu" if jax.default_backend() == "cpu" else "default"]
    algo = plan[PARTS.index(part)]
    # XLA's own convolution: "direct" without explicit padding, or the forward of "direct"/"direct_hipad" of a
    # zero-padded strided conv, whose padding goes back into XLA's window (jaxconv/convolution.py, _forward)
    refolded = part == "fwd" and algo in ("direct", "direct_hipad") and spec.mode == "zeros"
    same = (algo == "direct" and not any(lo or hi for lo, hi in spec.mode_pads)) or refolded
    return Case(f"conv2d part {name} b{n} {part} [{algo}]", "parts", build, flops(n), quick=quick,
                quick_build=lambda: build(quick_n), quick_flops=flops(quick_n), same_program=same)


# --------------------------------------------------------------------------- whole networks

# torchvision constructor arguments: dropout and stochastic depth off, so that a train step is deterministic.
NETWORKS: dict[str, dict[str, Any]] = {
    "resnet18": {},
    "mobilenet_v2": {"dropout": 0.0},
    "efficientnet_b0": {"dropout": 0.0, "stochastic_depth_prob": 0.0},
    "convnext_tiny": {"stochastic_depth_prob": 0.0},
    # Beyond the four: grouped 3x3 convs (group width 8), whose XLA:CPU gradients were the slow path.
    "regnet_y_400mf": {},
}
NETWORK_BATCH, NETWORK_SIZE = 8, 128
# --quick: one tiny row instead (a residual CNN with its own forward, captured by torch.export as torchvision's
# models are; batch >= 2, since torch.export fixes dims of size 1), so that the CI smoke test stays fast.
QUICK_NETWORK = ("tiny_resnet", 2, 32)
NETWORK_LR = 0.01


def _torchvision() -> Any:
    # As tests/torchvision_compat.py: torchvision's C++ ops do not load beside the CPU torch here, and its
    # Python import needs the two op schemas defined first; the models are pure Python.
    import contextlib
    for op in ("nms", "qnms"):
        with contextlib.suppress(RuntimeError):
            torch.library.define(f"torchvision::{op}", "(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    import torchvision
    return torchvision


def _tiny_resnet() -> Any:
    nn = torch.nn

    class TinyResNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1, bias=False), nn.BatchNorm2d(8), nn.ReLU())
            self.block = nn.Sequential(nn.Conv2d(8, 8, 3, 1, 1, bias=False), nn.BatchNorm2d(8))
            self.fc = nn.Linear(8, 1000)

        def forward(self, x: Any) -> Any:
            x = self.stem(x)
            x = torch.relu(x + self.block(x))
            return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))
    return TinyResNet()


def _rss_bytes() -> tuple[int, int]:
    """(current, peak) resident set size of this process, from /proc (Linux), else getrusage's peak twice."""
    try:
        with open("/proc/self/status") as f:
            fields = dict(line.split(":", 1) for line in f if ":" in line)
        return int(fields["VmRSS"].split()[0]) * 1024, int(fields["VmHWM"].split()[0]) * 1024
    except (OSError, KeyError, ValueError):
        import resource
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * (1 if sys.platform == "darwin" else 1024)
        return peak, peak


#: glibc's tunable (2.35+) that madvises transparent huge pages for the blocks malloc maps with mmap.
HUGETLB_TUNABLE = "glibc.malloc.hugetlb=1"


def hugepages_malloc() -> bool:
    """Whether this process runs with :data:`HUGETLB_TUNABLE` (read by glibc at start-up, from the environment)."""
    return HUGETLB_TUNABLE in os.environ.get("GLIBC_TUNABLES", "").split(":")


def _minor_faults(call: Callable[[], Any], n: int = 3) -> float | None:
    """Minor page faults per call of a warmed-up ``call``: the pages the kernel had to map and zero for it.

    XLA:CPU allocates a program's temporaries afresh at every call, one block (232 MB for resnet18's train step)
    that glibc's malloc maps with mmap and unmaps again, so every call first-touches all of it; torch's per-op
    allocations mostly come back from malloc's heap. ``None`` where ``resource`` is missing (Windows).
    """
    try:
        import resource
    except ImportError:
        return None
    _block(call())
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(n):
        _block(call())
    return (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / n


def _tuned_exe(fn: Any, jitted: Any, args: tuple[Any, ...], path: str) -> tuple[Any, float]:
    """``jaxconv.tune`` ``fn`` on ``args`` into the plan file ``path``, then compile ``jitted`` (``fn`` jitted) with
    those plans in effect: (the tuned executable, tuning seconds). The plans are in the jit cache key: it retraces."""
    import jaxconv
    from jaxconv import tuning
    t0 = time.perf_counter()
    jaxconv.tune(fn, *args, path=path, progress=False)  # the plain function: its timing calls donate nothing
    tune_s = time.perf_counter() - t0
    with tuning.use_plans(path):
        exe = jitted.lower(*args).compile()
    return exe, tune_s


def network_worker(name: str, batch: int, size: int, budget: float, min_rep: int, max_rep: int,
                   tuned: bool = False) -> dict[str, Any]:
    """One network's eval forward and SGD train step, torch's and the ported model's (run in its own process).

    torch's train step runs first, before JAX holds any buffer, so that the peak RSS it adds is its own.
    With ``tuned``, each program is also tuned (``jaxconv.tune`` into a temporary plan file: the conv parts it runs
    and the activation layout measured on this machine) and timed beside the default one, round-robin.
    """
    import copy
    import tempfile

    import optax
    from flax import nnx

    from jaxconv import nn as jnn

    out: dict[str, Any] = {"model": name, "batch": batch, "size": size}
    torch.manual_seed(0)
    if name == "tiny_resnet":
        model = _tiny_resnet()
    else:
        model = getattr(_torchvision().models, name)(weights=None, **NETWORKS.get(name, {}))
    port_src = copy.deepcopy(model)  # the initial weights, before torch's steps change them
    rng = np.random.default_rng(8)
    x = _rand(rng, (batch, 3, size, size))
    y = rng.integers(0, 1000, batch).astype(np.int32)

    tm = model.to(TORCH_DEVICE).train()
    tx, ty = _tt(x), _tt(y).long()
    ttrain = _torch_sgd_step(tm, tx, ty, NETWORK_LR)

    rss0, _ = _rss_bytes()
    if TORCH_DEVICE != "cpu":
        torch.cuda.reset_peak_memory_stats()
        mem0 = torch.cuda.memory_allocated()
    tt, _ = time_impls({"torch": ttrain}, budget, min_rep, max_rep)
    if TORCH_DEVICE != "cpu":
        out["torch_train_peak_bytes"] = torch.cuda.max_memory_allocated() - mem0
        out["torch_peak_kind"] = "CUDA peak allocated increase"
    else:
        out["torch_train_peak_bytes"] = _rss_bytes()[1] - rss0
        out["torch_peak_kind"] = "peak RSS increase"
    out["torch_train_s"] = tt["torch"]
    out["torch_train_faults"] = _minor_faults(ttrain)
    tm.eval()

    def teval() -> Any:
        with torch.no_grad():
            return tm(tx)

    t0 = time.perf_counter()
    ported = jnn.from_torch(port_src, torch.zeros(batch, 3, size, size))  # captures train and eval mode
    out["port_s"] = time.perf_counter() - t0
    xj, yj = jnp.asarray(x), jnp.asarray(y)

    # --compiler-options: jax.jit with jaxconv.host_memory.compiler_options() ({} off the CPU); else a plain jax.jit.
    copts = jaxconv.host_memory.compiler_options() if COMPILER_OPTIONS else {}
    ported.eval()
    graphdef, state = nnx.split(ported)
    def forward_fn(st: Any, x: Any) -> Any:
        return nnx.merge(graphdef, st)(x)
    forward = jax.jit(forward_fn, compiler_options=copts)  # jax.jit over split/merge: no nnx.jit overhead
    exe, out["eval_compile_s"], out["eval_peak_bytes"], out["eval_temp_bytes"] = compile_exe(Impl(jitted=forward, args=(state, xj)))

    def call() -> Any:
        return exe(state, xj)
    eval_calls = {"jaxconv": call, "torch": teval}
    plan_dir = tempfile.mkdtemp(prefix="jaxconv-bench-plans-") if tuned else ""
    if tuned:
        # the plain function to tune (jax.jit refuses compiler_options on a jit nested in tune's own)
        exe_tuned, out["eval_tune_s"] = _tuned_exe(forward_fn, forward, (state, xj), os.path.join(plan_dir, "eval.json"))
        eval_calls["tuned"] = lambda: exe_tuned(state, xj)
    te, out["eval_repeats"] = time_impls(eval_calls, budget, min_rep, max_rep)
    out["eval_s"], out["torch_eval_s"], out["eval_tuned_s"] = te["jaxconv"], te["torch"], te.get("tuned")

    ported.train()
    graphdef_t, params, rest = nnx.split(ported, nnx.Param, ...)
    params, rest = jax.tree.map(jnp.copy, params), jax.tree.map(jnp.copy, rest)  # donated below: not eval's buffers

    def step(params: Any, rest: Any, x: Any, y: Any) -> Any:
        m = nnx.merge(graphdef_t, params, rest)
        loss, grads = nnx.value_and_grad(
            lambda m: optax.softmax_cross_entropy_with_integer_labels(m(x), y).mean())(m)
        new = jax.tree.map(lambda p, g: p - NETWORK_LR * g, nnx.state(m, nnx.Param), grads)
        return new, nnx.state(m, nnx.Not(nnx.Param)), loss  # updated running statistics

    carry = {"p": params, "r": rest}

    def run(exe: Any, carry: dict[str, Any] = carry) -> Any:
        carry["p"], carry["r"], loss = exe(carry["p"], carry["r"], xj, yj)
        return loss
    step_jit = jax.jit(step, donate_argnums=(0, 1), compiler_options=copts)
    impl = Impl(jitted=step_jit, args=(params, rest, xj, yj), run=run)
    exe_t, out["train_compile_s"], out["train_peak_bytes"], out["train_temp_bytes"] = compile_exe(impl)

    def call_t() -> Any:
        return run(exe_t)
    train_calls = {"jaxconv": call_t}
    if tuned:
        # Its own copies of the state: each program donates (and so consumes) the buffers it is given.
        carry_tuned = {"p": jax.tree.map(jnp.copy, params), "r": jax.tree.map(jnp.copy, rest)}
        exe_tt, out["train_tune_s"] = _tuned_exe(step, step_jit, (carry_tuned["p"], carry_tuned["r"], xj, yj),
                                                 os.path.join(plan_dir, "train.json"))
        train_calls["tuned"] = lambda: run(exe_tt, carry_tuned)
    tj, out["train_repeats"] = time_impls(train_calls, budget, min_rep, max_rep)
    out["train_s"], out["train_tuned_s"] = tj["jaxconv"], tj.get("tuned")
    out["train_faults"] = _minor_faults(call_t)
    if plan_dir:
        shutil.rmtree(plan_dir, ignore_errors=True)
    return out


def _network_results(case: Case, name: str, batch: int, size: int, budget: float, min_rep: int, max_rep: int,
                     threads: int | None) -> list[Result]:
    """Run network_worker in a fresh process (its own peak RSS, no other row's compiled programs) -> two rows."""
    cmd = [sys.executable, os.path.abspath(__file__), "--network-worker", name, "--batch", str(batch),
           "--size", str(size), "--budget", str(budget), "--reps", f"{min_rep},{max_rep}"]
    if TUNED:
        cmd.append("--tuned")
    if jaxconv.host_memory.freed_memory_kept():
        cmd.append("--keep-freed-memory")
    if COMPILER_OPTIONS:
        cmd.append("--compiler-options")
    if threads is not None:
        cmd += ["--threads", str(threads)]
    if TORCH_DEVICE != "cpu":
        cmd.append("--gpu")
    if GRAPH_LAYOUT is not None:
        cmd += ["--graph-layout", GRAPH_LAYOUT]
    tag = f"(batch {batch}, {size}x{size})"
    ev = Result(f"{name} eval forward {tag}", "network")
    tr = Result(f"{name} train step SGD {tag}", "network")
    try:
        # tuning (--tuned) measures both programs' conv parts and layouts: efficientnet_b0's took ~11 minutes here
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=3600 if TUNED else 1800)
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
        if proc.returncode != 0 or not lines:
            raise RuntimeError(f"worker exit {proc.returncode}: {(proc.stderr or proc.stdout)[-600:]}")
        d = json.loads(lines[-1])
    except (OSError, subprocess.SubprocessError, RuntimeError, ValueError) as e:
        note = f"{type(e).__name__}: {e}"[-600:]
        print(f"  {name}: network worker failed: {note}", file=sys.stderr)
        for r in (ev, tr):
            r.notes["jaxconv"] = note
        return [ev, tr]
    common = {"model": name, "batch": batch, "size": size, "port_s": d.get("port_s")}
    ev.times = {"jaxconv": d.get("eval_s"), "torch": d.get("torch_eval_s"), "tuned": d.get("eval_tuned_s")}
    ev.compile_s, ev.peak_bytes = {"jaxconv": d.get("eval_compile_s")}, {"jaxconv": d.get("eval_peak_bytes")}
    ev.repeats, ev.extra = d.get("eval_repeats", 0), {**common, "mode": "eval", "xla_temp_bytes": d.get("eval_temp_bytes"),
                                                      "tune_s": d.get("eval_tune_s")}
    tr.times = {"jaxconv": d.get("train_s"), "torch": d.get("torch_train_s"), "tuned": d.get("train_tuned_s")}
    tr.compile_s, tr.peak_bytes = {"jaxconv": d.get("train_compile_s")}, {"jaxconv": d.get("train_peak_bytes")}
    tr.repeats = d.get("train_repeats", 0)
    tr.extra = {**common, "mode": "train", "xla_temp_bytes": d.get("train_temp_bytes"), "torch_peak_bytes": d.get("torch_train_peak_bytes"),
                "torch_peak_kind": d.get("torch_peak_kind"), "tune_s": d.get("train_tune_s"),
                "faults": d.get("train_faults"), "torch_faults": d.get("torch_train_faults")}
    return [ev, tr]


def network_case(name: str, quick: bool = False) -> Case:
    def measure(budget: float, min_rep: int, max_rep: int, threads: int | None, small: bool) -> list[Result]:
        nm, b, s = QUICK_NETWORK if small else (name, NETWORK_BATCH, NETWORK_SIZE)
        return _network_results(case, nm, b, s, budget, min_rep, max_rep, threads)
    case = Case(f"network {name}", "network", lambda: {}, None, quick=quick, measure=measure)
    return case


def all_cases() -> list[Case]:
    conv_shapes = [
        # name, N, Cin, HW, Cout, k, s, p, quick batch
        # name, N, Cin, HW, Cout, k, s, p, batch under --quick (None: not in --quick)
        ("ResNet stem 7x7 s2 3->64 @224", 8, 3, 224, 64, 7, 2, 3, None),
        ("3x3 64->64 @56", 8, 64, 56, 64, 3, 1, 1, 1),
        ("3x3 128->128 @28", 8, 128, 28, 128, 3, 1, 1, None),
        ("1x1 256->1024 @14", 8, 256, 14, 1024, 1, 1, 0, 1),
        ("LeNet 5x5 1->6 @28 b64", 64, 1, 28, 6, 5, 1, 0, 16),
        # below the Winograd rule's 32 channels: XLA's own convolution, the identical-program check's row
        ("3x3 16->16 @112", 8, 16, 112, 16, 3, 1, 1, None),
    ]
    cases: list[Case] = []
    for bwd in (False, True):
        for nm, n, cin, hw, cout, k, s, p, qn in conv_shapes:
            cases.append(conv_case(nm, n, cin, hw, cout, k, s, p, bwd=bwd, quick=bwd and qn is not None, quick_n=qn))
    for bwd in (False, True):
        for nm, n, cin, hw, cout, k, s, p, _ in conv_shapes[1:3]:
            cases.append(conv_case(nm, n, cin, hw, cout, k, s, p, bwd=bwd, channels_last=True))
    cases += [conv_transpose_case(False), conv_transpose_case(True)]
    for bwd in (False, True):
        cases.append(pool_case("max", (8, 64, 112, 112), 3, 2, 1, bwd, quick=bwd))
        cases.append(pool_case("max", (8, 64, 112, 112), 2, 2, 0, bwd))
        cases.append(pool_case("avg", (8, 64, 112, 112), 3, 2, 1, bwd))
    cases += [adaptive_case(False), adaptive_case(True), interpolate_case(False), interpolate_case(True)]
    cases.append(lenet_case(quick=True))
    cases += [eager_case("conv", quick=True), eager_case("pool")]
    cases += [linear_case(1, False, quick=True), linear_case(8, False), linear_case(64, False), linear_case(64, True)]
    for part in PARTS:
        cases.append(conv_part_case("stem 7x7 s2 3->64 @224", 8, 3, 224, 64, 7, 2, 3, part))
    for part in PARTS:
        cases.append(conv_part_case("3x3 s2 64->128 @56", 8, 64, 56, 128, 3, 2, 1, part, quick=part == "dw"))
    for part in PARTS:  # Winograd's forward and input gradient, XLA's weight gradient
        cases.append(conv_part_case("3x3 s1 64->64 @56", 8, 64, 56, 64, 3, 1, 1, part))
    cases += [network_case(name, quick=name == "resnet18") for name in NETWORKS]  # --quick: QUICK_NETWORK
    return cases


# --------------------------------------------------------------------------- reporting

def gemm_gflops(n: int, budget_s: float) -> dict[str, float]:
    a = jnp.asarray(np.random.default_rng(0).standard_normal((n, n)).astype(np.float32))
    mm = jax.jit(jnp.matmul)
    calls: dict[str, Callable[[], Any]] = {"jax": lambda: mm(a, a)}
    if torch is not None:
        ta = _tt(np.array(a))
        calls["torch"] = lambda: ta @ ta
    times, _ = time_impls(calls, budget_s, 3, 50)
    return {k: 2 * n ** 3 / t / 1e9 for k, t in times.items()}


def machine() -> dict[str, Any]:
    model = platform.processor() or platform.machine()
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return {
        "cpu": model, "cores": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
        "jax": jax.__version__, "jax_backend": jax.default_backend(), "devices": [str(d) for d in jax.devices()],
        "torch": getattr(torch, "__version__", None), "torch_threads": torch.get_num_threads() if torch is not None else None,
        "flax": getattr(sys.modules.get("flax"), "__version__", None), "torch_device": TORCH_DEVICE,
        "torch_cuda": (torch.cuda.get_device_name(0) if TORCH_DEVICE != "cpu" else None) if torch is not None else None,
        "malloc_hugepages": hugepages_malloc(), "freed_memory_kept": jaxconv.host_memory.freed_memory_kept(),
        "thp": jaxconv.host_memory.thp_mode(),
        "network_compiler_options": jaxconv.host_memory.compiler_options() if COMPILER_OPTIONS else {},
    }


def _torch_label() -> str:
    return "torch CPU" if TORCH_DEVICE == "cpu" else "torch CUDA"


def _fmt_t(t: float | None) -> str:
    if t is None:
        return "n/a"
    return f"{t * 1e6:.1f} us" if t < 1e-3 else f"{t * 1e3:.2f} ms"


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a / b


def _fmt_r(r: float | None) -> str:
    return "n/a" if r is None else f"{r:.2f}"


def records(results: list[Result], gemm: float) -> list[dict[str, Any]]:
    out = []
    for r in results:
        jt = r.times.get("jaxconv")
        rec: dict[str, Any] = {
            "case": r.case, "group": r.group, "repeats": r.repeats, "flops": r.flops,
            "seconds": r.times, "compile_seconds": r.compile_s, "peak_bytes": r.peak_bytes,
            "ratio_lax_over_jaxconv": _ratio(r.times.get("lax"), jt),
            "ratio_torch_over_jaxconv": _ratio(r.times.get("torch"), jt),
            "ratio_flax_over_jaxconv": _ratio(r.times.get("flax"), jt),
            "notes": r.notes, "extra": r.extra,
        }
        if r.flops:
            rec["gflops"] = {k: (r.flops / t / 1e9 if t else None) for k, t in r.times.items()}
            rec["gemm_fraction"] = {k: (v / gemm if v else None) for k, v in rec["gflops"].items()}
        out.append(rec)
    return out


def table(results: list[Result], gemm: float) -> str:
    head = ["case", "jaxconv", "lax", "torch", "flax", "lax/jaxconv", "torch/jaxconv", "flax/jaxconv",
            "jaxconv GFLOP/s", "% GEMM", "compile (jaxconv / lax)", "XLA peak MiB (jaxconv / lax)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in results:
        if r.group == "network":
            continue
        jt = r.times.get("jaxconv")
        gf = r.flops / jt / 1e9 if r.flops and jt else None
        comp = " / ".join("n/a" if r.compile_s.get(k) is None else f"{r.compile_s[k]:.2f} s" for k in ("jaxconv", "lax"))
        mem = " / ".join("n/a" if r.peak_bytes.get(k) is None else f"{r.peak_bytes[k] / 2 ** 20:.1f}" for k in ("jaxconv", "lax"))
        row = [r.case, *(_fmt_t(r.times.get(k)) for k in IMPLS),
               *(_fmt_r(_ratio(r.times.get(k), jt)) for k in ("lax", "torch", "flax")),
               "n/a" if gf is None else f"{gf:.0f}", "n/a" if gf is None else f"{100 * gf / gemm:.0f}%", comp, mem]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def _mib(b: float | None) -> str:
    return "n/a" if b is None else f"{b / 2 ** 20:.1f}"


def _faults(jax_faults: float | None, torch_faults: float | None) -> str:
    return " / ".join("n/a" if f is None else f"{f:,.0f}" for f in (jax_faults, torch_faults))


def network_table(results: list[Result]) -> str:
    """The whole-network rows: ported with jaxconv.nn.from_torch, against torch on the same inputs."""
    rows = [r for r in results if r.group == "network"]
    tuned = any(r.times.get("tuned") for r in rows)  # --tuned: plans measured by jaxconv.tune, a column of their own
    head = ["network", "jaxconv", "torch", "torch/jaxconv", *(["jaxconv tuned", "torch/tuned", "tuning"] if tuned else []),
            "compile (jaxconv)", "XLA peak MiB (jaxconv)", "XLA temp MiB (jaxconv)", "torch peak MiB increase",
            "page faults/step (jaxconv / torch)", "port"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        jt, tt, tu = r.times.get("jaxconv"), r.times.get("torch"), r.times.get("tuned")
        c, port, ts = r.compile_s.get("jaxconv"), r.extra.get("port_s"), r.extra.get("tune_s")
        row = [r.case, _fmt_t(jt), _fmt_t(tt), _fmt_r(_ratio(tt, jt)),
               *([_fmt_t(tu), _fmt_r(_ratio(tt, tu)), "n/a" if ts is None else f"{ts:.0f} s"] if tuned else []),
               "n/a" if c is None else f"{c:.1f} s",
               _mib(r.peak_bytes.get("jaxconv")), _mib(r.extra.get("xla_temp_bytes")), _mib(r.extra.get("torch_peak_bytes")) if r.extra.get("mode") == "train"
               else "-", _faults(r.extra.get("faults"), r.extra.get("torch_faults")) if r.extra.get("mode") == "train" else "-",
               "n/a" if port is None else f"{port:.1f} s"]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def targets(results: list[Result], gemm: float) -> list[str]:
    """The issue's targets, checked against this run."""
    by = {r.case: r for r in results}
    out = []

    def t(case: str, impl: str) -> float | None:
        return by[case].times.get(impl) if case in by else None

    def line(ok: bool | None, text: str) -> None:
        out.append(f"- [{'x' if ok else ' '}] {text}" if ok is not None else f"- [?] {text} (not measured)")

    same_prog = [r for r in results if r.same_program and r.times.get("jaxconv") and r.times.get("lax")]
    if same_prog:
        worst = max(same_prog, key=lambda r: r.times["jaxconv"] / r.times["lax"])
        wr = worst.times["jaxconv"] / worst.times["lax"]
        identical = sum(bool(r.hlo.get("jaxconv")) and r.hlo.get("jaxconv") == r.hlo.get("lax") for r in same_prog)
        best = min(r.times["jaxconv"] / r.times["lax"] for r in same_prog)
        line(identical == len(same_prog),
             f"jitted jaxconv costs nothing over raw lax: {identical}/{len(same_prog)} rows where jaxconv picks XLA's own "
             f"convolution compile to the identical optimised HLO (names and metadata aside); their measured time "
             f"ratios jaxconv/lax spread {best:.2f}-{wr:.2f}x, which is this machine's run-to-run noise")
    other = [r for r in results if not r.same_program and r.group in ("conv", "parts", "linear", "pool", "resize")
             and r.times.get("jaxconv") and r.times.get("lax")]
    if other:
        worst = max(other, key=lambda r: r.times["jaxconv"] / r.times["lax"])
        wr = worst.times["jaxconv"] / worst.times["lax"]
        line(wr <= 1.02, f"where jaxconv picks another formulation (algorithm choice, pools without reduce_window): "
                         f"worst {wr:.3f}x raw lax ({worst.case})")
    for nm in ("max_pool2d k3 s2 p1 (8x64x112x112) fwd+bwd", "max_pool2d k2 s2 p0 (8x64x112x112) fwd+bwd"):
        j, lx, tt = t(nm, "jaxconv"), t(nm, "lax"), t(nm, "torch")
        if j and lx:
            line(lx / j >= 2.5, f"{nm}: {lx / j:.2f}x faster than raw reduce_window's gradient (target >= 2.5x)")
        if j and tt:
            line(tt / j >= 1.0, f"{nm}: {tt / j:.2f}x {_torch_label()}'s speed (aim >= 1.0x)")
    targeted = ("ResNet stem", "3x3 64->64 @56", "3x3 128->128 @28", "1x1 256->1024", "LeNet")  # the issues' shapes
    for r in results:
        if (r.group == "conv" and r.case.startswith("conv2d") and "NCHW fwd+bwd" in r.case
                and any(k in r.case for k in targeted)):
            j, tt = r.times.get("jaxconv"), r.times.get("torch")
            if j and tt:
                line(tt / j >= 0.9, f"{r.case}: {tt / j:.2f}x {_torch_label()}'s speed (target >= 0.9x)")
    for r in results:
        if (r.case.startswith("conv2d 3x3") and r.case.endswith("fwd") and r.flops and r.times.get("jaxconv")
                and any(k in r.case for k in targeted)):
            frac = r.flops / r.times["jaxconv"] / 1e9 / gemm
            line(frac >= 0.8, f"{r.case}: {100 * frac:.0f}% of GEMM GFLOP/s (target >= 80%)")
    lr = [r for r in results if r.group == "train"]
    for r in lr:
        j, tt = r.times.get("jaxconv"), r.times.get("torch")
        line(None if not (j and tt) else tt / j >= 1.0,
             f"{r.case}: {'n/a' if not (j and tt) else f'{tt / j:.2f}x'} {_torch_label()}'s speed (target >= 1.0x)")
    for r in results:
        if r.group == "linear" and " batch 1 " in r.case:
            j, tt = r.times.get("jaxconv"), r.times.get("torch")
            line(None if not (j and tt) else tt / j >= 0.9,
                 f"{r.case}: {'n/a' if not (j and tt) else f'{tt / j:.2f}x'} {_torch_label()}'s speed (target >= 0.9x)")
    network_aims = {"resnet18": 1.0, "mobilenet_v2": 1.0, "efficientnet_b0": 0.8, "convnext_tiny": 0.8}
    for r in results:
        if r.group == "network" and r.extra.get("model") in network_aims:
            aim = network_aims[r.extra["model"]]
            j, tt = r.times.get("jaxconv"), r.times.get("torch")
            line(None if not (j and tt) else tt / j >= aim,
                 f"{r.case}: {'n/a' if not (j and tt) else f'{tt / j:.2f}x'} torch's speed (target >= {aim:.1f}x)")
    for r in results:
        if r.group == "eager":
            j, lx = r.times.get("jaxconv"), r.times.get("lax")
            line(None if not (j and lx) else j / lx <= 1.5,
                 f"{r.case}: jaxconv/lax eager time {'n/a' if not (j and lx) else f'{j / lx:.2f}x'} (target <= 1.5x)")
    return out


# --------------------------------------------------------------------------- main

def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="reduced set with small batches, under a minute (CI smoke test)")
    ap.add_argument("--json", metavar="FILE", help="write machine info and every record as JSON")
    ap.add_argument("-k", metavar="SUBSTRING", action="append", default=[], help="only cases whose name contains this (repeatable)")
    ap.add_argument("--budget", type=float, default=None, help="seconds of timed repeats per case (default 2.0, quick 0.2)")
    ap.add_argument("--threads", type=int, default=None,
                    help="run XLA and torch on this many threads (default: all cores; 1 is less sensitive to a busy machine)")
    sel = ap.add_mutually_exclusive_group()
    sel.add_argument("--networks", action="store_true",
                     help="only the whole-network rows (resnet18, mobilenet_v2, efficientnet_b0, convnext_tiny, regnet_y_400mf; minutes)")
    sel.add_argument("--all", action="store_true", help="the default set and the network rows")
    ap.add_argument("--gpu", action="store_true",
                    help="accelerator run: the torch column on CUDA when torch sees a GPU (JAX uses its default backend)")
    ap.add_argument("--graph-layout", choices=("auto", "captured", "channels_last"), default="auto",
                    help="activation layout of the ported networks (jaxconv.policy.graph_layout; default auto: "
                         "jaxconv.policy.graph_layouts' per-backend choice)")
    ap.add_argument("--tuned", action="store_true",
                    help="network rows: also tune each program with jaxconv.tune (a temporary plan file) and time it "
                         "beside the default one, in a column of its own (adds 1-11 minutes per network here)")
    ap.add_argument("--malloc-hugepages", action="store_true",
                    help=f"run with glibc's {HUGETLB_TUNABLE} (transparent huge pages for malloc's large blocks, jaxconv's "
                         "and torch's alike): XLA:CPU's per-call temporaries then cost ~1,800 page faults instead of "
                         "~57,000 per resnet18 train step (README, Performance)")
    ap.add_argument("--keep-freed-memory", action="store_true",
                    help="call jaxconv.host_memory.keep_freed_memory() first (in every network worker too): malloc keeps "
                         "the memory XLA:CPU frees after each call for the next one, jaxconv's and torch's alike "
                         "(README, Performance)")
    ap.add_argument("--compiler-options", action="store_true",
                    help="network rows: jit the ported programs with jaxconv.host_memory.compiler_options() (XLA's "
                         "temporaries in blocks of at most 8 MiB, which malloc keeps for the next call: README, Performance)")
    ap.add_argument("--network-worker", metavar="MODEL", help=argparse.SUPPRESS)  # one network row, in a subprocess
    ap.add_argument("--batch", type=int, default=NETWORK_BATCH, help=argparse.SUPPRESS)
    ap.add_argument("--size", type=int, default=NETWORK_SIZE, help=argparse.SUPPRESS)
    ap.add_argument("--reps", default="3,20", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.malloc_hugepages and not hugepages_malloc():
        # glibc reads its tunables when a process starts: this run goes on in a child that has it set.
        env = {**os.environ, "GLIBC_TUNABLES": ":".join(filter(None, [os.environ.get("GLIBC_TUNABLES"), HUGETLB_TUNABLE]))}
        cmd = [sys.executable, os.path.abspath(__file__), *(sys.argv[1:] if argv is None else argv)]
        return subprocess.run(cmd, env=env).returncode
    if args.keep_freed_memory:
        jaxconv.host_memory.keep_freed_memory()  # done at import when run as a script; warns if it cannot
    global TORCH_DEVICE, GRAPH_LAYOUT, TUNED, COMPILER_OPTIONS
    GRAPH_LAYOUT = None if args.graph_layout == "auto" else args.graph_layout
    TUNED, COMPILER_OPTIONS = args.tuned, args.compiler_options
    if args.gpu and torch is not None and torch.cuda.is_available():
        TORCH_DEVICE = "cuda"
    if args.threads is not None:
        # XLA reads its flags when the CPU backend starts, i.e. at the first computation below.
        flags = "--xla_cpu_multi_thread_eigen=false" if args.threads == 1 else ""
        os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {flags} intra_op_parallelism_threads={args.threads}"
        if torch is not None:
            torch.set_num_threads(args.threads)

    budget = args.budget if args.budget is not None else (0.2 if args.quick else 2.0)
    if args.network_worker:
        lo, hi = (int(v) for v in args.reps.split(","))
        from jaxconv import policy
        with policy.graph_layout(GRAPH_LAYOUT):  # read while tracing the worker's programs
            print(json.dumps(network_worker(args.network_worker, args.batch, args.size, budget, lo, hi, tuned=args.tuned)))
        return 0
    min_rep, max_rep = (3, 10) if args.quick else (5, 100)
    net_reps = (3, 3) if args.quick else (3, 20)
    cases = [c for c in all_cases() if (c.quick or not args.quick)]
    if args.networks:
        cases = [c for c in cases if c.group == "network"]
    elif not (args.all or args.quick):
        cases = [c for c in cases if c.group != "network"]
    if args.k:
        cases = [c for c in cases if any(s.lower() in c.name.lower() for s in args.k)]

    info = machine()
    t_start = time.perf_counter()
    gemm = gemm_gflops(1024 if args.quick else 2048, 0.3 if args.quick else 3.0)
    print(f"# jaxconv benchmark on {info['cpu']} ({info['cores']} cores), jax {info['jax']} ({info['jax_backend']}), "
          f"torch {info['torch']} ({info['torch_threads']} threads, device {TORCH_DEVICE})")
    print(f"GEMM float32: jax {gemm['jax']:.0f} GFLOP/s" + (f", torch {gemm['torch']:.0f} GFLOP/s" if "torch" in gemm else ""))
    malloc = [HUGETLB_TUNABLE + " (--malloc-hugepages)"] if info["malloc_hugepages"] else []
    malloc += ["freed memory kept (--keep-freed-memory)"] if info["freed_memory_kept"] else []
    print(f"malloc: {', '.join(malloc) or 'glibc defaults'}; "
          f"kernel transparent huge pages: {info['thp']}")
    copts = info["network_compiler_options"]
    print("network programs: jax.jit " + (f"with jaxconv.host_memory.compiler_options() = {copts} (--compiler-options)"
                                          if copts else "without compiler options"))

    results: list[Result] = []
    for case in tqdm(cases, desc="benchmark", unit="case", file=sys.stderr, dynamic_ncols=True):
        small = args.quick and case.quick_build is not None
        build = case.quick_build if small else case.build
        flops = case.quick_flops if small else case.flops
        label = case.name + case.quick_label if small else case.name
        if case.measure is not None:
            results += case.measure(budget, *net_reps, args.threads, args.quick)
            continue
        res = Result(label, case.group, flops=flops, same_program=case.same_program)
        try:
            built = build()
        except Exception as e:  # keep going: one broken column must not hide the rest
            print(f"  {case.name}: build failed: {type(e).__name__}: {e}", file=sys.stderr)
            continue
        calls: dict[str, Callable[[], Any]] = {}
        for name in IMPLS:
            impl = built.get(name)
            if impl is None:
                continue
            try:
                if impl.jitted is not None:
                    call, res.compile_s[name], res.peak_bytes[name], res.hlo[name] = compile_impl(impl)
                else:
                    call = impl.call  # type: ignore[assignment]
                _block(call())
                calls[name] = call
            except Exception as e:  # e.g. an op that is not there yet: its column reads n/a
                res.notes[name] = f"{type(e).__name__}: {e}"[:300]
                print(f"  {case.name} [{name}] failed: {res.notes[name]}", file=sys.stderr)
        if case.eager:
            times, reps = time_impls(calls, budget, 50 if args.quick else 200, 2000)
        else:
            times, reps = time_impls(calls, budget, min_rep, max_rep)
        res.repeats = reps
        for name in IMPLS:
            res.times[name] = times.get(name)
        results.append(res)

    elapsed = time.perf_counter() - t_start
    print()
    if any(r.group != "network" for r in results):  # --networks alone has no single-op rows
        print(table(results, gemm["jax"]))
        print()
    if any(r.group == "network" for r in results):
        print(network_table(results))
        print()
        print("Networks: torchvision models, random init, ported once with jaxconv.nn.from_torch; eval forward and one "
              "SGD step (cross-entropy, lr 0.01; BatchNorm in train mode), each jitted over nnx.split/merge, parameters "
              "donated" + (", with jaxconv.host_memory.compiler_options()" if COMPILER_OPTIONS else "") +
              f". torch peak MiB increase: the train step's, {'CUDA peak allocated' if TORCH_DEVICE != 'cpu' else 'peak RSS'}"
              " over the process's before it (a fresh process per network, torch's steps run before JAX's). Activation "
              f"layout: {GRAPH_LAYOUT or 'auto (jaxconv.policy.graph_layouts)'}.")
        print()
    print("Ratios are other / jaxconv time (> 1: jaxconv faster). fwd+bwd = one VJP (output and gradients of input and weight);")
    print(f"GFLOP/s counts a multiply-add as 2; % GEMM is of jax's {gemm['jax']:.0f} GFLOP/s float32 matmul.")
    print()
    print("Targets (issues 8 and 14):")
    for line in targets(results, gemm["jax"]):
        print(line)
    print(f"\n{len(results)} cases in {elapsed:.0f} s")
    if args.json:
        payload = {"machine": info, "quick": args.quick, "date": datetime.datetime.now().isoformat(timespec="seconds"),
                   "gemm_gflops": gemm, "elapsed_seconds": elapsed, "records": records(results, gemm["jax"])}
        with open(args.json, "w") as f:
            json.dump(payload, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
