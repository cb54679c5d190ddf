"""The bad-input catalogue: every public function x every class of bad argument.

Each row calls one public function with one bad argument and expects jaxconv's error:
a ``ValueError`` or ``TypeError`` (as listed) whose message is
``"<function>: `<argument>` <rule>, got <value>"``, raised by jaxconv's own code (the
innermost frame of the traceback is in ``jaxconv/``), not by XLA or by jax.numpy.
Rows whose bad argument is static are also run inside ``jax.jit`` with the arrays
traced: the same error comes at trace time, before anything is compiled.

Classes of bad input (the ``kind`` column): ``type`` (wrong type), ``length`` (wrong
number of entries), ``range`` (out-of-range value), ``shape`` (shapes inconsistent with
each other or with the rank), ``string`` (unknown string).

oracle: the error-message rule of ``jaxconv.shapes.arg_error`` (README, "Error rules").
"""

from __future__ import annotations

import re
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxconv

PKG = Path(jaxconv.__file__).resolve().parent
KINDS = ("type", "length", "range", "shape", "string")


@dataclass
class Case:
    fn: str  # public name in jaxconv
    kind: str
    arg: str  # the argument the message must name
    args: tuple  # positional args; arrays first
    kwargs: dict = field(default_factory=dict)
    exc: type[Exception] = ValueError
    n_arrays: int = 0  # leading positional arrays traced under jit (0: no jit variant)
    id: str = ""

    def call(self) -> Any:
        return getattr(jaxconv, self.fn)(*self.args, **self.kwargs)

    def call_jit(self) -> Any:
        arrays, rest = self.args[: self.n_arrays], self.args[self.n_arrays:]
        f = getattr(jaxconv, self.fn)
        return jax.jit(lambda *a: f(*a, *rest, **self.kwargs))(*arrays)


def a(*shape, dtype=jnp.float32):
    return jnp.ones(shape, dtype)


X1, X2, X3 = a(1, 2, 8), a(1, 2, 6, 6), a(1, 2, 4, 4, 4)
W1, W2, W3 = a(3, 2, 3), a(3, 2, 3, 3), a(3, 2, 2, 2, 2)
XI = a(1, 2, 6, 6, dtype=jnp.int32)


def conv_cases() -> list[Case]:
    c = []
    for fn, x, w, n in (("conv1d", X1, W1, 1), ("conv2d", X2, W2, 2), ("conv3d", X3, W3, 3), ("conv", X2, W2, 2)):
        def add(kind, arg, args=(), kw=None, exc=ValueError, jit=True, id="", x=x, w=w, fn=fn):
            c.append(Case(fn, kind, arg, (x, w, *args), kw or {}, exc, 2 if jit else 0, id))
        add("type", "stride", kw=dict(stride="2"), exc=TypeError, id="str")
        add("type", "stride", kw=dict(stride=1.5), exc=TypeError, id="float")
        add("type", "dilation", kw=dict(dilation=(1.0,) * n), exc=TypeError)
        add("type", "padding", kw=dict(padding=1.5), exc=TypeError)
        add("type", "padding", kw=dict(padding=[[1, 2, 3]] * n), exc=TypeError, id="triple")
        add("type", "groups", kw=dict(groups=1.0), exc=TypeError)
        add("type", "input", exc=TypeError, jit=False, id="str-input",
            x="not an array")
        add("type", "weight", exc=TypeError, id="dtype", w=w.astype(jnp.float16))
        add("type", "bias", args=(a(3, dtype=jnp.float16),), exc=TypeError, id="bias-dtype")
        add("length", "stride", kw=dict(stride=(1,) * (n + 1)))
        add("length", "dilation", kw=dict(dilation=(1,) * (n + 1)))
        add("length", "padding", kw=dict(padding=(0,) * (n + 1)))
        add("range", "stride", kw=dict(stride=0))
        add("range", "stride", kw=dict(stride=(1,) * (n - 1) + (-1,)), id="neg")
        add("range", "dilation", kw=dict(dilation=0))
        add("range", "padding", kw=dict(padding=-1))
        add("range", "groups", kw=dict(groups=0))
        add("range", "padding", kw=dict(padding=x.shape[-1], padding_mode="reflect"), id="reflect-limit")
        add("shape", "kernel_size", w=a(3, 2, *(9,) * n), id="kernel>input")
        add("shape", "input", x=a(1, 4, *x.shape[2:]), id="channels")
        add("shape", "input", x=a(*x.shape[2:]) if n > 1 else a(8), id="rank")
        add("shape", "bias", args=(a(4),))
        add("shape", "groups", kw=dict(groups=2), w=a(3, 1, *w.shape[2:]), id="groups-cout")
        add("string", "padding", kw=dict(padding="sam"))
        add("string", "padding_mode", kw=dict(padding_mode="zero"))
        if fn != "conv":
            add("shape", "weight", w=a(3, 2, *(2,) * (n % 3 + 1)), id="weight-rank")
    c.append(Case("corr2d", "shape", "X", (a(2, 3, 3), a(2, 2)), n_arrays=2))
    c.append(Case("corr2d", "shape", "K", (a(3, 3), a(1, 2, 2)), n_arrays=2))
    c.append(Case("corr2d", "type", "X", ("abc", a(2, 2)), exc=TypeError))
    return c


def pad_cases() -> list[Case]:
    c = [
        Case("pad", "type", "pad", (X2, 1.5), exc=TypeError, n_arrays=1),
        Case("pad", "type", "pad", (X2, ((1, 2, 3), (0, 0))), exc=TypeError, n_arrays=1, id="triple"),
        Case("pad", "range", "pad", (X2, -1), n_arrays=1),
        Case("pad", "range", "pad", (X2, 6), dict(mode="reflect"), n_arrays=1, id="reflect-limit"),
        Case("pad", "range", "pad", (X2, 7), dict(mode="circular"), n_arrays=1, id="circular-limit"),
        Case("pad", "string", "mode", (X2, 1), dict(mode="reflekt"), n_arrays=1),
        Case("pad", "string", "pad", (X2, "bogus"), dict(kernel_size=3), n_arrays=1),
        Case("pad", "shape", "input", (X2, (1,) * 5), n_arrays=1, id="too-many-dims"),
        Case("pad", "range", "value", (X2, 1), dict(mode="reflect", value=1.0), n_arrays=1, id="value-non-constant"),
        Case("pad", "string", "pad", (X2, "same"), n_arrays=1, id="same-needs-kernel"),
    ]
    return c


def transpose_cases() -> list[Case]:
    if not hasattr(jaxconv, "conv_transpose2d"):
        return []
    c = []
    WT = a(2, 3, 3, 3)  # (C_in, C_out/groups, kH, kW)
    for fn, x, w, n in (("conv_transpose2d", X2, WT, 2), ("conv_transpose1d", X1, a(2, 3, 3), 1),
                        ("conv_transpose3d", X3, a(2, 3, 2, 2, 2), 3), ("conv_transpose", X2, WT, 2)):
        def add(kind, arg, args=(), kw=None, exc=ValueError, jit=True, id="", x=x, w=w, fn=fn):
            c.append(Case(fn, kind, arg, (x, w, *args), kw or {}, exc, 2 if jit else 0, id))
        add("type", "stride", kw=dict(stride="2"), exc=TypeError)
        add("type", "output_padding", kw=dict(output_padding=0.5), exc=TypeError)
        add("type", "groups", kw=dict(groups=1.0), exc=TypeError)
        add("length", "output_padding", kw=dict(output_padding=(0,) * (n + 1)))
        add("length", "padding", kw=dict(padding=(0,) * (n + 1)))
        add("range", "output_padding", kw=dict(stride=2, output_padding=2))
        add("range", "output_padding", kw=dict(output_padding=1), id="stride1")
        add("range", "stride", kw=dict(stride=0))
        add("range", "padding", kw=dict(padding=-1))
        add("range", "output_size", kw=dict(stride=2, output_size=(20,) * n))
        add("shape", "input", x=a(1, 3, *x.shape[2:]), id="channels")
        add("shape", "groups", kw=dict(groups=3))
        add("shape", "bias", args=(a(2),))
        add("shape", "input", x=a(*x.shape[2:]) if n > 1 else a(8), id="rank")
        add("string", "padding", kw=dict(padding="sane"))
    return c


POOLS_MAX = ("max_pool1d", "max_pool2d", "max_pool3d", "min_pool2d")


def pool_cases() -> list[Case]:
    if not hasattr(jaxconv, "max_pool2d"):
        return []
    c = []
    xs = {1: X1, 2: X2, 3: X3}
    for fn in ("max_pool1d", "max_pool2d", "max_pool3d", "min_pool1d", "min_pool2d", "min_pool3d", "avg_pool1d",
               "avg_pool2d", "avg_pool3d"):
        n = int(fn[-2])
        x = xs[n]

        def add(kind, arg, args=(), kw=None, exc=ValueError, jit=True, id="", x=x, fn=fn):
            c.append(Case(fn, kind, arg, (x, *args), kw or {}, exc, 1 if jit else 0, id))
        add("type", "kernel_size", (2.5,), exc=TypeError)
        add("type", "kernel_size", ("2",), exc=TypeError, id="str")
        add("type", "stride", (2,), dict(stride=1.0), exc=TypeError)
        add("type", "input", (2,), exc=TypeError, jit=False, id="str-input", x="abc")
        add("length", "kernel_size", ((2,) * (n + 1),))
        add("length", "stride", (2,), dict(stride=(1,) * (n + 1)))
        add("length", "padding", (2,), dict(padding=(1,) * (n + 1)))
        add("range", "kernel_size", (0,))
        add("range", "stride", (2,), dict(stride=0))
        add("range", "padding", (2,), dict(padding=2), id="half-kernel")
        add("range", "padding", (3,), dict(padding=-1))
        add("shape", "kernel_size", (9,), id="kernel>input")
        add("shape", "input", (2,), x=a(*x.shape[2:]) if n > 1 else a(8), id="rank")
        add("string", "padding", (2,), dict(padding="vaild"))
        if fn.startswith(("max", "min")):
            add("range", "dilation", (2,), dict(dilation=0))
            add("type", "dilation", (2,), dict(dilation="1"), exc=TypeError)
        else:
            add("range", "divisor_override", (2,), dict(divisor_override=0))
            add("type", "divisor_override", (2,), dict(divisor_override=1.5), exc=TypeError)
            add("type", "input", (2,), x=a(*x.shape, dtype=jnp.int32), exc=TypeError, id="int-dtype")
    for fn in ("lp_pool1d", "lp_pool2d", "lp_pool3d"):
        n = int(fn[-2])
        x = xs[n]
        c += [
            Case(fn, "range", "norm_type", (x, 0, 2), n_arrays=1),
            Case(fn, "type", "norm_type", (x, "2", 2), exc=TypeError, n_arrays=1),
            Case(fn, "range", "kernel_size", (x, 2, 0), n_arrays=1),
            Case(fn, "length", "kernel_size", (x, 2, (2,) * (n + 1)), n_arrays=1),
            Case(fn, "range", "stride", (x, 2, 2, 0), n_arrays=1),
            Case(fn, "type", "input", (a(*x.shape, dtype=jnp.int32), 2.0, 2), exc=TypeError, n_arrays=1, id="int-dtype"),
        ]
    for fn in ("adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_avg_pool3d", "adaptive_max_pool1d",
               "adaptive_max_pool2d", "adaptive_max_pool3d"):
        n = int(fn[-2])
        x = xs[n]
        c += [
            Case(fn, "range", "output_size", (x, -1), n_arrays=1),  # 0 is torch's empty output (test_zero_size.py)
            Case(fn, "length", "output_size", (x, (2,) * (n + 1)), n_arrays=1),
            Case(fn, "type", "output_size", (x, 1.5), exc=TypeError, n_arrays=1),
            Case(fn, "type", "output_size", (x, "2"), exc=TypeError, n_arrays=1, id="str"),
            Case(fn, "shape", "input", (a(5, 5, 5, 5, 5, 5), 2), n_arrays=1, id="rank"),
        ]
    c.append(Case("adaptive_avg_pool2d", "type", "input", (XI, 2), exc=TypeError, n_arrays=1, id="int-dtype"))
    y, i = jaxconv.max_pool2d(X2, 2, return_indices=True)
    c += [
        Case("max_unpool2d", "shape", "indices", (y, i[..., :2], 2), n_arrays=2),
        Case("max_unpool2d", "type", "indices", (y, i.astype(jnp.float32), 2), exc=TypeError, n_arrays=2),
        Case("max_unpool2d", "range", "kernel_size", (y, i, 0), n_arrays=2),
        Case("max_unpool2d", "range", "stride", (y, i, 2, 0), n_arrays=2),
        Case("max_unpool2d", "length", "kernel_size", (y, i, (2, 2, 2)), n_arrays=2),
        Case("max_unpool2d", "range", "output_size", (y, i, 2), dict(output_size=(9, 9)), n_arrays=2),
        Case("max_unpool2d", "length", "output_size", (y, i, 2), dict(output_size=(6, 6, 6)), n_arrays=2),
        Case("max_unpool2d", "type", "kernel_size", (y, i, "2"), exc=TypeError, n_arrays=2),
        Case("max_unpool2d", "shape", "input", (y[0, 0], i[0, 0], 2), n_arrays=2, id="rank"),
    ]
    for fn, x, k in (("max_unpool1d", X1, 2), ("max_unpool3d", X3, 2)):
        y, i = getattr(jaxconv, fn.replace("unpool", "pool"))(x, k, return_indices=True)
        c += [
            Case(fn, "shape", "indices", (y, i[..., :1], k), n_arrays=2),
            Case(fn, "type", "indices", (y, i.astype(jnp.float32), k), exc=TypeError, n_arrays=2),
            Case(fn, "range", "kernel_size", (y, i, 0), n_arrays=2),
            Case(fn, "length", "output_size", (y, i, k), dict(output_size=(4,) * (x.ndim - 1)), n_arrays=2),
        ]
    c += [
        Case("window_reduce", "type", "reduce_fn", (X2, 0.0, "add", 2), exc=TypeError, n_arrays=1),
        Case("window_reduce", "range", "kernel_size", (X2, 0.0, jax.lax.add, 0), n_arrays=1),
        Case("window_reduce", "range", "spatial_dims", (X2, 0.0, jax.lax.add, 2), dict(spatial_dims=0), n_arrays=1),
        Case("window_reduce", "string", "padding", (X2, 0.0, jax.lax.add, 2), dict(padding="hmm"), n_arrays=1),
    ]
    return c


def resize_cases() -> list[Case]:
    c = [
        Case("interpolate", "string", "mode", (X2, 4), dict(mode="bilinearr"), n_arrays=1),
        Case("interpolate", "type", "size", (X2, 4.5), exc=TypeError, n_arrays=1),
        Case("interpolate", "type", "scale_factor", (X2,), dict(scale_factor="2"), exc=TypeError, n_arrays=1),
        Case("interpolate", "length", "size", (X2, (4, 4, 4)), n_arrays=1),
        Case("interpolate", "length", "scale_factor", (X2,), dict(scale_factor=(2.0, 2.0, 2.0)), n_arrays=1),
        Case("interpolate", "range", "size", (X2, 0), n_arrays=1),
        Case("interpolate", "range", "scale_factor", (X2,), dict(scale_factor=-1.0), n_arrays=1),
        Case("interpolate", "range", "size", (X2, 4), dict(scale_factor=2.0), n_arrays=1, id="both"),
        Case("interpolate", "range", "size", (X2,), n_arrays=1, id="neither"),
        Case("interpolate", "range", "align_corners", (X2, 4), dict(mode="nearest", align_corners=True), n_arrays=1),
        Case("interpolate", "shape", "input", (X1, 4), dict(mode="bilinear"), n_arrays=1, id="bilinear-3d"),
        Case("interpolate", "shape", "input", (a(6, 6), 4), n_arrays=1, id="rank"),
        Case("interpolate", "type", "input", ("abc", 4), exc=TypeError, id="str-input"),
        Case("upsample", "string", "mode", (X2, 4), dict(mode="cubic"), n_arrays=1),
        Case("upsample_nearest", "range", "size", (X2, 0), n_arrays=1),
        Case("upsample_bilinear", "shape", "input", (X1, 4), n_arrays=1),
    ]
    return c


def patches_cases() -> list[Case]:
    if not hasattr(jaxconv, "unfold"):
        return []
    cols = jaxconv.unfold(X2, 2)  # (1, 8, 9)
    return [
        Case("unfold", "type", "kernel_size", (X2, 2.5), exc=TypeError, n_arrays=1),
        Case("unfold", "length", "kernel_size", (X2, (2, 2, 2)), n_arrays=1),
        Case("unfold", "range", "kernel_size", (X2, 0), n_arrays=1),
        Case("unfold", "range", "stride", (X2, 2), dict(stride=0), n_arrays=1),
        Case("unfold", "range", "dilation", (X2, 2), dict(dilation=0), n_arrays=1),
        Case("unfold", "range", "padding", (X2, 2), dict(padding=-1), n_arrays=1),
        Case("unfold", "shape", "kernel_size", (X2, 7), n_arrays=1, id="kernel>input"),
        Case("unfold", "shape", "input", (X3, 2), n_arrays=1, id="rank"),
        Case("unfold", "string", "padding", (X2, 2), dict(padding="sme"), n_arrays=1),
        Case("fold", "shape", "input", (cols[..., :5], (6, 6), 2), n_arrays=1, id="blocks"),
        Case("fold", "shape", "input", (cols[:, :7], (6, 6), 2), n_arrays=1, id="channels"),
        Case("fold", "type", "output_size", (cols, 6.0, 2), exc=TypeError, n_arrays=1),
        Case("fold", "length", "output_size", (cols, (6, 6, 6), 2), n_arrays=1),
        Case("fold", "range", "output_size", (cols, 0, 2), n_arrays=1),
        Case("fold", "range", "stride", (cols, 6, 2), dict(stride=0), n_arrays=1),
        Case("pixel_shuffle", "type", "upscale_factor", (a(1, 4, 2, 2), 2.0), exc=TypeError, n_arrays=1),
        Case("pixel_shuffle", "range", "upscale_factor", (a(1, 4, 2, 2), 0), n_arrays=1),
        Case("pixel_shuffle", "shape", "input", (a(1, 3, 2, 2), 2), n_arrays=1, id="channels"),
        Case("pixel_shuffle", "shape", "input", (a(4, 2), 2), n_arrays=1, id="rank"),
        Case("pixel_unshuffle", "type", "downscale_factor", (a(1, 1, 4, 4), "2"), exc=TypeError, n_arrays=1),
        Case("pixel_unshuffle", "range", "downscale_factor", (a(1, 1, 4, 4), -1), n_arrays=1),
        Case("pixel_unshuffle", "shape", "input", (a(1, 1, 5, 4), 2), n_arrays=1, id="size"),
    ]


def shapes_cases() -> list[Case]:
    c = [
        Case("conv_output_shape", "range", "stride", ((8, 8), 3), dict(stride=0)),
        Case("conv_output_shape", "type", "kernel_size", ((8, 8), "3"), exc=TypeError),
        Case("conv_output_shape", "length", "kernel_size", ((8, 8), (3, 3, 3))),
        Case("conv_output_shape", "range", "input_size", ((0, 8), 3)),
        Case("conv_output_shape", "string", "padding", ((8, 8), 3), dict(padding="smae")),
        Case("conv_output_shape", "shape", "kernel_size", ((2, 2), 3), id="kernel>input"),
        Case("pool_output_shape", "range", "padding", ((8, 8), 2), dict(padding=2)),
        Case("pool_output_shape", "range", "dilation", ((8, 8), 2), dict(dilation=0)),
        Case("pool_output_shape", "length", "stride", ((8, 8), 2), dict(stride=(1, 1, 1))),
        Case("conv_transpose_output_shape", "range", "output_padding", ((4, 4), 3), dict(stride=2, output_padding=2)),
        Case("conv_transpose_output_shape", "type", "stride", ((4, 4), 3), dict(stride=2.0), exc=TypeError),
        Case("resolve_padding", "string", "padding", ("bogus", (8, 8), 3)),
        Case("resolve_padding", "range", "padding", (-1, (8, 8), 3)),
        Case("resolve_padding", "type", "padding", (1.5, (8, 8), 3), exc=TypeError),
        Case("resolve_padding", "length", "padding", ((1, 1, 1), (8, 8), 3)),
        Case("conv_params", "range", "in_channels", (0, 4, 3)),
        Case("conv_params", "shape", "groups", (3, 4, 3, 2)),
        Case("conv_params", "type", "kernel_size", (3, 4, "3"), exc=TypeError),
        Case("conv_flops", "shape", "groups", ((8, 8), 3, 4, 3), dict(groups=2)),
        Case("conv_flops", "range", "stride", ((8, 8), 2, 4, 3), dict(stride=0)),
        Case("receptive_field", "range", "stride", ([(3, 0)],)),
        Case("receptive_field", "type", "kernel_size", ([("3",)],), exc=TypeError),
        Case("receptive_field", "string", "layers[0]", ([dict(kernel_size=3, strides=2)],)),
    ]
    return c


def linear_norm_cases() -> list[Case]:
    x, w, c3 = a(2, 3), a(4, 3), a(3)
    xn = a(2, 3, 4)
    return [
        Case("linear", "shape", "input", (a(), w), n_arrays=2, id="rank0"),
        Case("linear", "shape", "input", (a(2, 5), w), n_arrays=2, id="in_features"),
        Case("linear", "shape", "weight", (x, a(4, 3, 1)), n_arrays=2, id="rank3"),
        Case("linear", "shape", "bias", (x, w, a(5)), n_arrays=3),
        Case("linear", "type", "weight", (x, w.astype(jnp.float16)), exc=TypeError, n_arrays=2, id="dtype"),
        Case("linear", "type", "bias", (x, w, a(4, dtype=jnp.int32)), exc=TypeError, n_arrays=3, id="dtype"),
        Case("linear", "type", "input", ("x", w), exc=TypeError, id="str-input"),
        Case("batch_norm", "shape", "input", (a(3), c3, c3), n_arrays=3, id="rank"),
        Case("batch_norm", "shape", "running_mean", (xn, a(4), c3), n_arrays=3),
        Case("batch_norm", "shape", "weight", (xn, c3, c3, a(2)), n_arrays=4),
        Case("batch_norm", "range", "running_mean", (xn, None, c3), n_arrays=1, id="none-in-eval"),
        Case("batch_norm", "shape", "input", (a(1, 3), None, None), dict(training=True), n_arrays=1, id="one-value"),
        Case("batch_norm", "type", "training", (xn, c3, c3), dict(training="yes"), exc=TypeError, n_arrays=3),
        Case("batch_norm", "range", "eps", (xn, c3, c3), dict(eps=-1.0), n_arrays=3),
        Case("batch_norm", "type", "input", (a(2, 3, dtype=jnp.int32), c3, c3), exc=TypeError, n_arrays=3, id="int-dtype"),
        Case("batch_norm", "type", "running_var", (xn, c3, c3.astype(jnp.float16)), exc=TypeError, n_arrays=3, id="dtype"),
        Case("batch_norm_update", "shape", "input", (a(1, 3), c3, c3), n_arrays=3, id="one-value"),
        Case("batch_norm_update", "shape", "running_var", (xn, c3, a(2)), n_arrays=3),
        Case("batch_norm_update", "range", "momentum", (xn, c3, c3, 1.5), n_arrays=3),
        Case("batch_norm_update", "type", "momentum", (xn, c3, c3, "0.1"), exc=TypeError, n_arrays=3),
        Case("batch_norm_update", "type", "running_mean", (xn, None, c3), exc=TypeError, n_arrays=1),
        Case("tune", "type", "fn", (3,), exc=TypeError),
        Case("layer_norm", "shape", "normalized_shape", (xn, (3,)), n_arrays=1),
        Case("layer_norm", "length", "normalized_shape", (xn, (1, 2, 3, 4)), n_arrays=1),
        Case("layer_norm", "range", "normalized_shape", (xn, ()), n_arrays=1, id="empty"),
        Case("layer_norm", "type", "normalized_shape", (xn, 4.0), exc=TypeError, n_arrays=1),
        Case("layer_norm", "shape", "weight", (xn, (4,), a(3)), n_arrays=1),
        Case("layer_norm", "range", "eps", (xn, (4,)), dict(eps=float("inf")), n_arrays=1),
        Case("group_norm", "shape", "num_groups", (xn, 2), n_arrays=1),
        Case("group_norm", "range", "num_groups", (xn, 0), n_arrays=1),
        Case("group_norm", "type", "num_groups", (xn, 1.5), exc=TypeError, n_arrays=1),
        Case("group_norm", "shape", "input", (a(3), 1), n_arrays=1, id="rank"),
        Case("group_norm", "shape", "bias", (xn, 3, None, a(4)), n_arrays=1),
        Case("group_norm", "type", "input", (xn.astype(jnp.int32), 3), exc=TypeError, n_arrays=1, id="int-dtype"),
    ]


ALL_CASES = (conv_cases() + pad_cases() + transpose_cases() + pool_cases() + resize_cases() + patches_cases() + shapes_cases()
             + linear_norm_cases())


def _case_id(c: Case) -> str:
    return f"{c.fn}-{c.kind}-{c.arg}" + (f"-{c.id}" if c.id else "")


_ids = [_case_id(c) for c in ALL_CASES]
_seen: dict[str, int] = {}
IDS = []
for _i in _ids:
    _seen[_i] = _seen.get(_i, 0) + 1
    IDS.append(_i if _seen[_i] == 1 else f"{_i}-{_seen[_i]}")


def _check(excinfo: pytest.ExceptionInfo, case: Case) -> None:
    msg = str(excinfo.value)
    assert type(excinfo.value) is case.exc or (case.exc is ValueError and isinstance(excinfo.value, ValueError)), (
        f"expected {case.exc.__name__}, got {type(excinfo.value).__name__}: {msg}")
    m = re.match(r"(\S+): `([^`]+)` (.+), got (.+)", msg, re.S)
    assert m, f"not of the form 'fn: `arg` rule, got value': {msg}"
    assert m[1] == case.fn, msg
    assert case.arg in re.split(r",\s*|\s+and\s+", m[2]), msg
    # Raised by jaxconv's own validation, not by jax.numpy or XLA.
    frames = traceback.extract_tb(excinfo.tb)
    assert Path(frames[-1].filename).resolve().is_relative_to(PKG), f"raised in {frames[-1].filename}: {msg}"


@pytest.mark.parametrize("case", ALL_CASES, ids=IDS)
def test_bad_input(case: Case):
    """The call raises the listed class with ``fn: `arg` ...``, from jaxconv's code. oracle: the error rule."""
    with pytest.raises((ValueError, TypeError)) as excinfo:
        case.call()
    _check(excinfo, case)


JIT_CASES = [c for c in ALL_CASES if c.n_arrays]


@pytest.mark.parametrize("case", JIT_CASES, ids=[i for c, i in zip(ALL_CASES, IDS) if c.n_arrays])
def test_bad_input_under_jit(case: Case):
    """Inside ``jax.jit`` (arrays traced) the same error is raised at trace time. oracle: the error rule."""
    with pytest.raises((ValueError, TypeError)) as excinfo:
        case.call_jit()
    _check(excinfo, case)


def test_catalogue_covers_every_public_function_and_kind():
    """Every public function of ``jaxconv`` has a row, and every kind of bad input is exercised. oracle: ``__all__``."""
    names = {c.fn for c in ALL_CASES}
    public = {n for n in jaxconv.__all__ if callable(getattr(jaxconv, n)) and not isinstance(getattr(jaxconv, n), type)
              and not n.startswith("_")}
    missing = sorted(public - names)
    assert not missing, f"no bad-input rows for {missing}"
    assert {c.kind for c in ALL_CASES} == set(KINDS)


def test_no_compilation_before_the_error():
    """A rejected call compiles nothing: jaxconv validates on static shapes before any jit.

    oracle: jax's compile-event monitoring (``/jax/core/compile/backend_compile_duration``).
    """
    compiles = []

    def listener(event: str, duration: float, **_: Any) -> None:
        if "backend_compile" in event:
            compiles.append(event)

    fresh = np.ones((1, 2, 13, 11), np.float32)  # NumPy: creating a jnp array would compile
    w = np.ones((3, 2, 3, 3), np.float32)
    jax.monitoring.register_event_duration_secs_listener(listener)
    try:
        for call in (lambda: jaxconv.conv2d(fresh, w, stride=0),
                     lambda: jaxconv.pad(fresh, 20, mode="reflect"),
                     lambda: jaxconv.interpolate(fresh, size=0),
                     lambda: jaxconv.linear(fresh, np.ones((3, 5), np.float32)),
                     lambda: jaxconv.group_norm(fresh, 3)):
            with pytest.raises((ValueError, TypeError)):
                call()
        if hasattr(jaxconv, "max_pool2d"):
            with pytest.raises(ValueError):
                jaxconv.max_pool2d(fresh, 3, padding=2)
    finally:
        jax.monitoring.unregister_event_duration_listener(listener)
    assert compiles == []


def test_integer_max_pool_is_not_an_error():
    """Integer inputs are valid for max/min pooling (dtype kept). oracle: torch's rule that max pooling needs no arithmetic."""
    y = jaxconv.max_pool2d(jnp.asarray(np.arange(36, dtype=np.int32).reshape(1, 1, 6, 6)), 2)
    assert y.dtype == jnp.int32


def _history_cases() -> list[tuple[str, Any, Any]]:
    x, w = a(1, 2, 6, 6), a(3, 2, 3, 3)
    cases = [
        ("conv2d stride=2.0", lambda: jaxconv.conv2d(x, w, stride=2), lambda: jaxconv.conv2d(x, w, stride=2.0)),
        ("conv2d groups=True", lambda: jaxconv.conv2d(x, w, groups=1), lambda: jaxconv.conv2d(x, w, groups=True)),
        ("conv2d padding=(1.0, 1)", lambda: jaxconv.conv2d(x, w, padding=(1, 1)), lambda: jaxconv.conv2d(x, w, padding=(1.0, 1))),
    ]
    if hasattr(jaxconv, "conv_transpose2d"):
        wt = a(2, 3, 3, 3)
        cases.append(("conv_transpose2d stride=2.0", lambda: jaxconv.conv_transpose2d(x, wt, stride=2),
                      lambda: jaxconv.conv_transpose2d(x, wt, stride=2.0)))
    if hasattr(jaxconv, "max_pool2d"):
        cases += [
            ("max_pool2d kernel_size=2.0", lambda: jaxconv.max_pool2d(x, 2), lambda: jaxconv.max_pool2d(x, 2.0)),
            ("max_pool2d kernel_size=True", lambda: jaxconv.max_pool2d(x, 1), lambda: jaxconv.max_pool2d(x, True)),
            ("avg_pool2d kernel_size=(2, 2.0)", lambda: jaxconv.avg_pool2d(x, (2, 2)), lambda: jaxconv.avg_pool2d(x, (2, 2.0))),
            ("adaptive_avg_pool2d output_size=2.0", lambda: jaxconv.adaptive_avg_pool2d(x, 2),
             lambda: jaxconv.adaptive_avg_pool2d(x, 2.0)),
        ]
    if hasattr(jaxconv, "unfold"):
        cases.append(("unfold kernel_size=2.0", lambda: jaxconv.unfold(x, 2), lambda: jaxconv.unfold(x, 2.0)))
    return cases


@pytest.mark.parametrize(("name", "good", "bad"), _history_cases(), ids=[c[0] for c in _history_cases()])
def test_rejection_does_not_depend_on_call_history(name, good, bad):
    """A float/bool where an int belongs is rejected even after the same call with the int.

    Found by this catalogue: the spec caches were keyed on values, and ``2 == 2.0 == True``
    hash alike, so ``stride=2.0`` got the cached spec of an earlier ``stride=2`` call
    (fixed by ``jaxconv.shapes.spec_cache``). oracle: the error rule.
    """
    good()
    with pytest.raises(TypeError, match=r"`(kernel_size|stride|padding|groups|output_size)`"):
        bad()
