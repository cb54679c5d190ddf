"""experiments/profile_network.py: the per-XLA-op profile of a ported network (a tiny ResNet here).

oracle: the compiled program itself (every profiled name is one of its instructions) and the
profile's own arithmetic (the kinds add up to the ops).
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

pytest.importorskip("torch")  # the network is ported from torch

SCRIPT = Path(__file__).resolve().parents[1] / "experiments" / "profile_network.py"


def _load():
    spec = importlib.util.spec_from_file_location("profile_network", SCRIPT)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("mode", ["eval", "train"])
def test_profile_names_the_programs_ops_and_adds_up(mode):
    pn = _load()
    f, args = pn.build("tiny_resnet", 2, 16, mode)
    wall, by_op, by_kind = pn.profile(f, args, calls=2)
    hlo_names = set(re.findall(r"^\s*(?:ROOT )?%([\w.-]+) = ", f.lower(*args).compile().as_text(), re.M))
    assert wall > 0 and by_op, "no XLA op was profiled"
    assert set(by_op) <= hlo_names
    assert abs(sum(by_op.values()) - sum(by_kind.values())) < 1e-6
    assert any("conv" in k or "ynn" in k or "dot" in k or "fusion" in k for k in by_kind), by_kind


def test_cli_prints_the_tables(capsys):
    assert _load().main(["tiny_resnet", "--batch", "2", "--size", "16", "--calls", "1", "--top", "3"]) == 0
    out = capsys.readouterr().out
    assert "ms per call" in out and "by kind of XLA op" in out and "top 3 ops" in out


def test_compare_layouts_times_both_programs_alternately():
    """oracle: the comparison's own arithmetic. Both layouts are compiled and timed the same number of
    rounds; the speed-up lies within its per-round range."""
    pn = _load()
    f, args = pn.build("tiny_resnet", 2, 16, "eval")
    c = pn.compare_layouts(f, args, rounds=3)
    assert set(c["ms"]) == {"captured", "channels_last"} and all(v > 0 for v in c["ms"].values())
    assert c["range"][0] <= c["speedup"] <= c["range"][1]


def test_compare_without_replaces_the_algorithm_and_times_both(capsys):
    """oracle: the comparison's own arithmetic and the CPU table. Both programs are timed the same number of
    rounds; the speed-up lies within its range; jaxconv.policy.cpu_plan is restored afterwards; an unknown
    algorithm is a ValueError naming the function and the value."""
    from jaxconv import policy

    pn = _load()
    table = policy.cpu_plan
    c = pn.compare_without("tiny_resnet", 4, 32, "train", "tap_gemm", rounds=3)
    assert policy.cpu_plan is table
    assert c["replaced"] >= 1  # the 3-channel stem's weight gradient: tap GEMMs by default
    assert set(c["ms"]) == {"default", "without"} and all(v > 0 for v in c["ms"].values())
    assert c["range"][0] <= c["speedup"] <= c["range"][1]
    with pytest.raises(ValueError, match=r"compare_without: unknown conv algorithm 'fft'"):
        pn.compare_without("tiny_resnet", 2, 16, "train", "fft", rounds=1)


def test_compiler_options_reach_the_compiled_program(capsys):
    """oracle: XLA's own option parser. build() hands its compiler options to jax.jit: an option XLA does not know
    fails the compile, the real one compiles; the CLI flag prints the options it uses."""
    pn = _load()
    f, args = pn.build("tiny_resnet", 2, 16, "train", {"xla_no_such_option_in_xla": 1})
    with pytest.raises(Exception, match="xla_no_such_option_in_xla"):
        f.lower(*args).compile()
    import jaxconv

    f, args = pn.build("tiny_resnet", 2, 16, "train", jaxconv.host_memory.compiler_options("cpu"))
    f.lower(*args).compile()
    assert pn.main(["tiny_resnet", "--mode", "train", "--batch", "2", "--size", "16", "--calls", "1", "--top", "1",
                    "--compiler-options"]) == 0
    out = capsys.readouterr().out
    if jaxconv.host_memory.compiler_options():  # on the CPU
        assert "compiler options: {'xla_multiheap_size_constraint_per_heap': 8388608}" in out
    assert "ms per call" in out
