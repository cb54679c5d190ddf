"""What XLA:CPU fuses, and two CPU-only identities that stop it where that costs time.

XLA:CPU fuses elementwise producers into their consumers (recomputing them in each one) and grows
YNNPACK fusions from reductions through their producers. Both are usually right; where measured
wrong, a value goes through one of these identities, which change no bit of it (nor of its
derivatives) and compile to the plain value on every other platform. ``jaxconv.policy``
re-exports both; ``tests/test_policy.py`` pins them.

>>> import jax, jax.numpy as jnp
>>> from jaxconv.fusion import cpu_materialize
>>> jax.jit(lambda v: jnp.exp(cpu_materialize(jnp.sin(v))))(jnp.zeros(2))
Array([1., 1.], dtype=float32)
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.extend.core import Primitive
from jax.interpreters import ad, batching, mlir

__all__ = ["cpu_fusion_barrier", "cpu_materialize"]


@jax.custom_jvp
def _clamp_identity(x: jax.Array) -> jax.Array:
    inf = np.asarray(np.inf, x.dtype)
    return lax.clamp(-inf, x, inf)


_clamp_identity.defjvp(lambda primals, tangents: (_clamp_identity(primals[0]), tangents[0]))


def cpu_fusion_barrier(x: jax.Array) -> jax.Array:
    """``x`` unchanged (NaN and infinities included; its derivative is the identity), as an op that
    XLA:CPU's YNNPACK fusion cannot absorb, in a program lowered for CPU; plain ``x`` elsewhere.

    XLA:CPU grows a YNNPACK fusion from a reduction through every producer it supports (unary and
    binary elementwise ops, dots: ``xla/backends/cpu/ynn_support.cc``), and hands the fused graph each
    scalar constant as a full array written at every call. In ported ConvNeXt-T's eval forward
    (batch 8, 128x128) the downsampling LayerNorm after stage 1 took the last block's LayerNorm, both
    MLP matmuls and its GELU into one fusion (33 ms against 14 for the other blocks) fed by three
    (8, 32, 32, 384) broadcasts of GELU's constants (28 ms). ``clamp(-inf, x, inf)`` has three operands,
    which that fusion does not take, so a norm behind it starts a fusion of its own; XLA keeps the
    clamp (an exact identity it does not simplify away; ``tests/test_policy.py`` pins the identity, the
    CPU-only export and XLA's fusion with and without it). Measured (2026-12-07, 2 cores, ConvNeXt-T
    eval, the two programs timed alternately in one process, 30-40 rounds, both orders): 270 -> 242,
    293 -> 269 and 267 -> 233 ms, XLA's temp 84 -> 48 MiB; its train step a tie (1,049 / 1,044 and
    1,046 / 1,079 ms median, without / with).

    >>> import jax, jax.numpy as jnp
    >>> x = jnp.array([1.0, -jnp.inf, jnp.nan])
    >>> jax.jit(cpu_fusion_barrier)(x)
    Array([ 1., -inf,  nan], dtype=float32)
    """
    return lax.platform_dependent(x, cpu=_clamp_identity, default=lambda v: v)


def _materialize_on_cpu(x: jax.Array) -> jax.Array:
    # A conditional's operand is computed before it and its result read after it: XLA fuses
    # neither across it. The predicate reads x (so nothing constant-folds it); both branches
    # return x exactly (-(-x) == x bit for bit, NaN and -0.0 included; XLA drops a conditional
    # whose branches are both the identity).
    if x.size == 0 or not (jnp.issubdtype(x.dtype, jnp.inexact) or jnp.issubdtype(x.dtype, jnp.signedinteger)):
        return x
    first = x.reshape(-1)[0]
    return lax.cond(first == first, lambda v: v, lambda v: lax.neg(lax.neg(v)), x)


_materialize_p = Primitive("jaxconv_cpu_materialize")
_materialize_p.def_impl(lambda x: x)  # eagerly, x is already an array of its own
_materialize_p.def_abstract_eval(lambda x: x)
mlir.register_lowering(_materialize_p, lambda ctx, x: [x])
mlir.register_lowering(_materialize_p, mlir.lower_fun(_materialize_on_cpu, multiple_results=False), platform="cpu")
ad.deflinear(_materialize_p, lambda ct: [_materialize_p.bind(ct)])  # the identity, its tangent and cotangent materialised too
# vmap: the identity of the batched array (never a per-example predicate, which vmap would turn into
# a select of both branches, fused again).
batching.primitive_batchers[_materialize_p] = lambda args, dims: (_materialize_p.bind(args[0]), dims[0])


def cpu_materialize(x: jax.Array) -> jax.Array:
    """``x`` unchanged (bit for bit; its derivative is the identity), computed into a buffer of its own
    before any consumer reads it, in a program lowered for CPU; plain ``x`` elsewhere. Its tangent and
    its cotangent pass through it too, so reverse mode materialises the cotangent arriving at ``x``.

    XLA:CPU fuses an elementwise producer into each of its elementwise or reduction consumers and
    recomputes it in every one: a 7x7 depthwise tap fold (49 multiply-adds per element) read by a
    LayerNorm's mean, variance and normalisation is computed four times (ConvNeXt-T's eval forward
    273 ms against 161 with its output materialised). XLA fuses nothing across a conditional, so on
    CPU ``x`` passes through a ``lax.cond`` whose predicate reads ``x`` and whose branches both return
    it (``optimization_barrier`` does not stop that fusion on XLA:CPU: measured). A loop over images
    (``lax.map``) also materialises, but runs its body on one core: 7x7, 96 channels @32, batch 8,
    channels-last, with a LayerNorm after it, 4.0 ms looped against 1.9 through the conditional and
    19-20 fused (2-core Xeon, 2026-12-07). The backward of a tiling sum pool broadcasts its cotangent
    over each window, and XLA:CPU fused the cotangent's producer into that broadcast, recomputing it for
    every tap (LeNet's second conv's col2im input gradient, 25 pads summed, four times per element):
    materialised, the LeNet train step (batch 64) 7.34 -> 5.69 ms. A primitive, so that vmap keeps the
    predicate unbatched and autodiff sees the identity. Under SPMD sharding the predicate's one element
    is broadcast to every device (one scalar collective; the output keeps its sharding:
    ``tests/test_sharding.py``). ``tests/test_policy.py`` pins the identity and the conditional.

    >>> import jax, jax.numpy as jnp
    >>> x = jnp.array([-0.0, jnp.nan, 2.0])
    >>> jax.jit(cpu_materialize)(x)
    Array([-0., nan,  2.], dtype=float32)
    """
    return _materialize_p.bind(x)
