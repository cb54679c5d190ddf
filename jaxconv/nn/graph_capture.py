"""Graph capture: a torch module's ``forward`` through ``torch.export`` to a :class:`~jaxconv.nn.graph_import.Program`.

:func:`capture` exports the module once per mode (non-strict, the batch and spatial dims
dynamic where the forward allows it), resolves each ATen node to a function of
:mod:`jaxconv.nn.aten` by the op schema's argument names, fuses ``mm(x, t(w))`` into
:func:`jaxconv.linear`, and returns a :class:`~jaxconv.nn.graph_import.TorchGraphModule`
holding the parameters and buffers. Unsupported constructs are collected and raised together
(one ``TypeError`` naming each op, module and source line). torch is imported only here, and
only inside the functions: ``import jaxconv.nn`` never imports torch.
"""

from __future__ import annotations

import copy
import logging
import operator
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax.numpy as jnp
import numpy as np
from flax import nnx

from jaxconv.nn.graph_import import (
    _FN,
    _PYTHON_FNS,
    _RESERVED,
    Input,
    Program,
    Ref,
    Step,
    TorchGraphModule,
    TorchSubmodule,
    supported_ops,
)
from jaxconv.nn.torch_import import _to_numpy

__all__ = ["CaptureError", "capture"]


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
        arr = _to_numpy(t)  # a view of torch's memory: jnp.array makes the one copy (and the cast)
        cast = dtype is not None and np.issubdtype(arr.dtype, np.floating)
        value = jnp.array(arr, dtype=dtype if cast else None, copy=True)
        var = nnx.Param(value) if key in params else nnx.BatchStat(value)
        _set_path(out, key.split("."), var, modules)
    return out


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
