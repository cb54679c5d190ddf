"""The conv-arithmetic explorer (jaxconv.explore) and its frame geometry (jaxconv.frames).

- Frames vs a brute-force enumeration written here from the textbook definitions (oracle:
  Python loops over output positions and kernel taps; they share no code with the package):
  conv, transposed conv, max and average pools, 1-d and 2-d, the padding vocabulary, the
  ceil-mode windows and torch's avg-pool divisors; the divisors also vs torch's ``F.avg_pool*d``.
- Numbers mode: each frame's written-out sum/max/mean evaluates to jaxconv's output (oracle:
  Python arithmetic), the presets reproduce the seed notes' printed numbers (oracle: the notes,
  as copied into experiments/seeds.py).
- The server over HTTP (started on a free port in a thread): JSON in and out, HTTP 400 with the
  library's own message for bad parameters (oracle: the message jaxconv.shapes raises for the same
  arguments), 404 for anything but the page and its endpoints, no path traversal, the CLI entry point.
"""

from __future__ import annotations

import contextlib
import http.client
import importlib.util
import itertools
import json
import math
import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from jaxconv import cli, frames, shapes
from jaxconv.explore import presets, query, server
from jaxconv.frames import Config

ROOT = Path(__file__).resolve().parents[1]


def _script(name: str):
    """Import experiments/<name>.py as a module (it is not in the package)."""
    spec = importlib.util.spec_from_file_location(f"{name}_for_explore", ROOT / "experiments" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


# ------------------------------------------------------------------ the oracle: loops over the textbook definitions


def _pads(padding, ins, k, s, d):
    """Per-dim (lo, hi), written out from README's padding table."""
    n = len(ins)
    keff = [d[j] * (k[j] - 1) + 1 for j in range(n)]
    if isinstance(padding, str):
        if padding == "valid":
            return [(0, 0)] * n
        if padding == "full":
            return [(e - 1, e - 1) for e in keff]
        if padding == "causal":
            return [(e - 1, 0) for e in keff]
        out = []
        for j in range(n):  # TensorFlow SAME: out = ceil(in / s), odd pixel at the end (same_lower: at the start)
            total = max(0, (math.ceil(ins[j] / s[j]) - 1) * s[j] + keff[j] - ins[j])
            lo, hi = total // 2, total - total // 2
            out.append((hi, lo) if padding == "same_lower" else (lo, hi))
        return out
    if isinstance(padding, int):
        return [(padding, padding)] * n
    return [(p, p) if isinstance(p, int) else tuple(p) for p in padding]


def _tap(u, k):
    """1-based row-major tap number of kernel offset u."""
    t = 0
    for uj, kj in zip(u, k):
        t = t * kj + uj
    return t + 1


def brute(op, ins, k, s=None, padding=0, d=None, ceil_mode=False, output_padding=0, count_include_pad=True):
    """(output size, grid size, lo, {output: (taps, inputs, divisor, extra)}, kinds) by enumeration."""
    n = len(ins)
    k = tuple(k)
    s = tuple(s) if s is not None else (k if op.endswith("pool") else (1,) * n)
    d = tuple(d) if d is not None else (1,) * n
    frames_ = {}
    if op == "transpose":
        p = _pads(padding, ins, k, s, d)
        opad = (output_padding,) * n if isinstance(output_padding, int) else output_padding
        out = tuple((ins[j] - 1) * s[j] - p[j][0] - p[j][1] + d[j] * (k[j] - 1) + opad[j] + 1 for j in range(n))
        lo = tuple(d[j] * (k[j] - 1) - p[j][0] for j in range(n))
        grid = tuple(out[j] + d[j] * (k[j] - 1) for j in range(n))
        reads = {o: set() for o in itertools.product(*map(range, out))}
        for a in itertools.product(*map(range, ins)):  # the scatter: input a reaches output a*s - lo + t*d through tap t
            for t in itertools.product(*map(range, k)):
                o = tuple(a[j] * s[j] - p[j][0] + t[j] * d[j] for j in range(n))
                if o in reads:
                    reads[o].add(a)
        for o in reads:  # drawn as a stride-1 correlation with the flipped kernel over the dilated input
            taps = {tuple(o[j] + u[j] * d[j] for j in range(n)): _tap(tuple(k[j] - 1 - u[j] for j in range(n)), k)
                    for u in itertools.product(*map(range, k))}
            frames_[o] = (taps, reads[o], None, False)

        def kind_transposed(g):
            ks = set()
            for j in range(n):
                x = g[j] - lo[j]
                ks.add("input" if x % s[j] == 0 and 0 <= x // s[j] < ins[j] else "hole" if 0 <= x <= (ins[j] - 1) * s[j] else "pad")
            return "pad" if "pad" in ks else "hole" if "hole" in ks else "input"

        kind = kind_transposed
    else:
        p = _pads(padding, ins, k, s, d)
        keff = [d[j] * (k[j] - 1) + 1 for j in range(n)]
        pool = op.endswith("pool")

        def count(j, ceil):
            span = ins[j] + p[j][0] + p[j][1] - keff[j]
            o = (span + (s[j] - 1 if ceil else 0)) // s[j] + 1
            if ceil and (o - 1) * s[j] >= ins[j] + p[j][0]:  # torch: the last window starts inside the input or left padding
                o -= 1
            return max(o, 0)

        out = tuple(count(j, ceil_mode) for j in range(n))
        floor = tuple(count(j, False) for j in range(n))
        lo = tuple(pj[0] for pj in p)
        grid = tuple(max(ins[j] + p[j][0] + p[j][1], (out[j] - 1) * s[j] + keff[j]) for j in range(n))
        for o in itertools.product(*map(range, out)):
            taps = {tuple(o[j] * s[j] + u[j] * d[j] for j in range(n)): _tap(u, k) for u in itertools.product(*map(range, k))}
            inputs = {tuple(g[j] - lo[j] for j in range(n)) for g in taps}
            inputs = {a for a in inputs if all(0 <= a[j] < ins[j] for j in range(n))}
            divisor = None
            if op == "avg_pool":  # torch's avg_pool2d kernel: hend = min(hstart + k, in + pad), then clip to the input
                divisor = 1
                for j in range(n):
                    start = o[j] * s[j] - p[j][0]
                    end = min(start + k[j], ins[j] + p[j][1])
                    size = end - start
                    real = min(end, ins[j]) - max(start, 0)
                    divisor *= size if count_include_pad else real
            frames_[o] = (taps, inputs, divisor, pool and any(o[j] >= floor[j] for j in range(n)))

        def kind_window(g):
            ks = set()
            for j in range(n):
                x = g[j] - lo[j]
                ks.add("input" if 0 <= x < ins[j] else "overhang" if pool and x >= ins[j] + p[j][1] else "pad")
            return "overhang" if "overhang" in ks else "pad" if "pad" in ks else "input"

        kind = kind_window
    kinds = tuple(kind(g) for g in itertools.product(*map(range, grid)))
    return out, grid, lo, frames_, kinds


CASES = [
    # (op, input, kernel, stride, padding, dilation, ceil_mode, output_padding, count_include_pad)
    ("conv", (5, 5), (3, 3), (2, 2), 1, None, False, 0, True),
    ("conv", (7, 8), (3, 3), (2, 2), "same", None, False, 0, True),        # a strided 'same' conv (seed 004)
    ("conv", (6, 7), (4, 2), (2, 1), "same_lower", (1, 2), False, 0, True),
    ("conv", (6, 7), (3, 2), (2, 1), ((1, 0), (2, 3)), (1, 2), False, 0, True),
    ("conv", (9,), (3,), (3,), "causal", (2,), False, 0, True),
    ("conv", (5,), (2,), (1,), "full", None, False, 0, True),
    ("transpose", (3, 3), (3, 3), (2, 2), 1, None, False, (1, 1), True),
    ("transpose", (2, 3), (3, 2), (2, 3), ((0, 1), (1, 0)), None, False, 0, True),
    ("transpose", (3,), (2,), (1,), 0, (2,), False, 0, True),
    ("transpose", (4,), (3,), (3,), 4, (1,), False, 2, True),                # padding past d*(k-1): the grid starts inside
    ("max_pool", (5, 5), (3, 3), None, 0, None, True, 0, True),             # seed 002: MaxPool2d(3, ceil_mode=True)
    ("max_pool", (6, 6), (3, 3), (2, 2), 1, (2, 2), True, 0, True),
    ("max_pool", (5,), (2,), (2,), 1, None, True, 0, True),                 # the window that would start in the right padding
    ("max_pool", (4, 7), (2, 3), (2, 2), ((0, 1), (1, 1)), None, True, 0, True),
    ("avg_pool", (6, 6), (3, 3), (2, 2), 0, None, True, 0, True),           # the overhanging last window, divisor 2
    ("avg_pool", (5, 5), (3, 3), (2, 2), 1, None, True, 0, False),
    ("avg_pool", (7,), (3,), (2,), 1, None, True, 0, True),
    ("avg_pool", (5, 6), (2, 3), (3, 2), ((1, 0), (0, 2)), None, False, 0, False),
]


def _config(case) -> Config:
    op, ins, k, s, p, d, ceil, opad, cip = case
    return Config(op, ins, k, s, p, 1 if d is None else d, ceil, opad, cip)


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[0]}-{c[1]}-{c[4]}")
def test_frames_match_brute_force(case):
    """Grid, cell kinds and every frame's taps, inputs, divisor and ceil-mode flag (oracle: loop enumeration)."""
    op, ins, k, s, p, d, ceil, opad, cip = case
    lay = frames.layout(_config(case))
    out, grid, lo, want, kinds = brute(op, ins, k, s, p, d, ceil, opad, cip)
    assert lay.output == out and lay.size == grid and lay.lo == lo
    assert lay.kinds() == kinds
    assert [f.output for f in lay.frames] == list(itertools.product(*map(range, out)))  # one frame per output position
    for f in lay.frames:
        taps, inputs, divisor, extra = want[f.output]
        assert dict(f.taps) == taps, f.output
        assert f.window == frozenset(taps), f.output
        assert f.inputs == frozenset(inputs), f.output
        assert (f.divisor, f.extra) == (divisor, extra), f.output


def test_ceil_mode_frames_are_marked():
    """MaxPool2d(3, ceil_mode=True) on 5x5: 4 windows, 3 of them extra, reaching into the overhang (oracle: seed 002's 2x2)."""
    lay = frames.layout(Config("max_pool", (5, 5), 3, ceil_mode=True))
    assert [f.extra for f in lay.frames] == [False, True, True, True]
    assert lay.kind((0, 5)) == "overhang" and lay.kind((5, 5)) == "overhang" and lay.kind((4, 4)) == "input"


@pytest.mark.parametrize("case", [c for c in CASES if c[0] == "avg_pool" and isinstance(c[4], int)], ids=str)
def test_divisors_match_torch(case):
    """Every window's divisor = torch's: sum pool of ones / avg pool of ones (oracle: torch CPU ``F.avg_pool2d``)."""
    torch = pytest.importorskip("torch", reason="torch is the oracle for avg-pool divisors (the loop oracle runs without it)")
    _, ins, k, s, p, _, ceil, _, cip = case
    lay = frames.layout(_config(case))
    one = len(ins) == 1  # as 2-d with a leading dim of 1 (avg_pool1d has no divisor_override)
    ins2, k2, s2, p2 = ((1, *ins), (1, *k), (1, *s), (0, p)) if one else (ins, k, s, p)
    ones = torch.ones(1, 1, *ins2, dtype=torch.float64)
    avg = torch.nn.functional.avg_pool2d(ones, k2, s2, p2, ceil, cip)[0, 0].numpy()
    total = torch.nn.functional.avg_pool2d(ones, k2, s2, p2, ceil, cip, divisor_override=1)[0, 0].numpy()
    got = np.array([f.divisor for f in lay.frames], dtype=np.float64).reshape(avg.shape)
    assert avg.shape[-len(ins):] == lay.output
    np.testing.assert_allclose(total / avg, got)


def test_gif_script_uses_the_package_geometry():
    """experiments/conv_arithmetic.py draws frames.layout's frames (oracle: the package's own objects)."""
    mod = _script("conv_arithmetic")
    assert mod.frames is frames
    c = mod.classic()[6]
    assert mod.layout(c) is frames.layout(c.to_frames(), fn="conv_arithmetic")
    assert [x.to_frames() for x in mod.classic()] == frames.classic()


# ------------------------------------------------------------------ numbers mode and presets


def _evaluate(term: str) -> tuple[float, float]:
    """'1·2 + 3·4 = 14' -> (14.0, 14.0): the written-out left side evaluated, and the stated result."""
    lhs, rhs = term.rsplit(" = ", 1)
    lhs = lhs.replace("·", "*").replace(" (only zeros read)", "")
    return float(eval(lhs, {"max": lambda *v: max(v)})), float(rhs)  # the page's own text, nothing else


@pytest.mark.parametrize("case", CASES[::2], ids=lambda c: f"{c[0]}-{c[1]}-{c[4]}")
def test_numbers_terms_add_up(case):
    """Each frame's written-out sum, max or mean of the values it reads is jaxconv's output there (oracle: arithmetic)."""
    cfg = _config(case)
    rng = np.random.default_rng(0)
    x = rng.integers(-3, 6, size=cfg.input).astype(float)
    w = rng.integers(-2, 4, size=cfg.kernel).astype(float) if not cfg.op.endswith("pool") else None
    nb = frames.numbers(cfg, x, w)
    out = np.asarray(nb.output)
    for f, term in zip(frames.layout(cfg).frames, nb.terms):
        lhs, rhs = _evaluate(term)
        assert lhs == pytest.approx(rhs, abs=6e-4) and rhs == pytest.approx(out[f.output], abs=6e-4), term


def test_numbers_of_a_max_pool_read_minus_infinity_in_the_padding():
    """Max pools pad with -inf, average pools and convs with 0; the overhang reads nothing (oracle: torch's rules)."""
    nb = frames.numbers(Config("max_pool", (3,), 2, 2, 1, ceil_mode=True), [1.0, -2.0, -3.0])
    assert nb.grid[0] == -math.inf and nb.grid[1:4] == [1.0, -2.0, -3.0]
    assert nb.terms == ("max(1) = 1", "max(-2, -3) = -2")


def test_presets_copy_the_seed_scripts_numbers():
    """The presets' inputs, kernels and 8x8 shape table are experiments/seeds.py's (oracle: that script's copies of the notes)."""
    seeds = _script("seeds")
    assert presets.T1 == seeds.T1 and presets.KERNEL == seeds.KERNEL
    d2l = [p for p in presets.PRESETS.values() if p.group == presets.D2L]
    assert [(p.config.kernel, p.config.padding, p.config.stride, p.expected_size) for p in d2l] == \
        [(k, p, s, e) for _, k, p, s, e in seeds.SHAPE_CASES]
    classic = [p.config for p in presets.PRESETS.values() if p.group == presets.CLASSIC]
    assert classic == frames.classic() and len(classic) == 15


@pytest.mark.parametrize("preset", list(presets.PRESETS.values()), ids=lambda p: p.id)
def test_presets_reproduce_the_notes(preset):
    """Every preset's output size, and for the worked examples every value, is what the note printed (oracle: the notes)."""
    parsed = query.parse(preset.query())
    assert parsed.numbers == preset.numbers and parsed.config.resolved() == preset.config.resolved()
    assert parsed.config.explain() == preset.config.explain()
    assert parsed.config.explain().output_size == preset.expected_size
    if preset.expected_values is not None:
        nb = frames.numbers(parsed.config, parsed.x, parsed.w)
        np.testing.assert_allclose(nb.output, preset.expected_values)


# ------------------------------------------------------------------ the query


@pytest.mark.parametrize("cfg", [_config(c) for c in CASES] + [Config("conv", (5, 5), 3, padding="same")], ids=str)
def test_query_round_trips(cfg):
    """to_query then parse gives the configuration back (oracle: the configuration itself)."""
    assert query.parse(query.to_query(cfg)).config.explain() == cfg.explain()


# ------------------------------------------------------------------ the server over HTTP


@pytest.fixture(scope="module")
def url():
    srv = server.make_server()
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


def request(url, method, path, body=None, headers=None):
    conn = http.client.HTTPConnection(url, timeout=60)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        return r.status, r.getheader("Content-Type"), r.read()
    finally:
        conn.close()


def get_json(url, path):
    status, ctype, data = request(url, "GET", path)
    assert ctype == "application/json"
    return status, json.loads(data)


def test_page_and_static_files(url):
    """/ and the two static files, with their types; the page loads nothing from elsewhere (oracle: the files)."""
    for path, ctype, name in [("/", "text/html", "index.html"), ("/static/explore.js", "text/javascript", "explore.js"),
                              ("/static/explore.css", "text/css", "explore.css")]:
        status, got_type, data = request(url, "GET", path)
        assert status == 200 and got_type is not None and got_type.startswith(ctype)
        assert data == (ROOT / "jaxconv" / "explore" / "static" / name).read_bytes()
        text = data.decode()
        assert not re.search(r"""(src|href)=["']?(https?:)?//""", text), name  # no CDN
        assert not re.search(r"""@import|url\(["']?https?:""", text), name
    page = request(url, "GET", "/")[2].decode()
    assert '<script src="/static/explore.js" defer></script>' in page and 'href="/static/explore.css"' in page
    js = request(url, "GET", "/static/explore.js")[2].decode()
    assert set(re.findall(r"getJSON\(`(/api/\w+)", js)) == {"/api/explain", "/api/frames", "/api/numbers"}
    assert "/api/presets" in js
    status, _, body = request(url, "HEAD", "/")
    assert status == 200 and body == b""


EXPLAIN = [
    "op=conv&input=8,8&kernel=3&stride=2&padding=1",
    "op=max_pool&input=5,5&kernel=3&ceil_mode=1",
    "op=max_pool&input=5&kernel=2&stride=2&padding=1&ceil_mode=true",
    "op=conv&input=7,8&kernel=3&stride=2&padding=same",
    "op=conv&input=6,7&kernel=3,2&padding=((1,0),(2,3))&dilation=1,2",
    "op=transpose&input=4&kernel=3&stride=2&padding=1&output_padding=1",
    "op=transpose&input=4,3&kernel=4&stride=2&padding=same",
    "op=avg_pool&input=6,6&kernel=3&stride=2&ceil_mode=1&count_include_pad=0",
]


@pytest.mark.parametrize("qs", EXPLAIN)
def test_explain_is_the_cli_formatter(url, qs, capsys):
    """/api/explain = jaxconv.cli.explain, and its command line prints the same text (oracle: the CLI)."""
    status, body = get_json(url, f"/api/explain?{qs}")
    assert status == 200, body
    cfg = query.parse(dict(p.split("=", 1) for p in qs.split("&"))).config
    op = "pool" if cfg.op.endswith("pool") else cfg.op
    e = cli.explain(op, cfg.input, cfg.kernel, cfg.stride, cfg.padding, cfg.dilation, ceil_mode=cfg.ceil_mode,
                    output_padding=cfg.output_padding, fn="explore")
    assert body["output_size"] == list(e.output_size) and body["formulas"] == list(e.formulas)
    assert body["header"] == e.header and body["text"] == str(e) and body["padding"] == [list(p) for p in e.padding]
    argv = body["command"].split()
    assert argv[0] == "jaxconv-shapes" and cli.main(argv[1:]) == 0
    assert capsys.readouterr().out.strip().split("\n")[1:] == list(e.formulas)
    # POST with a JSON object (JSON values or the query's strings) answers the same
    params = dict(p.split("=", 1) for p in qs.split("&"))
    for payload in (params, {**params, "input": list(e.input_size), "ceil_mode": cfg.ceil_mode}):
        status, ctype, data = request(url, "POST", "/api/explain", json.dumps(payload).encode(), {"Content-Type": "application/json"})
        assert status == 200 and ctype == "application/json" and json.loads(data) == body


@pytest.mark.parametrize("qs", EXPLAIN)
def test_frames_endpoint(url, qs):
    """/api/frames: one frame per output position, a kind per grid cell, the layout's frames (oracle: frames.layout)."""
    status, body = get_json(url, f"/api/frames?{qs}")
    assert status == 200, body
    lay = frames.layout(query.parse(dict(p.split("=", 1) for p in qs.split("&"))).config, "explore")
    assert body["frame_count"] == len(body["frames"]) == math.prod(body["output"]) == math.prod(body["explain"]["output_size"])
    assert len(body["kinds"]) == math.prod(body["size"]) and body["size"] == list(lay.size)
    for f, fr in zip(body["frames"], lay.frames):
        assert f["output"] == list(fr.output) and f["divisor"] == fr.divisor and f["extra"] == fr.extra
        assert f["taps"] == [[*g, t] for g, t in fr.taps] and sorted(map(tuple, f["inputs"])) == sorted(fr.inputs)


def test_numbers_endpoint(url):
    """/api/numbers: seed 002's stride-2 padding-1 conv, values by jaxconv (oracle: the note's printed output)."""
    p = presets.PRESETS["seed002-stride2-pad1"]
    status, body = get_json(url, "/api/numbers?" + "&".join(f"{k}={v}" for k, v in p.query().items()))
    assert status == 200, body
    assert body["output"] == [[1, 4, 8], [7, 16, 8], [14, 9, 4]] and body["kernel"] == presets.KERNEL and body["input"] == presets.T1
    assert body["terms"][4] == "1·1 + 2·2 + 3·1 + 2·0 + 1·1 + 0·0 + 2·2 + 3·1 + 1·0 = 16"
    assert len(body["grid"]) == 7 and body["grid"][0] == [0] * 7
    status, body = get_json(url, "/api/numbers?op=max_pool&input=3&kernel=2&stride=2&padding=1&ceil_mode=1")
    assert body["grid"][0] == "-inf"  # JSON has no infinities
    status, body = get_json(url, "/api/numbers?op=avg_pool&input=2&kernel=2&stride=1&padding=((2,2),)&count_include_pad=0")
    assert status == 200 and body["output"][0] == 0 and body["terms"][0] == "(no input cells read) = 0"  # torch skips such windows


def _library_error(fn):
    with pytest.raises((ValueError, TypeError)) as e:
        fn()
    return str(e.value)


BAD = [
    # (query, the library call that raises the same message)
    ("op=max_pool&input=5,5&kernel=3&padding=2", lambda: shapes.pool_output_shape((5, 5), 3, None, 2, fn="explore")),
    ("op=avg_pool&input=5,5&kernel=2&padding=2", lambda: shapes.pool_output_shape((5, 5), 2, None, 2, fn="explore")),
    ("op=conv&input=5,5&kernel=3&padding=sam", lambda: shapes.resolve_padding("sam", (5, 5), 3, fn="explore")),
    ("op=conv&input=5,5&kernel=3&padding=(1,2,3)", lambda: shapes.resolve_padding((1, 2, 3), (5, 5), 3, fn="explore")),
    ("op=conv&input=5,5&kernel=3&padding=-1", lambda: shapes.resolve_padding(-1, (5, 5), 3, fn="explore")),
    ("op=conv&input=5,5&kernel=7", lambda: shapes.conv_output_shape((5, 5), 7, fn="explore")),
    ("op=conv&input=5,5&kernel=2.5", lambda: shapes.canonicalize(2.5, 2, "kernel_size", "explore")),  # type: ignore[arg-type]
    ("op=conv&input=5,5&kernel=3&stride=0", lambda: shapes.canonicalize(0, 2, "stride", "explore", min_value=1)),
    ("op=conv&input=0,5&kernel=3", lambda: shapes.canonicalize((0, 5), 2, "input_size", "explore", min_value=1)),
    ("op=transpose&input=4&kernel=3&stride=2&output_padding=2",
     lambda: shapes.conv_transpose_padding((4,), 3, 2, 0, 2, fn="explore")),
    ("op=conv&input=5&kernel=3&ceil_mode=1", lambda: cli.explain("conv", 5, 3, ceil_mode=True, fn="explore")),
    ("op=conv&input=5&kernel=3&output_padding=1", lambda: cli.explain("conv", 5, 3, output_padding=1, fn="explore")),
    ("op=pool&input=5&kernel=3", lambda: Config("pool", 5, 3).explain("explore")),
    ("op=max_pool&input=5&kernel=3&count_include_pad=0", lambda: Config("max_pool", 5, 3, count_include_pad=False).explain("explore")),
    ("op=avg_pool&input=5&kernel=3&dilation=2", lambda: Config("avg_pool", 5, 3, dilation=2).explain("explore")),
    ("op=conv&input=5,5,5&kernel=3", lambda: query.parse({"input": "5,5,5"})),
    ("op=conv&input=5&kernel=3&ceil_mode=maybe", lambda: query.parse({"ceil_mode": "maybe"})),
    ("op=conv&input=5&kernel=3&colour=red", lambda: query.parse({"colour": "red"})),
    ("op=conv&input=5&kernel=3&kernel=2", "explore: `kernel` must be given once, got ['3', '2']"),
    ("op=conv&input=2,2&kernel=2&numbers=1&x=1,2,3", lambda: frames.numbers(Config("conv", (2, 2), 2), [1, 2, 3], fn="explore")),
    ("op=conv&input=2&kernel=2&numbers=1&x=1,a", lambda: query.parse({"x": "1,a"})),
    ("op=max_pool&input=2&kernel=2&numbers=1&w=1,2", lambda: frames.numbers(Config("max_pool", 2, 2), None, [1.0, 2.0], fn="explore")),
    ("op=conv&input=60,5&kernel=3&padding=1",
     f"explore: `input_size` draws a grid of (62, 7) cells; the picture's limit is {server.MAX_GRID} per dim, got (60, 5)"),
    ("op=conv&input=" + "9" * 300 + "&kernel=3", lambda: query.parse({"input": "9" * 300})),
]


@pytest.mark.parametrize(("qs", "library"), BAD, ids=[b[0][:60] for b in BAD])
def test_bad_parameters_are_400_with_the_librarys_message(url, qs, library):
    """HTTP 400, JSON, the message the library raises for the same arguments, no traceback (oracle: the library)."""
    endpoint = "numbers" if "numbers=1" in qs else "frames"
    status, body = get_json(url, f"/api/{endpoint}?{qs}")
    assert status == 400 and set(body) == {"error"}, body
    message = body["error"]
    assert message.startswith("explore: `") and "Traceback" not in message and "File " not in message
    assert message == (library if isinstance(library, str) else _library_error(library))


def test_explain_answers_bad_parameters_too(url):
    """/api/explain (the pure-Python endpoint) gives the same 400 as the others (oracle: shapes' message)."""
    status, body = get_json(url, "/api/explain?op=max_pool&input=5,5&kernel=3&padding=2")
    assert status == 400 and body["error"] == _library_error(lambda: shapes.pool_output_shape((5, 5), 3, None, 2, fn="explore"))
    assert get_json(url, "/api/explain?op=conv&input=60,5&kernel=3&padding=1")[0] == 200  # no picture limit there


def test_bad_bodies_are_400(url):
    """POST bodies that are not a JSON object, or too big (oracle: the rule)."""
    for body, needle in [(b"{nope", "not JSON"), (b"[1, 2]", "must be a JSON object"), (b'{"op": "max_pool", "padding": 9}', "kernel_size // 2")]:
        status, ctype, data = request(url, "POST", "/api/explain", body, {"Content-Type": "application/json"})
        assert status == 400 and ctype == "application/json" and needle in json.loads(data)["error"], data
    status, _, data = request(url, "POST", "/api/explain", b"x" * (server._Handler.max_body + 1))
    assert status == 400 and "bytes" in json.loads(data)["error"]


@pytest.mark.parametrize("path", [
    "/nope", "/index.html", "/static/", "/static/index.html", "/static/../server.py", "/static/%2e%2e/server.py",
    "/static/explore.js/../../server.py", "/static/..%2fserver.py", "//etc/passwd", "/../../../etc/passwd",
    "/jaxconv/explore/server.py", "/api", "/api/", "/api/explain/x", "/api/../static/explore.js", "/static/explore.js%00",
    "/static/EXPLORE.JS", "/favicon.ico",
])
def test_nothing_else_is_served(url, path):
    """404 JSON for every path but the page, its two files and the endpoints: no traversal (oracle: the route table)."""
    status, ctype, data = request(url, "GET", path)
    assert status == 404 and ctype == "application/json", (path, data[:200])
    assert json.loads(data)["error"].startswith("explore: no such page")


def test_methods_hosts_and_internal_errors(url, monkeypatch):
    """PUT is 405; another Host is 403 (DNS rebinding); an unexpected exception is 500 without a traceback."""
    assert request(url, "PUT", "/api/explain")[0] == 405
    assert request(url, "DELETE", "/")[0] == 405
    status, _, data = request(url, "GET", "/api/explain", headers={"Host": "evil.example"})
    assert status == 403 and "127.0.0.1" in json.loads(data)["error"]
    monkeypatch.setitem(server.API, "/api/explain", lambda req: 1 / 0)
    with contextlib.redirect_stderr(open(os.devnull, "w")):
        status, body = server.handle("GET", "/api/explain?op=conv")
    assert status == 500 and body == {"error": "explore: internal error (ZeroDivisionError): division by zero"}


def test_presets_endpoint(url):
    """/api/presets lists every preset in its group with its query (oracle: jaxconv.explore.presets)."""
    status, body = get_json(url, "/api/presets")
    assert status == 200 and body["groups"] == list(presets.GROUPS)
    assert [p["id"] for p in body["presets"]] == list(presets.PRESETS)
    assert all(p["query"] == presets.PRESETS[p["id"]].query() for p in body["presets"])


# ------------------------------------------------------------------ the command line


def test_command_line_serves_and_stops_on_ctrl_c():
    """``python -m jaxconv.explore --no-browser``: prints its URL on a free port, answers, exits 0 on SIGINT (oracle: the rule)."""
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    proc = subprocess.Popen([sys.executable, "-m", "jaxconv.explore", "--no-browser"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=ROOT, env=env)
    watchdog = threading.Timer(120, proc.kill)
    watchdog.start()
    assert proc.stdout is not None and proc.stderr is not None
    try:
        line = proc.stdout.readline()
        m = re.match(r"jaxconv-explore: serving http://(127\.0\.0\.1:\d+)/", line)
        assert m, line + proc.stderr.read()
        status, body = get_json(m[1], "/api/explain?op=conv&input=8,8&kernel=3&stride=2&padding=1")
        assert status == 200 and body["output_size"] == [4, 4]
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        watchdog.cancel()
        proc.kill()
    assert proc.returncode == 0 and "stopped" in out and "Traceback" not in err, err


def test_busy_port_is_a_clean_error(url, capsys):
    """--port of a port in use: exit status 2 and a one-line message (oracle: the rule)."""
    assert server.main(["--port", url.split(":")[1], "--no-browser"]) == 2
    assert "cannot listen on 127.0.0.1:" in capsys.readouterr().err


def test_entry_points_and_static_files_are_packaged():
    """pyproject names ``jaxconv-explore``, the installed entry point runs :func:`jaxconv.explore.main`; the static
    files are package data (oracle: pyproject, the installed metadata, importlib.resources)."""
    import importlib.metadata
    import importlib.resources

    assert re.search(r'^jaxconv-explore = "jaxconv\.explore:main"$', (ROOT / "pyproject.toml").read_text(), re.M)
    (ep,) = importlib.metadata.entry_points(group="console_scripts", name="jaxconv-explore")
    assert ep.load() is server.main
    for name, _ in server.ROUTES.values():
        assert (importlib.resources.files("jaxconv.explore") / "static" / name).is_file()
