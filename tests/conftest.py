"""pytest configuration: hypothesis profiles and the ``slow`` marker.

Hypothesis profiles (``tests/test_properties.py`` is the campaign that uses them):

* ``ci`` (default): derandomized, so every CI run draws the same examples; no example
  database; no deadline (the first call of every new shape compiles under XLA, which
  is slow and not the code under test).
* ``slow``: random (not derandomized) and twenty times the examples of every property.

Select a profile with ``JAXCONV_HYPOTHESIS_PROFILE=slow``. Tests marked ``slow`` (the
long variants of the campaign) are deselected unless ``--run-slow`` is given or the
``-m`` expression names ``slow`` (``pytest -m slow tests/test_properties.py``).
"""

from __future__ import annotations

import os

# The suite compiles thousands of small programs, each run a few times: LLVM's optimisation of the
# generated code costs more than it saves (the suite's time -20-25%, measured on test_transforms,
# test_dtypes, test_transpose and test_graph_import_models). These flags lower only LLVM's effort;
# XLA's HLO passes (fusion, the optimised HLO that tests compare) and the IEEE semantics of each
# operation are unchanged; LLVM's fusing of a multiply and an add into one rounding is not (the tests
# that pin it run in a subprocess at XLA's default level: test_normalization.py's bit-equal batch norm). Set before jax is imported; an XLA_FLAGS that already chooses a
# backend optimisation level is left alone (e.g. to run the suite at XLA's default).
if "xla_backend_optimization_level" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "")
                               + " --xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true").strip()

import pytest
from hypothesis import HealthCheck, settings

_COMMON = dict(
    deadline=None,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)
settings.register_profile("ci", derandomize=True, **_COMMON)
settings.register_profile("slow", derandomize=False, **_COMMON)

PROFILE = os.environ.get("JAXCONV_HYPOTHESIS_PROFILE", "ci")
if PROFILE not in ("ci", "slow"):
    raise pytest.UsageError(f"JAXCONV_HYPOTHESIS_PROFILE must be 'ci' or 'slow', got {PROFILE!r}")
settings.load_profile(PROFILE)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--run-slow", action="store_true", default=False, help="also run tests marked slow")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--run-slow") or "slow" in (config.option.markexpr or ""):
        return
    # Deselected (as `-m "not slow"` would), not skipped: the default run reports no skips.
    kept = [item for item in items if "slow" not in item.keywords]
    if len(kept) != len(items):
        config.hook.pytest_deselected(items=[item for item in items if "slow" in item.keywords])
        items[:] = kept
