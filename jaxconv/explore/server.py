"""The explorer's local web server: the page, its two static files, and four JSON endpoints.

Standard library only (:class:`http.server.ThreadingHTTPServer` on 127.0.0.1). Routes::

    GET  /                       the page (static/index.html)
    GET  /static/explore.js      its script      GET /static/explore.css   its style sheet
    GET  /api/presets            the presets (jaxconv.explore.presets)
    GET  /api/explain?<query>    output size and formulas (jaxconv.cli.explain; pure Python, no JAX)
    GET  /api/frames?<query>     the drawn grid and one frame per output position (jaxconv.frames.layout)
    GET  /api/numbers?<query>    input, kernel and output values computed by jaxconv (jaxconv.frames.numbers)
    POST /api/<name>             the same, the query as a JSON object

``<query>`` is the page's own query string (:mod:`jaxconv.explore.query`). A bad parameter is
HTTP 400 with ``{"error": "<the library's message>"}``; any other path is 404; nothing else on
disk is served, and no response carries a traceback.

>>> status, body = handle("GET", "/api/explain?op=max_pool&input=5,5&kernel=3&ceil_mode=1")
>>> status, body["output_size"], body["formulas"][0]
(200, [2, 2], 'dim 0: out = ceil((5 + 0 + 0 - 1*(3-1) - 1) / 3) + 1 = 2')
>>> status, body = handle("GET", "/api/explain?op=max_pool&kernel=3&padding=2")
>>> status, body["error"]
(400, "explore: `padding` must be <= kernel_size // 2 = (1, 1) in every dim (torch's rule), got 2")
>>> handle("GET", "/static/../server.py")[0]
404
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import threading
import traceback
import webbrowser
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

from jaxconv import frames
from jaxconv.explore import presets, query
from jaxconv.shapes import arg_error, canonicalize

__all__ = ["MAX_GRID", "ROUTES", "command", "handle", "main", "make_server"]

#: The picture draws grids of at most this many cells per dim.
MAX_GRID = 48
#: The files served, by path: (file in static/, content type).
ROUTES = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/static/explore.js": ("explore.js", "text/javascript; charset=utf-8"),
    "/static/explore.css": ("explore.css", "text/css; charset=utf-8"),
}
_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    # everything the page uses is served here: no CDN, nothing inline but the empty favicon
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:",
}


def command(cfg: frames.Config) -> str:
    """The ``jaxconv-shapes`` command line that prints the same formulas.

    >>> command(frames.Config("max_pool", (5, 5), 3, padding=((1, 0), (0, 1)), ceil_mode=True))
    'jaxconv-shapes pool -i 5 5 -k 3 3 -p 1,0 0,1 --ceil-mode'
    """
    ins, k, s, d = cfg.resolved(query.FN)
    parts = ["jaxconv-shapes", "pool" if cfg.op.endswith("pool") else cfg.op, "-i", *map(str, ins), "-k", *map(str, k)]
    if cfg.stride is not None:
        parts += ["-s", *map(str, s)]
    pad = cfg.padding
    tokens = [pad] if isinstance(pad, str) else [str(pad)] if isinstance(pad, int) else \
        [f"{p[0]},{p[1]}" if isinstance(p, tuple) else str(p) for p in pad]
    if tokens != ["0"]:
        parts += ["-p", *tokens]
    if set(d) != {1}:
        parts += ["-d", *map(str, d)]
    if cfg.ceil_mode:
        parts.append("--ceil-mode")
    if cfg.op == "transpose" and cfg.output_padding not in (0, (0,) * len(ins)):
        parts += ["--output-padding", *map(str, canonicalize(cfg.output_padding, len(ins), "output_padding", query.FN))]
    return " ".join(parts)


def _explain(cfg: frames.Config) -> dict[str, Any]:
    e = cfg.explain(query.FN)
    return {"op": cfg.op, "input_size": list(e.input_size), "output_size": list(e.output_size),
            "padding": [list(p) for p in e.padding], "header": e.header, "formulas": list(e.formulas), "text": str(e),
            "command": command(cfg)}


def _check_picture(cfg: frames.Config) -> None:
    grid = frames.grid_size(cfg, query.FN)
    if max(grid) > MAX_GRID:
        raise arg_error(query.FN, "input_size", f"draws a grid of {grid} cells; the picture's limit is {MAX_GRID} per dim",
                        cfg.explain(query.FN).input_size)


def api_explain(req: query.Request) -> dict[str, Any]:
    """``/api/explain``: :func:`jaxconv.cli.explain`'s output size, padding, header and formulas."""
    return _explain(req.config)


def api_frames(req: query.Request) -> dict[str, Any]:
    """``/api/frames``: the grid's size and cell kinds, and every frame's taps, inputs, divisor and ceil-mode flag."""
    _check_picture(req.config)
    lay = frames.layout(req.config, query.FN)
    return {
        "explain": _explain(req.config), "size": list(lay.size), "lo": list(lay.lo), "step": list(lay.step),
        "output": list(lay.output), "kinds": list(lay.kinds()), "frame_count": len(lay.frames),
        "frames": [{"output": list(f.output), "taps": [[*g, t] for g, t in f.taps], "inputs": sorted(map(list, f.inputs)),
                    "divisor": f.divisor, "extra": f.extra} for f in lay.frames],
    }


def _finite(v: Any) -> Any:
    """JSON has no nan/inf: they become strings; other floats are rounded to float32's precision."""
    if isinstance(v, list):
        return [_finite(i) for i in v]
    if isinstance(v, float):
        return float(f"{v:.7g}") if math.isfinite(v) else str(v)
    return v


def api_numbers(req: query.Request) -> dict[str, Any]:
    """``/api/numbers``: the values (``x``, ``w`` or the defaults) and the output computed by jaxconv."""
    _check_picture(req.config)
    nb = frames.numbers(req.config, req.x, req.w, query.FN)
    return {"input": _finite(nb.input), "kernel": _finite(nb.kernel), "output": _finite(nb.output),
            "grid": _finite(nb.grid), "terms": list(nb.terms)}


def api_presets(req: query.Request) -> dict[str, Any]:
    """``/api/presets``: every preset's id, group, title and query, in the page's order."""
    return {"groups": list(presets.GROUPS),
            "presets": [{"id": p.id, "group": p.group, "title": p.title, "query": p.query()} for p in presets.PRESETS.values()]}


API: dict[str, Callable[[query.Request], dict[str, Any]]] = {
    "/api/explain": api_explain, "/api/frames": api_frames, "/api/numbers": api_numbers, "/api/presets": api_presets,
}


def _params(raw_query: str) -> dict[str, str]:
    try:
        fields = parse_qs(raw_query, keep_blank_values=True, max_num_fields=len(query.PARAMS) + 1)
    except ValueError:
        raise arg_error(query.FN, "query", f"must have at most {len(query.PARAMS)} parameters", "more") from None
    twice = [k for k, v in fields.items() if len(v) > 1]
    if twice:
        raise arg_error(query.FN, twice[0], "must be given once", fields[twice[0]])
    return {k: v[0] for k, v in fields.items()}


def handle(method: str, target: str, body: bytes | None = None) -> tuple[int, Any]:
    """Answer one request: ``(status, JSON object)`` for the API and errors, ``(200, (bytes, type))`` for files."""
    url = urlsplit(target)
    if url.path in ROUTES and method != "GET":
        return 405, {"error": f"explore: {url.path} takes GET, not {method}"}
    if url.path in ROUTES:
        name, ctype = ROUTES[url.path]
        return 200, ((resources.files("jaxconv.explore") / "static" / name).read_bytes(), ctype)
    fn = API.get(url.path)
    if fn is None:
        return 404, {"error": f"explore: no such page or endpoint: {url.path}"}
    if method not in ("GET", "POST"):
        return 405, {"error": f"explore: {url.path} takes GET or POST, not {method}"}
    try:
        if method == "POST":
            params = json.loads(body or b"{}")
            if not isinstance(params, dict):
                raise arg_error(query.FN, "body", "must be a JSON object of parameters", type(params).__name__, exc=TypeError)
        else:
            params = _params(url.query)
        return 200, fn(query.parse(params))
    except json.JSONDecodeError as e:
        return 400, {"error": f"explore: the body is not JSON: {e}"}
    except (ValueError, TypeError) as e:
        return 400, {"error": str(e)}
    except Exception as e:
        traceback.print_exc(file=sys.stderr)  # the server's console; the response names the error only
        return 500, {"error": f"explore: internal error ({type(e).__name__}): {e}"}


class _Handler(BaseHTTPRequestHandler):
    server_version = "jaxconv-explore"
    protocol_version = "HTTP/1.1"
    max_body = 64 * 1024

    def _send(self, status: int, payload: Any) -> None:
        if isinstance(payload, tuple):
            data, ctype = payload
            cache = "no-cache"
        else:
            data, ctype, cache = json.dumps(payload, allow_nan=False).encode(), "application/json", "no-store"
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", cache)
        for k, v in _HEADERS.items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _answer(self) -> None:
        host = self.headers.get("Host", "")
        port = cast(tuple, self.server.server_address)[1]
        if host not in (f"127.0.0.1:{port}", f"localhost:{port}"):  # a page of another origin rebinding its name here
            self._send(403, {"error": f"explore: serves 127.0.0.1:{port} only, not Host {host!r}"})
            return
        body = None
        if self.command == "POST":
            try:
                size = int(self.headers.get("Content-Length", "0"))
            except ValueError:
                size = -1
            if not 0 <= size <= self.max_body:
                self._send(400, {"error": f"explore: the body must be 0 to {self.max_body} bytes with a Content-Length"})
                return
            body = self.rfile.read(size)
        self._send(*handle(self.command, self.path, body))

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _answer

    def do_HEAD(self) -> None:
        self.command = "GET"
        status, payload = handle("GET", self.path)
        self.command = "HEAD"
        self._send(status, payload)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        # http.server's own errors (a malformed request line, a huge header) as JSON too
        self.close_connection = True
        try:
            self._send(code, {"error": f"explore: {message or 'bad request'}"})
        except OSError:
            pass

    def log_message(self, format: str, *args: Any) -> None:
        if getattr(self.server, "verbose", False):
            super().log_message(format, *args)


def make_server(port: int = 0, verbose: bool = False) -> ThreadingHTTPServer:
    """The server on 127.0.0.1 (``port=0``: a free port; ``server.server_address[1]`` says which), not yet serving.

    >>> s = make_server(); s.server_address[0]
    '127.0.0.1'
    >>> s.server_close()
    """
    server = ThreadingHTTPServer(("127.0.0.1", port), _Handler)
    server.verbose = verbose  # type: ignore[attr-defined]
    return server


def main(argv: list[str] | None = None) -> int:
    """``jaxconv-explore`` / ``python -m jaxconv.explore``: serve the explorer until Ctrl-C; returns the exit status."""
    p = argparse.ArgumentParser(prog="jaxconv-explore",
                                description="The conv-arithmetic explorer in the browser: output sizes, formulas, "
                                            "windows and values, all computed by jaxconv. Serves on 127.0.0.1 only.")
    p.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one, printed)")
    p.add_argument("--no-browser", action="store_true", help="do not open the default browser")
    p.add_argument("--verbose", action="store_true", help="log every request to stderr")
    args = p.parse_args(argv)
    try:
        server = make_server(args.port, args.verbose)
    except OSError as e:
        print(f"jaxconv-explore: cannot listen on 127.0.0.1:{args.port}: {e.strerror or e}", file=sys.stderr)
        return 2
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    print(f"jaxconv-explore: serving {url}  (Ctrl-C stops)", flush=True)
    if not args.no_browser:
        threading.Thread(target=webbrowser.open, args=(url,), daemon=True).start()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("jaxconv-explore: stopped", flush=True)
    finally:
        server.server_close()
    return 0
