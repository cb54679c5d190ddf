"""Convolution algorithms (jaxconv.conv): every path agrees with the others and with torch.

``jaxconv.conv`` picks algorithms per call from the static shapes, separately for the
forward pass, the input gradient and the weight gradient ("direct": one lax convolution;
"direct_hipad": the same with `stride` extra zero columns, cropped, to stay off XLA:CPU's
slow unpadded-window path; "gemm": im2col / 1x1 as a GEMM; "gemm_scan": the same over chunks of the
batch in a lax.scan; and the formulations of their own modules). Each algorithm, and mixed
triples, are forced here through the scoped switch ``jaxconv.policy.conv_algorithm`` and
checked, values and gradients, in reverse and forward mode. The policy's per-backend rule
(CPU measurements never decide a GPU/TPU program) is checked by exporting for cuda and tpu.
"""

from __future__ import annotations

import math
import random

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

ALGORITHMS = policy.ALGORITHMS
force = policy.conv_algorithm
TORCH_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
TORCH_MODE = {"zeros": "constant", "reflect": "reflect", "replicate": "replicate", "circular": "circular"}


def window_fits(mode: str, spatial: tuple, pads: tuple, k: tuple, d: tuple) -> bool:
    """torch's padding-mode limits hold (reflect pad < size, circular <= size) and the dilated kernel fits the padded input."""
    if mode == "reflect" and any(max(p) >= sz for p, sz in zip(pads, spatial)):
        return False
    if mode == "circular" and any(max(p) > sz for p, sz in zip(pads, spatial)):
        return False
    return all(sz + lo + hi >= dd * (kk - 1) + 1 for sz, (lo, hi), kk, dd in zip(spatial, pads, k, d))


def random_config(rng: random.Random) -> dict:
    """A small random convolution: n-d, groups, stride, dilation, per-side padding, every mode, every layout
    (NCHW/OIHW, NHWC/HWIO, and NHWC activations with torch's OIHW weight: ``torch_weight``)."""
    while True:
        n = rng.choice([1, 2, 2, 2, 3])
        groups = rng.choice([1, 1, 1, 2])
        cin, cout = groups * rng.randint(1, 3), groups * rng.randint(1, 3)
        spatial = tuple(rng.randint(1, {1: 12, 2: 8, 3: 5}[n]) for _ in range(n))
        k = tuple(rng.randint(1, 3 if n == 3 else 4) for _ in range(n))
        s = tuple(rng.randint(1, 3) for _ in range(n))
        d = tuple(rng.randint(1, 2) for _ in range(n))
        mode = rng.choice(["zeros", "zeros", "zeros", "reflect", "replicate", "circular"])
        pads = tuple((rng.randint(0, 2), rng.randint(0, 2)) for _ in range(n))
        if not window_fits(mode, spatial, pads, k, d):
            continue
        return dict(n=n, groups=groups, cin=cin, cout=cout, spatial=spatial, k=k, s=s, d=d, mode=mode, pads=pads,
                    batch=rng.randint(1, 3), bias=rng.random() < 0.5, channels_last=rng.random() < 0.4,
                    torch_weight=rng.random() < 0.5)


def winograd_applies(cfg: dict) -> bool:
    """Winograd's F(2x2, 3x3) computes 2-d 3x3 convs with stride 1, dilation 1 and groups 1."""
    return cfg["n"] == 2 and cfg["k"] == (3, 3) and cfg["s"] == (1, 1) and cfg["d"] == (1, 1) and cfg["groups"] == 1


def make_arrays(cfg: dict, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray]:
    r = np.random.default_rng(seed)
    x = r.standard_normal((cfg["batch"], cfg["cin"], *cfg["spatial"])).astype(np.float32)
    w = r.standard_normal((cfg["cout"], cfg["cin"] // cfg["groups"], *cfg["k"])).astype(np.float32)
    b = r.standard_normal(cfg["cout"]).astype(np.float32) if cfg["bias"] else None
    return x, w, b, r


def torch_conv(cfg: dict, x: np.ndarray, w: np.ndarray, b: np.ndarray | None, ct_seed: np.random.Generator):
    """(y, ct, dx, dw, db) from torch: pad in the mode with F.pad, then an unpadded conv."""
    tx = torch.tensor(x, requires_grad=True)
    tw = torch.tensor(w, requires_grad=True)
    tb = None if b is None else torch.tensor(b, requires_grad=True)
    flat = [v for lo_hi in reversed(cfg["pads"]) for v in lo_hi]  # F.pad: last dim first
    xp = F.pad(tx, flat, mode=TORCH_MODE[cfg["mode"]])
    y = TORCH_CONV[cfg["n"]](xp, tw, tb, cfg["s"], 0, cfg["d"], cfg["groups"])
    ct = torch.tensor(ct_seed.standard_normal(tuple(y.shape)).astype(np.float32))
    y.backward(ct)
    return (y.detach().numpy(), ct.numpy(), tx.grad.numpy(), tw.grad.numpy(), None if tb is None else tb.grad.numpy())


def jax_conv(cfg: dict, algorithm: str | tuple[str, str, str], x: np.ndarray, w: np.ndarray, b: np.ndarray | None, ct: np.ndarray):
    """(y, dx, dw, db) from jaxconv with ``algorithm`` forced (one jitted VJP), in torch's layouts."""
    n, cl = cfg["n"], cfg["channels_last"]
    hwio = cl and not cfg.get("torch_weight")
    xj, wj, ctj = jnp.asarray(x), jnp.asarray(w), jnp.asarray(ct)
    if cl:
        xj, ctj = jnp.moveaxis(xj, 1, -1), jnp.moveaxis(ctj, 1, -1)
    if hwio:
        wj = jnp.transpose(wj, (*range(2, n + 2), 1, 0))
    bj = None if b is None else jnp.asarray(b)
    layout = "OI" + "DHW"[3 - n:] if cl and not hwio else None

    def f(x, w, b):
        return jaxconv.conv(x, w, b, cfg["s"], cfg["pads"], cfg["d"], cfg["groups"], padding_mode=cfg["mode"],
                            channels_last=cl, weight_layout=layout)

    def fwd_bwd(x, w, b, ct):
        y, vjp = jax.vjp(f, x, w, b)
        return (y, *vjp(ct))

    with force(algorithm):  # the switch is read while tracing
        y, dx, dw, db = jax.jit(fwd_bwd)(xj, wj, bj, ctj)
    if cl:
        y, dx = jnp.moveaxis(y, -1, 1), jnp.moveaxis(dx, -1, 1)
    if hwio:
        dw = jnp.transpose(dw, (n + 1, n, *range(n)))
    return tuple(None if v is None else np.asarray(v) for v in (y, dx, dw, db))


def close(a: np.ndarray, b: np.ndarray, what: str) -> None:
    scale = max(1.0, float(np.abs(b).max(initial=0.0)))
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=2e-5 * scale, err_msg=what)


def check_parts(got: tuple, torch_parts: tuple, direct: tuple, label: str, cfg: dict) -> None:
    """(y, dx, dw, db) of one forced path against torch's and the direct path's: same shapes, close values."""
    for name, g, t, dref in zip(("y", "dx", "dw", "db"), got, torch_parts, direct):
        if t is None:
            assert g is None
            continue
        assert g.shape == t.shape, (label, name, cfg)
        close(g, t, f"{label} {name} vs torch, {cfg}")
        close(g, dref, f"{label} {name} vs direct, {cfg}")


# Seed 0 by default, 1-2 in the slow lane (tests/lanes.py: CI's budget, ~15 s a seed on the 2-core dev machine);
# every algorithm is also pinned on fixed shapes by the tests below and in its own module's tests.
@pytest.mark.parametrize("seed", lanes.prefix(range(3), 1))
def test_every_path_matches_torch_and_the_others(seed):
    """oracle: torch CPU (values, input/weight/bias gradients); and each path against the direct lax path.

    6 random configurations per seed (n-d, groups, stride, dilation, per-side padding in
    every mode, bias, both layouts), each run with every algorithm that applies.
    """
    rng = random.Random(seed)
    for _ in range(6):
        cfg = random_config(rng)
        x, w, b, r = make_arrays(cfg, rng.randrange(2 ** 31))
        ty, ct, tdx, tdw, tdb = torch_conv(cfg, x, w, b, r)
        algorithms: list = [a for a in ALGORITHMS if (a != "taps" or cfg["groups"] == cfg["cin"])  # taps: depthwise only
                            and (a != "phases" or (max(cfg["s"]) > 1 and max(cfg["d"]) == 1))  # phases: strided
                            and (a != "winograd" or winograd_applies(cfg))  # winograd: 3x3 stride 1 (test_winograd.py)
                            and (a != "tap_gemm" or cfg["groups"] == 1)]  # tap_gemm: dense (test_tap_gemm.py)
        if cfg["groups"] == 1:  # and one mixed (forward, input-gradient, weight-gradient) triple
            algorithms.append(tuple(rng.choice(algorithms) for _ in range(3)))
        results = {a: jax_conv(cfg, a, x, w, b, ct) for a in algorithms}
        for a, got in results.items():
            check_parts(got, (ty, tdx, tdw, tdb), results["direct"], f"{a}", cfg)


def grouped_config(rng: random.Random) -> dict:
    """A random grouped conv (2-4 groups, 1-3 channels per group, channel multipliers): n-d, stride,
    dilation, per-side padding in every mode, every layout."""
    while True:
        cfg = random_config(rng)
        g = rng.randint(2, 4)
        cfg.update(groups=g, cin=g * rng.randint(1, 3), cout=g * rng.randint(1, 3))
        if window_fits(cfg["mode"], cfg["spatial"], cfg["pads"], cfg["k"], cfg["d"]):
            return cfg


# Seed 0 by default, seed 1 in the slow lane (tests/lanes.py: CI's budget, ~12 s a seed on the 2-core dev machine).
@pytest.mark.parametrize("seed", lanes.prefix(range(2), 1))
def test_grouped_gemm_matches_torch_and_xla(seed):
    """oracle: torch CPU (values, input/weight/bias gradients) and the direct lax path. The grouped im2col
    GEMM (a GEMM per group, batched over the groups), forced for every part and in the CPU's plan for
    grouped convs (XLA's forward, the GEMM's gradients), 8 random configs per seed."""
    rng = random.Random(100 + seed)
    for _ in range(8):
        cfg = grouped_config(rng)
        x, w, b, r = make_arrays(cfg, rng.randrange(2 ** 31))
        ty, ct, tdx, tdw, tdb = torch_conv(cfg, x, w, b, r)
        ref = jax_conv(cfg, D, x, w, b, ct)
        for plan in (G, (D, G, G), (G, D, D)):
            check_parts(jax_conv(cfg, plan, x, w, b, ct), (ty, tdx, tdw, tdb), ref, f"{plan}", cfg)


def test_grouped_gemm_at_regnet_shape():
    """oracle: torch CPU. The default CPU plan at RegNet-Y's strided group-width-8 conv (3x3 s2, 48 channels
    in 6 groups, 32x32, batch 2), NCHW: values and gradients (the fold's forward, the GEMM's gradients)."""
    cfg = dict(n=2, groups=6, cin=48, cout=48, spatial=(32, 32), k=(3, 3), s=(2, 2), d=(1, 1), mode="zeros",
               pads=((1, 1), (1, 1)), batch=2, bias=False, channels_last=False)
    x, w, b, r = make_arrays(cfg, 0)
    ty, ct, tdx, tdw, tdb = torch_conv(cfg, x, w, b, r)
    spec = conv_spec("conv2d", x.shape, w.shape, None, 2, 1, 1, 6, "zeros", False)
    assert policy.cpu_plan(spec) == (T, G, G)
    ref = jax_conv(cfg, D, x, w, b, ct)
    check_parts(jax_conv(cfg, None, x, w, b, ct), (ty, tdx, tdw, tdb), ref, "auto", cfg)


# Shapes whose im2col columns exceed one "gemm_scan" step (8 MiB), so the batch runs in chunks: the
# stem-like conv over 2 of 6 images per step (columns 3.3 MB per image), the 3x3s over 1 image per step.
SCAN_CASES = [
    dict(n=2, groups=1, cin=3, cout=32, spatial=(150, 150), k=(7, 7), s=(2, 2), d=(1, 1), mode="zeros",
         pads=((3, 3), (3, 3)), batch=6, bias=True, channels_last=False),
    dict(n=2, groups=1, cin=64, cout=40, spatial=(58, 58), k=(3, 3), s=(1, 1), d=(1, 1), mode="reflect",
         pads=((1, 0), (1, 1)), batch=3, bias=False, channels_last=True, torch_weight=True),
    dict(n=2, groups=1, cin=64, cout=32, spatial=(60, 60), k=(3, 3), s=(1, 2), d=(1, 1), mode="zeros",
         pads=((1, 1), (0, 2)), batch=4, bias=True, channels_last=True, torch_weight=False),
]


@pytest.mark.parametrize("cfg", SCAN_CASES, ids=["stem-like NCHW", "3x3 NHWC OIHW", "3x3 s(1,2) NHWC HWIO"])
def test_chunked_gemm_matches_torch_and_xla(cfg):
    """oracle: torch CPU (values, input/weight/bias gradients) and the direct lax path. The im2col GEMM over
    chunks of the batch ("gemm_scan": a lax.scan, rematerialised in the backward) at shapes that really
    chunk, forced for every part and as the CPU plan's weight gradient beside other forwards."""
    from jaxconv.convolution import scan_chunk
    spec = conv_spec("conv2d", (cfg["batch"], cfg["cin"], *cfg["spatial"]), (cfg["cout"], cfg["cin"], *cfg["k"]), None,
                     cfg["s"], cfg["pads"], 1, 1, cfg["mode"], False)
    assert 1 <= scan_chunk(spec) < cfg["batch"]  # the case exercises the scan, not the plain GEMM
    x, w, b, r = make_arrays(cfg, 5)
    ty, ct, tdx, tdw, tdb = torch_conv(cfg, x, w, b, r)
    ref = jax_conv(cfg, D, x, w, b, ct)
    for plan in (S, (H, D, S), (S, G, D)):
        check_parts(jax_conv(cfg, plan, x, w, b, ct), (ty, tdx, tdw, tdb), ref, f"{plan}", cfg)


def test_chunked_gemm_program_scans_and_keeps_no_columns():
    """oracle: the optimised CPU program and the direct path. The ResNet stem's CPU plan (NCHW) runs its weight
    gradient as a loop over images (XLA's while) and keeps for the backward only what XLA's own conv keeps: the
    temporary memory of the VJP is within 2x of the direct path's, never the whole batch's columns (59 MB)."""
    x, w = jax.ShapeDtypeStruct((8, 3, 224, 224), jnp.float32), jax.ShapeDtypeStruct((64, 3, 7, 7), jnp.float32)

    def vjp(x, w):
        y, back = jax.vjp(lambda x, w: jaxconv.conv2d(x, w, None, 2, 3), x, w)
        return back(y)
    stats = {}
    for plan in (None, D):
        with force(plan):
            compiled = jax.jit(vjp).lower(x, w).compile()
        stats[plan] = compiled.memory_analysis().temp_size_in_bytes
        if plan is None:
            assert "while" in compiled.as_text()
    assert stats[None] <= 2 * stats[D] + 2 ** 20, stats


def test_chunked_gemm_one_image_per_step_copies_no_operand():
    """oracle: the optimised CPU program. With one image per step (the ResNet stem) the scan runs over the
    batch axis itself: through a (batch, 1, ...) reshape XLA:CPU copied the whole cotangent and the whole
    padded input into a new layout before the weight gradient's loop (65 -> 40 ms without, 2026-12-07)."""
    import re
    x, g = jax.ShapeDtypeStruct((8, 3, 224, 224), jnp.float32), jax.ShapeDtypeStruct((8, 64, 112, 112), jnp.float32)
    w = jnp.zeros((64, 3, 7, 7), jnp.float32)
    program = jax.jit(lambda x, g: jax.vjp(lambda w: jaxconv.conv2d(x, w, None, 2, 3), w)[1](g)[0]).lower(x, g).compile()
    text = program.as_text()
    assert "while" in text  # the chunked GEMM's loop, not XLA's conv
    big = {8 * 64 * 112 * 112, 8 * 3 * 230 * 230}  # the cotangent, the padded input
    copies = {}  # each copy (a copy op, or a fusion XLA names for one) -> its element count
    for line in text.splitlines():
        m = re.match(r"\s*(?:ROOT )?%(\S+) = f32\[([\d,]*)\]", line)
        if m and ("copy" in m.group(1) or " copy(" in line):
            copies[m.group(1)] = math.prod(int(d) for d in m.group(2).split(",") if d)
    assert not big & set(copies.values()), copies


def test_chunked_gemm_under_vmap_and_float64():
    """oracle: the direct lax path in float64 (to 1e-12) and per example under vmap: the chunk follows the
    input's batch, whatever vmap folds into it."""
    rng = np.random.default_rng(3)
    x, w = rng.standard_normal((2, 3, 3, 150, 150)), rng.standard_normal((32, 3, 5, 5))  # 3.4 MB of columns per image
    with jax.enable_x64(True):
        x64, w64 = jnp.asarray(x), jnp.asarray(w)
        assert x64.dtype == jnp.float64

        def grads(plan, x, w):
            with force(plan):
                return jax.jit(jax.vmap(jax.grad(lambda x, w: jnp.sum(jnp.sin(jaxconv.conv2d(x, w, None, 2, 2)) * jnp.arange(3.0)[:, None, None, None]),
                                                 argnums=(0, 1)), in_axes=(0, None)))(x, w)
        with force(S):
            program = jax.jit(jax.vmap(lambda x: jaxconv.conv2d(x, w64, None, 2, 2))).lower(x64).as_text()
        assert "while" in program  # 1 image per step of 3
        for a, b in zip(grads(S, x64, w64), grads(D, x64, w64)):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-12, atol=1e-9)


@pytest.mark.parametrize("algorithm", ["direct_hipad", "gemm"])
def test_unbatched_and_strided_padded(algorithm):
    """oracle: torch CPU; unbatched input, stride 2 with padding (explicitly padded in the spec), dilation 2."""
    rng = np.random.default_rng(7)
    x = rng.standard_normal((3, 9, 8)).astype(np.float32)
    w = rng.standard_normal((4, 3, 3, 2)).astype(np.float32)
    with force(algorithm):
        y = jaxconv.conv2d(jnp.asarray(x), jnp.asarray(w), None, 2, 1, (2, 1))
    ref = F.conv2d(torch.tensor(x), torch.tensor(w), None, 2, 1, (2, 1)).numpy()
    close(np.asarray(y), ref, algorithm)


# x shape, w shape, stride, padding, channels_last: strided zero-padded convs (padded explicitly by the spec)
REFOLDED = [((1, 1, 4, 1), (1, 1, 2, 2), 2, 1, False),  # XLA 0.10's CPU simplifier aborts on its window-padded dx
            ((2, 3, 9, 8), (4, 3, 3, 3), 2, 1, False), ((2, 9, 8, 3), (4, 3, 3, 3), 2, (2, 1), True),
            ((2, 3, 17, 16), (5, 3, 7, 7), 2, 3, False)]


@pytest.mark.parametrize("args", REFOLDED, ids=str)
@pytest.mark.parametrize("algorithm", [None, "direct", "direct_hipad"])
def test_strided_zero_padded_forward_is_window_padded(args, algorithm):
    """oracle: torch CPU (values, gradients) and XLA's optimised program. A strided conv's zero padding is applied
    explicitly (jaxconv/shapes/specs.py: XLA:CPU aborts compiling some window-padded strided input gradients), and
    XLA's own convolution of that padded input runs slower than the window-padded one (jaxconv/convolution.py,
    _forward): so the forward pass takes the padding back into the window (one convolution with a padded window,
    no pad instruction), while the gradients, to second order, still convolve the explicitly padded input and
    compile (the first shape aborts the process otherwise)."""
    xs, ws, s, p, cl = args
    rng = np.random.default_rng(3)
    x, w = rng.standard_normal(xs).astype(np.float32), rng.standard_normal(ws).astype(np.float32)
    kw = {"channels_last": cl, "weight_layout": "OIHW"}
    xt = torch.tensor(np.moveaxis(x, -1, 1) if cl else x, requires_grad=True)
    wt = torch.tensor(w, requires_grad=True)
    yt = F.conv2d(xt, wt, None, s, p)
    (yt ** 2).sum().backward()

    def f(x, w):
        return jaxconv.conv2d(x, w, None, s, p, **kw)

    def loss(x, w):
        return jnp.sum(f(x, w) ** 2)
    with force(algorithm):  # None: the CPU table
        xj, wj = jnp.asarray(x), jnp.asarray(w)
        y = jax.jit(f)(xj, wj)
        hlo = jax.jit(f).lower(xj, wj).compile().as_text()
        gx, gw = jax.jit(jax.grad(loss, argnums=(0, 1)))(xj, wj)
        hx = jax.jit(jax.grad(lambda x, w: jnp.sum(jax.grad(loss)(x, w) ** 2)))(xj, wj)
    to_cl = (lambda a: np.moveaxis(a, 1, -1)) if cl else (lambda a: a)
    close(np.asarray(y), to_cl(yt.detach().numpy()), "forward")
    close(np.asarray(gx), to_cl(xt.grad.numpy()), "input gradient")
    close(np.asarray(gw), wt.grad.numpy(), "weight gradient")
    assert np.all(np.isfinite(np.asarray(hx)))
    spec = conv_spec("conv2d", xs, ws, None, s, p, 1, 1, "zeros", cl, weight_layout="OIHW")
    if (algorithm or policy.cpu_plan(spec)[0]) in ("direct", "direct_hipad"):  # XLA's own convolution forward
        convs = [ln for ln in hlo.splitlines() if " convolution(" in ln]
        assert len(convs) == 1 and " pad=" in convs[0] and " pad(" not in hlo, hlo


D, H, G, T, P, W, S = "direct", "direct_hipad", "gemm", "taps", "phases", "winograd", "gemm_scan"
SHAPE_TABLE = [
    # (x shape, w shape, stride, padding, groups) -> (forward, input gradient, weight gradient)
    (((8, 3, 224, 224), (64, 3, 7, 7), 2, 3, 1), (H, P, S)),  # ResNet stem: dx over stride phases, dw the chunked GEMM
    (((8, 64, 56, 56), (128, 64, 3, 3), 2, 1, 1), (H, H, S)),  # strided, many channels: no phases
    (((8, 512, 4, 4), (512, 512, 3, 3), 1, 1, 1), (G, G, G)),  # ResNet's last stage at 128x128: tiny output
    (((8, 256, 8, 8), (256, 256, 3, 3), 1, 1, 1), (W, W, S)),  # 3x3 s1: Winograd, the chunked GEMM's weight gradient (NCHW: tests/test_tap_gemm.py has channels-last)
    (((8, 64, 56, 56), (64, 64, 3, 3), 1, 1, 1), (W, W, S)),
    (((8, 128, 28, 28), (128, 128, 3, 3), 1, 1, 1), (W, W, S)),
    (((8, 64, 58, 58), (64, 64, 3, 3), 1, 0, 1), (W, W, S)),  # VALID
    (((8, 256, 14, 14), (1024, 256, 1, 1), 1, 0, 1), (G, G, G)),  # 1x1: a GEMM
    (((64, 1, 28, 28), (6, 1, 5, 5), 1, 0, 1), (G, G, H)),  # LeNet-like conv: few channels
    (((64, 1, 28, 28), (6, 1, 5, 5), 1, 2, 1), (G, G, D)),  # d2l LeNet conv1 (padding 2)
    (((64, 6, 14, 14), (16, 6, 5, 5), 1, 0, 1), (G, G, H)),  # LeNet conv2
    (((8, 64, 56, 56), (128, 64, 1, 1), 2, 0, 1), (G, G, G)),  # strided 1x1 shortcut
    (((8, 64, 32, 32), (128, 64, 3, 3), 2, 1, 1), (G, H, S)),  # 3x3 s2 @32: its whole columns fit, the forward a GEMM
    (((8, 128, 16, 16), (256, 128, 3, 3), 2, 1, 1), (G, H, S)),
    (((1, 64, 112, 112), (128, 64, 3, 3), 2, 1, 1), (G, H, S)),  # batch 1: 1.8M column elements
    (((2, 64, 112, 112), (128, 64, 3, 3), 2, 1, 1), (H, H, S)),  # 3.6M: past one GEMM's 8 MiB
    (((8, 64, 58, 58), (64, 1, 3, 3), 1, 0, 64), (T, T, T)),  # depthwise: the tap fold (jaxconv/depthwise.py)
    (((8, 64, 56, 56), (64, 1, 3, 3), 1, 1, 64), (T, T, T)),
    (((32, 16, 32, 32), (32, 16, 3, 3), 1, 1, 1), (D, D, S)),  # K = 144 but 4.7M patch elements: too big for one GEMM
    (((8, 16, 112, 112), (16, 16, 3, 3), 1, 1, 1), (D, D, D)),  # 16 output channels: XLA's (the chunked GEMM is thin)
    (((1, 2, 8, 8), (3, 2, 3, 3), 1, 0, 1), (H, H, H)),  # tiny: no gemm, all dispatch
    (((1, 1, 4, 4), (1, 1, 1, 1), 1, 0, 1), (D, D, D)),  # tiny 1x1
    (((16, 8, 200), (16, 8, 1), 1, 0, 1), (G, G, G)),  # 1-d 1x1
    (((4, 8, 100), (16, 8, 3), 1, 0, 1), (D, D, D)),  # 1-d: measured only in 2-d, so left to XLA
    (((8, 144, 56, 56), (144, 1, 3, 3), 2, 1, 144), (T, T, T)),  # MobileNetV2 strided depthwise
    (((8, 96, 32, 32), (96, 1, 7, 7), 1, 3, 96), (T, T, T)),  # ConvNeXt 7x7 depthwise
    (((8, 240, 28, 28), (240, 1, 5, 5), 1, 2, 240), (T, T, T)),  # EfficientNet 5x5 depthwise
    (((8, 32, 56, 56), (64, 1, 3, 3), 1, 1, 32), (T, T, T)),  # depthwise, channel multiplier 2
    (((8, 64, 56, 56), (64, 8, 3, 3), 1, 1, 8), (T, G, G)),  # 1 < groups < C, 8 per group: the fold, grouped GEMM gradients
    (((8, 256, 16, 16), (256, 16, 3, 3), 1, 1, 16), (D, G, G)),  # 16 per group: XLA's forward (the fold loses)
    (((8, 48, 64, 64), (48, 8, 3, 3), 2, 1, 6), (T, G, G)),  # RegNet-Y's strided group-width-8 conv
    (((1, 4, 6, 6), (4, 2, 3, 3), 1, 1, 2), (D, G, G)),  # tiny grouped: XLA's weight gradient is slow even here
    (((4, 8, 100), (8, 4, 3), 1, 1, 2), (D, D, D)),  # 1-d grouped: measured only in 2-d
    (((8, 240, 28, 28), (240, 80, 1, 1), 1, 0, 3), (G, G, G)),  # grouped 1x1 (ShuffleNet v1): batched GEMMs
    (((1, 4, 6, 6), (4, 1, 3, 3), 1, 1, 4), (D, D, D)),  # tiny depthwise: all dispatch, XLA's one op
    (((4, 8, 100), (8, 1, 3), 1, 1, 8), (D, D, D)),  # 1-d depthwise: measured only in 2-d
]


@pytest.mark.parametrize("args, expected", SHAPE_TABLE)
def test_automatic_choice_is_static_by_shape(args, expected):
    """oracle: the measured CPU rule (see jaxconv/policy.py): a pure function of the static shapes; XLA's own
    convolution on every other backend."""
    xs, ws, s, p, g = args
    fn = f"conv{len(ws) - 2}d"
    spec = conv_spec(fn, xs, ws, None, s, p, 1, g, "zeros", False)
    assert policy.cpu_plan(spec) == expected
    assert policy.plans(spec) == {"cpu": expected, "default": policy.DIRECT}
    assert conv_spec(fn, xs, ws, None, s, p, 1, g, "zeros", False) is spec  # cached, so the same every call


@pytest.mark.parametrize("args, expected", [c for c in SHAPE_TABLE if c[1] != (D, D, D)][:6])
def test_programs_exported_for_gpu_and_tpu_use_xlas_convolution(args, expected):
    """oracle: the exported StableHLO. Lowered for cuda and tpu (no GPU needed), every conv whose CPU plan is a
    rewrite is XLA's convolution, forward and gradients; lowered for cpu it is the rewrite."""
    xs, ws, s, p, g = args
    x, w = jax.ShapeDtypeStruct(xs, jnp.float32), jax.ShapeDtypeStruct(ws, jnp.float32)
    conv = {1: jaxconv.conv1d, 2: jaxconv.conv2d}[len(ws) - 2]

    def step(x, w):
        return jax.grad(lambda x, w: jnp.sum(conv(x, w, None, s, p, 1, g) ** 2), argnums=(0, 1))(x, w)
    for f in (lambda x, w: conv(x, w, None, s, p, 1, g), step):
        accel = jax.export.export(jax.jit(f), platforms=("cuda", "tpu"))(x, w).mlir_module()
        assert "stablehlo.convolution" in accel and "dot_general" not in accel
        cpu = jax.export.export(jax.jit(f), platforms=("cpu",))(x, w).mlir_module()
        if G in expected:
            assert "dot_general" in cpu
        if expected[0] == H:  # the extra high padding column, cropped
            assert "stablehlo.slice" in cpu


def test_switch_is_part_of_the_jit_cache_key():
    """oracle: the traced programs. A function jitted once retraces when the switch changes (the switch is a JAX
    config state in the jit cache key), instead of reusing the program built under the other choice."""
    x, w = jnp.ones((64, 1, 28, 28)), jnp.ones((6, 1, 5, 5))
    traces = []

    @jax.jit
    def f(x, w):
        traces.append(1)
        return jaxconv.conv2d(x, w)
    hlo = {}
    for algorithm in ("gemm", "direct", "gemm", None):
        with force(algorithm):
            f(x, w)
            hlo[algorithm] = f.lower(x, w).as_text()
    assert len(traces) == 3  # gemm, direct, automatic; the second gemm call reuses the first program
    assert "dot_general" in hlo["gemm"] and "dot_general" not in hlo["direct"]


def test_paths_are_deterministic_and_hlo_is_what_the_spec_says():
    """oracle: bitwise equality of repeated calls; the lowered program's ops."""
    x = jnp.asarray(np.random.default_rng(0).standard_normal((16, 1, 28, 28)), jnp.float32)
    w = jnp.asarray(np.random.default_rng(1).standard_normal((6, 1, 5, 5)), jnp.float32)
    y1, y2 = jaxconv.conv2d(x, w), jaxconv.conv2d(x, w)
    assert np.array_equal(np.asarray(y1), np.asarray(y2))

    def ops(algorithm: str) -> str:
        with force(algorithm):
            return jax.jit(lambda x, w: jaxconv.conv2d(x, w)).lower(x, w).as_text()
    assert "convolution" not in ops("gemm") and "dot_general" in ops("gemm")
    assert ops("direct").count("stablehlo.convolution") == 1
    hipad = ops("direct_hipad")
    assert hipad.count("stablehlo.convolution") == 1 and "stablehlo.slice" in hipad
    assert "pad = [[0, 0], [0, 1]]" in hipad or "[0, 1]]" in hipad  # the extra high-side column


def test_gemm_path_dtypes_precision_vmap_and_grad_under_jit():
    """oracle: the direct lax path (bfloat16 within its rounding; precision=HIGHEST; vmap; jit of grad)."""
    r = np.random.default_rng(3)
    x = jnp.asarray(r.standard_normal((4, 2, 12, 12)), jnp.float32)
    w = jnp.asarray(r.standard_normal((5, 2, 3, 3)), jnp.float32)

    def run(algorithm: str, f):
        with force(algorithm):
            return f()
    for dt, tol in ((jnp.bfloat16, 5e-2), (jnp.float16, 5e-3)):
        xd, wd = x.astype(dt), w.astype(dt)
        a = run("gemm", lambda xd=xd, wd=wd: jaxconv.conv2d(xd, wd, padding=1))
        b = run("direct", lambda xd=xd, wd=wd: jaxconv.conv2d(xd, wd, padding=1))
        assert a.dtype == dt
        np.testing.assert_allclose(np.asarray(a, np.float32), np.asarray(b, np.float32), rtol=tol, atol=tol * 10)
    hi = run("gemm", lambda: jaxconv.conv2d(x, w, padding=1, precision=jax.lax.Precision.HIGHEST))
    close(np.asarray(hi), np.asarray(run("direct", lambda: jaxconv.conv2d(x, w, padding=1))), "precision")

    def vm(algorithm: str):
        return run(algorithm, lambda: jax.vmap(lambda xi: jaxconv.conv2d(xi, w, stride=2))(x))
    close(np.asarray(vm("gemm")), np.asarray(vm("direct")), "vmap")

    def grads(algorithm: str):
        loss = jax.jit(jax.grad(lambda x, w: jnp.sum(jnp.tanh(jaxconv.conv2d(x, w, padding="same"))), argnums=(0, 1)))
        return run(algorithm, lambda: loss(x, w))
    for a, b in zip(grads("gemm"), grads("direct")):
        close(np.asarray(a), np.asarray(b), "jit grad")
    for a, b in zip(grads("direct_hipad"), grads("direct")):
        close(np.asarray(a), np.asarray(b), "jit grad hipad")


def test_mixed_paths_forward_mode_and_second_order():
    """oracle: the direct lax path's JVP, and jax.test_util.check_grads (numerical) to second order."""
    r = np.random.default_rng(5)
    x = jnp.asarray(r.standard_normal((2, 2, 7, 6)), jnp.float32)
    w = jnp.asarray(r.standard_normal((3, 2, 3, 2)), jnp.float32)
    xd, wd = jnp.asarray(r.standard_normal(x.shape), jnp.float32), jnp.asarray(r.standard_normal(w.shape), jnp.float32)

    def f(x, w):
        return jaxconv.conv2d(x, w, None, (2, 1), ((1, 0), (2, 1)))
    with force(D):
        y0, t0 = jax.jvp(f, (x, w), (xd, wd))
    for triple in ((G, G, H), (H, G, D), (G, D, G)):
        with force(triple):
            y, t = jax.jvp(f, (x, w), (xd, wd))
            _, tx = jax.jvp(lambda x: f(x, w), (x,), (xd,))  # a symbolic-zero weight tangent
            close(np.asarray(y), np.asarray(y0), f"{triple} y")
            close(np.asarray(t), np.asarray(t0), f"{triple} jvp")
            close(np.asarray(tx), np.asarray(jax.jvp(lambda x: f(x, w), (x,), (xd,))[1]), f"{triple} jvp x")
            x64, w64 = x[:1, :1, :5, :4], w[:2, :1]
            jax.test_util.check_grads(f, (x64, w64), order=2, modes=("fwd", "rev"), atol=5e-2, rtol=5e-2)


def test_force_switch():
    """oracle: the switch's contract (scoped, nests, restores the automatic choice; rejects what a path cannot do)."""
    x, w = jnp.ones((1, 4, 6, 6)), jnp.ones((4, 4, 3, 3))
    with pytest.raises(ValueError, match="unknown conv algorithm"), force("fft"):
        pass
    with pytest.raises(ValueError, match="'taps' needs a grouped or depthwise conv"), force("taps"):
        jaxconv.conv2d(x, w)
    assert policy.forced_plan() is None
    with pytest.raises(ValueError, match="unknown conv algorithm"), force(("gemm", "direct")):
        pass
    with force("direct_hipad"):
        with force(None):
            assert policy.forced_plan() is None
        assert policy.forced_plan() == ("direct_hipad",) * 3
        with force(("gemm", "direct", "direct_hipad")):
            assert policy.forced_plan() == ("gemm", "direct", "direct_hipad")
    assert policy.forced_plan() is None


@pytest.mark.parametrize("padding_mode", ["zeros", "reflect"])
@pytest.mark.parametrize("groups", [1, 6])
def test_channels_last_padding_stays_channels_last(padding_mode, groups):
    """oracle: torch CPU on the NCHW view; the traced program. A channels-last conv whose padding is applied
    explicitly (strided zero padding, or a padding mode) pads the spatial dims where they lie: no transpose
    in the program, forward or backward. Moved to NCHW and back, XLA:CPU materialised the pad NCHW
    (EfficientNet-B0's 3x3 s2 depthwise conv: a 10 ms pad where an NHWC one takes ~1.5)."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 9, 8, 6)).astype(np.float32)  # NHWC
    w = rng.standard_normal((6, 6 // groups, 3, 3)).astype(np.float32)
    kw = dict(stride=2, padding=1, groups=groups, padding_mode=padding_mode, channels_last=True, weight_layout="OIHW")
    spec = conv_spec("conv2d", (2, 6, 9, 8), w.shape, None, 2, 1, 1, groups, padding_mode, False)
    assert any(lo or hi for lo, hi in spec.mode_pads)  # the case under test: an explicit pad

    def loss(x, w):
        return jnp.sum(jaxconv.conv2d(x, w, **kw) ** 2)
    jaxpr = str(jax.make_jaxpr(jax.value_and_grad(loss, argnums=(0, 1)))(x, w))
    assert "transpose[" not in jaxpr
    y = jaxconv.conv2d(jnp.asarray(x), jnp.asarray(w), **kw)
    tx = torch.tensor(x).permute(0, 3, 1, 2)
    ref = F.conv2d(F.pad(tx, (1, 1, 1, 1), mode="reflect") if padding_mode == "reflect" else tx, torch.tensor(w),
                   None, 2, 0 if padding_mode == "reflect" else 1, 1, groups).permute(0, 2, 3, 1).numpy()
    close(np.asarray(y), ref, f"{padding_mode} groups={groups}")
