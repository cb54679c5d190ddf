"""Channels-last execution of a captured program: activations held ``(N, *spatial, C)`` between the ops that can.

A torch model computes in NCHW. XLA:CPU runs its convolutions channels-last (YNNPACK's
NHWC kernels), so a program written in NCHW needs transposes into and out of them where XLA's
layout assignment does not absorb them: in resnet18's train step (batch 8, 128x128) 38 ms of
242 were ``transpose`` copies (``experiments/profile_network.py``). Weights stay in torch's
OIHW layout (``weight_layout="OIHW"``): transposed copies of the weights and of their
gradients cost more than the activations' transposes saved (resnet18 eval 76 -> 117 ms).

:func:`run_step` runs one step of a captured program on :class:`Nhwc` values (the
logical NCHW array with its channel dim moved last) where a rule for the op exists:
convolutions (torch's OIHW weights as they are: ``weight_layout="OIHW"``), batch norm,
elementwise ops, 1-d/2-d max and average pools, and global average pools. Any other op
sees the logical value: :func:`logical` moves the channels back (a transpose that XLA
folds into its neighbours: a ``permute`` to NHWC becomes the identity). The results are
the same sums as the NCHW program's in another memory layout (``tests/test_layout.py``
checks both layouts against torch, on torchvision networks too).

Whether a program runs channels-last is a per-backend speed choice
(:func:`jaxconv.policy.graph_layouts`): the CPU's choice is the CPU branch of
``lax.platform_dependent`` and every other backend runs the program as captured. On CPU a
program with a depthwise convolution runs channels-last (jaxconv's depthwise fold is faster
so) and a dense-only one as captured (the measurements are in :mod:`jaxconv.policy`);
``jaxconv.policy.graph_layout`` forces either, ``jaxconv.tune`` measures it per program.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

import jaxconv
from jaxconv import shapes
from jaxconv.nn import aten

__all__ = ["Nhwc", "logical", "run_step", "same_array_type"]


class Nhwc:
    """A logical ``(N, C, *spatial)`` value held as ``x = moveaxis(value, 1, -1)``."""

    __slots__ = ("x",)

    def __init__(self, x: jax.Array) -> None:
        self.x = x

    @property
    def ndim(self) -> int:
        return self.x.ndim


def logical(v: Any) -> Any:
    """``v`` with every :class:`Nhwc` inside (lists, tuples, dicts) back in its logical NCHW layout."""
    if isinstance(v, Nhwc):
        return jnp.moveaxis(v.x, -1, 1)
    if isinstance(v, (list, tuple)):
        return type(v)(logical(i) for i in v)
    if isinstance(v, dict):
        return {k: logical(i) for k, i in v.items()}
    return v


def same_array_type(out: Any, old: Any) -> bool:
    """Whether ``out`` can be written in place into ``old``: both channels-last, of one shape and dtype."""
    return (isinstance(out, Nhwc) and isinstance(old, Nhwc) and out.x.shape == old.x.shape
            and out.x.dtype == old.x.dtype)


def _is_array(v: Any) -> bool:
    return isinstance(v, (jax.Array, Nhwc)) or (hasattr(v, "shape") and hasattr(v, "dtype"))


Write = Callable[[str, Any], None]
Rule = Callable[[str, aten.Context, dict[str, Any], Write], Any]
_RULES: dict[str, Rule] = {}


def _rule(*names: str) -> Callable[[Rule], Rule]:
    def register(f: Rule) -> Rule:
        for n in names:
            _RULES[n] = f
        return f
    return register


def run_step(op: str, c: aten.Context, a: dict[str, Any], write: Write) -> Any:
    """The step's result with channels-last values, or ``NotImplemented`` (run it on logical values).

    A rule runs only where one of the tensor arguments is already channels-last, except a
    convolution, which starts the layout from an NCHW input.
    """
    rule = _RULES.get(op)
    if rule is None:
        return NotImplemented
    return rule(op, c, a, write)


# --- convolution: the layout starts here --------------------------------------------------

@_rule("conv1d", "conv2d", "conv3d", "convolution", "_convolution")
def _conv(op: str, c: aten.Context, a: dict[str, Any], write: Write) -> Any:
    x, w = a["input"], a["weight"]
    if a.get("transposed") or not hasattr(w, "ndim") or w.ndim < 3:
        return NotImplemented
    if isinstance(x, Nhwc):
        raw = x.x
    elif _is_array(x) and x.ndim == w.ndim:  # batched NC* input: moved once, shared by its consumers
        raw = jnp.moveaxis(x, 1, -1)
    else:
        return NotImplemented
    # torch's OIHW weight as it is (the module docstring: its transposed copies cost more than they save).
    return Nhwc(jaxconv.conv(raw, w, a.get("bias"), a["stride"], a["padding"], a["dilation"], a["groups"],
                             channels_last=True, weight_layout=shapes.weight_layout_name(w.ndim - 2, False)))


# --- batch norm (writes the running statistics back) --------------------------------------

@_rule("batch_norm")
def _bn(op: str, c: aten.Context, a: dict[str, Any], write: Write) -> Any:
    x = a["input"]
    if not isinstance(x, Nhwc):
        return NotImplemented
    rm, rv, training = a["running_mean"], a["running_var"], bool(a.get("training", False))
    out = jaxconv.batch_norm(x.x, rm, rv, a.get("weight"), a.get("bias"), training, a["momentum"], a["eps"],
                             channels_last=True)
    if training and rm is not None and rv is not None:
        new_rm, new_rv = jaxconv.batch_norm_update(x.x, rm, rv, a["momentum"], channels_last=True)
        write("running_mean", new_rm)
        write("running_var", new_rv)
    return Nhwc(out)


@_rule("_native_batch_norm_legit_no_training")
def _bn_eval(op: str, c: aten.Context, a: dict[str, Any], write: Write) -> Any:
    x = a["input"]
    if not isinstance(x, Nhwc):
        return NotImplemented
    out = jaxconv.batch_norm(x.x, a["running_mean"], a["running_var"], a.get("weight"), a.get("bias"), False,
                             a["momentum"], a["eps"], channels_last=True)
    return Nhwc(out), jnp.zeros((0,), out.dtype), jnp.zeros((0,), out.dtype)


# --- elementwise ----------------------------------------------------------------------------

# Ops of one tensor ``self`` and non-tensor arguments, computed value by value: the layout
# does not matter. (Dropout is not here: its mask is drawn in the layout of its argument,
# so channels-last would draw other masks than the captured program.)
_UNARY = ("relu", "sigmoid", "tanh", "silu", "hardswish", "hardsigmoid", "mish", "gelu", "hardtanh", "relu6",
          "leaky_relu", "elu", "clamp", "clip", "clamp_min", "clamp_max", "neg", "exp", "abs", "square", "sqrt",
          "rsqrt", "reciprocal", "clone", "contiguous", "alias", "detach", "positive")


@_rule(*_UNARY)
def _unary(op: str, c: aten.Context, a: dict[str, Any], write: Write) -> Any:
    x = a.get("self")
    if not isinstance(x, Nhwc) or any(_is_array(v) for k, v in a.items() if k != "self"):
        return NotImplemented
    return Nhwc(aten.OPS[op](c, {**a, "self": x.x}))


def _same_layout(v: Any, ndim: int) -> Any:
    """``v`` as a channels-last operand of an ``ndim``-d channels-last value, or ``NotImplemented``."""
    if isinstance(v, Nhwc):
        return v.x if v.ndim == ndim else NotImplemented
    if not _is_array(v) or v.ndim == 0:
        return v  # a number or a 0-d array broadcasts in any layout
    if v.ndim == ndim:
        return jnp.moveaxis(v, 1, -1)  # (N, C, 1, 1) scales: a reshape in XLA
    return NotImplemented  # lower-rank operands broadcast against the trailing NCHW dims


_BINARY = ("add", "sub", "rsub", "mul", "div", "maximum", "minimum")


@_rule(*_BINARY)
def _binary(op: str, c: aten.Context, a: dict[str, Any], write: Write) -> Any:
    tensors = [v for k, v in a.items() if k in ("self", "other") and isinstance(v, Nhwc)]
    if not tensors:
        return NotImplemented
    ndim = tensors[0].ndim
    b = dict(a)
    for k in ("self", "other"):
        if k in a:
            b[k] = _same_layout(a[k], ndim)
            if b[k] is NotImplemented:
                return NotImplemented
    return Nhwc(aten.OPS[op](c, b))


# --- pooling ---------------------------------------------------------------------------------
# jaxconv's pools run over the trailing dims. A channels-last (N, *spatial, C) value is an
# unbatched (n + 1)-d pooling input (N as its channels) whose last dim is pooled with a
# window of 1: the same windows, divisors and corner rules per spatial dim, the same first
# winner in window order for the max's gradient.

def _pool_args(a: dict[str, Any], n: int) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
    def per_dim(v: Any, default: Any) -> tuple[int, ...]:
        v = default if v is None or (isinstance(v, (list, tuple)) and len(v) == 0) else v
        t = tuple(v) if isinstance(v, (list, tuple)) else (v,)
        return t * n if len(t) == 1 else t
    k = per_dim(a["kernel_size"], None)
    return k, per_dim(a.get("stride"), k), per_dim(a.get("padding", 0), 0)


@_rule("max_pool1d", "max_pool2d")
def _max_pool(op: str, c: aten.Context, a: dict[str, Any], write: Write) -> Any:
    x = a["self"]
    n = int(op[-2])
    if not isinstance(x, Nhwc) or x.ndim != n + 2 or a.get("return_indices"):
        return NotImplemented
    k, s, p = _pool_args(a, n)
    d = tuple(a.get("dilation", 1)) if isinstance(a.get("dilation", 1), (list, tuple)) else (a.get("dilation", 1),) * n
    d = d * n if len(d) == 1 else d
    f = jaxconv.max_pool2d if n == 1 else jaxconv.max_pool3d
    return Nhwc(f(x.x, (*k, 1), (*s, 1), (*p, 0), (*d, 1), bool(a.get("ceil_mode", False))))


@_rule("avg_pool1d", "avg_pool2d")
def _avg_pool(op: str, c: aten.Context, a: dict[str, Any], write: Write) -> Any:
    x = a["self"]
    n = int(op[-2])
    if not isinstance(x, Nhwc) or x.ndim != n + 2:
        return NotImplemented
    k, s, p = _pool_args(a, n)
    ceil, include = bool(a.get("ceil_mode", False)), bool(a.get("count_include_pad", True))
    if n == 1:
        return Nhwc(jaxconv.avg_pool2d(x.x, (*k, 1), (*s, 1), (*p, 0), ceil, include))
    return Nhwc(jaxconv.avg_pool3d(x.x, (*k, 1), (*s, 1), (*p, 0), ceil, include, a.get("divisor_override")))


# --- global average pooling (the classifier heads, squeeze-and-excitation) --------------------

@_rule("adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_avg_pool3d", "_adaptive_avg_pool2d",
       "_adaptive_avg_pool3d")
def _global_avg(op: str, c: aten.Context, a: dict[str, Any], write: Write) -> Any:
    x, size = a["self"], a["output_size"]
    sizes = tuple(size) if isinstance(size, (list, tuple)) else (size,)
    if not isinstance(x, Nhwc) or any(s != 1 for s in sizes) or len(sizes) != x.ndim - 2:
        return NotImplemented
    raw = x.x
    acc = jnp.float32 if jnp.dtype(raw.dtype).itemsize < 4 else raw.dtype  # half types summed in float32, as torch
    return Nhwc(jnp.mean(raw.astype(acc), axis=tuple(range(1, raw.ndim - 1)), keepdims=True).astype(raw.dtype))
