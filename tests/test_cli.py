"""The window-arithmetic calculator (jaxconv.cli): its formulas, ``python -m jaxconv``, ``jaxconv-shapes``,
the deprecated ``jaxconv.shapes.main`` / ``python -m jaxconv.shapes``."""

from __future__ import annotations

import importlib.metadata
import math
import os
import random
import re
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import pytest

from jaxconv import cli, shapes
from jaxconv.cli import explain, explain_params

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
ARGS = ["conv", "-i", "8", "8", "-k", "3", "-s", "2", "-p", "1"]


def _readme_console() -> tuple[str, str]:
    """The README's console example: the command after ``$ `` (comment dropped) and its printed lines."""
    block = re.search(r"```console\n\$ (.*?)\n(.*?)```", README, re.S)
    assert block, "README has no console example"
    return block[1].split("#")[0].strip(), block[2]


def _run(cmd: list[str]) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONWARNINGS"}  # the default warning filters, as a user has
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env, cwd=ROOT)


# ------------------------------------------------------------------ entry points (subprocesses)


def test_python_m_jaxconv_is_silent_and_matches_readme():
    """``python -m jaxconv conv ...`` prints README's lines and writes nothing to stderr (no runpy warning).

    oracle: README's console block, and the rule that valid input writes nothing to stderr.
    """
    command, printed = _readme_console()
    assert command == "python -m jaxconv " + " ".join(ARGS)
    r = _run([sys.executable, "-m", "jaxconv", *ARGS])
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    assert r.stdout == printed
    assert r.stdout.splitlines()[1] == "dim 0: out = floor((8 + 1 + 1 - 1*(3-1) - 1) / 2) + 1 = 4"


def test_jaxconv_shapes_console_script():
    """The installed ``jaxconv-shapes`` command is jaxconv.cli:main and prints the same, silently.

    oracle: pyproject's [project.scripts], the installed entry point, and README's console block.
    """
    assert re.search(r'^jaxconv-shapes = "jaxconv\.cli:main"$', (ROOT / "pyproject.toml").read_text(), re.M)
    (ep,) = importlib.metadata.entry_points(group="console_scripts", name="jaxconv-shapes")
    assert ep.value == "jaxconv.cli:main", "stale install: re-run pip install -e ."
    script = Path(sys.executable).with_name("jaxconv-shapes")
    assert script.exists(), f"{script} is not installed"
    r = _run([str(script), *ARGS])
    assert r.returncode == 0 and r.stderr == "", r.stderr
    assert r.stdout == _readme_console()[1]


def test_python_m_jaxconv_shapes_still_works():
    """The old spelling keeps working for a release, saying where the calculator went. oracle: the deprecation rule."""
    r = _run([sys.executable, "-m", "jaxconv.shapes", "conv", "-i", "5", "-k", "3"])
    assert r.returncode == 0 and "output (3,)" in r.stdout
    assert "DeprecationWarning" in r.stderr and "python -m jaxconv" in r.stderr


def test_cli_is_pure_python():
    """jaxconv.cli and jaxconv.shapes import without JAX (a browser front end can load them).

    oracle: sys.modules in a fresh interpreter where the package's __init__ (which imports JAX) is bypassed.
    """
    code = ("import sys, types; p = types.ModuleType('jaxconv'); p.__path__ = [sys.argv[1]]; sys.modules['jaxconv'] = p; "
            "import jaxconv.cli as c; print(c.explain('conv', 8, 3).output_size, 'jax' in sys.modules)")
    r = subprocess.run([sys.executable, "-c", code, str(Path(cli.__file__).parent)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "(6,) False"


# ------------------------------------------------------------------ the CLI in-process


def test_cli_conv_pool_transpose_params(capsys):
    """oracle: the formulas with the numbers filled in, checked against conv_output_shape etc."""

    def out(*args: str) -> str:
        assert cli.main(list(args)) == 0
        return capsys.readouterr().out

    o = out(*ARGS)
    assert "output (4, 4)" in o and "floor((8 + 1 + 1 - 1*(3-1) - 1) / 2) + 1 = 4" in o
    o = out("pool", "-i", "5", "-k", "2", "-s", "2", "-p", "1", "--ceil-mode")
    assert "output (3,)" in o and "right padding" in o
    o = out("conv", "-i", "7", "-k", "3", "-s", "2", "-p", "same")
    assert "output (4,)" in o and "(1, 1)" in o
    assert "output (6, 9)" in out("conv", "-i", "7", "7", "-k", "3", "-p", "1,0", "2,2")
    assert "output (8,)" in out("transpose", "-i", "4", "-k", "3", "-s", "2", "-p", "1", "--output-padding", "1")
    assert out("params", "--in-channels", "3", "--out-channels", "64", "-k", "3").strip().endswith("= 1792")
    assert out("params", "--in-channels", "4", "--out-channels", "8", "-k", "3", "5", "--groups", "2", "--no-bias").strip() == \
        "params = 3 * 5 * 4/2 * 8 = 240"


@pytest.mark.parametrize(("args", "match"), [
    (["conv", "-i", "4", "-k", "9"], "larger than the padded input"),
    (["pool", "-i", "4", "-k", "3", "-p", "2"], "jaxconv-shapes: `padding` must be <= kernel_size // 2"),
    (["conv", "-i", "4", "-k", "3", "-p", "bogus"], "jaxconv-shapes: `padding` must be an int"),
    (["conv", "-i", "4", "4", "-k", "3", "3", "3"], "jaxconv-shapes: `kernel_size`"),
])
def test_cli_error_exit_code(capsys, args, match):
    """oracle: a bad argument prints the error rule (naming the argument) on stderr and exits 2."""
    assert cli.main(args) == 2
    err = capsys.readouterr()
    assert err.out == "" and err.err.startswith("error: ") and match in err.err


def test_shapes_main_is_a_deprecated_shim(capsys):
    """``jaxconv.shapes.main`` still works for a release, with a DeprecationWarning. oracle: jaxconv.cli.main's output."""
    with pytest.warns(DeprecationWarning, match=r"jaxconv\.cli\.main"):
        assert shapes.main(["conv", "-i", "5", "-k", "3"]) == 0
    old = capsys.readouterr().out
    assert cli.main(["conv", "-i", "5", "-k", "3"]) == 0
    assert capsys.readouterr().out == old


# ------------------------------------------------------------------ the formatter


def _value(formula: str) -> int:
    """Evaluate the arithmetic of one formula line (up to its first ``=`` after ``out``) exactly, with fractions."""
    expr = formula.split("out = ", 1)[1].split(" = ")[0]
    expr = re.sub(r"(\d+)", r"Fraction(\1)", expr)
    return int(eval(expr, {"Fraction": Fraction, "floor": math.floor, "ceil": math.ceil}))


def test_explain_formulas_evaluate_to_the_sizes():
    """Each formula line, evaluated as arithmetic, gives the size it states, and the sizes are the shape functions'.

    oracle: shapes.conv_output_shape / pool_output_shape / conv_transpose_output_shape (which test_shapes.py
    checks against torch) and Python's exact rational arithmetic on the printed formula.
    """
    rng = random.Random(13)
    checked = 0
    while checked < 300:
        op = rng.choice(cli.OPS)
        n = rng.randint(1, 3)
        ins = tuple(rng.randint(1, 12) for _ in range(n))
        k, s, d = (tuple(rng.randint(1, 4) for _ in range(n)) for _ in range(3))
        pad = rng.choice([0, 1, "same", "valid", "full", tuple((rng.randint(0, 2), rng.randint(0, 2)) for _ in range(n))])
        kw: dict = {}
        if op == "pool":
            kw["ceil_mode"] = rng.random() < 0.5
        if op == "transpose" and not isinstance(pad, str):
            kw["output_padding"] = tuple(rng.randint(0, max(a, b) - 1) for a, b in zip(s, d))
        try:
            e = explain(op, ins, k, s, pad, d, **kw)
        except ValueError:
            continue
        if op == "conv":
            ref = shapes.conv_output_shape(ins, k, s, pad, d)
        elif op == "pool":
            ref = shapes.pool_output_shape(ins, k, s, pad, d, kw["ceil_mode"])
        else:
            pads, ops = shapes.conv_transpose_padding(ins, k, s, pad, kw.get("output_padding", 0), d)
            ref = shapes.conv_transpose_output_shape(ins, k, s, pads, ops, d)
        assert e.output_size == ref and len(e.formulas) == n
        assert str(e).splitlines()[0] == e.header and e.header.startswith(f"{op}: input {ins} -> output {ref}")
        for j, line in enumerate(e.formulas):
            assert line.startswith(f"dim {j}: out = ")
            stated = int(line.split(" = ")[-1].split(" -> ")[0])
            assert _value(line) == stated, line
            assert int(re.split(r" = | -> ", line.split(" (the last")[0])[-1]) == ref[j], line
        checked += 1


def test_explain_defaults_and_errors():
    """``stride=None`` is the kernel for pools and 1 otherwise; wrong ops and options name the argument.

    oracle: torch's defaults (F.max_pool2d's stride=None, F.conv2d's stride=1) and the error-message rule.
    """
    assert explain("pool", (6, 6), 2).output_size == (3, 3)
    assert explain("conv", (6, 6), 2).output_size == (5, 5)
    assert explain_params(3, 64, 3) == "params = 3 * 3 * 3/1 * 64 + 64 = 1792"
    with pytest.raises(ValueError, match=r"explain: `op` must be one of"):
        explain("deconv", 8, 3)
    with pytest.raises(ValueError, match=r"explain: `ceil_mode` applies to op='pool' only"):
        explain("conv", 8, 3, ceil_mode=True)
    with pytest.raises(ValueError, match=r"explain: `output_padding` applies to op='transpose' only"):
        explain("pool", 8, 3, output_padding=1)
    with pytest.raises(ValueError, match=r"explain: `kernel_size`"):
        explain("conv", (8, 8), (3, 3, 3))
