"""Argument plumbing of the window rules: types, canonical tuples, the one error form, spec caches.

Pure Python (no JAX), like the rest of :mod:`jaxconv.shapes`. Every check that needs no
array lives here or in :mod:`jaxconv.shapes.rules`; the array-level checks (is the input an
array, its dtype) live in :mod:`jaxconv._plumbing`.
"""

from __future__ import annotations

import functools
import math
import operator
from collections.abc import Callable, Sequence
from typing import Any, TypeVar, Union

__all__ = [
    "PADDING_STRINGS",
    "IntOrSeq",
    "Padding",
    "arg_error",
    "canonicalize",
    "check_bool",
    "check_float",
    "check_int",
    "freeze",
    "frozen_args",
    "is_int",
    "spec_cache",
    "split_batch",
]

IntOrSeq = Union[int, Sequence[int]]
Padding = Union[str, int, Sequence[int], Sequence[Sequence[int]]]

#: The padding strings of jaxconv's vocabulary (case-insensitive).
PADDING_STRINGS = ("valid", "same", "same_lower", "full", "causal")


def arg_error(fn: str, name: str, rule: str, value: object, *, exc: type[Exception] = ValueError) -> Exception:
    """Build the one error message form used across jaxconv.

    >>> str(arg_error("conv2d", "stride", "must be >= 1 in every spatial dim", (2, 0)))
    'conv2d: `stride` must be >= 1 in every spatial dim, got (2, 0)'
    """
    return exc(f"{fn}: `{name}` {rule}, got {value!r}")


def is_int(v: object) -> bool:
    """An integer (NumPy integers too), but not a bool or a float.

    >>> is_int(3), is_int(True), is_int(3.0)
    (True, False, False)
    """
    if isinstance(v, bool):
        return False
    try:
        operator.index(v)  # type: ignore[arg-type]  # accepts numpy integers, rejects floats
    except TypeError:
        return False
    return True


def freeze(v: Any) -> Any:
    """Lists -> tuples, recursively, so that arguments can key a cache or sit on a static attribute.

    >>> freeze([1, [2, 3]])
    (1, (2, 3))
    """
    if isinstance(v, (list, tuple)):
        return tuple(freeze(i) for i in v)
    return v


def frozen_args(fn: str, **args: Any) -> tuple[Any, ...]:
    """The arguments frozen (:func:`freeze`) and checked hashable, in order, for a spec cache.

    An argument that cannot key a cache (a dict, an array, a set) gets the one error form
    here, naming the argument, instead of a ``TypeError: unhashable type`` from the cache.

    >>> frozen_args("conv2d", stride=[2, 2], padding="same")
    ((2, 2), 'same')
    >>> frozen_args("conv2d", stride={2: 2})
    Traceback (most recent call last):
    TypeError: conv2d: `stride` must be an int, a sequence of ints, or a string, got {2: 2}
    """
    out = []
    for name, v in args.items():
        f = freeze(v)
        try:
            hash(f)
        except TypeError:
            raise arg_error(fn, name, "must be an int, a sequence of ints, or a string", v, exc=TypeError) from None
        out.append(f)
    return tuple(out)


def _type_key(v: object) -> object:
    if isinstance(v, (list, tuple)):
        return tuple(_type_key(i) for i in v)
    return type(v)


_F = TypeVar("_F", bound=Callable[..., Any])


def spec_cache(fn: _F) -> _F:
    """``functools.lru_cache`` for spec builders, keyed on the arguments' values *and types*.

    ``1 == 1.0 == True`` with equal hashes, so a cache keyed on values alone hands
    ``stride=2.0`` or ``groups=True`` (which validation rejects) the spec cached by an
    earlier ``stride=2`` / ``groups=1`` call: the error would depend on call history.

    >>> calls = []
    >>> @spec_cache
    ... def check(stride):
    ...     calls.append(stride)
    ...     return canonicalize(stride, 1, "stride")
    >>> check(2), check(2), len(calls)
    ((2,), (2,), 1)
    >>> check(2.0)
    Traceback (most recent call last):
    TypeError: jaxconv: `stride` must be an int or a sequence of 1 ints, got 2.0
    """
    @functools.lru_cache(maxsize=4096)
    def cached(types: object, *args: Any) -> Any:
        return fn(*args)

    @functools.wraps(fn)
    def wrapper(*args: Any) -> Any:
        return cached(_type_key(args), *args)

    wrapper.cache_clear = cached.cache_clear  # type: ignore[attr-defined]
    return wrapper  # type: ignore[return-value]


def canonicalize(value: IntOrSeq, n: int, name: str, fn: str = "jaxconv", *, min_value: int | None = None) -> tuple[int, ...]:
    """Turn an int or a length-``n`` sequence of ints into an ``n``-tuple of ints.

    Args:
      value: an int (repeated ``n`` times) or a sequence of ``n`` ints.
      n: number of spatial dims.
      name: argument name, for the error message.
      fn: function name, for the error message.
      min_value: if given, every entry must be >= ``min_value``.

    Returns:
      A tuple of ``n`` Python ints.

    >>> canonicalize(2, 3, "stride")
    (2, 2, 2)
    >>> canonicalize((1, 2), 2, "dilation", min_value=1)
    (1, 2)
    """
    if is_int(value):
        out = (operator.index(value),) * n  # type: ignore[arg-type]
    elif isinstance(value, (str, bytes)) or (not isinstance(value, Sequence) and not hasattr(value, "__len__")):
        raise arg_error(fn, name, f"must be an int or a sequence of {n} ints", value, exc=TypeError)
    else:
        seq = tuple(value)  # type: ignore[arg-type]
        if not all(is_int(v) for v in seq):
            raise arg_error(fn, name, f"must be an int or a sequence of {n} ints", value, exc=TypeError)
        if len(seq) == 1 and n != 1:
            # torch accepts a 1-tuple for any number of dims (e.g. kernel_size=(3,)).
            seq = seq * n
        if len(seq) != n:
            raise arg_error(fn, name, f"must have {n} entries, one per spatial dim", value)
        out = tuple(operator.index(v) for v in seq)
    if min_value is not None and any(v < min_value for v in out):
        where = "" if n == 1 else " in every spatial dim"
        raise arg_error(fn, name, f"must be >= {min_value}{where}", out if not is_int(value) else value)
    return out


def split_batch(fn: str, x_ndim: int, n: int, name: str = "input") -> bool:
    """Whether an input of rank ``x_ndim`` is batched, for ``n`` spatial dims.

    ``(N, C, *spatial)`` is batched, ``(C, *spatial)`` is not; any other rank is an error.

    >>> split_batch("conv2d", 4, 2), split_batch("conv2d", 3, 2)
    (True, False)
    """
    if x_ndim == n + 2:
        return True
    if x_ndim == n + 1:
        return False
    raise arg_error(fn, name, f"must have rank {n + 1} (C, *spatial) or {n + 2} (N, C, *spatial) for {n} spatial dims", f"rank {x_ndim}")


def check_int(fn: str, name: str, v: object, min_value: int) -> int:
    """An int >= ``min_value`` (bools rejected), else a clear error.

    >>> check_int("Conv2d", "groups", 2, 1)
    2
    """
    if not is_int(v):
        raise arg_error(fn, name, f"must be an int >= {min_value}", v, exc=TypeError)
    iv = operator.index(v)  # type: ignore[arg-type]
    if iv < min_value:
        raise arg_error(fn, name, f"must be an int >= {min_value}", v)
    return iv


def check_bool(fn: str, name: str, v: object) -> bool:
    """A real bool (NumPy bools too), else a clear error.

    >>> check_bool("MaxPool2d", "ceil_mode", True)
    True
    """
    if not isinstance(v, bool) and type(v).__name__ != "bool_":
        raise arg_error(fn, name, "must be a bool", v, exc=TypeError)
    return bool(v)


def check_float(fn: str, name: str, v: object, *, lo: float | None = None, hi: float | None = None,
                lo_open: bool = False, hi_open: bool = False) -> float:
    """A real number within ``[lo, hi]`` (open ends when asked), else a clear error.

    >>> check_float("Dropout", "p", 0.5, lo=0, hi=1)
    0.5
    """
    if isinstance(v, bool) or (not isinstance(v, (int, float)) and not hasattr(v, "__float__")):
        raise arg_error(fn, name, "must be a number", v, exc=TypeError)
    f = float(v)  # type: ignore[arg-type]
    bad = not math.isfinite(f)
    if lo is not None:
        bad = bad or (f <= lo if lo_open else f < lo)
    if hi is not None:
        bad = bad or (f >= hi if hi_open else f > hi)
    if bad:
        lb = "(" if lo_open else "["
        rb = ")" if hi_open else "]"
        rng = f"in {lb}{'-inf' if lo is None else lo}, {'inf' if hi is None else hi}{rb}"
        raise arg_error(fn, name, f"must be a finite number {rng}", v)
    return f
