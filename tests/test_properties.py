"""Property-based parity campaign: every op over its whole parameter space vs torch CPU and the NumPy reference.

Each family has a generator that draws a *valid* configuration from the op's whole
parameter space (dims, sizes, kernels, strides, paddings in every accepted form,
dilations, modes, ceil mode, groups, batched and unbatched, ...). Hypothesis draws
examples as (configuration, seed, kind of values): configurations come from a pool of
``n_configs`` drawn once per family from that generator (every new configuration is a
new XLA compile, so the pool is what keeps the run inside its time budget), the seed
and kind (normal values, exact small integers full of ties, NaN/+-inf where the op is
a selection) from hypothesis. Each example checks, against torch CPU (float32) and
``tests/reference.py`` (float64 loops): output shape, values, max-pool indices, and the
gradient (a VJP with a random cotangent against torch's autograd).

Profiles (``tests/conftest.py``): the default ``ci`` profile is derandomized and runs
the counts in ``FAMILIES`` and the shapes test (about 1,400 examples: CI's budget); ``test_campaign_slow[...]``, marked
``slow`` (``pytest -m slow tests/test_properties.py``), or any test under
``JAXCONV_HYPOTHESIS_PROFILE=slow`` runs twenty times the examples over twenty times the
configurations. Any disagreement found is pinned as a regular test at the end of this
file.
"""

from __future__ import annotations

import functools
import math
import os
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jax
import numpy as np
import pytest
from hypothesis import given, note, settings
from hypothesis import strategies as st
from jax import lax

torch = pytest.importorskip("torch")  # torch is the oracle
import torch.nn.functional as F  # noqa: E402

import jaxconv  # noqa: E402
from jaxconv import shapes as jshapes  # noqa: E402
from tests import reference as ref  # noqa: E402

SLOW_FACTOR = 20
PROFILE = os.environ.get("JAXCONV_HYPOTHESIS_PROFILE", "ci")
COUNTS: dict[str, int] = {}

TORCH_MODE = {"zeros": "constant", "constant": "constant", "reflect": "reflect", "replicate": "replicate",
              "circular": "circular"}
REF_MODE = {"zeros": "constant", "constant": "constant", "reflect": "reflect", "replicate": "replicate",
            "circular": "circular"}


# ---------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------

def values(rng: np.random.Generator, shape: tuple[int, ...], kind: str) -> np.ndarray:
    """float32 test values: ``normal``; ``ties`` (integers in [-2, 2], exact in any sum);
    ``special`` (normal with NaN, +inf and -inf sprinkled in)."""
    if kind == "ties":
        return rng.integers(-2, 3, size=shape).astype(np.float32)
    x = rng.standard_normal(shape).astype(np.float32)
    if kind == "special" and x.size:
        u = rng.random(shape)
        x[u < 0.08] = np.nan
        x[(u >= 0.08) & (u < 0.14)] = np.inf
        x[(u >= 0.14) & (u < 0.2)] = -np.inf
    return x


def close(actual: Any, expected: Any, what: str, rtol: float = 2e-5, atol: float = 2e-5) -> None:
    a, e = np.asarray(actual), np.asarray(expected)
    assert a.shape == e.shape, f"{what}: shape {a.shape} != {e.shape}"
    np.testing.assert_allclose(a.astype(np.float64), e.astype(np.float64), rtol=rtol, atol=atol, equal_nan=True,
                               err_msg=what)


def same(actual: Any, expected: Any, what: str) -> None:
    a, e = np.asarray(actual), np.asarray(expected)
    assert a.shape == e.shape, f"{what}: shape {a.shape} != {e.shape}"
    np.testing.assert_array_equal(a, e, err_msg=what)


def tt(x: np.ndarray, grad: bool = True) -> torch.Tensor:
    return torch.tensor(x, requires_grad=grad and x.dtype.kind == "f")


def torch_grads(out: torch.Tensor, ct: np.ndarray, inputs: list[torch.Tensor | None]) -> list[np.ndarray | None]:
    out.backward(torch.tensor(ct))
    return [None if t is None else (np.zeros(t.shape, np.float32) if t.grad is None else t.grad.numpy()) for t in inputs]


_JIT: dict[Any, Callable[..., Any]] = {}


def value_and_vjp(key: Any, f: Callable[..., Any], primals: tuple, ct: Any, aux: tuple = ()) -> tuple[Any, tuple]:
    """``f(*primals, *aux)`` and its VJP with ``ct`` w.r.t. ``primals``, as ONE jitted program.

    The program is cached per configuration (``key``): one compile covers forward and
    backward (instead of one for the op, one for its JVP and one for the transpose).
    ``f`` must depend on the example only through its arguments (the first trace is
    reused); ``aux`` holds non-differentiated arrays such as indices.
    """
    fn = _JIT.get(key)
    if fn is None:
        def both(primals: tuple, ct: Any, aux: tuple) -> tuple[Any, tuple]:
            y, vjp = jax.vjp(lambda *p: f(*p, *aux), *primals)
            return y, vjp(ct)
        fn = _JIT[key] = jax.jit(both)
    return fn(primals, ct, aux)


def out_shape(f: Callable[..., Any], *args: Any) -> tuple[int, ...]:
    return tuple(jax.eval_shape(f, *args).shape)


def pad_flat(pairs: tuple[tuple[int, int], ...]) -> tuple[int, ...]:
    """Per-dim (lo, hi) pairs in array order -> torch F.pad's flat, last-dim-first tuple."""
    return tuple(v for lo, hi in reversed(pairs) for v in (lo, hi))


def same_pairs(spatial, keff, stride) -> list[tuple[int, int]]:
    """XLA's SAME padding from lax's own function (independent of jaxconv.shapes)."""
    return [tuple(p) for p in lax.padtype_to_pads(spatial, keff, stride, "SAME")]


# ---------------------------------------------------------------------------------------
# the campaign driver
# ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Family:
    name: str
    gen: Callable[[random.Random], dict]
    check: Callable[[int, dict, np.random.Generator, str], None]
    examples: int
    configs: int
    kinds: tuple[str, ...] = ("normal", "ties")


@functools.cache
def config_pool(name: str, n: int) -> tuple[dict, ...]:
    gen = FAMILY_BY_NAME[name].gen
    return tuple(gen(random.Random(f"{name}-{i}")) for i in range(n))


def run_family(fam: Family, slow: bool) -> int:
    factor = SLOW_FACTOR if slow or PROFILE == "slow" else 1
    pool = config_pool(fam.name, fam.configs * factor)
    count = 0

    @settings(max_examples=fam.examples * factor)
    @given(i=st.integers(0, len(pool) - 1), seed=st.integers(0, 2**32 - 1), kind=st.sampled_from(fam.kinds))
    def prop(i: int, seed: int, kind: str) -> None:
        nonlocal count
        note(f"{fam.name} config {i}: {pool[i]}")
        with np.errstate(all="ignore"):  # NaN/inf examples: the float64 reference computes inf - inf
            fam.check(i + (0 if factor == 1 else 10**6), pool[i], np.random.default_rng(seed), kind)
        count += 1

    prop()
    COUNTS[fam.name + ("/slow" if factor > 1 else "")] = count
    return count


# ---------------------------------------------------------------------------------------
# conv
# ---------------------------------------------------------------------------------------

CONV_FORMS = ("int", "per_dim", "pairs", "valid", "same", "same_lower", "full", "causal")


def conv_pairs(form, padding, spatial, k, s, d):
    keff = [dd * (kk - 1) + 1 for kk, dd in zip(k, d)]
    n = len(spatial)
    if form == "int":
        return ((padding, padding),) * n
    if form == "per_dim":
        return tuple((p, p) for p in padding)
    if form == "pairs":
        return tuple(tuple(p) for p in padding)
    if form == "valid":
        return ((0, 0),) * n
    if form in ("same", "same_lower"):
        pairs = same_pairs(spatial, keff, s)
        return tuple(pairs if form == "same" else [(hi, lo) for lo, hi in pairs])
    if form == "full":
        return tuple((e - 1, e - 1) for e in keff)
    return tuple((e - 1, 0) for e in keff)  # causal


def conv_gen(r: random.Random) -> dict:
    while True:
        n = r.choice([1, 2, 2, 3])
        g = r.choice([1, 1, 2, 3])
        cin, cout = g * r.randint(1, 2), g * r.randint(1, 2)
        sp = tuple(r.randint(1, {1: 10, 2: 7, 3: 4}[n]) for _ in range(n))
        k = tuple(r.randint(1, 3) for _ in range(n))
        s = tuple(r.randint(1, 3) for _ in range(n))
        d = tuple(r.randint(1, 2) for _ in range(n))
        form = r.choice(CONV_FORMS)
        padding = {"int": r.randint(0, 2), "per_dim": tuple(r.randint(0, 2) for _ in range(n)),
                   "pairs": tuple((r.randint(0, 2), r.randint(0, 2)) for _ in range(n))}.get(form, form)
        if isinstance(padding, str) and r.random() < 0.2:
            padding = padding.upper()
        mode = r.choice(["zeros", "zeros", "reflect", "replicate", "circular"])
        pairs = conv_pairs(form, padding, sp, k, s, d)
        if mode == "reflect" and any(max(p) >= z for p, z in zip(pairs, sp)):
            continue
        if mode == "circular" and any(max(p) > z for p, z in zip(pairs, sp)):
            continue
        if any(z + lo + hi < dd * (kk - 1) + 1 for z, (lo, hi), kk, dd in zip(sp, pairs, k, d)):
            continue
        batched = r.random() < 0.8
        return dict(n=n, g=g, cin=cin, cout=cout, sp=sp, k=k, s=s, d=d, form=form, padding=padding, mode=mode,
                    pairs=pairs, batched=batched, N=r.randint(1, 2) if batched else 1, bias=r.random() < 0.6)


def conv_check(i: int, c: dict, rng: np.random.Generator, kind: str) -> None:
    x = values(rng, (c["N"], c["cin"], *c["sp"]), kind)
    w = values(rng, (c["cout"], c["cin"] // c["g"], *c["k"]), kind)
    b = values(rng, (c["cout"],), kind) if c["bias"] else None

    def f(x, w, b):
        return jaxconv.conv(x if c["batched"] else x[0], w, b, c["s"], c["padding"], c["d"], c["g"], padding_mode=c["mode"])

    xt, wt, bt = tt(x), tt(w), None if b is None else tt(b)
    conv_t = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}[c["n"]]
    yt = conv_t(F.pad(xt, pad_flat(c["pairs"]), mode=TORCH_MODE[c["mode"]]), wt, bt, c["s"], 0, c["d"], c["g"])
    want_shape = tuple(yt.shape) if c["batched"] else tuple(yt.shape[1:])
    assert out_shape(f, x, w, b) == want_shape
    ct = values(rng, want_shape, "normal")
    y, (gx, gw, gb) = value_and_vjp(("conv", i), f, (x, w, b), ct)
    ct_b = ct if c["batched"] else ct[None]
    y_b = np.asarray(y) if c["batched"] else np.asarray(y)[None]
    close(y_b, yt.detach().numpy(), "conv vs torch")
    yr = ref.conv_ref(ref.pad_ref(x, c["pairs"], REF_MODE[c["mode"]]), w, b, c["s"], 0, c["d"], c["g"])
    close(y_b, yr, "conv vs reference")
    txg = torch_grads(yt, ct_b, [xt, wt, bt])
    close(gx, txg[0], "conv grad input", 1e-4, 1e-4)
    close(gw, txg[1], "conv grad weight", 1e-4, 1e-4)
    if b is not None:
        close(gb, txg[2], "conv grad bias", 1e-4, 1e-4)


# ---------------------------------------------------------------------------------------
# conv_transpose
# ---------------------------------------------------------------------------------------

def transpose_gen(r: random.Random) -> dict:
    while True:
        n = r.choice([1, 2, 2, 3])
        g = r.choice([1, 1, 2])
        cin, coutg = g * r.randint(1, 2), r.randint(1, 2)
        sp = tuple(r.randint(1, {1: 6, 2: 4, 3: 3}[n]) for _ in range(n))
        k = tuple(r.randint(1, 3) for _ in range(n))
        s = tuple(r.randint(1, 3) for _ in range(n))
        d = tuple(r.randint(1, 2) for _ in range(n))
        form = r.choice(["int", "per_dim", "per_dim", "pairs", "output_size", "same", "valid"])
        keff = [dd * (kk - 1) + 1 for kk, dd in zip(k, d)]
        op = tuple(r.randint(0, max(ss, dd) - 1) for ss, dd in zip(s, d))
        if form == "int":
            p = r.randint(0, 2)
            pairs, padding = ((p, p),) * n, p
        elif form in ("per_dim", "output_size"):
            padding = tuple(r.randint(0, 2) for _ in range(n))
            pairs = tuple((p, p) for p in padding)
        elif form == "pairs":
            pairs = tuple((r.randint(0, 2), r.randint(0, 2)) for _ in range(n))
            padding = pairs
        else:  # a string: the padding of the forward conv on an input of in * stride (out = in * stride)
            fwd_in = tuple(z * ss for z, ss in zip(sp, s))
            pairs = tuple(same_pairs(fwd_in, keff, s)) if form == "same" else ((0, 0),) * n
            padding = form
            op = tuple(f - ((z - 1) * ss - lo - hi + ke) for f, z, ss, (lo, hi), ke in zip(fwd_in, sp, s, pairs, keff))
            fwd_out = tuple((f + lo + hi - ke) // ss + 1 for f, (lo, hi), ke, ss in zip(fwd_in, pairs, keff, s))
            if fwd_out != sp or any(o < 0 or o >= max(ss, dd) for o, ss, dd in zip(op, s, d)):
                continue  # no forward conv on in * stride gives `in`: jaxconv raises (tests/test_errors.py)
        out = tuple((z - 1) * ss - lo - hi + ke + o for z, ss, (lo, hi), ke, o in zip(sp, s, pairs, keff, op))
        if min(out) < 1:
            continue
        batched = r.random() < 0.8
        return dict(n=n, g=g, cin=cin, coutg=coutg, sp=sp, k=k, s=s, d=d, form=form, padding=padding, pairs=pairs, op=op,
                    out=out, batched=batched, N=r.randint(1, 2) if batched else 1, bias=r.random() < 0.5)


def transpose_check(i: int, c: dict, rng: np.random.Generator, kind: str) -> None:
    x = values(rng, (c["N"], c["cin"], *c["sp"]), kind)
    w = values(rng, (c["cin"], c["coutg"], *c["k"]), kind)
    cout = c["coutg"] * c["g"]
    b = values(rng, (cout,), kind) if c["bias"] else None
    form = c["form"]

    def f(x, w, b):
        xx = x if c["batched"] else x[0]
        if form == "output_size":
            return jaxconv.conv_transpose(xx, w, b, c["s"], c["padding"], 0, c["g"], c["d"], output_size=c["out"])
        op = 0 if form in ("same", "valid") else c["op"]
        return jaxconv.conv_transpose(xx, w, b, c["s"], c["padding"], op, c["g"], c["d"])

    # torch: padding 0 and no output_padding gives the full scatter; pad its high end by
    # output_padding (those positions receive no taps) and crop (lo, hi): every form.
    ct_t = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}[c["n"]]
    xt, wt, bt = tt(x), tt(w), None if b is None else tt(b)
    full = ct_t(xt, wt, None, c["s"], 0, 0, c["g"], c["d"])
    full = F.pad(full, pad_flat(tuple((0, o) for o in c["op"])))
    idx = (slice(None), slice(None), *(slice(lo, full.shape[2 + j] - hi) for j, (lo, hi) in enumerate(c["pairs"])))
    yt = full[idx]
    if bt is not None:
        yt = yt + bt.reshape((-1,) + (1,) * c["n"])
    assert tuple(yt.shape[2:]) == c["out"]
    want = tuple(yt.shape) if c["batched"] else tuple(yt.shape[1:])
    assert out_shape(f, x, w, b) == want
    ct = values(rng, want, "normal")
    y, (gx, gw, gb) = value_and_vjp(("transpose", i), f, (x, w, b), ct)
    y_b = np.asarray(y) if c["batched"] else np.asarray(y)[None]
    close(y_b, yt.detach().numpy(), "conv_transpose vs torch")
    if form in ("int", "per_dim"):
        # torch's own padding/output_padding arguments, and the scatter-definition reference
        yt2 = ct_t(torch.tensor(x), torch.tensor(w), None if b is None else torch.tensor(b), c["s"], c["padding"], c["op"],
                   c["g"], c["d"])
        close(y_b, yt2.numpy(), "conv_transpose vs torch (torch's padding)")
        close(y_b, ref.conv_transpose_ref(x, w, b, c["s"], c["padding"], c["op"], c["g"], c["d"]), "conv_transpose vs reference")
    g = torch_grads(yt, ct if c["batched"] else ct[None], [xt, wt, bt])
    close(gx, g[0], "conv_transpose grad input", 1e-4, 1e-4)
    close(gw, g[1], "conv_transpose grad weight", 1e-4, 1e-4)
    if b is not None:
        close(gb, g[2], "conv_transpose grad bias", 1e-4, 1e-4)


# ---------------------------------------------------------------------------------------
# max / min pooling with indices
# ---------------------------------------------------------------------------------------

def _pool_common(r: random.Random, n: int, dil: bool) -> tuple:
    sp = tuple(r.randint(1, {1: 10, 2: 7, 3: 5}[n]) for _ in range(n))
    k = tuple(r.randint(1, 3) for _ in range(n))
    stride = None if r.random() < 0.3 else tuple(r.randint(1, 3) for _ in range(n))
    if stride is not None and r.random() < 0.3:
        stride = stride[0]  # an int
    d = tuple(r.randint(1, 2) for _ in range(n)) if dil else (1,) * n
    return sp, k, stride, d


def maxpool_gen(r: random.Random) -> dict:
    while True:
        n = r.choice([1, 2, 2, 3])
        sp, k, stride, d = _pool_common(r, n, True)
        form = r.choice(["int", "per_dim", "per_dim", "pairs", "same"])
        ss = k if stride is None else (stride,) * n if isinstance(stride, int) else stride
        keff = [dd * (kk - 1) + 1 for kk, dd in zip(k, d)]
        if form == "int":
            padding = r.randint(0, min(k) // 2)
            pairs = ((padding, padding),) * n
        elif form == "per_dim":
            padding = tuple(r.randint(0, kk // 2) for kk in k)
            pairs = tuple((p, p) for p in padding)
        elif form == "pairs":
            pairs = padding = tuple((r.randint(0, 2), r.randint(0, 2)) for _ in range(n))
        else:
            padding = "same"
            pairs = tuple(same_pairs(sp, keff, ss))
        ceil = r.random() < 0.4 and form in ("int", "per_dim")
        if any(z + lo + hi < ke for z, (lo, hi), ke in zip(sp, pairs, keff)):
            continue
        batched = r.random() < 0.8
        return dict(n=n, kind=r.choice(["max", "max", "min"]), sp=sp, k=k, stride=stride, ss=ss, d=d, form=form,
                    padding=padding, pairs=pairs, ceil=ceil, batched=batched, N=r.randint(1, 2) if batched else 1,
                    C=r.randint(1, 3))


def maxpool_check(i: int, c: dict, rng: np.random.Generator, kind: str) -> None:
    n, sign = c["n"], 1.0 if c["kind"] == "max" else -1.0
    if c["form"] in ("pairs", "same") and kind == "special":
        kind = "ties"  # explicit -inf padding in the torch oracle could win a window of -inf
    x = values(rng, (c["N"], c["C"], *c["sp"]), kind)
    jfn = getattr(jaxconv, f"{c['kind']}_pool{n}d")

    def f(x):
        return jfn(x if c["batched"] else x[0], c["k"], c["stride"], c["padding"], c["d"], c["ceil"], True)

    def fv(x):
        return f(x)[0]

    # torch oracle: max pooling of sign * x (min = -max(-x)); jaxconv's padding forms that
    # torch lacks are explicit -inf padding, with indices mapped back to the unpadded plane.
    tmax = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}[n]
    xt = tt(x)
    pad_only = None
    if c["form"] in ("int", "per_dim"):
        yt, it = tmax(sign * xt, c["k"], c["stride"], c["padding"], c["d"], c["ceil"], True)
        it = it.numpy()
    else:
        xp = F.pad(sign * xt, pad_flat(c["pairs"]), value=-math.inf)
        yt, it = tmax(xp, c["k"], c["stride"], 0, c["d"], False, True)
        coords = np.unravel_index(it.numpy(), xp.shape[2:])
        coords = tuple(cc - lo for cc, (lo, _) in zip(coords, c["pairs"]))
        inside = np.all([(cc >= 0) & (cc < z) for cc, z in zip(coords, c["sp"])], axis=0)
        it = np.ravel_multi_index(tuple(np.clip(cc, 0, z - 1) for cc, z in zip(coords, c["sp"])), c["sp"])
        # A window lying wholly in explicit padding (possible with per-side pairs) has no
        # torch index; jaxconv reports its fallback tap there. Compare indices elsewhere.
        pad_only = ~inside
    yt = sign * yt
    want = tuple(yt.shape) if c["batched"] else tuple(yt.shape[1:])
    assert tuple(jax.eval_shape(f, x)[0].shape) == want
    ct = values(rng, want, "normal")
    # A dilated window can hold no input element at all (size 1, padding 1, dilation 2). Its
    # output is -inf and depends on no input: jaxconv sends its cotangent nowhere, while
    # torch's backward adds it at the window's out-of-plane index, i.e. to an unrelated
    # element (a torch bug; README "Pooling"). Such windows get a zero cotangent here.
    reals = [np.array([any(0 <= o * s_ - lo + a * d_ < z for a in range(k_)) for o in range(w)])
             for w, s_, (lo, _), d_, k_, z in zip(want[-n:], c["ss"], c["pairs"], c["d"], c["k"], c["sp"])]
    ct = ct * functools.reduce(np.multiply.outer, reals).astype(ct.dtype)
    y, (gx,) = value_and_vjp(("maxpool", i), fv, (x,), ct)
    _, idx = _JIT.setdefault(("maxpool-idx", i), jax.jit(f))(x)
    y_b = np.asarray(y) if c["batched"] else np.asarray(y)[None]
    idx_b = np.asarray(idx) if c["batched"] else np.asarray(idx)[None]
    same(y_b, yt.detach().numpy(), f"{c['kind']}_pool values vs torch")
    if pad_only is not None:
        idx_b = np.where(pad_only, it, idx_b)
    same(idx_b, it, f"{c['kind']}_pool indices vs torch")
    if c["form"] in ("int", "per_dim"):
        yr, ir = ref.max_pool_ref(sign * x, c["k"], c["stride"], c["padding"], c["d"], c["ceil"])
        same(y_b, (sign * yr).astype(np.float32), f"{c['kind']}_pool values vs reference")
        same(idx_b, ir, f"{c['kind']}_pool indices vs reference")
    (gt,) = torch_grads(yt, ct if c["batched"] else ct[None], [xt])
    close(gx, gt, f"{c['kind']}_pool grad", 1e-5, 1e-5)


# ---------------------------------------------------------------------------------------
# max unpooling
# ---------------------------------------------------------------------------------------

def unpool_gen(r: random.Random) -> dict:
    while True:
        n = r.choice([1, 2, 2, 3])
        sp, k, stride, _ = _pool_common(r, n, False)
        ss = k if stride is None else (stride,) * n if isinstance(stride, int) else stride
        padding = tuple(r.randint(0, kk // 2) for kk in k)
        if any(z + 2 * p < kk for z, p, kk in zip(sp, padding, k)):
            continue
        pooled = tuple((z + 2 * p - kk) // s_ + 1 for z, p, kk, s_ in zip(sp, padding, k, ss))
        default = tuple((o - 1) * s_ - 2 * p + kk for o, s_, p, kk in zip(pooled, ss, padding, k))
        fits = all(dd - s_ < z < dd + s_ for dd, z, s_ in zip(default, sp, ss))
        out_size = sp if fits and r.random() < 0.7 else None
        batched = r.random() < 0.8
        return dict(n=n, sp=sp, k=k, stride=stride, padding=padding, pooled=pooled,
                    out=out_size if out_size is not None else default, output_size=out_size,
                    random_indices=r.random() < 0.3, batched=batched, N=r.randint(1, 2) if batched else 1, C=r.randint(1, 2))


def _unpool_drops_out_of_range(i: int, f: Callable, c: dict, y: np.ndarray, idx: np.ndarray, idx_j: np.ndarray,
                               rng: np.random.Generator) -> None:
    out = c["out"]
    plane = math.prod(out)
    n_, c_ = y.shape[:2]
    want = np.zeros((n_, c_, plane), np.float32)
    for a in range(n_):
        for b in range(c_):
            for v, j in zip(y[a, b].ravel(), idx[a, b].ravel()):  # scan order: the last write wins
                if 0 <= j < plane:
                    want[a, b, j] = v
    ct = values(rng, (n_, c_, *out), "normal")
    u, (gy,) = value_and_vjp(("unpool", i), f, (y,), ct if c["batched"] else ct[0], (idx_j,))
    same(np.asarray(u).reshape(n_, c_, plane), want, "max_unpool dropping out-of-range indices")
    flat = ct.reshape(n_, c_, plane)
    gwant = np.where(idx < plane, np.take_along_axis(flat, np.minimum(idx, plane - 1).reshape(n_, c_, -1), 2).reshape(idx.shape), 0)
    close(np.asarray(gy).reshape(idx.shape), gwant, "max_unpool grad at dropped indices", 0, 0)


def unpool_check(i: int, c: dict, rng: np.random.Generator, kind: str) -> None:
    n = c["n"]
    x = values(rng, (c["N"], c["C"], *c["sp"]), kind)
    tmax = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}[n]
    y0, idx = tmax(torch.tensor(x), c["k"], c["stride"], c["padding"], 1, False, True)
    idx = idx.numpy()
    if c["random_indices"]:
        # any in-range indices, duplicates included: the last write in scan order wins (torch CPU)
        idx = rng.integers(0, math.prod(c["out"]), size=idx.shape)
    y = values(rng, tuple(y0.shape), kind)
    jfn = getattr(jaxconv, f"max_unpool{n}d")
    idx_j = idx.astype(np.int32)

    def f(y, idx_j):
        return jfn(y if c["batched"] else y[0], idx_j if c["batched"] else idx_j[0], c["k"], c["stride"], c["padding"],
                   c["output_size"])

    tun = {1: F.max_unpool1d, 2: F.max_unpool2d, 3: F.max_unpool3d}[n]
    yt = tt(y)
    # Duplicate indices (overlapping windows, random indices): torch's CPU kernel writes in
    # scan order (last wins) on one thread; on several it splits the input between threads
    # and the winner depends on the split (torch documents duplicates as undefined).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        ut = tun(yt, torch.tensor(idx), c["k"], c["stride"], c["padding"], c["output_size"])
    except RuntimeError as e:
        # Indices past the default output size: torch raises at run time, which a jitted JAX
        # function cannot (the indices are traced values). jaxconv drops them (README
        # "Pooling"): check that against a plain loop, and the gradient as a gather.
        assert "invalid max index" in str(e), e
        _unpool_drops_out_of_range(i, f, c, y, idx, idx_j, rng)
        return
    finally:
        torch.set_num_threads(threads)
    want = tuple(ut.shape) if c["batched"] else tuple(ut.shape[1:])
    assert out_shape(f, y, idx_j) == want
    ct = values(rng, want, "normal")
    u, (gy,) = value_and_vjp(("unpool", i), f, (y,), ct, (idx_j,))
    u_b = np.asarray(u) if c["batched"] else np.asarray(u)[None]
    same(u_b, ut.detach().numpy(), "max_unpool vs torch")
    same(u_b, ref.max_unpool_ref(y, idx, c["out"]).astype(np.float32), "max_unpool vs reference")
    (gt,) = torch_grads(ut, ct if c["batched"] else ct[None], [yt])
    close(gy, gt, "max_unpool grad", 0, 0)


# ---------------------------------------------------------------------------------------
# avg / lp pooling
# ---------------------------------------------------------------------------------------

def avgpool_gen(r: random.Random) -> dict:
    while True:
        n = r.choice([1, 2, 2, 3])
        sp, k, stride, _ = _pool_common(r, n, False)
        padding = r.randint(0, min(k) // 2) if r.random() < 0.3 else tuple(r.randint(0, kk // 2) for kk in k)
        pads = (padding,) * n if isinstance(padding, int) else padding
        if any(z + 2 * p < kk for z, p, kk in zip(sp, pads, k)):
            continue
        if n == 3 and any(z < kk for z, kk in zip(sp, k)):
            continue  # torch's avg_pool3d alone rejects these (test_avg_pool3d_input_below_kernel)
        batched = r.random() < 0.8
        return dict(n=n, sp=sp, k=k, stride=stride, padding=padding, ceil=r.random() < 0.4,
                    count_include_pad=r.random() < 0.5,
                    divisor=None if n == 1 or r.random() < 0.6 else r.choice([1, 2, 3, 5, -2]),
                    batched=batched, N=r.randint(1, 2) if batched else 1, C=r.randint(1, 3))


def avgpool_check(i: int, c: dict, rng: np.random.Generator, kind: str) -> None:
    n = c["n"]
    x = values(rng, (c["N"], c["C"], *c["sp"]), kind)
    jfn = getattr(jaxconv, f"avg_pool{n}d")
    extra = () if n == 1 else (c["divisor"],)

    def f(x):
        return jfn(x if c["batched"] else x[0], c["k"], c["stride"], c["padding"], c["ceil"], c["count_include_pad"], *extra)

    tfn = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}[n]
    xt = tt(x)
    yt = tfn(xt, c["k"], c["stride"], c["padding"], c["ceil"], c["count_include_pad"], *extra)
    want = tuple(yt.shape) if c["batched"] else tuple(yt.shape[1:])
    assert out_shape(f, x) == want
    ct = values(rng, want, "normal")
    y, (gx,) = value_and_vjp(("avgpool", i), f, (x,), ct)
    y_b = np.asarray(y) if c["batched"] else np.asarray(y)[None]
    close(y_b, yt.detach().numpy(), "avg_pool vs torch", 1e-6, 1e-6)
    close(y_b, ref.avg_pool_ref(x, c["k"], c["stride"], c["padding"], c["ceil"], c["count_include_pad"], c["divisor"]),
          "avg_pool vs reference", 1e-6, 1e-6)
    (gt,) = torch_grads(yt, ct if c["batched"] else ct[None], [xt])
    close(gx, gt, "avg_pool grad", 1e-6, 1e-6)


def lppool_gen(r: random.Random) -> dict:
    while True:
        n = r.choice([1, 2, 2, 3])
        sp, k, stride, _ = _pool_common(r, n, False)
        if any(z < kk for z, kk in zip(sp, k)):
            continue
        batched = r.random() < 0.8
        return dict(n=n, sp=sp, k=k, stride=stride, ceil=r.random() < 0.4, p=r.choice([1, 2, 2, 3, 1.5, 4.0, math.inf]),
                    batched=batched, N=r.randint(1, 2) if batched else 1, C=r.randint(1, 2))


def lppool_check(i: int, c: dict, rng: np.random.Generator, kind: str) -> None:
    n = c["n"]
    x = values(rng, (c["N"], c["C"], *c["sp"]), kind)
    if kind == "normal" and rng.random() < 0.5:
        x = np.abs(x) + np.float32(0.1)  # positive inputs: no NaN for fractional p, gradients everywhere
    jfn = getattr(jaxconv, f"lp_pool{n}d")

    def f(x):
        return jfn(x if c["batched"] else x[0], c["p"], c["k"], c["stride"], c["ceil"])

    tfn = {1: F.lp_pool1d, 2: F.lp_pool2d, 3: F.lp_pool3d}[n]
    xt = tt(x)
    # torch's lp_pool1d multiplies by kernel_size, so it takes an int only
    yt = tfn(xt, c["p"], c["k"][0] if n == 1 else c["k"], c["stride"], c["ceil"])
    want = tuple(yt.shape) if c["batched"] else tuple(yt.shape[1:])
    assert out_shape(f, x) == want
    ct = values(rng, want, "normal")
    y, (gx,) = value_and_vjp(("lppool", i), f, (x,), ct)
    y_b = np.asarray(y) if c["batched"] else np.asarray(y)[None]
    close(y_b, yt.detach().numpy(), "lp_pool vs torch", 1e-5, 1e-5)
    close(y_b, ref.lp_pool_ref(x, c["p"], c["k"], c["stride"], c["ceil"]), "lp_pool vs reference", 1e-5, 1e-5)
    (gt,) = torch_grads(yt, ct if c["batched"] else ct[None], [xt])
    if np.isfinite(gt).all() and np.all(np.abs(yt.detach().numpy()) > 1e-3):
        close(gx, gt, "lp_pool grad", 1e-4, 1e-4)


# ---------------------------------------------------------------------------------------
# adaptive pooling
# ---------------------------------------------------------------------------------------

def adaptive_gen(r: random.Random) -> dict:
    n = r.choice([1, 2, 2, 3])
    sp = tuple(r.randint(1, {1: 12, 2: 8, 3: 5}[n]) for _ in range(n))
    out = tuple(None if r.random() < 0.15 else r.randint(1, z + 2) for z in sp)
    if r.random() < 0.25:
        out = out[0] if out[0] is not None else 1  # an int
    batched = r.random() < 0.8
    return dict(n=n, kind=r.choice(["avg", "max"]), sp=sp, out=out, batched=batched, N=r.randint(1, 2) if batched else 1,
                C=r.randint(1, 3))


def adaptive_check(i: int, c: dict, rng: np.random.Generator, kind: str) -> None:
    n, mx = c["n"], c["kind"] == "max"
    if not mx and kind == "special":
        kind = "normal"
    x = values(rng, (c["N"], c["C"], *c["sp"]), kind)
    jfn = getattr(jaxconv, f"adaptive_{c['kind']}_pool{n}d")

    def f(x):
        xx = x if c["batched"] else x[0]
        return jfn(xx, c["out"], True) if mx else jfn(xx, c["out"])

    def fv(x):
        return f(x)[0] if mx else f(x)

    xt = tt(x)
    tfn = getattr(F, f"adaptive_{c['kind']}_pool{n}d")
    # None ("keep this size") is accepted in every dim count by jaxconv; torch's 1-d pools
    # reject it (a deliberate difference, README "Pooling"): give torch the size itself.
    t_out = tuple(z if o is None else o for o, z in zip(c["out"], c["sp"])) if n == 1 and isinstance(c["out"], tuple) else c["out"]
    if mx:
        yt, it = tfn(xt, t_out, True)
    else:
        yt, it = tfn(xt, t_out), None
    want = tuple(yt.shape) if c["batched"] else tuple(yt.shape[1:])
    assert out_shape(fv, x) == want
    ct = values(rng, want, "normal")
    y, (gx,) = value_and_vjp(("adaptive", i), fv, (x,), ct)
    y_b = np.asarray(y) if c["batched"] else np.asarray(y)[None]
    if mx:
        _, idx = _JIT.setdefault(("adaptive-idx", i), jax.jit(f))(x)
        idx_b = np.asarray(idx) if c["batched"] else np.asarray(idx)[None]
        same(y_b, yt.detach().numpy(), "adaptive_max_pool vs torch")
        same(idx_b, it.numpy(), "adaptive_max_pool indices vs torch")
        yr, ir = ref.adaptive_max_pool_ref(x, c["out"])
        same(y_b, yr.astype(np.float32), "adaptive_max_pool vs reference")
        same(idx_b, ir, "adaptive_max_pool indices vs reference")
    else:
        close(y_b, yt.detach().numpy(), "adaptive_avg_pool vs torch", 1e-6, 1e-6)
        close(y_b, ref.adaptive_avg_pool_ref(x, c["out"]), "adaptive_avg_pool vs reference", 1e-6, 1e-6)
    (gt,) = torch_grads(yt, ct if c["batched"] else ct[None], [xt])
    close(gx, gt, f"adaptive_{c['kind']}_pool grad", 1e-5, 1e-5)


# ---------------------------------------------------------------------------------------
# interpolate
# ---------------------------------------------------------------------------------------

MODES_BY_DIM = {1: ["nearest", "nearest-exact", "linear", "area"],
                2: ["nearest", "nearest-exact", "bilinear", "bicubic", "area", "bilinear", "bicubic"],
                3: ["nearest", "nearest-exact", "trilinear", "area"]}
SCALES = (0.5, 0.6, 0.75, 1.0, 1.3, 1.5, 2.0, 2.5, 3.0, 1 / 3)


def _interp_out(sp: tuple[int, ...], size: Any, scale: Any) -> tuple[int, ...]:
    if size is not None:
        return (size,) * len(sp) if isinstance(size, int) else tuple(size)
    scs = (scale,) * len(sp) if isinstance(scale, float) else scale
    return tuple(math.floor(z * s_) for z, s_ in zip(sp, scs))


def interp_gen(r: random.Random) -> dict:
    while True:
        n = r.choice([1, 2, 2, 3])
        sp = tuple(r.randint(1, {1: 9, 2: 7, 3: 4}[n]) for _ in range(n))
        mode = r.choice(MODES_BY_DIM[n])
        size = scale = recompute = align = None
        if r.random() < 0.5:
            size = tuple(r.randint(1, 2 * z + 2) for z in sp)
            if r.random() < 0.3:
                size = size[0]
        else:
            scale = tuple(r.choice(SCALES) for _ in range(n))
            if r.random() < 0.3:
                scale = scale[0]
            recompute = r.choice([None, True, False])
            scs = (scale,) * n if isinstance(scale, float) else scale
            if any(math.floor(z * s_) < 1 for z, s_ in zip(sp, scs)):
                continue
        if mode in ("linear", "bilinear", "bicubic", "trilinear"):
            align = r.choice([None, False, True])
        antialias = mode in ("bilinear", "bicubic") and r.random() < 0.4
        if antialias and _interp_out(sp, size, scale)[-1] == 1:
            continue  # torch's separable AA kernel is wrong there (README, Resizing; test_resize.py)
        batched = True  # interpolate needs the batch dim, as torch
        return dict(n=n, sp=sp, mode=mode, size=size, scale=scale, recompute=recompute, align=align, antialias=antialias,
                    batched=batched, N=r.randint(1, 2), C=r.randint(1, 2))


def interp_check(i: int, c: dict, rng: np.random.Generator, kind: str) -> None:
    x = values(rng, (c["N"], c["C"], *c["sp"]), kind)

    def f(x):
        return jaxconv.interpolate(x, c["size"], c["scale"], c["mode"], c["align"], c["recompute"], c["antialias"])

    xt = tt(x)
    yt = F.interpolate(xt, c["size"], c["scale"], c["mode"], c["align"], c["recompute"], c["antialias"])
    assert out_shape(f, x) == tuple(yt.shape)
    ct = values(rng, tuple(yt.shape), "normal")
    y, (gx,) = value_and_vjp(("interp", i), f, (x,), ct)
    exact = c["mode"] in ("nearest", "nearest-exact")
    tol = 0 if exact else 2e-6
    close(y, yt.detach().numpy(), "interpolate vs torch", tol, tol)
    if not c["antialias"]:
        yr = ref.interpolate_ref(x, c["size"], c["scale"], c["mode"], c["align"], c["recompute"])
        close(y, yr, "interpolate vs reference", 1e-5, 1e-5)
    (gt,) = torch_grads(yt, ct, [xt])
    if c["antialias"] and c["scale"] is not None and c["recompute"] is not True and \
            any(o == z for o, z in zip(_interp_out(c["sp"], None, c["scale"]), c["sp"])):
        return  # torch's AA backward resamples a dim its forward skipped (README, Resizing)
    close(gx, gt, "interpolate grad", 1e-5, 1e-5)


# ---------------------------------------------------------------------------------------
# unfold / fold
# ---------------------------------------------------------------------------------------

def patches_gen(r: random.Random) -> dict:
    while True:
        sp = (r.randint(1, 7), r.randint(1, 7))
        k = (r.randint(1, 3), r.randint(1, 3))
        d = (r.randint(1, 2), r.randint(1, 2))
        s = (r.randint(1, 3), r.randint(1, 3))
        form = r.choice(["int", "per_dim", "per_dim", "pairs"])
        if form == "int":
            padding = r.randint(0, 2)
            pairs = ((padding, padding),) * 2
        elif form == "per_dim":
            padding = (r.randint(0, 2), r.randint(0, 2))
            pairs = tuple((p, p) for p in padding)
        else:
            pairs = padding = ((r.randint(0, 2), r.randint(0, 2)), (r.randint(0, 2), r.randint(0, 2)))
        blocks = tuple((z + lo + hi - dd * (kk - 1) - 1) // ss + 1 for z, (lo, hi), kk, dd, ss in zip(sp, pairs, k, d, s))
        if any(z + lo + hi < dd * (kk - 1) + 1 for z, (lo, hi), kk, dd in zip(sp, pairs, k, d)):
            continue
        batched = r.random() < 0.8
        return dict(sp=sp, k=k, d=d, s=s, form=form, padding=padding, pairs=pairs, blocks=blocks, batched=batched,
                    N=r.randint(1, 2) if batched else 1, C=r.randint(1, 3))


def patches_check(i: int, c: dict, rng: np.random.Generator, kind: str) -> None:
    x = values(rng, (c["N"], c["C"], *c["sp"]), kind)
    L = math.prod(c["blocks"])
    cols = values(rng, (c["N"], c["C"] * math.prod(c["k"]), L), kind)
    sym = c["form"] != "pairs"

    def fu(x):
        return jaxconv.unfold(x if c["batched"] else x[0], c["k"], c["d"], c["padding"], c["s"])

    def ff(cols):
        return jaxconv.fold(cols if c["batched"] else cols[0], c["sp"], c["k"], c["d"], c["padding"], c["s"])

    xt, colst = tt(x), tt(cols)
    if sym:
        ut = F.unfold(xt, c["k"], c["d"], c["padding"], c["s"])
        ft = F.fold(colst, c["sp"], c["k"], c["d"], c["padding"], c["s"])
    else:  # asymmetric padding: explicit zero padding, then torch with padding 0 (fold: crop)
        ut = F.unfold(F.pad(xt, pad_flat(c["pairs"])), c["k"], c["d"], 0, c["s"])
        (t, b_), (l_, r_) = c["pairs"]
        full = F.fold(colst, (c["sp"][0] + t + b_, c["sp"][1] + l_ + r_), c["k"], c["d"], 0, c["s"])
        ft = full[:, :, t:t + c["sp"][0], l_:l_ + c["sp"][1]]
    for name, f, arg, yt in (("unfold", fu, x, ut), ("fold", ff, cols, ft)):
        want = tuple(yt.shape) if c["batched"] else tuple(yt.shape[1:])
        assert out_shape(f, arg) == want, name
        ct = values(rng, want, "normal")
        y, (g,) = value_and_vjp((name, i), f, (arg,), ct)
        y_b = np.asarray(y) if c["batched"] else np.asarray(y)[None]
        if name == "unfold":
            same(y_b, yt.detach().numpy(), "unfold vs torch")
            if sym:
                same(y_b, ref.unfold_ref(x, c["k"], c["d"], c["padding"], c["s"]).astype(np.float32), "unfold vs reference")
        else:
            close(y_b, yt.detach().numpy(), "fold vs torch", 1e-6, 1e-6)
            if sym:
                close(y_b, ref.fold_ref(cols, c["sp"], c["k"], c["d"], c["padding"], c["s"]), "fold vs reference", 1e-6, 1e-6)
        (gt,) = torch_grads(yt, ct if c["batched"] else ct[None], [xt if name == "unfold" else colst])
        close(g, gt, f"{name} grad", 1e-6, 1e-6)


# ---------------------------------------------------------------------------------------
# pad, pixel shuffle
# ---------------------------------------------------------------------------------------

def pad_gen(r: random.Random) -> dict:
    n = r.choice([1, 2, 2, 3])
    sp = tuple(r.randint(1, {1: 8, 2: 6, 3: 4}[n]) for _ in range(n))
    mode = r.choice(["constant", "constant", "reflect", "replicate", "circular"])
    lim = {"constant": 3, "replicate": 3, "reflect": None, "circular": None}[mode]
    pairs = []
    for z in sp:
        hi_ = lim if lim is not None else (z - 1 if mode == "reflect" else z)
        hi_ = min(hi_, 3)
        pairs.append((r.randint(0, hi_), r.randint(0, hi_)))
    batched = r.random() < 0.7
    return dict(n=n, sp=sp, mode=mode, pairs=tuple(pairs), value=r.choice([None, 0.0, 1.5, -2.0]) if mode == "constant" else None,
                batched=batched, N=r.randint(1, 2) if batched else 1, C=r.randint(1, 2))


def pad_check(i: int, c: dict, rng: np.random.Generator, kind: str) -> None:
    x = values(rng, (c["N"], c["C"], *c["sp"]), kind)

    def f(x):
        return jaxconv.pad(x if c["batched"] else x[0], c["pairs"], c["mode"], c["value"])

    xt = tt(x)
    xin = xt if c["batched"] else xt[0]
    yt = F.pad(xin, pad_flat(c["pairs"]), c["mode"], c["value"])
    assert out_shape(f, x) == tuple(yt.shape)
    ct = values(rng, tuple(yt.shape), "normal")
    y, (gx,) = value_and_vjp(("pad", i), f, (x,), ct)
    same(y, yt.detach().numpy(), "pad vs torch")
    yr = ref.pad_ref(x, c["pairs"], c["mode"], 0.0 if c["value"] is None else c["value"]).astype(np.float32)
    same(y if c["batched"] else np.asarray(y)[None], yr, "pad vs reference")
    yt.backward(torch.tensor(ct))
    # replicate/reflect/circular gradients sum up to (pad + 1)^n cotangents per element, in
    # another order than torch's: float32 rounding grows with that count (the slow campaign
    # found 1.3e-5 relative on a 3-d replicate pad of 3 per side: 7 * 4 * 4 terms).
    close(gx, xt.grad.numpy(), "pad grad", 1e-6 if c["mode"] == "constant" else 5e-5, 1e-6 if c["mode"] == "constant" else 1e-5)


def shuffle_gen(r: random.Random) -> dict:
    rr = r.randint(1, 3)
    lead = tuple(r.randint(1, 2) for _ in range(r.randint(0, 2)))
    return dict(r=rr, lead=lead, c=r.randint(1, 2), h=r.randint(1, 3), w=r.randint(1, 3))


def shuffle_check(i: int, c: dict, rng: np.random.Generator, kind: str) -> None:
    r_ = c["r"]
    x = values(rng, (*c["lead"], c["c"] * r_ * r_, c["h"], c["w"]), kind)
    xt = tt(x)
    yt = F.pixel_shuffle(xt, r_)
    ct = values(rng, tuple(yt.shape), "normal")
    y, (gx,) = value_and_vjp(("shuffle", i), lambda x: jaxconv.pixel_shuffle(x, r_), (x,), ct)
    same(y, yt.detach().numpy(), "pixel_shuffle vs torch")
    if x.ndim == 4:
        same(y, ref.pixel_shuffle_ref(x, r_).astype(np.float32), "pixel_shuffle vs reference")
    yt.backward(torch.tensor(ct))
    same(gx, xt.grad.numpy(), "pixel_shuffle grad")
    back = jaxconv.pixel_unshuffle(y, r_)
    same(back, F.pixel_unshuffle(torch.tensor(np.asarray(y)), r_).numpy(), "pixel_unshuffle vs torch")
    same(back, x, "pixel_unshuffle inverts pixel_shuffle")


# ---------------------------------------------------------------------------------------
# the families and their budgets (default profile)
# ---------------------------------------------------------------------------------------

FAMILIES = [
    Family("conv", conv_gen, conv_check, 110, 20),
    Family("conv_transpose", transpose_gen, transpose_check, 100, 18),
    Family("max_min_pool", maxpool_gen, maxpool_check, 150, 24, ("normal", "ties", "special")),
    Family("max_unpool", unpool_gen, unpool_check, 60, 12),
    Family("avg_pool", avgpool_gen, avgpool_check, 100, 18),
    Family("lp_pool", lppool_gen, lppool_check, 75, 14),
    Family("adaptive_pool", adaptive_gen, adaptive_check, 100, 18, ("normal", "ties", "special")),
    Family("interpolate", interp_gen, interp_check, 130, 24),
    Family("unfold_fold", patches_gen, patches_check, 75, 14, ("normal", "ties", "special")),
    Family("pad", pad_gen, pad_check, 75, 14, ("normal", "ties", "special")),
    Family("pixel_shuffle", shuffle_gen, shuffle_check, 30, 6, ("normal", "special")),
]
FAMILY_BY_NAME = {f.name: f for f in FAMILIES}


@pytest.mark.parametrize("fam", FAMILIES, ids=[f.name for f in FAMILIES])
def test_campaign(fam: Family):
    """Hypothesis parity campaign for one op family (derandomized in CI).

    oracle: torch CPU (float32, values, indices, autograd gradients) and the NumPy loop
    reference tests/reference.py (float64).
    """
    assert run_family(fam, slow=False) >= fam.examples


@pytest.mark.slow
@pytest.mark.parametrize("fam", FAMILIES, ids=[f.name for f in FAMILIES])
def test_campaign_slow(fam: Family):
    """The same campaign with twenty times the examples over twenty times the configurations.

    oracle: torch CPU and tests/reference.py.
    """
    assert run_family(fam, slow=True) >= fam.examples * SLOW_FACTOR


# ---------------------------------------------------------------------------------------
# shape arithmetic: pure Python, so hypothesis draws the arguments directly
# ---------------------------------------------------------------------------------------

def _shape_examples(slow: bool) -> int:
    return 400 * (SLOW_FACTOR if slow or PROFILE == "slow" else 1)


@st.composite
def pool_args(draw: st.DrawFn) -> dict:
    n = draw(st.integers(1, 3))
    return dict(
        n=n,
        sp=tuple(draw(st.lists(st.integers(1, 12), min_size=n, max_size=n))),
        k=tuple(draw(st.lists(st.integers(1, 5), min_size=n, max_size=n))),
        s=tuple(draw(st.lists(st.integers(1, 4), min_size=n, max_size=n))),
        p=tuple(draw(st.lists(st.integers(0, 3), min_size=n, max_size=n))),
        d=tuple(draw(st.lists(st.integers(1, 3), min_size=n, max_size=n))),
        ceil=draw(st.booleans()),
        op=tuple(draw(st.lists(st.integers(0, 3), min_size=n, max_size=n))),
    )


def _torch_shape(call: Callable[[], torch.Tensor]) -> tuple[int, ...] | None:
    try:
        return tuple(call().shape[2:])
    except (RuntimeError, ValueError, IndexError):
        return None


def _ours(call: Callable[[], tuple[int, ...]]) -> tuple[int, ...] | None:
    try:
        return tuple(call())
    except ValueError:
        return None


def shape_parity(a: dict) -> None:
    n, sp, k, s, p, d = a["n"], a["sp"], a["k"], a["s"], a["p"], a["d"]
    z = torch.zeros((1, 1, *sp))
    mp = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}[n]
    cv = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}[n]
    ct = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}[n]
    w = torch.zeros((1, 1, *k))
    # pooling: torch's output size and its errors (padding > kernel // 2, empty output)
    want = _torch_shape(lambda: mp(z, k, s, p, d, a["ceil"]))
    got = _ours(lambda: jshapes.pool_output_shape(sp, k, s, p, d, a["ceil"]))
    assert got == want, f"pool_output_shape {got} != torch {want}"
    if want is not None:
        refo = tuple(ref.pool_output_size_ref(i, kk, ss, pp, pp, dd, a["ceil"]) for i, kk, ss, pp, dd in zip(sp, k, s, p, d))
        assert got == refo
    # convolution
    want = _torch_shape(lambda: cv(z, w, None, s, p, d))
    got = _ours(lambda: jshapes.conv_output_shape(sp, k, s, p, d))
    assert got == want, f"conv_output_shape {got} != torch {want}"
    # transposed convolution (torch: output_padding < max(stride, dilation), output >= 1)
    wt = torch.zeros((1, 1, *k))
    want = _torch_shape(lambda: ct(z, wt, None, s, p, a["op"], 1, d))
    got = _ours(lambda: jshapes.conv_transpose_output_shape(sp, k, s, p, a["op"], d))
    if want is not None and 0 in want:
        # torch's transposed conv returns an empty output where the size formula gives 0;
        # jaxconv rejects it like every other empty output (README "Error rules").
        assert got is None, f"conv_transpose_output_shape {got} for torch's empty {want}"
    else:
        assert got == want, f"conv_transpose_output_shape {got} != torch {want}"


def _run_shapes(slow: bool) -> int:
    count = 0

    @settings(max_examples=_shape_examples(slow))
    @given(pool_args())
    def prop(a: dict) -> None:
        nonlocal count
        shape_parity(a)
        count += 1

    prop()
    COUNTS["shapes" + ("/slow" if slow or PROFILE == "slow" else "")] = count
    return count


def test_shapes_campaign():
    """Output sizes and the valid/invalid boundary of pools, convs and transposed convs.

    Arguments are drawn over torch's whole integer space, invalid ones included: where
    torch raises, jaxconv.shapes raises ValueError; elsewhere the sizes agree.
    oracle: torch CPU's output shapes and errors; tests/reference.pool_output_size_ref.
    """
    assert _run_shapes(False) >= _shape_examples(False)


@pytest.mark.slow
def test_shapes_campaign_slow():
    """Ten times the shape examples. oracle: torch CPU and tests/reference.py."""
    assert _run_shapes(True) >= _shape_examples(True)


def test_campaign_total():
    """The default campaign's budgets add up to at least 1,400 examples (halved for CI's budget; the slow lane runs 20x).

    Each family test (and the shapes test) asserts that hypothesis ran its whole budget,
    so the budgets are counts, not hopes; summing them here works under xdist, where the
    families run on different workers. oracle: the Family table.
    """
    total = sum(f.examples for f in FAMILIES) + _shape_examples(False)
    print(f"\nproperty campaign: {total} examples in the default profile")
    assert total >= 1400


# ---------------------------------------------------------------------------------------
# Pinned examples: disagreements the campaign found, kept as regular tests
# ---------------------------------------------------------------------------------------

def test_avg_pool3d_input_below_kernel():
    """Deliberate difference: an input smaller than the kernel (but not than the padded input).

    torch's avg_pool3d (and lp_pool3d, built on it) raises "input image smaller than kernel
    size" when a spatial size is below the kernel even though the padding makes the window
    fit; its avg_pool1d/2d and max_pool3d accept the same geometry. jaxconv accepts it in
    every dim count and returns the natural result. Found by the campaign.
    oracle: tests/reference.avg_pool_ref, and torch's avg_pool2d on the same data viewed as 2-d.
    """
    x = np.arange(10, dtype=np.float32).reshape(1, 1, 1, 2, 5)
    with pytest.raises(RuntimeError, match="smaller than kernel size"):
        F.avg_pool3d(torch.tensor(x), (3, 1, 1), 2, (1, 0, 0))
    y = jaxconv.avg_pool3d(x, (3, 1, 1), 2, (1, 0, 0))
    close(y, ref.avg_pool_ref(x, (3, 1, 1), 2, (1, 0, 0)), "avg_pool3d vs reference", 1e-6, 1e-6)
    y2 = F.avg_pool2d(torch.tensor(x[:, :, :, 0]), (3, 1), 2, (1, 0)).numpy()  # the same windows, one dim fewer
    close(y[:, :, :, 0], y2, "avg_pool3d vs avg_pool2d", 1e-6, 1e-6)
