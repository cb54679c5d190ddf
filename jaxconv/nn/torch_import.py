"""Import PyTorch models: ``from_torch`` (module trees) and ``load_torch_state_dict`` (weights by name).

torch is an optional dependency: it is imported inside :func:`from_torch` only.
:func:`load_torch_state_dict` and :func:`to_torch_state_dict` never import it (they
accept anything with ``.detach().cpu().numpy()`` or ``numpy.asarray``).
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from jaxconv.nn import activations, normalization, pooling
from jaxconv.nn import layers as L

__all__ = ["from_torch", "load_torch_state_dict", "supported_torch_layers", "to_torch_state_dict"]

Converter = Callable[[Any, Callable[[Any], Any]], Any]


def _to_numpy(t: Any) -> np.ndarray:
    if hasattr(t, "detach"):
        t = t.detach().cpu()
        if str(t.dtype) == "torch.bfloat16":
            return t.float().numpy().astype(jnp.bfloat16)
        return t.numpy()
    return np.asarray(t)


def _state_vars(model: nnx.Module) -> dict[str, nnx.Variable]:
    """torch-style dotted names -> the model's Param/BatchStat variables."""
    flat = nnx.to_flat_state(nnx.state(model, nnx.Any(nnx.Param, nnx.BatchStat)))
    out: dict[str, nnx.Variable] = {}
    for path, var in flat:
        out[".".join(str(p) for p in path)] = var
    return out


def _checked(fn: str, key: str, var: nnx.Variable, value: Any) -> np.ndarray:
    arr = _to_numpy(value)
    want = tuple(var.get_value().shape)
    if tuple(arr.shape) != want:
        raise ValueError(f"{fn}: parameter `{key}` must have shape {want}, got {tuple(arr.shape)}")
    return arr


def _copy(arr: np.ndarray, var: nnx.Variable) -> jax.Array:
    # A real copy: on CPU jnp.asarray may alias the NumPy buffer, which for a torch tensor is
    # torch's own memory (BatchNorm updates its running statistics in place).
    return jnp.array(arr, dtype=var.get_value().dtype, copy=True)


def _assign(fn: str, key: str, var: nnx.Variable, value: Any) -> None:
    var.set_value(_copy(_checked(fn, key, var, value), var))


def load_torch_state_dict(model: nnx.Module, state_dict: Mapping[str, Any] | str | os.PathLike[str], *,
                          strict: bool = True) -> tuple[list[str], list[str]]:
    """Copy tensors from a PyTorch ``state_dict`` into a jaxconv model, by torch's key names.

    The model's ``nnx.Param`` and ``nnx.BatchStat`` variables are named by their paths
    joined with dots (``features.0.weight``, ``bn.running_mean``); with layers from
    :mod:`jaxconv.nn` and the same attribute names as the torch model these are torch's
    keys. Values are cast to the model's dtypes.

    Args:
      model: an NNX module (changed in place).
      state_dict: ``torch_model.state_dict()``, any mapping of names to arrays, or the path
        of a ``.safetensors`` file (read with safetensors' NumPy loader: no torch needed;
        ``pip install safetensors``) or of a ``torch.save``'d state dict (``.pt``/``.pth``, needs torch).
      strict: if True (default), missing or unexpected keys are an error.

    Returns:
      ``(missing, unexpected)`` key lists (both empty when ``strict``).

    Raises:
      ValueError: a shape mismatch (naming the parameter), or with ``strict``, missing or
        unexpected keys (listing them).

    Example:
      >>> import numpy as np
      >>> from flax import nnx
      >>> from jaxconv import nn
      >>> net = nn.Sequential(nn.Linear(2, 3, rngs=nnx.Rngs(0)))
      >>> sd = {"0.weight": np.ones((3, 2), np.float32), "0.bias": np.zeros(3, np.float32)}
      >>> nn.load_torch_state_dict(net, sd)
      ([], [])
      >>> float(net[0].weight[...].sum())
      6.0
    """
    fn = "load_torch_state_dict"
    if not isinstance(model, nnx.Module):
        raise TypeError(f"{fn}: `model` must be an nnx.Module, got {type(model).__name__!r}")
    if isinstance(state_dict, (str, os.PathLike)):
        state_dict = _read_state_dict(fn, os.fspath(state_dict))
    if not isinstance(state_dict, Mapping):
        raise TypeError(f"{fn}: `state_dict` must be a mapping of names to tensors, got {type(state_dict).__name__!r}")
    own = _state_vars(model)
    missing = sorted(k for k in own if k not in state_dict)
    unexpected = sorted(k for k in state_dict if k not in own)
    if strict and (missing or unexpected):
        def show(keys: list[str]) -> str:
            return ", ".join(keys[:12]) + (f", ... ({len(keys)} in all)" if len(keys) > 12 else "")
        parts = []
        if missing:
            parts.append(f"missing keys (in the model, not in state_dict): {show(missing)}")
        if unexpected:
            parts.append(f"unexpected keys (in state_dict, not in the model): {show(unexpected)}")
        raise ValueError(f"{fn}: " + "; ".join(parts))
    # Check every shape before changing anything, so that a failed load leaves the model as it was.
    arrays = {key: _checked(fn, key, var, state_dict[key]) for key, var in own.items() if key in state_dict}
    for key, arr in arrays.items():
        own[key].set_value(_copy(arr, own[key]))
    return missing, unexpected


def _read_state_dict(fn: str, path: str) -> Mapping[str, Any]:
    if not os.path.isfile(path):
        raise ValueError(f"{fn}: `state_dict` path {path!r} is not a file")
    if path.endswith(".safetensors"):
        try:
            from safetensors.numpy import load_file
        except ImportError as e:  # pragma: no cover - depends on the environment
            raise ImportError(f"{fn}: reading {path!r} needs the safetensors package: pip install safetensors") from e
        return load_file(path)
    try:
        import torch
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError(f"{fn}: {path!r} is not a .safetensors file; reading torch.save files needs torch") from e
    sd = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(sd, Mapping):
        raise TypeError(f"{fn}: {path!r} holds a {type(sd).__name__}, not a state dict")
    return sd


def to_torch_state_dict(model: nnx.Module) -> dict[str, np.ndarray]:
    """Export a jaxconv model's parameters and batch statistics under torch's key names, as NumPy arrays.

    ``torch_model.load_state_dict({k: torch.from_numpy(v) for k, v in sd.items()})``
    loads them back into the matching torch model.

    Example:
      >>> from flax import nnx
      >>> from jaxconv import nn
      >>> sorted(nn.to_torch_state_dict(nn.Sequential(nn.Conv2d(1, 2, 3, rngs=nnx.Rngs(0)), nn.BatchNorm2d(2))))
      ['0.bias', '0.weight', '1.bias', '1.num_batches_tracked', '1.running_mean', '1.running_var', '1.weight']
    """
    out = {}
    dtypes = getattr(model, "torch_dtypes", None) or {}  # a ported graph records torch's dtype of every tensor
    for k, v in _state_vars(model).items():
        a = np.asarray(v.get_value())
        if k in dtypes and not np.issubdtype(a.dtype, np.floating) and dtypes[k] != "bfloat16":
            out[k] = a.astype(dtypes[k])  # int64/bool buffers (int32 without x64); floats keep the model's dtype
        else:
            out[k] = a.astype(np.int64) if k.endswith("num_batches_tracked") else a
    if dtypes:  # torch's state_dict order
        out = {**{k: out[k] for k in dtypes if k in out}, **out}
    return out


# ---------------------------------------------------------------------------------------
# from_torch
# ---------------------------------------------------------------------------------------

def _abstract(build: Callable[[], Any]) -> Any:
    # Build the layer without drawing its random initial weights: they are overwritten.
    return nnx.eval_shape(build)


def _dtype_of(t: Any) -> Any:
    return jnp.dtype(str(t.dtype).removeprefix("torch."))


def _load(layer: Any, m: Any, names: tuple[str, ...]) -> Any:
    for name in names:
        t = getattr(m, name, None)
        var = getattr(layer, name, None)
        if (t is None) != (var is None):
            raise ValueError(f"from_torch: {type(m).__name__}.{name} is {'None' if t is None else 'set'} in torch but not here")
        if t is not None and var is not None:
            _assign("from_torch", name, var, t)
    return layer


def _conv(cls: type) -> Converter:
    def convert(m: Any, _: Any) -> Any:
        dt = _dtype_of(m.weight)
        layer = _abstract(lambda: cls(m.in_channels, m.out_channels, m.kernel_size, m.stride, m.padding, m.dilation,
                                      m.groups, m.bias is not None, m.padding_mode, dtype=dt, rngs=nnx.Rngs(0)))
        return _load(layer, m, ("weight", "bias"))
    return convert


def _conv_transpose(cls: type) -> Converter:
    def convert(m: Any, _: Any) -> Any:
        dt = _dtype_of(m.weight)
        layer = _abstract(lambda: cls(m.in_channels, m.out_channels, m.kernel_size, m.stride, m.padding, m.output_padding,
                                      m.groups, m.bias is not None, m.dilation, m.padding_mode, dtype=dt, rngs=nnx.Rngs(0)))
        return _load(layer, m, ("weight", "bias"))
    return convert


def _linear(m: Any, _: Any) -> Any:
    dt = _dtype_of(m.weight)
    layer = _abstract(lambda: L.Linear(m.in_features, m.out_features, m.bias is not None, dtype=dt, rngs=nnx.Rngs(0)))
    return _load(layer, m, ("weight", "bias"))


def _batchnorm(cls: type) -> Converter:
    def convert(m: Any, _: Any) -> Any:
        dt = _dtype_of(m.weight if m.weight is not None else m.running_mean)
        layer = cls(m.num_features, m.eps, m.momentum, m.affine, m.track_running_stats,
                    bias=m.bias is not None or not m.affine, dtype=dt, use_running_average=not m.training)
        return _load(layer, m, ("weight", "bias", "running_mean", "running_var", "num_batches_tracked"))
    return convert


def _sequential(m: Any, convert: Callable[[Any], Any]) -> Any:
    return L.Sequential(OrderedDict((name, convert(child)) for name, child in m.named_children()))


def _simple(build: Callable[[Any], Any]) -> Converter:
    return lambda m, _: build(m)


def _registry(torch: Any, rngs: nnx.Rngs | None) -> dict[type, Converter]:
    tnn = torch.nn

    def dropout(m: Any, _: Any) -> Any:
        d = L.Dropout(m.p, rngs=rngs)
        d.deterministic = not m.training
        return d

    reg: dict[type, Converter] = {
        tnn.Sequential: _sequential,
        tnn.Linear: _linear,
        tnn.Flatten: _simple(lambda m: L.Flatten(m.start_dim, m.end_dim)),
        tnn.Identity: _simple(lambda m: L.Identity()),
        tnn.ReLU: _simple(lambda m: L.ReLU()),
        tnn.ReLU6: _simple(lambda m: L.ReLU6()),
        tnn.LeakyReLU: _simple(lambda m: L.LeakyReLU(m.negative_slope)),
        tnn.ELU: _simple(lambda m: L.ELU(m.alpha)),
        tnn.Sigmoid: _simple(lambda m: L.Sigmoid()),
        tnn.Tanh: _simple(lambda m: L.Tanh()),
        tnn.SiLU: _simple(lambda m: L.SiLU()),
        tnn.GELU: _simple(lambda m: L.GELU(m.approximate)),
        tnn.Softmax: _simple(lambda m: L.Softmax(m.dim)),
        tnn.LogSoftmax: _simple(lambda m: L.LogSoftmax(m.dim)),
        tnn.Dropout: dropout,
    }
    for n in (1, 2, 3):
        reg[getattr(tnn, f"Conv{n}d")] = _conv(getattr(L, f"Conv{n}d"))
        reg[getattr(tnn, f"ConvTranspose{n}d")] = _conv_transpose(getattr(L, f"ConvTranspose{n}d"))
        reg[getattr(tnn, f"BatchNorm{n}d")] = _batchnorm(getattr(L, f"BatchNorm{n}d"))
    reg.update(pooling.torch_converters(tnn))
    reg.update(normalization.torch_converters(tnn))
    reg.update(activations.torch_converters(tnn))
    return reg


def supported_torch_layers() -> list[str]:
    """Names of the ``torch.nn`` layer types :func:`from_torch` converts (imports torch).

    Example:
      >>> from jaxconv import nn
      >>> {"Conv2d", "BatchNorm2d", "MaxPool2d", "Sequential"} <= set(nn.supported_torch_layers())
      True
    """
    import torch

    return sorted(t.__name__ for t in _registry(torch, None))


def _check_custom(custom: Any) -> dict[type, Converter]:
    if custom is None:
        return {}
    if not isinstance(custom, Mapping):
        raise TypeError(f"from_torch: `custom` must be a mapping {{TorchType: converter}}, got {type(custom).__name__!r}")
    for k, v in custom.items():
        if not isinstance(k, type):
            raise TypeError(f"from_torch: `custom` keys must be torch module types, got {k!r}")
        if not callable(v):
            raise TypeError(f"from_torch: `custom[{k.__name__}]` must be callable (module, convert) -> nnx.Module, got {v!r}")
    return dict(custom)


def _is_plain_sequential(torch: Any, m: Any) -> bool:
    # A Sequential subclass without its own forward (torchvision's Conv2dNormActivation) runs as a Sequential.
    return isinstance(m, torch.nn.Sequential) and type(m).forward is torch.nn.Sequential.forward


def _record_inputs(torch: Any, module: Any, targets: list[Any], examples: tuple[Any, ...]) -> dict[int, tuple[Any, ...]]:
    """Run ``module`` once on ``examples`` (a copy, no grad) and record each target submodule's positional inputs."""
    import copy

    work = copy.deepcopy(module)
    by_id = {id(m): i for i, m in enumerate(module.modules())}
    wanted = {by_id[id(t)] for t in targets}
    seen: dict[int, tuple[Any, ...]] = {}
    hooks = []
    for i, m in enumerate(work.modules()):
        if i in wanted:
            hooks.append(m.register_forward_pre_hook(lambda mod, args, i=i: seen.setdefault(i, tuple(args))))
    try:
        with torch.no_grad():
            work(*examples)
    finally:
        for h in hooks:
            h.remove()
    return {id(t): seen[by_id[id(t)]] for t in targets if by_id[id(t)] in seen}


def from_torch(module: Any, *example_inputs: Any, custom: Mapping[type, Converter] | None = None,
               rngs: nnx.Rngs | None = None, dtype: Any = None, modes: Sequence[str] = ("train", "eval")) -> nnx.Module:
    """Port a ``torch.nn`` model to an equivalent jaxconv NNX module with the same weights and numbers.

    Two routes, chosen per module:

    - **Structural**: a tree of known layers (``Sequential`` and its subclasses without an
      own ``forward``, ``Conv*d``, ``BatchNorm*d``, ``Linear``, pools, activations, ... see
      :func:`supported_torch_layers`) becomes the same tree of :mod:`jaxconv.nn` layers,
      editable like any NNX model.
    - **Graph**: a module with its own ``forward`` (a ResNet, a torchvision block, your
      CNN) is captured with ``torch.export`` on ``example_inputs`` in train and eval mode
      and becomes a :class:`~jaxconv.nn.graph_import.TorchGraphModule` that runs the
      captured ATen graph with jaxconv's convolutions, pools, pads, resizing, batch norm
      and linear (torch's corner rules) and ``jnp``/``lax`` for the rest. Shape arithmetic
      in ``forward`` is re-evaluated for each input shape; dict and tuple outputs are kept.

    Either way parameters are ``nnx.Param`` and buffers ``nnx.BatchStat`` under torch's
    ``state_dict`` keys (:func:`to_torch_state_dict` gives exactly ``module.state_dict()``'s
    keys), the torch model's train/eval mode is the initial mode (``.train()`` /
    ``.eval()`` switch both ways), and the result runs without torch. The torch model is
    never changed.

    Args:
      module: a ``torch.nn.Module``.
      *example_inputs: torch tensors to call ``module`` with; needed when any module has
        its own ``forward``. Capture with batch >= 2 keeps the batch dim free (torch.export
        fixes dims of size 1).
      custom: optional ``{torch type: converter}`` for the structural route, tried before
        the built-in table; a converter ``fn(torch_module, convert)`` returns an NNX module
        and may call ``convert(child)``.
      rngs: ``nnx.Rngs`` for dropout and stochastic depth in train mode (default ``nnx.Rngs(0)``).
      dtype: parameter dtype (e.g. ``jnp.bfloat16``); default: torch's.
      modes: the modes a graph is captured in (default both; ``("eval",)`` halves the
        capture time of a model that is only evaluated).

    Returns:
      An NNX module: a :class:`jaxconv.nn.Sequential` (structural) or a ``TorchGraphModule``.

    Raises:
      TypeError: listing every unsupported op or layer at once (type, module path, source
        line) with the ``custom=`` hint, or why ``torch.export`` cannot capture the model.
      ValueError: a layer whose configuration jaxconv cannot express (naming it).

    Example (needs torch)::

        >>> import torch, jax.numpy as jnp
        >>> from jaxconv import nn
        >>> tm = torch.nn.Sequential(torch.nn.Conv2d(1, 6, 5, padding=2), torch.nn.ReLU()).eval()
        >>> jm = nn.from_torch(tm)
        >>> x = torch.randn(1, 1, 28, 28)
        >>> bool(jnp.allclose(jm(jnp.asarray(x.numpy())), tm(x).detach().numpy(), atol=1e-5))
        True
    """
    try:
        import torch
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("from_torch needs PyTorch: pip install 'jaxconv[torch]'") from e
    from jaxconv.nn import graph_capture, graph_import

    if not isinstance(module, torch.nn.Module):
        raise TypeError(f"from_torch: `module` must be a torch.nn.Module, got {type(module).__name__!r}")
    for i, x in enumerate(example_inputs):
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"from_torch: example input {i} must be a torch.Tensor, got {type(x).__name__!r}")
    modes = tuple(modes)
    if not modes or any(m not in ("train", "eval") for m in modes):
        raise ValueError(f"from_torch: `modes` must be a non-empty subset of ('train', 'eval'), got {modes!r}")
    rngs = nnx.Rngs(0) if rngs is None else rngs
    custom_table = _check_custom(custom)
    table = {**_registry(torch, rngs), **custom_table}
    paths = {id(m): name for name, m in module.named_modules(remove_duplicate=False)}

    for name, m in module.named_modules():
        if isinstance(m, (torch.nn.ModuleList, torch.nn.ModuleDict)) and (not name or not example_inputs):
            where = f"'{name}'" if name else "the root"
            raise TypeError(f"from_torch: unsupported layer {type(m).__name__} at {where}: it has no forward (port the "
                            f"module that calls its items)")

    def known(m: Any) -> bool:
        return type(m) in table or _is_plain_sequential(torch, m)

    graphs: list[Any] = []

    def find(m: Any) -> None:
        if not known(m):
            graphs.append(m)
        elif type(m) not in table or type(m) is torch.nn.Sequential:
            for c in m.children():
                find(c)

    find(module)
    recorded: dict[int, tuple[Any, ...]] = {}
    if graphs:
        if not example_inputs:
            names = ", ".join(f"{type(m).__name__} at '{paths.get(id(m)) or '<root>'}'" for m in graphs)
            raise TypeError(f"from_torch: modules with their own forward ({names}) are captured as graphs and need "
                            f"example inputs: from_torch(model, torch.randn(2, 3, 64, 64)); or pass custom={{Type: converter}}")
        if graphs != [module]:
            recorded = _record_inputs(torch, module, graphs, example_inputs)

    def convert(m: Any) -> Any:
        path = paths.get(id(m), "?")
        where = f"'{path}'" if path else "the root"
        if not known(m):
            args = example_inputs if m is module else recorded.get(id(m))
            if args is None:
                raise TypeError(f"from_torch: {type(m).__name__} at {where} was not called by the example forward; "
                                f"pass custom={{{type(m).__name__}: converter}}")
            return graph_capture.capture(m, args, rngs=rngs, dtype=dtype, modes=modes, prefix=path, custom=custom_table,
                                        convert=convert)
        conv = table.get(type(m), _sequential)
        try:
            return conv(m, convert)
        except (ValueError, TypeError) as e:
            if str(e).startswith("from_torch:"):
                raise
            raise type(e)(f"from_torch: cannot convert {type(m).__name__} at {where}: {e}") from e

    result = convert(module)
    if dtype is not None and not isinstance(result, graph_import.TorchGraphModule):
        _cast_floats(result, dtype)
    return result


def _cast_floats(model: nnx.Module, dtype: Any) -> None:
    for var in _state_vars(model).values():
        v = var.get_value()
        if jnp.issubdtype(v.dtype, jnp.floating):
            var.set_value(v.astype(dtype))
