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

As in :mod:`jaxconv.conv`, each call canonicalises its arguments once into a
frozen, hashable :class:`ConvTransposeSpec` (cached on the static shapes) and runs
one jitted inner function with the spec static.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax
from jax.custom_derivatives import SymbolicZero

from jaxconv.conv import _as_array, _check_dtypes, freeze
from jaxconv.shapes import (
    IntOrSeq,
    Padding,
    arg_error,
    canonicalize,
    conv_transpose_output_padding,
    conv_transpose_output_shape,
    conv_transpose_padding,
    resolve_padding,
    spec_cache,
    split_batch,
)

__all__ = [
    "ConvTransposeSpec",
    "conv_transpose",
    "conv_transpose1d",
    "conv_transpose2d",
    "conv_transpose3d",
    "conv_transpose_spec",
]


@dataclass(frozen=True)
class ConvTransposeSpec:
    """Everything static about one transposed-convolution call, resolved and validated."""

    n: int
    batched: bool
    stride: tuple[int, ...]
    dilation: tuple[int, ...]
    groups: int
    pads: tuple[tuple[int, int], ...]  # the forward conv's (lo, hi), cropped from the output
    output_padding: tuple[int, ...]
    lax_pads: tuple[tuple[int, int], ...]  # handed to lax; may be negative (crops)
    out_spatial: tuple[int, ...]


def _output_size(fn: str, output_size: Any, n: int) -> tuple[int, ...]:
    if isinstance(output_size, Sequence) and not isinstance(output_size, str) and len(output_size) == n + 2:
        # torch's module forward accepts (N, C, *spatial) as well as (*spatial).
        output_size = tuple(output_size)[2:]
    elif isinstance(output_size, Sequence) and not isinstance(output_size, str) and len(output_size) not in (1, n):
        raise arg_error(fn, "output_size", f"must have {n} or {n + 2} entries for {n} spatial dims", output_size)
    return canonicalize(output_size, n, "output_size", fn, min_value=1)


@spec_cache
def _spec_cached(fn: str, x_shape: tuple[int, ...], w_shape: tuple[int, ...], b_shape: tuple[int, ...] | None,
                 stride: Any, padding: Any, output_padding: Any, groups: Any, dilation: Any, output_size: Any,
                 n_expected: int | None) -> ConvTransposeSpec:
    if len(w_shape) < 3:
        raise arg_error(fn, "weight", "must have rank >= 3: (in_channels, out_channels/groups, *kernel)", f"shape {w_shape}")
    n = len(w_shape) - 2
    if n_expected is not None and n != n_expected:
        raise arg_error(fn, "weight", f"must have rank {n_expected + 2} for {n_expected}-d transposed convolution",
                        f"shape {w_shape}")
    batched = split_batch(fn, len(x_shape), n)
    w_in, w_out_g = w_shape[0], w_shape[1]
    kernel = tuple(w_shape[2:])
    c_in = x_shape[-n - 1]
    spatial = tuple(x_shape[-n:])
    if isinstance(groups, bool) or not isinstance(groups, int):
        raise arg_error(fn, "groups", "must be an int >= 1", groups, exc=TypeError)
    if groups < 1:
        raise arg_error(fn, "groups", "must be an int >= 1", groups)
    if w_in % groups:
        raise arg_error(fn, "groups", f"must divide in_channels = weight.shape[0] = {w_in} (weight shape {w_shape})", groups)
    if c_in != w_in:
        raise arg_error(fn, "input", f"must have in_channels = weight.shape[0] = {w_in}", f"{c_in} channels (shape {x_shape})")
    if any(k < 1 for k in kernel) or w_out_g < 1:
        raise arg_error(fn, "weight", "must have non-zero out_channels/groups and kernel sizes", f"shape {w_shape}")
    c_out = w_out_g * groups
    if b_shape is not None and b_shape != (c_out,):
        raise arg_error(fn, "bias", f"must have shape ({c_out},) = (weight.shape[1] * groups,)", f"shape {b_shape}")
    if any(s < 1 for s in spatial):
        raise arg_error(fn, "input", "must have spatial sizes >= 1", f"shape {x_shape}")
    ss = canonicalize(stride, n, "stride", fn, min_value=1)
    ds = canonicalize(dilation, n, "dilation", fn, min_value=1)
    if output_size is None:
        pads, ops = conv_transpose_padding(spatial, kernel, ss, padding, output_padding, ds, fn=fn)
        out = conv_transpose_output_shape(spatial, kernel, ss, pads, ops, ds, fn=fn)
    else:
        if any(canonicalize(output_padding, n, "output_padding", fn)):
            raise arg_error(fn, "output_padding", "must be 0 when output_size is given (it is derived from it)", output_padding)
        out = _output_size(fn, output_size, n)
        # A string padding is the padding of the forward conv whose input has output_size
        # (TensorFlow's conv2d_transpose(output_shape=...) rule).
        pads = resolve_padding(padding, out if isinstance(padding, str) else None, kernel, ss, ds, fn=fn, n=n)
        ops = conv_transpose_output_padding(spatial, out, kernel, ss, pads, ds, fn=fn)
    lax_pads = tuple((d * (k - 1) - lo, d * (k - 1) - hi + op) for k, d, (lo, hi), op in zip(kernel, ds, pads, ops))
    # XLA's CPU conv-operand swapper (jaxlib 0.10) can misread a dim with lhs dilation
    # s >= 2 and zero padding as a "group" dim, and then aborts the process (CHECK
    # failure) compiling this conv or its weight gradient (grouped convs too, once XLA
    # has rewritten them ungrouped), e.g. k=2, s=2, p=1 or k=4, s=2, p=3 on tiny inputs.
    # One extra high row of padding, cropped after the conv, avoids the pattern.
    lax_pads = tuple((lo, hi + 1) if s > 1 and lo == hi == 0 else (lo, hi) for (lo, hi), s in zip(lax_pads, ss))
    return ConvTransposeSpec(n, batched, ss, ds, groups, pads, ops, lax_pads, out)


def conv_transpose_spec(fn: str, x: Any, weight: Any, bias: Any, stride: IntOrSeq, padding: Padding,
                        output_padding: IntOrSeq, groups: int, dilation: IntOrSeq, output_size: Any,
                        n_expected: int | None) -> ConvTransposeSpec:
    """Validate a transposed-convolution call and resolve it to a cached :class:`ConvTransposeSpec`."""
    try:
        return _spec_cached(fn, tuple(x.shape), tuple(weight.shape), None if bias is None else tuple(bias.shape),
                            freeze(stride), freeze(padding), freeze(output_padding), groups, freeze(dilation),
                            freeze(output_size), n_expected)
    except TypeError as e:
        if "unhashable" not in str(e):
            raise
        raise arg_error(fn, "padding", "must be an int, a sequence of ints or pairs, or a string", padding, exc=TypeError) from None


def _dimension_numbers(n: int) -> lax.ConvDimensionNumbers:
    sp = tuple(range(n + 2))
    return lax.ConvDimensionNumbers(sp, sp, sp)


def _lhs_dilated_conv(x: jax.Array, w: jax.Array, spec: ConvTransposeSpec, precision: Any) -> jax.Array:
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


def _weight_tangent(x: jax.Array, dw: jax.Array, spec: ConvTransposeSpec, precision: Any) -> jax.Array:
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
    # The guard of _spec_cached, with (dilation, x) in the roles of (stride, kernel).
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
def _conv_transpose_core(x: jax.Array, w: jax.Array, spec: ConvTransposeSpec, precision: Any) -> jax.Array:
    return _lhs_dilated_conv(x, w, spec, precision)


@functools.partial(_conv_transpose_core.defjvp, symbolic_zeros=True)
def _conv_transpose_core_jvp(spec: ConvTransposeSpec, precision: Any, primals: tuple, tangents: tuple) -> tuple:
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


def _conv_transpose_impl(x: jax.Array, w: jax.Array, b: jax.Array | None, spec: ConvTransposeSpec,
                         precision: Any) -> jax.Array:
    if not spec.batched:
        x = x[None]
    y = _conv_transpose_core(x, w, spec, precision)
    if b is not None:
        y = y + b.reshape((-1,) + (1,) * spec.n)
    return y if spec.batched else y[0]


_conv_transpose_jit = jax.jit(_conv_transpose_impl, static_argnums=(3, 4))


def _conv_transpose(fn: str, n: int | None, input: Any, weight: Any, bias: Any, stride: IntOrSeq, padding: Padding,
                    output_padding: IntOrSeq, groups: int, dilation: IntOrSeq, output_size: Any, precision: Any) -> jax.Array:
    input, weight, bias = _as_array(fn, "input", input), _as_array(fn, "weight", weight), _as_array(fn, "bias", bias)
    spec = conv_transpose_spec(fn, input, weight, bias, stride, padding, output_padding, groups, dilation, output_size, n)
    _check_dtypes(fn, input, weight, bias)
    return _conv_transpose_jit(input, weight, bias, spec, precision)


def conv_transpose(
    input: jax.Array,
    weight: jax.Array,
    bias: jax.Array | None = None,
    stride: IntOrSeq = 1,
    padding: Padding = 0,
    output_padding: IntOrSeq = 0,
    groups: int = 1,
    dilation: IntOrSeq = 1,
    *,
    output_size: IntOrSeq | None = None,
    precision: Any = None,
) -> jax.Array:
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


def _make_conv_transpose_nd(n: int) -> Any:
    name = f"conv_transpose{n}d"

    def conv_transpose_nd(
        input: jax.Array,
        weight: jax.Array,
        bias: jax.Array | None = None,
        stride: IntOrSeq = 1,
        padding: Padding = 0,
        output_padding: IntOrSeq = 0,
        groups: int = 1,
        dilation: IntOrSeq = 1,
        *,
        output_size: IntOrSeq | None = None,
        precision: Any = None,
    ) -> jax.Array:
        return _conv_transpose(name, n, input, weight, bias, stride, padding, output_padding, groups, dilation,
                               output_size, precision)

    conv_transpose_nd.__name__ = conv_transpose_nd.__qualname__ = name
    shape = {1: "(N, C_in, L)", 2: "(N, C_in, H, W)", 3: "(N, C_in, D, H, W)"}[n]
    wshape = {1: "(C_in, C_out/groups, kL)", 2: "(C_in, C_out/groups, kH, kW)", 3: "(C_in, C_out/groups, kD, kH, kW)"}[n]
    ex = {1: ("jnp.ones((1, 2, 10))", "jnp.ones((2, 3, 4))", "(1, 3, 20)"),
          2: ("jnp.ones((1, 2, 8, 8))", "jnp.ones((2, 3, 4, 4))", "(1, 3, 16, 16)"),
          3: ("jnp.ones((1, 2, 4, 4, 4))", "jnp.ones((2, 3, 4, 4, 4))", "(1, 3, 8, 8, 8)")}[n]
    conv_transpose_nd.__doc__ = f"""{n}-d transposed convolution with ``torch.nn.functional.{name}``'s arguments.

    Args:
      input: {shape} or unbatched without N.
      weight: {wshape}.
      bias: optional (C_out,).
      stride, padding, output_padding, groups, dilation, output_size, precision:
        as :func:`jaxconv.conv_transpose` (padding also takes per-side pairs and strings).

    Returns:
      The output, ``out = (in - 1)*s - lo - hi + d*(k - 1) + output_padding + 1`` per spatial dim.

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxconv
      >>> jaxconv.{name}({ex[0]}, {ex[1]}, stride=2, padding=1).shape
      {ex[2]}
    """
    return conv_transpose_nd


conv_transpose1d = _make_conv_transpose_nd(1)
conv_transpose2d = _make_conv_transpose_nd(2)
conv_transpose3d = _make_conv_transpose_nd(3)
