"""Smoke tests of experiments/: every script runs (quick mode), exits 0 and writes its files.

The main job (train_edge_detector.py) is run with its default options, as the README's
first command; then --resume after an interrupted run, --devices 4 on four forced host
devices, and corrupt or mismatched checkpoints. Scripts run in subprocesses, as a user
runs them.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
EXP = ROOT / "experiments"
TRAIN = EXP / "train_edge_detector.py"


def run(script: Path, *args: str, env: dict[str, str] | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "MPLBACKEND": "Agg", **(env or {})}
    return subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True, cwd=ROOT, env=full_env,
                          timeout=timeout)


def metrics(out: Path) -> dict:
    return json.loads((out / "metrics.json").read_text())


@pytest.fixture(scope="module")
def default_run(tmp_path_factory):
    """The README's first command (default options), into a temporary --out."""
    out = tmp_path_factory.mktemp("edge") / "run"
    r = run(TRAIN, "--out", str(out))
    assert r.returncode == 0, r.stdout + r.stderr
    return out, r


# ---------------------------------------------------------------------------------------- main job

def test_default_run_reaches_tolerance_and_writes_everything(default_run):
    """Default run: both kernels within 1e-3 of their targets, the seed's printout, all files (oracle: the seed's kernels)."""
    out, r = default_run
    for name in ("metrics.json", "loss.png", "kernels.png", "edges.png", "checkpoint.npz"):
        assert (out / name).stat().st_size > 0, name
    m = metrics(out)
    assert m["converged"] and m["tol"] == 1e-3
    assert np.max(np.abs(np.array(m["part1"]["learned_kernel"]) - [[1.0, -1.0]])) < 1e-3
    sobel = [[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]]
    assert m["part2"]["target_kernel"] == sobel
    assert np.max(np.abs(np.array(m["part2"]["learned_kernel"]) - sobel)) < 1e-3
    for part in ("part1", "part2"):
        assert {"final_loss", "learned_kernel", "target_kernel", "steps", "seconds"} <= set(m[part])
    # Seed 001's printout: the loss every 2 of the 10 SGD steps, decreasing.
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("epoch ")]
    assert [ln.split(",")[0] for ln in lines] == ["epoch 2", "epoch 4", "epoch 6", "epoch 8", "epoch 10"]
    losses = [float(ln.split("loss ")[1]) for ln in lines]
    assert losses == sorted(losses, reverse=True)
    assert len(m["part1"]["seed_losses"]) == 10


def test_resume_ends_with_the_same_kernels(default_run, tmp_path):
    """Interrupted (step budget) then --resume = one uninterrupted run, bit for bit (oracle: the default run)."""
    ref = metrics(default_run[0])
    out = tmp_path / "run"
    # 40 steps: part 1 is stopped short of its tolerance, part 2 in the middle of a 25-step chunk.
    r = run(TRAIN, "--out", str(out), "--steps", "40", "--no-plots")
    assert r.returncode == 1, r.stdout + r.stderr  # tolerance not reached yet
    assert "NOT reached" in r.stdout
    r = run(TRAIN, "--out", str(out), "--resume", "--no-plots")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "resuming from" in r.stdout
    m = metrics(out)
    assert m["resumed"]
    for part in ("part1", "part2"):
        assert m[part]["learned_kernel"] == ref[part]["learned_kernel"], part
        assert m[part]["steps"] == ref[part]["steps"], part


def test_four_devices_match_one(default_run, tmp_path):
    """--devices 4 on 4 forced host devices: batch sharded, same kernels as 1 device (oracle: the default run)."""
    ref = metrics(default_run[0])
    out = tmp_path / "run"
    r = run(TRAIN, "--out", str(out), "--devices", "4", "--no-plots",
            env={"XLA_FLAGS": "--xla_force_host_platform_device_count=4"})
    assert r.returncode == 0, r.stdout + r.stderr
    m = metrics(out)
    assert m["devices"] == 4 and m["converged"]
    assert m["part1"]["learned_kernel"] == ref["part1"]["learned_kernel"]  # part 1 is not sharded
    # Part 2's gradient is summed per shard, then across shards: float32 rounding may differ slightly.
    np.testing.assert_allclose(m["part2"]["learned_kernel"], ref["part2"]["learned_kernel"], atol=1e-5)


def test_two_processes_with_jax_distributed(default_run, tmp_path):
    """The README's multi-host recipe on one machine: 2 processes x 2 CPU devices, --distributed (oracle: the default run)."""
    import socket

    with socket.socket() as sock:  # a free port for the coordinator
        sock.bind(("localhost", 0))
        port = sock.getsockname()[1]
    out = tmp_path / "run"
    env = {**os.environ, "MPLBACKEND": "Agg", "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    procs = [subprocess.Popen([sys.executable, str(TRAIN), "--distributed", "--coordinator", f"localhost:{port}",
                               "--num-processes", "2", "--process-id", str(i), "--devices", "4", "--out", str(out),
                               "--no-plots"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT, env=env)
             for i in range(2)]
    logs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], logs
    assert "process 1: process 0 writes the files" in logs[1]
    m = metrics(out)
    assert m["devices"] == 4 and m["converged"]
    np.testing.assert_allclose(m["part2"]["learned_kernel"], metrics(default_run[0])["part2"]["learned_kernel"], atol=1e-5)


def _load(script: Path):
    """Import a script as a module, to call its functions in-process (cheaper than a subprocess)."""
    spec = importlib.util.spec_from_file_location(script.stem, script)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


def test_corrupt_checkpoint_is_an_error_and_left_alone(tmp_path, capsys):
    """--resume on a corrupt or missing checkpoint exits 2 with a clear message; the file is untouched (oracle: the bytes)."""
    train = _load(TRAIN)
    (tmp_path / "checkpoint.npz").write_bytes(b"not an npz at all")
    assert train.main(["--out", str(tmp_path), "--resume", "--no-plots"]) == 2
    err = capsys.readouterr().err
    assert "corrupt" in err and "left untouched" in err
    assert (tmp_path / "checkpoint.npz").read_bytes() == b"not an npz at all"
    assert not (tmp_path / "metrics.json").exists()
    assert train.main(["--out", str(tmp_path / "empty"), "--resume"]) == 2
    assert "no checkpoint" in capsys.readouterr().err


def test_mismatched_checkpoint_is_an_error_and_left_alone(tmp_path, capsys):
    """A checkpoint written with other options (--lr, --seed, ...) is refused, not overwritten (oracle: the bytes)."""
    train = _load(TRAIN)
    ckpt = tmp_path / "checkpoint.npz"
    # A checkpoint as the script writes it, with lr 0.05 in its config.
    config = train.config_of(train.parse_args(["--lr", "0.05"]))
    train.save_checkpoint(ckpt, {"config": config, "p1_step": 0, "p1_seconds": 0.0, "p2_step": 0, "p2_seconds": 0.0},
                          {"p1_w": np.zeros((1, 1, 1, 2), np.float32), "p1_losses": np.zeros(0, np.float32)})
    before = ckpt.read_bytes()
    assert train.main(["--out", str(tmp_path), "--resume", "--no-plots"]) == 2
    err = capsys.readouterr().err
    assert "other options" in err and "lr: checkpoint 0.05 vs now 0.1" in err
    assert ckpt.read_bytes() == before
    assert not list(tmp_path.glob("*.tmp"))


def test_bad_arguments_exit_2(capsys):
    """Argument errors are argparse errors, before anything runs (oracle: exit status 2)."""
    train = _load(TRAIN)
    for argv, needle in ((["--devices", "3", "--batch", "32"], "divisible"), (["--lr", "0"], "> 0"),
                         (["--patch", "2"], ">= 3"), (["--optimizer", "lbfgs"], "invalid choice")):
        with pytest.raises(SystemExit) as e:
            train.parse_args(argv)
        assert e.value.code == 2
        assert needle in capsys.readouterr().err, argv


# ---------------------------------------------------------------------------------------- other scripts

def test_seeds_script_reproduces_every_number():
    """Every seed table row matches (oracle: the numbers printed in the seed notes, and torch)."""
    r = run(EXP / "seeds.py")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "MISMATCH" not in r.stdout
    last = r.stdout.strip().splitlines()[-1]
    done, total = last.split()[0].split("/")
    assert done == total and int(total) >= 60, last
    for needle in ("[[10,12,12],[18,16,16],[13,9,3]]", "[[10,12],[13,3]]", "[[1,4,8],[7,16,8],[14,9,4]]",
                   "[[2,3],[5,1]]", "[[2]]", "[[[[10]]]]", "[[[[1,3],[9,11],[13,15]]]]", "1x16x56x56", "3x6"):
        assert needle in r.stdout, needle


def test_seeds_script_without_torch_and_one_seed(capsys):
    """A subset of seeds and --no-torch: no torch column; an unknown seed is an error (oracle: the table header)."""
    seeds = _load(EXP / "seeds.py")
    assert seeds.main(["001", "--no-torch"]) == 0
    out = capsys.readouterr().out
    assert "| torch" not in out and "seed 000" not in out and "3/3 rows reproduced" in out
    with pytest.raises(SystemExit) as e:
        seeds.main(["999"])
    assert e.value.code == 2


def test_seeds_table_counts_a_mismatch(capsys):
    """A wrong expected value is reported as MISMATCH and counted (oracle: a deliberately wrong number)."""
    seeds = _load(EXP / "seeds.py")
    t = seeds.Table("demo", ["jaxconv"], use_torch=False)
    t.row("right", [[1, 2]], [np.array([[1.0, 2.0]])])
    t.row("wrong", [[1, 2]], [np.array([[1.0, 3.0]])])
    t.row("shape", (2, 2), [(2, 3)])
    t.print()
    assert t.failures == 2
    assert capsys.readouterr().out.count("MISMATCH") == 2


def test_conv_arithmetic_renders_gifs(tmp_path):
    """A classic GIF and a custom transposed one, one frame per output position (oracle: the frame count)."""
    from PIL import Image

    r = run(EXP / "conv_arithmetic.py", "--out", str(tmp_path), "--only", "padding_strides_odd", "--dpi", "30")
    assert r.returncode == 0, r.stdout + r.stderr
    ca = _load(EXP / "conv_arithmetic.py")
    assert ca.main(["--out", str(tmp_path), "-i", "2", "1", "-k", "2", "-s", "2", "--transposed", "--output-padding", "1",
                    "--name", "custom", "--dpi", "30"]) == 0
    # padding_strides_odd: 6x6, k3, s2, p1 -> 3x3;
    # custom, transposed: (i - 1) * s + k + output_padding = (2 - 1)*2 + 2 + 1, (1 - 1)*2 + 2 + 1 -> 5x3.
    for name, frames in (("padding_strides_odd", 9), ("custom", 15)):
        with Image.open(tmp_path / f"{name}.gif") as im:
            assert im.n_frames == frames, name
    with pytest.raises(SystemExit) as e:
        ca.main(["--only", "no_such_thing"])
    assert e.value.code == 2


def test_pool_images_writes_a_grid(tmp_path):
    """Max pool 3 on matplotlib's sample pictures: sizes by the formula, values = torch (oracle: torch CPU)."""
    r = run(EXP / "pool_images.py", "--out", str(tmp_path), "--max-side", "96")
    assert r.returncode == 0, r.stdout + r.stderr
    assert (tmp_path / "pool_images.png").stat().st_size > 0
    assert r.stdout.count(" ok") == 4 and "MISMATCH" not in r.stdout


def test_pool_images_tensorboard(tmp_path):
    """--tensorboard logs events with tensorboardX, or says how to install it (oracle: the files / the message)."""
    r = run(EXP / "pool_images.py", "--out", str(tmp_path), "--max-side", "48", "--mode", "avg", "--ceil-mode",
            "--tensorboard", str(tmp_path / "tb"))
    if importlib.util.find_spec("tensorboardX") is None:
        assert r.returncode == 2 and "pip install" in r.stderr and "tensorboard" in r.stderr
    else:
        assert r.returncode == 0, r.stdout + r.stderr
        assert list((tmp_path / "tb").glob("events.out.tfevents.*"))
