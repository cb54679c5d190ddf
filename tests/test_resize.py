"""Resizing (jaxconv.resize): torch CPU and NumPy-loop parity per mode, index tables, dtypes, gradients,
transforms, errors.

Every new shape compiles once, so the random parity configs of one mode are checked inside a single
jitted function (this also runs ``interpolate`` under ``jit``); the other tests call it eagerly.
"""

from __future__ import annotations

import functools
import math
import random
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

torch = pytest.importorskip("torch")  # torch is the oracle
import torch.nn.functional as F  # noqa: E402

import jaxconv  # noqa: E402
from jaxconv.resize import MODES, _axis_plan, resize_spec  # noqa: E402
from tests.reference import interpolate_ref  # noqa: E402

MODE_NDIMS = {"nearest": (1, 2, 3), "nearest-exact": (1, 2, 3), "area": (1, 2, 3), "linear": (1,), "bilinear": (2,),
              "bicubic": (2,), "trilinear": (3,), "lanczos": (2,)}
UINT8_MODES = ("nearest", "nearest-exact", "bilinear", "bicubic", "lanczos")
EXACT_MODES = ("nearest", "nearest-exact")
N_PER_MODE = 100
# The parity batches compile hundreds of distinct shapes; XLA's LLVM optimisation level changes
# only how long that takes (there is no fast-math at any level), so they compile at level 0.
FAST_COMPILE = {"xla_backend_optimization_level": 0, "xla_llvm_disable_expensive_passes": True}


def run_jit(f, *args):
    """``jax.jit(f)(*args)``, compiled with FAST_COMPILE."""
    return jax.jit(f).lower(*args).compile(compiler_options=FAST_COMPILE)(*args)


def random_config(mode: str, rng: random.Random) -> dict:
    """A random valid interpolate call for `mode`: sizes up and down, integer and fractional scale factors
    (scalar or per dim), recompute_scale_factor None/True/False, align_corners None/True/False, antialias."""
    while True:
        n = rng.choice(MODE_NDIMS[mode])
        spatial = tuple(rng.randint(1, {1: 13, 2: 9, 3: 5}[n]) for _ in range(n))
        kw: dict = {"mode": mode}
        if rng.random() < 0.45:
            size = tuple(rng.randint(1, {1: 26, 2: 17, 3: 8}[n]) for _ in range(n))
            kw["size"] = size[0] if rng.random() < 0.2 else size
            out = (size[0],) * n if isinstance(kw["size"], int) else size
        else:
            def factor() -> float:
                kind = rng.random()
                if kind < 0.3:
                    return float(rng.choice([1, 2, 2, 3, 4]))
                if kind < 0.6:
                    return rng.choice([0.5, 1.5, 2.5, 0.25, 0.75, 1.25, 1 / 3, 2 / 3])
                return round(rng.uniform(0.2, 3.2), rng.choice([1, 2, 3, 6]))
            sf = tuple(factor() for _ in range(n)) if rng.random() < 0.5 else factor()
            kw["scale_factor"] = sf
            kw["recompute_scale_factor"] = rng.choice([None, True, False])
            sfs = sf if isinstance(sf, tuple) else (sf,) * n
            out = tuple(int(i * s) for i, s in zip(spatial, sfs))
        if min(out) < 1:
            continue
        if mode not in ("nearest", "nearest-exact", "area", "lanczos"):
            kw["align_corners"] = rng.choice([None, True, False])
        if mode in ("bilinear", "bicubic"):
            kw["antialias"] = rng.random() < 0.35
        if mode == "lanczos":
            kw["antialias"] = True
        dtype = "uint8" if mode in UINT8_MODES and rng.random() < 0.15 else "float32"
        shape = (rng.randint(1, 2), rng.randint(1, 3), *spatial)
        return {"shape": shape, "dtype": dtype, "kw": kw, "out": out}


def make_input(cfg: dict, seed: int) -> np.ndarray:
    r = np.random.default_rng(seed)
    if cfg["dtype"] == "uint8":
        return r.integers(0, 256, cfg["shape"]).astype(np.uint8)
    return r.standard_normal(cfg["shape"]).astype(np.float32)


@functools.cache
def mode_cases(mode: str) -> list[tuple[dict, np.ndarray, np.ndarray]]:
    """(config, input, jaxconv output) for the mode's random configs, all computed in ONE jitted call."""
    rng = random.Random(f"resize-{mode}")
    cfgs = [random_config(mode, rng) for _ in range(N_PER_MODE)]
    xs = [make_input(c, 1000 + i) for i, c in enumerate(cfgs)]
    ys = run_jit(lambda xs: [jaxconv.interpolate(x, **c["kw"]) for x, c in zip(xs, cfgs)], xs)
    return [(c, x, np.asarray(y)) for c, x, y in zip(cfgs, xs, ys)]


def torch_interpolate(x: np.ndarray, kw: dict) -> np.ndarray:
    return F.interpolate(torch.from_numpy(x), **kw).numpy()


def torch_separable_bug(shape: tuple, dtype: str, kw: dict, out: tuple) -> bool:
    """Whether a call hits torch CPU's separable-kernel bug (torch 2.13): with antialias=True, or uint8
    bilinear/bicubic, the H pass over a width-1 image resamples every output row with row 0's weights
    (for uint8 only in the generic kernel, C > 4; torch's AVX uint8 kernel instead fails an internal
    assert for C == 3 resized to 1x1)."""
    separable = kw.get("antialias") or (dtype == "uint8" and kw["mode"] in ("bilinear", "bicubic"))
    return bool(separable) and out[-1] == 1 and out[-2] != shape[-2]


def torch_oracle(x: np.ndarray, kw: dict, out: tuple) -> np.ndarray:
    """torch CPU F.interpolate; for the calls that hit torch_separable_bug, torch's own two separable
    passes run one at a time (W pass alone, then the H pass on the column doubled to width 2), which is
    what the single call computes when the bug does not strike."""
    if not torch_separable_bug(x.shape, str(x.dtype), kw, out):
        return torch_interpolate(x, kw)
    base = {k: v for k, v in kw.items() if k not in ("size", "scale_factor", "recompute_scale_factor")}
    if "size" in kw:
        first, second = {"size": (x.shape[-2], 1)}, {"size": (out[-2], 2)}
    else:
        sf = kw["scale_factor"] if isinstance(kw["scale_factor"], tuple) else (kw["scale_factor"],) * 2
        rec = {"recompute_scale_factor": kw.get("recompute_scale_factor")}
        first, second = {"scale_factor": (1.0, sf[1]), **rec}, {"scale_factor": (sf[0], 1.0), **rec}
    w_pass = torch_interpolate(x, {**base, **first})
    return torch_interpolate(np.concatenate([w_pass, w_pass], -1), {**base, **second})[..., :1]


def check_close(got: np.ndarray, want: np.ndarray, exact: bool, ctx: str) -> None:
    assert got.shape == want.shape, f"{ctx}: shape {got.shape} != {want.shape}"
    assert got.dtype == want.dtype or want.dtype == np.float64, f"{ctx}: dtype {got.dtype} != {want.dtype}"
    if exact:
        np.testing.assert_array_equal(got, want, err_msg=ctx)
    else:
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=2e-5, err_msg=ctx)


@pytest.mark.parametrize("mode", MODES)
def test_random_parity_torch(mode):
    """oracle: torch CPU F.interpolate, 100 random configs per mode under jit (float32 to 2e-5; nearest,
    nearest-exact and every uint8 config bit-exact)."""
    seen = {"up": False, "down": False, "scale": False, "size": False, "uint8": False, "ndims": set()}
    for i, (cfg, x, y) in enumerate(mode_cases(mode)):
        want = torch_oracle(x, cfg["kw"], cfg["out"])
        ctx = f"{mode} config {i}: shape {cfg['shape']} {cfg['dtype']} {cfg['kw']}"
        check_close(y, want, mode in EXACT_MODES or cfg["dtype"] == "uint8", ctx)
        in_sp = cfg["shape"][2:]
        seen["up"] |= any(o > s for o, s in zip(cfg["out"], in_sp))
        seen["down"] |= any(o < s for o, s in zip(cfg["out"], in_sp))
        seen["scale" if "scale_factor" in cfg["kw"] else "size"] = True
        seen["uint8"] |= cfg["dtype"] == "uint8"
        seen["ndims"].add(len(in_sp))
    assert seen["up"] and seen["down"] and seen["scale"] and seen["size"]
    assert seen["ndims"] == set(MODE_NDIMS[mode])
    assert seen["uint8"] == (mode in UINT8_MODES)


@pytest.mark.parametrize("mode", [m for m in MODES if m != "lanczos"])
def test_random_parity_reference(mode):
    """oracle: NumPy loop reference (tests/reference.py interpolate_ref, float64) on the first 40 float32
    configs without antialias of each mode (the reference has no antialiasing)."""
    n = 0
    for i, (cfg, x, y) in enumerate(mode_cases(mode)):
        if cfg["dtype"] != "float32" or cfg["kw"].get("antialias"):
            continue
        kw = {k: v for k, v in cfg["kw"].items() if k != "antialias"}
        want = interpolate_ref(x, **kw)
        check_close(y, want, False, f"{mode} config {i}: {cfg}")
        n += 1
        if n == 40:  # the loop reference is slow; 40 configs per mode
            break
    assert n == 40


def probe_torch_indices(mode, nd, dtype, n_in, kw):
    """The source index torch picks for each output position along the first spatial dim (x = arange)."""
    shape = [1, 1, n_in] + [kw.pop("_other")] * (nd - 1)
    x = torch.arange(n_in, dtype=dtype).reshape([1, 1, n_in] + [1] * (nd - 1)).expand(shape).contiguous()
    t = F.interpolate(x, mode=mode, **kw)
    return t.reshape(t.shape[2], -1)[:, 0].numpy().astype(np.int64), tuple(x.shape)


def test_nearest_index_tables_exact():
    """oracle: torch CPU, 1000 probes of which input index nearest / nearest-exact pick (input = arange):
    float32 and float64 coordinates, 1-d/2-d/3-d, both of torch's 2-d kernels (chosen by output size),
    sizes, integer/fractional scale factors, recompute_scale_factor."""
    rng = random.Random(7)
    kinds = set()
    for _ in range(1000):
        mode = rng.choice(["nearest", "nearest-exact"])
        nd = rng.choice([1, 2, 2, 3])
        dtype = rng.choice([torch.float32, torch.float64])
        n_in = rng.randint(1, 300)
        # the other dims' sizes only matter through torch's 2-d kernel choice (out_h + out_w <= 128)
        other = rng.choice([1, 3, 70, 130]) if nd == 2 else rng.choice([1, 2])
        kw: dict = {"_other": other}
        if rng.random() < 0.3:
            kw["size"] = [rng.randint(1, 400)] + [other] * (nd - 1)
        else:
            sf = rng.choice([float(rng.randint(1, 4)), rng.randint(1, 16) / rng.choice([2, 3, 4, 7, 10]), rng.uniform(0.05, 5)])
            if int(n_in * sf) < 1:
                continue
            kw["scale_factor"] = [sf] + [1.0] * (nd - 1)
            kw["recompute_scale_factor"] = rng.choice([None, True, False])
        want, shape = probe_torch_indices(mode, nd, dtype, n_in, kw)
        spec = resize_spec("probe", np.empty(shape, np.float32 if dtype == torch.float32 else np.float64), mode=mode, **kw)
        kinds.add((nd, spec.legacy_nearest))
        plan = _axis_plan(spec.mode, spec.dtype, spec.in_spatial[0], spec.out_spatial[0], spec.scales[0], False, False,
                          spec.legacy_nearest)
        np.testing.assert_array_equal(plan.idx, want, err_msg=f"{mode} {nd}-d {dtype} in={n_in} {kw}")
    assert {(1, False), (2, True), (2, False), (3, False)} <= kinds


def torch_weight_matrix(mode, n_in, kw, dtype, antialias=False):
    """torch's resampling matrix along one dim, (in, out): the image of one-hot inputs."""
    eye = torch.eye(n_in, dtype=dtype)
    if mode == "linear":
        return F.interpolate(eye[None], mode=mode, **kw)[0].numpy()
    # 2-d modes: resample W of a (1, in, 1, in) stack (H stays 1, so torch's H pass is skipped)
    kw2 = {k: (1, v) if k == "size" else (1.0, v) if k == "scale_factor" else v for k, v in kw.items()}
    return F.interpolate(eye[None, :, None, :], mode=mode, antialias=antialias, **kw2)[0, :, 0, :].numpy()


def plan_matrix(plan, n_in):
    out = np.zeros((n_in, plan.idx.shape[0]), plan.w.dtype)
    valid = np.ones(plan.idx.shape, bool) if plan.valid is None else plan.valid
    for k in range(plan.idx.shape[1]):
        rows = np.nonzero(valid[:, k])[0]
        np.add.at(out, (plan.idx[rows, k], rows), plan.w[rows, k])
    return out


@pytest.mark.skipif(torch.backends.cpu.get_cpu_capability() not in ("AVX2", "AVX512"),
                    reason="torch's DEFAULT-capability kernels are built without FMA contraction, which jaxconv emulates")
def test_weight_tables_large_sizes():
    """oracle: torch CPU's own weight tables (resampling one-hot inputs) for sizes 60-900: linear and bicubic
    bit-exact in float32 and float64 (the FMAs of torch's x86-64 build included), the antialias filters
    (not modelled to the last bit) to 1e-6."""
    rng = random.Random(11)
    for trial in range(24):
        mode = ["linear", "bicubic", "bilinear-aa", "bicubic-aa", "lanczos"][trial % 5]
        n_in = rng.randint(60, 400)
        kw: dict = {}
        if trial % 3 == 0:
            sf = round(rng.uniform(0.15, 3.0), 4)
            kw = {"scale_factor": sf}
            n_out, scale = int(n_in * sf), sf
        else:
            n_out = rng.randint(60, 900)
            kw, scale = {"size": n_out}, None
        align = mode != "lanczos" and rng.random() < 0.3
        if mode != "lanczos":
            kw["align_corners"] = align
        base, aa = mode.removesuffix("-aa"), mode.endswith("-aa") or mode == "lanczos"
        for dtype in (torch.float32, torch.float64) if mode in ("linear", "bicubic") else (torch.float32,):
            want = torch_weight_matrix(base, n_in, kw, dtype, aa)
            if n_out == n_in and aa:
                continue  # torch skips the dim; the identity is tested in test_area_empty_output_and_identity
            plan = _axis_plan(base, str(dtype).split(".")[1], n_in, n_out, scale, align, aa, False)
            got = plan_matrix(plan, n_in)
            ctx = f"{mode} {dtype} in={n_in} {kw}"
            if mode in ("linear", "bicubic"):
                np.testing.assert_array_equal(got, want, err_msg=ctx)
            else:
                np.testing.assert_allclose(got, want, rtol=0, atol=1e-6, err_msg=ctx)


def test_float64_under_x64():
    """oracle: torch CPU in float64 (coordinates in double, as torch's opmath), every mode, to 1e-12."""
    rng = random.Random(64)
    cases = [(m, random_config(m, rng)) for m in MODES for _ in range(3)]
    cases = [(m, c) for m, c in cases if c["dtype"] == "float32"]
    xs = [np.random.default_rng(i).standard_normal(c["shape"]) for i, (_, c) in enumerate(cases)]
    with jax.enable_x64(True):
        ys = run_jit(lambda xs: [jaxconv.interpolate(x, **c["kw"]) for x, (_, c) in zip(xs, cases)], xs)
        for (m, c), x, y in zip(cases, xs, ys):
            assert y.dtype == jnp.float64
            np.testing.assert_allclose(np.asarray(y), torch_interpolate(x, c["kw"]), rtol=1e-12, atol=1e-12, err_msg=f"{m} {c}")


@pytest.mark.parametrize("dtype, tol", [("float16", 2e-3), ("bfloat16", 1.6e-2)])
def test_half_precision(dtype, tol):
    """oracle: torch CPU in float16 / bfloat16 (float32 arithmetic, weights stored in the input dtype),
    every mode that torch runs in that dtype; results within one unit of the last place."""
    tdt = getattr(torch, dtype)
    rng = random.Random(dtype)
    cases = []
    for mode in MODES:
        if mode == "lanczos":
            continue  # torch has no float16/bfloat16 antialias kernel; see test_antialias_half_precision
        for _ in range(2 if mode in ("bilinear", "bicubic") else 1):
            cfg = random_config(mode, rng)
            kw = {**cfg["kw"], "antialias": False} if "antialias" in cfg["kw"] else cfg["kw"]
            cases.append((kw, torch.randn(cfg["shape"]).to(tdt)))
    xs = [x.float().numpy().astype(jnp.dtype(dtype)) for _, x in cases]  # numpy casts: no compile per shape
    ys = run_jit(lambda xs: [jaxconv.interpolate(x, **kw) for x, (kw, _) in zip(xs, cases)], xs)
    for (kw, x), got in zip(cases, ys):
        want = F.interpolate(x, **kw).float().numpy()
        assert got.dtype == jnp.dtype(dtype)
        np.testing.assert_allclose(np.asarray(got).astype(np.float32), want, rtol=tol, atol=tol, err_msg=str(kw))


def test_antialias_half_precision():
    """Deliberate difference: torch CPU raises for float16/bfloat16 with antialias=True; jaxconv computes in
    float32 and rounds once. oracle: jaxconv's own float32 result rounded to the half type."""
    x = np.random.default_rng(0).standard_normal((1, 2, 13, 11)).astype(np.float32)
    for mode in ("bilinear", "bicubic", "lanczos"):
        with pytest.raises(RuntimeError):
            F.interpolate(torch.from_numpy(x).half(), size=(5, 4), mode=mode, antialias=True)
        for dtype in ("float16", "bfloat16"):
            xh = x.astype(jnp.dtype(dtype))
            got = jaxconv.interpolate(xh, size=(5, 4), mode=mode, antialias=True)
            want = jaxconv.interpolate(xh.astype(np.float32), size=(5, 4), mode=mode, antialias=True)
            np.testing.assert_array_equal(np.asarray(got), np.asarray(want).astype(jnp.dtype(dtype)))


@pytest.mark.parametrize("mode", ["bilinear", "bicubic", "lanczos"])
def test_uint8_many_channels_and_antialias(mode):
    """oracle: torch CPU (routed around torch_separable_bug), bit-exact: uint8 with 1-6 channels (torch's
    AVX kernel for C <= 4, its generic int16 fixed-point kernel above), antialias on and off, up and down."""
    rng = random.Random(mode)
    x_all, kws = [], []
    for _ in range(8):
        shape = (1, rng.randint(1, 6), rng.randint(1, 12), rng.randint(1, 12))
        kw = {"size": (rng.randint(1, 20), rng.randint(1, 20)), "mode": mode,
              "antialias": True if mode == "lanczos" else rng.random() < 0.5}
        if mode != "lanczos":
            kw["align_corners"] = rng.choice([None, True, False])
        x_all.append(np.random.default_rng(len(kws)).integers(0, 256, shape).astype(np.uint8))
        kws.append(kw)
    ys = run_jit(lambda xs: [jaxconv.interpolate(x, **kw) for x, kw in zip(xs, kws)], x_all)
    for x, kw, got in zip(x_all, kws, ys):
        assert got.dtype == jnp.uint8
        np.testing.assert_array_equal(np.asarray(got), torch_oracle(x, kw, kw["size"]), err_msg=f"{x.shape} {kw}")


def antialias_scale_quirk(cfg: dict) -> bool:
    """torch's antialias backward differs from its forward when a passed-through scale factor leaves a
    size unchanged (the forward skips that dim, the backward resamples it with 1/scale_factor)."""
    kw = cfg["kw"]
    if not kw.get("antialias") or "scale_factor" not in kw or kw.get("recompute_scale_factor"):
        return False
    sfs = kw["scale_factor"] if isinstance(kw["scale_factor"], tuple) else (kw["scale_factor"],) * 2
    return any(o == i and s != 1 for o, i, s in zip(cfg["out"], cfg["shape"][2:], sfs))


@pytest.mark.parametrize("mode", MODES)
def test_gradients_torch(mode):
    """oracle: torch CPU autograd, input gradients of sum(y * g) on 6 float32 configs per mode, one jitted
    grad for all of them (configs hitting torch's antialias quirks are skipped: there torch's gradient is
    not the gradient of its own forward, see antialias_scale_quirk and torch_separable_bug)."""
    cases = [(c, x) for c, x, _ in mode_cases(mode) if c["dtype"] == "float32" and not antialias_scale_quirk(c)
             and not torch_separable_bug(c["shape"], "float32", c["kw"], c["out"])][:6]
    gs = [np.random.default_rng(i).standard_normal(c["shape"][:2] + c["out"]).astype(np.float32) for i, (c, _) in enumerate(cases)]

    def loss(xs):
        return sum((jaxconv.interpolate(x, **c["kw"]) * g).sum() for x, (c, _), g in zip(xs, cases, gs))

    grads = run_jit(jax.grad(loss), [x for _, x in cases])
    for (c, x), g, got in zip(cases, gs, grads):
        tx = torch.tensor(x, requires_grad=True)
        (F.interpolate(tx, **c["kw"]) * torch.from_numpy(g)).sum().backward()
        np.testing.assert_allclose(np.asarray(got), tx.grad.numpy(), rtol=1e-5, atol=5e-5, err_msg=f"{mode} {c}")


def test_vmap_jvp_and_linearity():
    """oracle: the per-example loop (vmap) and linearity (the JVP of a linear map is the map of the tangent)."""
    xs = np.random.default_rng(0).standard_normal((3, 2, 2, 5, 7)).astype(np.float32)
    for kw in ({"size": (4, 9), "mode": "bicubic"}, {"scale_factor": (2.5, 0.6), "mode": "nearest"},
               {"size": (3, 3), "mode": "bilinear", "antialias": True}):
        f = functools.partial(jaxconv.interpolate, **kw)
        batched = np.asarray(jax.vmap(f)(xs))
        for x, y in zip(xs, batched):
            np.testing.assert_allclose(y, f(x), rtol=1e-6, atol=1e-6, err_msg=str(kw))
        _, ty = jax.jvp(f, (xs[0],), (xs[1],))
        np.testing.assert_allclose(ty, f(xs[1]), rtol=1e-6, atol=1e-6, err_msg=str(kw))


def test_seed003_upsample_nearest_x2():
    """oracle: seed 003 (F.interpolate(x, scale_factor=2, mode="nearest"): (1,16,28,28) -> (1,16,56,56)),
    torch CPU, and pixel repetition."""
    x = np.random.default_rng(3).random((1, 16, 28, 28)).astype(np.float32)
    y = jaxconv.interpolate(jnp.asarray(x), scale_factor=2, mode="nearest")
    assert y.shape == (1, 16, 56, 56)
    np.testing.assert_array_equal(y, torch_interpolate(x, {"scale_factor": 2, "mode": "nearest"}))
    np.testing.assert_array_equal(y, np.repeat(np.repeat(x, 2, axis=2), 2, axis=3))
    np.testing.assert_array_equal(jaxconv.upsample(jnp.asarray(x), scale_factor=2), y)


def test_deprecated_upsample_functions():
    """oracle: torch CPU F.upsample, F.upsample_nearest, F.upsample_bilinear (align_corners=True)."""
    x = np.random.default_rng(5).standard_normal((2, 3, 4, 6)).astype(np.float32)
    tx = torch.from_numpy(x)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cases = [
            (jaxconv.upsample_nearest(x, size=(7, 5)), F.upsample_nearest(tx, size=(7, 5))),
            (jaxconv.upsample_nearest(x, scale_factor=3), F.upsample_nearest(tx, scale_factor=3)),
            (jaxconv.upsample_bilinear(x, size=(7, 5)), F.upsample_bilinear(tx, size=(7, 5))),
            (jaxconv.upsample_bilinear(x, scale_factor=1.5), F.upsample_bilinear(tx, scale_factor=1.5)),
            (jaxconv.upsample(x, size=(3, 9), mode="bicubic", align_corners=False),
             F.upsample(tx, size=(3, 9), mode="bicubic", align_corners=False)),
        ]
    for got, want in cases:
        np.testing.assert_allclose(got, want.numpy(), rtol=1e-6, atol=1e-6)


def test_nonfinite_values_spread_as_in_torch():
    """oracle: torch CPU: where inf and nan appear (a zero-weight tap still multiplies, a padding tap of
    area/antialias does not)."""
    x = np.arange(30, dtype=np.float32).reshape(1, 1, 5, 6)
    x[0, 0, 2, 3], x[0, 0, 0, 5] = np.inf, -np.inf
    kws = ({"size": (5, 6), "mode": "bilinear"}, {"size": (9, 4), "mode": "bilinear", "align_corners": True},
           {"size": (2, 3), "mode": "area"}, {"size": (2, 4), "mode": "bilinear", "antialias": True},
           {"size": (7, 9), "mode": "bicubic"}, {"size": (8, 11), "mode": "bicubic", "antialias": True},
           {"size": (3, 2), "mode": "lanczos", "antialias": True})
    ys = run_jit(lambda x: [jaxconv.interpolate(x, **kw) for kw in kws], x)
    for kw, got in zip(kws, ys):
        want = torch_interpolate(x, kw)
        got = np.asarray(got)
        np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=str(kw))
        np.testing.assert_array_equal(np.isinf(got), np.isinf(want), err_msg=str(kw))
        fin = np.isfinite(want)
        np.testing.assert_allclose(got[fin], want[fin], rtol=1e-5, atol=1e-5, err_msg=str(kw))


def test_area_empty_output_and_identity():
    """oracle: torch CPU: area accepts a 0 output size (adaptive pooling), and a same-size antialiased or
    uint8 resize is a copy."""
    x = np.random.default_rng(0).standard_normal((1, 2, 4, 5)).astype(np.float32)
    assert jaxconv.interpolate(x, size=(0, 3), mode="area").shape == torch_interpolate(x, {"size": (0, 3), "mode": "area"}).shape
    np.testing.assert_array_equal(jaxconv.interpolate(x, size=(4, 5), mode="bicubic", antialias=True), x)
    x8 = (x * 40 + 100).astype(np.uint8)
    np.testing.assert_array_equal(jaxconv.interpolate(x8, size=(4, 5), mode="bilinear"), x8)


def test_integer_scale_factor_uses_given_scale():
    """oracle: torch CPU: the kernel uses 1/scale_factor unless recompute_scale_factor=True, so 2.1x on 5
    pixels (10 outputs) samples differently from size=10 — and the linear shortcut out == in is taken
    even with a non-1 factor."""
    x = np.arange(5, dtype=np.float32).reshape(1, 1, 5)
    for kw in ({"scale_factor": 2.1, "mode": "nearest"}, {"scale_factor": 2.1, "mode": "linear"},
               {"scale_factor": 2.1, "mode": "linear", "recompute_scale_factor": True},
               {"scale_factor": 1.1, "mode": "linear"}, {"scale_factor": 2.1, "mode": "nearest-exact"}):
        np.testing.assert_allclose(jaxconv.interpolate(x, **kw), torch_interpolate(x, kw), rtol=1e-6, atol=1e-6, err_msg=str(kw))
    a = jaxconv.interpolate(x, scale_factor=2.1, mode="linear")
    b = jaxconv.interpolate(x, size=10, mode="linear")
    assert not np.allclose(a, b)


X3, X4, X5 = np.zeros((1, 2, 6)), np.zeros((1, 2, 4, 6)), np.zeros((1, 1, 3, 4, 5))


@pytest.mark.parametrize("x, kw, exc, match", [
    (X4, {"size": 3, "scale_factor": 2}, ValueError, "cannot both be given"),
    (X4, {}, ValueError, "or `scale_factor` must be given"),
    (X4, {"size": 3, "align_corners": True}, ValueError, "can only be set with the interpolating modes"),
    (X4, {"size": 3, "mode": "area", "align_corners": False}, ValueError, "can only be set with the interpolating modes"),
    (X4, {"size": 3, "mode": "nearest-exact", "align_corners": False}, ValueError, "can only be set"),
    (X4, {"size": (3, -1)}, ValueError, "must give output sizes >= 1"),
    (X4, {"size": 0, "mode": "bilinear"}, ValueError, "must give output sizes >= 1"),
    (X4, {"size": (3, -1), "mode": "area"}, ValueError, "must give output sizes >= 0"),
    (X4, {"scale_factor": 0.1}, ValueError, "must give output sizes >= 1"),
    (X4, {"scale_factor": -2.0, "mode": "bilinear"}, ValueError, "must give output sizes >= 1"),
    (X4, {"size": (3, 4, 5)}, ValueError, "must have 2 entries"),
    (X4, {"size": (3,)}, ValueError, "must have 2 entries"),
    (X4, {"scale_factor": (2.0,)}, ValueError, "must have 2 entries"),
    (X4, {"size": 2.5}, TypeError, "must be an int or a sequence"),
    (X4, {"size": (2, 2.5)}, TypeError, "must be an int or a sequence"),
    (X4, {"scale_factor": "2"}, TypeError, "must be a number"),
    (X4, {"scale_factor": float("inf")}, ValueError, "must be finite"),
    (X4, {"size": 3, "mode": "cubic"}, ValueError, "`mode` must be one of"),
    (X3, {"size": 3, "mode": "bilinear"}, ValueError, "must have rank 4"),
    (X4, {"size": 3, "mode": "linear"}, ValueError, "must have rank 3"),
    (X4, {"size": 3, "mode": "trilinear"}, ValueError, "must have rank 5"),
    (X5, {"size": 3, "mode": "bicubic"}, ValueError, "must have rank 4"),
    (np.zeros((2, 6)), {"size": 3}, ValueError, "must have rank 3, 4 or 5"),
    (np.zeros((1, 1, 1, 2, 2, 2)), {"size": 3}, ValueError, "must have rank 3, 4 or 5"),
    (X4, {"size": 3, "mode": "nearest", "antialias": True}, ValueError, "`antialias` is only supported"),
    (X3, {"size": 3, "mode": "linear", "antialias": True}, ValueError, "`antialias` is only supported"),
    (X4, {"size": 3, "mode": "lanczos"}, ValueError, "must be True for mode='lanczos'"),
    (X4, {"size": 3, "mode": "lanczos", "antialias": True, "align_corners": True}, ValueError, "must be False for mode='lanczos'"),
    (X4, {"size": 3, "recompute_scale_factor": True}, ValueError, "not meaningful with an explicit `size`"),
    (X4.astype(np.uint8), {"size": 3, "mode": "area"}, TypeError, "must be floating point for mode='area'"),
    (X3.astype(np.uint8), {"size": 3, "mode": "linear"}, TypeError, "must be floating point for mode='linear'"),
    (X4.astype(np.int32), {"size": 3}, TypeError, "floating-point or uint8"),
    (X4.astype(bool), {"size": 3}, TypeError, "floating-point or uint8"),
])
def test_bad_arguments(x, kw, exc, match):
    """oracle: torch's own checks — each bad call is also rejected by torch CPU F.interpolate (jaxconv raises
    ValueError/TypeError where torch raises NotImplementedError/RuntimeError, and before any XLA work)."""
    with pytest.raises(exc, match=match):
        jaxconv.interpolate(jnp.asarray(x), **kw)
    tx = torch.from_numpy(x)
    with pytest.raises(Exception), warnings.catch_warnings():  # noqa: B017 - torch's exception types vary
        warnings.simplefilter("ignore")
        F.interpolate(tx, **kw)


def test_scale_factor_output_size_is_floor_of_double_product():
    """oracle: torch CPU output shapes for factors whose product with the size is just below an integer."""
    for n_in, sf in [(10, 0.7), (3, 1 / 3), (7, 2 / 7), (49, 0.29), (100, 1.15), (9, 1.1111111)]:
        x = np.zeros((1, 1, n_in), np.float32)
        want = torch_interpolate(x, {"scale_factor": sf}).shape
        assert jaxconv.interpolate(x, scale_factor=sf).shape == want == (1, 1, math.floor(n_in * sf))


@pytest.mark.parametrize("kw", [
    {"scale_factor": 2, "mode": "nearest"}, {"size": (7, 5), "mode": "nearest-exact"},
    {"scale_factor": 2, "mode": "bilinear"}, {"size": (9, 4), "mode": "bilinear", "align_corners": True},
    {"scale_factor": 2, "mode": "bicubic"}, {"size": (3, 2), "mode": "area"},
    {"size": (3, 4), "mode": "bilinear", "antialias": True},
])
def test_gradient_by_reverse_gathers(kw):
    """The input gradient is computed by gathers over a static reverse table (not JAX's scatter-add
    transpose): equal to torch's in float64, a NaN in the cotangent reaches exactly the inputs torch's
    reaches, and second order runs. oracle: torch CPU autograd (float64)."""
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 3, 6, 5))
    xt = torch.tensor(x, requires_grad=True)
    yt = F.interpolate(xt, **kw)
    ct = rng.standard_normal(tuple(yt.shape))
    ct[0, 1, 1, 1] = np.nan
    yt.backward(torch.tensor(ct))
    with jax.enable_x64(True):
        _, vjp = jax.vjp(lambda z: jaxconv.interpolate(z, **kw), jnp.asarray(x))
        (g,) = vjp(jnp.asarray(ct))
        h = jax.grad(lambda z: jnp.sum(jax.grad(lambda w: jnp.sum(jnp.sin(jaxconv.interpolate(w, **kw))))(z) ** 2))(jnp.asarray(x))
        g, h = np.asarray(g), np.asarray(h)
    want = xt.grad.numpy()
    np.testing.assert_array_equal(np.isnan(g), np.isnan(want))
    np.testing.assert_allclose(g, want, rtol=1e-12, atol=1e-12)
    assert np.isfinite(h).all()


def test_gradient_has_no_scatter():
    """The reverse-gather transpose is what runs: the gradient's program holds gathers, no scatter
    (XLA:CPU runs scatter-adds several times slower). oracle: the lowered StableHLO text."""
    x = jnp.ones((1, 2, 6, 5))
    for kw in ({"scale_factor": 2, "mode": "bilinear"}, {"scale_factor": 2, "mode": "nearest"}):
        text = jax.jit(jax.grad(lambda z, kw=kw: jnp.sum(jnp.sin(jaxconv.interpolate(z, **kw))))).lower(x).as_text()
        assert "gather" in text and "scatter" not in text, kw
