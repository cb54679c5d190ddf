"""Checks of the NumPy oracle (tests/reference.py) against torch CPU.

The oracle is what jaxconv's parity tests compare with, so it is itself
checked here against PyTorch's CPU implementation on small random
configurations: ties (small-integer inputs), NaNs, ceil_mode, non-integer
scale factors, and the other corner cases listed in reference.py.
Skipped when torch is not installed.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from tests import reference as R

torch = pytest.importorskip("torch")  # torch is only the oracle here; [test] installs it, so CI runs these
F = torch.nn.functional

N_CASES = 20


def T(a):
    return torch.from_numpy(np.ascontiguousarray(a))


def A(t):
    return t.detach().cpu().numpy()


def rng_for(name):
    return np.random.default_rng([ord(ch) for ch in name])


def torch_flat_pad(pairs):
    """(lo, hi) per dim in array order -> torch F.pad's flat last-dim-first tuple."""
    flat = []
    for lo, hi in reversed(pairs):
        flat += [lo, hi]
    return flat


def pick(rng, seq):
    return seq[int(rng.integers(len(seq)))]


def torch_pool_len(n, k, s, pl, ph, d, ceil):
    """Transcription of ATen Pool.h pooling_output_shape_pad_lr."""
    num = n + pl + ph - d * (k - 1) - 1 + (s - 1 if ceil else 0)
    out = num // s + 1  # div_rtn: floor division
    if ceil and (out - 1) * s >= n + pl:
        out -= 1
    return out


# ---------------------------------------------------------------------------


def test_pad():
    """pad_ref in all four modes, 1-3 spatial dims, incl. negative constant pads.
    oracle: torch CPU (F.pad)."""
    rng = rng_for("pad")
    modes = ["constant", "reflect", "replicate", "circular"]
    for case in range(N_CASES * 2):
        nd = int(rng.integers(1, 4))
        mode = modes[case % 4]
        shape = (2, 2, *tuple(int(v) for v in rng.integers(2, 6, size=nd)))
        x = rng.standard_normal(shape)
        pairs = []
        for n in shape[2:]:
            if mode == "reflect":
                lo, hi = rng.integers(0, n, size=2)
            elif mode == "circular":
                lo, hi = rng.integers(0, n + 1, size=2)
            elif mode == "constant":
                lo, hi = rng.integers(-1, 4, size=2)
            else:
                lo, hi = rng.integers(0, 5, size=2)
            pairs.append((int(lo), int(hi)))
        kw = {"value": 1.5} if mode == "constant" else {}
        ref = R.pad_ref(x, pairs, mode, **kw)
        tor = A(F.pad(T(x), torch_flat_pad(pairs), mode=mode, **kw))
        np.testing.assert_array_equal(ref, tor, err_msg=f"{mode} {shape} {pairs}")


def test_conv():
    """conv_ref with groups, stride, dilation, asymmetric zero padding, bias.
    oracle: torch CPU (F.pad + F.conv{1,2,3}d)."""
    rng = rng_for("conv")
    convs = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
    done = 0
    while done < N_CASES:
        nd = int(rng.integers(1, 4))
        groups = int(rng.integers(1, 3))
        C = groups * int(rng.integers(1, 3))
        Cout = groups * int(rng.integers(1, 3))
        ks = tuple(int(v) for v in rng.integers(1, 4, size=nd))
        st = tuple(int(v) for v in rng.integers(1, 4, size=nd))
        dl = tuple(int(v) for v in rng.integers(1, 3, size=nd))
        pairs = [tuple(int(v) for v in rng.integers(0, 3, size=2)) for _ in range(nd)]
        sp = tuple(int(v) for v in rng.integers(3, 7 if nd < 3 else 5, size=nd))
        if any(n + lo + hi < d * (k - 1) + 1 for n, (lo, hi), d, k in zip(sp, pairs, dl, ks)):
            continue
        x = rng.standard_normal((2, C, *sp))
        w = rng.standard_normal((Cout, C // groups, *ks))
        b = rng.standard_normal(Cout) if rng.random() < 0.5 else None
        ref = R.conv_ref(x, w, b, st, pairs, dl, groups)
        xp = F.pad(T(x), torch_flat_pad(pairs))
        tor = A(convs[nd](xp, T(w), None if b is None else T(b), st, 0, dl, groups))
        np.testing.assert_allclose(ref, tor, rtol=1e-12, atol=1e-12)
        done += 1
    # symmetric int padding spelling
    x = rng.standard_normal((1, 2, 5, 6))
    w = rng.standard_normal((3, 2, 3, 2))
    np.testing.assert_allclose(R.conv_ref(x, w, None, 1, 1, 1, 1), A(F.conv2d(T(x), T(w), padding=1)), rtol=1e-12, atol=1e-12)


def test_conv_transpose():
    """conv_transpose_ref with groups, stride, dilation, padding, output_padding.
    oracle: torch CPU (F.conv_transpose{1,2,3}d)."""
    rng = rng_for("convT")
    convs = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}
    done = 0
    while done < N_CASES:
        nd = int(rng.integers(1, 4))
        groups = int(rng.integers(1, 3))
        C = groups * int(rng.integers(1, 3))
        Og = int(rng.integers(1, 3))
        ks = tuple(int(v) for v in rng.integers(1, 4, size=nd))
        st = tuple(int(v) for v in rng.integers(1, 4, size=nd))
        dl = tuple(int(v) for v in rng.integers(1, 3, size=nd))
        pd = tuple(int(v) for v in rng.integers(0, 3, size=nd))
        op = tuple(int(rng.integers(0, max(s, d))) for s, d in zip(st, dl))
        sp = tuple(int(v) for v in rng.integers(1, 5 if nd < 3 else 4, size=nd))
        out = [(n - 1) * s - 2 * p + d * (k - 1) + o + 1 for n, s, p, d, k, o in zip(sp, st, pd, dl, ks, op)]
        if any(v <= 0 for v in out):
            continue
        x = rng.standard_normal((2, C, *sp))
        w = rng.standard_normal((C, Og, *ks))
        b = rng.standard_normal(Og * groups) if rng.random() < 0.5 else None
        ref = R.conv_transpose_ref(x, w, b, st, pd, op, groups, dl)
        tor = A(convs[nd](T(x), T(w), None if b is None else T(b), st, pd, op, groups, dl))
        assert ref.shape == tor.shape
        np.testing.assert_allclose(ref, tor, rtol=1e-12, atol=1e-12)
        done += 1


def test_pool_output_size():
    """pool_output_size_ref (window enumeration) vs torch's closed form.
    oracle: torch CPU (max_pool1d output length) and ATen Pool.h's formula."""
    rng = rng_for("poolsize")
    for _ in range(200):
        n = int(rng.integers(1, 12))
        k = int(rng.integers(1, 5))
        s = int(rng.integers(1, 5))
        d = int(rng.integers(1, 3))
        ek = d * (k - 1) + 1
        pl = int(rng.integers(0, ek // 2 + 1))
        ph = int(rng.integers(0, ek // 2 + 1))
        ceil = bool(rng.integers(2))
        formula = torch_pool_len(n, k, s, pl, ph, d, ceil)
        got = R.pool_output_size_ref(n, k, s, pl, ph, d, ceil)
        assert got == max(formula, 0), (n, k, s, pl, ph, d, ceil)
        if torch_pool_len(n, k, s, pl, pl, d, ceil) >= 1 and pl <= k // 2:  # torch: pad <= k // 2
            x = torch.zeros(1, 1, n, dtype=torch.float64)
            assert R.pool_output_size_ref(n, k, s, pl, pl, d, ceil) == F.max_pool1d(x, k, s, pl, d, ceil).shape[-1]


def _pool_config(rng, nd, max_dil=2, min_size=1):
    """Random (shape, kernel, stride, padding, dilation, ceil) valid for torch.

    The (dilated) kernel always fits the unpadded input: torch's 3-d pools
    require that.
    """
    while True:
        ks = tuple(int(v) for v in rng.integers(1, 4, size=nd))
        st = None if rng.random() < 0.2 else tuple(int(v) for v in rng.integers(1, 4, size=nd))
        dl = tuple(int(v) for v in rng.integers(1, max_dil + 1, size=nd))
        # torch's max_pool1d checks padding <= kernel // 2 (not the dilated size)
        pd = tuple(int(rng.integers(0, k // 2 + 1)) for k in ks)
        ceil = bool(rng.integers(2))
        sp = tuple(int(v) for v in rng.integers(min_size, 8 if nd < 3 else 6, size=nd))
        sts = ks if st is None else st
        if all(
            torch_pool_len(n, k, s, p, p, d, ceil) >= 1 and n >= d * (k - 1) + 1 for n, k, s, p, d in zip(sp, ks, sts, pd, dl)
        ):
            return (2, 3, *sp), ks, st, pd, dl, ceil


def _max_pool_torch(x, nd, ks, st, pd, dl, ceil):
    fn = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}[nd]
    v, i = fn(T(x), ks, st, pd, dl, ceil, return_indices=True)
    v2 = fn(T(x), ks, st, pd, dl, ceil)  # the no-indices code path too
    return A(v), A(i), A(v2)


def test_max_pool_ties_and_ceil():
    """max_pool_ref on small-integer inputs (many ties): values and first-max
    indices, ceil_mode, padding, dilation.  oracle: torch CPU."""
    rng = rng_for("maxpool")
    for case in range(N_CASES):
        nd = 1 + case % 3
        shape, ks, st, pd, dl, ceil = _pool_config(rng, nd)
        x = rng.integers(-2, 3, size=shape).astype(np.float64)
        v, i = R.max_pool_ref(x, ks, st, pd, dl, ceil)
        tv, ti, tv2 = _max_pool_torch(x, nd, ks, st, pd, dl, ceil)
        assert v.dtype == np.float64 and i.dtype == np.int64
        np.testing.assert_array_equal(v, tv)
        np.testing.assert_array_equal(v, tv2)
        np.testing.assert_array_equal(i, ti, err_msg=f"{shape} k={ks} s={st} p={pd} d={dl} ceil={ceil}")


def test_max_pool_nan():
    """max_pool_ref with NaNs (and -inf): NaN propagates and the LAST NaN of the
    window scan gives the index.  oracle: torch CPU."""
    rng = rng_for("maxpoolnan")
    for case in range(N_CASES):
        nd = 1 + case % 3
        shape, ks, st, pd, dl, ceil = _pool_config(rng, nd)
        x = rng.integers(-2, 3, size=shape).astype(np.float64)
        x[rng.random(shape) < 0.3] = np.nan
        x[rng.random(shape) < 0.1] = -np.inf
        v, i = R.max_pool_ref(x, ks, st, pd, dl, ceil)
        tv, ti, tv2 = _max_pool_torch(x, nd, ks, st, pd, dl, ceil)
        np.testing.assert_array_equal(v, tv)
        np.testing.assert_array_equal(v, tv2)
        np.testing.assert_array_equal(i, ti)
    # explicit: NaNs at scan positions 1 and 3 of one window -> index 3
    x = np.array([[[1.0, np.nan, 3.0, np.nan, 2.0]]])
    v, i = R.max_pool_ref(x, 5)
    assert np.isnan(v[0, 0, 0]) and i[0, 0, 0] == 3
    assert A(F.max_pool1d(T(x), 5, return_indices=True)[1])[0, 0, 0] == 3


def test_max_pool_integer_dtypes():
    """max_pool_ref keeps integer dtypes (incl. values at the dtype minimum).
    oracle: torch CPU."""
    rng = rng_for("maxpoolint")
    dtypes = [(np.int64, torch.int64), (np.int32, torch.int32), (np.int8, torch.int8)]
    for case in range(N_CASES // 2):
        nd = 1 + case % 3
        npdt, tdt = dtypes[case % 3]
        shape, ks, st, pd, dl, ceil = _pool_config(rng, nd)
        x = rng.integers(-3, 3, size=shape).astype(npdt)
        x[rng.random(shape) < 0.2] = np.iinfo(npdt).min
        v, i = R.max_pool_ref(x, ks, st, pd, dl, ceil)
        fn = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}[nd]
        tv, ti = fn(T(x).to(tdt), ks, st, pd, dl, ceil, return_indices=True)
        assert v.dtype == npdt
        np.testing.assert_array_equal(v, A(tv))
        np.testing.assert_array_equal(i, A(ti))


def test_avg_pool():
    """avg_pool_ref: count_include_pad, divisor_override, ceil_mode overhang.
    oracle: torch CPU (F.avg_pool{1,2,3}d)."""
    rng = rng_for("avgpool")
    for case in range(N_CASES * 2):
        nd = 1 + case % 3
        shape, ks, st, pd, _, ceil = _pool_config(rng, nd, max_dil=1)
        cip = bool(rng.integers(2))
        div = None if (nd == 1 or rng.random() < 0.5) else int(rng.integers(1, 7))
        x = rng.standard_normal(shape)
        ref = R.avg_pool_ref(x, ks, st, pd, ceil, cip, div)
        if nd == 1:
            tor = F.avg_pool1d(T(x), ks, st, pd, ceil, cip)
        else:
            fn = {2: F.avg_pool2d, 3: F.avg_pool3d}[nd]
            tor = fn(T(x), ks, st, pd, ceil, cip, div)
        np.testing.assert_allclose(ref, A(tor), rtol=1e-12, atol=1e-13, err_msg=f"{shape} {ks} {st} {pd} {ceil} {cip} {div}")


def test_lp_pool():
    """lp_pool_ref incl. ceil_mode overhang windows (torch rescales them by the
    full kernel area), negative inputs, fractional p and p = +-inf.
    oracle: torch CPU (F.lp_pool{1,2,3}d)."""
    rng = rng_for("lppool")
    norms = [1, 2, 3, 1.5, 0.5, math.inf, -math.inf, 2.0]
    for case in range(N_CASES + 4):
        nd = 1 + case % 3
        shape, ks, st, _, _, ceil = _pool_config(rng, nd, max_dil=1)
        p = norms[case % len(norms)]
        x = rng.uniform(0.1, 2.0, size=shape)
        if case % 4 == 3:
            x = rng.standard_normal(shape)  # negatives: NaN for fractional p
        if nd == 1:
            kk, ss = ks[0], (None if st is None else st[0])
            tor = F.lp_pool1d(T(x), p, kk, ss, ceil)
            ref = R.lp_pool_ref(x, p, kk, ss, ceil)
        else:
            fn = {2: F.lp_pool2d, 3: F.lp_pool3d}[nd]
            tor = fn(T(x), p, ks, st, ceil)
            ref = R.lp_pool_ref(x, p, ks, st, ceil)
        np.testing.assert_allclose(ref, A(tor), rtol=1e-12, atol=1e-12, equal_nan=True, err_msg=f"p={p} {shape} {ks} {st} {ceil}")
    # the ceil-mode overhang: window [2, 3) of a length-3 input, kernel 2
    x = np.array([[[1.0, 2.0, 3.0]]])
    ref = R.lp_pool_ref(x, 2, 2, 2, True)
    np.testing.assert_allclose(ref[0, 0], [math.sqrt(5.0), math.sqrt(9.0 * 2)])
    np.testing.assert_allclose(ref, A(F.lp_pool1d(T(x), 2, 2, 2, True)), rtol=1e-12)


def test_adaptive_avg_pool():
    """adaptive_avg_pool_ref, output larger and smaller than the input, None entries.
    oracle: torch CPU (F.adaptive_avg_pool{1,2,3}d)."""
    rng = rng_for("aavg")
    for case in range(N_CASES):
        nd = 1 + case % 3
        sp = tuple(int(v) for v in rng.integers(1, 8 if nd < 3 else 6, size=nd))
        osz = tuple(int(rng.integers(1, n + 3)) for n in sp)
        x = rng.standard_normal((2, 2, *sp))
        fn = {1: F.adaptive_avg_pool1d, 2: F.adaptive_avg_pool2d, 3: F.adaptive_avg_pool3d}[nd]
        np.testing.assert_allclose(R.adaptive_avg_pool_ref(x, osz), A(fn(T(x), osz)), rtol=1e-12, atol=1e-13)
    x = rng.standard_normal((1, 2, 5, 7))
    np.testing.assert_allclose(R.adaptive_avg_pool_ref(x, (3, None)), A(F.adaptive_avg_pool2d(T(x), (3, None))), rtol=1e-12)


def test_adaptive_max_pool():
    """adaptive_max_pool_ref with ties and NaNs: values and indices.
    oracle: torch CPU (F.adaptive_max_pool{1,2,3}d)."""
    rng = rng_for("amax")
    for case in range(N_CASES):
        nd = 1 + case % 3
        sp = tuple(int(v) for v in rng.integers(1, 8 if nd < 3 else 6, size=nd))
        osz = tuple(int(rng.integers(1, n + 3)) for n in sp)
        x = rng.integers(-2, 3, size=(2, 2, *sp)).astype(np.float64)
        if case % 2:
            x[rng.random(x.shape) < 0.3] = np.nan
        v, i = R.adaptive_max_pool_ref(x, osz)
        fn = {1: F.adaptive_max_pool1d, 2: F.adaptive_max_pool2d, 3: F.adaptive_max_pool3d}[nd]
        tv, ti = fn(T(x), osz, return_indices=True)
        np.testing.assert_array_equal(v, A(tv))
        np.testing.assert_array_equal(i, A(ti))


def test_max_unpool():
    """max_unpool_ref on max-pool indices (overlapping windows give duplicate
    indices) and on random duplicate indices (last write wins).
    oracle: torch CPU (F.max_unpool{1,2,3}d)."""
    rng = rng_for("unpool")
    fns = {1: F.max_unpool1d, 2: F.max_unpool2d, 3: F.max_unpool3d}
    for case in range(N_CASES):
        nd = 1 + case % 3
        shape, ks, st, pd, _, ceil = _pool_config(rng, nd, max_dil=1)
        x = rng.standard_normal(shape)
        pool = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}[nd]
        v, i = pool(T(x), ks, st, pd, 1, ceil, return_indices=True)
        if v.numel() == 0:
            continue
        ref = R.max_unpool_ref(A(v), A(i), shape[2:])
        tor = fns[nd](v, i, ks, st, pd, output_size=shape[2:])
        np.testing.assert_array_equal(ref, A(tor))
    # random indices with duplicates inside one channel: torch CPU writes
    # sequentially, so the last one wins
    for _ in range(5):
        x = rng.standard_normal((2, 3, 4))
        idx = rng.integers(0, 5, size=(2, 3, 4)).astype(np.int64)
        ref = R.max_unpool_ref(x, idx, (8,))
        tor = F.max_unpool1d(T(x), T(idx), 2, 2, 0, output_size=(8,))
        np.testing.assert_array_equal(ref, A(tor))


def _interp_case(rng):
    mode = pick(rng, ["nearest", "nearest-exact", "area", "linear", "bilinear", "bicubic", "trilinear"])
    nd = {"linear": 1, "bilinear": 2, "bicubic": 2, "trilinear": 3}.get(mode, int(rng.integers(1, 4)))
    sp = tuple(int(v) for v in rng.integers(1, 9 if nd < 3 else 5, size=nd))
    align = None
    if mode in ("linear", "bilinear", "bicubic", "trilinear"):
        align = pick(rng, [None, False, True])
    size = scale = recompute = None
    if rng.random() < 0.35:
        size = tuple(int(rng.integers(1, 12 if nd < 3 else 7)) for _ in range(nd))
    else:
        cands = [0.5, 2.0, 3.0, 1.5, 1.1, 0.75, 1.7, 2.3, 0.6, 1.0, 0.34, 2.9, 1.3333]
        scale = tuple(pick(rng, cands) if rng.random() < 0.5 else round(float(rng.uniform(0.3, 3.2)), 3) for _ in range(nd))
        if any(math.floor(n * s) < 1 for n, s in zip(sp, scale)):
            scale = tuple(max(s, 1.0) for s in scale)
        if rng.random() < 0.3:
            scale = scale[0]  # a scalar scale factor
        recompute = pick(rng, [None, False, True])
    return mode, nd, sp, align, size, scale, recompute


def test_interpolate_float64():
    """interpolate_ref, all modes, sizes and non-integer scale factors with
    recompute_scale_factor None/False/True and align_corners.
    oracle: torch CPU (F.interpolate), float64 inputs."""
    rng = rng_for("interp64")
    for _case in range(N_CASES * 6):
        mode, _nd, sp, align, size, scale, recompute = _interp_case(rng)
        x = rng.standard_normal((2, 2, *sp))
        kw = dict(size=size, scale_factor=scale, mode=mode, align_corners=align, recompute_scale_factor=recompute)
        ref = R.interpolate_ref(x, **kw)
        tor = A(F.interpolate(T(x), **kw))
        assert ref.shape == tor.shape, kw
        np.testing.assert_allclose(ref, tor, rtol=1e-11, atol=1e-12, err_msg=f"{sp} {kw}")


def test_interpolate_float32():
    """interpolate_ref with float32 inputs (float32 coordinate math): nearest
    indices must match exactly.  oracle: torch CPU (F.interpolate), float32."""
    rng = rng_for("interp32")
    for _case in range(N_CASES * 6):
        mode, _nd, sp, align, size, scale, recompute = _interp_case(rng)
        x = rng.standard_normal((1, 2, *sp)).astype(np.float32)
        kw = dict(size=size, scale_factor=scale, mode=mode, align_corners=align, recompute_scale_factor=recompute)
        ref = R.interpolate_ref(x, **kw)
        tor = A(F.interpolate(T(x), **kw)).astype(np.float64)
        if mode.startswith("nearest"):
            np.testing.assert_array_equal(ref, tor, err_msg=f"{sp} {kw}")
        else:
            np.testing.assert_allclose(ref, tor, rtol=1e-5, atol=1e-5, err_msg=f"{sp} {kw}")


def test_interpolate_float32_fma_coordinates():
    """float32 linear interpolation with source coordinates around 30: torch's
    x86 kernels fuse scale * (i + 0.5) - 0.5 into one FMA, which the oracle
    models (fma=True); the two-rounding model is off by ~ulp(src) * |dx|.
    oracle: torch CPU (F.interpolate), float32."""
    rng = rng_for("interpfma")
    worst_plain = 0.0
    for _ in range(N_CASES):
        n = int(rng.integers(25, 40))
        m = int(rng.integers(45, 90))
        x = rng.standard_normal((1, 1, n)).astype(np.float32)
        tor = A(F.interpolate(T(x), size=m, mode="linear")).astype(np.float64)
        np.testing.assert_allclose(R.interpolate_ref(x, size=m, mode="linear"), tor, rtol=0, atol=1e-6)
        plain = R.interpolate_ref(x, size=m, mode="linear", fma=False)
        worst_plain = max(worst_plain, float(np.abs(plain - tor).max()))
    assert worst_plain > 1e-6  # the FMA modelling is what makes the 1e-6 hold


def test_interpolate_corner_rules():
    """Torch's size shortcuts and kernel-path rules reproduced by interpolate_ref.
    oracle: torch CPU (F.interpolate)."""
    rng = rng_for("interpcorner")
    cases = [
        # linear: out == in is an identity copy even for scale_factor 1.1
        ((1, 1, 5), dict(scale_factor=1.1, mode="linear")),
        ((1, 1, 4, 5), dict(scale_factor=(1.1, 1.05), mode="bilinear")),
        # bicubic has no such shortcut
        ((1, 1, 4, 5), dict(scale_factor=(1.1, 1.05), mode="bicubic")),
        # 2-d nearest with out_h + out_w <= 128: nearest_idx shortcuts
        ((1, 1, 5, 4), dict(scale_factor=(1.1, 2.2), mode="nearest")),
        # 2-d nearest with out_h + out_w > 128: generic kernel, no shortcuts
        ((1, 1, 100, 40), dict(scale_factor=(1.001, 1.01), mode="nearest")),
        ((1, 1, 70, 33), dict(scale_factor=(1.001, 2.03), mode="nearest")),
        ((1, 1, 70, 33), dict(scale_factor=(1.001, 2.03), mode="nearest-exact")),
        # 1-d / 3-d nearest: generic kernel, no shortcuts
        ((1, 1, 5), dict(scale_factor=1.1, mode="nearest")),
        ((1, 1, 3, 4, 5), dict(scale_factor=(1.1, 2.2, 1.0), mode="nearest")),
        # recompute_scale_factor=True uses in/out instead of 1/scale
        ((1, 1, 5), dict(scale_factor=1.7, mode="linear", recompute_scale_factor=True)),
        ((1, 1, 7, 3), dict(scale_factor=0.45, mode="nearest", recompute_scale_factor=True)),
        # align_corners ignores the scale factor; out == 1 uses scale 0
        ((1, 1, 6), dict(scale_factor=0.2, mode="linear", align_corners=True)),
        ((1, 1, 6, 5), dict(size=(1, 9), mode="bicubic", align_corners=True)),
        # area: always recomputes (adaptive average pooling)
        ((1, 1, 7, 5), dict(scale_factor=(0.6, 1.5), mode="area")),
    ]
    for shape, kw in cases:
        for dt in (np.float64, np.float32):
            x = rng.standard_normal(shape).astype(dt)
            ref = R.interpolate_ref(x, **kw)
            tor = A(F.interpolate(T(x), **kw)).astype(np.float64)
            tol = 1e-12 if dt == np.float64 else 1e-5
            np.testing.assert_allclose(ref, tor, rtol=tol, atol=tol, err_msg=f"{shape} {kw} {dt}")
    # the shortcut really matters: without it the result is not the input
    x = np.arange(5.0).reshape(1, 1, 5)
    np.testing.assert_array_equal(R.interpolate_ref(x, scale_factor=1.1, mode="linear"), x)
    assert not np.array_equal(R.interpolate_ref(x, scale_factor=1.1, mode="nearest"), x)


def test_unfold_fold():
    """unfold_ref / fold_ref with kernel, dilation, padding, stride.
    oracle: torch CPU (F.unfold, F.fold)."""
    rng = rng_for("unfold")
    done = 0
    while done < N_CASES:
        ks = tuple(int(v) for v in rng.integers(1, 4, size=2))
        dl = tuple(int(v) for v in rng.integers(1, 3, size=2))
        pd = tuple(int(v) for v in rng.integers(0, 3, size=2))
        st = tuple(int(v) for v in rng.integers(1, 4, size=2))
        H, W = (int(v) for v in rng.integers(1, 8, size=2))
        C = int(rng.integers(1, 4))
        bh = (H + 2 * pd[0] - dl[0] * (ks[0] - 1) - 1) // st[0] + 1
        bw = (W + 2 * pd[1] - dl[1] * (ks[1] - 1) - 1) // st[1] + 1
        if bh < 1 or bw < 1:
            continue
        x = rng.standard_normal((2, C, H, W))
        np.testing.assert_array_equal(R.unfold_ref(x, ks, dl, pd, st), A(F.unfold(T(x), ks, dl, pd, st)))
        cols = rng.standard_normal((2, C * ks[0] * ks[1], bh * bw))
        np.testing.assert_allclose(
            R.fold_ref(cols, (H, W), ks, dl, pd, st), A(F.fold(T(cols), (H, W), ks, dl, pd, st)), rtol=1e-12, atol=1e-12
        )
        done += 1


def test_pixel_shuffle():
    """pixel_shuffle_ref / pixel_unshuffle_ref.  oracle: torch CPU."""
    rng = rng_for("pixshuf")
    for _ in range(N_CASES):
        r = int(rng.integers(1, 4))
        C = int(rng.integers(1, 4))
        H, W = (int(v) for v in rng.integers(1, 5, size=2))
        x = rng.standard_normal((2, C * r * r, H, W))
        y = R.pixel_shuffle_ref(x, r)
        np.testing.assert_array_equal(y, A(F.pixel_shuffle(T(x), r)))
        np.testing.assert_array_equal(R.pixel_unshuffle_ref(y, r), A(F.pixel_unshuffle(T(y), r)))
        np.testing.assert_array_equal(R.pixel_unshuffle_ref(y, r), x)
