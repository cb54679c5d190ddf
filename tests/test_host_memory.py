"""jaxconv.host_memory: keeping the memory XLA:CPU frees for the next call.

oracle: the kernel's count of minor page faults (``resource.getrusage``) of a fresh process that runs a
jitted program with a large XLA temporary: with glibc's defaults every call first-touches the block
again; with :func:`jaxconv.host_memory.keep_freed_memory` called first it is mapped once. Each case runs
in its own process: the settings are process-wide and must precede JAX's backend.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings

import pytest

from jaxconv import host_memory

# The two fresh-process tests need glibc, whose mallopt parameters keep_freed_memory sets; elsewhere (macOS,
# musl) it refuses, which the last test checks on every platform. CI runs on glibc: they run there.
needs_glibc = pytest.mark.skipif(host_memory._glibc() is None, reason="the mallopt parameters are glibc's (Linux)")

# A program whose XLA temporary is one 128 MiB block: a K=8 GEMM's (8192, 4096) output, reduced.
_PROGRAM = """
import json, resource, sys, warnings
import jaxconv, jax, jax.numpy as jnp
phase = sys.argv[1]
if phase == "late":
    jnp.ones(1).block_until_ready()
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    kept = jaxconv.host_memory.keep_freed_memory() if phase != "default" else None
f = jax.jit(lambda a, b: jnp.sum(jnp.sin(a @ b)))
a, b = jnp.ones((8192, 8)), jnp.ones((8, 4096))
exe = f.lower(a, b).compile()
for _ in range(3):
    exe(a, b).block_until_ready()
# Per call: the heap grows by the block a few times, also after warm-up (a call may ask for its block
# before XLA has freed the last one: up to 3 of 9 calls here), then reuses them: the median call is the
# steady state.
faults = []
for _ in range(9):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    exe(a, b).block_until_ready()
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
faults = sorted(faults)[len(faults) // 2]
print(json.dumps({"kept": kept, "faults": faults, "temp": exe.memory_analysis().temp_size_in_bytes,
                  "warnings": [str(w.message) for w in caught]}))
"""


def _run(phase: str) -> dict:
    out = subprocess.run([sys.executable, "-c", _PROGRAM, phase], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.splitlines()[-1])


@needs_glibc
def test_keep_freed_memory_removes_the_per_call_page_faults():
    """Called before the backend starts, the temp block's pages are mapped once, not at every call.
    oracle: getrusage's minor faults per call, against the block's size in 4 KiB pages."""
    default, kept = _run("default"), _run("kept")
    pages = default["temp"] / 4096
    assert default["temp"] >= 100 * 2**20, default  # the block is far past malloc's mmap threshold
    if host_memory.thp_mode() != "always":
        # the premise: with glibc's defaults each call faults the block in again (with THP "always" the
        # kernel maps it in 2 MiB pages, 512x fewer faults, and there is no tax to remove)
        assert default["faults"] > 0.5 * pages, (default, pages)
    assert kept["kept"] is True and not kept["warnings"], kept
    assert kept["faults"] < 0.1 * pages, (kept, pages)


@needs_glibc
def test_keep_freed_memory_after_the_backend_started_changes_nothing_and_warns():
    """Once JAX's worker threads hold arenas of their own the setting would only keep the heap: it is
    refused with a RuntimeWarning naming the function and the rule. oracle: the returned flag and the warning."""
    late = _run("late")
    assert late["kept"] is False, late
    assert any("keep_freed_memory" in w and "before the first JAX computation" in w for w in late["warnings"]), late


def test_keep_freed_memory_without_glibc_changes_nothing_and_warns(monkeypatch):
    """Another C library (macOS, musl): nothing is set, a RuntimeWarning names the platform.
    oracle: the returned flag, the warning and freed_memory_kept()."""
    monkeypatch.setattr(host_memory, "_glibc", lambda: None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert host_memory.keep_freed_memory() is False
    assert any("not glibc" in str(w.message) and w.category is RuntimeWarning for w in caught)
    assert host_memory.freed_memory_kept() is False


# A program whose temporaries are sixteen 4 MiB GEMM outputs, all live at once (one elementwise fusion reads
# them all), and which, like a train step, donates an argument and returns its new value for the next call.
# XLA combines the temporaries into one 64 MiB block by default, into blocks of at most 8 MiB with
# compiler_options(). Its buffer assignment is read from XLA's dump (xla_dump_to, a compiler option too).
_SPLIT_PROGRAM = """
import glob, json, re, resource, sys
import jaxconv, jax, jax.numpy as jnp
dump = sys.argv[2]
opts = jaxconv.host_memory.compiler_options() if sys.argv[1] == "options" else {}
def f(a, b):
    ys = [(a * (i + 1)) @ b for i in range(16)]
    acc = ys[0]
    for y in ys[1:]:
        acc = acc + jnp.sin(y)
    return jnp.sum(acc), a * 0.5 + b
f = jax.jit(f, donate_argnums=0, compiler_options={**opts, "xla_dump_to": dump})
a = jnp.linspace(-1, 1, 1024 * 1024).reshape(1024, 1024)
b = jnp.linspace(1, -1, 1024 * 1024).reshape(1024, 1024)
exe = f.lower(a, b).compile()
outs, faults = [], []
for i in range(12):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    s, a = jax.block_until_ready(exe(a, b))
    if i >= 3:
        faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
    outs.append(float(s))
(text,) = [open(p).read() for p in glob.glob(dump + "/*buffer-assignment.txt")]
temps = [int(n) for n in re.findall(r"^allocation \\d+: size (\\d+), preallocated-temp", text, re.M)]
print(json.dumps({"faults": sorted(faults)[len(faults) // 2], "temps": temps, "outs": outs,
                  "platform": jax.default_backend()}))
"""


def _run_split(phase: str, tmp_path) -> dict:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}  # XLA's per-buffer size warnings
    out = subprocess.run([sys.executable, "-c", _SPLIT_PROGRAM, phase, str(tmp_path / phase)], capture_output=True,
                         text=True, timeout=300, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.splitlines()[-1])


def test_compiler_options_split_the_temporaries_and_change_no_result(tmp_path):
    """With compiler_options() in the program's jit XLA's temporaries are blocks of at most HEAP_LIMIT_BYTES (one
    block of 68 MiB without), and every result is bit-identical. oracle: XLA's buffer assignment (its dump) and
    the default program's results; getrusage's minor faults per call for the premise (the median of 9 warm calls)."""
    default, split = _run_split("default", tmp_path), _run_split("options", tmp_path)
    assert default["platform"] == split["platform"] == "cpu"
    assert len(default["temps"]) == 1 and default["temps"][0] >= 64 * 2**20, default["temps"]
    assert sum(split["temps"]) >= default["temps"][0] and max(split["temps"]) <= host_memory.HEAP_LIMIT_BYTES, split["temps"]
    assert split["outs"] == default["outs"]
    if host_memory._glibc() is not None and host_memory.thp_mode() != "always":
        # the premise of the option: by default the block is faulted in again at every call. What it saves is
        # measured (README, "The page-fault tax"), not asserted: how many of the small blocks malloc keeps
        # depends on glibc's heuristics and the heap's layout (0-85% of the pages per call in this program,
        # median 12-80% by run on the dev machine; resnet18's train step 57,600 -> 4,000 faults)
        assert default["faults"] > 0.5 * default["temps"][0] / 4096, default["faults"]


@pytest.mark.parametrize("platform, expected", [
    ("cpu", {"xla_multiheap_size_constraint_per_heap": host_memory.HEAP_LIMIT_BYTES}),
    ("CPU", {"xla_multiheap_size_constraint_per_heap": host_memory.HEAP_LIMIT_BYTES}),
    ("cuda", {}), ("gpu", {}), ("rocm", {}), ("tpu", {}), ("METAL", {}),
])
def test_compiler_options_are_for_the_cpu_only(platform, expected):
    """A CPU measurement never decides another platform's program. oracle: the documented mapping."""
    assert host_memory.compiler_options(platform) == expected
    assert host_memory.HEAP_LIMIT_BYTES < 32 * 2**20  # below glibc's ceiling for its dynamic mmap threshold


def test_compiler_options_default_platform_and_bad_type():
    """None means jax.default_backend(); a non-str platform is a TypeError naming the function and argument."""
    import jax
    assert host_memory.compiler_options() == host_memory.compiler_options(jax.default_backend())
    with pytest.raises(TypeError, match=r"compiler_options: platform must be a str"):
        host_memory.compiler_options(3)  # type: ignore[arg-type]
