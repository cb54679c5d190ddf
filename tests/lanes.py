"""The default lane and the slow lane of the suite's random families.

CI runs the default lane on a 2-core machine within its time budget; ``pytest --run-slow`` (or
``-m slow``) runs everything. A random family keeps its first draws in the default lane and marks
the rest ``slow`` (tests/conftest.py deselects them), so the default lane is a fixed prefix of the
full campaign: the same configurations, in the same order, never a different draw.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import pytest

__all__ = ["prefix"]


def prefix(values: Iterable[Any], default: int, ids: Callable[[Any], str] | None = None) -> list[Any]:
    """``values`` as pytest params, those past the first ``default`` marked ``slow``.

    >>> [p.marks for p in prefix(range(3), 2)][2][0].name
    'slow'
    """
    out = []
    for i, v in enumerate(values):
        marks = [pytest.mark.slow] if i >= default else []
        out.append(pytest.param(v, marks=marks, id=None if ids is None else ids(v)))
    return out
