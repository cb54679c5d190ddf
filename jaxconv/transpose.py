"""N-d transposed convolution with torch's arguments, weight layout and output sizes.

A transposed convolution is the adjoint (the input-gradient) of a convolution. It
is computed here as ONE ``lax.conv_general_dilated`` call: the input is dilated by
the stride (``lhs_dilation``), the kernel is flipped spatially with its in/out
channel axes swapped per group, and the forward convolution's padding becomes
``lo' = d*(k-1) - lo`` and ``hi' = d*(k-1) - hi + output_padding`` (negative values
crop). ``lax.conv_transpose`` is not used: its explicit padding is applied to the
dilated input directly and does not mean torch's ``padding`` (jax#32267).

Derivatives: a custom JVP whose weight term is written as the transpose of the
adjoint (strided) convolution's weight gradient, so that reverse mode computes the
weight gradient in the form XLA runs fast (on CPU ~25x faster than JAX's transpose
of the lhs-dilated conv). Forward mode, reverse mode and higher orders all work.

As in :mod:`jaxconv.convolution`, each call canonicalises its arguments once into a
frozen, hashable :class:`jaxconv.shapes.ConvTransposeSpec` (cached on the static shapes)
and runs one jitted inner function with the spec static.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax
from jax.custom_derivatives import SymbolicZero

from jaxconv import shapes
from jaxconv._plumbing import as_array, check_same_dtype, eager_jit, moved_names, per_example
from jaxconv.shapes import IntOrSeq, Padding, conv_transpose_spec

__all__ = ["conv_transpose", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d"]

Array = jax.Array


def _dimension_numbers(n: int) -> lax.ConvDimensionNumbers:
    sp = tuple(range(n + 2))
    return lax.ConvDimensionNumbers(sp, sp, sp)


def _lhs_dilated_conv(x: jax.Array, w: jax.Array, spec: shapes.ConvTransposeSpec, precision: Any) -> jax.Array:
    """The transposed convolution of a batched ``x``: one lhs-dilated ``lax.conv_general_dilated``."""
    n, g = spec.n, spec.groups
    c_in, c_out_g, kernel = w.shape[0], w.shape[1], w.shape[2:]
    # (I, O/g, *k) -> per group swap in/out -> (O, I/g, *k), the forward conv's OIHW layout.
    w = w.reshape((g, c_in // g, c_out_g, *kernel))
    w = jnp.swapaxes(w, 1, 2).reshape((g * c_out_g, c_in // g, *kernel))
    w = jnp.flip(w, axis=tuple(range(2, n + 2)))
    y = lax.conv_general_dilated(
        x, w, window_strides=(1,) * n, padding=spec.lax_pads, lhs_dilation=spec.stride, rhs_dilation=spec.dilation,
        dimension_numbers=_dimension_numbers(n), feature_group_count=g, precision=precision,
    )
    if y.shape[2:] != spec.out_spatial:
        y = lax.slice(y, (0,) * (n + 2), y.shape[:2] + spec.out_spatial)
    return y


def _weight_tangent(x: jax.Array, dw: jax.Array, spec: shapes.ConvTransposeSpec, precision: Any) -> jax.Array:
    """``conv_transpose(x, dw)`` as a conv over ``dw`` (lhs) with ``x`` as the kernel.

    The same numbers as :func:`_lhs_dilated_conv`, but JAX's transpose of this form
    w.r.t. ``dw`` (the weight gradient) is a strided conv with a dilated kernel and no
    lhs dilation, which XLA runs ~25x faster on CPU than the transpose of the other form.
    ``out[n, g*O/G + c, o] = sum x[n, ci, i] * dw[ci, c, k]`` over ``o = i*s + k*d - lo``.
    """
    n, g = spec.n, spec.groups
    batch, c_in, spatial = x.shape[0], x.shape[1], x.shape[2:]
    c_out_g = dw.shape[1]
    # Kernel (G*N, C_in/G, *spatial), group-major, flipped: the sum runs over i, not -i.
    k = x.reshape((batch, g, c_in // g, *spatial))
    k = jnp.swapaxes(k, 0, 1).reshape((g * batch, c_in // g, *spatial))
    k = jnp.flip(k, axis=tuple(range(2, n + 2)))
    pads = tuple(((i - 1) * s - lo, (i - 1) * s - hi + op)
                 for i, s, (lo, hi), op in zip(spatial, spec.stride, spec.pads, spec.output_padding))
    # The guard of jaxconv.shapes.conv_transpose_spec, with (dilation, x) in the roles of (stride, kernel).
    pads = tuple((lo, hi + 1) if d > 1 and lo == hi == 0 else (lo, hi) for (lo, hi), d in zip(pads, spec.dilation))
    # dw as lhs: batch <- C_out/G (dim 1), feature <- C_in (dim 0); output batch C_out/G, feature G*N.
    sp = tuple(range(2, n + 2))
    dn = lax.ConvDimensionNumbers((1, 0, *sp), (0, 1, *sp), (0, 1, *sp))
    y = lax.conv_general_dilated(dw, k, window_strides=(1,) * n, padding=pads, lhs_dilation=spec.dilation,
                                 rhs_dilation=spec.stride, dimension_numbers=dn, feature_group_count=g,
                                 precision=precision)
    if y.shape[2:] != spec.out_spatial:
        y = lax.slice(y, (0,) * (n + 2), y.shape[:2] + spec.out_spatial)
    # (C_out/G, G*N, *out) -> (N, C_out, *out), channel g*C_out/G + c.
    y = y.reshape((c_out_g, g, batch, *spec.out_spatial))
    return y.transpose((2, 1, 0, *range(3, n + 3))).reshape((batch, g * c_out_g, *spec.out_spatial))


@functools.partial(jax.custom_jvp, nondiff_argnums=(2, 3))
def _conv_transpose_core(x: jax.Array, w: jax.Array, spec: shapes.ConvTransposeSpec, precision: Any) -> jax.Array:
    return _lhs_dilated_conv(x, w, spec, precision)


@functools.partial(_conv_transpose_core.defjvp, symbolic_zeros=True)
def _conv_transpose_core_jvp(spec: shapes.ConvTransposeSpec, precision: Any, primals: tuple, tangents: tuple) -> tuple:
    # Only the form of the dw term changes (see _weight_tangent); reverse mode transposes it.
    x, w = primals
    dx, dw = tangents
    out = _lhs_dilated_conv(x, w, spec, precision)
    terms = []
    if type(dx) is not SymbolicZero:
        terms.append(_lhs_dilated_conv(dx, w, spec, precision))
    if type(dw) is not SymbolicZero:
        terms.append(_weight_tangent(x, dw, spec, precision))
    t = sum(terms[1:], terms[0]) if terms else jnp.zeros_like(out)
    return out, t


@per_example(spec_index=3)
def _conv_transpose_impl(x: jax.Array, w: jax.Array, b: jax.Array | None, spec: shapes.ConvTransposeSpec,
                         precision: Any) -> jax.Array:
    y = _conv_transpose_core(x, w, spec, precision)
    return y if b is None else y + b.reshape((-1,) + (1,) * spec.n)


_conv_transpose_jit = eager_jit(_conv_transpose_impl, static_argnums=(3, 4))


def _conv_transpose(fn: str, n: int | None, input: Any, weight: Any, bias: Any, stride: IntOrSeq, padding: Padding,
                    output_padding: IntOrSeq, groups: int, dilation: IntOrSeq, output_size: Any, precision: Any) -> jax.Array:
    input, weight = as_array(fn, "input", input), as_array(fn, "weight", weight)
    bias = as_array(fn, "bias", bias, optional=True)
    spec = conv_transpose_spec(fn, input.shape, weight.shape, None if bias is None else bias.shape, stride, padding,
                               output_padding, groups, dilation, output_size, n)
    check_same_dtype(fn, input, weight=weight, bias=bias)
    return _conv_transpose_jit(input, weight, bias, spec, precision)


def conv_transpose(input: Array, weight: Array, bias: Array | None = None, stride: IntOrSeq = 1, padding: Padding = 0,
                   output_padding: IntOrSeq = 0, groups: int = 1, dilation: IntOrSeq = 1, *, output_size: IntOrSeq | None = None,
                   precision: Any = None) -> Array:
    """N-d transposed convolution, the number of spatial dims taken from ``weight``.

    The adjoint of :func:`jaxconv.conv`: ``conv_transpose(y, w, None, s, p, op, g, d)``
    is the gradient of ``conv(x, w, None, s, p, d, g)`` with respect to ``x`` applied
    to ``y`` (``op`` picks which of the ``max(s, d)`` input sizes that give ``y``'s size).

    Args:
      input: ``(N, C_in, *spatial)`` or unbatched ``(C_in, *spatial)``.
      weight: ``(C_in, C_out / groups, *kernel)`` (torch's transposed layout).
      bias: optional ``(C_out,)``.
      stride: int or per-dim ints, >= 1.
      padding: torch's int or per-dim ints (cropped from both sides of the output),
        per-side pairs ``((lo, hi), ...)``, or a string of the padding vocabulary
        (``"same"``, ``"valid"``, ...) meaning the padding of the forward convolution
        this one is the adjoint of, on an input of ``in * stride`` (so ``"same"``
        gives ``out = in * stride``), or of ``output_size`` when that is given.
      output_padding: int or per-dim ints added to the high end of the output;
        each must be ``< max(stride, dilation)``. Must be 0 with a string padding.
      groups: number of channel groups; divides ``C_in``.
      dilation: int or per-dim ints, >= 1.
      output_size: keyword-only; the spatial output size (or ``(N, C, *spatial)``),
        from which ``output_padding`` is derived, as torch's
        ``ConvTranspose2d.forward(input, output_size)``. It must lie between the
        size with ``output_padding = 0`` and that plus ``max(stride, dilation) - 1``.
      precision: passed to ``lax.conv_general_dilated``.

    Returns:
      ``(N, C_out, *out)`` (unbatched in, unbatched out) with
      ``out = (in - 1)*s - lo - hi + d*(k - 1) + output_padding + 1`` per spatial dim
      (torch: ``lo = hi = padding``).

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxconv
      >>> x, w = jnp.ones((1, 4, 5, 5)), jnp.ones((4, 2, 3, 3))
      >>> jaxconv.conv_transpose(x, w, stride=2, padding=1, output_padding=1).shape
      (1, 2, 10, 10)
      >>> jaxconv.conv_transpose(x, w, stride=2, padding=1, output_size=(9, 10)).shape
      (1, 2, 9, 10)
      >>> jaxconv.conv_transpose(x, w, stride=2, padding="same").shape
      (1, 2, 10, 10)
    """
    return _conv_transpose("conv_transpose", None, input, weight, bias, stride, padding, output_padding, groups,
                           dilation, output_size, precision)


def conv_transpose1d(input: Array, weight: Array, bias: Array | None = None, stride: IntOrSeq = 1, padding: Padding = 0,
                     output_padding: IntOrSeq = 0, groups: int = 1, dilation: IntOrSeq = 1, *,
                     output_size: IntOrSeq | None = None, precision: Any = None) -> Array:
    """1-d transposed convolution, ``torch.nn.functional.conv_transpose1d``: :func:`conv_transpose` over ``(N, C_in, L)``.

    The weight is ``(C_in, C_out/groups, kL)``.

    >>> import jax.numpy as jnp
    >>> import jaxconv
    >>> jaxconv.conv_transpose1d(jnp.ones((1, 2, 10)), jnp.ones((2, 3, 4)), stride=2, padding=1).shape
    (1, 3, 20)
    """
    return _conv_transpose("conv_transpose1d", 1, input, weight, bias, stride, padding, output_padding, groups, dilation,
                           output_size, precision)


def conv_transpose2d(input: Array, weight: Array, bias: Array | None = None, stride: IntOrSeq = 1, padding: Padding = 0,
                     output_padding: IntOrSeq = 0, groups: int = 1, dilation: IntOrSeq = 1, *,
                     output_size: IntOrSeq | None = None, precision: Any = None) -> Array:
    """2-d transposed convolution, ``torch.nn.functional.conv_transpose2d``: :func:`conv_transpose` over ``(N, C_in, H, W)``.

    The weight is ``(C_in, C_out/groups, kH, kW)``;
    ``out = (in - 1)*s - lo - hi + d*(k - 1) + output_padding + 1`` per spatial dim.

    >>> import jax.numpy as jnp
    >>> import jaxconv
    >>> jaxconv.conv_transpose2d(jnp.ones((1, 2, 8, 8)), jnp.ones((2, 3, 4, 4)), stride=2, padding=1).shape
    (1, 3, 16, 16)
    """
    return _conv_transpose("conv_transpose2d", 2, input, weight, bias, stride, padding, output_padding, groups, dilation,
                           output_size, precision)


def conv_transpose3d(input: Array, weight: Array, bias: Array | None = None, stride: IntOrSeq = 1, padding: Padding = 0,
                     output_padding: IntOrSeq = 0, groups: int = 1, dilation: IntOrSeq = 1, *,
                     output_size: IntOrSeq | None = None, precision: Any = None) -> Array:
    """3-d transposed convolution: :func:`conv_transpose` over ``(N, C_in, D, H, W)``, weight ``(C_in, C_out/groups, kD, kH, kW)``.

    >>> import jax.numpy as jnp
    >>> import jaxconv
    >>> jaxconv.conv_transpose3d(jnp.ones((1, 2, 4, 4, 4)), jnp.ones((2, 3, 4, 4, 4)), stride=2, padding=1).shape
    (1, 3, 8, 8, 8)
    """
    return _conv_transpose("conv_transpose3d", 3, input, weight, bias, stride, padding, output_padding, groups, dilation,
                           output_size, precision)


__getattr__ = moved_names(__name__, ConvTransposeSpec=("jaxconv.shapes.ConvTransposeSpec", lambda: shapes.ConvTransposeSpec),
                          conv_transpose_spec=("jaxconv.shapes.conv_transpose_spec (it takes shapes)",
                                               lambda: shapes.conv_transpose_spec))
