"""Graph import: a torch module with its own ``forward``, captured by ``torch.export``, run as an NNX module.

:func:`capture` records the module's ``forward`` twice, in train and in eval mode, as
ATen-level graphs (``torch.export`` in non-strict mode, the batch and spatial dims
marked dynamic where the forward allows it), and turns each graph into a
:class:`Program`: a list of steps over plain Python values, every op resolved to a
function of :mod:`jaxconv.nn.aten` (no torch object is kept). :class:`TorchGraphModule`
holds the parameters and buffers as ``nnx.Param`` / ``nnx.BatchStat`` under torch's
``state_dict`` keys and runs the program of its mode:

- ``ported.train()`` / ``ported.eval()`` switch programs (NNX's ``use_running_average``),
  whichever mode the torch model was in; train mode uses batch statistics, updates the
  running statistics and ``num_batches_tracked`` as torch, and draws dropout and
  stochastic-depth masks from ``rngs``;
- shape arithmetic in ``forward`` (``x.view(x.size(0), -1)``, TF-style padding from
  ``x.shape``) is evaluated for each call's static shapes; a dim that the capture fixed
  raises naming the captured shape;
- the module needs no torch to run, pickle, jit, differentiate or save.

torch is imported only inside :func:`capture`.
"""

from __future__ import annotations

import copy
import hashlib
import logging
import math
import operator
import re
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from jax import lax

import jaxconv
from jaxconv import policy
from jaxconv.nn import aten, layout

__all__ = ["Program", "TorchGraphModule", "TorchSubmodule", "capture", "program_key"]

_FN = "from_torch"


# ---------------------------------------------------------------------------------------
# the program: plain data, no torch objects
# ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Ref:
    """A reference to the value of an earlier node."""

    name: str


@dataclass(frozen=True, eq=False)
class Step:
    """One captured node: ``out = OPS[op](args)``, with ``mutates`` naming arguments written in place."""

    out: str
    op: str
    args: tuple[tuple[str, Any], ...]
    mutates: tuple[str, ...] = ()
    kind: str = "aten"          # "aten" (the OPS table), "python" (a builtin on ints), "getitem"
    module: str = ""            # torch module path the node came from ("" for the root)
    module_type: str = ""       # that module's class name
    source: str = ""            # "file.py:123" of the forward line, when the capture has it


@dataclass(frozen=True)
class Input:
    """A graph input: a user argument (``index``), or a parameter / buffer / constant (``key``)."""

    name: str
    kind: str                   # "user", "param", "buffer", "constant"
    key: str = ""
    index: int = -1
    shape: tuple[int | str, ...] = ()   # user inputs: ints are fixed by the capture, strings name a dynamic dim
    dtype: str = ""


@dataclass(frozen=True, eq=False)
class Program:
    """A captured forward: inputs, steps, and the output structure (hashed by identity, so NNX keeps it static)."""

    mode: str
    inputs: tuple[Input, ...]
    steps: tuple[Step, ...]
    output: Any                 # nested tuples/lists/dicts of Ref
    constants: Mapping[str, np.ndarray] = field(default_factory=dict)
    ranges: Mapping[str, tuple[int, int | None]] = field(default_factory=dict)
    captured_shapes: tuple[tuple[int, ...], ...] = ()


_PYTHON_FNS: dict[str, Callable[..., Any]] = {
    "add": operator.add, "sub": operator.sub, "mul": operator.mul, "floordiv": operator.floordiv,
    "truediv": operator.truediv, "mod": operator.mod, "pow": operator.pow, "neg": operator.neg,
    "eq": operator.eq, "ne": operator.ne, "lt": operator.lt, "le": operator.le, "gt": operator.gt,
    "ge": operator.ge, "and_": operator.and_, "or_": operator.or_, "not_": operator.not_,
    "sym_float": float, "sym_int": int, "sym_max": max, "sym_min": min, "sym_not": operator.not_,
    "sym_sqrt": math.sqrt, "_sym_sqrt": math.sqrt, "ceil": math.ceil, "floor": math.floor,
    "sym_ite": lambda b, t, f: t if b else f, "trunc": math.trunc,
    "sym_size": lambda x, d: x.shape[d], "sym_numel": lambda x: x.size,
    "sym_storage_offset": lambda x: 0, "sym_stride": lambda x, d: int(np.prod(x.shape[d + 1:])),
}
_NO_OPS = {"_assert_scalar", "sym_constrain_range_for_size", "sym_constrain_range", "_assert_async",
           "_assert_tensor_metadata", "_functional_assert_scalar", "_functional_sym_constrain_range"}


# ---------------------------------------------------------------------------------------
# running a program
# ---------------------------------------------------------------------------------------

def _resolve(v: Any, env: dict[str, Any]) -> Any:
    if isinstance(v, Ref):
        return env[v.name]
    if isinstance(v, (list, tuple)):
        return type(v)(_resolve(i, env) for i in v)
    return v


def _bn(c: aten.Context, a: dict[str, Any], write: Callable[[str, Any], None]) -> Any:
    x, rm, rv = a["input"], a["running_mean"], a["running_var"]
    training = bool(a.get("training", False))
    out = jaxconv.batch_norm(x, rm, rv, a.get("weight"), a.get("bias"), training, a["momentum"], a["eps"])
    if training and rm is not None and rv is not None:
        new_rm, new_rv = jaxconv.batch_norm_update(x, rm, rv, a["momentum"])
        write("running_mean", new_rm)
        write("running_var", new_rv)
    return out


def _bn_no_training(c: aten.Context, a: dict[str, Any], write: Callable[[str, Any], None]) -> Any:
    out = jaxconv.batch_norm(a["input"], a["running_mean"], a["running_var"], a.get("weight"), a.get("bias"),
                             False, a["momentum"], a["eps"])
    return out, jnp.zeros((0,), out.dtype), jnp.zeros((0,), out.dtype)


def _instance_norm(c: aten.Context, a: dict[str, Any], write: Callable[[str, Any], None]) -> Any:
    x = a["input"]
    if not a["use_input_stats"]:
        return jaxconv.batch_norm(x, a["running_mean"], a["running_var"], a.get("weight"), a.get("bias"), False, 0.0,
                                  a["eps"])
    return jaxconv.group_norm(x, x.shape[1], a.get("weight"), a.get("bias"), a["eps"])


# Ops that write into arguments that the schema does not mark as mutable.
_WRITING_OPS: dict[str, Callable[..., Any]] = {
    "batch_norm": _bn, "_native_batch_norm_legit_no_training": _bn_no_training, "instance_norm": _instance_norm,
}


def supported_ops() -> set[str]:
    return set(aten.OPS) | set(_WRITING_OPS) | set(_NO_OPS) | {k for k in _PYTHON_FNS if k.startswith("sym_")}


def _check_user_input(prog: Program, inp: Input, x: Any, sizes: dict[str, int]) -> jax.Array:
    if not hasattr(x, "shape") or not hasattr(x, "dtype") or type(x).__module__.startswith("torch"):
        raise TypeError(f"TorchGraphModule: input {inp.index} must be a JAX or NumPy array, got {type(x).__name__!r}"
                        + (" (convert with jnp.asarray(t.numpy()))" if type(x).__module__.startswith("torch") else ""))
    x = jnp.asarray(x)
    fixed = [i for i, s in enumerate(inp.shape) if isinstance(s, int)]
    shown = "(" + ", ".join(str(s) if isinstance(s, int) else "*" for s in inp.shape) + ")"
    if x.ndim != len(inp.shape) or any(x.shape[i] != inp.shape[i] for i in fixed):
        raise ValueError(f"TorchGraphModule: input {inp.index} has shape {tuple(x.shape)}, but the capture fixed its "
                         f"shape to {shown} ('*' dims are free; captured at {prog.captured_shapes[inp.index]}): call it "
                         f"with that shape or capture again with an example of the new shape")
    for i, s in enumerate(inp.shape):
        if isinstance(s, str):
            if s in sizes and sizes[s] != x.shape[i]:
                raise ValueError(f"TorchGraphModule: input {inp.index} dim {i} must equal the other dims named {s} "
                                 f"({sizes[s]}) as in the capture, got {x.shape[i]}")
            sizes[s] = x.shape[i]
            lo, hi = prog.ranges.get(s, (1, None))
            # torch.export specialises sizes 0 and 1, so its ranges start at 2 for dims it kept
            # dynamic; size 1 runs the same graph.
            lo = 1 if lo == 2 else lo
            if x.shape[i] < lo or (hi is not None and x.shape[i] > hi):
                raise ValueError(f"TorchGraphModule: input {inp.index} dim {i} must be in [{lo}, {hi or 'inf'}] for "
                                 f"the captured forward, got {x.shape[i]} (shape {tuple(x.shape)})")
    return x


def run_program(prog: Program, args: Sequence[Any], state: Mapping[str, nnx.Variable], ctx: aten.Context,
                leaf: Callable[[str], Callable[..., Any]] | None = None,
                observe: Callable[[Step, dict[str, Any], Any], None] | None = None,
                channels_last: bool | None = None) -> Any:
    """Evaluate ``prog`` on ``args``; buffers written by the graph are written back into ``state``.

    ``leaf(path)`` gives the NNX module converted with ``custom=`` for a leaf step;
    ``observe(step, args, out)`` sees every op step (``summary`` uses it).
    ``channels_last`` holds activations NHWC between the ops that can (:mod:`jaxconv.nn.layout`:
    the same sums in another memory layout); ``None`` leaves it to
    :func:`jaxconv.policy.graph_layouts` (the forced layout, else the CPU's and the other
    backends' as branches of ``lax.platform_dependent`` where they differ). A program with
    ``custom=`` leaf modules, or observed, takes the default backend's layout unless one is
    forced: a leaf module's own state cannot be written from inside a platform branch.

    A program that draws random numbers (dropout, stochastic depth) takes one key from
    ``ctx`` per call and folds in the draw's index for each of its draws.
    """
    users = [i for i in prog.inputs if i.kind == "user"]
    if len(args) != len(users):
        raise TypeError(f"TorchGraphModule: takes {len(users)} input array(s), as the captured forward, got {len(args)}")
    sizes: dict[str, int] = {}
    user = {inp.name: _check_user_input(prog, inp, args[inp.index], sizes) for inp in users}
    values = {inp.name: state[inp.key].get_value() for inp in prog.inputs if inp.kind in ("param", "buffer")}
    base = ctx.key() if _draws(prog) else None
    key = program_key(prog, user) if policy.measured_layout or policy._layout_recorder else None
    layouts = policy.graph_layouts(key, depthwise=_has_depthwise(prog, values))
    per = {platform: layout == "channels_last" for platform, layout in layouts.items()}
    if channels_last is None and (len(set(per.values())) == 1 or observe is not None
                                  or any(s.kind == "leaf" for s in prog.steps)):
        channels_last = per["default"]  # one program (no platform branch: see above)

    def evaluate(cl: bool) -> Callable[..., Any]:
        def run(user: dict[str, Any], values: dict[str, Any], base: Any) -> Any:
            return _evaluate(prog, user, values, ctx.folding(base), leaf, observe, cl)
        return run

    if channels_last is None:  # every layout is traced; lowering keeps the branch of its platform
        branches = {platform: evaluate(cl) for platform, cl in per.items()}
        out, written = lax.platform_dependent(user, values, base, **branches)
    else:
        out, written = evaluate(channels_last)(user, values, base)
    for name, value in written.items():
        var = state[name]
        var.set_value(value.astype(var.get_value().dtype))
    return out


_STEP_KEYS: weakref.WeakKeyDictionary[Program, str] = weakref.WeakKeyDictionary()


def program_key(prog: Program, user: Mapping[str, Any]) -> str:
    """A stable digest of a captured program and its call's input shapes and dtypes: what a measured
    layout is keyed by in a plan file (the same across processes for the same capture)."""
    steps = _STEP_KEYS.get(prog)
    if steps is None:
        inputs = [(i.name, i.kind, i.key, i.shape, i.dtype) for i in prog.inputs]
        steps = _STEP_KEYS[prog] = hashlib.sha256(repr((prog.mode, inputs, prog.steps, prog.output)).encode()).hexdigest()
    call = sorted((name, tuple(v.shape), str(v.dtype)) for name, v in user.items())
    return hashlib.sha256(f"{steps}|{call}".encode()).hexdigest()[:24]


_CONV_OPS = frozenset({"conv1d", "conv2d", "conv3d", "convolution", "_convolution"})


def _has_depthwise(prog: Program, values: Mapping[str, Any]) -> bool:
    """Whether a convolution of the program is depthwise (groups > 1, one input channel per group)."""
    for s in prog.steps:
        if s.kind == "aten" and s.op in _CONV_OPS:
            a = dict(s.args)
            w, g = a.get("weight"), a.get("groups", 1)
            w = values.get(w.name) if isinstance(w, Ref) else None
            if isinstance(g, int) and g > 1 and not a.get("transposed") and w is not None and w.shape[1] == 1:
                return True
    return False


def _draws(prog: Program) -> bool:
    """Whether the program may draw random numbers (a dropout captured with ``train=False`` or ``p=0`` does not)."""
    for s in prog.steps:
        if s.kind == "aten" and s.op in aten.RANDOM_OPS:
            a = dict(s.args)
            if not (s.op.endswith("dropout") and (a.get("train") is False or a.get("p") == 0)):
                return True
    return False


def _evaluate(prog: Program, user: dict[str, Any], values: dict[str, Any], ctx: aten.Context,
              leaf: Callable[[str], Callable[..., Any]] | None,
              observe: Callable[[Step, dict[str, Any], Any], None] | None,
              channels_last: bool) -> tuple[Any, dict[str, jax.Array]]:
    """The program's output and ``{state key: new value}`` of the buffers it wrote (a pure function)."""
    env: dict[str, Any] = {}
    alias: dict[str, str] = {}  # node written in place -> the tensor it mutated first (its root)
    initial: dict[str, Any] = {}
    for inp in prog.inputs:
        if inp.kind == "user":
            env[inp.name] = user[inp.name]
        elif inp.kind == "constant":
            env[inp.name] = jnp.asarray(prog.constants[inp.key])
        else:
            env[inp.name] = initial[inp.name] = values[inp.name]
    for s in prog.steps:
        if s.kind == "getitem":
            (_, src), (_, idx) = s.args
            env[s.out] = env[src.name][idx]
            continue
        a = {k: _resolve(v, env) for k, v in s.args}
        if s.kind == "leaf":
            assert leaf is not None
            env[s.out] = out = leaf(s.op)(*layout.logical(a["xs"]))
            if observe is not None:
                observe(s, layout.logical(a), out)
            continue
        if s.kind == "python":
            env[s.out] = _PYTHON_FNS[s.op](*layout.logical(list(a.values())))
            continue
        if s.op in _NO_OPS:
            env[s.out] = None
            continue
        refs = dict(s.args)

        def write(arg: str, value: Any, refs: dict[str, Any] = refs) -> None:
            # The graph names a mutated tensor by the node that last wrote it (``add_(add_, 1)``);
            # the value also becomes the original's (a buffer placeholder), written back at the end.
            ref = refs.get(arg)
            if isinstance(ref, Ref):
                env[ref.name] = env[alias.get(ref.name, ref.name)] = value

        try:
            out = layout.run_step(s.op, ctx, a, write) if channels_last else NotImplemented
            if out is not NotImplemented and not all(layout.same_array_type(out, a[arg]) for arg in s.mutates):
                out = NotImplemented  # an in-place result that changes shape or dtype: run on logical values
            if out is NotImplemented:
                a = layout.logical(a) if channels_last else a
                writer = _WRITING_OPS.get(s.op)
                out = writer(ctx, a, write) if writer is not None else aten.OPS[s.op](ctx, a)
        except (TypeError, ValueError) as e:
            if str(e).startswith("TorchGraphModule"):
                raise
            shapes_in = ", ".join(f"{k}={tuple(v.shape)}" for k, v in layout.logical(a).items() if hasattr(v, "shape"))
            where = f"{s.module_type or 'forward'} at '{s.module or '<root>'}'" + (f" ({s.source})" if s.source else "")
            raise ValueError(f"TorchGraphModule: aten.{s.op} in {where} fails for these input shapes ({shapes_in}): {e}. "
                             f"The forward was captured at input shapes {list(prog.captured_shapes)}; its shape "
                             f"arithmetic may only hold there") from e
        for arg in s.mutates:  # in place: the result becomes the argument's value, in its dtype and shape
            if not isinstance(out, layout.Nhwc):  # (a channels-last result has them already)
                old = a[arg]
                out = jnp.broadcast_to(jnp.asarray(out).astype(old.dtype), old.shape)
            write(arg, out)
            ref = refs.get(arg)
            if isinstance(ref, Ref):
                alias[s.out] = alias.get(ref.name, ref.name)
        env[s.out] = out
        if observe is not None:
            observe(s, layout.logical(a), layout.logical(out))
    written = {inp.key: jnp.asarray(layout.logical(env[inp.name])) for inp in prog.inputs
               if inp.kind == "buffer" and env[inp.name] is not initial[inp.name]}
    return layout.logical(_resolve_out(prog.output, env)), written


def _resolve_out(o: Any, env: dict[str, Any]) -> Any:
    if isinstance(o, Ref):
        return env[o.name]
    if isinstance(o, dict):
        return {k: _resolve_out(v, env) for k, v in o.items()}
    if isinstance(o, list):
        return [_resolve_out(v, env) for v in o]
    if isinstance(o, tuple):
        return tuple(_resolve_out(v, env) for v in o)
    return o


# ---------------------------------------------------------------------------------------
# the NNX module
# ---------------------------------------------------------------------------------------

class TorchSubmodule(nnx.Module):
    """The parameters, buffers and children of one torch submodule, under torch's attribute names."""

    def __init__(self, torch_type: str) -> None:
        self.torch_type = torch_type

    def __getitem__(self, key: int | str) -> Any:
        """``model.layer1[0]``: children of a ``Sequential`` / ``ModuleList`` by index, as in torch."""
        try:
            return getattr(self, str(key))
        except AttributeError:
            raise KeyError(f"{self.torch_type} has no child {key!r}") from None

    def __repr__(self) -> str:
        names = [k for k in vars(self) if not k.startswith("_") and k != "torch_type"]
        return f"TorchSubmodule[{self.torch_type}]({', '.join(names)})"


_RESERVED = set(dir(nnx.Module)) | {"torch_type", "use_running_average", "deterministic", "rngs", "programs",
                                    "torch_dtypes", "torch_modules", "compute_dtype", "failures"}


class TorchGraphModule(TorchSubmodule):
    """A torch module with its own ``forward``, ported by :func:`jaxconv.nn.from_torch` (see the module docstring).

    Call it with JAX arrays in the order of the example inputs given to ``from_torch``;
    it returns what torch's ``forward`` returns (an array, or tuples/lists/dicts of
    them). Parameters and buffers are attributes under torch's names, so
    ``nnx.state(ported, nnx.Param)`` paths joined with dots are torch's ``state_dict``
    keys. ``ported.train()`` / ``ported.eval()`` switch between the captured programs.

    Attributes:
      use_running_average: True in eval mode (NNX's flag, set by ``train()``/``eval()``).
      programs: the captured ``{"train": Program, "eval": Program}`` (one of them may be
        missing when torch could not capture that mode; calling in that mode raises).
      rngs: the ``nnx.Rngs`` that dropout and stochastic depth draw from in train mode.
    """

    def __init__(self, torch_type: str, programs: dict[str, Program], training: bool, rngs: nnx.Rngs | None,
                 torch_dtypes: dict[str, str], torch_modules: dict[str, str], compute_dtype: Any = None,
                 failures: dict[str, str] | None = None) -> None:
        super().__init__(torch_type)
        self.programs = _Frozen(programs)
        self.failures = _Frozen(failures or {})
        self.use_running_average = not training
        self.rngs = rngs
        self.torch_dtypes = _Frozen(torch_dtypes)
        self.torch_modules = _Frozen(torch_modules)
        self.compute_dtype = None if compute_dtype is None else str(jnp.dtype(compute_dtype))

    def _state(self) -> dict[str, nnx.Variable]:
        flat = nnx.to_flat_state(nnx.state(self, nnx.Any(nnx.Param, nnx.BatchStat)))
        return {".".join(str(p) for p in path): var for path, var in flat}

    def __call__(self, *args: Any) -> Any:
        mode = "eval" if self.use_running_average else "train"
        prog = self.programs.get(mode)
        if prog is None:
            raise ValueError(f"TorchGraphModule: the {mode} mode could not be captured from the torch model "
                             f"({self.failures.get(mode, 'not captured')}); use .{'eval' if mode == 'train' else 'train'}()")
        rngs = self.rngs
        key: Callable[[], jax.Array] | None = None if rngs is None else (lambda: rngs.dropout())
        return run_program(prog, args, self._state(), aten.Context(key, self.compute_dtype), self._leaf)

    def _leaf(self, path: str) -> Callable[..., Any]:
        node: Any = self
        for name in path.split("."):
            node = getattr(node, name)
        return node


class _Frozen(dict):
    """A dict that NNX keeps as a static attribute: hashed by identity, never traversed."""

    def __hash__(self) -> int:  # type: ignore[override]
        return id(self)

    def __eq__(self, other: object) -> bool:
        return self is other


# ---------------------------------------------------------------------------------------
# capture (torch is imported here only)
# ---------------------------------------------------------------------------------------

class CaptureError(TypeError):
    pass


def _dtype_name(t: Any) -> str:
    return str(t).removeprefix("torch.")


def _export(torch: Any, module: Any, examples: tuple[Any, ...]) -> Any:
    """``torch.export`` with every dim dynamic, else the batch dim only, else static (the first that captures)."""
    from torch.export import Dim, export

    def hints(dims: Callable[[Any], Sequence[int]]) -> tuple[Any, ...]:
        return tuple({d: Dim.AUTO for d in dims(x)} if isinstance(x, torch.Tensor) else None for x in examples)

    tries = [hints(lambda x: [d for d in range(x.ndim) if d != 1 or x.ndim < 3]),
             hints(lambda x: [0] if x.ndim else []), None]
    # export logs sympy's failed inequality solving (warnings) and data-dependent guards (errors, with
    # the whole graph) before it raises; the reason reaches the user in our TypeError instead.
    logs = [logging.getLogger(n) for n in ("torch.fx.experimental.symbolic_shapes", "torch._subclasses.fake_tensor")]
    levels = [lg.level for lg in logs]
    for lg in logs:
        lg.setLevel(logging.CRITICAL)
    errors = []
    try:
        for dyn in tries:
            try:
                return export(module, examples, dynamic_shapes=dyn, strict=False)
            except Exception as e:  # any capture failure: try with fewer dynamic dims
                errors.append(e)
    finally:
        for lg, lv in zip(logs, levels):
            lg.setLevel(lv)
    raise CaptureError(f"{type(errors[-1]).__name__}: {str(errors[-1]).strip().splitlines()[0][:500]}") from errors[-1]


def _convert_value(torch: Any, v: Any) -> Any:
    import torch.fx as fx

    if isinstance(v, fx.Node):
        return Ref(v.name)
    if isinstance(v, (list, tuple)):  # plain containers: fx's immutable_list would need torch to unpickle
        return (list if isinstance(v, list) else tuple)(_convert_value(torch, i) for i in v)
    if isinstance(v, torch.dtype):
        return _dtype_name(v)
    if isinstance(v, (torch.device, torch.layout, torch.memory_format)):
        return None
    if isinstance(v, torch.Tensor):
        return np.asarray(v.detach().cpu().numpy())
    return v


def _where(node: Any) -> tuple[str, str, str]:
    stack = node.meta.get("nn_module_stack") or {}
    path, typ = "", ""
    if stack:
        path, t = list(stack.values())[-1]
        typ = t.__name__ if isinstance(t, type) else str(t).rsplit(".", 1)[-1].rstrip("'>")
        path = re.sub(r"L\['self'\]\.?", "", str(path)).replace("._modules['", ".").replace("']", "")
        path = re.sub(r"^_modules\['([^']*)'\]", r"\1", path).replace("_modules['", "").lstrip(".")
    src = ""
    trace = node.meta.get("stack_trace") or ""
    frames = re.findall(r'File "([^"]+)", line (\d+)', trace)
    if frames:
        f, line = frames[-1]
        src = f"{f.rsplit('/', 1)[-1]}:{line}"
    return path, typ, src


def _op_name(target: Any) -> tuple[str, str]:
    name = getattr(target, "__name__", str(target))
    packet = getattr(target, "overloadpacket", None)
    if packet is not None:
        return "aten", packet.__name__
    return "python", name.rsplit(".", 1)[-1]


def _bind(target: Any, node: Any) -> tuple[tuple[str, Any], ...]:
    """The node's arguments by the op schema's names, defaults filled in."""
    schema = target._schema
    positional = [a.name for a in schema.arguments if not a.kwarg_only]
    given = dict(zip(positional, node.args))
    given.update(node.kwargs)
    return tuple((a.name, given[a.name] if a.name in given else (a.default_value if a.has_default_value() else None))
                 for a in schema.arguments)


def _mutated(target: Any) -> tuple[str, ...]:
    return tuple(a.name for a in target._schema.arguments if a.alias_info is not None and a.alias_info.is_write)


def _program(torch: Any, ep: Any, mode: str, examples: tuple[Any, ...], problems: list[str],
             leaf_paths: Sequence[str] = ()) -> Program:
    from torch.export.graph_signature import InputKind

    sig = ep.graph_signature
    kinds = {InputKind.USER_INPUT: "user", InputKind.PARAMETER: "param", InputKind.BUFFER: "buffer",
             InputKind.CONSTANT_TENSOR: "constant"}
    inputs, constants, ranges = [], {}, {}
    user = 0
    for spec in sig.input_specs:
        kind = kinds.get(spec.kind)
        if spec.kind in (InputKind.PARAMETER, InputKind.BUFFER) and any(spec.target.startswith(p + ".") for p in leaf_paths):
            continue  # a custom= leaf's own weights: the converted NNX module holds them
        if kind is None:
            problems.append(f"graph input of kind {spec.kind.name} ({spec.arg.name})")
            continue
        if kind == "user":
            val = next(n for n in ep.graph.nodes if n.name == spec.arg.name).meta.get("val")
            # a dim the capture specialised is a SymInt that prints as its value
            shape = tuple(int(str(s)) if str(s).isdigit() else str(s) for s in val.shape)
            inputs.append(Input(spec.arg.name, kind, index=user, shape=shape, dtype=_dtype_name(val.dtype)))
            user += 1
        elif kind == "constant":
            constants[spec.target] = np.asarray(ep.constants[spec.target].detach().cpu().numpy())
            inputs.append(Input(spec.arg.name, kind, key=spec.target))
        elif kind == "buffer" and not spec.persistent:
            constants[spec.target] = np.asarray(ep.constants[spec.target].detach().cpu().numpy())
            inputs.append(Input(spec.arg.name, "constant", key=spec.target))
        else:
            inputs.append(Input(spec.arg.name, kind, key=spec.target))
    for sym, vr in ep.range_constraints.items():
        hi = vr.upper
        ranges[str(sym)] = (int(vr.lower), None if "oo" in str(hi) else int(hi))  # int_oo: no upper bound
    steps = []
    known = supported_ops()
    for node in ep.graph.nodes:
        if node.op != "call_function":
            continue
        path, typ, src = _where(node)
        where = f"{typ or 'forward'} at '{path or '<root>'}'" + (f" ({src})" if src else "")
        if node.target is operator.getitem:
            steps.append(Step(node.name, "getitem", (("self", Ref(node.args[0].name)), ("idx", node.args[1])),
                              kind="getitem", module=path, module_type=typ, source=src))
            continue
        kind, name = _op_name(node.target)
        if kind == "aten" and name == "leaf" and str(node.target).startswith("jaxconv."):
            xs = tuple(Ref(x.name) for x in node.args[0])
            leaf_path = str(leaf_paths[int(node.args[1])])  # type: ignore[arg-type]
            steps.append(Step(node.name, leaf_path, (("xs", xs),), kind="leaf", module=leaf_path, module_type=typ, source=src))
            continue
        if kind == "python":
            if name not in _PYTHON_FNS:
                problems.append(f"python op {name} in {where}")
                continue
            args = tuple((str(i), _convert_value(torch, v)) for i, v in enumerate(node.args))
            steps.append(Step(node.name, name, args, kind="python", module=path, module_type=typ, source=src))
            continue
        mutates = _mutated(node.target)
        base = name[:-1] if mutates and name.endswith("_") and not name.startswith("_") else name
        if name in ("sym_size", "sym_numel", "sym_stride", "sym_storage_offset"):
            args = tuple((str(i), _convert_value(torch, v)) for i, v in enumerate(node.args))
            steps.append(Step(node.name, name, args, kind="python", module=path, module_type=typ, source=src))
            continue
        if base not in known:
            problems.append(f"op aten.{name} in {where}")
            continue
        args = tuple((k, _convert_value(torch, v)) for k, v in _bind(node.target, node))
        steps.append(Step(node.name, base, args, mutates, module=path, module_type=typ, source=src))
    params = {i.name for i in inputs if i.kind == "param"}
    steps = _fuse_transposed_weights(steps, params, _output_names(ep))
    out_node = next(n for n in ep.graph.nodes if n.op == "output")
    user_outs = [o for o, spec in zip(out_node.args[0], sig.output_specs) if spec.kind.name == "USER_OUTPUT"]
    others = [spec for spec in sig.output_specs if spec.kind.name != "USER_OUTPUT"]
    if others:
        problems.append(f"graph outputs of kind {sorted({s.kind.name for s in others})}")
    leaves = [_convert_value(torch, o) for o in user_outs]
    captured = tuple(tuple(x.shape) for x in examples if isinstance(x, torch.Tensor))
    return Program(mode, tuple(inputs), tuple(steps), _unflatten(ep.call_spec.out_spec, iter(leaves)), constants, ranges,
                   captured)


def _output_names(ep: Any) -> set[str]:
    out = next(n for n in ep.graph.nodes if n.op == "output")
    return {v.name for v in out.args[0] if hasattr(v, "name")}


def _fuse_transposed_weights(steps: list[Step], params: set[str], outputs: set[str]) -> list[Step]:
    """``mm(x, t(w))`` / ``addmm(b, x, t(w))`` with ``w`` a parameter -> ``linear(x, w, b)``.

    A transposed weight is a copy of the weight on every call (``nn.Linear(9216, 4096)`` at
    batch 1: 226 ms against torch's 10 ms); :func:`jaxconv.linear` contracts torch's
    ``(out, in)`` layout directly.
    """
    def transposed_param(st: Step) -> str | None:
        a = dict(st.args)
        src = a.get("self")
        if not isinstance(src, Ref) or src.name not in params:
            return None
        if st.op == "t" or (st.op == "transpose" and sorted((a["dim0"], a["dim1"])) in ([0, 1], [-2, -1], [-1, 0], [-2, 1])) \
                or (st.op == "permute" and list(a["dims"]) == [1, 0]):
            return src.name
        return None

    tr = {st.out: w for st in steps if st.kind == "aten" and (w := transposed_param(st)) is not None}
    uses: dict[str, int] = {}
    for st in steps:
        for _, v in st.args:
            for r in (v if isinstance(v, (list, tuple)) else (v,)):
                if isinstance(r, Ref):
                    uses[r.name] = uses.get(r.name, 0) + 1
    out, fused = [], set()
    for st in steps:
        a = dict(st.args)
        w = a.get("mat2", a.get("other"))
        if st.op in ("mm", "matmul", "addmm") and isinstance(w, Ref) and w.name in tr and uses.get(w.name) == 1 \
                and w.name not in outputs and a.get("alpha", 1) == 1 and a.get("beta", 1) == 1 \
                and (st.op != "addmm" or (isinstance(a["self"], Ref) and a["self"].name in params)):
            x = a.get("mat1", a.get("self")) if st.op == "addmm" else a["self"]
            bias = a["self"] if st.op == "addmm" else None
            out.append(Step(st.out, "linear", (("input", x), ("weight", Ref(tr[w.name])), ("bias", bias)),
                            module=st.module, module_type=st.module_type, source=st.source))
            fused.add(w.name)
        else:
            out.append(st)
    return [st for st in out if st.out not in fused]


def _unflatten(spec: Any, leaves: Any) -> Any:
    """torch's output pytree spec as plain dicts / tuples / lists of Refs (namedtuples become tuples)."""
    if spec.is_leaf():
        return next(leaves)
    kids = spec.children() if hasattr(spec, "children") else spec.children_specs
    children = [_unflatten(c, leaves) for c in kids]
    t = spec.type
    if t in (dict,) or (isinstance(t, type) and issubclass(t, dict)):
        return dict(zip(spec.context, children))
    if t is list:
        return children
    return tuple(children)


_LEAF_MODULES: dict[int, Any] = {}
_LEAF_OP: list[Any] = []


def _leaf_op(torch: Any) -> Any:
    """``jaxconv::leaf``: an op that torch.export keeps opaque, standing for a module converted with ``custom=``."""
    if _LEAF_OP:
        return _LEAF_OP[0]

    # the schema is spelled out: this module's postponed annotations are strings torch cannot resolve
    @torch.library.custom_op("jaxconv::leaf", mutates_args=(), schema="(Tensor[] xs, int idx) -> Tensor")
    def leaf(xs: list[Any], idx: int) -> Any:
        return _LEAF_MODULES[idx](*xs).clone()

    @leaf.register_fake
    def _(xs: list[Any], idx: int) -> Any:
        from torch._subclasses.fake_tensor import unset_fake_temporarily

        sizes = [tuple(int(d) for d in x.shape) for x in xs]  # fixes the dims (a custom leaf's shape is not symbolic)
        with unset_fake_temporarily(), torch.no_grad():
            out = _LEAF_MODULES[idx](*(torch.zeros(sz, dtype=x.dtype) for sz, x in zip(sizes, xs)))
        if not isinstance(out, torch.Tensor):
            raise TypeError(f"{_FN}: a module converted with custom= inside a captured forward must return one tensor")
        return xs[0].new_empty(out.shape, dtype=out.dtype)

    _LEAF_OP.append(leaf)
    return leaf


def _leaf_paths(module: Any, custom: Mapping[type, Any]) -> list[str]:
    out: list[str] = []
    for name, m in module.named_modules():
        if name and type(m) in custom and not any(name.startswith(p + ".") for p in out):
            out.append(name)
    return out


def _replace_leaves(torch: Any, work: Any, paths: Sequence[str]) -> None:
    op = _leaf_op(torch)

    class LeafCall(torch.nn.Module):
        def __init__(self, idx: int, inner: Any) -> None:
            super().__init__()
            self.idx, self.inner = idx, inner
            _LEAF_MODULES[idx] = inner

        def forward(self, *xs: Any) -> Any:
            return op(list(xs), self.idx)

    for i, path in enumerate(paths):
        parent_path, _, name = path.rpartition(".")
        parent = work.get_submodule(parent_path) if parent_path else work
        setattr(parent, name, LeafCall(i, getattr(parent, name)))


def capture(module: Any, examples: tuple[Any, ...], *, rngs: nnx.Rngs | None, dtype: Any = None,
            modes: Sequence[str] = ("train", "eval"), prefix: str = "",
            custom: Mapping[type, Any] | None = None, convert: Callable[[Any], Any] | None = None) -> TorchGraphModule:
    """Capture ``module``'s forward on ``examples`` in each mode and build a :class:`TorchGraphModule`.

    Submodules whose type is in ``custom`` stay opaque in the capture and are converted
    with ``convert`` (the structural route, which applies ``custom``).

    Raises:
      TypeError: listing every unsupported construct, or the capture's reason (no mode could be captured).
    """
    import torch

    work = copy.deepcopy(module)  # capture sets modes; the user's model is never touched
    leaves = _leaf_paths(module, custom or {})
    _replace_leaves(torch, work, leaves)
    programs, failures, problems = {}, {}, []
    initial = "train" if module.training else "eval"
    try:
        for mode in sorted(modes, key=lambda m: m != initial):
            work.train(mode == "train")
            mode_problems: list[str] = []
            try:
                ep = _export(torch, work, examples)
            except CaptureError as e:
                failures[mode] = str(e)
                continue
            prog = _program(torch, ep, mode, examples, mode_problems, leaves)
            problems.extend(p for p in mode_problems if p not in problems)
            if not mode_problems:
                programs[mode] = prog
    finally:
        _LEAF_MODULES.clear()
    where = f" at '{prefix}'" if prefix else ""
    if initial in failures and initial in modes and not problems:
        raise TypeError(f"{_FN}: torch.export cannot capture {type(module).__name__}{where} in its own ({initial}) mode: "
                        f"{failures[initial]}. Make forward capturable (no Python control flow on tensor values), "
                        f"port it in the other mode (model.{'eval' if initial == 'train' else 'train'}()), or pass "
                        f"custom={{{type(module).__name__}: converter}} to from_torch.")
    if problems:
        lines = "\n".join(f"  - {p}" for p in problems)
        raise TypeError(f"{_FN}: cannot port {type(module).__name__}{where}: {len(problems)} unsupported construct(s):\n"
                        f"{lines}\nPass custom={{TorchModuleType: converter}} to from_torch for the modules that use "
                        f"them (a converter fn(torch_module, convert) returns an NNX module), or rewrite them with "
                        f"supported ops.")
    if not programs:
        reason = "; ".join(f"{m} mode: {r}" for m, r in failures.items())
        raise TypeError(f"{_FN}: torch.export cannot capture {type(module).__name__}{where}: {reason}. Make forward "
                        f"capturable (no Python control flow on tensor values), or pass custom={{"
                        f"{type(module).__name__}: converter}} to from_torch.")
    params = dict(module.named_parameters(remove_duplicate=False))
    sd = module.state_dict(keep_vars=True)
    modules = {name: type(m).__name__ for name, m in module.named_modules()}
    # the model's mode, unless `modes` left it out: then the mode that was captured
    training = module.training if initial in programs else "train" in programs
    out = TorchGraphModule(type(module).__name__, programs, training, rngs, {k: _dtype_name(v.dtype) for k, v in sd.items()},
                           modules, dtype, failures)
    for path in leaves:
        assert convert is not None
        _set_path(out, path.split("."), convert(module.get_submodule(path)), modules)
    for key, t in sd.items():
        if any(key.startswith(p + ".") for p in leaves):
            continue
        arr = _to_numpy(t)
        if dtype is not None and np.issubdtype(arr.dtype, np.floating):
            arr = arr.astype(dtype)
        value = jnp.array(arr, copy=True)
        var = nnx.Param(value) if key in params else nnx.BatchStat(value)
        _set_path(out, key.split("."), var, modules)
    return out


def _to_numpy(t: Any) -> np.ndarray:
    t = t.detach().cpu()
    if str(t.dtype) == "torch.bfloat16":
        return t.float().numpy().astype(jnp.bfloat16)
    return np.array(t.numpy(), copy=True)


def _set_path(root: TorchSubmodule, parts: list[str], var: Any, modules: dict[str, str]) -> None:
    node: TorchSubmodule = root
    for i, name in enumerate(parts[:-1]):
        if name in _RESERVED:
            raise TypeError(f"{_FN}: a torch submodule named {name!r} clashes with an NNX Module attribute")
        child = getattr(node, name, None)
        if child is None:
            child = TorchSubmodule(modules.get(".".join(parts[: i + 1]), "Module"))
            setattr(node, name, child)
        node = child
    if parts[-1] in _RESERVED:
        raise TypeError(f"{_FN}: a torch parameter or buffer named {parts[-1]!r} clashes with an NNX Module attribute")
    setattr(node, parts[-1], var)
