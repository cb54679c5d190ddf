"""``summary(model, input_shape)``: a per-layer table of output shapes, parameters, FLOPs and receptive fields.

Shapes come from one abstract trace (``jax.eval_shape``): nothing is computed and the
model is not changed. The arithmetic comes from :mod:`jaxconv.shapes`
(``conv_flops``, ``receptive_field``, ``resolve_padding``, ``pool_padding``).
"""

from __future__ import annotations

import functools
import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

from jaxconv import shapes
from jaxconv.nn import activations as A
from jaxconv.nn import layers as L
from jaxconv.nn import normalization as N
from jaxconv.nn import pooling as P

__all__ = ["LayerInfo", "Summary", "summary"]

# Spatially pointwise for the receptive field; as for BatchNorm, the statistics of LayerNorm and
# GroupNorm are not counted as a window. ChannelShuffle permutes channels only.
_POINTWISE = (L.BatchNorm1d, L.BatchNorm2d, L.BatchNorm3d, L.ReLU, L.ReLU6, L.LeakyReLU, L.ELU, L.Sigmoid, L.Tanh, L.SiLU,
              L.GELU, L.Dropout, L.Identity, nnx.Dropout, L.Sequential,  # a Sequential is a leaf only when empty
              N.LayerNorm, N.GroupNorm, A.Hardswish, A.Hardsigmoid, A.Mish, A.ChannelShuffle)
_FLAT = (L.Flatten, L.Linear, P.Unfold)
_UPSAMPLING = (L._ConvTransposeNd, P.Upsample, P.PixelShuffle, P._MaxUnpoolNd, P.Fold)
_UNKNOWN, _FLATTENED = "unknown", "flat"


@dataclass(frozen=True)
class LayerInfo:
    """One row of a :class:`Summary`.

    Attributes:
      name: the layer's path in the model (``"features.0"``).
      type: its class name (``flax.Linear`` for a class from another package).
      output_shape: the output shape (of the values, for layers that also return indices).
      params: number of parameters (``nnx.Param`` entries).
      flops: forward FLOPs, multiply-adds counted as 2 and bias adds as 1 (convolutions,
        transposed convolutions and linear layers; 0 for the other jaxconv.nn layers; None
        for modules from elsewhere, e.g. ``flax.nnx.Linear``).
      rf_size: receptive field size per spatial dim in input pixels, or None where it is
        not defined (after a flatten, an upsampling, or an input of unknown origin).
      rf_stride: distance in input pixels between neighbouring outputs, or None.
      rf_inferred: the layer's input was made outside the recorded layers (an addition, a
        concatenation), and its receptive field was taken as the largest among earlier
        layer outputs of the same spatial size.
    """

    name: str
    type: str
    output_shape: tuple[int, ...]
    params: int
    flops: int | None
    rf_size: tuple[int, ...] | None
    rf_stride: tuple[int, ...] | None
    rf_inferred: bool = False


class Summary(str):
    """The table as a string (print it), with the numbers as attributes.

    Attributes:
      rows: a :class:`LayerInfo` per layer call, in call order.
      total_params: all ``nnx.Param`` entries of the model.
      batch_stats: all ``nnx.BatchStat`` entries (running statistics).
      total_flops: the sum of the rows' FLOPs.
      input_shape, output_shape: of the whole model.

    Example:
      >>> from flax import nnx
      >>> from jaxconv import nn
      >>> s = nn.summary(nn.Sequential(nn.Flatten(), nn.Linear(12, 2, rngs=nnx.Rngs(0))), (4, 3, 2, 2))
      >>> s.total_params, s.total_flops, s.output_shape, [r.type for r in s.rows]
      (26, 200, (4, 2), ['Flatten', 'Linear'])
    """

    rows: tuple[LayerInfo, ...]
    total_params: int
    batch_stats: int
    total_flops: int
    input_shape: Any
    output_shape: Any

    def __repr__(self) -> str:
        return str(self)


# One summary at a time patches layer classes; the lock keeps concurrent calls from interleaving.
_LOCK = threading.Lock()


class _Recorder:
    def __init__(self, paths: dict[int, str]) -> None:
        self.paths = paths
        self.known: dict[int, tuple[Any, Any]] = {}
        self.rows: list[tuple[str, Any, tuple[int, ...], Any, Any, bool]] = []

    def register(self, x: Any, state: Any) -> None:
        self.known[id(x)] = (x, state)  # the array is kept so that its id is not reused

    def lookup(self, x: Any) -> tuple[Any, bool]:
        if not hasattr(x, "shape"):
            return _UNKNOWN, False
        hit = self.known.get(id(x))
        if hit is not None and hit[0] is x:
            return hit[1], False
        if x.ndim < 3:
            return _UNKNOWN, True
        # Made outside the layers (x + shortcut, a concatenation): an elementwise combination
        # sees the union of its operands' windows, which for aligned windows is the largest.
        cands = [st for arr, st in self.known.values() if hasattr(arr, "shape") and arr.ndim == x.ndim
                 and tuple(arr.shape[2:]) == tuple(x.shape[2:])]
        if not cands or any(isinstance(c, str) for c in cands):
            return _UNKNOWN, True
        return max(cands, key=lambda st: math.prod(_rf(st, x.ndim - 2).size)), True


def _is_rng(m: Any) -> bool:
    return isinstance(m, (nnx.Rngs, nnx.RngStream))


def _rf(stack: tuple[dict[str, Any], ...], n: int) -> shapes.ReceptiveField:
    return shapes.receptive_field(list(stack), n=n)


def _spatial(shape: tuple[int, ...], n: int) -> tuple[int, ...]:
    return tuple(shape[-n:])


def _window(layer: Any, in_shape: tuple[int, ...], out_shape: tuple[int, ...]) -> Any:
    """The layer's window for the receptive-field stack: a dict, "pointwise", "flat" or "unknown"."""
    if isinstance(layer, _POINTWISE):
        return "pointwise"
    if isinstance(layer, _FLAT):
        return _FLATTENED
    if isinstance(layer, _UPSAMPLING):
        return _UNKNOWN
    if isinstance(layer, L._ConvNd):
        sp = _spatial(in_shape, layer.n)
        pads = shapes.resolve_padding(layer.padding, sp, layer.kernel_size, layer.stride, layer.dilation, fn="summary")
        return dict(kernel_size=layer.kernel_size, stride=layer.stride, padding=pads, dilation=layer.dilation)
    if isinstance(layer, (P._MaxPoolNd, P._AvgPoolNd, P._LPPoolNd)):
        d = getattr(layer, "dilation", (1,) * layer.n)
        sp = _spatial(in_shape, layer.n)
        pads = shapes.pool_padding(sp, layer.kernel_size, layer.stride, layer.padding, d, layer.ceil_mode, fn="summary")[1]
        return dict(kernel_size=layer.kernel_size, stride=layer.stride, padding=pads, dilation=d)
    if isinstance(layer, P._PadNd):
        return dict(kernel_size=1, padding=layer.pads)
    if isinstance(layer, (P._AdaptiveAvgPoolNd, P._AdaptiveMaxPoolNd)):
        sin, sout = _spatial(in_shape, layer.n), _spatial(out_shape, layer.n)
        if all(i % o == 0 for i, o in zip(sin, sout)):
            k = tuple(i // o for i, o in zip(sin, sout))
            return dict(kernel_size=k, stride=k)
        return _UNKNOWN  # overlapping windows of varying size
    if isinstance(layer, P.PixelUnshuffle):
        r = layer.downscale_factor
        return dict(kernel_size=r, stride=r)
    return _UNKNOWN


def _batch(in_shape: tuple[int, ...], n: int) -> int:
    return in_shape[0] if len(in_shape) == n + 2 else 1


def _flops(layer: Any, in_shape: tuple[int, ...], out_shape: tuple[int, ...]) -> int | None:
    if isinstance(layer, L._ConvNd):
        n = layer.n
        sp = _spatial(in_shape, n)
        pads = shapes.resolve_padding(layer.padding, sp, layer.kernel_size, layer.stride, layer.dilation, fn="summary")
        return shapes.conv_flops(sp, layer.in_channels, layer.out_channels, layer.kernel_size, layer.stride, pads,
                                 layer.dilation, layer.groups, layer.bias is not None, _batch(in_shape, n))
    if isinstance(layer, L._ConvTransposeNd):
        n = layer.n
        b = _batch(in_shape, n)
        # A transposed conv is a 1x1 conv to C_out * prod(k) channels (every input pixel times
        # every kernel tap) followed by a scatter-add of the taps: the same multiply-adds.
        macs = shapes.conv_flops(_spatial(in_shape, n), layer.in_channels, layer.out_channels * math.prod(layer.kernel_size),
                                 1, groups=layer.groups, bias=False, batch=b)
        return macs + (b * layer.out_channels * math.prod(_spatial(out_shape, n)) if layer.bias is not None else 0)
    if isinstance(layer, L.Linear):
        rows = math.prod(in_shape[:-1])
        return shapes.conv_flops((1,), layer.in_features, layer.out_features, 1, bias=layer.bias is not None, batch=rows)
    if not _is_jaxconv_layer(layer):
        return None  # a module from elsewhere: its arithmetic is not known here
    return 0


def _is_jaxconv_layer(layer: Any) -> bool:
    return type(layer).__module__.startswith("jaxconv.nn.")


def _type_name(layer: Any) -> str:
    cls = type(layer)
    return cls.__name__ if _is_jaxconv_layer(layer) else f"{cls.__module__.split('.')[0]}.{cls.__name__}"


def _count(model: Any, kind: type) -> int:
    return sum(math.prod(getattr(v, "shape", ())) for v in jax.tree.leaves(nnx.state(model, kind)))


def _fmt_shape(s: Any) -> str:
    return "(" + ", ".join(str(v) for v in s) + ")" if isinstance(s, tuple) else str(s)


def _fmt_out(s: Any) -> str:
    if isinstance(s, tuple) and all(isinstance(v, int) for v in s):
        return _fmt_shape(s)
    if isinstance(s, (tuple, list)):
        return "(" + ", ".join(_fmt_out(v) for v in s) + ")"
    if isinstance(s, dict):
        return "{" + ", ".join(f"{k!r}: {_fmt_out(v)}" for k, v in s.items()) + "}"
    return str(s)


def _fmt_rf(v: tuple[int, ...] | None, mark: bool = False) -> str:
    if v is None:
        return "-"
    return "x".join(str(i) for i in v) + ("*" if mark else "")


def summary(model: nnx.Module, input_shape: Sequence[int], dtype: Any = jnp.float32) -> Summary:
    """A table of the model's layers: output shape, parameters, FLOPs, receptive field and its stride.

    The model runs once under ``jax.eval_shape`` on an abstract input (no compute, no
    change to the model, whatever its train/eval mode). Every call of a leaf module (a
    module without submodules) is a row, in call order, named by its path in the model.

    FLOPs count multiply-adds as 2 and bias adds as 1, for convolutions, transposed
    convolutions and linear layers (:func:`jaxconv.shapes.conv_flops`); other layers
    count 0. The receptive field is in input pixels, following the data through the
    layers (:func:`jaxconv.shapes.receptive_field`); it is ``-`` after a flatten or an
    upsampling layer. Where a layer's input was made outside the layers (``x + shortcut``,
    a concatenation), the largest receptive field among earlier outputs of the same
    spatial size is used and the entry is marked ``*``.

    Args:
      model: an NNX module, called as ``model(x)`` (or ``model(*xs)``).
      input_shape: the input's shape, batch dim included, e.g. ``(1, 1, 28, 28)``, or a
        sequence of shapes for a model called with several inputs (``model(x, skip)``).
      dtype: the input's dtype.

    Returns:
      A :class:`Summary`: the table as a string, with ``rows``, ``total_params``,
      ``total_flops`` and ``batch_stats`` as attributes.

    Example:
      >>> from flax import nnx
      >>> from jaxconv import nn
      >>> net = nn.Sequential(nn.Conv2d(1, 6, 5, padding=2, rngs=nnx.Rngs(0)), nn.ReLU(), nn.MaxPool2d(2))
      >>> s = nn.summary(net, (1, 1, 28, 28))
      >>> s.total_params, s.total_flops, s.rows[-1].rf_size, s.rows[-1].rf_stride
      (156, 239904, (6, 6), (2, 2))
    """
    fn = "summary"
    if not isinstance(model, nnx.Module):
        raise shapes.arg_error(fn, "model", "must be an nnx.Module", type(model).__name__, exc=TypeError)
    def valid_shape(v: Any) -> bool:
        return (not isinstance(v, (str, bytes)) and isinstance(v, Sequence) and len(v) > 0
                and all(shapes.is_int(i) and int(i) >= 1 for i in v))

    if valid_shape(input_shape):
        in_shapes = (tuple(int(v) for v in input_shape),)
    elif (not isinstance(input_shape, (str, bytes)) and isinstance(input_shape, Sequence) and len(input_shape) > 0
          and all(valid_shape(v) for v in input_shape)):
        in_shapes = tuple(tuple(int(i) for i in v) for v in input_shape)  # type: ignore[union-attr]
    else:
        raise shapes.arg_error(fn, "input_shape", "must be a shape (a non-empty sequence of ints >= 1, batch dim included) "
                               "or a sequence of shapes, one per model input", input_shape)
    from jaxconv.nn.graph_import import TorchGraphModule

    if isinstance(model, TorchGraphModule):
        rows, out = _graph_rows(model, in_shapes, dtype)
        return _render(model, rows, in_shapes, out, dtype)
    modules = list(nnx.iter_modules(model))
    leaf_types = {type(m) for _, m in modules if not _is_rng(m) and not any(
        isinstance(c, nnx.Module) and not _is_rng(c) for _, c in nnx.iter_children(m))}
    graphdef, state = nnx.split(model)
    holder: dict[str, _Recorder] = {}

    def make(orig: Any) -> Any:
        @functools.wraps(orig)
        def wrapped(self: Any, *args: Any, **kwargs: Any) -> Any:
            rec = holder.get("rec")
            if rec is None or id(self) not in rec.paths:
                return orig(self, *args, **kwargs)
            x = args[0] if args else next(iter(kwargs.values()), None)
            in_state, inferred = rec.lookup(x)
            try:
                out = orig(self, *args, **kwargs)
            except (ValueError, TypeError) as e:
                shape = _fmt_shape(tuple(getattr(x, "shape", ())))
                raise type(e)(f"summary: layer '{rec.paths[id(self)]}' ({type(self).__name__}) on input {shape}: {e}") from e
            y = out[0] if isinstance(out, tuple) and out else out
            xs = tuple(getattr(x, "shape", ()))
            ys = tuple(getattr(y, "shape", ()))
            win = _window(self, xs, ys)
            if in_state in (_UNKNOWN, _FLATTENED) or win == _UNKNOWN:
                out_state: Any = _FLATTENED if win == _FLATTENED else _UNKNOWN
            elif win == _FLATTENED:
                out_state = _FLATTENED
            elif win == "pointwise":
                out_state = in_state
            else:
                out_state = (*in_state, win)
            rec.register(y, out_state)
            rec.rows.append((rec.paths[id(self)], None, xs, ys, out_state, inferred))
            return out
        return wrapped

    def run(state: Any, *xs: Any) -> Any:
        m = nnx.merge(graphdef, state)
        rec = _Recorder({id(mod): ".".join(str(p) for p in path) or "(model)" for path, mod in nnx.iter_modules(m)})
        for x in xs:
            rec.register(x, ())
        holder["rec"] = rec
        return m(*xs)

    with _LOCK:
        originals = {cls: (cls.__dict__.get("__call__"), cls.__call__) for cls in leaf_types}
        try:
            for cls, (_, call) in originals.items():
                cls.__call__ = make(call)
            out = jax.eval_shape(run, state, *(jax.ShapeDtypeStruct(sh, jnp.dtype(dtype)) for sh in in_shapes))
        finally:
            for cls, (own, _) in originals.items():
                if own is None:
                    delattr(cls, "__call__")
                else:
                    cls.__call__ = own
    rec = holder["rec"]

    by_path = {".".join(str(p) for p in path) or "(model)": mod for path, mod in modules}
    rows = []
    for name, _, xs, ys, st, inferred in rec.rows:
        layer = by_path[name]
        size = stride = None
        n_sp = len(xs) - 2  # inputs carry a batch dim (input_shape includes it)
        if not isinstance(st, str) and n_sp >= 1:
            try:
                rf = _rf(st, n_sp)
                size, stride = rf.size, rf.stride
            except ValueError:  # a window of another rank than the model input (not a plain stack)
                pass
        rows.append(LayerInfo(name, _type_name(layer), ys, _count(layer, nnx.Param), _flops(layer, xs, ys), size, stride,
                              inferred and size is not None))

    return _render(model, rows, in_shapes, out, dtype)


def _render(model: nnx.Module, rows: list[LayerInfo], in_shapes: tuple[tuple[int, ...], ...], out: Any, dtype: Any) -> Summary:
    total_params = _count(model, nnx.Param)
    batch_stats = _count(model, nnx.BatchStat)
    total_flops = sum(r.flops for r in rows if r.flops is not None)
    out_shape = jax.tree.map(lambda s: tuple(s.shape), out)

    header = ("Layer", "Type", "Output shape", "Params", "FLOPs", "RF", "RF stride")
    table: list[tuple[str, ...]] = [header]
    for i, sh in enumerate(in_shapes):
        ones = _fmt_rf((1,) * (len(sh) - 2) if len(sh) > 2 else None)
        table.append(("input" if len(in_shapes) == 1 else f"input {i}", "", _fmt_shape(sh), "", "", ones, ones))
    for r in rows:
        table.append((r.name, r.type, _fmt_shape(r.output_shape), f"{r.params:,}", "?" if r.flops is None else f"{r.flops:,}",
                      _fmt_rf(r.rf_size, r.rf_inferred), _fmt_rf(r.rf_stride, r.rf_inferred)))
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    right = {3, 4}

    def line(row: Sequence[str]) -> str:
        return "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))).rstrip()

    rule = "-" * len(line(tuple("-" * w for w in widths)))
    text = [type(model).__name__ + " summary", rule, line(header), rule, *(line(r) for r in table[1:]), rule]
    param_bytes = sum(v.size * v.dtype.itemsize for v in jax.tree.leaves(nnx.state(model, nnx.Param)))
    text.append(f"Total params: {total_params:,} ({param_bytes / 1024:,.1f} KiB)")
    if batch_stats:
        text.append(f"Batch statistics (not trained): {batch_stats:,}")
    uncounted = "; layers marked ? are not jaxconv.nn layers and not counted" if any(r.flops is None for r in rows) else ""
    text.append(f"Total FLOPs: {total_flops:,} (multiply-add = 2; conv, transposed conv and linear layers{uncounted})")
    ins = ", ".join(_fmt_shape(sh) for sh in in_shapes)
    text.append(f"Input {ins} {jnp.dtype(dtype).name} -> output {_fmt_out(out_shape)}")
    if any(r.rf_inferred for r in rows):
        text.append("* input made outside the layers (add/concat): largest receptive field of the same spatial size")
    s = Summary("\n".join(text))
    s.rows, s.total_params, s.batch_stats, s.total_flops = tuple(rows), total_params, batch_stats, total_flops
    s.input_shape, s.output_shape = in_shapes[0] if len(in_shapes) == 1 else in_shapes, out_shape
    return s


def _step_flops(op: str, a: dict[str, Any], out: Any) -> int:
    """FLOPs of one captured op (multiply-add = 2, bias add = 1): conv, transposed conv, linear; 0 otherwise."""
    w = a.get("weight")
    if op in ("conv1d", "conv2d", "conv3d", "convolution", "_convolution", "conv_transpose1d", "conv_transpose2d",
              "conv_transpose3d") and w is not None:
        x, bias = a["input"], a.get("bias") is not None
        taps = math.prod(w.shape[2:])
        if op.startswith("conv_transpose") or a.get("transposed"):
            return 2 * math.prod(x.shape) * w.shape[1] * taps + (math.prod(out.shape) if bias else 0)
        return 2 * math.prod(out.shape) * w.shape[1] * taps + (math.prod(out.shape) if bias else 0)
    if op == "linear" and w is not None:
        rows = math.prod(a["input"].shape[:-1])
        return 2 * rows * w.shape[-1] * (w.shape[0] if w.ndim == 2 else 1) + (math.prod(out.shape) if a.get("bias") is not None else 0)
    return 0


def _graph_rows(model: Any, in_shapes: tuple[tuple[int, ...], ...], dtype: Any) -> tuple[list[LayerInfo], Any]:
    """A row per call of a torch leaf module (consecutive ops of one module path) or per op of a forward."""
    from jaxconv.nn import aten, graph_import

    graphdef, state = nnx.split(model)
    calls: list[list[Any]] = []  # [path, type, out_shape, flops]

    def observe(step: Any, a: dict[str, Any], out: Any) -> None:
        y = out[0] if isinstance(out, (tuple, list)) and out else out
        shape = tuple(getattr(y, "shape", ()))
        flops = _step_flops(step.op, a, y)
        leaf = step.kind == "leaf" or (step.module in model.torch_modules and not any(
            k.startswith(step.module + ".") for k in model.torch_modules) and step.module)
        if calls and leaf and calls[-1][0] == step.module:
            calls[-1][2], calls[-1][3] = shape, calls[-1][3] + flops
            return
        name = step.module if leaf else ".".join(p for p in (step.module, step.op) if p)
        calls.append([step.module if leaf else name, step.module_type if leaf else step.op, shape, flops, leaf])

    def run(state: Any, *xs: Any) -> Any:
        m = nnx.merge(graphdef, state)
        prog = m.programs["eval" if m.use_running_average else "train"]
        rngs = m.rngs
        ctx = aten.Context((lambda: rngs.dropout()) if rngs is not None else None, m.compute_dtype)
        return graph_import.run_program(prog, xs, m._state(), ctx, m._leaf, observe)

    try:
        out = jax.eval_shape(run, state, *(jax.ShapeDtypeStruct(sh, jnp.dtype(dtype)) for sh in in_shapes))
    except (ValueError, TypeError) as e:
        raise type(e)(f"summary: {e}") from e
    seen: set[str] = set()
    rows = []
    for name, typ, shape, flops, leaf in calls:
        params = 0
        if leaf and name not in seen:
            seen.add(name)
            node: Any = model
            for part in name.split("."):
                node = getattr(node, part, None)  # a module without parameters has no container
            params = 0 if node is None else _count(node, nnx.Param)
        rows.append(LayerInfo(name, typ, shape, params, flops, None, None))
    return rows, out
