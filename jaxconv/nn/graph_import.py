"""Graph import: a torch module with its own ``forward``, captured by ``torch.export``, run as an NNX module.

:func:`jaxconv.nn.graph_capture.capture` records the module's ``forward`` twice, in train and in eval mode, as
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

No torch here: :mod:`jaxconv.nn.graph_capture` builds the programs (and imports torch).
"""

from __future__ import annotations

import hashlib
import math
import operator
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
from jaxconv import _plumbing, policy
from jaxconv.nn import aten, layout

__all__ = ["Program", "TorchGraphModule", "TorchSubmodule", "program_key", "run_program"]

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
    layouts = policy.graph_layouts(key, depthwise=_has_depthwise(prog, values), training=prog.mode == "train")
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


def _capture() -> Any:
    from jaxconv.nn import graph_capture  # imports this module: resolved on first use

    return graph_capture.capture


def _capture_error() -> Any:
    from jaxconv.nn import graph_capture

    return graph_capture.CaptureError


# capture and CaptureError moved to jaxconv.nn.graph_capture: they keep working for a release, with a warning.
__getattr__ = _plumbing.moved_names(__name__, capture=("jaxconv.nn.graph_capture.capture", _capture),
                                    CaptureError=("jaxconv.nn.graph_capture.CaptureError", _capture_error))
