"""Pooling (jaxconv.pool) against torch CPU and the NumPy loop reference.

The random families run hundreds of seeded configurations each (1-d/2-d/3-d, kernel,
stride, padding, dilation, ceil_mode, count_include_pad, divisor_override, batched and
unbatched, small-integer data so that ties are common, NaN/+-inf, int8/int32). Compiling
one XLA program per configuration would dominate the run, so each family compiles its
configurations in groups: one ``jax.jit`` over a list of configurations (with XLA's
cheap compile options), and every output is then compared with torch and the reference.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

torch = pytest.importorskip("torch")  # torch is the oracle
import torch.nn.functional as F  # noqa: E402

import jaxconv  # noqa: E402
from jaxconv.shapes import unpool_output_shape  # noqa: E402
from tests import lanes  # noqa: E402
from tests import reference as R  # noqa: E402

# Test programs are tiny: spend as little as possible compiling them.
FAST_COMPILE = {"xla_backend_optimization_level": 0, "xla_llvm_disable_expensive_passes": True}
GROUP = 30  # configurations per compiled program

T_MAX = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}
T_AVG = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}
T_LP = {1: F.lp_pool1d, 2: F.lp_pool2d, 3: F.lp_pool3d}
T_AAVG = {1: F.adaptive_avg_pool1d, 2: F.adaptive_avg_pool2d, 3: F.adaptive_avg_pool3d}
T_AMAX = {1: F.adaptive_max_pool1d, 2: F.adaptive_max_pool2d, 3: F.adaptive_max_pool3d}
T_UNPOOL = {1: F.max_unpool1d, 2: F.max_unpool2d, 3: F.max_unpool3d}
J_MAX = {1: jaxconv.max_pool1d, 2: jaxconv.max_pool2d, 3: jaxconv.max_pool3d}
J_MIN = {1: jaxconv.min_pool1d, 2: jaxconv.min_pool2d, 3: jaxconv.min_pool3d}
J_AVG = {1: jaxconv.avg_pool1d, 2: jaxconv.avg_pool2d, 3: jaxconv.avg_pool3d}
J_LP = {1: jaxconv.lp_pool1d, 2: jaxconv.lp_pool2d, 3: jaxconv.lp_pool3d}
J_AAVG = {1: jaxconv.adaptive_avg_pool1d, 2: jaxconv.adaptive_avg_pool2d, 3: jaxconv.adaptive_avg_pool3d}
J_AMAX = {1: jaxconv.adaptive_max_pool1d, 2: jaxconv.adaptive_max_pool2d, 3: jaxconv.adaptive_max_pool3d}
J_UNPOOL = {1: jaxconv.max_unpool1d, 2: jaxconv.max_unpool2d, 3: jaxconv.max_unpool3d}

INDEX_DTYPE = jax.dtypes.canonicalize_dtype(jnp.int64)
FLOAT0 = jax.dtypes.float0


def run_grouped(fn, cases: list[Any]) -> list[Any]:
    """``fn(case, *case.arrays)`` for every case, GROUP cases per compiled program; NumPy outputs."""
    out = []
    for i in range(0, len(cases), GROUP):
        chunk = cases[i:i + GROUP]
        prog = jax.jit(lambda arrays, chunk=chunk: [fn(c, *a) for c, a in zip(chunk, arrays)], compiler_options=FAST_COMPILE)
        out += jax.tree.map(np.asarray, prog([c.arrays for c in chunk]))
    return out


def t(x: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(x))


def batched(x: np.ndarray, n: int) -> np.ndarray:
    return x if x.ndim == n + 2 else x[None]


def assert_same(actual, expected, what: str, case: Any, exact: bool = True, tol: float = 1e-6) -> None:
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape} for {case}"
    if exact:
        np.testing.assert_array_equal(actual, expected, err_msg=f"{what} for {case}")
    else:
        np.testing.assert_allclose(actual, expected, rtol=tol, atol=tol, err_msg=f"{what} for {case}")


def has_empty_window(spatial, kernel, stride, pads, dilation, out) -> bool:
    """Whether some window holds no input element (torch then reports an index outside the plane)."""
    for size, k, s, p, d, o in zip(spatial, kernel, stride, pads, dilation, out):
        for w in range(o):
            if not any(0 <= w * s - p + a * d < size for a in range(k)):
                return True
    return False


def draw_data(rng: np.random.Generator, shape: tuple[int, ...], kind: str) -> np.ndarray:
    """Small integers (ties are common); ``specials`` adds NaN and +-inf; int kinds keep dtype extremes."""
    if kind in ("int8", "int32"):
        dt = np.dtype(kind)
        x = rng.integers(-3, 4, shape).astype(dt)
        flat = x.reshape(-1)
        for v in (np.iinfo(dt).min, np.iinfo(dt).max):
            flat[rng.integers(0, flat.size, max(1, flat.size // 8))] = v
        return x
    x = rng.integers(-2, 3, shape).astype(np.float32)
    if kind == "specials":
        flat = x.reshape(-1)
        for v in (np.nan, np.inf, -np.inf):
            flat[rng.integers(0, flat.size, max(1, flat.size // 6))] = v
    return x


@dataclass
class WindowCase:
    n: int
    x: np.ndarray
    kernel: Any
    stride: Any
    padding: Any
    dilation: Any
    ceil_mode: bool
    kind: str
    arrays: tuple = ()
    meta: dict = field(default_factory=dict)

    def __repr__(self) -> str:
        return (f"WindowCase(n={self.n}, shape={self.x.shape}, dtype={self.x.dtype}, kernel={self.kernel}, stride={self.stride}, "
                f"padding={self.padding}, dilation={self.dilation}, ceil_mode={self.ceil_mode}, kind={self.kind})")


def per_dim(v: Any, n: int) -> tuple[int, ...]:
    return (v,) * n if isinstance(v, int) else tuple(v)


def draw_window(rng: np.random.Generator, dilated: bool) -> tuple:
    n = int(rng.choice([1, 2, 3], p=[0.3, 0.45, 0.25]))
    kmax = {1: 5, 2: 4, 3: 3}[n]
    k = tuple(int(v) for v in rng.integers(1, kmax + 1, n))
    s = None if rng.random() < 0.2 else tuple(int(v) for v in rng.integers(1, 4, n))
    d = tuple(int(v) for v in rng.integers(1, 4, n)) if dilated and rng.random() < 0.4 else (1,) * n
    p = tuple(int(rng.integers(0, kk // 2 + 1)) for kk in k)
    smax = {1: 10, 2: 7, 3: 5}[n]
    spatial = tuple(int(v) for v in rng.integers(1, smax + 1, n))
    lead = () if rng.random() < 0.2 else (int(rng.integers(1, 3)),)
    shape = (*lead, int(rng.integers(1, 3)), *spatial)
    # Exercise every argument form torch accepts: int, per-dim tuple.
    as_int = lambda v: v[0] if v is not None and len(set(v)) == 1 and rng.random() < 0.5 else v  # noqa: E731
    return n, shape, as_int(k), as_int(s), as_int(p), as_int(d), bool(rng.integers(2))


# ---------------------------------------------------------------------------------------
# Max pooling (+ min pooling and unpooling on the same configurations)
# ---------------------------------------------------------------------------------------

N_MAX = 345


def _max_cases() -> tuple[list[WindowCase], int]:
    rng = np.random.default_rng(4001)
    cases, torch_errors = [], 0
    while len(cases) < N_MAX:
        n, shape, k, s, p, d, cm = draw_window(rng, dilated=True)
        kind = str(rng.choice(["ties", "specials", "int8", "int32"], p=[0.55, 0.2, 0.15, 0.1]))
        x = draw_data(rng, shape, kind)
        try:
            tv, ti = T_MAX[n](t(x), k, s, p, d, cm, return_indices=True)
        except RuntimeError:
            # torch rejects it (output size < 1): so must jaxconv, before compiling anything.
            with pytest.raises(ValueError):
                J_MAX[n](x, k, s, p, d, cm)
            torch_errors += 1
            continue
        c = WindowCase(n, x, k, s, p, d, cm, kind)
        spatial = shape[-n:]
        kk, ss, dd, pp = per_dim(k, n), per_dim(s if s is not None else k, n), per_dim(d, n), per_dim(p, n)
        out = tuple(tv.shape[-n:])
        c.meta.update(tv=tv.numpy(), ti=ti.numpy(), empty=has_empty_window(spatial, kk, ss, pp, dd, out))
        floating = x.dtype == np.float32
        g = rng.integers(-3, 4, tv.shape).astype(np.float32)  # integer cotangents: sums are exact in any order
        # Unpooling back to the input size is defined when it is within a stride of the default size.
        try:
            unpool_output_shape(out, kk, ss, pp, spatial)
            unpool = not c.meta["empty"]
        except ValueError:
            unpool = False
        # Every configuration checks max values, indices and gradients, and unpools where it can; the
        # min mirror, the values-only path and the unpooling gradient each run on a share (compile time).
        c.meta.update(floating=floating, unpool=unpool, min=len(cases) % 3 == 0, v_only=len(cases) % 4 == 0,
                      unpool_grad=len(cases) % 3 == 1)
        gu = rng.integers(-3, 4, x.shape).astype(np.float32)
        c.arrays = (x, g, gu)
        cases.append(c)
    return cases, torch_errors


def _max_program(c: WindowCase, x, g, gu):
    f = lambda z: J_MAX[c.n](z, c.kernel, c.stride, c.padding, c.dilation, c.ceil_mode, True)  # noqa: E731
    res: dict[str, Any] = {}
    if c.meta["floating"]:
        (v, i), vjp = jax.vjp(f, x)
        res["grad"] = vjp((g, np.zeros(i.shape, FLOAT0)))[0]
    else:
        v, i = f(x)
    res["v"], res["i"] = v, i
    if c.meta["v_only"]:
        res["v_only"] = J_MAX[c.n](x, c.kernel, c.stride, c.padding, c.dilation, c.ceil_mode)
    if c.meta["min"]:
        fm = lambda z: J_MIN[c.n](z, c.kernel, c.stride, c.padding, c.dilation, c.ceil_mode, True)  # noqa: E731
        if c.meta["floating"]:
            (mv, mi), vjp = jax.vjp(fm, x)
            res["min_grad"] = vjp((g, np.zeros(mi.shape, FLOAT0)))[0]
        else:
            mv, mi = fm(x)
        res["min_v"], res["min_i"] = mv, mi
    if c.meta["unpool"]:
        spatial = c.x.shape[-c.n:]
        fu = lambda z: J_UNPOOL[c.n](z, i, c.kernel, c.stride, c.padding, spatial)  # noqa: E731
        if c.meta["floating"] and c.meta["unpool_grad"]:
            u, vjp = jax.vjp(fu, v)
            res["unpool_grad"] = vjp(gu)[0]
        else:
            u = fu(v)
        res["unpool"] = u
    return res


@functools.cache
def max_cases() -> tuple[list[WindowCase], int]:
    return _max_cases()


def _check_max(c: WindowCase, r: dict) -> None:
    assert r["v"].dtype == c.x.dtype and r["i"].dtype == INDEX_DTYPE, c
    # values, shapes and indices vs torch
    assert_same(r["v"], c.meta["tv"], "values", c)
    if c.meta["v_only"]:
        assert_same(r["v_only"], c.meta["tv"], "values without indices", c)
    assert_same(r["i"], c.meta["ti"], "indices", c)
    # vs the NumPy reference
    rv, ri = R.max_pool_ref(batched(c.x, c.n), c.kernel, c.stride, c.padding, c.dilation, c.ceil_mode)
    assert_same(batched(r["v"], c.n), rv.astype(c.x.dtype), "values vs reference", c)
    assert_same(batched(r["i"], c.n), ri, "indices vs reference", c)
    # gradients: torch's backward writes outside the plane for empty windows (its own bug): skipped there
    if c.meta["floating"] and not c.meta["empty"]:
        tx = t(c.x).requires_grad_(True)
        T_MAX[c.n](tx, c.kernel, c.stride, c.padding, c.dilation, c.ceil_mode).backward(t(c.arrays[1]))
        assert_same(r["grad"], tx.grad.numpy(), "gradient", c)


def _check_min(c: WindowCase, r: dict) -> None:
    # The mirror: min_pool(x) is max_pool(-x) negated (for integers ~x, which maps min to max exactly).
    mirror = -c.x if c.meta["floating"] else ~c.x
    tv, ti = T_MAX[c.n](t(mirror), c.kernel, c.stride, c.padding, c.dilation, c.ceil_mode, return_indices=True)
    assert_same(r["min_v"], -tv.numpy() if c.meta["floating"] else ~tv.numpy(), "min values", c)
    assert_same(r["min_i"], ti.numpy(), "min indices", c)
    if c.meta["floating"] and not c.meta["empty"]:
        tx = t(mirror).requires_grad_(True)
        T_MAX[c.n](tx, c.kernel, c.stride, c.padding, c.dilation, c.ceil_mode).backward(t(c.arrays[1]))
        assert_same(r["min_grad"], tx.grad.numpy(), "min gradient", c)


def _check_unpool(c: WindowCase, r: dict) -> None:
    spatial = c.x.shape[-c.n:]
    ref = R.max_unpool_ref(batched(c.meta["tv"], c.n), batched(c.meta["ti"], c.n), spatial)
    assert_same(batched(r["unpool"], c.n), ref.astype(c.x.dtype), "unpool vs reference", c)
    if c.meta["floating"]:  # torch's max_unpool has no integer kernels
        tv = t(c.meta["tv"]).requires_grad_(True)
        tu = T_UNPOOL[c.n](tv, t(c.meta["ti"]), c.kernel, c.stride, c.padding, output_size=spatial)
        assert_same(r["unpool"], tu.detach().numpy(), "unpool", c)
        if c.meta["unpool_grad"]:
            tu.backward(t(c.arrays[2]))
            assert_same(r["unpool_grad"], tv.grad.numpy(), "unpool gradient", c)


# The first 2 of 12 chunks run by default, the rest in the slow lane (tests/lanes.py: CI's budget,
# ~7 s a chunk on the 2-core dev machine; test_properties' campaign[max_min_pool] draws more at random).
@pytest.mark.parametrize("chunk", lanes.prefix(range(-(-N_MAX // GROUP)), 2))
def test_max_min_unpool_family(chunk):
    """Random max pools: values, shapes, indices and gradients (ties, NaN, +-inf, int8, int32, dilation, ceil
    mode); min pools as their mirror; unpooling the results back to the input size, with its gradient.

    oracle: torch CPU and the NumPy loop reference (tests/reference.py).
    """
    cases = max_cases()[0][chunk * GROUP:(chunk + 1) * GROUP]
    for c, r in zip(cases, run_grouped(_max_program, cases)):
        _check_max(c, r)
        if c.meta["min"]:
            _check_min(c, r)
        if c.meta["unpool"]:
            _check_unpool(c, r)


def test_max_family_coverage():
    """The max family covers what it claims: every kind of data, dims, dilation, ceil mode, gradients, unpooling,
    and draws that torch rejects (which jaxconv rejects too, checked while drawing). oracle: the drawn cases."""
    cases, torch_errors = max_cases()
    assert len(cases) >= 300 and torch_errors > 10
    assert {c.kind for c in cases} == {"ties", "specials", "int8", "int32"} and {c.n for c in cases} == {1, 2, 3}
    assert sum(c.ceil_mode for c in cases) > 100 and sum(per_dim(c.dilation, c.n) != (1,) * c.n for c in cases) > 50
    assert sum(c.meta["floating"] and not c.meta["empty"] for c in cases) >= 200
    assert sum(c.meta["min"] for c in cases) >= 100
    assert sum(c.meta["unpool"] for c in cases) >= 300
    assert sum(c.meta["unpool"] and c.meta["unpool_grad"] and c.meta["floating"] for c in cases) >= 60
    assert sum(c.x.ndim == c.n + 1 for c in cases) > 30  # unbatched inputs


# ---------------------------------------------------------------------------------------
# Average and power-average pooling
# ---------------------------------------------------------------------------------------

N_AVG = 300
LP_NORMS = (1, 2, 3, 1.5, 4.0, math.inf, -math.inf)


def _avg_cases() -> list[WindowCase]:
    rng = np.random.default_rng(4002)
    cases = []
    while len(cases) < N_AVG:
        n, shape, k, s, p, _, cm = draw_window(rng, dilated=False)
        cip = bool(rng.integers(2))
        div = None if rng.random() < 0.7 or n == 1 else int(rng.choice([1, 2, 3, 5, -2]))  # torch: none in 1-d
        x = rng.standard_normal(shape).astype(np.float32)
        args = (k, s, p, cm, cip) + ((div,) if n > 1 else ())
        try:
            tv = T_AVG[n](t(x), *args)
        except RuntimeError as e:
            if "smaller than kernel size" not in str(e):  # torch's avg_pool3d-only input-size rule: not copied
                with pytest.raises(ValueError):
                    J_AVG[n](x, *args)
            continue
        c = WindowCase(n, x, k, s, p, 1, cm, "avg", meta=dict(args=args, tv=tv.numpy(), cip=cip, div=div))
        norm = LP_NORMS[len(cases) % len(LP_NORMS)]
        kl = per_dim(k, n)[0] if n == 1 else k
        # Positive inputs away from 0 for fractional powers; mixed signs for integer ones.
        fractional = not (math.isinf(norm) or float(norm).is_integer())
        xl = np.abs(x) + 0.25 if fractional or rng.random() < 0.5 else x
        try:
            tl = T_LP[n](t(xl), norm, kl, s, cm)
            c.meta.update(lp=True, norm=norm, kl=kl, tl=tl.numpy())
        except RuntimeError:
            c.meta.update(lp=False)
        g = rng.standard_normal(tv.shape).astype(np.float32)
        gl = rng.standard_normal(c.meta["tl"].shape).astype(np.float32) if c.meta["lp"] else np.zeros((1,), np.float32)
        c.arrays = (x, g, xl, gl)
        cases.append(c)
    return cases


def _avg_program(c: WindowCase, x, g, xl, gl):
    res: dict[str, Any] = {}
    v, vjp = jax.vjp(lambda z: J_AVG[c.n](z, *c.meta["args"]), x)
    res["v"], res["grad"] = v, vjp(g)[0]
    if c.meta["lp"]:
        lv, vjp = jax.vjp(lambda z: J_LP[c.n](z, c.meta["norm"], c.meta["kl"], c.stride, c.ceil_mode), xl)
        res["lp"], res["lp_grad"] = lv, vjp(gl)[0]
    return res


@functools.cache
def avg_cases() -> list[WindowCase]:
    return _avg_cases()


def _check_avg(c: WindowCase, r: dict) -> None:
    assert_same(r["v"], c.meta["tv"], "values", c, exact=False)
    tx = t(c.x).requires_grad_(True)
    T_AVG[c.n](tx, *c.meta["args"]).backward(t(c.arrays[1]))
    assert_same(r["grad"], tx.grad.numpy(), "gradient", c, exact=False)
    ref = R.avg_pool_ref(batched(c.x, c.n), c.kernel, c.stride, c.padding, c.ceil_mode, c.meta["cip"], c.meta["div"])
    assert_same(batched(r["v"], c.n), ref, "values vs reference", c, exact=False, tol=1e-5)


def _check_lp(c: WindowCase, r: dict) -> None:
    xl, norm = c.arrays[2], c.meta["norm"]
    assert_same(r["lp"], c.meta["tl"], f"lp values p={norm}", c, exact=False, tol=2e-5)
    ref = R.lp_pool_ref(batched(xl, c.n), norm, per_dim(c.kernel, c.n), c.stride, c.ceil_mode)
    assert_same(batched(r["lp"], c.n), ref, f"lp values vs reference p={norm}", c, exact=False, tol=2e-5)
    if np.isfinite(c.meta["tl"]).all():
        tx = t(xl).requires_grad_(True)
        T_LP[c.n](tx, norm, c.meta["kl"], c.stride, c.ceil_mode).backward(t(c.arrays[3]))
        assert_same(r["lp_grad"], tx.grad.numpy(), f"lp gradient p={norm}", c, exact=False, tol=1e-4)


# The first 2 of 10 chunks run by default, the rest in the slow lane (tests/lanes.py: CI's budget,
# ~4 s a chunk on the 2-core dev machine; test_properties' campaign[avg_pool] draws more at random).
@pytest.mark.parametrize("chunk", lanes.prefix(range(-(-N_AVG // GROUP)), 2))
def test_avg_lp_family(chunk):
    """Random average pools (ceil mode, count_include_pad, divisor_override) and, on the same windows, Lp pools
    with p in {1, 2, 3, 1.5, 4, inf, -inf} on both signs of input: values and gradients.

    oracle: torch CPU (values, gradients) and the NumPy loop reference (values).
    """
    cases = avg_cases()[chunk * GROUP:(chunk + 1) * GROUP]
    for c, r in zip(cases, run_grouped(_avg_program, cases)):
        _check_avg(c, r)
        if c.meta["lp"]:
            _check_lp(c, r)


def test_avg_family_coverage():
    """The average/Lp family covers divisor overrides, ceil mode with padding counted, and 250+ Lp pools.
    oracle: the drawn cases."""
    cases = avg_cases()
    assert len(cases) >= 300 and {c.n for c in cases} == {1, 2, 3}
    assert sum(c.meta["div"] is not None for c in cases) > 30 and sum(c.ceil_mode and c.meta["cip"] for c in cases) > 50
    assert sum(c.meta["lp"] for c in cases) >= 250


# ---------------------------------------------------------------------------------------
# Adaptive pooling
# ---------------------------------------------------------------------------------------

N_ADAPTIVE = 300


@dataclass
class AdaptiveCase:
    n: int
    x: np.ndarray
    xi: np.ndarray
    output_size: Any
    arrays: tuple = ()
    meta: dict = field(default_factory=dict)


def _adaptive_cases() -> list[AdaptiveCase]:
    rng = np.random.default_rng(4003)
    cases = []
    for j in range(N_ADAPTIVE):
        n = int(rng.choice([1, 2, 3], p=[0.3, 0.45, 0.25]))
        smax = {1: 12, 2: 8, 3: 5}[n]
        spatial = tuple(int(v) for v in rng.integers(1, smax + 1, n))
        out = [int(rng.integers(1, sz + 3)) if n == 1 or rng.random() < 0.85 else None for sz in spatial]  # torch: None from 2-d
        output_size = out[0] if n == 1 and out[0] is not None and rng.random() < 0.5 else tuple(out)
        lead = () if rng.random() < 0.2 else (int(rng.integers(1, 3)),)
        shape = (*lead, int(rng.integers(1, 3)), *spatial)
        x = rng.standard_normal(shape).astype(np.float32)
        xi = draw_data(rng, shape, "specials" if j % 5 == 0 else "ties")
        c = AdaptiveCase(n, x, xi, output_size)
        c.meta["tv"] = T_AAVG[n](t(x), output_size).numpy()
        tm, ti = T_AMAX[n](t(xi), output_size, True)
        c.meta.update(tm=tm.numpy(), ti=ti.numpy())
        g = rng.standard_normal(c.meta["tv"].shape).astype(np.float32)
        gm = rng.integers(-3, 4, c.meta["tm"].shape).astype(np.float32)
        c.arrays = (x, g, xi, gm)
        cases.append(c)
    return cases


def _adaptive_program(c: AdaptiveCase, x, g, xi, gm):
    v, vjp = jax.vjp(lambda z: J_AAVG[c.n](z, c.output_size), x)
    (m, i), vjpm = jax.vjp(lambda z: J_AMAX[c.n](z, c.output_size, True), xi)
    return dict(v=v, grad=vjp(g)[0], m=m, i=i, mgrad=vjpm((gm, np.zeros(i.shape, FLOAT0)))[0])


@functools.cache
def adaptive_cases() -> list[AdaptiveCase]:
    return _adaptive_cases()


# The first 2 of 10 chunks run by default, the rest in the slow lane (tests/lanes.py: CI's budget,
# ~7 s a chunk on the 2-core dev machine; test_properties' campaign[adaptive_pool] draws more at random).
@pytest.mark.parametrize("chunk", lanes.prefix(range(-(-N_ADAPTIVE // GROUP)), 2))
def test_adaptive_family(chunk):
    """Random adaptive avg and max pools (bins larger and smaller than the input, None entries): values,
    indices, gradients. oracle: torch CPU and the NumPy loop reference."""
    cases = adaptive_cases()[chunk * GROUP:(chunk + 1) * GROUP]
    for c, r in zip(cases, run_grouped(_adaptive_program, cases)):
        info = dict(n=c.n, shape=c.x.shape, output_size=c.output_size)
        assert_same(r["v"], c.meta["tv"], "adaptive avg", info, exact=False)
        tx = t(c.x).requires_grad_(True)
        T_AAVG[c.n](tx, c.output_size).backward(t(c.arrays[1]))
        assert_same(r["grad"], tx.grad.numpy(), "adaptive avg gradient", info, exact=False)
        assert_same(r["m"], c.meta["tm"], "adaptive max", info)
        assert_same(r["i"], c.meta["ti"], "adaptive max indices", info)
        tx = t(c.xi).requires_grad_(True)
        T_AMAX[c.n](tx, c.output_size).backward(t(c.arrays[3]))
        assert_same(r["mgrad"], tx.grad.numpy(), "adaptive max gradient", info)
        assert_same(batched(r["v"], c.n), R.adaptive_avg_pool_ref(batched(c.x, c.n), c.output_size), "adaptive avg vs reference",
                    info, exact=False, tol=1e-5)
        rv, ri = R.adaptive_max_pool_ref(batched(c.xi, c.n), c.output_size)
        assert_same(batched(r["m"], c.n), rv.astype(np.float32), "adaptive max vs reference", info)
        assert_same(batched(r["i"], c.n), ri, "adaptive max indices vs reference", info)


# ---------------------------------------------------------------------------------------
# The seeds' worked examples
# ---------------------------------------------------------------------------------------

SEED_002_X = np.array([[1, 2, 0, 3, 1], [0, 1, 2, 3, 1], [1, 2, 1, 0, 0], [5, 2, 3, 1, 1], [2, 1, 0, 1, 1]], np.float32)


def test_seed_002_max_pool_ceil_mode():
    """Max pool 3 on seed 002's 5x5 example: [[2, 3], [5, 1]] with ceil_mode, [[2]] without. oracle: the seed's numbers."""
    x = SEED_002_X[None, None]
    np.testing.assert_array_equal(jaxconv.max_pool2d(x, 3, ceil_mode=True)[0, 0], [[2, 3], [5, 1]])
    np.testing.assert_array_equal(jaxconv.max_pool2d(x, 3)[0, 0], [[2]])


def test_seed_003_max_pool_examples():
    """Seed 003 on arange(16) 4x4: the kernels/strides/paddings of the seed, the 2-channel case and the 28->14 shapes.

    oracle: the seed's numbers.
    """
    x = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4)
    np.testing.assert_array_equal(jaxconv.max_pool2d(x, 3)[0, 0], [[10]])
    np.testing.assert_array_equal(jaxconv.max_pool2d(x, 3, padding=1, stride=2)[0, 0], [[5, 7], [13, 15]])
    np.testing.assert_array_equal(jaxconv.max_pool2d(x, (2, 4), padding=(1, 2), stride=(2, 3))[0, 0], [[1, 3], [9, 11], [13, 15]])
    x2 = np.concatenate([x, x + 1], axis=1)
    y = jaxconv.max_pool2d(x2, 3, padding=1, stride=2)
    np.testing.assert_array_equal(y[0], [[[5, 7], [13, 15]], [[6, 8], [14, 16]]])
    img = np.zeros((1, 16, 28, 28), np.float32)
    assert jaxconv.max_pool2d(img, 2).shape == (1, 16, 14, 14)
    assert jaxconv.avg_pool2d(img, 2, stride=2).shape == (1, 16, 14, 14)


# ---------------------------------------------------------------------------------------
# Corner rules, one at a time
# ---------------------------------------------------------------------------------------

def test_nan_rule_last_nan_wins_and_propagates():
    """A NaN makes the window NaN; the index is the window's last NaN; the gradient goes there. oracle: torch CPU."""
    x = np.array([[[1.0, np.nan, 3.0, np.nan, 0.0, -np.inf, np.inf, np.inf]]], np.float32)
    for args in ((5,), (3, 1, 1), (2, 2, 0, 2), (4, 3, 2, 1, True)):
        v, i = jaxconv.max_pool1d(x, *args, return_indices=True)
        tv, ti = F.max_pool1d(t(x), *args, return_indices=True)
        np.testing.assert_array_equal(v, tv.numpy())
        np.testing.assert_array_equal(i, ti.numpy())
        tx = t(x).requires_grad_(True)
        F.max_pool1d(tx, *args).sum().backward()
        np.testing.assert_array_equal(jax.grad(lambda z, a=args: jaxconv.max_pool1d(z, *a).sum())(x), tx.grad.numpy())


def test_lowest_values_point_at_the_first_real_element():
    """Windows of -inf (floats) or the dtype minimum (ints) with padding: the index is the first real element.

    oracle: torch CPU.
    """
    for dt in (np.float32, np.int8, np.int32):
        low = -np.inf if dt == np.float32 else np.iinfo(dt).min
        x = np.full((1, 1, 4, 5), low, dt)
        v, i = jaxconv.max_pool2d(x, 3, 2, 1, return_indices=True)
        tv, ti = F.max_pool2d(t(x), 3, 2, 1, return_indices=True)
        np.testing.assert_array_equal(v, tv.numpy())
        np.testing.assert_array_equal(i, ti.numpy())
        assert v.dtype == dt


def test_dilated_window_without_input_element_reports_torchs_index():
    """A dilated window that skips the whole input: value -inf and torch's (out-of-plane) index; no gradient.

    oracle: torch CPU (forward only: its backward writes outside the plane here).
    """
    x = np.array([[[1.0, 2.0]]], np.float32)
    v, i = jaxconv.max_pool1d(x, 2, 1, 1, 3, return_indices=True)
    tv, ti = F.max_pool1d(t(x), 2, 1, 1, 3, return_indices=True)
    np.testing.assert_array_equal(v, tv.numpy())
    np.testing.assert_array_equal(i, ti.numpy())
    np.testing.assert_array_equal(jax.grad(lambda z: jnp.where(jnp.isfinite(v), jaxconv.max_pool1d(z, 2, 1, 1, 3), 0).sum())(x),
                                  np.zeros_like(x))


def test_avg_divisor_rules():
    """count_include_pad counts zero padding but not the ceil-mode overhang; divisor_override replaces both.

    oracle: the divisors worked by hand.
    """
    x = np.arange(1.0, 6.0, dtype=np.float32)[None, None]
    # windows [-1, 0], [1, 2], [3, 4]; ceil adds [5, 6) (overhang only).
    np.testing.assert_allclose(jaxconv.avg_pool1d(x, 2, 2, 1, True, True)[0, 0], [1 / 2, 5 / 2, 9 / 2])
    np.testing.assert_allclose(jaxconv.avg_pool1d(x, 2, 2, 0, True)[0, 0], [3 / 2, 7 / 2, 5 / 1])
    np.testing.assert_allclose(jaxconv.avg_pool1d(x, 2, 2, 1, True, False)[0, 0], [1, 5 / 2, 9 / 2])
    np.testing.assert_allclose(jaxconv.avg_pool2d(np.ones((1, 3, 3), np.float32), 2, 2, 1, divisor_override=3)[0],
                               [[1 / 3, 2 / 3], [2 / 3, 4 / 3]])


def test_lp_pool_ceil_mode_scales_the_overhang_window():
    """torch builds lp_pool from avg_pool: a ceil-mode window with one of two elements gives (2 * x^p)^(1/p).

    oracle: torch CPU and the formula.
    """
    x = np.array([[[3.0, 4.0, 2.0]]], np.float32)
    y = jaxconv.lp_pool1d(x, 2, 2, ceil_mode=True)
    np.testing.assert_allclose(y[0, 0], [5.0, math.sqrt(8.0)], rtol=1e-6)
    np.testing.assert_allclose(y, F.lp_pool1d(t(x), 2, 2, ceil_mode=True).numpy(), rtol=1e-6)


def test_lp_pool_zero_window_has_zero_gradient():
    """A window summing to 0 gets gradient 0 (torch's sign * relu construction), not NaN. oracle: torch CPU."""
    x = np.zeros((1, 1, 4, 4), np.float32)
    x[0, 0, :2, :2] = [[1.0, 2.0], [0.5, 1.0]]
    g = jax.grad(lambda z: jaxconv.lp_pool2d(z, 2, 2).sum())(x)
    tx = t(x).requires_grad_(True)
    F.lp_pool2d(tx, 2, 2).sum().backward()
    np.testing.assert_allclose(g, tx.grad.numpy(), rtol=1e-6)
    assert np.isfinite(np.asarray(g)).all()


def test_max_unpool_duplicates_last_wins_and_gradient_reads_every_index():
    """Duplicate indices: the last input in scan order wins; the gradient gathers at every index.

    oracle: torch CPU with one thread (with more, torch splits each plane across threads and
    duplicates race), and the NumPy reference.
    """
    x = np.array([[[[1.0, 2.0], [3.0, 4.0]]]], np.float32)
    idx = np.array([[[[5, 5], [0, 5]]]], np.int64)
    y = jaxconv.max_unpool2d(x, idx, 2)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        ty = F.max_unpool2d(t(x), t(idx), 2)
    finally:
        torch.set_num_threads(threads)
    np.testing.assert_array_equal(y, ty.numpy())
    np.testing.assert_array_equal(y, R.max_unpool_ref(x, idx, (4, 4)))
    g = np.arange(16.0, dtype=np.float32).reshape(1, 1, 4, 4)
    tx = t(x).requires_grad_(True)
    F.max_unpool2d(tx, t(idx), 2).backward(t(g))
    np.testing.assert_array_equal(jax.vjp(lambda z: jaxconv.max_unpool2d(z, idx, 2), x)[1](g)[0], tx.grad.numpy())


def test_max_unpool_output_size_forms():
    """output_size as spatial or full (N, C, *S) shape, and the default size. oracle: torch CPU."""
    rng = np.random.default_rng(0)
    for shape, sizes in (((2, 3, 6, 8), (None, (6, 8))), ((2, 3, 7, 9), ((7, 9), (2, 3, 7, 9)))):
        x = rng.standard_normal(shape).astype(np.float32)
        y, i = jaxconv.max_pool2d(x, 2, return_indices=True)
        ty, ti = F.max_pool2d(t(x), 2, return_indices=True)
        for size in sizes:
            np.testing.assert_array_equal(jaxconv.max_unpool2d(y, i, 2, output_size=size),
                                          F.max_unpool2d(ty, ti, 2, output_size=size).numpy())


def test_max_unpool_drops_out_of_range_indices():
    """Indices outside the output plane are dropped (torch raises; jit cannot check values). oracle: the documented rule."""
    x = np.array([[[1.0, 2.0, 3.0]]], np.float32)
    y = jaxconv.max_unpool1d(x, np.array([[[0, 9, -1]]], np.int32), 2)
    np.testing.assert_array_equal(y, [[[1.0, 0.0, 0.0, 0.0, 0.0, 0.0]]])


# ---------------------------------------------------------------------------------------
# Larger windows (the separable and scatter paths), dtypes, padding vocabulary
# ---------------------------------------------------------------------------------------

def test_large_windows_match_torch():
    """Windows of more than 64 taps (dim-by-dim folds, scatter VJP) and uneven adaptive bins. oracle: torch CPU."""
    rng = np.random.default_rng(7)
    x = rng.integers(-2, 3, (2, 2, 11, 12)).astype(np.float32)
    x[0, 0, 3, 4] = np.nan
    (v, i), vjp = jax.vjp(lambda z: jaxconv.max_pool2d(z, (9, 8), (2, 3), (4, 3), 1, True, True), x)
    g = rng.integers(-2, 3, v.shape).astype(np.float32)
    tx = t(x).requires_grad_(True)
    tv, ti = F.max_pool2d(tx, (9, 8), (2, 3), (4, 3), 1, True, True)
    np.testing.assert_array_equal(v, tv.detach().numpy())
    np.testing.assert_array_equal(i, ti.numpy())
    tv.backward(t(g))
    np.testing.assert_array_equal(vjp((g, np.zeros(i.shape, FLOAT0)))[0], tx.grad.numpy())
    xf = rng.standard_normal((1, 2, 10, 11)).astype(np.float32)
    np.testing.assert_allclose(jaxconv.avg_pool2d(xf, (9, 10), 1, (4, 5)), F.avg_pool2d(t(xf), (9, 10), 1, (4, 5)).numpy(),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(jaxconv.adaptive_avg_pool2d(xf, 1), F.adaptive_avg_pool2d(t(xf), 1).numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_pools(dtype):
    """Half types keep their dtype; sums accumulate in float32 as torch's opmath. oracle: torch CPU."""
    x = torch.randn(2, 3, 9, 8, generator=torch.Generator().manual_seed(0)).to(dtype)
    jdt = {torch.float16: jnp.float16, torch.bfloat16: jnp.bfloat16}[dtype]
    xj = jnp.asarray(x.float().numpy()).astype(jdt)
    y = jaxconv.avg_pool2d(xj, 3, 2, 1)
    assert y.dtype == jdt
    # Both round a float32 mean to the half type; allow one unit of its last place (float16: 2**-10
    # relative, bfloat16: 2**-7) for a disagreement in that final rounding.
    tol = {torch.float16: 2e-3, torch.bfloat16: 1e-2}[dtype]
    np.testing.assert_allclose(np.asarray(y, np.float32), F.avg_pool2d(x, 3, 2, 1).float().numpy(), rtol=tol, atol=tol)
    np.testing.assert_array_equal(np.asarray(jaxconv.max_pool2d(xj, 3, 2, 1), np.float32), F.max_pool2d(x, 3, 2, 1).float().numpy())


def test_padding_vocabulary():
    """Pairs equal padding by hand with the never-winning value (max) or zeros (avg); "same" equals XLA's SAME.

    oracle: lax.reduce_window on explicitly padded input.
    """
    x = np.random.default_rng(1).standard_normal((1, 2, 7, 6)).astype(np.float32)
    pads = ((2, 0), (1, 3))
    xm = np.pad(x, ((0, 0), (0, 0), *pads), constant_values=-np.inf)
    np.testing.assert_array_equal(jaxconv.max_pool2d(x, 3, 2, pads), lax.reduce_window(xm, -np.inf, lax.max, (1, 1, 3, 3), (1, 1, 2, 2), "VALID"))
    xa = np.pad(x, ((0, 0), (0, 0), *pads))
    np.testing.assert_allclose(jaxconv.avg_pool2d(x, 3, 2, pads), lax.reduce_window(xa, 0.0, lax.add, (1, 1, 3, 3), (1, 1, 2, 2), "VALID") / 9,
                               rtol=1e-6)
    same = lax.reduce_window(x, -np.inf, lax.max, (1, 1, 3, 3), (1, 1, 2, 2), "SAME")
    np.testing.assert_array_equal(jaxconv.max_pool2d(x, 3, 2, "same"), same)
    assert jaxconv.max_pool2d(x, 3, 1, "same", dilation=2).shape == x.shape
    # Explicit pairs are not held to torch's kernel_size // 2 limit; a window wholly in padding is -inf.
    assert np.isneginf(np.asarray(jaxconv.max_pool1d(x[0, :, 0], 2, 2, ((4, 0),))))[:, 0].all()


def test_generic_window_reducer():
    """window_reduce() folds any binary function over the windows: sum pools and product pools. oracle: NumPy window loops."""
    x = np.random.default_rng(2).uniform(0.5, 1.5, (2, 3, 6, 7)).astype(np.float32)
    s = jaxconv.window_reduce(x, 0.0, lax.add, (3, 2), (2, 2), 1, ceil_mode=True)
    xp = np.pad(x, ((0, 0), (0, 0), (1, 2), (1, 2)))
    ref = np.stack([np.stack([xp[:, :, 2 * i:2 * i + 3, 2 * j:2 * j + 2].sum((2, 3)) for j in range(s.shape[3])], -1)
                    for i in range(s.shape[2])], -2)
    np.testing.assert_allclose(s, ref, rtol=1e-6)
    prod = jaxconv.window_reduce(x[0], 1.0, lax.mul, 2, spatial_dims=2)
    np.testing.assert_allclose(prod, x[0, :, :6, :6].reshape(3, 3, 2, 3, 2).prod((2, 4)), rtol=1e-6)
    big = jaxconv.window_reduce(x, -np.inf, lax.max, (6, 7))  # 42 taps per window, scan order
    np.testing.assert_array_equal(big[..., 0, 0], x.max((2, 3)))


@pytest.mark.parametrize(("op", "args", "shape"), [
    ("avg", (2,), (2, 3, 8, 6)),                    # tiling windows: reshape-reduce tangent
    ("avg", ((2, 3), None, 0, False), (2, 3, 9, 7)),  # floor mode drops the remainder
    ("avg3", ((2, 1, 3),), (1, 2, 4, 5, 6)),
    ("adaptive", ((4, 3),), (2, 3, 8, 6)),           # regular adaptive bins
    ("adaptive", (1,), (2, 3, 5, 7)),                # global average pool
    ("lp", (2, (2, 3)), (2, 3, 8, 9)),
    ("lp", (3.0, 2, None, True), (2, 3, 7, 7)),      # ceil mode overhang: not tiling, the fold
])
def test_tiling_sums_gradients(op, args, shape):
    """Tiling windows (stride = kernel, no padding) use a custom JVP (fold forward, reshape-reduce tangent):
    values and gradients equal torch's; forward mode equals the VJP's transpose; second order runs.

    oracle: torch CPU autograd (float64), and jax.vjp/jax.jvp agreeing (<v, J u> = <J^T v, u>).
    """
    jf = {"avg": jaxconv.avg_pool2d, "avg3": jaxconv.avg_pool3d, "adaptive": jaxconv.adaptive_avg_pool2d,
          "lp": jaxconv.lp_pool2d}[op]
    tf = {"avg": F.avg_pool2d, "avg3": F.avg_pool3d, "adaptive": F.adaptive_avg_pool2d, "lp": F.lp_pool2d}[op]
    rng = np.random.default_rng(len(shape) * 100 + sum(shape))
    x = rng.uniform(0.5, 2.0, shape)
    with jax.enable_x64(True):
        xj = jnp.asarray(x)
        y, vjp = jax.vjp(lambda z: jf(z, *args), xj)
        ct = rng.standard_normal(y.shape)
        (gx,) = vjp(jnp.asarray(ct))
        u = rng.standard_normal(shape)
        _, jv = jax.jvp(lambda z: jf(z, *args), (xj,), (jnp.asarray(u),))
        h = jax.grad(lambda z: jnp.sum(jax.grad(lambda w: jnp.sum(jnp.sin(jf(w, *args))))(z) ** 2))(xj)
        gx, jv, y, h = map(np.asarray, (gx, jv, y, h))
    xt = torch.tensor(x, requires_grad=True)
    yt = tf(xt, *args)
    yt.backward(torch.tensor(ct))
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(gx, xt.grad.numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(np.sum(ct * jv), np.sum(gx * u), rtol=1e-10)
    assert np.isfinite(h).all()


# ---------------------------------------------------------------------------------------
# Transformations
# ---------------------------------------------------------------------------------------

def test_jit_and_vmap():
    """Under jit, vmap and vmap-of-grad the pools equal their per-example eager results. oracle: torch CPU."""
    rng = np.random.default_rng(3)
    x = rng.integers(-2, 3, (4, 2, 3, 7, 6)).astype(np.float32)
    f = lambda z: jaxconv.max_pool2d(z, 3, 2, 1, 2, True, True)  # noqa: E731
    v, i = jax.jit(jax.vmap(f))(x)
    tv, ti = F.max_pool2d(t(x.reshape(8, 3, 7, 6)), 3, 2, 1, 2, True, True)
    np.testing.assert_array_equal(np.asarray(v).reshape(tv.shape), tv.numpy())
    np.testing.assert_array_equal(np.asarray(i).reshape(ti.shape), ti.numpy())
    g = jax.jit(jax.vmap(jax.grad(lambda z: jaxconv.max_pool2d(z, 3, 2, 1, 2).sum())))(x)
    tx = t(x.reshape(8, 3, 7, 6)).requires_grad_(True)
    F.max_pool2d(tx, 3, 2, 1, 2).sum().backward()
    np.testing.assert_array_equal(np.asarray(g).reshape(tx.shape), tx.grad.numpy())
    a = jax.vmap(lambda z: jaxconv.avg_pool2d(z, 2, 1, 1, True, False))(x)
    np.testing.assert_allclose(np.asarray(a).reshape(8, 3, 8, 7), F.avg_pool2d(t(x.reshape(8, 3, 7, 6)), 2, 1, 1, True, False).numpy(),
                               rtol=1e-6)
    ad = jax.vmap(lambda z: jaxconv.adaptive_max_pool2d(z, (3, 4)))(x)
    np.testing.assert_array_equal(np.asarray(ad).reshape(8, 3, 3, 4), F.adaptive_max_pool2d(t(x.reshape(8, 3, 7, 6)), (3, 4)).numpy())
    y, idx = jaxconv.max_pool2d(x[0], 2, return_indices=True)
    u = jax.jit(jax.vmap(lambda a, b: jaxconv.max_unpool2d(a, b, 2, output_size=(7, 6))))(y, idx)
    ty, ti = F.max_pool2d(t(x[0]), 2, return_indices=True)
    np.testing.assert_array_equal(u, F.max_unpool2d(ty, ti, 2, output_size=(7, 6)))


def test_indices_dtype_and_forward_mode():
    """Indices are int64 under jax_enable_x64 and int32 otherwise; forward-mode AD is refused (custom VJP).

    oracle: jax's canonical int64 dtype; jax's custom_vjp rule.
    """
    _, i = jaxconv.max_pool2d(np.zeros((1, 1, 4, 4), np.float32), 2, return_indices=True)
    assert i.dtype == INDEX_DTYPE
    with pytest.raises(TypeError, match="custom_vjp"):
        jax.jvp(lambda z: jaxconv.max_pool2d(z, 2), (jnp.zeros((1, 1, 4, 4)),), (jnp.ones((1, 1, 4, 4)),))


# ---------------------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------------------

X = np.ones((1, 2, 6, 6), np.float32)


@pytest.mark.parametrize(("call", "exc", "match"), [
    (lambda: jaxconv.max_pool2d(X, 0), ValueError, r"max_pool2d: `kernel_size` must be >= 1"),
    (lambda: jaxconv.max_pool2d(X, 2, (1, 0)), ValueError, r"max_pool2d: `stride` must be >= 1"),
    (lambda: jaxconv.avg_pool2d(X, 2, 1, -1), ValueError, r"avg_pool2d: `padding` must be >= 0"),
    (lambda: jaxconv.max_pool2d(X, 3, 1, 2), ValueError, r"max_pool2d: `padding` must be <= kernel_size // 2"),
    (lambda: jaxconv.max_pool1d(X[0], 7), ValueError, r"max_pool1d: `kernel_size`.*larger than the padded input"),
    (lambda: jaxconv.max_pool2d(X, 2, dilation=0), ValueError, r"max_pool2d: `dilation` must be >= 1"),
    (lambda: jaxconv.max_pool3d(X[0], 2), ValueError, r"max_pool3d: `input` must have rank 4"),
    (lambda: jaxconv.max_pool2d(X.astype(bool), 2), TypeError, r"max_pool2d: `input` must have a floating or integer dtype"),
    (lambda: jaxconv.avg_pool2d(X.astype(np.int32), 2), TypeError, r"avg_pool2d: `input` must have a floating dtype"),
    (lambda: jaxconv.avg_pool2d(X, 2, divisor_override=0), ValueError, r"`divisor_override` must be a non-zero int"),
    (lambda: jaxconv.lp_pool2d(X, 0, 2), ValueError, r"lp_pool2d: `norm_type` must be non-zero"),
    (lambda: jaxconv.adaptive_avg_pool2d(X, (2, 2, 2)), ValueError, r"adaptive_avg_pool2d: `output_size` must have 2 entries"),
    # output_size 0 is torch's empty result (tests/test_zero_size.py); below 0 is the range error
    (lambda: jaxconv.adaptive_max_pool2d(X, -1), ValueError, r"adaptive_max_pool2d: `output_size` must be >= 0"),
    (lambda: jaxconv.adaptive_avg_pool1d(X[0], 1.5), TypeError, r"adaptive_avg_pool1d: `output_size` must be an int"),
    (lambda: jaxconv.max_unpool2d(X[:, :, :3, :3], np.zeros((1, 2, 3, 2), np.int32), 2), ValueError,
     r"max_unpool2d: `indices` must have the input's shape"),
    (lambda: jaxconv.max_unpool2d(X[:, :, :3, :3], np.zeros((1, 2, 3, 3), np.float32), 2), TypeError,
     r"max_unpool2d: `indices` must have an integer dtype"),
    (lambda: jaxconv.max_unpool2d(X[:, :, :3, :3], np.zeros((1, 2, 3, 3), np.int32), 2, output_size=(9, 6)), ValueError,
     r"max_unpool2d: `output_size` must lie strictly between \(4, 4\) and \(8, 8\)"),
    (lambda: jaxconv.max_unpool2d(X[:, :, :3, :3], np.zeros((1, 2, 3, 3), np.int32), 2, output_size=(6,)), ValueError,
     r"max_unpool2d: `output_size` must be a sequence of 2 or 4 ints"),
    (lambda: jaxconv.max_unpool2d(X[:, :, :3, :3], np.zeros((1, 2, 3, 3), np.int32), 2, padding="same"), ValueError,
     r"max_unpool2d: `padding` must be ints or \(lo, hi\) pairs"),
    (lambda: jaxconv.window_reduce(X, 0.0, "add", 2), TypeError, r"window_reduce: `reduce_fn` must be a binary function"),
    (lambda: jaxconv.window_reduce(X, 0.0, lax.add, (2, 2, 2, 2)), ValueError, r"window_reduce: `input` must have rank 5"),
])
def test_bad_input(call, exc, match):
    """Each bad argument raises jaxconv's error naming it, before XLA. oracle: the error rule of shapes.arg_error."""
    with pytest.raises(exc, match=match):
        call()


def test_torch_rejects_the_same_padding():
    """torch's limit is half the (undilated) kernel size, for int padding only. oracle: torch CPU."""
    with pytest.raises(RuntimeError, match="pad should be"):
        F.max_pool2d(t(X), 3, 1, 2, dilation=2)
    with pytest.raises(ValueError, match="kernel_size // 2"):
        jaxconv.max_pool2d(X, 3, 1, 2, dilation=2)
    assert jaxconv.max_pool2d(X, 3, 1, ((2, 2), (2, 2)), dilation=2).shape == (1, 2, 6, 6)


@pytest.mark.parametrize("k, s, materialized", [(3, 2, True), (2, 2, False)])
def test_pool_values_not_materialised(k, s, materialized):
    """oracle: the exported StableHLO and the compiled CPU program. On CPU an overlapping max pool's winners
    are materialised for its VJP (a trivial window-2 reduction over a trailing axis: XLA:CPU would fuse the
    argmax fold into every tap's placement); non-overlapping windows are cheaper recomputed; the values never
    are (a reduction after the fold made XLA:CPU's YNNPACK fusion copy out every tap: 3 -> 42 ms for a 3x3 s2
    pool on (8, 64, 112, 112)), so the forward alone compiles to loops with no reduce-window; a program
    exported for cuda/tpu has none of it."""
    x = jax.ShapeDtypeStruct((2, 3, 9, 9), jnp.float32)
    marker = "window_dimensions = array<i64: 1, 1, 1, 1, 2>"

    def step(x):
        y = jaxconv.max_pool2d(x, k, s, k // 2)
        return y, jax.grad(lambda x: jnp.sum(jaxconv.max_pool2d(x, k, s, k // 2) ** 2))(x)
    fwd = jax.jit(lambda x: jaxconv.max_pool2d(x, k, s, k // 2))
    for f, expected in ((fwd, 0), (step, 1)):
        cpu = jax.export.export(jax.jit(f), platforms=("cpu",))(x).mlir_module()
        accel = jax.export.export(jax.jit(f), platforms=("cuda", "tpu"))(x).mlir_module()
        assert cpu.count(marker) == (expected if materialized else 0)
        assert marker not in accel
    assert "reduce-window" not in fwd.lower(jnp.zeros((8, 64, 112, 112))).compile().as_text()


@pytest.mark.parametrize(("n", "kernel", "shape", "kind"), [
    (2, 2, (2, 3, 9, 8), "max"),              # floor mode leaves a row no window reads
    (2, (2, 1), (2, 3, 6, 5), "min"),
    (1, 2, (3, 4, 11), "max"),
    (3, (2, 2, 1), (2, 6, 6, 4), "max"),      # a channels-last 2-d pool (jaxconv/nn/layout.py's form)
    (2, 3, (2, 2, 9, 10), "max"),             # nine taps: the winners are materialised first
    (2, 4, (1, 2, 8, 8), "min"),
    (3, 2, (1, 2, 4, 4, 5), "max"),           # three tiled dims: the stride-phase placement
    (2, 9, (1, 2, 19, 18), "max"),            # 81 taps, past MAX_UNROLLED_TAPS: the scatter-add
])
def test_tiling_extreme_pool_gradients(n, kernel, shape, kind):
    """Tiling max/min pools (stride = kernel, no padding) take their CPU VJP as one select over the tiles
    (jaxconv/pool/extreme.py's _place_tiles, at most two tiled dims) with torch's winner rule: ties to the first,
    the last NaN, -inf windows to their first element; the compiled program has no scatter and no transpose
    (the stride-phase placement interleaves its phases with one; windows of more than 64 taps scatter), and a
    program exported for cuda/tpu scatters.

    oracle: torch CPU autograd (min pools as the mirror of max pools).
    """
    rng = np.random.default_rng(sum(shape) + n)
    x = rng.integers(-2, 3, shape).astype(np.float32)  # ties in most windows
    flat = x.reshape(-1)
    flat[rng.choice(flat.size, 3, replace=False)] = [np.nan, np.inf, -np.inf]
    x[(0,) * (x.ndim - 1)] = -np.inf  # one all -inf window edge
    j = (J_MAX if kind == "max" else J_MIN)[n]
    y, vjp = jax.vjp(lambda z: j(z, kernel), jnp.asarray(x))
    ct = rng.standard_normal(y.shape).astype(np.float32)
    (gx,) = vjp(jnp.asarray(ct))
    sign = 1 if kind == "max" else -1
    tx = t(sign * x).requires_grad_(True)
    ty = T_MAX[n](tx, kernel)
    ty.backward(t(ct))
    np.testing.assert_array_equal(np.asarray(y), sign * ty.detach().numpy())
    np.testing.assert_array_equal(np.asarray(gx), tx.grad.numpy())  # d(-max(-x))/dx = the max's VJP at -x

    def grad(z):
        return jax.grad(lambda z: jnp.sum(j(z, kernel) * ct))(z)
    hlo = jax.jit(grad).lower(jnp.asarray(x)).compile().as_text()
    ks = (kernel,) * n if isinstance(kernel, int) else kernel
    if math.prod(ks) > 64:
        assert " scatter(" in hlo
    else:
        tiled = sum(k > 1 for k in ks) <= 2
        assert " scatter(" not in hlo and (" transpose(" not in hlo) == tiled
    assert "scatter" in jax.export.export(jax.jit(grad), platforms=("cuda", "tpu"))(jnp.asarray(x)).mlir_module()


def test_tiling_sum_pool_cotangent_is_materialised():
    """oracle: the exported StableHLO and torch CPU. A tiling average pool's backward broadcasts its cotangent over
    each window; on CPU the cotangent is materialised first (jaxconv/taps.py, _tile_sum_jvp: XLA:CPU recomputed a
    fused producer, LeNet's col2im input gradient, once per tap), so the CPU gradient program holds the conditional
    of jaxconv.fusion.cpu_materialize and cuda/tpu programs do not; the gradient is torch's."""
    def loss(x):
        return jnp.sum(jnp.sin(jaxconv.avg_pool2d(jnp.cos(x), 2)))
    g = jax.jit(jax.grad(loss))
    spec = jax.ShapeDtypeStruct((2, 3, 8, 6), jnp.float32)
    assert "stablehlo.case" in jax.export.export(g, platforms=("cpu",))(spec).mlir_module()
    assert "stablehlo.case" not in jax.export.export(g, platforms=("cuda", "tpu"))(spec).mlir_module()
    x = np.random.default_rng(0).standard_normal((2, 3, 8, 6)).astype(np.float32)
    xt = torch.tensor(x, requires_grad=True)
    torch.sin(F.avg_pool2d(torch.cos(xt), 2)).sum().backward()
    np.testing.assert_allclose(np.asarray(g(jnp.asarray(x))), xt.grad.numpy(), rtol=1e-5, atol=1e-6)
