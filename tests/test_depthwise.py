"""The depthwise tap fold ("taps", jaxconv/depthwise.py): values and gradients exact to torch and XLA's conv.

oracles: torch CPU (``F.conv{1,2,3}d(groups=C)`` after ``F.pad`` in the padding mode, autograd
for the gradients) and jaxconv's direct path (XLA's grouped convolution, forced with
``conv_algorithm("direct")``). Random depthwise configs: n-d, kernel 1-7, stride 1-3,
dilation 1-2, per-side padding in every mode, channel multiplier 1-2, bias, batched and
unbatched, NCHW and channels-last; float64 to 1e-12, half types within tests/test_dtypes.py's
tolerances; forward mode and second order; vmap; the forced mixed triples; the CPU plan.
"""

from __future__ import annotations

import random
from typing import Any

import jax
import jax.numpy as jnp
import jax.test_util
import numpy as np
import pytest

torch = pytest.importorskip("torch")  # torch is the oracle
import torch.nn.functional as F  # noqa: E402

import jaxconv  # noqa: E402
from jaxconv import policy  # noqa: E402
from jaxconv.shapes import conv_spec  # noqa: E402
from tests import lanes  # noqa: E402
from tests.test_conv_paths import check_parts, window_fits  # noqa: E402  (one validity rule and one comparison for both)

force = policy.conv_algorithm
TORCH_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
TORCH_MODE = {"zeros": "constant", "reflect": "reflect", "replicate": "replicate", "circular": "circular"}
T = "taps"
MIXED = [(T, "direct", T), ("direct", T, T), (T, T, "direct"), (T, "direct_hipad", "direct")]


def random_config(rng: random.Random) -> dict:
    """A small random depthwise conv (groups = in_channels, out = multiplier * in), every layout (NCHW/OIHW,
    NHWC/HWIO, NHWC with torch's OIHW weight: ``torch_weight``)."""
    while True:
        n = rng.choice([1, 2, 2, 2, 3])
        c, mult = rng.randint(1, 4), rng.choice([1, 1, 2])
        spatial = tuple(rng.randint(1, {1: 14, 2: 10, 3: 5}[n]) for _ in range(n))
        k = tuple(rng.randint(1, 3 if n == 3 else 7) for _ in range(n))
        s = tuple(rng.randint(1, 3) for _ in range(n))
        d = tuple(rng.randint(1, 2) for _ in range(n))
        mode = rng.choice(["zeros", "zeros", "zeros", "reflect", "replicate", "circular"])
        pads = tuple((rng.randint(0, 3), rng.randint(0, 3)) for _ in range(n))
        if not window_fits(mode, spatial, pads, k, d):
            continue
        return dict(n=n, c=c, mult=mult, spatial=spatial, k=k, s=s, d=d, mode=mode, pads=pads,
                    batch=rng.choice([0, 1, 2, 3]), bias=rng.random() < 0.5, channels_last=rng.random() < 0.5,
                    torch_weight=rng.random() < 0.5)


def make_arrays(cfg: dict, seed: int, dtype: type = np.float32) -> tuple[Any, Any, Any, np.random.Generator]:
    """x (batched, NCHW), w (OIHW), b, ct from torch's forward shape, all in ``dtype``."""
    r = np.random.default_rng(seed)
    x = r.standard_normal((max(cfg["batch"], 1), cfg["c"], *cfg["spatial"])).astype(dtype)
    w = r.standard_normal((cfg["c"] * cfg["mult"], cfg["c"] // cfg.get("groups", cfg["c"]), *cfg["k"])).astype(dtype)
    b = r.standard_normal(cfg["c"] * cfg["mult"]).astype(dtype) if cfg["bias"] else None
    return x, w, b, r


def torch_conv(cfg: dict, x, w, b, r, round_ct=None):
    """(y, ct, dx, dw, db) from torch: pad in the mode with F.pad, then an unpadded depthwise conv
    (``round_ct``: applied to the random cotangent first)."""
    tx, tw = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    tb = None if b is None else torch.tensor(b, requires_grad=True)
    flat = [v for lo_hi in reversed(cfg["pads"]) for v in lo_hi]  # F.pad: last dim first
    y = TORCH_CONV[cfg["n"]](F.pad(tx, flat, mode=TORCH_MODE[cfg["mode"]]), tw, tb, cfg["s"], 0, cfg["d"], cfg.get("groups", cfg["c"]))
    ct = r.standard_normal(tuple(y.shape)).astype(x.dtype)
    ct = torch.tensor(ct if round_ct is None else round_ct(ct))
    y.backward(ct)
    return y.detach().numpy(), ct.numpy(), tx.grad.numpy(), tw.grad.numpy(), None if tb is None else tb.grad.numpy()


def jax_conv(cfg: dict, algorithm, x, w, b, ct) -> tuple[Any, ...]:
    """(y, dx, dw, db) from jaxconv with ``algorithm`` forced (one jitted VJP), back in torch's layouts."""
    n, cl, unbatched = cfg["n"], cfg["channels_last"], cfg["batch"] == 0
    hwio = cl and not cfg.get("torch_weight")
    xj, wj, ctj = jnp.asarray(x), jnp.asarray(w), jnp.asarray(ct)
    if cl:
        xj, ctj = jnp.moveaxis(xj, 1, -1), jnp.moveaxis(ctj, 1, -1)
    if hwio:
        wj = jnp.transpose(wj, (*range(2, n + 2), 1, 0))
    if unbatched:
        xj, ctj = xj[0], ctj[0]
    bj = None if b is None else jnp.asarray(b)
    layout = "OI" + "DHW"[3 - n:] if cl and not hwio else None

    def f(x, w, b):
        return jaxconv.conv(x, w, b, cfg["s"], cfg["pads"], cfg["d"], cfg.get("groups", cfg["c"]), padding_mode=cfg["mode"], channels_last=cl,
                            weight_layout=layout)

    def fwd_bwd(x, w, b, ct):
        y, vjp = jax.vjp(f, x, w, b)
        return (y, *vjp(ct))

    with force(algorithm):  # the switch is read while tracing
        y, dx, dw, db = jax.jit(fwd_bwd)(xj, wj, bj, ctj)
    if unbatched:
        y, dx = y[None], dx[None]
    if cl:
        y, dx = jnp.moveaxis(y, -1, 1), jnp.moveaxis(dx, -1, 1)
    if hwio:
        dw = jnp.transpose(dw, (n + 1, n, *range(n)))
    return tuple(None if v is None else np.asarray(v) for v in (y, dx, dw, db))


def close(a, b, what: str, tol: float = 2e-5) -> None:
    scale = max(1.0, float(np.abs(np.asarray(b, np.float64)).max(initial=0.0)))
    np.testing.assert_allclose(np.asarray(a, np.float64), np.asarray(b, np.float64), rtol=5 * tol, atol=tol * scale,
                               err_msg=what)


# 6 of the 24 seeds by default, the rest in the slow lane (tests/lanes.py: CI's budget).
@pytest.mark.parametrize("seed", lanes.prefix(range(24), 6))
def test_taps_matches_torch_and_direct(seed):
    """oracle: torch CPU autograd and the direct path; one random depthwise config per seed (values,
    input/weight/bias gradients), with "taps" forced and one forced mixed triple."""
    rng = random.Random(1000 + seed)
    cfg = random_config(rng)
    x, w, b, r = make_arrays(cfg, seed)
    ty, ct, tdx, tdw, tdb = torch_conv(cfg, x, w, b, r)
    direct = jax_conv(cfg, "direct", x, w, b, ct)
    for algorithm in (T, MIXED[seed // 2 % len(MIXED)]) if seed % 2 else (T,):
        got = jax_conv(cfg, algorithm, x, w, b, ct)
        check_parts(got, (ty, tdx, tdw, tdb), direct, str(algorithm), cfg)


@pytest.mark.parametrize("seed", range(4))
def test_float64_exact(seed):
    """oracle: torch CPU in float64 to 1e-12 (values and gradients), under jax.enable_x64."""
    rng = random.Random(2000 + seed)
    cfg = random_config(rng)
    x, w, b, r = make_arrays(cfg, seed, np.float64)
    ty, ct, tdx, tdw, tdb = torch_conv(cfg, x, w, b, r)
    with jax.enable_x64(True):
        got = jax_conv(cfg, T, x, w, b, ct)
    for name, g, t in zip(("y", "dx", "dw", "db"), got, (ty, tdx, tdw, tdb)):
        if t is not None:
            assert g.dtype == np.float64
            close(g, t, f"float64 {name}, {cfg}", tol=1e-12)


@pytest.mark.parametrize("dtype, tol", [("bfloat16", 3e-2), ("float16", 4e-3)])
def test_half_types(dtype, tol):
    """oracle: torch CPU float32 on the same rounded inputs, rounded to the dtype (tests/test_dtypes.py's TOL);
    the output and gradients keep the input dtype, as XLA's convolution does."""
    jdt = jnp.dtype(dtype)
    cfg = dict(n=2, c=6, mult=2, spatial=(11, 9), k=(3, 3), s=(2, 1), d=(1, 1), mode="zeros", pads=((1, 1), (1, 1)),
               batch=2, bias=True, channels_last=False)
    x, w, b, r = make_arrays(cfg, 7)
    def rounded(v):
        return np.asarray(jnp.asarray(v).astype(jdt).astype(jnp.float32))
    x, w, b = (rounded(v) for v in (x, w, b))
    ty, ct, tdx, tdw, tdb = torch_conv(cfg, x, w, b, r, rounded)
    half = [jnp.asarray(v).astype(jdt) for v in (x, w, b, ct)]
    for cl in (False, True):
        got = jax_conv({**cfg, "channels_last": cl}, T, *(np.asarray(v) for v in half))
        for name, g, t in zip(("y", "dx", "dw", "db"), got, (ty, tdx, tdw, tdb)):
            assert g.dtype == jdt, name
            t_rounded = np.asarray(jnp.asarray(t).astype(jdt).astype(jnp.float32))
            close(g, t_rounded, f"{dtype} {name} cl={cl}", tol=tol)


def test_jvp_and_second_order():
    """oracle: the direct path's JVP; jax.test_util.check_grads (numerical) to second order, fwd and rev,
    in float64 on tiny shapes (strided, dilated, multiplier 2, channels-last)."""
    r = np.random.default_rng(5)
    with jax.enable_x64(True):
        for s, d, cl in (((2, 1), (1, 2), False), ((1, 3), (2, 1), True)):
            x = jnp.asarray(r.standard_normal((2, 2, 6, 7)))
            w = jnp.asarray(r.standard_normal((4, 1, 3, 2)))
            if cl:
                x, w = jnp.moveaxis(x, 1, -1), jnp.transpose(w, (2, 3, 1, 0))
            xd, wd = jnp.asarray(r.standard_normal(x.shape)), jnp.asarray(r.standard_normal(w.shape))

            def f(x, w, s=s, d=d, cl=cl):
                return jaxconv.conv2d(x, w, None, s, ((1, 0), (2, 1)), d, 2, channels_last=cl)
            with force("direct"):
                y0, t0 = jax.jvp(f, (x, w), (xd, wd))
            with force(T):
                y, t = jax.jvp(f, (x, w), (xd, wd))
                _, tx = jax.jvp(lambda x, w=w: f(x, w), (x,), (xd,))  # a symbolic-zero weight tangent
                close(y, y0, "y", 1e-12)
                close(t, t0, "jvp", 1e-12)
                with force("direct"):
                    tx0 = jax.jvp(lambda x, w=w: f(x, w), (x,), (xd,))[1]
                close(tx, tx0, "jvp x", 1e-12)
                if not cl:  # second order once (each order compiles its own programs)
                    jax.test_util.check_grads(f, (x[:1], w), order=2, modes=("fwd", "rev"), atol=1e-6, rtol=1e-6)


def test_vmap_and_grad_of_grad_under_jit():
    """oracle: the direct path (vmap over unbatched examples; jit of a gradient; the Hessian-vector product)."""
    r = np.random.default_rng(3)
    x = jnp.asarray(r.standard_normal((4, 5, 12, 12)), jnp.float32)
    w = jnp.asarray(r.standard_normal((5, 1, 3, 3)), jnp.float32)

    def run(algorithm, f):
        with force(algorithm):
            return f()

    def vm():
        return jax.vmap(lambda xi, wi: jaxconv.conv2d(xi, wi, stride=2, padding=1, groups=5), in_axes=(0, None))(x, w)
    close(run(T, vm), run("direct", vm), "vmap")

    def vm_w():  # a batched weight too
        ws = jnp.stack([w, 2 * w, -w, w + 1])
        return jax.vmap(lambda xi, wi: jaxconv.conv2d(xi, wi, padding="same", groups=5))(x, ws)
    close(run(T, vm_w), run("direct", vm_w), "vmap weight")

    loss = jax.jit(jax.grad(lambda x, w: jnp.sum(jnp.tanh(jaxconv.conv2d(x, w, padding="same", groups=5))),
                            argnums=(0, 1)))
    for a, b in zip(run(T, lambda: loss(x, w)), run("direct", lambda: loss(x, w))):
        close(a, b, "jit grad")

    def hvp():
        g = jax.grad(lambda w: jnp.sum(jaxconv.conv2d(x, w, padding=1, groups=5) ** 2))
        return jax.jvp(g, (w,), (jnp.ones_like(w),))[1]
    close(run(T, hvp), run("direct", hvp), "hvp", 1e-4)


@pytest.mark.parametrize("cl", [False, True], ids=["nchw", "nhwc"])
def test_per_example_gradients_and_grad_of_vmap(cl):
    """oracle: the direct path. The weight's gradient runs through two primitives (the weight term and
    its transpose, the variadic tap sums) with a batching rule that merges vmap's dim into the
    channels: vmap of grad (per-example gradients, batched weights too) and grad of vmap, eager and
    jitted, in both layouts, strided and padded."""
    r = np.random.default_rng(8)
    x = jnp.asarray(r.standard_normal((3, 2, 6, 9, 8)), jnp.float32)  # (vmap, N, C, H, W)
    w = jnp.asarray(r.standard_normal((3, 6, 1, 3, 3)), jnp.float32)
    if cl:
        x, w = jnp.moveaxis(x, 2, -1), jnp.transpose(w, (0, 3, 4, 2, 1))

    def loss(xi, wi):
        y = jaxconv.conv2d(xi, wi, None, (2, 1), ((1, 1), (0, 2)), 1, 6, channels_last=cl)
        return jnp.sum(jnp.sin(y))

    cases = {
        "vmap(grad)": lambda: jax.vmap(jax.grad(loss, argnums=(0, 1)))(x, w),
        "vmap(grad) shared w": lambda: jax.vmap(jax.grad(loss, argnums=(0, 1)), in_axes=(0, None))(x, w[0]),
        "jit(grad(vmap))": lambda: jax.jit(jax.grad(lambda x, w: jnp.sum(jax.vmap(loss)(x, w)), argnums=(0, 1)))(x, w),
    }
    for name, f in cases.items():
        with force("direct"):
            want = f()
        with force(T):
            got = f()
        for a, b in zip(got, want):
            close(a, b, name, 1e-4)


def test_forced_taps_needs_groups():
    """oracle: the switch's contract: "taps" needs groups > 1 (a dense conv is refused)."""
    x, w = jnp.ones((1, 4, 6, 6)), jnp.ones((4, 4, 3, 3))
    with pytest.raises(ValueError, match=r"'taps' needs a grouped or depthwise conv \(groups > 1, or groups == in_channels\), got groups=1 with in_channels=4"), force(T):
        jaxconv.conv2d(x, w)
    dense = conv_spec("conv2d", (1, 4, 6, 6), (4, 4, 3, 3), None, 1, 0, 1, 1, "zeros", False)
    assert not policy.valid_for(dense, (T, "direct", "direct"))
    grouped = conv_spec("conv2d", (1, 4, 6, 6), (4, 2, 3, 3), None, 1, 0, 1, 2, "zeros", False)
    dw = conv_spec("conv2d", (1, 4, 6, 6), (8, 1, 3, 3), None, 1, 0, 1, 4, "zeros", False)
    assert policy.valid_for(grouped, (T, "gemm", "gemm")) and policy.valid_for(dw, (T, T, T))


def random_grouped_config(rng: random.Random) -> dict:
    """A small random grouped conv (1 < groups < in_channels, 2-3 channels per group, out = multiplier * in)."""
    while True:
        cfg = random_config(rng)
        groups, width = rng.randint(2, 3), rng.randint(2, 3)
        cfg.update(groups=groups, c=groups * width)
        if window_fits(cfg["mode"], cfg["spatial"], cfg["pads"], cfg["k"], cfg["d"]):
            return cfg


# 6 of the 12 seeds by default, the rest in the slow lane (tests/lanes.py: CI's budget).
@pytest.mark.parametrize("seed", lanes.prefix(range(12), 6))
def test_grouped_fold_matches_torch_and_direct(seed):
    """oracle: torch CPU autograd and the direct path (XLA's grouped conv); one random grouped config per
    seed (n-d, every padding mode and layout): the fold's forward with the grouped GEMM's gradients (the
    CPU plan's triple) and, on odd seeds, the fold in every part (autodiff of the fold)."""
    rng = random.Random(3000 + seed)
    cfg = random_grouped_config(rng)
    x, w, b, r = make_arrays(cfg, seed)
    ty, ct, tdx, tdw, tdb = torch_conv(cfg, x, w, b, r)
    direct = jax_conv(cfg, "direct", x, w, b, ct)
    for algorithm in ((T, "gemm", "gemm"), T) if seed % 2 else ((T, "gemm", "gemm"),):
        got = jax_conv(cfg, algorithm, x, w, b, ct)
        check_parts(got, (ty, tdx, tdw, tdb), direct, str(algorithm), cfg)


def test_grouped_fold_float64_half_and_vmap():
    """oracle: torch CPU: float64 to 1e-12 (RegNet's group width 8, channels-last with torch's weight, as
    ported), bfloat16 within tests/test_dtypes.py's tolerance (rounded inputs, float32 torch), and vmap of
    the conv equal to the batched call."""
    cfg = dict(n=2, c=16, groups=2, mult=1, spatial=(9, 8), k=(3, 3), s=(2, 1), d=(1, 2), mode="zeros",
               pads=((1, 1), (2, 2)), batch=2, bias=True, channels_last=True, torch_weight=True)
    x, w, b, r = make_arrays(cfg, 5, np.float64)
    ty, ct, tdx, tdw, tdb = torch_conv(cfg, x, w, b, r)
    with jax.enable_x64(True):
        got = jax_conv(cfg, (T, "gemm", "gemm"), x, w, b, ct)
    for name, g, t in zip(("y", "dx", "dw", "db"), got, (ty, tdx, tdw, tdb)):
        assert g.dtype == np.float64
        close(g, t, f"float64 {name}", tol=1e-12)
    half = {**cfg, "channels_last": False}
    def rounded(v):
        return np.asarray(jnp.asarray(v, jnp.float32).astype(jnp.bfloat16).astype(jnp.float32))
    x32, w32, b32 = (rounded(v) for v in (x, w, b))
    ty, *_ = torch_conv(half, x32, w32, b32, np.random.default_rng(0))
    with force((T, "gemm", "gemm")):
        y = jaxconv.conv2d(jnp.asarray(x32, jnp.bfloat16), jnp.asarray(w32, jnp.bfloat16), jnp.asarray(b32, jnp.bfloat16),
                           (2, 1), ((1, 1), (2, 2)), (1, 2), 2)
        yv = jax.vmap(lambda v: jaxconv.conv2d(v, jnp.asarray(w32), None, (2, 1), ((1, 1), (2, 2)), (1, 2), 2))(jnp.asarray(x32)[:, None])
    assert y.dtype == jnp.bfloat16
    close(np.asarray(y.astype(jnp.float32)), rounded(ty), "bfloat16 y", tol=3e-2)
    close(np.asarray(yv[:, 0]), ty - b32[None, :, None, None], "vmap y", tol=2e-5)


def test_cpu_plan_uses_taps_and_accelerators_keep_xlas_conv():
    """oracle: the exported StableHLO. A depthwise conv whose CPU plan is "taps" lowers for cpu without a
    convolution (forward and gradients) and for cuda/tpu to XLA's convolution."""
    xs, ws = (8, 96, 64, 64), (96, 1, 3, 3)
    spec = conv_spec("conv2d", xs, ws, None, 1, 1, 1, 96, "zeros", False)
    assert policy.cpu_plan(spec) == (T, T, T)
    x, w = jax.ShapeDtypeStruct(xs, jnp.float32), jax.ShapeDtypeStruct(ws, jnp.float32)

    def step(x, w):
        return jax.grad(lambda x, w: jnp.sum(jaxconv.conv2d(x, w, None, 1, 1, 1, 96) ** 2), argnums=(0, 1))(x, w)
    cpu = jax.export.export(jax.jit(step), platforms=("cpu",))(x, w).mlir_module()
    assert "stablehlo.convolution" not in cpu
    accel = jax.export.export(jax.jit(step), platforms=("cuda", "tpu"))(x, w).mlir_module()
    assert "stablehlo.convolution" in accel


def test_large_kernel_fold_is_not_recomputed_per_consumer(monkeypatch):
    """A LayerNorm-like use of a 7x7 depthwise conv's output (mean, variance, normalise: several
    consumers) compiles its taps a bounded number of times: XLA:CPU fuses an elementwise producer
    into every consumer, and jaxconv/depthwise.py's _materialized (a conditional on CPU,
    jaxconv.policy.cpu_materialize, not a loop over images, which runs on one core) is what keeps it
    from recomputing the 49-tap folds per consumer (ConvNeXt-T eval 273 -> 161 ms with the loop, 120
    with the conditional).
    oracle: the count of slice instructions in XLA's optimised HLO, with and without it."""
    from jaxconv import depthwise

    x, w = jnp.ones((2, 4, 12, 12)), jnp.ones((4, 1, 7, 7))

    def f(x, w):
        y = jaxconv.conv2d(x, w, padding=3, groups=4)
        m = y.mean(axis=1, keepdims=True)
        v = ((y - m) ** 2).mean(axis=1, keepdims=True)
        return (y - m) / jnp.sqrt(v + 1e-6)

    def compiled() -> str:
        jax.clear_caches()
        with force(T):
            return jax.jit(jax.grad(lambda x, w: (f(x, w) ** 2).sum())).lower(x, w).compile().as_text()

    materialized = compiled()
    monkeypatch.setattr(depthwise, "_MATERIALIZE_MIN_TAPS", 10 ** 6)
    plain = compiled()
    jax.clear_caches()
    once, per_consumer = materialized.count(" slice("), plain.count(" slice(")
    assert once <= 5 * 49 < per_consumer, (once, per_consumer)  # forward fold + input-gradient fold, each a few times
    assert " conditional(" in materialized and " while(" not in materialized
    assert " conditional(" not in plain


def test_channels_last_torch_weight_is_gathered():
    """NHWC activations with torch's (C, 1, kH, kW) weight (the graph importer's channels-last layout):
    the fold reads its per-tap weight rows from a gather, which XLA materialises contiguously, not from
    a transpose it would fuse into the fold as strided loads (2.5 vs 6.8 ms for 3x3, 96 channels @64).
    oracle: the optimised HLO (a gather feeds the fold) and the HWIO-weight conv's values."""
    r = np.random.default_rng(5)
    x = jnp.asarray(r.standard_normal((2, 9, 9, 6)), jnp.float32)
    w = jnp.asarray(r.standard_normal((6, 1, 3, 3)), jnp.float32)

    def f(x, w):
        return jaxconv.conv2d(x, w, None, 1, 1, 1, 6, channels_last=True, weight_layout="OIHW")
    with force(T):
        hlo = jax.jit(f).lower(x, w).compile().as_text()
        want = jaxconv.conv2d(x, jnp.transpose(w, (2, 3, 1, 0)), None, 1, 1, 1, 6, channels_last=True)
        got = f(x, w)
    assert " gather(" in hlo
    np.testing.assert_array_equal(got, want)


def _primitives(fn, *args) -> dict[str, int]:
    import collections
    import re
    text = str(jax.make_jaxpr(fn)(*args))
    return dict(collections.Counter(re.findall(r"= ([a-z_]+)\[", text) + re.findall(r" ([a-z_]+) ", text)))


@pytest.mark.parametrize("plan", [("direct", T, T), ("gemm", T, T), ("tap_gemm", T, "direct"), ("direct", "direct", T)])
def test_mixed_plans_take_the_folds_gradient_formulations(plan):
    """oracle: the jaxpr of "taps" alone, and torch CPU. A plan whose input or weight gradient is the fold but
    whose forward is another algorithm (as jaxconv.tune may choose) differentiates through the fold's own
    formulations: the weight gradient is the tap-sums primitive (plain autodiff of the fold applied to the
    tangent: one reduce_sum per tap) and the input gradient has the gather form's ops, as "taps" alone;
    values and gradients against torch, for a strided depthwise conv with multiplier 2 and a one-channel
    dense conv (LeNet's first, which the tuner gave a mixed plan that ran its train step 2.2x slower)."""
    cases = [(dict(n=2, c=4, mult=2, spatial=(9, 9), k=(3, 3), s=(2, 2), d=(1, 1), mode="zeros", pads=((1, 1), (1, 1)),
                   batch=2, bias=True, channels_last=False), 4),
             (dict(n=2, c=1, mult=6, spatial=(12, 12), k=(5, 5), s=(1, 1), d=(1, 1), mode="zeros", pads=((2, 2), (2, 2)),
                   batch=3, bias=False, channels_last=False, groups=1), 1)]
    for cfg, groups in cases:
        if "tap_gemm" in plan and groups > 1:
            continue  # the tap GEMMs are dense only
        x, w, b, r = make_arrays(cfg, 7)
        ty, ct, tdx, tdw, tdb = torch_conv(cfg, x, w, b, r)
        check_parts(jax_conv(cfg, plan, x, w, b, ct), (ty, tdx, tdw, tdb), jax_conv(cfg, "direct", x, w, b, ct),
                    str(plan), cfg)
        xj, wj, ctj = jnp.asarray(x), jnp.asarray(w), jnp.asarray(ct)

        def backward(argnum, cfg=cfg, groups=groups, xj=xj, wj=wj, ct=ctj):
            # the VJP's own program (the forward and its residuals are constants of it)
            f = lambda *a: jaxconv.conv2d(*a, None, cfg["s"], cfg["pads"], 1, groups)  # noqa: E731
            vjp = jax.vjp(lambda v: f(v, wj) if argnum == 0 else f(xj, v), (xj, wj)[argnum])[1]
            return _primitives(lambda c: vjp(c), ct)
        for i, part in ((1, "dx"), (2, "dw")):
            if plan[i] != T:
                continue
            with force(T):
                own = backward(i - 1)
            with force(plan):
                got = backward(i - 1)
            if part == "dw":
                assert got.get("jaxconv_depthwise_tap_sums") == 1 and got.get("reduce_sum", 0) <= 1, (plan, got)
            else:
                for p in ("pad", "reshape", "transpose"):
                    assert got.get(p, 0) == own.get(p, 0), (plan, part, p, got, own)
