"""experiments/benchmark.py --quick runs end to end (a smoke test: no timing is asserted)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_benchmark_quick_writes_table_and_json(tmp_path):
    """oracle: the script's own contract (exit 0, a markdown table, a JSON record per case with every column)."""
    out = tmp_path / "bench.json"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, str(ROOT / "experiments" / "benchmark.py"), "--quick", "--tuned", "--compiler-options",
                           "--json", str(out)],
                          capture_output=True, text=True, timeout=600, cwd=ROOT, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "| case | jaxconv | lax | torch | flax |" in proc.stdout
    assert "Targets (issues 8 and 14):" in proc.stdout
    # --compiler-options: the network programs jitted with jaxconv.host_memory.compiler_options(), and said so
    assert "network programs: jax.jit with jaxconv.host_memory.compiler_options() = {'xla_multiheap_size_constraint_per_heap'" in proc.stdout
    # --tuned: the network rows gain a column of their own (plans measured by jaxconv.tune)
    assert "| network | jaxconv | torch | torch/jaxconv | jaxconv tuned | torch/tuned | tuning |" in proc.stdout
    data = json.loads(out.read_text())
    assert data["quick"] is True and data["gemm_gflops"]["jax"] > 0
    assert {"cpu", "cores", "jax", "torch"} <= set(data["machine"])
    assert data["machine"]["network_compiler_options"] == {"xla_multiheap_size_constraint_per_heap": 8 << 20}
    records = {r["case"]: r for r in data["records"]}
    groups = {r["group"] for r in records.values()}
    assert {"conv", "train", "eager", "linear", "parts", "network"} <= groups
    for r in records.values():
        assert r["repeats"] >= 3, r["case"]
        if r["group"] != "network":  # a whole network has no raw-lax form
            assert r["seconds"]["lax"] > 0, r["case"]  # the raw-lax column always exists
        for key in ("ratio_lax_over_jaxconv", "ratio_torch_over_jaxconv", "compile_seconds", "peak_bytes", "notes"):
            assert key in r
    conv = [r for r in records.values() if r["group"] == "conv"]
    assert conv and all(r["seconds"]["jaxconv"] > 0 and r["gflops"]["jaxconv"] > 0 for r in conv)
    assert all(r["compile_seconds"]["jaxconv"] > 0 and r["peak_bytes"]["jaxconv"] > 0 for r in conv)

    # the tiny whole-network rows (--quick's stand-in for the torchvision models): both modes, timed, compiled,
    # with XLA's memory, and torch's peak memory increase beside the train step's
    nets = {r["extra"]["mode"]: r for r in records.values() if r["group"] == "network"}
    assert set(nets) == {"eval", "train"}, [r["case"] for r in records.values() if r["group"] == "network"]
    for r in nets.values():
        assert not r["notes"], r["notes"]
        assert r["seconds"]["jaxconv"] > 0 and r["seconds"]["torch"] > 0
        assert r["compile_seconds"]["jaxconv"] > 0 and r["peak_bytes"]["jaxconv"] > 0
        assert r["extra"]["port_s"] > 0
        assert r["seconds"]["tuned"] > 0 and r["extra"]["tune_s"] > 0
    assert nets["train"]["extra"]["torch_peak_bytes"] is not None
    parts = [r for r in records.values() if r["group"] == "parts"]
    assert parts and all(r["seconds"]["jaxconv"] > 0 and r["seconds"]["torch"] > 0 for r in parts)
    assert any(r["group"] == "linear" and r["seconds"]["torch"] > 0 for r in records.values())
