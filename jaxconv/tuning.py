"""Measured plans: time each formulation of a convolution on this backend and keep the fastest.

As cuDNN's benchmark mode, XLA's autotuner or FFTW's wisdom. :func:`tune_conv` times every
algorithm of :data:`jaxconv.policy.ALGORITHMS` that can compute a shape (each proven exact by
``tests/test_conv_paths.py``), separately for the forward pass, the input gradient and the
weight gradient (medians of a few runs after warm-up), and keeps the fastest of each part;
:func:`tune` does so for every distinct convolution of a function or an NNX model. The choices
go into a plan file (JSON, keyed by backend, device kind, jax version, dtype and the static
shape; atomic writes under a lock, so several processes may tune into one file; a corrupt or
foreign file is ignored with a :class:`PlanFileWarning` and rebuilt on the next write).

Off by default: the table of :mod:`jaxconv.policy` decides. :func:`enable` (or the environment
variable ``JAXCONV_PLANS=/path/plans.json``, read when jaxconv is imported) makes the file's plans
decide, each for its own platform only (its ``lax.platform_dependent`` branch); :func:`use_plans`
does so in a ``with`` block. The plan set in effect is a JAX config state in the jit cache key, so
turning plans on or off, or tuning into the enabled file, retraces instead of reusing a program
built under the other choice; a :func:`use_plans` block keeps the file as it was on entry.

The plan file's key holds no dtype the policy could see (:func:`jaxconv.policy.plans` gets the
spec only), so a lookup takes the float32 entry of a shape when there is one, else its latest.

>>> import tempfile, jax.numpy as jnp, jaxconv
>>> from jaxconv import tuning
>>> path = tempfile.mkdtemp() + "/plans.json"
>>> plan = tuning.tune_conv((2, 3, 12, 12), (4, 3, 3, 3), padding=1, path=path, repeats=2)
>>> all(a in jaxconv.policy.ALGORITHMS for a in plan)
True
>>> with tuning.use_plans(path):
...     jaxconv.conv2d(jnp.ones((2, 3, 12, 12)), jnp.ones((4, 3, 3, 3)), padding=1).shape
(2, 4, 12, 12)
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import functools
import hashlib
import itertools
import logging
import math
import os
import platform as _platform_mod
import statistics
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax._src import config as _jax_config  # the config-state mechanism policy.py's switch uses

from jaxconv import policy
from jaxconv.convolution import conv
from jaxconv.plan_file import FORMAT, VERSION, PlanFileWarning, _read, _resolve, _store, default_path, load_plans
from jaxconv.shapes import ConvSpec, IntOrSeq, Padding, arg_error, conv_spec, weight_layout_name

__all__ = ["FORMAT", "PARTS", "PRUNE_FACTOR", "PRUNE_SLACK_MS", "VERSION", "PlanFileWarning", "default_path", "disable", "enable", "enabled_path",
           "load_plans", "plan_key", "recording", "tune", "tune_conv", "tune_layout", "use_plans"]

#: The parts of a convolution timed and chosen separately: forward, input gradient, weight gradient.
PARTS = ("fwd", "dx", "dw")
#: The environment variable that enables a plan file when jaxconv is imported.
ENV_VAR = "JAXCONV_PLANS"

log = logging.getLogger("jaxconv.tuning")


# --- the plan set in effect ------------------------------------------------------------------
# A token ("<digest of the plans>:<path>") names one loaded snapshot of a plan file; "" is off. It is a JAX
# config state in the jit cache key and the trace context (as policy's conv_algorithm), so each
# snapshot gets its own programs. _TRACE_TAG does the same for recording(): a fresh tag makes
# every jitted conv retrace, so that policy.plans sees (and records) its spec.
_STATE = _jax_config.string_or_object_state(
    name="jaxconv_plan_set", default="", validator=lambda v: None if isinstance(v, str) else _bad_token(v),
    help="jaxconv: the measured plan set in effect (internal; use jaxconv.tuning.enable / use_plans).",
    include_in_jit_key=True, include_in_trace_context=True,
)
_TRACE_TAG = _jax_config.string_or_object_state(
    name="jaxconv_tuning_trace", default="",
    help="jaxconv: a fresh value per jaxconv.tuning.recording block (internal).",
    include_in_jit_key=True, include_in_trace_context=True,
)


def _bad_token(value: object) -> None:
    raise TypeError(f"jaxconv_plan_set must be a str, got {value!r}")


_lock = threading.Lock()
# token -> {(platform, device kind, jax version, spec string): {dtype: (measured, plan)}}
_tables: dict[str, dict[tuple[str, str, str, str], dict[str, tuple[str, policy.Plan]]]] = {}
_global_path: str | None = None
_scopes = 0


# --- identity: the key -----------------------------------------------------------------------
def _lax_platform(device: Any) -> str:
    """The ``lax.platform_dependent`` name of a device's platform (``"gpu"`` is ``"cuda"`` or ``"rocm"``)."""
    p = device.platform
    if p == "gpu":
        return "rocm" if "rocm" in str(getattr(device.client, "platform_version", "")).lower() else "cuda"
    return p


@functools.cache
def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return _platform_mod.processor() or _platform_mod.machine()


@functools.cache
def _identity(platform: str) -> tuple[str, str, str] | None:
    """(platform, device kind, jax version) of this process's devices of ``platform``, or ``None``."""
    backend = {"cuda": "gpu", "rocm": "gpu"}.get(platform, platform)
    try:
        devices = jax.devices(backend)
    except RuntimeError:
        return None
    if not devices or _lax_platform(devices[0]) != platform:
        return None
    kind = devices[0].device_kind
    if platform == "cpu":  # jax says "cpu" for every CPU: the processor model tells machines apart
        kind = f"{kind} ({_cpu_model()})"
    return platform, kind, jax.__version__


def _spec_string(spec: ConvSpec) -> str:
    """A stable string of every ConvSpec field (a new field makes old entries miss, never mismatch)."""
    return ";".join(f"{f.name}={getattr(spec, f.name)!r}".replace(" ", "") for f in dataclasses.fields(spec))


def plan_key(spec: ConvSpec, dtype: Any = jnp.float32, platform: str | None = None) -> str:
    """The plan file's key for ``spec``: backend, device kind, jax version, dtype and the static spec.

    ``platform`` defaults to the default backend's (``lax.platform_dependent`` names: cpu, cuda, rocm, tpu).

    >>> from jaxconv.shapes import conv_spec
    >>> key = plan_key(conv_spec("conv2d", (1, 1, 8, 8), (2, 1, 3, 3), None, 1, 0, 1, 1, "zeros", False))
    >>> key.split(" | ")[0], key.split(" | ")[3]
    ('cpu', 'float32')
    """
    ident = _identity(platform or _lax_platform(jax.devices()[0]))
    if ident is None:
        raise ValueError(f"plan_key: no {platform} device in this process")
    p, kind, version = ident
    return f"{p} | {kind} | jax {version} | {jnp.dtype(dtype).name} | {_spec_string(spec)}"


# --- enabling ------------------------------------------------------------------------------
def _as_plan(value: object) -> policy.Plan | None:
    if isinstance(value, (list, tuple)) and len(value) == 3 and all(a in policy.ALGORITHMS for a in value):
        return tuple(value)  # type: ignore[return-value]
    return None


def _load_token(path: str) -> str:
    """Load a snapshot of the file under a new token."""
    table: dict[tuple[str, str, str, str], dict[str, tuple[str, Any]]] = {}  # conv plans, and graph layouts
    for entry in _read(path, "ignored; it is rebuilt on the next write").values():
        plan = _as_plan(entry.get("plan"))
        fields = [entry.get(k) for k in ("platform", "device_kind", "jax", "spec", "dtype")]
        if plan is None or not all(isinstance(v, str) for v in fields):
            continue  # an entry of an algorithm this version lacks, or hand-edited: the table decides
        p, kind, version, spec, dtype = fields
        table.setdefault((p, kind, version, spec), {})[dtype] = (str(entry.get("measured", "")), plan)  # type: ignore[index]
    for entry in _read(path, "ignored; it is rebuilt on the next write").values():
        fields = [entry.get(k) for k in ("platform", "device_kind", "jax", "program")]
        if entry.get("layout") in policy.LAYOUTS and all(isinstance(v, str) for v in fields):
            p, kind, version, program = fields
            table[(p, kind, version, f"graph {program}")] = {"": (str(entry.get("measured", "")), entry["layout"])}  # type: ignore[index, dict-item]
    # The same plans give the same token (and so the same jit cache entries) however often they are loaded.
    digest = hashlib.sha256(repr(sorted(table.items())).encode()).hexdigest()[:16]
    token = f"{digest}:{path}"
    with _lock:
        _tables[token] = table
    return token


def _measured(spec: ConvSpec, platform: str) -> policy.Plan | None:
    """The :data:`jaxconv.policy.measured_plan` hook: the plan set in effect's plan for ``spec`` there."""
    token = _STATE.value
    if not token:
        return None
    table, ident = _tables.get(token), _identity(platform)
    if not table or ident is None:
        return None
    by_dtype = table.get((*ident, _spec_string(spec)))
    if not by_dtype:
        return None
    plan = by_dtype["float32"][1] if "float32" in by_dtype else max(by_dtype.values())[1]  # else the latest measured
    log.debug("measured plan on %s for %s: %s", platform, spec, plan)
    return plan


def _measured_layout(program: str, platform: str) -> str | None:
    """The :data:`jaxconv.policy.measured_layout` hook: the plan set in effect's layout for a graph program there."""
    token = _STATE.value
    table, ident = _tables.get(token) if token else None, _identity(platform)
    if not table or ident is None:
        return None
    entry = table.get((*ident, f"graph {program}"))
    return None if not entry else str(entry[""][1])


def _install() -> None:
    if policy.measured_plan is not _measured:
        other = policy.measured_plan
        if other is not None:
            warnings.warn("jaxconv.tuning replaces another jaxconv.policy.measured_plan hook", stacklevel=3)
        policy.measured_plan = _measured
    policy.measured_layout = _measured_layout


def enable(path: str | os.PathLike[str] | None = None) -> None:
    """Make the plans of a plan file (default :func:`default_path`) decide, in every thread, until :func:`disable`.

    Functions traced afterwards use them (the plan set is in the jit cache key: a function jitted
    before retraces on its next call). A missing file enables an empty set, which :func:`tune` fills.

    >>> import tempfile
    >>> enable(tempfile.mkdtemp() + "/plans.json"); enabled_path().endswith("plans.json")
    True
    >>> disable(); enabled_path() is None
    True
    """
    global _global_path
    resolved = _resolve(path)
    _install()
    token = _load_token(resolved)
    _global_path = resolved
    jax.config.update("jaxconv_plan_set", token)


def disable() -> None:
    """Turn measured plans off again (outside :func:`use_plans` blocks): the policy's table decides.

    >>> disable(); enabled_path() is None
    True
    """
    global _global_path
    _global_path = None
    jax.config.update("jaxconv_plan_set", "")
    if _scopes == 0 and policy.measured_plan is _measured:
        policy.measured_plan = None
    if _scopes == 0 and policy.measured_layout is _measured_layout:
        policy.measured_layout = None


def enabled_path() -> str | None:
    """The plan file in effect in this scope (:func:`use_plans`, else :func:`enable`), or ``None``.

    >>> enabled_path() is None
    True
    """
    token = _STATE.value
    return token.split(":", 1)[1] if token else None


@contextlib.contextmanager
def use_plans(path: str | os.PathLike[str] | None = None) -> Iterator[None]:
    """Make a plan file's plans decide for the functions traced in this block (this thread); ``None``: the default file.

    The file is read on entry: what :func:`tune` adds inside the block takes effect in the next block.
    A block with the same plans as an earlier one reuses its jitted programs (the plan set is named by a
    digest of its plans), so entering one per step costs a file read, not a retrace.

    >>> import tempfile
    >>> with use_plans(tempfile.mkdtemp() + "/plans.json"):
    ...     enabled_path().endswith("plans.json")
    True
    """
    global _scopes
    _install()
    token = _load_token(_resolve(path))
    with _lock:
        _scopes += 1
    try:
        with _STATE(token):
            yield
    finally:
        with _lock:
            _scopes -= 1


def _refresh(path: str) -> None:
    """After a write: if the file is the one enabled globally, take a new snapshot (so new traces see it)."""
    if _global_path == path:
        enable(path)


# --- recording the specs of a function -------------------------------------------------------
_record_tags = itertools.count(1)


@contextlib.contextmanager
def recording() -> Iterator[list[ConvSpec]]:
    """Collect, in order and once each, the conv specs of every convolution traced in this block.

    Jitted convolutions retrace in the block (a fresh JAX config state), so none hides in a cache.
    The hook is process-wide: convolutions other threads trace meanwhile are recorded too.

    >>> import jax, jax.numpy as jnp, jaxconv
    >>> with recording() as specs:
    ...     _ = jax.eval_shape(lambda x: jaxconv.conv2d(x, jnp.ones((4, 3, 3, 3))), jnp.ones((1, 3, 8, 8)))
    >>> [s.out_spatial for s in specs]
    [(6, 6)]
    """
    specs: list[ConvSpec] = []
    seen: set[ConvSpec] = set()
    previous = policy._recorder

    def record(spec: ConvSpec) -> None:
        if spec not in seen:
            seen.add(spec)
            specs.append(spec)
        if previous is not None:
            previous(spec)
    policy._recorder = record
    try:
        with _TRACE_TAG(f"record-{next(_record_tags)}"):
            yield specs
    finally:
        policy._recorder = previous


@contextlib.contextmanager
def _recording_parts() -> Iterator[dict[ConvSpec, set[str]]]:
    """Collect, per conv spec traced in this block, the gradient parts the program differentiates
    (``"dx"`` where the conv's input has a tangent, ``"dw"`` where its weight has one; an eval forward
    has none). Meant inside :func:`recording`, whose fresh trace tag makes every conv retrace."""
    used: dict[ConvSpec, set[str]] = {}
    previous = policy._part_recorder

    def record(spec: ConvSpec, part: str) -> None:
        used.setdefault(spec, set()).add(part)
        if previous is not None:
            previous(spec, part)
    policy._part_recorder = record
    try:
        yield used
    finally:
        policy._part_recorder = previous


# --- timing ----------------------------------------------------------------------------------
def _conv_arguments(spec: ConvSpec) -> tuple[tuple[int, ...], tuple[int, ...], dict[str, Any]]:
    """Arguments of :func:`jaxconv.conv` whose spec is ``spec`` (the mode and zero pads are one of them)."""
    n, cl = spec.n, spec.channels_last
    spatial = (*spec.in_spatial, spec.in_channels) if cl else (spec.in_channels, *spec.in_spatial)
    x_shape = (spec.batch, *spatial) if spec.batched else spatial
    w_in = spec.in_channels // spec.groups
    w_shape = (*spec.kernel, w_in, spec.out_channels) if spec.weight_hwio else (spec.out_channels, w_in, *spec.kernel)
    pads = tuple((a + c, b + d) for (a, b), (c, d) in zip(spec.mode_pads, spec.lax_pads))
    weight_layout = None if spec.weight_hwio == cl else weight_layout_name(n, spec.weight_hwio)
    kwargs = dict(stride=spec.stride, padding=pads, dilation=spec.dilation, groups=spec.groups,
                  padding_mode=spec.mode, channels_last=cl, weight_layout=weight_layout)
    rebuilt = conv_spec(f"conv{n}d", x_shape, w_shape, None, spec.stride, pads, spec.dilation, spec.groups, spec.mode, cl,
                        weight_layout=weight_layout)
    assert rebuilt == spec, (rebuilt, spec)
    return x_shape, w_shape, kwargs


#: A candidate whose one call, after its first, takes this many times the best median of its part so
#: far cannot win: it is recorded with that one time and not repeated. XLA:CPU's grouped convolution
#: against the depthwise fold runs 10-100x slower, so tuning MobileNetV2 spent most of its time
#: repeating losers (tests/test_tuning.py pins the cutoff each candidate gets and the early return).
PRUNE_FACTOR = 3.0
#: ... and at least this many ms more: a sub-millisecond conv's single call spikes past 3x its median on a
#: busy machine (two winners of mobilenet_v2's 60 forward passes were cut off without it), and its
#: repeats cost little.
PRUNE_SLACK_MS = 1.0


def _median_ms(f: Callable[..., Any], args: Sequence[Any], algorithm: str, repeats: int, warmup: int,
               cutoff_ms: float = math.inf) -> float:
    """:func:`_time_ms` with the conv ``algorithm`` forced."""
    return _time_ms(f, args, policy.conv_algorithm(algorithm), repeats, warmup, cutoff_ms)


def _time_ms(f: Callable[..., Any], args: Sequence[Any], scope: Any, repeats: int, warmup: int,
             cutoff_ms: float = math.inf) -> float:
    """Median ms of ``jax.jit(f)(*args)`` over ``repeats`` calls after ``warmup``, compiled inside ``scope``
    (a policy switch, read while tracing). Every call is timed: where the second one (past the first
    call's one-off costs) takes more than ``cutoff_ms``, its time is returned at once, a certain loser."""
    with scope:
        compiled = jax.jit(f).lower(*args).compile()
    times = []
    for k in range(warmup + repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(compiled(*args))
        times.append(1e3 * (time.perf_counter() - t0))
        if k == 1 and times[-1] > cutoff_ms:
            return times[-1]
    return statistics.median(times[warmup:])


def _table_plan(spec: ConvSpec) -> policy.Plan:
    """The plan the policy's table gives ``spec`` on the default backend (what a measured plan replaces)."""
    return policy.cpu_plan(spec) if _lax_platform(jax.devices()[0]) == "cpu" else policy.DIRECT


def _describe(spec: ConvSpec, dtype: Any, ident: tuple[str, str, str]) -> str:
    x_shape, w_shape, kw = _conv_arguments(spec)

    def short(letter: str, value: tuple[Any, ...], neutral: Any) -> str:
        if all(v == neutral for v in value):
            return ""
        return f" {letter}{value[0]}" if len(set(value)) == 1 else f" {letter}{value}"
    pads = kw["padding"]
    text = f"conv{spec.n}d {x_shape} * {w_shape}" + short("s", spec.stride, 1)
    text += short("p", tuple(lo for lo, _ in pads), 0) if all(lo == hi for lo, hi in pads) else f" p{pads}"
    text += short("d", spec.dilation, 1) + (f" g{spec.groups}" if spec.groups > 1 else "")
    text += (f" {spec.mode}" if spec.mode != "zeros" else "") + (" channels_last" if spec.channels_last else "")
    text += f" weight {kw['weight_layout']}" if kw["weight_layout"] else ""
    return f"{text} {jnp.dtype(dtype).name} on {ident[0]} ({ident[1]})"


def _tune_spec(spec: ConvSpec, dtype: Any, parts: Sequence[str], repeats: int, warmup: int,
               ) -> tuple[policy.Plan, dict[str, dict[str, float]]]:
    x_shape, w_shape, kw = _conv_arguments(spec)
    out_shape = jax.eval_shape(lambda x, w: conv(x, w, None, **kw), jax.ShapeDtypeStruct(x_shape, dtype),
                               jax.ShapeDtypeStruct(w_shape, dtype)).shape
    rng = np.random.default_rng(0)
    x, w, ct = (jnp.asarray(rng.standard_normal(s), dtype) for s in (x_shape, w_shape, out_shape))

    def fwd(x: jax.Array, w: jax.Array, ct: jax.Array) -> jax.Array:
        return conv(x, w, None, **kw)

    def dx(x: jax.Array, w: jax.Array, ct: jax.Array) -> jax.Array:
        return jax.vjp(lambda x: conv(x, w, None, **kw), x)[1](ct)[0]

    def dw(x: jax.Array, w: jax.Array, ct: jax.Array) -> jax.Array:
        return jax.vjp(lambda w: conv(x, w, None, **kw), w)[1](ct)[0]
    candidates = [a for a in policy.ALGORITHMS if policy.valid_for(spec, (a, a, a))]
    table = _table_plan(spec)
    plan, times = list(table), {}
    for i, (part, f) in enumerate(zip(PARTS, (fwd, dx, dw))):
        if part not in parts:
            continue
        times[part] = {}
        # the table's choice first: most often the fastest, it sets the cutoff for the others
        for a in sorted(candidates, key=lambda a: a != table[i]):
            cutoff = PRUNE_FACTOR * min(times[part].values(), default=math.inf) + PRUNE_SLACK_MS
            try:
                times[part][a] = round(_median_ms(f, (x, w, ct), a, repeats, warmup, cutoff), 4)
            except Exception as e:  # a formulation that fails here is no candidate (the log says why)
                log.warning("tune: %s %s failed for %s: %s: %s", part, a, spec, type(e).__name__, e)
        if times[part]:
            plan[i] = min(times[part], key=lambda a: (times[part][a], a != table[i]))  # a tie keeps the table's
    return tuple(plan), times  # type: ignore[return-value]


def _summary(part: str, plan: policy.Plan, times: dict[str, dict[str, float]]) -> str:
    """``fwd gemm 0.089 ms (direct 0.205, direct_hipad 0.114)``: the choice of one part and the others' times."""
    chosen, t = plan[PARTS.index(part)], times[part]
    if chosen not in t:
        return f"{part} {chosen} (the table's: no candidate ran)"
    return f"{part} {chosen} {t[chosen]:.3g} ms (" + ", ".join(f"{a} {v:.3g}" for a, v in t.items() if a != chosen) + ")"


def _check_parts(fn: str, parts: Sequence[str]) -> tuple[str, ...]:
    parts = tuple(parts)
    if not parts or any(p not in PARTS for p in parts):
        raise ValueError(f"{fn}: `parts` must be a non-empty subset of {PARTS}, got {parts!r}")
    return parts


def _tune_specs(fn: str, specs: Sequence[ConvSpec], dtype: Any, *, path: str | os.PathLike[str] | None, store: bool,
                parts: Sequence[str], repeats: int, warmup: int, progress: bool,
                parts_of: dict[ConvSpec, tuple[str, ...]] | None = None) -> dict[ConvSpec, policy.Plan]:
    """Tune ``specs`` in ``parts`` (or each in ``parts_of[spec]``, those its program runs)."""
    parts = _check_parts(fn, parts)
    if repeats < 1 or warmup < 0:
        raise ValueError(f"{fn}: `repeats` must be >= 1 and `warmup` >= 0, got {repeats}, {warmup}")
    ident = _identity(_lax_platform(jax.devices()[0]))
    assert ident is not None
    resolved = _resolve(path if path is not None else (_global_path or enabled_path()))
    bar = None
    if progress and len(specs) > 1:
        try:
            from tqdm.auto import tqdm  # optional: a progress bar where it is installed
            bar = tqdm(total=len(specs), desc="jaxconv.tune", unit="conv")
        except ImportError:
            pass
    chosen: dict[ConvSpec, policy.Plan] = {}
    new: dict[str, dict[str, Any]] = {}
    try:
        for spec in specs:
            timed = parts if parts_of is None else parts_of[spec]
            plan, times = _tune_spec(spec, dtype, timed, repeats, warmup)
            chosen[spec] = plan
            if bar is not None:
                bar.update(1)
            if not timed:  # none of the parts asked for runs in the program: the table's plan, nothing stored
                continue
            log.info("%s: %s", _describe(spec, dtype, ident), ", ".join(_summary(part, plan, times) for part in timed))
            new[plan_key(spec, dtype, ident[0])] = {
                "plan": list(plan), "times_ms": times, "parts": list(timed),
                "measured": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                "platform": ident[0], "device_kind": ident[1], "jax": ident[2], "dtype": jnp.dtype(dtype).name,
                "spec": _spec_string(spec)}
    finally:
        if bar is not None:
            bar.close()
    if store and new:
        _store(resolved, new)
        _refresh(resolved)
    return chosen


def tune_conv(x_shape: Sequence[int], w_shape: Sequence[int], stride: IntOrSeq = 1, padding: Padding = 0,
              dilation: IntOrSeq = 1, groups: int = 1, *, padding_mode: str = "zeros", channels_last: bool = False,
              dtype: Any = jnp.float32, parts: Sequence[str] = PARTS, path: str | os.PathLike[str] | None = None,
              store: bool = True, repeats: int = 5, warmup: int = 2) -> tuple[str, str, str]:
    """Time every algorithm for one convolution shape on the default backend; return and store the fastest plan.

    The arguments are :func:`jaxconv.conv`'s (shapes instead of arrays). Each part in ``parts``
    (``"fwd"``, ``"dx"``, ``"dw"``) is timed with each algorithm forced, as the median of
    ``repeats`` runs after ``warmup``; a part not timed keeps the policy table's choice. With
    ``store``, the plan goes into the plan file ``path`` (default: the enabled file, else
    :func:`default_path`), and a log line on ``logging.getLogger("jaxconv.tuning")`` says what was chosen.

    >>> import tempfile
    >>> tune_conv((1, 2, 8, 8), (3, 2, 3, 3), path=tempfile.mkdtemp() + "/p.json", repeats=1, parts=("fwd",))[0] in (
    ...     "direct", "direct_hipad", "gemm", "gemm_scan", "winograd", "tap_gemm")
    True
    """
    spec = conv_spec("tune_conv", tuple(x_shape), tuple(w_shape), None, stride, padding, dilation, groups,
                     padding_mode, channels_last)
    return _tune_specs("tune_conv", [spec], dtype, path=path, store=store, parts=parts, repeats=repeats,
                       warmup=warmup, progress=False)[spec]


def _is_nnx_module(obj: object) -> bool:
    if not any(c.__module__.startswith("flax") for c in type(obj).__mro__):
        return False
    try:
        from flax import nnx
    except ImportError:
        return False
    return isinstance(obj, nnx.Module)


def _floating_dtype(leaves: Sequence[Any]) -> Any:
    for leaf in leaves:
        dt = getattr(leaf, "dtype", None)
        if dt is not None and jnp.issubdtype(dt, jnp.floating):
            return jnp.dtype(dt)
    return jnp.dtype(jnp.float32)


def _program(fn: Any, example_args: Any, example_kwargs: Any, concrete: bool) -> tuple[Any, tuple[Any, ...], list[Any]]:
    """``(g, inputs, leaves)``: ``g(*inputs)`` calls ``fn`` (a function, or an NNX model merged from its state)
    on the examples, their array leaves as ``ShapeDtypeStruct``s or, with ``concrete``, as arrays
    (:func:`_concrete`), every other leaf as it is; ``leaves`` are the examples' leaves."""
    leaves, treedef = jax.tree_util.tree_flatten((example_args, example_kwargs))
    arrays = [isinstance(v, (jax.Array, np.ndarray, jax.ShapeDtypeStruct)) for v in leaves]
    flat = _concrete(leaves, arrays) if concrete else [jax.ShapeDtypeStruct(v.shape, v.dtype) for v, a in zip(leaves, arrays) if a]

    def call(model: Any, *flat: Any) -> Any:
        it = iter(flat)
        args, kwargs = jax.tree_util.tree_unflatten(treedef, [next(it) if a else v for v, a in zip(leaves, arrays)])
        return model(*args, **kwargs)
    if _is_nnx_module(fn):
        from flax import nnx
        graphdef, state = nnx.split(fn)
        return (lambda state, *flat: call(nnx.merge(graphdef, state), *flat)), (state, *flat), leaves
    return functools.partial(call, fn), tuple(flat), leaves


def _trace(name: str, g: Callable[..., Any], *inputs: Any) -> Any:
    """``jax.eval_shape(g, *inputs)`` (the abstract trace of the user's ``fn``), with JAX's refusal of a nested
    jit's compiler options turned into this function's error: tune traces and jits ``fn`` inside its own programs."""
    try:
        return jax.eval_shape(g, *inputs)
    except ValueError as e:
        if "compiler_options" not in str(e) or "top-level" not in str(e):
            raise
        raise ValueError(f"{name}: `fn` is a jax.jit with compiler_options, which JAX takes only on a top-level jit "
                         f"and {name} calls fn inside programs of its own: pass the function without the jit (or "
                         f"without compiler_options) and jit it with them after tuning") from e


def _check_program(g: Callable[..., Any], inputs: Sequence[Any], chosen: dict[ConvSpec, policy.Plan], dtype: Any,
                   resolved: str, rounds: int) -> dict[ConvSpec, policy.Plan]:
    """Time the whole program with the file's plans and with the table's, alternately; unless the plans are faster
    (the median of the per-round ratios above 1), store the table's plan for every spec they changed.

    The parts are timed alone, and their sum need not be the program's: XLA fuses each with its neighbours
    (on XLA:CPU a convolution with its BN and ReLU: XLA's own convolution in a form that runs 1.7x faster alone
    made ported resnet18's eval forward 1.45x slower, experiments/MEASUREMENTS.md, 2026-12-08), and
    sub-millisecond parts are within the machine's noise. The LeNet train step (batch 64, Intel Xeon) tuned:
    1.08-1.16x the table's program, kept."""
    ident = _identity(_lax_platform(jax.devices()[0]))
    assert ident is not None
    table = {s: _table_plan(s) for s in chosen}
    changed = [s for s, p in chosen.items() if p != table[s]]
    if not changed:
        return chosen
    with use_plans(resolved):
        tuned = jax.jit(g).lower(*inputs).compile()
    with _STATE(""):
        plain = jax.jit(g).lower(*inputs).compile()
    times: dict[str, list[float]] = {"plans": [], "table": []}
    for r in range(rounds + 1):  # round 0 warms both up
        for k, exe in ((("plans", tuned), ("table", plain)) if r % 2 else (("table", plain), ("plans", tuned))):
            t0 = time.perf_counter()
            jax.block_until_ready(exe(*inputs))
            if r:
                times[k].append(1e3 * (time.perf_counter() - t0))
    speedup = statistics.median(a / b for a, b in zip(times["table"], times["plans"]))
    check = {"plans_ms": round(statistics.median(times["plans"]), 4), "table_ms": round(statistics.median(times["table"]), 4),
             "speedup": round(speedup, 4)}
    keep = speedup > 1.0
    log.info("tune: the whole program with the measured plans %.3g ms, with the table's %.3g ms (%.2fx): %s %d plan(s)",
             check["plans_ms"], check["table_ms"], speedup, "keeping" if keep else "reverting to the table for", len(changed))
    if keep:
        return chosen
    entries = load_plans(resolved)
    new = {}
    for spec in changed:
        key = plan_key(spec, dtype, ident[0])
        if key in entries:
            new[key] = {**entries[key], "plan": list(table[spec]), "program_check": check}
    _store(resolved, new)
    _refresh(resolved)
    return {s: table[s] if s in changed else p for s, p in chosen.items()}


def tune(fn: Callable[..., Any], *example_args: Any, dtype: Any = None, parts: Sequence[str] = PARTS,
         path: str | os.PathLike[str] | None = None, store: bool = True, repeats: int = 5, warmup: int = 2,
         progress: bool = True, layouts: bool = True, check: bool = True,
         **example_kwargs: Any) -> dict[ConvSpec, tuple[str, str, str]]:
    """Tune every distinct convolution of ``fn(*example_args, **example_kwargs)`` (a function or an NNX model).

    ``fn`` is traced once, abstractly (the arrays and ``jax.ShapeDtypeStruct`` leaves of the examples;
    other leaves are passed as they are; an NNX model is traced on a copy, so its state is untouched),
    recording every conv spec; each is timed as :func:`tune_conv` does (``dtype``: that of the first
    floating-point example, else float32), in those of ``parts`` that the program runs (the forward
    pass always, the input gradient where the conv's input is differentiated, the weight gradient
    where its weight is: an eval forward is tuned in its forward passes only, a train step's first
    conv has no input gradient), with a tqdm progress bar where tqdm is installed and
    ``progress`` is set. Returns ``{spec: plan}``; with ``store`` the plans go into the plan file
    (default: the enabled file, else :func:`default_path`). With ``layouts``, where ``fn`` runs
    graph-imported torch models, :func:`tune_layout` then times the whole call in each activation
    layout and stores the faster. With ``check`` (and ``store``), the whole call is then jitted with the stored
    plans and with the table's and timed alternately (``max(repeats, 5)`` rounds): unless the plans make it
    faster, the table's plan is stored for each spec they changed, with both times under ``"program_check"``
    (parts timed alone need not add up to the program). Keyword arguments that are not the tuning options
    here go to ``fn``.

    >>> import tempfile, jax, jax.numpy as jnp, jaxconv
    >>> def net(x):
    ...     return jaxconv.conv2d(jaxconv.conv2d(x, jnp.ones((4, 3, 3, 3))), jnp.ones((2, 4, 1, 1)))
    >>> plans = jaxconv.tune(net, jax.ShapeDtypeStruct((1, 3, 10, 10), jnp.float32),
    ...                      path=tempfile.mkdtemp() + "/p.json", repeats=1, warmup=0, progress=False)
    >>> [spec.kernel for spec in plans]
    [(3, 3), (1, 1)]
    """
    if not callable(fn):
        raise arg_error("tune", "fn", "must be a function or an nnx.Module to trace", type(fn).__name__, exc=TypeError)
    parts = _check_parts("tune", parts)
    g, inputs, leaves = _program(fn, example_args, example_kwargs, concrete=False)
    dtype = _floating_dtype(leaves) if dtype is None else jnp.dtype(dtype)
    with recording() as specs, _recording_parts() as used:
        _trace("tune", g, *inputs)
    # Only the parts the program runs: an eval forward needs no gradient, the stem no input gradient.
    needed = {spec: tuple(p for p in parts if p == "fwd" or p in used.get(spec, ())) for spec in specs}
    chosen = _tune_specs("tune", specs, dtype, path=path, store=store, parts=parts, repeats=repeats, warmup=warmup,
                         progress=progress, parts_of=needed)
    if check and store:
        resolved = _resolve(path if path is not None else (_global_path or enabled_path()))
        g_concrete, concrete, _ = _program(fn, example_args, example_kwargs, concrete=True)
        chosen = _check_program(g_concrete, concrete, chosen, dtype, resolved, max(repeats, 5))
    if layouts:
        tune_layout(fn, *example_args, path=path, store=store, repeats=repeats, warmup=warmup, **example_kwargs)
    return chosen


# --- the layout of graph-imported torch models -----------------------------------------------
def _concrete(leaves: Sequence[Any], arrays: Sequence[bool]) -> list[Any]:
    """The array leaves as arrays: given ones as they are, ``ShapeDtypeStruct``s as random floats / zero ints."""
    rng = np.random.default_rng(0)
    out = []
    for v, a in zip(leaves, arrays):
        if not a:
            continue
        if isinstance(v, jax.ShapeDtypeStruct):
            floating = jnp.issubdtype(v.dtype, jnp.floating)
            v = jnp.asarray(rng.standard_normal(v.shape), v.dtype) if floating else jnp.zeros(v.shape, v.dtype)
        out.append(jnp.asarray(v))
    return out


def tune_layout(fn: Callable[..., Any], *example_args: Any, path: str | os.PathLike[str] | None = None,
                store: bool = True, repeats: int = 5, warmup: int = 2, **example_kwargs: Any) -> dict[str, str]:
    """Time ``fn`` with its graph-imported torch models in each layout of :data:`jaxconv.policy.LAYOUTS`; keep the faster.

    The layout of a ported network's activations (:func:`jaxconv.policy.graph_layout`) is a choice
    for the whole program, so the whole of ``fn(*example_args, **example_kwargs)`` (a function, e.g.
    a train step, or an NNX model, called on a copy) is jitted and timed once per layout (the median
    of ``repeats`` calls after ``warmup``; ``ShapeDtypeStruct`` examples become random floats or zero
    ints). The faster layout is stored for every graph program the call runs, keyed by
    :func:`jaxconv.nn.graph_import.program_key` and this backend (a tie keeps the default), and
    decides where plans are enabled (:func:`enable`, :func:`use_plans`), on this platform only.
    Returns ``{program key: layout}`` (empty when ``fn`` runs no graph program).

    >>> import tempfile, jax.numpy as jnp
    >>> tune_layout(lambda x: x * 2, jnp.ones(3), path=tempfile.mkdtemp() + "/p.json")
    {}
    """
    if not callable(fn):
        raise arg_error("tune_layout", "fn", "must be a function or an nnx.Module", type(fn).__name__, exc=TypeError)
    if repeats < 1 or warmup < 0:
        raise ValueError(f"tune_layout: `repeats` must be >= 1 and `warmup` >= 0, got {repeats}, {warmup}")
    g, inputs, _ = _program(fn, example_args, example_kwargs, concrete=True)
    keys: list[str] = []
    previous = policy._layout_recorder
    policy._layout_recorder = lambda k: keys.append(k) if k not in keys else None
    try:
        _trace("tune_layout", g, *inputs)
    finally:
        policy._layout_recorder = previous
    if not keys:
        return {}
    ident = _identity(_lax_platform(jax.devices()[0]))
    assert ident is not None
    default = policy.graph_layouts()["cpu" if ident[0] == "cpu" else "default"]
    times: dict[str, float] = {}
    for layout in policy.LAYOUTS:
        times[layout] = round(_time_ms(g, inputs, policy.graph_layout(layout), repeats, warmup), 4)
    chosen = min(times, key=lambda k: (times[k], k != default))
    log.info("tune_layout on %s (%s): %s for %d graph program(s) (%s)", ident[0], ident[1], chosen, len(keys),
             ", ".join(f"{k} {v:.3g} ms" for k, v in times.items()))
    now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    new = {f"{ident[0]} | {ident[1]} | jax {ident[2]} | graph {k}": {
        "layout": chosen, "times_ms": times, "measured": now, "platform": ident[0], "device_kind": ident[1],
        "jax": ident[2], "program": k} for k in keys}
    if store:
        resolved = _resolve(path if path is not None else (_global_path or enabled_path()))
        _store(resolved, new)
        _refresh(resolved)
    return {k: chosen for k in keys}


_env_path = os.environ.get(ENV_VAR)
if _env_path:
    enable(_env_path)

