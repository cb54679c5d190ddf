"""Smoke tests of experiments/port_torchvision.py: one small model end to end in a subprocess, its
options and state-dict loading, and its zoo staying the tested zoo (tests/test_torchvision_zoo.py)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "experiments" / "port_torchvision.py"


def _load():
    spec = importlib.util.spec_from_file_location("port_torchvision", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_resnet18_small_runs_and_reports():
    """oracle: the script's contract (exit 0 = ported within tolerance; the diff, times and compile time printed)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    r = subprocess.run([sys.executable, str(SCRIPT), "--model", "resnet18", "--size", "32", "--batch", "1", "--budget", "0.2"],
                       capture_output=True, text=True, timeout=300, cwd=ROOT, env=env)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    for text in ("resnet18: batch 1, 3x32x32", "port:", "compile (jitted forward):", "max |jax - torch| =",
                 "within tolerance", "forward (median of"):
        assert text in r.stdout, (text, r.stdout[-3000:])


def test_zoo_is_the_tested_zoo():
    """oracle: tests/test_torchvision_zoo.py's EVAL table (same models, sizes and batches)."""
    from tests import test_torchvision_zoo as zoo

    mine = {name.removeprefix("segmentation."): (size, batch) for name, (_, size, batch) in _load().ZOO.items()}
    assert mine == {name: (size, batch) for name, (_, size, batch) in zoo.EVAL.items()}


def test_state_dict_files(tmp_path):
    """oracle: torch's own state dict, saved as .pt and as .safetensors, reads back equal."""
    from safetensors.torch import save_file

    mod = _load()
    sd = torch.nn.Conv2d(2, 3, 3).state_dict()
    torch.save(sd, tmp_path / "w.pt")
    save_file(sd, str(tmp_path / "w.safetensors"))
    for name in ("w.pt", "w.safetensors"):
        got = mod.load_state_dict(str(tmp_path / name))
        assert sorted(got) == sorted(sd) and all(torch.equal(got[k], sd[k]) for k in sd), name
    torch.save([1, 2], tmp_path / "list.pt")
    with pytest.raises(ValueError, match="not a state dict"):
        mod.load_state_dict(str(tmp_path / "list.pt"))


@pytest.mark.parametrize("args", [[], ["--model", "resnet18", "--all"], ["--model", "resnet18", "--batch", "0"],
                                  ["--all", "--state-dict", "x.pt"], ["--model", "resnet18", "--state-dict", "/no/such.pt"]])
def test_bad_arguments_exit_2(args, capsys):
    """oracle: argparse's contract (exit status 2 and a message)."""
    with pytest.raises(SystemExit) as e:
        _load().main(args)
    assert e.value.code == 2
    assert "error" in capsys.readouterr().err
