"""The explorer's configuration as a URL query (or a JSON object): parsing and writing it.

The page keeps its whole view in the query string, ``?op=conv&input=5,5&kernel=3&stride=2&padding=1``,
and sends that same query to the server's endpoints. Values are written as in Python
(``3``, ``3,2``, ``((1,0),(2,3))``, ``same``); each is handed to the library as parsed, so a
bad value gets the library's own message. Numbers-mode values are rows separated by ``;``
(or new lines), entries by ``,``.

>>> r = parse({"op": "max_pool", "input": "5,5", "kernel": "3", "ceil_mode": "1"})
>>> r.config.explain().output_size, to_query(r.config)
((2, 2), {'op': 'max_pool', 'input': '5,5', 'kernel': '3', 'ceil_mode': '1'})
"""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from jaxconv.frames import Config
from jaxconv.shapes import arg_error

__all__ = ["FN", "PARAMS", "Request", "format_matrix", "parse", "parse_matrix", "to_query"]

#: The name errors are raised under: ``explore: `padding` must be ...``.
FN = "explore"
#: Every parameter the page and the endpoints know, in the page's order.
PARAMS = ("preset", "op", "input", "kernel", "stride", "padding", "dilation", "output_padding", "ceil_mode",
          "count_include_pad", "numbers", "x", "w", "frame")
_LIMIT = {"x": 4000, "w": 4000}
_DEFAULT_LIMIT = 200
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off", "")


@dataclass(frozen=True)
class Request:
    """A parsed query: the configuration, numbers mode with its values (``None``: the defaults), the frame shown."""

    config: Config
    numbers: bool = False
    x: Any = None
    w: Any = None
    frame: int = 0


def _literal(name: str, value: Any) -> Any:
    """``"3"`` -> 3, ``"3,2"`` or ``"3 2"`` -> (3, 2), ``"same"`` -> "same"; other text is returned as is (the library rejects it).

    >>> _literal("padding", "((1, 0), (2, 3))"), _literal("input", "5 5"), _literal("padding", "1,,")
    (((1, 0), (2, 3)), (5, 5), '1,,')
    """
    if not isinstance(value, str):
        return _tuples(value)
    text = value.strip()
    if re.fullmatch(r"[A-Za-z_]\w*", text) and text != "None":
        return text
    if re.fullmatch(r"-?\d+(\s+-?\d+)+", text):  # "5 5", as the command line writes it
        return tuple(int(v) for v in text.split())
    try:
        return _tuples(ast.literal_eval(text))
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return text


def _tuples(v: Any) -> Any:
    return tuple(_tuples(i) for i in v) if isinstance(v, (list, tuple)) else v


def _bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
        return value.strip().lower() in _TRUE
    raise arg_error(FN, name, "must be true or false (1 or 0)", value)


def parse_matrix(name: str, value: Any) -> Any:
    """Numbers-mode values: ``"1,2;3,4"`` (or a JSON list) -> nested lists of floats; ``None`` if empty.

    >>> parse_matrix("x", "1, 2; 3, 4"), parse_matrix("x", "5 6 7"), parse_matrix("x", "")
    ([[1.0, 2.0], [3.0, 4.0]], [5.0, 6.0, 7.0], None)
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    rule = "must be numbers, entries separated by ',' and rows by ';' or new lines"
    if isinstance(value, str):
        rows = [r for r in re.split(r"[;\n]", value) if r.strip()]
        try:
            m = [[float(v) for v in re.split(r"[,\s]+", r.strip()) if v] for r in rows]
        except ValueError:
            raise arg_error(FN, name, rule, value[:60]) from None
    elif isinstance(value, (list, tuple)):
        m = [list(r) if isinstance(r, (list, tuple)) else [r] for r in value]
        if value and not isinstance(value[0], (list, tuple)):
            m = [list(value)]
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for r in m for v in r):
            raise arg_error(FN, name, rule, value)
        m = [[float(v) for v in r] for r in m]
    else:
        raise arg_error(FN, name, rule, value, exc=TypeError)
    if len({len(r) for r in m}) != 1:
        raise arg_error(FN, name, "must have rows of equal length", [len(r) for r in m])
    return m[0] if len(m) == 1 else m


def parse(params: Mapping[str, Any]) -> Request:
    """A :class:`Request` from query parameters (strings) or a JSON object (strings or JSON values).

    Unknown names are an error; empty values mean the default.
    """
    unknown = sorted(set(params) - set(PARAMS))
    if unknown:
        raise arg_error(FN, unknown[0], f"is not a parameter; the parameters are {PARAMS}", params[unknown[0]])
    p: dict[str, Any] = {}
    for name, value in params.items():
        if isinstance(value, str):
            limit = _LIMIT.get(name, _DEFAULT_LIMIT)
            if len(value) > limit:
                raise arg_error(FN, name, f"must be at most {limit} characters", f"{len(value)} characters")
            if not value.strip():
                continue
        p[name] = value
    op = p.get("op", "conv")
    cfg = Config(
        op=op.strip() if isinstance(op, str) else op,
        input=_literal("input", p.get("input", "5,5")),
        kernel=_literal("kernel", p.get("kernel", "3")),
        stride=_literal("stride", p["stride"]) if "stride" in p else None,
        padding=_literal("padding", p.get("padding", 0)),
        dilation=_literal("dilation", p.get("dilation", 1)),
        ceil_mode=_bool("ceil_mode", p.get("ceil_mode", False)),
        output_padding=_literal("output_padding", p.get("output_padding", 0)),
        count_include_pad=_bool("count_include_pad", p.get("count_include_pad", True)),
    )
    if isinstance(cfg.input, tuple) and len(cfg.input) > 2:
        raise arg_error(FN, "input_size", "must have 1 or 2 entries (the explorer draws 1-d and 2-d inputs)", cfg.input)
    frame = _literal("frame", p.get("frame", 0))
    if not isinstance(frame, int) or isinstance(frame, bool) or frame < 0:
        raise arg_error(FN, "frame", "must be an int >= 0", p.get("frame"))
    return Request(cfg, _bool("numbers", p.get("numbers", False)), parse_matrix("x", p.get("x")), parse_matrix("w", p.get("w")),
                   frame)


def _text(v: Any, collapse: bool = True) -> str:
    """A value as the query writes it: ``3``, ``3,2`` (``3`` for ``(3, 3)`` unless it is the input), ``((1,0),(2,3))``."""
    if isinstance(v, tuple) and all(isinstance(i, int) for i in v):
        return str(v[0]) if collapse and len(set(v)) == 1 else ",".join(map(str, v))
    return repr(v).replace(" ", "") if isinstance(v, tuple) else str(v)


def _num(v: float) -> str:
    return str(int(v)) if math.isfinite(v) and v == int(v) else repr(float(v))


def format_matrix(m: Any) -> str:
    """Nested lists -> the query's ``"1,2;3,4"``.

    >>> format_matrix([[1.0, 2.5], [3, 4]]), format_matrix([1, 2])
    ('1,2.5;3,4', '1,2')
    """
    rows = m if m and isinstance(m[0], (list, tuple)) else [m]
    return ";".join(",".join(_num(v) for v in r) for r in rows)


def to_query(config: Config, numbers: bool = False, x: Any = None, w: Any = None) -> dict[str, str]:
    """The query parameters of a configuration, defaults left out (what the page's URL holds)."""
    q = {"op": config.op, "input": _text(config.input, collapse=False), "kernel": _text(config.kernel)}
    pool = config.op.endswith("pool")
    defaults = {"stride": None if pool else 1, "padding": 0, "dilation": 1, "output_padding": 0}
    for name, default in defaults.items():
        v = getattr(config, name)
        if v is not None and _text(v) != str(default):
            q[name] = _text(v)
    if config.ceil_mode:
        q["ceil_mode"] = "1"
    if not config.count_include_pad:
        q["count_include_pad"] = "0"
    if numbers:
        q["numbers"] = "1"
    if x is not None:
        q["x"] = format_matrix(x)
    if w is not None:
        q["w"] = format_matrix(w)
    return q
