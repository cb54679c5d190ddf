"""The plan file of :mod:`jaxconv.tuning`: JSON entries keyed by backend, device kind, jax version, dtype and shape.

Writes merge under an exclusive lock (POSIX ``flock`` on ``path + ".lock"``) and replace the file
atomically (a temp file and ``os.replace``), so several processes may tune into one file. A corrupt,
foreign or unreadable file is ignored with a :class:`PlanFileWarning` and rebuilt on the next write.
The public names are re-exported by :mod:`jaxconv.tuning`.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["FORMAT", "VERSION", "PlanFileWarning", "default_path", "load_plans"]

#: The plan file's ``"format"`` and ``"version"``; a file with others is foreign (ignored, rebuilt).
FORMAT = "jaxconv-plans"
VERSION = 1


class PlanFileWarning(UserWarning):
    """A plan file that could not be used (corrupt, foreign or unreadable): ignored, rebuilt on the next write."""


def default_path() -> Path:
    """The default plan file: ``$XDG_CACHE_HOME/jaxconv/plans.json`` (``~/.cache/jaxconv/plans.json``).

    >>> default_path().name
    'plans.json'
    """
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(cache) / "jaxconv" / "plans.json"


def _resolve(path: str | os.PathLike[str] | None) -> str:
    return os.path.abspath(os.fspath(default_path() if path is None else path))


# --- the file --------------------------------------------------------------------------------
def _warn(path: str, why: str, action: str) -> None:
    warnings.warn(f"jaxconv plan file {path}: {why}; {action}", PlanFileWarning, stacklevel=3)


def _read(path: str, action: str) -> dict[str, dict[str, Any]]:
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as e:
        _warn(path, f"unreadable ({e})", action)
        return {}
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        _warn(path, f"corrupt (not JSON: {e})", action)
        return {}
    if not isinstance(data, dict) or data.get("format") != FORMAT or data.get("version") != VERSION \
            or not isinstance(data.get("entries"), dict):
        got = (data.get("format"), data.get("version")) if isinstance(data, dict) else type(data).__name__
        _warn(path, f"foreign (not format {FORMAT!r} version {VERSION}: got {got})", action)
        return {}
    return {k: v for k, v in data["entries"].items() if isinstance(k, str) and isinstance(v, dict)}


def load_plans(path: str | os.PathLike[str] | None = None) -> dict[str, dict[str, Any]]:
    """The entries of a plan file (``{key: {"plan": [...], "times_ms": {...}, "measured": ...}}``).

    A missing file has none; a corrupt or foreign one warns (:class:`PlanFileWarning`) and has none.

    >>> import tempfile
    >>> load_plans(tempfile.mkdtemp() + "/none.json")
    {}
    """
    return _read(_resolve(path), "ignored; it is rebuilt on the next write")


@contextlib.contextmanager
def _file_lock(path: str) -> Iterator[None]:
    """An exclusive advisory lock on ``path + ".lock"`` (POSIX ``flock``; no lock where there is none)."""
    try:
        import fcntl
    except ImportError:  # Windows: atomic replace still keeps the file whole, a race may drop an entry
        yield
        return
    with open(path + ".lock", "a+") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)


def _store(path: str, new: dict[str, dict[str, Any]]) -> None:
    """Read-merge-write ``new`` into the file under the lock; the write is a temp file + ``os.replace``."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with _file_lock(path):
        entries = _read(path, "rebuilt by this write")
        entries.update(new)
        data = {"format": FORMAT, "version": VERSION, "entries": dict(sorted(entries.items()))}
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=f".{os.path.basename(path)}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(data, f, indent=1)
                f.write("\n")
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
