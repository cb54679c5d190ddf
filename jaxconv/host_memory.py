"""Host memory for XLA:CPU programs: keep the memory one call frees for the next.

Two ways, per program or per process. :func:`compiler_options` (per program, no process-wide change) has
XLA split a program's temporaries into blocks of at most :data:`HEAP_LIMIT_BYTES` (8 MiB), small enough
for malloc to keep on its heaps and hand to the next call already mapped; pass it to the train step's
``jax.jit(..., compiler_options=...)``. :func:`keep_freed_memory` (per process, glibc only) instead has
malloc keep even the one large block; the rest of this docstring is about why that block costs so much.

XLA:CPU allocates a program's temporaries afresh at every call, as one block (232 MB for ported
resnet18's train step, batch 8, 128x128). glibc's malloc hands a block that large out with ``mmap`` and
unmaps it on free, so every call first-touches all of it again: 56,700 minor page faults and ~150 ms of
kernel time per step on this project's 2-core machine, against torch's 10,500 faults and 26 ms (README,
"The page-fault tax on XLA:CPU train steps"). Setting ``MALLOC_MMAP_MAX_=0`` alone does not help: XLA
allocates on its worker threads, each with its own malloc arena, and an arena other than the main one
cannot hold a block larger than its 64 MiB heap, so it maps the block anyway.

:func:`keep_freed_memory` sets three of glibc's ``mallopt`` parameters for the whole process: one arena for
every thread (``M_ARENA_MAX=1``, the main arena, which grows with ``brk`` to any size), no ``mmap`` for large
blocks (``M_MMAP_MAX=0``) and no trimming of the freed top of the heap below 2 GiB (``M_TRIM_THRESHOLD``).
The block a call frees is then the block the next call gets, its pages already mapped. Measured
(2026-12-07, resnet18 train step, batch 8, 128x128, one process each, 10 steps after 6 warm-up): 56,900
-> 0 faults per step, kernel time 158 -> 12 ms, 349 -> 322 ms (``experiments/benchmark.py --networks
--keep-freed-memory`` runs the whole benchmark, torch included, this way; README has its tables).

The cost: the process keeps its peak heap (up to 2 GiB above what is in use) instead of returning it to
the system; that heap holds a few copies of the block (a call may ask for its block before the last
call's is freed: a 128 MiB one settled at 2-4 copies in ``tests/test_host_memory.py``); and threads share
one arena's lock (no slower in the runs above; a program that mallocs heavily from many threads may be).
It is a switch for a process that trains or serves on the CPU, which is why it is not on by default.
Threads keep the arena they first allocated from, so it must run before JAX's CPU backend starts (before
the first computation; later it changes nothing and says so) and best before other libraries start
threads: called after torch had run one op, resnet18's step still took 17,500 faults (torch's threads
took arenas of their own, and XLA's workers reuse them, mapping large blocks whatever the settings).
"""

from __future__ import annotations

import ctypes
import sys
import warnings
from typing import Any

__all__ = ["HEAP_LIMIT_BYTES", "MALLOPT_SETTINGS", "compiler_options", "freed_memory_kept", "keep_freed_memory",
           "thp_mode"]

#: ``(name, glibc's parameter number, value)`` of each ``mallopt`` call :func:`keep_freed_memory` makes
#: (malloc.h: ``M_TRIM_THRESHOLD`` -1, ``M_MMAP_MAX`` -4, ``M_ARENA_MAX`` -8). The arena limit comes first:
#: it must be in place before any worker thread takes an arena of its own.
MALLOPT_SETTINGS: tuple[tuple[str, int, int], ...] = (
    ("M_ARENA_MAX", -8, 1),
    ("M_MMAP_MAX", -4, 0),
    ("M_TRIM_THRESHOLD", -1, 2**31 - 1),
)

_kept = False

#: The largest block :func:`compiler_options` lets XLA combine a program's temporaries into (bytes): below
#: glibc's 32 MiB ceiling for its dynamic ``mmap`` threshold, so that a freed block stays on malloc's heap
#: for the next call. A temporary larger than this gets a block of its own (XLA logs a warning about it at
#: compile time, ``heap_simulator.cc``: harmless). Measured, resnet18's train step (batch 8, 128x128, one
#: process each, 2026-12-07): no limit 57,600 faults per step, 32 MiB 57,600, 16 MiB 38,200, 8 MiB 4,000,
#: 1 MiB 2 (with XLA's temp 221 -> 257 MiB: buffers that could share a block no longer do).
HEAP_LIMIT_BYTES = 8 << 20

# The XLA debug option behind compiler_options (xla/debug_options_flags.cc; BufferAssigner's
# CombineTempAllocations starts a new temp allocation when the next buffer would reach the limit).
_MULTIHEAP_OPTION = "xla_multiheap_size_constraint_per_heap"


def compiler_options(platform: str | None = None) -> dict[str, int]:
    """XLA compiler options that keep a CPU program's per-call temporaries on malloc's heap: pass them to
    the top-level ``jax.jit`` of a train step (or any large program called repeatedly) on the CPU.

    XLA:CPU allocates a program's temporaries at every call, by default as one block (232 MB for ported
    resnet18's train step), which glibc's malloc maps afresh and unmaps on free: every call first-touches
    all of it again. With these options XLA splits the temporaries into blocks of at most
    :data:`HEAP_LIMIT_BYTES`, which malloc takes from its heaps and mostly keeps for the next call (how
    many depends on glibc's heuristics and the heap's layout: some faults stay). It changes where buffers
    live, not what is computed (the results are bit-identical), and only the program it is given to.
    Measured (2026-12-07, train step, batch 8, 128x128, one process each, 10 steps after 6 warm-up, two
    rounds; README, "The page-fault tax on XLA:CPU train steps"): resnet18 57,600 -> 4,000 faults per step,
    kernel time 168 -> 17 ms, 339 -> 281 ms; mobilenet_v2 62,600 -> 3,600 faults, 252 -> 130 ms (351 -> 224
    in the second round); efficientnet_b0 331 -> 184 ms; convnext_tiny 123,300 -> 52,700 faults, 1032 ->
    1336 ms in one round and 1558 -> 779 in the other (this VM's noise). The cost: XLA's temp may grow
    (buffers that shared a block no longer do: mobilenet_v2's 241 -> 257 MiB). It is for train steps: an
    eval forward's temporaries (25-105 MiB here) mostly stay on the heap already (resnet18's ran slower with
    it). JAX takes ``compiler_options`` on a top-level ``jax.jit`` only, so hand ``jaxconv.tune`` (which
    jits what it is given) the plain step function, not the jitted one (it raises a ValueError saying so).

    Args:
        platform: the platform the program is compiled for (``"cpu"``, ``"gpu"``, ``"cuda"``, ``"rocm"``,
            ``"tpu"``, ...); ``None``: ``jax.default_backend()``.

    Returns:
        ``{"xla_multiheap_size_constraint_per_heap": HEAP_LIMIT_BYTES}`` for ``"cpu"``; ``{}`` for every
        other platform, whose allocators were not measured (a CPU measurement never decides a GPU/TPU
        program, as in ``jaxconv.policy``).

    Example:

    >>> import jax, jax.numpy as jnp
    >>> from jaxconv import host_memory
    >>> host_memory.compiler_options("cpu"), host_memory.compiler_options("cuda")
    ({'xla_multiheap_size_constraint_per_heap': 8388608}, {})
    >>> step = jax.jit(lambda x: jnp.tanh(x) * 2, compiler_options=host_memory.compiler_options("cpu"))
    >>> step(jnp.zeros(3)).tolist()
    [0.0, 0.0, 0.0]
    """
    if platform is None:
        import jax
        platform = jax.default_backend()
    if not isinstance(platform, str):
        raise TypeError(f"compiler_options: platform must be a str such as 'cpu' or None, got {type(platform).__name__}")
    return {_MULTIHEAP_OPTION: HEAP_LIMIT_BYTES} if platform.lower() == "cpu" else {}


def _glibc() -> Any:
    """The process's C library if it is glibc (the only one with these ``mallopt`` parameters), else None."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None)
        libc.gnu_get_libc_version.restype = ctypes.c_char_p  # glibc's own symbol: absent from musl
        libc.gnu_get_libc_version()
        libc.mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
        return libc
    except (OSError, AttributeError):
        return None


def _backend_started() -> bool:
    try:
        from jax._src import xla_bridge  # private: jax has no public "is a backend running" query
        return bool(xla_bridge.backends_are_initialized())
    except (ImportError, AttributeError):
        return False


def keep_freed_memory() -> bool:
    """Have malloc keep the memory XLA:CPU frees at the end of each call, for the next call.

    Sets :data:`MALLOPT_SETTINGS` for the whole process (the module docstring has the mechanism, the
    measured effect and the cost). Call it once, after ``import jaxconv`` and before the first JAX
    computation, best before importing torch or anything else that starts threads (threads that took
    arenas of their own keep mapping large blocks; which did cannot be seen from Python; the thread that
    ``import jax`` starts was harmless in the measurements). Nothing changes, and a ``RuntimeWarning``
    says why, where the C library is not glibc or where JAX's backend is already running (its worker
    threads have arenas of their own: the settings would keep the heap without removing the faults).
    Once the settings are in place, later calls return ``True`` at once.

    Returns:
        Whether the settings are in place for this process.

    Example (in a fresh process, as it must be):

    >>> import subprocess, sys
    >>> code = "import jaxconv; print(jaxconv.host_memory.keep_freed_memory(), jaxconv.host_memory.freed_memory_kept())"
    >>> subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.split()  # glibc (Linux)
    ['True', 'True']
    """
    global _kept
    if _kept:
        return True
    libc = _glibc()
    if libc is None:
        warnings.warn(f"keep_freed_memory: the C library of this platform ({sys.platform}) is not glibc, whose "
                      "mallopt parameters it sets; nothing changed", RuntimeWarning, stacklevel=2)
        return False
    if _backend_started():
        warnings.warn("keep_freed_memory: JAX's backend is already running, so its worker threads have malloc arenas "
                      "of their own that map XLA's large blocks anyway; nothing changed. Call it before the first "
                      "JAX computation (restart the process)", RuntimeWarning, stacklevel=2)
        return False
    for name, param, value in MALLOPT_SETTINGS:
        if libc.mallopt(param, value) != 1:  # mallopt returns 1 on success
            warnings.warn(f"keep_freed_memory: mallopt({name}, {value}) failed; the settings are partly applied",
                          RuntimeWarning, stacklevel=2)
            return False
    _kept = True
    return True


def freed_memory_kept() -> bool:
    """Whether :func:`keep_freed_memory` has put its settings in place in this process.

    >>> from jaxconv import host_memory
    >>> isinstance(host_memory.freed_memory_kept(), bool)
    True
    """
    return _kept


def thp_mode() -> str:
    """The kernel's transparent-huge-page mode, ``"always"``, ``"madvise"`` or ``"never"`` (``"unknown"`` where
    ``/sys`` does not say): with ``always`` the kernel maps large blocks in 2 MiB pages and the per-call page
    faults :func:`keep_freed_memory` removes are 512x fewer to begin with.

    >>> from jaxconv import host_memory
    >>> host_memory.thp_mode() in ("always", "madvise", "never", "unknown")
    True
    """
    try:
        with open("/sys/kernel/mm/transparent_hugepage/enabled") as f:
            return next((w[1:-1] for w in f.read().split() if w.startswith("[")), "unknown")
    except OSError:
        return "unknown"
