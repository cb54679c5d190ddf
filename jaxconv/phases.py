"""Strided convolutions as stride-1 convolutions over stride phases (space-to-depth).

A convolution with stride ``s`` reads input position ``o * s + t`` for kernel tap ``t``. Split
every position into its phase ``p = pos % s`` and its coarse index ``pos // s``: the input
``(N, C, H, W)`` becomes ``(N, C * s * s, H / s, W / s)`` (each phase a channel) and the kernel,
zero-padded to a multiple of ``s`` taps, ``(O, C/G * s * s, k' / s, k' / s)``. The strided
convolution is then a *stride-1* convolution of the two, the same sums with zeros added
(exact to float rounding; ``tests/test_phases.py``), cropped to the output size.

Why: XLA:CPU computes the input gradient of a strided convolution as a convolution with an
lhs-dilated (holey) operand, its slow path; the input gradient of the stride-1 form is a
dense transposed convolution plus reshapes. Measured on the ResNet stem (7x7, stride 2, 3 -> 64,
(8, 3, 224, 224), this project's 2-core machine under load, ms): input gradient 93-97 as XLA's
strided conv, 46-56 over phases; the forward is a wash (74-101 vs 82-89) and the weight gradient
slower (112-138 vs 62-85), so :mod:`jaxconv.policy` uses it for the input gradient only.
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax

from jaxconv.shapes import ConvSpec

__all__ = ["phase_conv", "supports"]


def supports(spec: ConvSpec) -> bool:
    """Whether :func:`phase_conv` computes ``spec``: a strided, undilated convolution.

    >>> import jaxconv
    >>> supports(jaxconv.shapes.conv_spec("conv2d", (1, 3, 8, 8), (4, 3, 3, 3), None, 2, 1, 1, 1, "zeros", False))
    True
    """
    return any(s > 1 for s in spec.stride) and all(d == 1 for d in spec.dilation)


def phase_conv(x: jax.Array, w: jax.Array, spec: ConvSpec, precision: Any) -> jax.Array:
    """The convolution ``spec`` of a batched, mode-padded ``x`` as a stride-1 convolution over stride phases.

    Layouts as the spec says (NCHW or NHWC with ``channels_last``, OIHW or HWIO with ``weight_hwio``); the output is the
    spec's, ``(N, C_out, *out_spatial)`` or its channels-last form.

    >>> import jax.numpy as jnp, jaxconv
    >>> spec = jaxconv.shapes.conv_spec("conv1d", (1, 1, 7), (1, 1, 3), None, 2, 0, 1, 1, "zeros", False)
    >>> phase_conv(jnp.arange(7.0).reshape(1, 1, 7), jnp.ones((1, 1, 3)), spec, None)
    Array([[[ 3.,  9., 15.]]], dtype=float32)
    """
    n = spec.n
    if spec.channels_last:  # to channels-first and back: the phase reshapes are written for NC*/OI*
        x = jnp.moveaxis(x, -1, 1)
    if spec.weight_hwio:
        w = jnp.transpose(w, (n + 1, n, *range(n)))
    ss, out = spec.stride, spec.out_spatial
    kq = tuple(-(-k // s) for k, s in zip(spec.kernel, ss))  # taps per phase
    # Zero padding: the spec's lax pads, then enough at the high end for whole phases covering
    # every window (the extra zeros meet only zero kernel taps or cropped outputs).
    hi = tuple(max(s * (o + q - 1), i + lo + h) - (i + lo + h) for s, o, q, i, (lo, h) in
               zip(ss, out, kq, x.shape[2:], spec.lax_pads))
    cfg = [(0, 0, 0), (0, 0, 0)] + [(lo, h + e + (-(i + lo + h + e)) % s, 0) for (lo, h), e, i, s in
                                    zip(spec.lax_pads, hi, x.shape[2:], ss)]
    x = lax.pad(x, jnp.zeros((), x.dtype), cfg)
    w = jnp.pad(w, [(0, 0), (0, 0)] + [(0, q * s - k) for q, s, k in zip(kq, ss, spec.kernel)])
    x = _to_phases(x, ss)
    w = _to_phases(w, ss)
    y = lax.conv_general_dilated(x, w, (1,) * n, "VALID", feature_group_count=spec.groups, precision=precision,
                                 dimension_numbers=lax.ConvDimensionNumbers(*((0, 1, *range(2, n + 2)),) * 3))
    y = lax.slice(y, (0,) * (n + 2), (*y.shape[:2], *out))
    return jnp.moveaxis(y, 1, -1) if spec.channels_last else y


def _to_phases(a: jax.Array, ss: tuple[int, ...]) -> jax.Array:
    """``(A, B, *spatial)`` with each spatial size a multiple of its stride -> ``(A, B * prod(s), *spatial / s)``.

    Channel ``b * prod(s) + flat(phase)``: each original channel's phases stay contiguous, so
    channel groups (``feature_group_count``) keep their channels.
    """
    n = len(ss)
    lead, sp = a.shape[:2], a.shape[2:]
    a = a.reshape((*lead, *(v for q, s in zip(sp, ss) for v in (q // s, s))))
    perm = (0, 1, *(3 + 2 * d for d in range(n)), *(2 + 2 * d for d in range(n)))
    return a.transpose(perm).reshape((lead[0], lead[1] * math.prod(ss), *(q // s for q, s in zip(sp, ss))))
