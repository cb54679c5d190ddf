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
    proc = subprocess.run([sys.executable, str(ROOT / "experiments" / "benchmark.py"), "--quick", "--json", str(out)],
                          capture_output=True, text=True, timeout=600, cwd=ROOT, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "| case | jaxconv | lax | torch | flax |" in proc.stdout
    assert "Targets (issue 8):" in proc.stdout
    data = json.loads(out.read_text())
    assert data["quick"] is True and data["gemm_gflops"]["jax"] > 0
    assert {"cpu", "cores", "jax", "torch"} <= set(data["machine"])
    records = {r["case"]: r for r in data["records"]}
    groups = {r["group"] for r in records.values()}
    assert {"conv", "train", "eager"} <= groups
    for r in records.values():
        assert r["repeats"] >= 3
        assert r["seconds"]["lax"] > 0, r["case"]  # the raw-lax column always exists
        for key in ("ratio_lax_over_jaxconv", "ratio_torch_over_jaxconv", "compile_seconds", "peak_bytes", "notes"):
            assert key in r
    conv = [r for r in records.values() if r["group"] == "conv"]
    assert conv and all(r["seconds"]["jaxconv"] > 0 and r["gflops"]["jaxconv"] > 0 for r in conv)
    assert all(r["compile_seconds"]["jaxconv"] > 0 and r["peak_bytes"]["jaxconv"] > 0 for r in conv)
