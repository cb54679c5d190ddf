"""The ATen op table of the graph importer: each captured torch op as jaxconv / ``jnp`` / ``lax``.

:mod:`jaxconv.nn.graph_import` captures a module's ``forward`` with ``torch.export``; its
nodes are ATen ops (``aten.conv2d``, ``aten.batch_norm``, ``aten.add_``, ...). This module
maps each op's name to a function of its arguments, bound by the op's schema names
(``a["input"]``, ``a["stride"]``...). Convolutions, transposed convolutions, pools, pads,
resizing, batch norm and linear run through jaxconv's own functions, so torch's corner
rules (``ceil_mode``, ``count_include_pad``, ``align_corners``...) hold; elementwise,
reduction and shape ops are ``jnp``/``lax``.

Nothing here imports torch: the table is plain Python over JAX arrays, so an imported
model runs (and pickles) where torch is not installed. In-place ops (``add_``, ``relu_``)
use the functional entry; the interpreter writes the result back into the mutated
argument. Random ops draw from :class:`Context.key`, an ``nnx.Rngs`` stream.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

import jaxconv
from jaxconv import shapes
from jaxconv.nn.layers import _gelu

__all__ = ["OPS", "RANDOM_OPS", "Context"]

_INT64_MAX = 9223372036854775807


class Context:
    """What an op may need besides its arguments: the random stream and the float dtype."""

    def __init__(self, key: Callable[[], jax.Array] | None, float_dtype: Any = None) -> None:
        self._key = key
        self.float_dtype = float_dtype

    def folding(self, base: jax.Array | None) -> Context:
        """This context drawing its keys from ``base``: draw ``i`` is ``fold_in(base, i)`` (no state
        outside the trace is touched, so a program can run inside ``lax.platform_dependent``)."""
        if base is None:
            return Context(self._key if self._key is None else self._no_key, self.float_dtype)
        count = itertools.count()
        return Context(lambda: jax.random.fold_in(base, next(count)), self.float_dtype)

    @staticmethod
    def _no_key() -> jax.Array:
        raise AssertionError("a random op drew a key the program's RANDOM_OPS scan did not expect")

    def key(self) -> jax.Array:
        if self._key is None:
            raise ValueError("from_torch: this graph draws random numbers in train mode; pass rngs=nnx.Rngs(...)")
        return self._key()

    def dtype(self, dt: Any, default: Any = None) -> Any:
        """A captured dtype name as a JAX dtype (None: ``default``); ``float_dtype`` replaces float32."""
        if dt is None:
            if default is None:
                return None
            dt = default
        if self.float_dtype is not None and dt == "float32":
            dt = self.float_dtype
        return jax.dtypes.canonicalize_dtype(np.dtype(dt))


Op = Callable[[Context, dict[str, Any]], Any]
OPS: dict[str, Op] = {}
#: The ops that draw from :meth:`Context.key` (in train mode).
RANDOM_OPS = frozenset({"dropout", "feature_dropout", "bernoulli", "rand_like", "randn_like"})


def op(*names: str) -> Callable[[Op], Op]:
    def register(f: Op) -> Op:
        for n in names:
            OPS[n] = f
        return f
    return register


def _dims(x: jax.Array, dim: Any) -> tuple[int, ...] | None:
    if dim is None or (isinstance(dim, (list, tuple)) and len(dim) == 0):
        return None
    dims = dim if isinstance(dim, (list, tuple)) else (dim,)
    return tuple(int(d) % max(x.ndim, 1) for d in dims)


def _arr(v: Any) -> Any:
    return v if isinstance(v, jax.Array) else jnp.asarray(v)


# ---------------------------------------------------------------------------------------
# elementwise
# ---------------------------------------------------------------------------------------

def _unary(names: tuple[str, ...], f: Callable[[jax.Array], jax.Array]) -> None:
    op(*names)(lambda c, a: f(_arr(a["self"])))


for _names, _f in {
    ("relu",): jax.nn.relu, ("sigmoid",): jax.nn.sigmoid, ("tanh",): jnp.tanh, ("silu",): jax.nn.silu,
    ("hardswish",): jax.nn.hard_swish, ("hardsigmoid",): jax.nn.hard_sigmoid,
    ("mish",): lambda x: x * jnp.tanh(jax.nn.softplus(x)), ("exp",): jnp.exp, ("log",): jnp.log,
    ("log1p",): jnp.log1p, ("expm1",): jnp.expm1, ("sqrt",): jnp.sqrt, ("rsqrt",): lax.rsqrt, ("abs",): jnp.abs,
    ("neg",): jnp.negative, ("reciprocal",): jnp.reciprocal, ("sin",): jnp.sin, ("cos",): jnp.cos, ("erf",): jax.scipy.special.erf,
    ("floor",): jnp.floor, ("ceil",): jnp.ceil, ("round",): jnp.round, ("trunc",): jnp.trunc, ("sign",): jnp.sign,
    ("square",): jnp.square, ("logical_not",): jnp.logical_not, ("bitwise_not",): jnp.invert, ("isnan",): jnp.isnan,
    ("clone", "contiguous", "alias", "detach", "lift_fresh_copy", "lift_fresh", "positive"): lambda x: x,
}.items():
    _unary(_names, _f)


def _with_alpha(f: Callable[[Any, Any], Any], first: str, second: str) -> Callable[[Context, dict[str, Any]], Any]:
    """ATen's ``f(first, alpha * second)`` (add, sub, rsub), alpha applied only when it is not 1."""
    def run(c: Context, a: dict[str, Any]) -> Any:
        alpha = a.get("alpha", 1)
        return f(a[first], a[second] if alpha == 1 else a[second] * alpha)
    return run


op("add")(_with_alpha(jnp.add, "self", "other"))
op("sub")(_with_alpha(jnp.subtract, "self", "other"))
op("rsub")(_with_alpha(jnp.subtract, "other", "self"))


@op("div")
def _div(c: Context, a: dict[str, Any]) -> Any:
    x, y, mode = a["self"], a["other"], a.get("rounding_mode")
    if mode is None:
        return jnp.true_divide(x, y)
    q = jnp.true_divide(x, y) if jnp.issubdtype(jnp.result_type(x, y), jnp.floating) else None
    if mode == "floor":
        return jnp.floor(q) if q is not None else jnp.floor_divide(x, y)
    return jnp.trunc(q) if q is not None else lax.div(*jnp.broadcast_arrays(_arr(x), _arr(y)))


for _name, _f2 in {
    "mul": jnp.multiply, "maximum": jnp.maximum, "minimum": jnp.minimum, "eq": jnp.equal, "ne": jnp.not_equal,
    "lt": jnp.less, "le": jnp.less_equal, "gt": jnp.greater, "ge": jnp.greater_equal, "logical_and": jnp.logical_and,
    "logical_or": jnp.logical_or, "bitwise_and": jnp.bitwise_and, "bitwise_or": jnp.bitwise_or,
    "bitwise_xor": jnp.bitwise_xor, "fmod": jnp.fmod, "remainder": jnp.remainder, "atan2": jnp.arctan2,
}.items():
    op(_name)(lambda c, a, f=_f2: f(a["self"], a["other"]))


@op("pow")
def _pow(c: Context, a: dict[str, Any]) -> Any:
    return jnp.power(a["self"], a["exponent"])


@op("where")
def _where(c: Context, a: dict[str, Any]) -> Any:
    return jnp.where(a["condition"], a["self"], a["other"])


@op("masked_fill")
def _masked_fill(c: Context, a: dict[str, Any]) -> Any:
    x = a["self"]
    return jnp.where(a["mask"], jnp.asarray(a["value"], x.dtype), x)


def _clamp_to(x: jax.Array, lo: Any, hi: Any) -> jax.Array:
    # torch's clamp gradient passes on the closed range [lo, hi]; jnp.maximum/minimum would halve it at the edges
    clipped = x
    inside = jnp.ones(jnp.shape(x), bool)
    if lo is not None:
        clipped, inside = jnp.maximum(clipped, lo), inside & (x >= lo)
    if hi is not None:
        clipped, inside = jnp.minimum(clipped, hi), inside & (x <= hi)
    return jnp.where(inside, x, lax.stop_gradient(clipped)).astype(clipped.dtype)


op("clamp", "clip")(lambda c, a: _clamp_to(a["self"], a.get("min"), a.get("max")))
op("clamp_min")(lambda c, a: _clamp_to(a["self"], a["min"], None))
op("clamp_max")(lambda c, a: _clamp_to(a["self"], None, a["max"]))
def _hardtanh(x: jax.Array, lo: float, hi: float) -> jax.Array:
    # torch's gradient passes only strictly inside (lo, hi); jnp.clip's would split it at the edges
    clipped = lax.stop_gradient(jnp.clip(x, lo, hi))
    return jnp.where((x > lo) & (x < hi), x, clipped)


op("hardtanh")(lambda c, a: _hardtanh(a["self"], a["min_val"], a["max_val"]))
op("relu6")(lambda c, a: _hardtanh(a["self"], 0, 6))
op("leaky_relu")(lambda c, a: jnp.where(a["self"] > 0, a["self"], a["self"] * a["negative_slope"]))
op("gelu")(lambda c, a: _gelu(a["self"], approximate=a.get("approximate", "none") == "tanh"))
op("prelu")(lambda c, a: jnp.where(a["self"] > 0, a["self"],
                                   a["self"] * a["weight"].reshape((-1,) + (1,) * max(a["self"].ndim - 2, 0))))


@op("elu")
def _elu(c: Context, a: dict[str, Any]) -> Any:
    x, alpha, scale, inscale = a["self"], a["alpha"], a["scale"], a["input_scale"]
    return jnp.where(x > 0, x * scale, scale * alpha * jnp.expm1(x * inscale))


@op("softplus")
def _softplus(c: Context, a: dict[str, Any]) -> Any:
    x, beta, threshold = a["self"], a["beta"], a["threshold"]
    return jnp.where(x * beta > threshold, x, jnp.log1p(jnp.exp(x * beta)) / beta)


# ---------------------------------------------------------------------------------------
# reductions
# ---------------------------------------------------------------------------------------

def _reduce(f: Callable[..., jax.Array]) -> Op:
    def run(c: Context, a: dict[str, Any]) -> Any:
        x = a["self"]
        dt = c.dtype(a.get("dtype"))
        if dt is not None:
            x = x.astype(dt)
        return f(x, axis=_dims(x, a.get("dim")), keepdims=bool(a.get("keepdim", False)))
    return run


op("mean")(_reduce(jnp.mean))
op("sum")(_reduce(jnp.sum))
op("prod")(_reduce(jnp.prod))
op("amax")(_reduce(jnp.max))
op("amin")(_reduce(jnp.min))
op("logsumexp")(_reduce(jax.scipy.special.logsumexp))
op("all")(_reduce(jnp.all))
op("any")(_reduce(jnp.any))


def _minmax(f: Callable[..., jax.Array], arg: Callable[..., jax.Array], binary: Callable[..., jax.Array]) -> Op:
    def run(c: Context, a: dict[str, Any]) -> Any:
        x = a["self"]
        if "other" in a:
            return binary(x, a["other"])
        if a.get("dim") is None:
            return f(x)
        d, keep = int(a["dim"]) % x.ndim, bool(a.get("keepdim", False))
        return f(x, axis=d, keepdims=keep), arg(x, axis=d, keepdims=keep)
    return run


op("max")(_minmax(jnp.max, jnp.argmax, jnp.maximum))
op("min")(_minmax(jnp.min, jnp.argmin, jnp.minimum))
op("argmax")(lambda c, a: jnp.argmax(a["self"], axis=a.get("dim"), keepdims=bool(a.get("keepdim", False))))
op("argmin")(lambda c, a: jnp.argmin(a["self"], axis=a.get("dim"), keepdims=bool(a.get("keepdim", False))))


def _var(sqrt: bool) -> Op:
    def run(c: Context, a: dict[str, Any]) -> Any:
        x = a["self"]
        corr = a.get("correction")
        if corr is None:
            corr = 1 if a.get("unbiased", True) else 0
        v = jnp.var(x, axis=_dims(x, a.get("dim")), ddof=corr, keepdims=bool(a.get("keepdim", False)))
        return jnp.sqrt(v) if sqrt else v
    return run


op("var")(_var(False))
op("std")(_var(True))


def _softmax(f: Callable[..., jax.Array]) -> Op:
    def run(c: Context, a: dict[str, Any]) -> Any:
        x = a["self"]
        dt = c.dtype(a.get("dtype"))
        return f(x if dt is None else x.astype(dt), axis=int(a["dim"]))
    return run


op("softmax", "_softmax")(_softmax(jax.nn.softmax))
op("log_softmax", "_log_softmax")(_softmax(jax.nn.log_softmax))


@op("linalg_vector_norm")
def _vector_norm(c: Context, a: dict[str, Any]) -> Any:
    x = a["self"]
    return jnp.linalg.norm(x.reshape(-1) if a.get("dim") is None and x.ndim > 1 else x, ord=a.get("ord", 2),
                           axis=_dims(x, a.get("dim")), keepdims=bool(a.get("keepdim", False)))


@op("cumsum")
def _cumsum(c: Context, a: dict[str, Any]) -> Any:
    return jnp.cumsum(a["self"], axis=int(a["dim"]), dtype=c.dtype(a.get("dtype")))


# ---------------------------------------------------------------------------------------
# shapes and indexing
# ---------------------------------------------------------------------------------------

op("view", "reshape", "_unsafe_view", "_reshape_alias")(lambda c, a: jnp.reshape(a["self"], tuple(a["size"] if "size" in a else a["shape"])))
op("permute")(lambda c, a: jnp.transpose(a["self"], tuple(a["dims"])))
op("transpose")(lambda c, a: jnp.swapaxes(a["self"], a["dim0"], a["dim1"]))
op("t", "numpy_T")(lambda c, a: a["self"].T)
op("unsqueeze")(lambda c, a: jnp.expand_dims(a["self"], int(a["dim"]) % (a["self"].ndim + 1)))
op("flip")(lambda c, a: jnp.flip(a["self"], tuple(a["dims"])))
op("roll")(lambda c, a: jnp.roll(a["self"], tuple(a["shifts"]), tuple(a["dims"]) if a.get("dims") else None))
op("cat", "concat", "concatenate")(lambda c, a: jnp.concatenate(a["tensors"], axis=a.get("dim", 0)))
op("stack")(lambda c, a: jnp.stack(a["tensors"], axis=a.get("dim", 0)))
op("select")(lambda c, a: jnp.take(a["self"], a["index"], axis=a["dim"]))
op("index_select")(lambda c, a: jnp.take(a["self"], a["index"], axis=a["dim"]))
op("gather")(lambda c, a: jnp.take_along_axis(a["self"], a["index"], axis=a["dim"]))
op("unbind")(lambda c, a: [jnp.squeeze(s, a["dim"]) for s in jnp.split(a["self"], a["self"].shape[a["dim"]], a["dim"])])
op("pixel_shuffle")(lambda c, a: jaxconv.pixel_shuffle(a["self"], a["upscale_factor"]))
op("pixel_unshuffle")(lambda c, a: jaxconv.pixel_unshuffle(a["self"], a["downscale_factor"]))


@op("flatten")
def _flatten(c: Context, a: dict[str, Any]) -> Any:
    x = a["self"]
    if x.ndim == 0:
        return x.reshape(1)
    s, e = a.get("start_dim", 0) % x.ndim, a.get("end_dim", -1) % x.ndim
    return x.reshape((*x.shape[:s], -1, *x.shape[e + 1:]))


@op("unflatten")
def _unflatten(c: Context, a: dict[str, Any]) -> Any:
    x = a["self"]
    d = a["dim"] % x.ndim
    return x.reshape(x.shape[:d] + tuple(a["sizes"]) + x.shape[d + 1:])


@op("squeeze")
def _squeeze(c: Context, a: dict[str, Any]) -> Any:
    x = a["self"]
    dims = _dims(x, a.get("dim"))
    if dims is None:
        return jnp.squeeze(x)
    return jnp.squeeze(x, tuple(d for d in dims if x.shape[d] == 1))  # torch ignores non-1 dims


@op("expand")
def _expand(c: Context, a: dict[str, Any]) -> Any:
    x, size = a["self"], tuple(a["size"])
    lead = len(size) - x.ndim
    shape = tuple(x.shape[i - lead] if s == -1 else s for i, s in enumerate(size))
    return jnp.broadcast_to(x, shape)


@op("expand_as")
def _expand_as(c: Context, a: dict[str, Any]) -> Any:
    return jnp.broadcast_to(a["self"], a["other"].shape)


@op("repeat")
def _repeat(c: Context, a: dict[str, Any]) -> Any:
    x, reps = a["self"], tuple(a["repeats"])
    return jnp.tile(x.reshape((1,) * (len(reps) - x.ndim) + x.shape), reps)


def _pieces(x: jax.Array, sizes: list[int], dim: int) -> list[jax.Array]:
    cuts = np.cumsum(sizes)[:-1].tolist()
    return list(jnp.split(x, cuts, axis=dim))


@op("split")
def _split(c: Context, a: dict[str, Any]) -> Any:
    x, dim, size = a["self"], a.get("dim", 0), a["split_size"]
    if isinstance(size, (list, tuple)):
        return _pieces(x, list(size), dim)
    n = x.shape[dim]
    return _pieces(x, [min(size, n - i) for i in range(0, n, size)] or [0], dim)


op("split_with_sizes")(lambda c, a: _pieces(a["self"], list(a["split_sizes"]), a.get("dim", 0)))


@op("chunk")
def _chunk(c: Context, a: dict[str, Any]) -> Any:
    x, dim = a["self"], a.get("dim", 0)
    n = x.shape[dim]
    size = max(-(-n // a["chunks"]), 1)
    return _pieces(x, [min(size, n - i) for i in range(0, n, size)] or [0], dim)


def _clip_index(v: int | None, n: int, default: int) -> int:
    if v is None:
        return default
    v = v + n if v < 0 else v
    return min(max(v, 0), n)


@op("slice")
def _slice(c: Context, a: dict[str, Any]) -> Any:
    x, dim = a["self"], a.get("dim", 0) % a["self"].ndim
    n = x.shape[dim]
    start = _clip_index(a.get("start"), n, 0)
    end = _clip_index(None if a.get("end") == _INT64_MAX else a.get("end"), n, n)
    idx = [slice(None)] * x.ndim
    idx[dim] = slice(start, max(end, start), a.get("step", 1))
    return x[tuple(idx)]


@op("narrow")
def _narrow(c: Context, a: dict[str, Any]) -> Any:
    x, dim = a["self"], a["dim"] % a["self"].ndim
    start = a["start"] + x.shape[dim] if a["start"] < 0 else a["start"]
    return lax.slice_in_dim(x, start, start + a["length"], axis=dim)


@op("index")
def _index(c: Context, a: dict[str, Any]) -> Any:
    return a["self"][tuple(slice(None) if i is None else i for i in a["indices"])]


@op("embedding")
def _embedding(c: Context, a: dict[str, Any]) -> Any:
    return jnp.take(a["weight"], a["indices"], axis=0)


# ---------------------------------------------------------------------------------------
# dtypes and new tensors
# ---------------------------------------------------------------------------------------

@op("_to_copy", "to", "_to_dim_order_copy")
def _to(c: Context, a: dict[str, Any]) -> Any:
    x = a["self"]
    dt = c.dtype(a.get("dtype"))
    if "other" in a and isinstance(a["other"], jax.Array):
        dt = a["other"].dtype
    return x if dt is None else x.astype(dt)


op("type_as")(lambda c, a: a["self"].astype(a["other"].dtype))


def _new(fill: Callable[[dict[str, Any]], Any]) -> Op:
    def run(c: Context, a: dict[str, Any]) -> Any:
        x = a.get("self")
        v = fill(a)
        shape = tuple(a["size"]) if "size" in a else tuple(getattr(x, "shape", ()))
        dt = c.dtype(a.get("dtype"))
        if dt is None:  # torch: like the tensor (``*_like``, ``new_*``), else from the fill value
            dt = x.dtype if x is not None else c.dtype(
                "bool" if isinstance(v, bool) else "int64" if isinstance(v, int) else "float32")
        return jnp.full(shape, v, dtype=dt)
    return run


_FILLS: dict[tuple[str, ...], Callable[[dict[str, Any]], Any]] = {
    ("zeros", "zeros_like", "new_zeros", "empty", "empty_like", "new_empty"): lambda a: 0.0,
    ("ones", "ones_like", "new_ones"): lambda a: 1.0,
    ("full", "full_like", "new_full"): lambda a: a["fill_value"],
}
for _names2, _fill_value in _FILLS.items():
    op(*_names2)(_new(_fill_value))


@op("scalar_tensor")
def _scalar_tensor(c: Context, a: dict[str, Any]) -> Any:
    return jnp.asarray(a["s"], dtype=c.dtype(a.get("dtype"), "float32"))


@op("arange")
def _arange(c: Context, a: dict[str, Any]) -> Any:
    start, end, step = a.get("start", 0), a["end"], a.get("step", 1)
    ints = all(isinstance(v, int) for v in (start, end, step))
    return jnp.arange(start, end, step, dtype=c.dtype(a.get("dtype"), "int64" if ints else "float32"))


@op("fill")
def _fill(c: Context, a: dict[str, Any]) -> Any:
    return jnp.full_like(a["self"], a["value"])


op("zero")(lambda c, a: jnp.zeros_like(a["self"]))
op("copy")(lambda c, a: jnp.broadcast_to(_arr(a["src"]).astype(a["self"].dtype), a["self"].shape))


# ---------------------------------------------------------------------------------------
# randomness (train mode): dropout, stochastic depth's bernoulli
# ---------------------------------------------------------------------------------------

def _bernoulli_mask(c: Context, x: jax.Array, keep: float | jax.Array, shape: tuple[int, ...] | None = None) -> jax.Array:
    return jax.random.bernoulli(c.key(), keep, shape or x.shape).astype(x.dtype)


def _dropout(per_channel: bool) -> Op:
    def run(c: Context, a: dict[str, Any]) -> Any:
        x, p, train = a["input"] if "input" in a else a["self"], float(a["p"]), bool(a["train"])  # dropout_ names it self
        if not train or p == 0.0:
            return x
        if p == 1.0:
            return jnp.zeros_like(x)
        shape = x.shape[:2] + (1,) * (x.ndim - 2) if per_channel else None
        # torch's _dropout_impl: noise = bernoulli(1 - p) / (1 - p); input * noise
        noise = _bernoulli_mask(c, x, 1.0 - p, shape) / jnp.asarray(1.0 - p, x.dtype)
        return x * noise
    return run


op("dropout")(_dropout(False))
op("feature_dropout")(_dropout(True))


@op("bernoulli")
def _bernoulli(c: Context, a: dict[str, Any]) -> Any:
    x, p = a["self"], a.get("p")
    if p is None:
        return (jax.random.uniform(c.key(), x.shape) < x).astype(x.dtype)
    return _bernoulli_mask(c, x, p if isinstance(p, jax.Array) else float(p))


op("rand_like")(lambda c, a: jax.random.uniform(c.key(), a["self"].shape, c.dtype(a.get("dtype")) or a["self"].dtype))
op("randn_like")(lambda c, a: jax.random.normal(c.key(), a["self"].shape, c.dtype(a.get("dtype")) or a["self"].dtype))


# ---------------------------------------------------------------------------------------
# linear algebra
# ---------------------------------------------------------------------------------------

op("linear")(lambda c, a: jaxconv.linear(a["input"], a["weight"], a.get("bias")))
op("matmul", "mm", "bmm")(lambda c, a: jnp.matmul(a["self"], a["other"] if "other" in a else a["mat2"]))
op("einsum")(lambda c, a: jnp.einsum(a["equation"], *a["tensors"]))


@op("addmm")
def _addmm(c: Context, a: dict[str, Any]) -> Any:
    out = jnp.matmul(a["mat1"], a["mat2"])
    if a.get("alpha", 1) != 1:
        out = out * a["alpha"]
    return out + (a["self"] if a.get("beta", 1) == 1 else a["self"] * a["beta"])


# ---------------------------------------------------------------------------------------
# convolution, pooling, padding, resizing, normalisation: jaxconv's own functions
# ---------------------------------------------------------------------------------------

@op("conv1d", "conv2d", "conv3d")
def _conv(c: Context, a: dict[str, Any]) -> Any:
    return jaxconv.conv(a["input"], a["weight"], a.get("bias"), a["stride"], a["padding"], a["dilation"], a["groups"])


@op("conv_transpose1d", "conv_transpose2d", "conv_transpose3d")
def _conv_transpose(c: Context, a: dict[str, Any]) -> Any:
    return jaxconv.conv_transpose(a["input"], a["weight"], a.get("bias"), a["stride"], a["padding"], a["output_padding"],
                                  a["groups"], a["dilation"])


@op("convolution", "_convolution")
def _convolution(c: Context, a: dict[str, Any]) -> Any:
    if a["transposed"]:
        return _conv_transpose(c, a)
    return _conv(c, a)


def _stride(a: dict[str, Any]) -> Any:
    s = a.get("stride")
    return None if s is None or (isinstance(s, (list, tuple)) and len(s) == 0) else s


@op("max_pool1d", "max_pool2d", "max_pool3d", "max_pool1d_with_indices", "max_pool2d_with_indices",
    "max_pool3d_with_indices")
def _max_pool(c: Context, a: dict[str, Any]) -> Any:
    x = a["self"]
    n = len(a["kernel_size"]) if isinstance(a["kernel_size"], (list, tuple)) else x.ndim - 2
    f = getattr(jaxconv, f"max_pool{n}d")
    return f(x, a["kernel_size"], _stride(a), a["padding"], a["dilation"], a["ceil_mode"], bool(a.get("return_indices")))


@op("avg_pool1d", "avg_pool2d", "avg_pool3d")
def _avg_pool(c: Context, a: dict[str, Any]) -> Any:
    x = a["self"]
    n = len(a["kernel_size"])
    f = getattr(jaxconv, f"avg_pool{n}d")
    kw = {} if n == 1 else {"divisor_override": a.get("divisor_override")}
    return f(x, a["kernel_size"], _stride(a), a["padding"], a["ceil_mode"], a["count_include_pad"], **kw)


def _adaptive(kind: str) -> Op:
    def run(c: Context, a: dict[str, Any]) -> Any:
        size = a["output_size"]
        n = len(size) if isinstance(size, (list, tuple)) else 1
        f = getattr(jaxconv, f"adaptive_{kind}_pool{n}d")
        return f(a["self"], size, True) if kind == "max" else f(a["self"], size)
    return run


op("adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_avg_pool3d", "_adaptive_avg_pool2d",
   "_adaptive_avg_pool3d")(_adaptive("avg"))
op("adaptive_max_pool1d", "adaptive_max_pool2d", "adaptive_max_pool3d")(_adaptive("max"))


@op("max_unpool2d", "max_unpool3d")
def _max_unpool(c: Context, a: dict[str, Any]) -> Any:
    size = tuple(a["output_size"])
    f = getattr(jaxconv, f"max_unpool{len(size)}d")
    # aten's max_unpool takes the output size only; each window is placed by its index,
    # so kernel == stride == 1 with that output_size is the same map.
    return f(a["self"], a["indices"], 1, 1, 0, size)


def _pad_pairs(flat: Any) -> tuple[tuple[int, int], ...]:
    return shapes.from_torch_pad(tuple(flat))


@op("pad")
def _pad(c: Context, a: dict[str, Any]) -> Any:
    mode = a.get("mode", "constant")
    value = a.get("value") if mode == "constant" else None
    return _pad_nd(a["self"], _pad_pairs(a["pad"]), mode, value)


def _pad_nd(x: jax.Array, pairs: tuple[tuple[int, int], ...], mode: str, value: Any) -> jax.Array:
    if mode == "constant" and any(lo < 0 or hi < 0 for lo, hi in pairs):  # torch crops with negative constant pads
        width = [(0, 0, 0)] * (x.ndim - len(pairs)) + [(lo, hi, 0) for lo, hi in pairs]
        return lax.pad(x, jnp.asarray(0 if value is None else value, x.dtype), width)
    return jaxconv.pad(x, pairs, mode, value)


op("constant_pad_nd")(lambda c, a: _pad_nd(a["self"], _pad_pairs(a["pad"]), "constant", a.get("value", 0)))
for _m in ("reflection", "replication"):
    op(*(f"{_m}_pad{n}d" for n in (1, 2, 3)))(
        lambda c, a, m=_m: _pad_nd(a["self"], _pad_pairs(a["padding"]), "reflect" if m == "reflection" else "replicate", None))
op("_pad_circular")(lambda c, a: _pad_nd(a["self"], _pad_pairs(a["pad"]), "circular", None))


_RESIZE = {"upsample_nearest": ("nearest", False), "_upsample_nearest_exact": ("nearest-exact", False),
           "upsample_linear": ("linear", True), "upsample_bilinear": ("bilinear", True),
           "upsample_trilinear": ("trilinear", True), "upsample_bicubic": ("bicubic", True),
           "_upsample_bilinear2d_aa": ("bilinear", True), "_upsample_bicubic2d_aa": ("bicubic", True)}


def _resize(mode: str, has_align: bool, antialias: bool) -> Op:
    def run(c: Context, a: dict[str, Any]) -> Any:
        x = a["input"] if "input" in a else a["self"]
        align = bool(a["align_corners"]) if has_align else None
        size, scales = a.get("output_size"), a.get("scale_factors")
        if scales is None:  # the .default overloads: per-dim scales_* beside the output size
            per_dim = [a[k] for k in ("scales_d", "scales_h", "scales_w", "scales") if k in a]
            scales = per_dim if per_dim and all(s is not None for s in per_dim) else None
            if scales is not None and size is not None:
                expect = [math.floor(n * s) for n, s in zip(x.shape[2:], scales)]
                if list(size) == expect:
                    size = None  # the same as interpolate(scale_factor=...): torch samples with 1/scale
                else:
                    scales = None
        if size is not None:
            return jaxconv.interpolate(x, size=tuple(size), mode=mode, align_corners=align, antialias=antialias)
        assert scales is not None, "upsample without output_size or scale_factors"
        return jaxconv.interpolate(x, scale_factor=tuple(scales), mode=mode, align_corners=align, antialias=antialias)
    return run


for _prefix, (_mode, _align) in _RESIZE.items():
    _aa = _prefix.endswith("_aa")
    _names3 = [_prefix] if _aa else [f"{_prefix}{n}d" for n in (1, 2, 3)]
    op(*_names3)(_resize(_mode, _align, _aa))


op("channel_shuffle", "native_channel_shuffle")(
    lambda c, a: _channel_shuffle(a["self"], a["groups"]))


def _channel_shuffle(x: jax.Array, g: int) -> jax.Array:
    n, ch = x.shape[:2]
    return x.reshape((n, g, ch // g, *x.shape[2:])).swapaxes(1, 2).reshape(x.shape)


# batch_norm and the other normalisations are in graph_import (batch_norm writes the
# running statistics back into its buffer arguments).
op("layer_norm")(lambda c, a: jaxconv.layer_norm(a["input"], tuple(a["normalized_shape"]), a.get("weight"), a.get("bias"),
                                                 a["eps"]))
op("group_norm")(lambda c, a: jaxconv.group_norm(a["input"], a["num_groups"], a.get("weight"), a.get("bias"), a["eps"]))
