"""``linear``: ``torch.nn.functional.linear`` as one ``lax.dot_general`` on torch's weight layout.

The weight stays in torch's ``(out_features, in_features)`` layout and the input's last
dim is contracted with the weight's dim 1 directly. Writing ``input @ weight.T`` instead
makes JAX trace a ``transpose`` of the weight: under ``jax.jit`` XLA folds it into the
dot, but called eagerly (an ``nnx`` layer outside ``nnx.jit``) it materialises a
transposed copy of the whole weight on every call: ``nn.Linear(9216, 4096)`` at batch 1
took ~190 ms on this project's 2-core CPU, against 8-16 ms for torch and ~5 ms for the
direct contraction (medians).

As in the other op modules, the arguments are validated on static shapes and dtypes
before anything is traced, then one jitted inner function runs.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax

from jaxconv._plumbing import as_array
from jaxconv.shapes import arg_error

__all__ = ["linear"]

# Half-precision inputs are multiplied with float32 accumulation and rounded once at the
# end, as torch's CPU kernels do (their "opmath" type).
_HALF = (jnp.dtype(jnp.float16), jnp.dtype(jnp.bfloat16))


def _check(input: jax.Array, weight: jax.Array, bias: jax.Array | None) -> None:
    fn = "linear"
    x_shape, w_shape = tuple(input.shape), tuple(weight.shape)
    if input.ndim < 1:
        raise arg_error(fn, "input", "must have rank >= 1: (*, in_features)", f"shape {x_shape}")
    if weight.ndim not in (1, 2):
        raise arg_error(fn, "weight", "must have rank 2 (out_features, in_features) or 1 (in_features,)", f"shape {w_shape}")
    if x_shape[-1] != w_shape[-1]:
        raise arg_error(fn, "input", f"must have last dim in_features = weight.shape[-1] = {w_shape[-1]} (weight shape {w_shape})",
                        f"shape {x_shape}")
    for name, v in (("input", input), ("weight", weight), ("bias", bias)):
        if v is not None and not (jnp.issubdtype(v.dtype, jnp.number)):
            raise arg_error(fn, name, "must have a numeric dtype", str(v.dtype), exc=TypeError)
    if weight.dtype != input.dtype:
        raise arg_error(fn, "weight", f"must have the input's dtype {input.dtype} (cast one of them, e.g. "
                        f"weight.astype(input.dtype))", str(weight.dtype), exc=TypeError)
    if bias is None:
        return
    if bias.dtype != input.dtype:
        raise arg_error(fn, "bias", f"must have the input's dtype {input.dtype} (cast it: bias.astype(input.dtype))",
                        str(bias.dtype), exc=TypeError)
    out = x_shape[:-1] + w_shape[:-1]
    b_shape = tuple(bias.shape)
    if weight.ndim == 1:
        if b_shape != ():
            raise arg_error(fn, "bias", "must be 0-d (a scalar) with a 1-d weight (the output has no out_features dim)",
                            f"shape {b_shape}")
    elif len(b_shape) > len(out) or any(b not in (1, o) for b, o in zip(b_shape[::-1], out[::-1])):
        raise arg_error(fn, "bias", f"must have shape ({w_shape[0]},) = (out_features,), or broadcast to the output "
                        f"shape {out} without enlarging it", f"shape {b_shape}")


@functools.partial(jax.jit, static_argnames=("precision",))
def _linear(input: jax.Array, weight: jax.Array, bias: jax.Array | None, precision: Any) -> jax.Array:
    half = input.dtype in _HALF
    dims = (((input.ndim - 1,), (weight.ndim - 1,)), ((), ()))
    y = lax.dot_general(input, weight, dims, precision=precision, preferred_element_type=jnp.float32 if half else None)
    if bias is not None:
        y = y + bias.astype(y.dtype)
    return y.astype(input.dtype)


def linear(input: jax.Array, weight: jax.Array, bias: jax.Array | None = None, *, precision: Any = None) -> jax.Array:
    """Affine map of the last dim with torch's weight layout: ``torch.nn.functional.linear``.

    ``y = x W^T + b``, i.e. ``y[..., o] = sum_i x[..., i] * W[o, i] + b[o]``, computed
    as one ``lax.dot_general`` contracting the input's last dim with the weight's dim 1
    (no transposed copy of the weight). float16/bfloat16 accumulate in float32 and round
    once, as torch's CPU kernels.

    Args:
      input: ``(*, in_features)``, any number of leading dims (none: a vector).
      weight: ``(out_features, in_features)``, or 1-d ``(in_features,)``, which gives
        an output without the ``out_features`` dim (as torch). Same dtype as ``input``.
      bias: optional ``(out_features,)`` (or any shape that broadcasts to the output
        without enlarging it, e.g. ``()``; 0-d with a 1-d weight). Same dtype as ``input``.
      precision: passed to ``lax.dot_general`` (e.g. ``"highest"`` for full float32
        on accelerators).

    Returns:
      ``(*, out_features)``, or ``(*,)`` for a 1-d weight, in the input's dtype.

    Raises:
      ValueError: a rank-0 input, a weight of rank > 2, ``in_features`` differing between
        input and weight, or a bias of the wrong shape.
      TypeError: an argument that is not a jax or NumPy array (a torch tensor: convert it
        with ``jnp.asarray(t.numpy())``), or dtypes that differ.

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxconv
      >>> x = jnp.array([[1.0, 2.0, 3.0]])
      >>> w = jnp.array([[1.0, 0.0, 0.0], [0.0, 1.0, 1.0]])  # (out_features=2, in_features=3)
      >>> jaxconv.linear(x, w, jnp.array([10.0, 20.0]))
      Array([[11., 25.]], dtype=float32)
      >>> jaxconv.linear(jnp.ones((4, 5, 3)), w).shape
      (4, 5, 2)
    """
    input, weight = as_array("linear", "input", input), as_array("linear", "weight", weight)
    bias = None if bias is None else as_array("linear", "bias", bias)
    _check(input, weight, bias)
    if isinstance(precision, list):
        precision = tuple(precision)  # a static (hashable) argument of the jitted inner function
    return _linear(input, weight, bias, precision)
