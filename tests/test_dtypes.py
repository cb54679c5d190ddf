"""Dtypes and special values: float16, bfloat16, float32, float64 and integer max/min pooling.

For every op: the output dtype is the input dtype (indices: int32, int64 under x64), and
the values agree with torch CPU in the same dtype to the dtype's tolerance (``TOL``,
relative to the output's magnitude, in the manner of jax's own test tolerances).
float64 runs inside ``jax.enable_x64(True)``. Integer inputs to the max/min pools
(and lp_pool with ``p = +-inf``, adaptive max pooling, unpooling) keep their dtype and
are exact, padding included (it reads the dtype's extreme, so it never wins). NaN and
+-inf propagate exactly as in torch, op by op: same NaN positions, same infinities,
same max-pool indices.

oracle: torch CPU in the same dtype (where torch CPU lacks the dtype: torch float32 on
the same rounded inputs, rounded to the dtype), and tests/reference.py for integer pools.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest

torch = pytest.importorskip("torch")  # torch is the oracle
import torch.nn.functional as F  # noqa: E402

import jaxconv  # noqa: E402
from tests import reference as ref  # noqa: E402

FLOATS = ("float16", "bfloat16", "float32", "float64")
# Tolerance per dtype, relative to max(1, max |expected|): a few units in the last place
# of the dtype (eps: f16 9.8e-4, bf16 7.8e-3, f32 1.2e-7, f64 2.2e-16), since the two
# sides may round intermediate sums differently (torch CPU and XLA both accumulate half
# types in float32, but not always at the same points).
TOL = {"float16": 4e-3, "bfloat16": 3e-2, "float32": 2e-6, "float64": 1e-13}
TORCH_DT = {"float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32, "float64": torch.float64,
            "int8": torch.int8, "uint8": torch.uint8, "int16": torch.int16, "int32": torch.int32, "int64": torch.int64}

R = np.random.default_rng(1234)
W2 = R.standard_normal((3, 2, 3, 3)).astype(np.float32)
W1 = R.standard_normal((3, 2, 3)).astype(np.float32)
W3 = R.standard_normal((3, 2, 2, 2, 2)).astype(np.float32)
WT = R.standard_normal((2, 3, 3, 3)).astype(np.float32)


@dataclass(frozen=True)
class Op:
    name: str
    shape: tuple[int, ...]
    jax_fn: Callable[[Any], Any]  # input array -> output (or (values, indices))
    torch_fn: Callable[[torch.Tensor], Any]
    weights: tuple[np.ndarray, ...] = ()  # cast to the input dtype on both sides


def _w(ws: tuple, i: int, like: Any) -> Any:
    w = ws[i]
    if isinstance(like, torch.Tensor):
        return torch.tensor(w).to(like.dtype)
    return jnp.asarray(w).astype(like.dtype)


OPS = [
    Op("conv1d", (2, 2, 9), lambda x: jaxconv.conv1d(x, _w((W1,), 0, x), None, 2, 1),
       lambda x: F.conv1d(x, _w((W1,), 0, x), None, 2, 1)),
    Op("conv2d", (2, 2, 6, 7), lambda x: jaxconv.conv2d(x, _w((W2,), 0, x), None, 1, 1),
       lambda x: F.conv2d(x, _w((W2,), 0, x), None, 1, 1)),
    Op("conv2d_strided_dilated", (1, 2, 7, 7), lambda x: jaxconv.conv2d(x, _w((W2,), 0, x), None, 2, 2, 2),
       lambda x: F.conv2d(x, _w((W2,), 0, x), None, 2, 2, 2)),
    Op("conv3d", (1, 2, 4, 4, 4), lambda x: jaxconv.conv3d(x, _w((W3,), 0, x), None, 1, 1),
       lambda x: F.conv3d(x, _w((W3,), 0, x), None, 1, 1)),
    Op("conv_transpose2d", (1, 2, 4, 4), lambda x: jaxconv.conv_transpose2d(x, _w((WT,), 0, x), None, 2, 1, 1),
       lambda x: F.conv_transpose2d(x, _w((WT,), 0, x), None, 2, 1, 1)),
    Op("max_pool2d", (2, 2, 7, 7), lambda x: jaxconv.max_pool2d(x, 3, 2, 1, 1, True, True),
       lambda x: F.max_pool2d(x, 3, 2, 1, 1, True, True)),
    Op("max_pool1d_dilated", (2, 2, 11), lambda x: jaxconv.max_pool1d(x, 3, 2, 1, 2, False, True),
       lambda x: F.max_pool1d(x, 3, 2, 1, 2, False, True)),
    Op("max_pool3d", (1, 2, 4, 5, 5), lambda x: jaxconv.max_pool3d(x, 2, 2, 1, 1, False, True),
       lambda x: F.max_pool3d(x, 2, 2, 1, 1, False, True)),
    Op("min_pool2d", (2, 2, 6, 6), lambda x: jaxconv.min_pool2d(x, 2, 2, 1, 1, False, True),
       lambda x: tuple(v if i else -v for i, v in enumerate(F.max_pool2d(-x, 2, 2, 1, 1, False, True)))),
    Op("avg_pool2d", (2, 2, 7, 7), lambda x: jaxconv.avg_pool2d(x, 3, 2, 1, True, False),
       lambda x: F.avg_pool2d(x, 3, 2, 1, True, False)),
    Op("avg_pool1d", (2, 2, 9), lambda x: jaxconv.avg_pool1d(x, 2, 2, 1), lambda x: F.avg_pool1d(x, 2, 2, 1)),
    Op("avg_pool3d_divisor", (1, 2, 4, 4, 4), lambda x: jaxconv.avg_pool3d(x, 2, 2, 0, False, True, 3),
       lambda x: F.avg_pool3d(x, 2, 2, 0, False, True, 3)),
    Op("lp_pool2d", (2, 2, 6, 6), lambda x: jaxconv.lp_pool2d(x, 2, 2), lambda x: F.lp_pool2d(x, 2, 2)),
    Op("adaptive_avg_pool2d", (2, 2, 7, 5), lambda x: jaxconv.adaptive_avg_pool2d(x, (3, 4)),
       lambda x: F.adaptive_avg_pool2d(x, (3, 4))),
    Op("adaptive_max_pool2d", (2, 2, 7, 5), lambda x: jaxconv.adaptive_max_pool2d(x, (3, 4), True),
       lambda x: F.adaptive_max_pool2d(x, (3, 4), True)),
    Op("max_unpool2d", (2, 2, 6, 6),
       lambda x: jaxconv.max_unpool2d(*jaxconv.max_pool2d(x, 2, return_indices=True), 2),
       lambda x: F.max_unpool2d(*F.max_pool2d(x, 2, return_indices=True), 2)),
    Op("interpolate_nearest", (1, 2, 5, 4), lambda x: jaxconv.interpolate(x, scale_factor=1.7, mode="nearest"),
       lambda x: F.interpolate(x, scale_factor=1.7, mode="nearest")),
    Op("interpolate_nearest_exact", (1, 2, 5, 4), lambda x: jaxconv.interpolate(x, size=(7, 3), mode="nearest-exact"),
       lambda x: F.interpolate(x, size=(7, 3), mode="nearest-exact")),
    Op("interpolate_linear", (1, 2, 6), lambda x: jaxconv.interpolate(x, size=9, mode="linear", align_corners=True),
       lambda x: F.interpolate(x, size=9, mode="linear", align_corners=True)),
    Op("interpolate_bilinear", (1, 2, 5, 4), lambda x: jaxconv.interpolate(x, scale_factor=2.5, mode="bilinear"),
       lambda x: F.interpolate(x, scale_factor=2.5, mode="bilinear")),
    Op("interpolate_bicubic", (1, 2, 5, 4), lambda x: jaxconv.interpolate(x, size=(8, 7), mode="bicubic"),
       lambda x: F.interpolate(x, size=(8, 7), mode="bicubic")),
    Op("interpolate_trilinear", (1, 1, 3, 4, 3), lambda x: jaxconv.interpolate(x, scale_factor=2, mode="trilinear"),
       lambda x: F.interpolate(x, scale_factor=2, mode="trilinear")),
    Op("interpolate_area", (1, 2, 7, 6), lambda x: jaxconv.interpolate(x, size=(3, 4), mode="area"),
       lambda x: F.interpolate(x, size=(3, 4), mode="area")),
    Op("interpolate_bilinear_antialias", (1, 2, 9, 8),
       lambda x: jaxconv.interpolate(x, size=(4, 3), mode="bilinear", antialias=True),
       lambda x: F.interpolate(x, size=(4, 3), mode="bilinear", antialias=True)),
    Op("unfold", (2, 2, 5, 5), lambda x: jaxconv.unfold(x, 2, 1, 1, 2), lambda x: F.unfold(x, 2, 1, 1, 2)),
    Op("fold", (2, 8, 9), lambda x: jaxconv.fold(x, (5, 5), 2, 1, 1, 2), lambda x: F.fold(x, (5, 5), 2, 1, 1, 2)),
    Op("pad_constant", (2, 2, 4, 5), lambda x: jaxconv.pad(x, ((1, 2), (0, 3)), "constant", 1.5),
       lambda x: F.pad(x, (0, 3, 1, 2), "constant", 1.5)),
    Op("pad_reflect", (2, 2, 4, 5), lambda x: jaxconv.pad(x, ((1, 2), (3, 0)), "reflect"),
       lambda x: F.pad(x, (3, 0, 1, 2), "reflect")),
    Op("pad_replicate", (2, 2, 4, 5), lambda x: jaxconv.pad(x, ((2, 2), (1, 0)), "replicate"),
       lambda x: F.pad(x, (1, 0, 2, 2), "replicate")),
    Op("pad_circular", (2, 2, 4, 5), lambda x: jaxconv.pad(x, ((1, 3), (2, 2)), "circular"),
       lambda x: F.pad(x, (2, 2, 1, 3), "circular")),
    Op("pixel_shuffle", (1, 8, 3, 2), lambda x: jaxconv.pixel_shuffle(x, 2), lambda x: F.pixel_shuffle(x, 2)),
    Op("pixel_unshuffle", (1, 2, 4, 6), lambda x: jaxconv.pixel_unshuffle(x, 2), lambda x: F.pixel_unshuffle(x, 2)),
]
OPS_BY_NAME = {op.name: op for op in OPS}


def _as_tuple(v: Any) -> tuple:
    return tuple(v) if isinstance(v, (tuple, list)) else (v,)


def _torch_in_dtype(op: Op, x32: np.ndarray, dt: str) -> tuple:
    """torch's answer in ``dt``; torch float32 rounded to ``dt`` where torch CPU lacks the dtype."""
    xt = torch.tensor(x32).to(TORCH_DT[dt])
    try:
        return tuple(t.detach() for t in _as_tuple(op.torch_fn(xt)))
    except (RuntimeError, NotImplementedError):
        out = _as_tuple(op.torch_fn(xt.to(torch.float32)))
        return tuple(t.to(TORCH_DT[dt]) if t.is_floating_point() else t for t in out)


def _run_jax(op: Op, x32: np.ndarray, dt: str) -> tuple:
    x = jnp.asarray(x32).astype(dt)
    assert x.dtype == jnp.dtype(dt)
    return tuple(_as_tuple(op.jax_fn(x)))


def _compare(op: Op, got: tuple, want: tuple, dt: str, exact: bool = False) -> None:
    assert len(got) == len(want), op.name
    for k, (g, w) in enumerate(zip(got, want)):
        w = w.detach().to(torch.float64).numpy() if w.is_floating_point() else w.numpy()
        g64 = np.asarray(g.astype(jnp.float32) if g.dtype == jnp.bfloat16 else g).astype(np.float64)
        assert g64.shape == w.shape, f"{op.name}: shape {g64.shape} != torch {w.shape}"
        if k == 1:  # indices
            np.testing.assert_array_equal(g64, w, err_msg=f"{op.name} indices ({dt})")
            continue
        finite = np.isfinite(w)
        scale = max(1.0, float(np.max(np.abs(w[finite]))) if finite.any() else 1.0)
        atol = 0.0 if exact else TOL[dt] * scale
        np.testing.assert_allclose(g64, w, rtol=0, atol=atol, equal_nan=True, err_msg=f"{op.name} ({dt})")


def _input(op: Op, dt: str) -> np.ndarray:
    x = np.random.default_rng(abs(hash(op.name)) % 2**32).standard_normal(op.shape).astype(np.float32)
    if dt in ("float32", "float64"):
        return x
    return np.asarray(jnp.asarray(x).astype(dt).astype(jnp.float32))  # representable in dt


@pytest.mark.parametrize("dt", FLOATS)
@pytest.mark.parametrize("op", OPS, ids=[o.name for o in OPS])
def test_float_dtypes(op: Op, dt: str):
    """Output dtype = input dtype, values within TOL[dt] of torch in the same dtype.

    oracle: torch CPU in ``dt`` (float32 rounded to ``dt`` where torch CPU lacks it).
    """
    x32 = _input(op, dt)
    if dt == "float64":
        with jax.enable_x64(True):
            got = _run_jax(op, x32, dt)
            idx_dtype = jnp.int64
    else:
        got = _run_jax(op, x32, dt)
        idx_dtype = jnp.int32
    assert got[0].dtype == jnp.dtype(dt), f"{op.name}: output dtype {got[0].dtype} for input {dt}"
    if len(got) > 1:
        assert got[1].dtype == idx_dtype, f"{op.name}: index dtype {got[1].dtype}"
    want = _torch_in_dtype(op, x32, dt)
    selection = op.name.startswith(("max_pool", "min_pool", "adaptive_max", "max_unpool", "pad", "pixel", "unfold",
                                    "interpolate_nearest"))
    _compare(op, got, want, dt, exact=selection)


# ---------------------------------------------------------------------------------------
# integer max/min pooling
# ---------------------------------------------------------------------------------------

INTS = ("int8", "uint8", "int16", "int32")


def _int_input(shape: tuple[int, ...], dt: str, seed: int) -> np.ndarray:
    info = np.iinfo(dt)
    rng = np.random.default_rng(seed)
    x = rng.integers(info.min, int(info.max) + 1, size=shape, dtype=np.int64)
    # plenty of ties, and the dtype's extremes (which padding must never beat)
    x[rng.random(shape) < 0.3] = info.min
    x[rng.random(shape) < 0.1] = info.max
    return x.astype(dt)


INT_CASES = [
    ("max_pool1d", (2, 2, 9), dict(kernel_size=3, stride=2, padding=1, dilation=2)),
    ("max_pool2d", (2, 2, 7, 6), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
    ("max_pool3d", (1, 2, 4, 5, 4), dict(kernel_size=2, stride=1, padding=1)),
    ("min_pool2d", (2, 2, 7, 6), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
    ("adaptive_max_pool2d", (2, 2, 7, 5), dict(output_size=(3, 4))),
]


@pytest.mark.parametrize("dt", INTS)
@pytest.mark.parametrize(("name", "shape", "kw"), INT_CASES, ids=[c[0] for c in INT_CASES])
def test_integer_pools(name: str, shape: tuple, kw: dict, dt: str):
    """Integer max/min pools keep the dtype exactly, padding never wins (all-minimum windows too).

    oracle: tests/reference.max_pool_ref / adaptive_max_pool_ref (integer dtypes kept) and
    torch CPU's integer max_pool (torch has no integer adaptive pooling).
    """
    x = _int_input(shape, dt, len(name) + len(dt))
    fn = getattr(jaxconv, name)
    y, idx = fn(jnp.asarray(x), **kw, return_indices=True)
    assert y.dtype == jnp.dtype(dt) and idx.dtype == jnp.int32
    n = len(shape) - 2
    if name.startswith("adaptive"):
        yr, ir = ref.adaptive_max_pool_ref(x, kw["output_size"])
    elif name.startswith("min"):
        # the mirror image: the reference max pool of the order-reversed values (exact for ints)
        info = np.iinfo(dt)
        flipped = (int(info.max) + int(info.min) - x.astype(np.int64)).astype(dt)
        yr, ir = ref.max_pool_ref(flipped, kw["kernel_size"], kw.get("stride"), kw.get("padding", 0), kw.get("dilation", 1),
                                  kw.get("ceil_mode", False))
        yr = (int(info.max) + int(info.min) - yr.astype(np.int64)).astype(dt)
    else:
        yr, ir = ref.max_pool_ref(x, kw["kernel_size"], kw.get("stride"), kw.get("padding", 0), kw.get("dilation", 1),
                                  kw.get("ceil_mode", False))
        tfn = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}[n]
        try:
            yt, it = tfn(torch.tensor(x), **kw, return_indices=True)
        except RuntimeError:
            pass  # torch CPU lacks this integer dtype for max pooling: the reference decides
        else:
            np.testing.assert_array_equal(np.asarray(y), yt.numpy())
            np.testing.assert_array_equal(np.asarray(idx), it.numpy())
    assert yr.dtype == np.dtype(dt)
    np.testing.assert_array_equal(np.asarray(y), yr)
    np.testing.assert_array_equal(np.asarray(idx), ir)


@pytest.mark.parametrize("dt", ("int8", "uint8", "int32"))
def test_integer_selection_ops_keep_dtype(dt: str):
    """lp_pool with p = +-inf, unpooling, pad and pixel shuffle on integers: dtype kept, exact.

    oracle: tests/reference.lp_pool_ref (a max pool of |x| for p = inf), max_unpool_ref,
    pad_ref, pixel_shuffle_ref.
    """
    x = _int_input((1, 4, 6, 6), dt, 7)
    if dt != "uint8":
        x = np.maximum(x, -int(np.iinfo(dt).max)).astype(dt)  # |x| must fit the dtype (torch's abs wraps INT_MIN)
    for p in (math.inf, -math.inf):
        y = jaxconv.lp_pool2d(jnp.asarray(x), p, 2)
        assert y.dtype == jnp.dtype(dt)
        np.testing.assert_array_equal(np.asarray(y), ref.lp_pool_ref(x, p, 2))
    v, i = jaxconv.max_pool2d(jnp.asarray(x), 2, return_indices=True)
    u = jaxconv.max_unpool2d(v, i, 2)
    assert u.dtype == jnp.dtype(dt)
    np.testing.assert_array_equal(np.asarray(u), ref.max_unpool_ref(np.asarray(v), np.asarray(i), (6, 6)).astype(dt))
    for mode in ("constant", "reflect", "replicate", "circular"):
        y = jaxconv.pad(jnp.asarray(x), ((1, 2), (2, 1)), mode)
        assert y.dtype == jnp.dtype(dt)
        np.testing.assert_array_equal(np.asarray(y), ref.pad_ref(x, ((1, 2), (2, 1)), mode).astype(dt))
    y = jaxconv.pixel_shuffle(jnp.asarray(x), 2)
    assert y.dtype == jnp.dtype(dt)
    np.testing.assert_array_equal(np.asarray(y), ref.pixel_shuffle_ref(x, 2).astype(dt))


def test_integer_max_pool_int64_under_x64():
    """int64 inputs (x64 enabled) keep int64 and the extremes; indices are int64.

    oracle: torch CPU's int64 max_pool2d.
    """
    x = _int_input((1, 2, 5, 5), "int64", 3)
    with jax.enable_x64(True):
        y, i = jaxconv.max_pool2d(jnp.asarray(x), 3, 2, 1, return_indices=True)
        assert y.dtype == jnp.int64 and i.dtype == jnp.int64
        yt, it = F.max_pool2d(torch.tensor(x), 3, 2, 1, return_indices=True)
        np.testing.assert_array_equal(np.asarray(y), yt.numpy())
        np.testing.assert_array_equal(np.asarray(i), it.numpy())


# ---------------------------------------------------------------------------------------
# NaN and +-inf propagation
# ---------------------------------------------------------------------------------------

def _special_input(op: Op, pattern: str) -> np.ndarray:
    x = np.random.default_rng(len(op.name)).standard_normal(op.shape).astype(np.float32)
    flat = x.reshape(-1)
    n = flat.size
    if pattern == "nan":
        flat[[1, n // 2, n - 2]] = np.nan
    elif pattern == "inf":
        flat[[0, n // 3]] = np.inf
        flat[[2 * n // 3, n - 1]] = -np.inf
    else:  # mixed: NaN next to infinities
        flat[[n // 4, n // 4 + 1]] = [np.nan, np.inf]
        flat[[n // 2, n // 2 + 1, 3 * n // 4]] = [-np.inf, np.nan, np.inf]
    return x


@pytest.mark.parametrize("pattern", ("nan", "inf", "mixed"))
@pytest.mark.parametrize("op", OPS, ids=[o.name for o in OPS])
def test_nan_inf_propagation(op: Op, pattern: str):
    """NaN positions, infinities and max-pool indices equal torch's (float32).

    oracle: torch CPU float32 on the same input.
    """
    x = _special_input(op, pattern)
    got = _run_jax(op, x, "float32")
    want = tuple(t.detach() for t in _as_tuple(op.torch_fn(torch.tensor(x))))
    for k, (g, w) in enumerate(zip(got, want)):
        g, w = np.asarray(g), w.numpy()
        if k == 1:
            np.testing.assert_array_equal(g, w, err_msg=f"{op.name} indices")
            continue
        np.testing.assert_array_equal(np.isnan(g), np.isnan(w), err_msg=f"{op.name}: NaN positions ({pattern})")
        np.testing.assert_array_equal(np.isposinf(g), np.isposinf(w), err_msg=f"{op.name}: +inf positions ({pattern})")
        np.testing.assert_array_equal(np.isneginf(g), np.isneginf(w), err_msg=f"{op.name}: -inf positions ({pattern})")
        fin = np.isfinite(w)
        np.testing.assert_allclose(g[fin], w[fin], rtol=1e-5, atol=1e-5, err_msg=op.name)


def test_tolerance_table_is_documented():
    """The README's dtype table states these tolerances. oracle: README.md."""
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    assert "## Transformations and sharding" in readme, "README lacks its Transformations and sharding section"
    for dt, tol in TOL.items():
        assert f"{tol:g}" in readme, f"README does not state the {dt} tolerance {tol:g}"

