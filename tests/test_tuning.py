"""Measured plans (jaxconv.tuning, issue #14 item 5): timing, the plan file, enabling, exactness.

Every file lives in ``tmp_path``. The oracles: the plan file's own format (JSON read back),
``jaxconv.policy``'s table, the traced programs (counted traces, the ops of the lowered HLO), and
the direct lax path for values (every forced path agrees with it to float32 rounding).
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import multiprocessing
import os
import subprocess
import sys
import types
import warnings
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxconv
import jaxconv.nn
from jaxconv import policy, tuning
from jaxconv.shapes import conv_spec
from jaxconv.tuning import PlanFileWarning

ROOT = Path(__file__).resolve().parents[1]
D, H, G = "direct", "direct_hipad", "gemm"
# Small enough for the table to keep XLA's own convolution everywhere (all dispatch).
X, W = (1, 2, 8, 8), (3, 2, 3, 3)
SPEC = conv_spec("conv2d", X, W, None, 1, 1, 1, 1, "zeros", False)


@pytest.fixture(autouse=True)
def _off():
    """Every test starts and ends with measured plans off and no hook installed."""
    tuning.disable()
    yield
    tuning.disable()
    assert policy.measured_plan is None and policy._recorder is None
    assert policy.measured_layout is None and policy._layout_recorder is None


def entry(spec, plan, *, platform="cpu", device_kind=None, jax_version=None, dtype="float32"):
    """A plan-file entry as tune writes it (the key of this process unless told otherwise)."""
    ident = tuning._identity("cpu")
    kind, version = device_kind or ident[1], jax_version or ident[2]
    key = f"{platform} | {kind} | jax {version} | {dtype} | {tuning._spec_string(spec)}"
    return key, {"plan": list(plan), "times_ms": {}, "measured": "2026-01-01T00:00:00+00:00", "platform": platform,
                 "device_kind": kind, "jax": version, "dtype": dtype, "spec": tuning._spec_string(spec)}


def write(path, *entries):
    tuning._store(os.fspath(path), dict(entries))


def close(a, b, what):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=2e-5 * max(1.0, float(np.abs(b).max())),
                               err_msg=what)


def test_tune_conv_returns_a_valid_plan_and_writes_the_keyed_file(tmp_path, caplog):
    """oracle: the file read back as JSON (format, version, key of backend/device/jax/dtype/spec); the log line."""
    path = tmp_path / "sub" / "plans.json"
    with caplog.at_level(logging.INFO, logger="jaxconv.tuning"):
        plan = tuning.tune_conv((2, 3, 12, 12), (4, 3, 3, 3), stride=2, padding=1, path=path, repeats=2, warmup=1)
    spec = conv_spec("conv2d", (2, 3, 12, 12), (4, 3, 3, 3), None, 2, 1, 1, 1, "zeros", False)
    assert len(plan) == 3 and all(a in policy.ALGORITHMS for a in plan) and policy.valid_for(spec, plan)
    data = json.loads(path.read_text())
    assert data["format"] == "jaxconv-plans" and data["version"] == 1
    key = tuning.plan_key(spec)
    assert list(data["entries"]) == [key]
    platform, kind, version, dtype, static = key.split(" | ")
    assert (platform, version, dtype) == ("cpu", f"jax {jax.__version__}", "float32")
    assert kind.startswith(jax.devices()[0].device_kind)
    assert "in_channels=3" in static and "stride=(2,2)" in static
    e = data["entries"][key]
    assert e["plan"] == list(plan)
    candidates = [a for a in policy.ALGORITHMS if policy.valid_for(spec, (a, a, a))]
    for i, part in enumerate(tuning.PARTS):
        assert sorted(e["times_ms"][part]) == sorted(candidates)
        assert e["times_ms"][part][plan[i]] == min(e["times_ms"][part].values())
    (line,) = [r.getMessage() for r in caplog.records if r.name == "jaxconv.tuning"]
    assert line.startswith(f"conv2d (2, 3, 12, 12) * (4, 3, 3, 3) s2 p1 float32 on cpu ({kind}): fwd {plan[0]} ")
    assert f"dx {plan[1]} " in line and f"dw {plan[2]} " in line
    assert not list(tmp_path.glob("sub/.*.tmp"))  # the temp file was replaced into place
    # a part not timed keeps the table's choice; bad arguments are refused
    part = tuning.tune_conv(X, W, padding=1, path=path, parts=("dw",), repeats=1, warmup=0)
    assert part[:2] == policy.cpu_plan(SPEC)[:2]
    with pytest.raises(ValueError, match="parts"):
        tuning.tune_conv(X, W, parts=("bwd",), store=False)


def _write_many(path: str, tag: str, n: int) -> None:
    from jaxconv import tuning as t
    spec = conv_spec("conv2d", X, W, None, 1, 1, 1, 1, "zeros", False)
    for i in range(n):
        t._store(path, {f"{tag}-{i}": {"plan": ["direct"] * 3, "spec": t._spec_string(spec)}})


def test_two_processes_writing_at_once_keep_both_entries(tmp_path):
    """oracle: the file after two processes' read-merge-writes interleave: every entry of both, valid JSON."""
    path = os.fspath(tmp_path / "plans.json")
    ctx = multiprocessing.get_context("spawn")  # no fork of a process running XLA's threads
    procs = [ctx.Process(target=_write_many, args=(path, tag, 12)) for tag in ("a", "b")]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    data = json.loads(Path(path).read_text())
    assert sorted(data["entries"]) == sorted(f"{t}-{i}" for t in "ab" for i in range(12))
    assert data["format"] == "jaxconv-plans"


@pytest.mark.parametrize("content, why", [
    ("{not json", "corrupt"),
    ('{"format": "jaxconv-plans", "entr', "corrupt"),
    ('{"format": "other-tool", "version": 1, "entries": {}}', "foreign"),
    ('{"format": "jaxconv-plans", "version": 2, "entries": {}}', "foreign"),
    ("[1, 2]", "foreign"),
])
def test_a_corrupt_or_foreign_file_warns_is_ignored_and_rebuilt(tmp_path, content, why):
    """oracle: the warning (naming the file and why); the file after the next write (jaxconv's format, one entry)."""
    path = tmp_path / "plans.json"
    path.write_text(content)
    with pytest.warns(PlanFileWarning, match=f"{path}.*{why}"):
        assert tuning.load_plans(path) == {}
    with pytest.warns(PlanFileWarning, match=why):
        tuning.enable(path)  # enabled, with no plans: the table decides
    assert policy.plans(SPEC) == {"cpu": policy.cpu_plan(SPEC), "default": policy.DIRECT}
    tuning.disable()
    with pytest.warns(PlanFileWarning, match="rebuilt by this write"):
        write(path, entry(SPEC, (G, G, G)))
    data = json.loads(path.read_text())
    assert data["format"] == "jaxconv-plans" and data["version"] == 1 and len(data["entries"]) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(tuning.load_plans(path)) == 1


def test_a_corrupt_file_is_rebuilt_by_tune(tmp_path):
    """oracle: the file after tune_conv (valid, the tuned entry only)."""
    path = tmp_path / "plans.json"
    path.write_bytes(b"\xff\xfe garbage")
    with pytest.warns(PlanFileWarning, match="rebuilt"):
        tuning.tune_conv(X, W, padding=1, path=path, parts=("fwd",), repeats=1, warmup=0)
    assert list(json.loads(path.read_text())["entries"]) == [tuning.plan_key(SPEC)]


def test_enabled_plans_decide_their_own_platform_only(tmp_path):
    """oracle: policy.plans with and without the file: its plan for cpu, the table's default (and no cuda key);
    entries of another device, jax version or platform are not this process's; a plan a spec cannot run is dropped."""
    path = tmp_path / "plans.json"
    dense = conv_spec("conv2d", (1, 4, 8, 8), (4, 4, 3, 3), None, 1, 1, 1, 1, "zeros", False)  # "taps" cannot run it
    other = conv_spec("conv2d", (1, 2, 9, 9), W, None, 1, 1, 1, 1, "zeros", False)
    write(path, entry(SPEC, (G, H, G)), entry(SPEC, (H, H, H), platform="cuda", device_kind="NVIDIA H100"),
          entry(dense, ("taps", "taps", "taps")), entry(other, (G, G, G), jax_version="0.0.1"),
          entry(other, (G, G, G), device_kind="cpu (another machine)"))
    table = {"cpu": policy.cpu_plan(SPEC), "default": policy.DIRECT}
    assert policy.plans(SPEC) == table and table["cpu"] == (D, D, D)
    with tuning.use_plans(path):
        assert tuning.enabled_path() == os.fspath(path)
        assert policy.plans(SPEC) == {"cpu": (G, H, G), "default": policy.DIRECT}
        assert policy.plans(dense) == {"cpu": policy.cpu_plan(dense), "default": policy.DIRECT}
        assert policy.plans(other) == {"cpu": policy.cpu_plan(other), "default": policy.DIRECT}
        with policy.conv_algorithm(D):  # the scoped switch still wins everywhere
            assert policy.plans(SPEC) == {"cpu": (D, D, D), "default": (D, D, D)}
    assert policy.plans(SPEC) == table and tuning.enabled_path() is None
    tuning.enable(path)
    assert policy.plans(SPEC)["cpu"] == (G, H, G)
    tuning.disable()
    assert policy.plans(SPEC) == table
    # a float32 entry wins over another dtype's; without one, the latest measured
    write(path, entry(SPEC, (H, G, G), dtype="bfloat16"))
    with tuning.use_plans(path):
        assert policy.plans(SPEC)["cpu"] == (G, H, G)


def test_toggling_plans_retraces(tmp_path):
    """oracle: the traced programs. A jitted function retraces when plans are turned on, reuses its programs when
    they are turned off again or turned on with the same plans, and retraces after tune writes into the enabled file."""
    path = tmp_path / "plans.json"
    write(path, entry(SPEC, (G, G, G)))
    x, w = jnp.ones(X), jnp.ones(W)
    traces = []

    @jax.jit
    def f(x, w):
        traces.append(1)
        return jaxconv.conv2d(x, w, padding=1)
    f(x, w)
    assert "dot_general" not in f.lower(x, w).as_text()
    with tuning.use_plans(path):
        f(x, w)
        assert "dot_general" in f.lower(x, w).as_text()
    f(x, w)
    assert len(traces) == 2
    with tuning.use_plans(path):  # the same plans again: the same programs
        f(x, w)
    assert len(traces) == 2
    write(path, entry(SPEC, (G, D, G)))  # new plans: a new plan set
    tuning.enable(path)
    f(x, w)
    assert len(traces) == 3 and "dot_general" in f.lower(x, w).as_text()
    tuning.disable()
    f(x, w)
    assert len(traces) == 3
    tuning.enable(tmp_path / "new.json")  # empty: the table, but another plan set
    f(x, w)
    n = len(traces)
    assert n == 4
    tuning.tune_conv(X, W, padding=1, parts=("fwd",), repeats=1, warmup=0)  # into the enabled file
    assert (tmp_path / "new.json").exists()
    f(x, w)
    assert len(traces) == n + 1


def test_tuned_and_file_plans_compute_what_the_direct_path_does(tmp_path):
    """oracle: the direct lax path (values and both gradients, float32 rounding), for the tuned plan and for
    mixed plans put into the file by hand (checked to be in the program)."""
    path = tmp_path / "plans.json"
    args = dict(stride=2, padding=((1, 0), (2, 1)), dilation=(1, 2))
    xs, ws = (2, 3, 11, 10), (4, 3, 3, 2)
    tuning.tune_conv(xs, ws, **args, path=path, repeats=1, warmup=0)
    spec = conv_spec("conv2d", xs, ws, None, args["stride"], args["padding"], args["dilation"], 1, "zeros", False)
    r = np.random.default_rng(0)
    x, w = jnp.asarray(r.standard_normal(xs), jnp.float32), jnp.asarray(r.standard_normal(ws), jnp.float32)
    ct = jnp.asarray(r.standard_normal(jax.eval_shape(lambda: jaxconv.conv2d(x, w, **args)).shape), jnp.float32)

    def run(x, w, ct):
        y, vjp = jax.vjp(lambda x, w: jaxconv.conv2d(x, w, **args), x, w)
        return (y, *vjp(ct))
    with policy.conv_algorithm(D):
        ref = jax.jit(run)(x, w, ct)
    for plan in (None, (G, H, D)):
        if plan is not None:
            write(path, entry(spec, plan))
        with tuning.use_plans(path):
            got = jax.jit(run)(x, w, ct)
            gemms = {G, "gemm_scan", "tap_gemm", "winograd"}  # the algorithms that are dots, not XLA's conv
            assert ("dot_general" in jax.jit(run).lower(x, w, ct).as_text()) == bool(gemms & set(policy.plans(spec)["cpu"]))
        for name, a, b in zip(("y", "dx", "dw"), got, ref):
            close(a, b, f"{plan} {name}")


def test_environment_variable_enables_a_file_at_import(tmp_path):
    """oracle: policy.plans in a fresh interpreter with JAXCONV_PLANS set (the file's plan), then disabled (the table)."""
    path = tmp_path / "plans.json"
    write(path, entry(SPEC, (G, D, G)))
    code = ("import jaxconv; from jaxconv import policy, tuning; from jaxconv.shapes import conv_spec\n"
            f"spec = conv_spec('conv2d', {X}, {W}, None, 1, 1, 1, 1, 'zeros', False)\n"
            "print(tuning.enabled_path()); print(policy.plans(spec)['cpu'])\n"
            "tuning.disable(); print(policy.plans(spec)['cpu'])")
    env = {**os.environ, "JAXCONV_PLANS": os.fspath(path), "JAX_PLATFORMS": "cpu"}
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[:3] == [os.fspath(path), str((G, D, G)), str(policy.cpu_plan(SPEC))]


def test_tune_a_function_records_each_distinct_conv(tmp_path):
    """oracle: the specs conv_spec gives for the function's two convs (the repeated one once), the file's keys;
    recorded even when the convs are already in the jit cache."""
    path = tmp_path / "plans.json"
    w1, w2 = jnp.ones((4, 3, 3, 3)), jnp.ones((2, 4, 1, 1))

    def net(x, scale=1.0):
        h = jaxconv.conv2d(x, w1, padding=1)
        return jaxconv.conv2d(jaxconv.conv2d(h, jnp.ones((4, 4, 3, 3)), padding=1)[:, :4] * scale, w2)
    x = jnp.ones((2, 3, 8, 8))
    jax.jit(net)(x)  # warm caches
    plans = jaxconv.tune(net, x, scale=2.0, path=path, repeats=1, warmup=0, parts=("fwd",), progress=False)
    expected = [conv_spec("conv2d", (2, 3, 8, 8), (4, 3, 3, 3), None, 1, 1, 1, 1, "zeros", False),
                conv_spec("conv2d", (2, 4, 8, 8), (4, 4, 3, 3), None, 1, 1, 1, 1, "zeros", False),
                conv_spec("conv2d", (2, 4, 8, 8), (2, 4, 1, 1), None, 1, 0, 1, 1, "zeros", False)]
    assert list(plans) == expected
    assert sorted(tuning.load_plans(path)) == sorted(tuning.plan_key(s) for s in expected)
    assert policy._recorder is None


def _net3(params, x):  # data -> conv -> conv -> conv, jitted inside (as jaxconv's ops and a user's layers are)
    h = jax.jit(lambda x, w: jaxconv.conv2d(x, w, padding=1))(x, params["w1"])
    h = jaxconv.conv2d(jnp.tanh(h), params["w2"], padding=1)
    return jaxconv.conv2d(h, jax.lax.stop_gradient(params["w3"]))


_P3 = {"w1": jnp.ones((4, 3, 3, 3)), "w2": jnp.ones((4, 4, 3, 3)), "w3": jnp.ones((2, 4, 1, 1))}
_S3 = [conv_spec("conv2d", (2, 3, 8, 8), (4, 3, 3, 3), None, 1, 1, 1, 1, "zeros", False),
       conv_spec("conv2d", (2, 4, 8, 8), (4, 4, 3, 3), None, 1, 1, 1, 1, "zeros", False),
       conv_spec("conv2d", (2, 4, 8, 8), (2, 4, 1, 1), None, 1, 0, 1, 1, "zeros", False)]


@pytest.mark.parametrize("program, expected", [
    ("forward", {}),
    # the data's conv has no input gradient; the stopped weight has no weight gradient
    ("grad params", {_S3[0]: {"dw"}, _S3[1]: {"dx", "dw"}, _S3[2]: {"dx"}}),
    ("grad input", {_S3[0]: {"dx"}, _S3[1]: {"dx"}, _S3[2]: {"dx"}}),
    ("jvp params", {_S3[0]: {"dw"}, _S3[1]: {"dx", "dw"}, _S3[2]: {"dx"}}),
])
def test_recording_parts_sees_which_gradients_a_program_runs(program, expected):
    """oracle: which of the three convs' inputs and weights carry a tangent, by hand for each program."""
    x = jax.ShapeDtypeStruct((2, 3, 8, 8), jnp.float32)
    fns = {"forward": lambda p, x: _net3(p, x).sum(),
           "grad params": jax.grad(lambda p, x: _net3(p, x).sum()),
           "grad input": jax.grad(lambda p, x: _net3(p, x).sum(), argnums=1),
           "jvp params": lambda p, x: jax.jvp(lambda p: _net3(p, x), (p,), (p,))[1]}
    with tuning.recording() as specs, tuning._recording_parts() as used:
        jax.eval_shape(fns[program], _P3, x)
    assert specs == _S3 and used == expected
    assert policy._part_recorder is None


def test_tune_times_only_the_parts_the_program_runs(tmp_path):
    """oracle: the parts of each stored entry, by hand (see test_recording_parts_sees_which_gradients_a_program_runs);
    an eval forward stores forward passes only, and the parts not timed keep the table's plan."""
    x = jax.ShapeDtypeStruct((2, 3, 8, 8), jnp.float32)
    programs = {"train": (jax.grad(lambda p, x: _net3(p, x).sum()), (["fwd", "dw"], ["fwd", "dx", "dw"], ["fwd", "dx"])),
                "eval": (_net3, (["fwd"],) * 3)}
    for name, (fn, parts) in programs.items():
        jaxconv.tune(fn, _P3, x, path=tmp_path / f"{name}.json", repeats=1, warmup=0, progress=False)
        entries = {e["spec"]: e for e in tuning.load_plans(tmp_path / f"{name}.json").values()}
        assert {k: e["parts"] for k, e in entries.items()} == {tuning._spec_string(s): p for s, p in zip(_S3, parts)}
        for spec in _S3:
            e = entries[tuning._spec_string(spec)]
            assert sorted(e["times_ms"]) == sorted(e["parts"])
            assert all(a == t for part, a, t in zip(tuning.PARTS, e["plan"], policy.cpu_plan(spec)) if part not in e["parts"])


def test_tune_an_nnx_model_leaves_it_untouched_and_shows_progress(tmp_path, capsys, monkeypatch):
    """oracle: the model's state before and after; tqdm's bar on stderr, and none (no error) without tqdm."""
    pytest.importorskip("flax", reason="the NNX-model case needs flax (a jaxconv dependency, always installed by CI)")
    from flax import nnx

    model = jaxconv.nn.Sequential(jaxconv.nn.Conv2d(3, 4, 3, padding=1, rngs=nnx.Rngs(0)), jaxconv.nn.BatchNorm2d(4),
                                  jaxconv.nn.Conv2d(4, 2, 1, rngs=nnx.Rngs(1)))
    before = jax.tree_util.tree_map(np.asarray, nnx.state(model))
    x = jax.ShapeDtypeStruct((2, 3, 6, 6), jnp.float32)
    plans = jaxconv.tune(model, x, path=tmp_path / "p.json", repeats=1, warmup=0, parts=("fwd",))
    assert [s.kernel for s in plans] == [(3, 3), (1, 1)]
    assert all(k.split(" | ")[3] == "float32" for k in tuning.load_plans(tmp_path / "p.json"))
    after = jax.tree_util.tree_map(np.asarray, nnx.state(model))
    jax.tree_util.tree_map(np.testing.assert_array_equal, before, after)
    if __import__("importlib").util.find_spec("tqdm"):
        assert "jaxconv.tune" in capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "tqdm", None)
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    assert len(jaxconv.tune(model, x, store=False, repeats=1, warmup=0, parts=("fwd",))) == 2
    assert "jaxconv.tune" not in capsys.readouterr().err


def test_recording_nests_and_restores():
    """oracle: the hook's contract (inner and outer blocks both see the inner trace; restored after)."""
    def f(x):
        return jaxconv.conv2d(x, jnp.ones(W), padding=1)
    with tuning.recording() as outer:
        with tuning.recording() as inner:
            jax.eval_shape(f, jax.ShapeDtypeStruct(X, jnp.float32))
        jax.eval_shape(f, jax.ShapeDtypeStruct(X, jnp.float32))
    assert inner == [SPEC] and outer == [SPEC]
    assert policy._recorder is None


def test_default_path_follows_xdg(monkeypatch, tmp_path):
    """oracle: the XDG base-directory rule."""
    monkeypatch.setenv("XDG_CACHE_HOME", os.fspath(tmp_path))
    assert tuning.default_path() == tmp_path / "jaxconv" / "plans.json"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert tuning.default_path() == Path.home() / ".cache" / "jaxconv" / "plans.json"


def test_fastest_per_part_ties_keep_the_table_and_a_failing_candidate_is_skipped(tmp_path, monkeypatch, caplog):
    """oracle: made-up timings (no clock): the minimum per part; a tie goes to the table's choice; a formulation
    that raises is left out with a warning."""
    fake = {("fwd", G): 1.0, ("fwd", D): 2.0, ("dx", G): 3.0, ("dx", D): 3.0, ("dw", H): 0.5}

    def median(f, args, algorithm, repeats, warmup, cutoff_ms=math.inf):
        if algorithm == "gemm" and f.__name__ == "dw":
            raise RuntimeError("no such kernel")
        return fake.get((f.__name__, algorithm), 9.0)
    monkeypatch.setattr(tuning, "_median_ms", median)
    with caplog.at_level(logging.INFO, logger="jaxconv.tuning"):
        plan = tuning.tune_conv(X, W, padding=1, path=tmp_path / "p.json")
    assert policy.cpu_plan(SPEC)[1] == D and plan == (G, D, H)
    (e,) = tuning.load_plans(tmp_path / "p.json").values()
    valid = [a for a in policy.ALGORITHMS if policy.valid_for(SPEC, (a, a, a))]
    assert sorted(e["times_ms"]["fwd"]) == sorted(valid) and sorted(e["times_ms"]["dw"]) == sorted(set(valid) - {G})
    assert any("dw gemm failed" in r.getMessage() and r.levelname == "WARNING" for r in caplog.records)


def test_table_choice_first_and_losers_cut_off_at_prune_factor_times_the_best(tmp_path, monkeypatch):
    """oracle: made-up timings (no clock): each part times the table's choice first, with no cutoff; every other
    candidate gets PRUNE_FACTOR times the best median of its part so far plus PRUNE_SLACK_MS."""
    fake = {G: 2.0, D: 1.0, H: 4.0}
    calls: dict[str, list[tuple[str, float]]] = {}

    def median(f, args, algorithm, repeats, warmup, cutoff_ms=math.inf):
        calls.setdefault(f.__name__, []).append((algorithm, cutoff_ms))
        return fake.get(algorithm, 8.0)
    monkeypatch.setattr(tuning, "_median_ms", median)
    tuning.tune_conv(X, W, padding=1, path=tmp_path / "p.json")
    table = policy.cpu_plan(SPEC)
    for i, part in enumerate(tuning.PARTS):
        seen = calls[part]
        assert seen[0] == (table[i], math.inf), (part, seen)
        best = math.inf
        for algorithm, cutoff in seen:
            assert cutoff == tuning.PRUNE_FACTOR * best + tuning.PRUNE_SLACK_MS, (part, seen)
            best = min(best, fake.get(algorithm, 8.0))


@pytest.mark.parametrize("second_ms, expected, n_calls", [
    (50.0, 50.0, 2),   # past the cutoff (10 ms): that one time, no more calls
    (5.0, 4.0, 7),     # below it: the median of the repeats after the warm-up calls
])
def test_time_ms_returns_at_once_past_the_cutoff(monkeypatch, second_ms, expected, n_calls):
    """oracle: a fake clock (each call's duration given): warm-up 2, repeats 5, cutoff 10 ms."""
    durations = iter([100.0, second_ms, 3.0, 4.0, 4.0, 5.0, 6.0])  # ms; the first call's one-off costs
    clock = {"now": 0.0, "reads": 0}

    def perf_counter():  # each second reading closes one call
        clock["reads"] += 1
        if clock["reads"] % 2 == 0:
            clock["now"] += next(durations) / 1e3
        return clock["now"]
    monkeypatch.setattr(tuning, "time", types.SimpleNamespace(perf_counter=perf_counter))
    got = tuning._time_ms(lambda x: x + 1, (jnp.ones(3),), contextlib.nullcontext(), repeats=5, warmup=2, cutoff_ms=10.0)
    assert got == pytest.approx(expected) and clock["reads"] == 2 * n_calls


# --- the layout of graph-imported torch models (tune_layout) -------------------------------------

def _ported_net():
    torch = pytest.importorskip("torch")  # the source of the ported model
    from tests.test_layout import Net, _randomize

    torch.manual_seed(0)
    tm = _randomize(Net()).eval()
    x = torch.randn(4, 3, 16, 16)
    jm = jaxconv.nn.from_torch(tm, x, modes=("eval",))
    return jm, jnp.asarray(x.numpy())


def _transposes(jm, x) -> int:
    from flax import nnx
    graphdef, state = nnx.split(jm)
    text = jax.jit(lambda s, x: nnx.merge(graphdef, s)(x)[0]).lower(state, x).compile().as_text()
    return text.count(" transpose(")


def test_tune_layout_times_both_layouts_and_the_stored_choice_decides_on_its_platform(tmp_path):
    """oracle: the plan file read back and the compiled programs. tune_layout stores, per graph program
    (its program_key) and backend, the faster layout with both times; under use_plans the stored choice
    decides the CPU program either way (a hand-set layout gives that program's transposes), a program
    exported for cuda stays as captured, and a value that is no layout is ignored (the CPU's own choice)."""
    from flax import nnx
    jm, x = _ported_net()
    path = tmp_path / "plans.json"
    chosen = tuning.tune_layout(jm, x, path=path, repeats=2, warmup=1)
    (key,) = chosen
    entries = json.loads(path.read_text())["entries"]
    (name, entry), = entries.items()
    assert name.endswith(f"graph {key}") and entry["layout"] == chosen[key] in policy.LAYOUTS
    assert set(entry["times_ms"]) == set(policy.LAYOUTS) and entry["program"] == key
    counts = {}
    for layout in policy.LAYOUTS:
        with policy.graph_layout(layout):
            counts[layout] = _transposes(jm, x)
    assert counts["channels_last"] < counts["captured"]

    data = json.loads(path.read_text())
    graphdef, state = nnx.split(jm)
    f = jax.jit(lambda s, x: nnx.merge(graphdef, s)(x)[0])
    # This net has a depthwise conv: the CPU's own choice is channels-last (policy.cpu_graph_layout).
    for value, want in (("captured", "captured"), ("channels_last", "channels_last"), ("nhwc", "channels_last")):
        data["entries"][name]["layout"] = value
        path.write_text(json.dumps(data))
        with tuning.use_plans(path):
            assert _transposes(jm, x) == counts[want], value
            text = jax.export.export(f, platforms=("cuda",))(state, x).mlir_module()
            assert "[b, 0, 1, f]" not in text and "[b, f, 0, 1]" in text, value


def test_program_key_is_the_same_for_the_same_capture_and_differs_by_shape():
    """oracle: two captures of one model and two input shapes. The key is a digest of the captured
    program and the call's shapes: stable across captures (and so across processes), new per shape."""
    from jaxconv.nn.graph_import import program_key
    a, x = _ported_net()
    b, _ = _ported_net()
    pa, pb = a.programs["eval"], b.programs["eval"]
    assert pa is not pb
    name = next(i.name for i in pa.inputs if i.kind == "user")
    assert program_key(pa, {name: x}) == program_key(pb, {name: x})
    assert program_key(pa, {name: x}) != program_key(pa, {name: x[:2]})


def test_tune_also_tunes_the_layout_of_graph_models_unless_told_not_to(tmp_path):
    """oracle: the plan file read back. jaxconv.tune on a ported model stores its conv plans and, with
    layouts (the default), the graph program's layout; layouts=False stores conv plans only."""
    jm, x = _ported_net()
    for layouts, path in ((True, tmp_path / "a.json"), (False, tmp_path / "b.json")):
        jaxconv.tune(jm, x, path=path, repeats=1, warmup=0, progress=False, layouts=layouts)
        entries = json.loads(path.read_text())["entries"]
        graph = [k for k in entries if " | graph " in k]
        assert len(graph) == (1 if layouts else 0) and len(entries) > len(graph)


@pytest.mark.parametrize("entry", ["tune", "tune_layout"])
def test_a_jit_with_compiler_options_gets_tunes_own_error(tmp_path, entry):
    """oracle: the error rule. JAX refuses compiler_options on a jit nested in tune's programs; tune and tune_layout say
    so by name, with the fix (pass the plain function), before timing anything; the plain function tunes."""
    def net(x):
        return jaxconv.conv2d(x, jnp.ones((2, 1, 3, 3)))
    jitted = jax.jit(net, compiler_options=jaxconv.host_memory.compiler_options("cpu"))
    x = jax.ShapeDtypeStruct((1, 1, 8, 8), jnp.float32)
    kw = dict(path=tmp_path / "p.json", repeats=1, warmup=0)
    fn = getattr(jaxconv, entry) if hasattr(jaxconv, entry) else getattr(tuning, entry)
    if entry == "tune":
        kw["progress"] = False
    with pytest.raises(ValueError, match=rf"^{entry}: `fn` is a jax.jit with compiler_options.*pass the function "
                                         r"without the jit"):
        fn(jitted, x, **kw)
    assert not (tmp_path / "p.json").exists()
    fn(net, x, **kw)


_DW = conv_spec("conv2d", (4, 64, 32, 32), (64, 1, 3, 3), None, 1, 1, 1, 64, "zeros", False)
_XLA, _FOLD = ("direct",) * 3, ("taps",) * 3


def _depthwise_net(x):
    return jnp.tanh(jaxconv.conv2d(x, jnp.ones((64, 1, 3, 3)), padding=1, groups=64)).sum()


@pytest.mark.parametrize("table_fast", [True, False], ids=["revert", "keep"])
def test_tune_checks_the_whole_program(tmp_path, monkeypatch, caplog, table_fast):
    """oracle: XLA:CPU's grouped convolution, 10-25x slower than the tap fold on a depthwise conv (jaxconv/policy.py).
    The parts' "measurements" are rigged so that tune stores XLA's conv where the table has the fold ("revert")
    or the fold where a rigged table has XLA's ("keep"); the whole program, timed with each, decides: the file
    ends with the faster plan, the check's times beside it; check=False stores the parts' choice as it is."""
    rigged = _XLA if table_fast else _FOLD  # what the rigged parts choose
    if not table_fast:
        table = policy.cpu_plan
        monkeypatch.setattr(policy, "cpu_plan", lambda s: _XLA if s == _DW else table(s))
    times = {"fwd": {"taps": 1.0, "direct": 2.0}}
    monkeypatch.setattr(tuning, "_tune_spec", lambda spec, *a: (rigged, times))
    x = jax.ShapeDtypeStruct((4, 64, 32, 32), jnp.float32)
    with caplog.at_level(logging.INFO, logger="jaxconv.tuning"):
        plans = jaxconv.tune(_depthwise_net, x, path=tmp_path / "p.json", repeats=3, warmup=0, progress=False)
    (entry,) = tuning.load_plans(tmp_path / "p.json").values()
    want = _FOLD
    assert plans == {_DW: want} and tuple(entry["plan"]) == want
    check = entry.get("program_check")
    if table_fast:
        assert check is not None and check["speedup"] < 1.0 and "reverting" in caplog.text, (check, caplog.text)
    else:
        assert check is None and "keeping" in caplog.text, caplog.text
    unchecked = jaxconv.tune(_depthwise_net, x, path=tmp_path / "q.json", repeats=1, warmup=0, progress=False, check=False)
    assert unchecked == {_DW: rigged}
