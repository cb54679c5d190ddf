"""Zero-size dims (issue #13): jaxconv raises exactly where torch 2.13 raises, and returns torch's empty result elsewhere.

The oracle is torch itself, called in the test: for each case of the table below (an op,
its arguments, the shapes of its arrays) torch's CPU op is run; where it raises (any
exception: RuntimeError, ValueError, IndexError) jaxconv must raise a ``ValueError``
naming the function and the argument (``"max_pool1d: `input`"``) before any XLA call,
and where it returns, jaxconv must return the same shape and values (empty, or e.g.
the bias of a linear map with ``in_features = 0``).

The shapes probed are a short explicit list per op family, taken from torch's OpInfo
error inputs (``error_inputs_max_pool1d``'s ``(0, 10)`` and ``(1, 10, 0)``,
``error_inputs_max_pool3d``'s ``(0, 1, 2, 10)`` ...) and widened to: a zero batch dim,
zero channels, each zero spatial dim, and the unbatched forms of each.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax.numpy as jnp
import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch is the oracle for these cases")
import torch.nn.functional as F  # noqa: E402

import jaxconv  # noqa: E402
from jaxconv.shapes import from_torch_pad  # noqa: E402


class Case(NamedTuple):
    fn: str                              # the function name jaxconv's error must start with
    call: Callable[..., Any]             # call(module, *arrays): module is torch.nn.functional or jaxconv
    shapes: tuple[tuple[int, ...], ...]  # the arrays passed positionally (float32, or int64 at `ints`)
    arg: str = "input"                   # the argument jaxconv's error must name
    jax_call: Callable[..., Any] | None = None  # where jaxconv's signature differs from torch's
    ints: tuple[int, ...] = ()
    tag: str = ""
    oracle: str = "cpu"                  # torch's device: "meta" where the CPU kernel's shape is a shortcut's
    xfail: str = ""                      # a known difference left to code outside this change, and why

    def id(self) -> str:
        tag = f"/{self.tag.replace(' ', '')}" if self.tag else ""
        return f"{self.fn}{tag}-{'-'.join('x'.join(map(str, s)) or 'scalar' for s in self.shapes)}"


CASES: list[Case] = []


def case(fn: str, call: Callable[..., Any], *shapes: tuple[int, ...], **kw: Any) -> None:
    CASES.append(Case(fn, call, shapes, **kw))


# A deliberate difference (README "Error rules"), tested as such in test_conv_zero_channels_difference: for C = 0
# torch returns (N, 0, *out) (its empty-input path drops out_channels); jaxconv returns the empty sum, (N,
# out_channels, *out) zeros (plus the bias), the shape every other input size gives.
_CONV_C0 = "deliberate difference: jaxconv returns (N, out_channels, *out) zeros for C = 0, torch (N, 0, *out)"

# --- convolutions: x (N, C, *spatial), weight (O, C, *k) / transposed (C, O, *k) -------------
for n in (1, 2, 3):
    sp, k = (5,) * n, (2,) * n
    conv = f"conv{n}d"
    for x, w, arg, why in [
        ((0, 2, *sp), (3, 2, *k), "input", ""),                     # N = 0
        ((1, 0, *sp), (3, 0, *k), "input", _CONV_C0),               # C = 0 (weight in_channels 0)
        *[((1, 2, *sp[:d], 0, *sp[d + 1:]), (3, 2, *k), "input", "") for d in range(n)],  # each spatial dim 0
        ((2, *sp[:-1], 0), (3, 2, *k), "input", ""),                # unbatched, last spatial dim 0
        ((0, *sp), (3, 0, *k), "input", _CONV_C0),                  # unbatched, C = 0
        ((1, 2, *sp), (0, 2, *k), "weight", ""),                    # out_channels = 0
    ]:
        case(conv, lambda m, x, w, _f=conv: getattr(m, _f)(x, w), x, w, arg=arg, xfail=why)
    tconv = f"conv_transpose{n}d"
    for x, w, arg in [
        ((0, 2, *sp), (2, 3, *k), "input"),
        ((1, 0, *sp), (0, 3, *k), "weight"),                        # torch: "expected weight to be at least 1 at dimension 0"
        *[((1, 2, *sp[:d], 0, *sp[d + 1:]), (2, 3, *k), "input") for d in range(n)],
        ((2, *sp[:-1], 0), (2, 3, *k), "input"),
        ((0, *sp), (0, 3, *k), "weight"),
        ((1, 2, *sp), (2, 0, *k), "weight"),                        # out_channels = 0
    ]:
        case(tconv, lambda m, x, w, _f=tconv: getattr(m, _f)(x, w), x, w, arg=arg)


def _zero_shapes(n: int, size: int = 6) -> list[tuple[int, ...]]:
    """N = 0, C = 0, each spatial dim 0, then the unbatched forms: C = 0, each spatial dim 0."""
    sp = (size,) * n
    out = [(0, 2, *sp), (1, 0, *sp)]
    out += [(1, 2, *sp[:d], 0, *sp[d + 1:]) for d in range(n)]
    out += [(0, *sp)]
    out += [(2, *sp[:d], 0, *sp[d + 1:]) for d in range(n)]
    return out


# --- pools ----------------------------------------------------------------------------------------
for n in (1, 2, 3):
    for x in _zero_shapes(n):
        case(f"max_pool{n}d", lambda m, x, _n=n: getattr(m, f"max_pool{_n}d")(x, 2), x)
        case(f"avg_pool{n}d", lambda m, x, _n=n: getattr(m, f"avg_pool{_n}d")(x, 2), x)
        case(f"lp_pool{n}d", lambda m, x, _n=n: getattr(m, f"lp_pool{_n}d")(x, 2.0, 2), x)
        case(f"adaptive_avg_pool{n}d", lambda m, x, _n=n: getattr(m, f"adaptive_avg_pool{_n}d")(x, 3), x)
        case(f"adaptive_max_pool{n}d", lambda m, x, _n=n: getattr(m, f"adaptive_max_pool{_n}d")(x, 3), x)
    for x in _zero_shapes(n)[:3]:
        case(f"max_pool{n}d", lambda m, x, _n=n: getattr(m, f"max_pool{_n}d")(x, 2, return_indices=True), x, tag="indices")
        case(f"adaptive_max_pool{n}d", lambda m, x, _n=n: getattr(m, f"adaptive_max_pool{_n}d")(x, 3, True), x,
             tag="indices")
    # empty outputs: an output size of 0 in one dim, from a non-empty input
    for out in dict.fromkeys([(0,) + (2,) * (n - 1), (2,) * (n - 1) + (0,)]):  # one for n = 1
        for x in [(1, 2) + (6,) * n, (2,) + (6,) * n]:
            tag = "out=" + "x".join(map(str, out))
            for kind in ("avg", "max"):
                f = f"adaptive_{kind}_pool{n}d"
                case(f, lambda m, x, _f=f, _o=out: getattr(m, _f)(x, _o), x, arg="output_size", tag=tag)
    # max_unpool: input and indices of one shape (indices all 0: valid, and no element is placed)
    for x in _zero_shapes(n, 3):
        case(f"max_unpool{n}d", lambda m, x, i, _n=n: getattr(m, f"max_unpool{_n}d")(x, i, 2), x, x, ints=(1,))


# --- interpolate --------------------------------------------------------------------------------------
_INTERP = {1: ("nearest", "nearest-exact", "linear", "area"), 2: ("nearest", "bilinear", "bicubic", "area"),
           3: ("nearest", "trilinear", "area")}
for n, modes in _INTERP.items():
    sp = (4,) * n
    for mode in modes:
        shapes = [(0, 2, *sp), (1, 0, *sp), (1, 2, *sp[:-1], 0)] + ([(1, 2, 0, *sp[1:])] if n > 1 else [])
        for x in shapes:
            case("interpolate", lambda m, x, _mode=mode, _n=n: m.interpolate(x, size=(3,) * _n, mode=_mode), x, tag=mode)
        # an output size of 0
        case("interpolate", lambda m, x, _mode=mode, _n=n: m.interpolate(x, size=(2,) * (_n - 1) + (0,), mode=_mode),
             (1, 2, *sp), arg="size", tag=f"{mode},size=0")
for x in [(0, 2, 4, 4), (1, 0, 4, 4)]:
    case("interpolate", lambda m, x: m.interpolate(x, size=(3, 3), mode="bilinear", antialias=True), x, tag="bilinear,aa")


# --- pad (torch's flat last-dim-first tuple; jaxconv's pairs in array order) ------------------------
def _pad_case(shape: tuple[int, ...], flat: tuple[int, ...], mode: str) -> None:
    # circular padding of an empty dim: torch's "Padding value causes wrapping around more than
    # once" is a rule on the pad (<= the size), which jaxconv's error names
    padded = shape[len(shape) - len(flat) // 2:]
    arg = "pad" if mode == "circular" and 0 in padded and any(flat) else "input"
    case("pad", lambda m, x: F.pad(x, flat, mode=mode), shape, jax_call=lambda x: jaxconv.pad(x, from_torch_pad(flat), mode),
         arg=arg, tag=f"{mode},{flat}")


for mode in ("constant", "reflect", "replicate", "circular"):
    for shape in [(0, 2, 4), (1, 0, 4), (1, 2, 0), (0, 4), (2, 0)]:
        _pad_case(shape, (1, 1), mode)             # pad the last dim
    for shape in [(1, 2, 0, 4), (1, 2, 4, 0), (0, 2, 4, 4), (1, 0, 4, 4)]:
        _pad_case(shape, (1, 1, 1, 1), mode)       # pad the last two dims
    _pad_case((1, 2, 0, 4), (0, 0, 0, 0), mode)    # pad nothing, beside an empty dim


# --- unfold / fold ---------------------------------------------------------------------------------------
for x in [(0, 2, 4, 4), (1, 0, 4, 4), (1, 2, 0, 4), (1, 2, 4, 0), (0, 4, 4), (2, 0, 4), (2, 4, 0)]:
    case("unfold", lambda m, x: m.unfold(x, 2), x)
# fold: (N, C * 2 * 2, L) to (3, 3) with a 2x2 kernel: L = 4
for x in [(0, 8, 4), (1, 0, 4), (1, 8, 0), (0, 4), (8, 0), (1, 0, 0)]:
    case("fold", lambda m, x: m.fold(x, (3, 3), 2), x)


# --- pixel_shuffle / pixel_unshuffle --------------------------------------------------------------------
for x in [(0, 4, 2, 2), (1, 0, 2, 2), (1, 4, 0, 2), (1, 4, 2, 0), (0, 2, 2), (4, 0, 2), (4, 2, 0), (0, 1, 4, 2, 2)]:
    case("pixel_shuffle", lambda m, x: m.pixel_shuffle(x, 2), x)
# torch's CPU pixel_unshuffle returns an empty input unchanged (a numel() == 0 shortcut, shape
# (0, 1, 4, 4) for (0, 1, 4, 4)); its shape function (the meta device) and every non-empty input
# give (*, C * r * r, H / r, W / r), which jaxconv returns.
for x in [(0, 1, 4, 4), (1, 0, 4, 4), (1, 1, 0, 4), (1, 1, 4, 0), (0, 4, 4), (1, 0, 4), (1, 4, 0), (0, 1, 1, 4, 4)]:
    case("pixel_unshuffle", lambda m, x: m.pixel_unshuffle(x, 2), x, oracle="meta")


# --- linear ------------------------------------------------------------------------------------------------
for x, w in [((0, 3), (2, 3)), ((2, 0), (4, 0)), ((2, 3), (0, 3)), ((0,), (4, 0)), ((2, 0, 3), (4, 3)), ((0, 3), (3,)),
             ((0,), (0,))]:
    case("linear", lambda m, x, w: m.linear(x, w), x, w)
case("linear", lambda m, x, w, b: m.linear(x, w, b), (2, 0), (4, 0), (4,), tag="bias")


# --- normalisation ---------------------------------------------------------------------------------------
for training in (False, True):
    for x in [(0, 3), (0, 3, 4), (2, 0), (2, 0, 4), (2, 3, 0), (2, 3, 0, 4)]:
        case("batch_norm", lambda m, x, rm, rv, _t=training: m.batch_norm(x, rm, rv + 1, training=_t), x, (x[1],), (x[1],),
             tag="train" if training else "eval")
for x, ns in [((0, 3), (3,)), ((2, 0), (0,)), ((2, 3, 0), (3, 0)), ((0,), (0,)), ((2, 0, 3), (3,))]:
    case("layer_norm", lambda m, x, _ns=ns: m.layer_norm(x, _ns), x, tag=str(ns))
for x, g in [((0, 4), 2), ((0, 4, 3), 2), ((2, 0, 3), 1), ((2, 4, 0), 2), ((2, 4, 0, 3), 2), ((2, 0), 1)]:
    case("group_norm", lambda m, x, _g=g: m.group_norm(x, _g), x, tag=f"groups={g}")


# ---------------------------------------------------------------------------------------------------

def _arrays(c: Case) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [np.zeros(s, np.int64) if i in c.ints else rng.standard_normal(s).astype(np.float32)
            for i, s in enumerate(c.shapes)]


def torch_result(c: Case) -> Any:
    """torch's output (a tensor or a tuple) on ``c.oracle``'s device, or the exception it raised."""
    try:
        return c.call(F, *(torch.from_numpy(a).to(c.oracle) for a in _arrays(c)))
    except Exception as e:  # any exception is torch's "raises"
        return e


def _jax(c: Case) -> Any:
    arrays = [jnp.asarray(a) for a in _arrays(c)]
    return c.jax_call(*arrays) if c.jax_call is not None else c.call(jaxconv, *arrays)


SAME = [c for c in CASES if c.xfail != _CONV_C0]
DIFFERENT = [c for c in CASES if c.xfail == _CONV_C0]


@pytest.mark.parametrize("c", [pytest.param(c, marks=pytest.mark.xfail(reason=c.xfail, strict=True)) if c.xfail else c
                               for c in SAME], ids=[c.id() for c in SAME])
def test_zero_size_as_torch(c: Case) -> None:
    """oracle: torch 2.13 (CPU; the meta device's shape function where marked) raises or returns for this case; jaxconv raises a ValueError naming the function and argument, or returns the same."""
    ref = torch_result(c)
    if isinstance(ref, Exception):
        with pytest.raises(ValueError, match=rf"^{c.fn}: `{c.arg}`"):
            _jax(c)
        return
    got = _jax(c)
    assert isinstance(got, tuple) == isinstance(ref, tuple)
    refs, gots = (ref, got) if isinstance(ref, tuple) else ((ref,), (got,))
    for r, g in zip(refs, gots):
        assert tuple(g.shape) == tuple(r.shape), f"torch returns {tuple(r.shape)}, jaxconv {tuple(g.shape)}"
        if c.oracle == "cpu":
            np.testing.assert_allclose(np.asarray(g, np.float64), r.numpy().astype(np.float64), rtol=1e-5, atol=1e-6)
        else:
            assert g.size == 0


@pytest.mark.parametrize("c", DIFFERENT, ids=[c.id() for c in DIFFERENT])
def test_conv_zero_channels_difference(c: Case) -> None:
    """oracle: torch 2.13 for what it does (0 output channels), the empty sum for jaxconv (out_channels zeros)."""
    ref = torch_result(c)
    got = _jax(c)
    x_shape, w_shape = c.shapes
    assert ref.shape[-len(w_shape) + 1] == 0 if len(x_shape) == len(w_shape) - 1 else ref.shape[1] == 0
    channel_axis = 0 if len(x_shape) == len(w_shape) - 1 else 1
    assert got.shape[channel_axis] == w_shape[0] and got.shape[channel_axis + 1:] == tuple(ref.shape[channel_axis + 1:])
    assert not np.asarray(got).any()


def test_table_is_small_and_covers_every_op() -> None:
    """oracle: issue #13's op list: every op with a torch counterpart has cases, a short list each (4-60; pad and interpolate span modes)."""
    counts: dict[str, int] = {}
    for c in CASES:
        counts[c.fn] = counts.get(c.fn, 0) + 1
    ops = [f"{p}{n}d" for n in (1, 2, 3) for p in ("conv", "conv_transpose", "max_pool", "avg_pool", "lp_pool",
                                                    "adaptive_avg_pool", "adaptive_max_pool", "max_unpool")]
    ops += ["interpolate", "pad", "unfold", "fold", "pixel_shuffle", "pixel_unshuffle", "linear", "batch_norm",
            "layer_norm", "group_norm"]
    assert sorted(counts) == sorted(ops)
    assert all(4 <= v <= 60 for v in counts.values()), counts
