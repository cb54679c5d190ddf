"""The README's Python examples run as written (in order, sharing one namespace, as a reader pastes them).

oracle: the README itself — each block must run without error, and its own asserts hold; a few
stated results are checked here too.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()
BLOCKS = re.findall(r"```python\n(.*?)```", README, re.S)


def test_readme_has_examples():
    """The tour, transposed conv, pooling and porting examples are there. oracle: README.md."""
    assert len(BLOCKS) >= 4


def test_readme_blocks_run_in_order(capsys):
    """Every block runs after the blocks before it, in one namespace, as a reader pastes them (each block once:
    a parametrisation re-running all earlier blocks per case cost minutes for the porting example).
    oracle: each block's own asserts, and the pooling example's stated values."""
    if any("torchvision" in code for code in BLOCKS):
        # the torchvision wheel here cannot load its C++ ops beside the CPU torch (tests/torchvision_compat.py);
        # a reader's normal install needs no such step
        from tests.torchvision_compat import import_torchvision

        import_torchvision()
    ns: dict = {}
    for i, code in enumerate(BLOCKS, 1):
        try:
            exec(compile(code, f"README.md block {i}", "exec"), ns)
        except Exception as e:
            raise AssertionError(f"README python block {i} of {len(BLOCKS)} failed: {type(e).__name__}: {e}") from e
        capsys.readouterr()
        if "max_pool2d(x, 3, 2, 1)" in code:
            # the pooling example's stated values (seed 003's MaxPool2d(3, padding=1, stride=2))
            np.testing.assert_array_equal(ns["jaxconv"].max_pool2d(ns["x"], 3, 2, 1)[0, 0], [[5, 7], [13, 15]])
