"""``LayerNorm`` and ``GroupNorm``: torch.nn's constructors and parameter names over :mod:`jaxconv.normalization`.

Parameters are ``nnx.Param``s named ``weight`` (ones) and ``bias`` (zeros), torch's
initialisation and ``state_dict`` keys; neither layer has running statistics, so train
and eval mode compute the same. ``BatchNorm1d/2d/3d`` live in :mod:`jaxconv.nn.layers`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

from jaxconv._plumbing import as_array
from jaxconv.nn.layers import param_dtype
from jaxconv.normalization import _group_norm, _layer_norm, check_normalized_shape
from jaxconv.shapes import arg_error, check_bool, check_float, check_int

__all__ = ["GroupNorm", "LayerNorm"]


def _check_rngs(fn: str, rngs: Any) -> None:
    if rngs is not None and not isinstance(rngs, nnx.Rngs):
        raise arg_error(fn, "rngs", "must be an nnx.Rngs or None (unused: the initialisation is deterministic)",
                        type(rngs).__name__, exc=TypeError)


def _affine_params(fn: str, shape: tuple[int, ...], affine: bool, bias: bool, dtype: Any,
                   rngs: nnx.Rngs | None) -> tuple[nnx.Param | None, nnx.Param | None]:
    """torch's affine parameters of a normalisation layer: ``weight`` ones, ``bias`` zeros, or ``None``."""
    use_bias = check_bool(fn, "bias", bias)
    dt = param_dtype(fn, dtype)
    _check_rngs(fn, rngs)
    weight = nnx.Param(jnp.ones(shape, dt)) if affine else None
    return weight, (nnx.Param(jnp.zeros(shape, dt)) if affine and use_bias else None)


class LayerNorm(nnx.Module):
    """``torch.nn.LayerNorm``: normalise over the trailing ``normalized_shape`` dims, then an elementwise affine map.

    ``y = (x - mean) / sqrt(var + eps) * weight + bias``, with ``mean`` and the biased
    ``var`` over the last ``len(normalized_shape)`` dims (:func:`jaxconv.layer_norm`).

    Args:
      normalized_shape: an int (the last dim) or the trailing shape, as torch.
      eps: added to the variance (a finite number >= 0).
      elementwise_affine: learn ``weight`` (and ``bias``) of shape ``normalized_shape``.
      bias: learn ``bias`` too (only with ``elementwise_affine``).
      dtype: parameter dtype (default float32).
      rngs: unused (accepted for a uniform constructor).

    Parameters: ``weight`` (ones) and ``bias`` (zeros), or ``None``.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxconv import nn
      >>> ln = nn.LayerNorm(2, eps=0.0)
      >>> ln(jnp.array([[1.0, 3.0], [0.0, 10.0]]))
      Array([[-1.,  1.],
             [-1.,  1.]], dtype=float32)
      >>> sorted(nn.to_torch_state_dict(nn.LayerNorm((3, 4))))
      ['bias', 'weight']
    """

    def __init__(self, normalized_shape: int | Sequence[int], eps: float = 1e-5, elementwise_affine: bool = True,
                 bias: bool = True, *, dtype: Any = None, rngs: nnx.Rngs | None = None) -> None:
        fn = "LayerNorm"
        self.normalized_shape = check_normalized_shape(fn, normalized_shape)
        self.eps = check_float(fn, "eps", eps, lo=0.0)
        self.elementwise_affine = check_bool(fn, "elementwise_affine", elementwise_affine)
        self.weight, self.bias = _affine_params(fn, self.normalized_shape, self.elementwise_affine, bias, dtype, rngs)

    def __call__(self, input: jax.Array) -> jax.Array:
        weight = None if self.weight is None else self.weight[...]
        bias = None if self.bias is None else self.bias[...]
        return _layer_norm("LayerNorm", input, self.normalized_shape, weight, bias, self.eps)


class GroupNorm(nnx.Module):
    """``torch.nn.GroupNorm``: normalise groups of channels per sample, then a per-channel affine map.

    The ``num_channels`` channels of dim 1 form ``num_groups`` consecutive groups; each
    sample's group is normalised over its channels and all positions (biased variance),
    then ``* weight[c] + bias[c]`` (:func:`jaxconv.group_norm`). Input ``(N, C, *)``.

    Args:
      num_groups: an int >= 1 dividing ``num_channels``.
      num_channels: C.
      eps: added to the variance (a finite number >= 0).
      affine: learn per-channel ``weight`` and ``bias`` of shape ``(C,)``.
      bias: learn ``bias`` too (only with ``affine``; keyword-only, as torch).
      dtype: the parameters' dtype (float32 unless given).
      rngs: unused; accepted so that every layer takes ``rngs=``.

    Parameters: per-channel ``weight`` (ones) and ``bias`` (zeros), or ``None``.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxconv import nn
      >>> gn = nn.GroupNorm(2, 4, eps=0.0)
      >>> gn(jnp.array([[1.0, 3.0, 0.0, 10.0]]))
      Array([[-1.,  1., -1.,  1.]], dtype=float32)
    """

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5, affine: bool = True, *, bias: bool = True,
                 dtype: Any = None, rngs: nnx.Rngs | None = None) -> None:
        fn = "GroupNorm"
        self.num_groups = check_int(fn, "num_groups", num_groups, 1)
        self.num_channels = check_int(fn, "num_channels", num_channels, 1)
        if self.num_channels % self.num_groups:
            raise arg_error(fn, "num_groups", f"must divide num_channels={self.num_channels}", num_groups)
        self.eps = check_float(fn, "eps", eps, lo=0.0)
        self.affine = check_bool(fn, "affine", affine)
        self.weight, self.bias = _affine_params(fn, (self.num_channels,), self.affine, bias, dtype, rngs)

    def __call__(self, input: jax.Array) -> jax.Array:
        fn = "GroupNorm"
        input = as_array(fn, "input", input)
        if input.ndim < 2 or input.shape[1] != self.num_channels:
            raise arg_error(fn, "input", f"must be (N, C, *) with num_channels={self.num_channels} channels in dim 1",
                            f"shape {tuple(input.shape)}")
        weight = None if self.weight is None else self.weight[...]
        bias = None if self.bias is None else self.bias[...]
        return _group_norm(fn, input, self.num_groups, weight, bias, self.eps)


def torch_converters(tnn: Any) -> dict[type, Callable[[Any, Any], Any]]:
    """``{torch.nn type: converter}`` for the layers of this module (``tnn`` is ``torch.nn``; torch is not imported here)."""
    from jaxconv.nn.torch_import import _dtype_of, _load  # lazy: torch_import imports this module

    def dtype(m: Any) -> Any:
        return _dtype_of(m.weight) if m.weight is not None else None

    def layer_norm(m: Any, _: Any) -> Any:
        layer = LayerNorm(tuple(m.normalized_shape), m.eps, m.elementwise_affine, m.bias is not None or not m.elementwise_affine,
                          dtype=dtype(m))
        return _load(layer, m, ("weight", "bias"))

    def group_norm(m: Any, _: Any) -> Any:
        layer = GroupNorm(m.num_groups, m.num_channels, m.eps, m.affine, bias=m.bias is not None or not m.affine,
                          dtype=dtype(m))
        return _load(layer, m, ("weight", "bias"))

    return {tnn.LayerNorm: layer_norm, tnn.GroupNorm: group_norm}
