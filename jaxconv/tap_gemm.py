"""Dense convolutions as one GEMM per kernel tap ("tap_gemm"), for their weight gradients above all.

A convolution is a sum over its kernel taps: tap ``t`` of the zero-padded input is one strided
slice ``X_t`` (:func:`jaxconv.taps.conv_tap`: ``(N, *out, C_in)`` channels-last), and
``y = sum_t X_t @ W_t`` with ``W_t`` the ``(C_in, C_out)`` slice of the weight at that kernel
offset. The weight gradient is then one GEMM per tap, ``dW_t = X_t^T G``, contracting the batch
and the output positions, with no im2col columns: each slice is read once, by its own GEMM.

Why: inside a network's train step XLA:CPU runs a dense conv's weight gradient as a YNNPACK
convolution whose window is the whole output, far below its GEMM rate on small outputs. Measured on
this project's 2-core machine (AMD EPYC, batch 8, channels-last with torch's OIHW weight, weight
gradient, XLA -> tap GEMMs, ms, both compiled in one process and timed alternately, medians of 7,
2026-12-04, a VM running ~2x slower than its best): 3x3 s1 64->64 @32 31.0 -> 14.4; 256->256 @14
22.5 -> 14.1; 3x3 s2 64->128 @32 7.5 -> 5.0; the ResNet stem 7x7 s2 3->64 @128 31.4 -> 19.6, @224
267 -> 102. XLA keeps the lead on large outputs (64->64 @56 52.4 -> 57.5; 32->32 @64 23.8 -> 31.2),
where its window is long and the per-tap GEMMs re-read the cotangent once per tap, and on NCHW
convs, whose tap slices are transposed before each GEMM (the stem @128 33.0 -> 192):
:func:`jaxconv.policy.cpu_plan` draws those lines. The whole programs decided: resnet18's train
step (batch 8, 128x128), with and without the tap GEMMs timed alternately in one process
(``experiments/profile_network.py resnet18 --mode train --compare-without tap_gemm``), ran 1.11x,
1.21x and 1.14x faster in three runs. The CPU plan also takes the forward pass and the input gradient
of strided channels-last convs from here (ResNet's 3x3 s2 downsampling: 1.15-1.4x XLA's input gradient;
the figures are in :mod:`jaxconv.policy`); with those, 1.17x (10 rounds, 1.11-1.29).

The orientation matters. With few input channels (an RGB stem) each tap is ``X_t^T G``, a
``(C_in, C_out)`` block; ``G^T X_t`` (what autodiff of the forward's ``X_t @ W_t`` with a torch
weight transposes into) ran the stem at 74.8 ms against 18.9, a 3-column GEMM output. With more
channels ``G^T`` is copied once and each tap is ``G^T X_t``, both operands in the layout XLA:CPU's
GEMM takes (:data:`FEW_CHANNELS` has the figures). So the weight tangent is written as the linear
transpose of :func:`weight_grad`, as :mod:`jaxconv.winograd` writes its input tangent, and reverse
mode runs that form. The input gradient is plain autodiff of the forward: one GEMM per tap of the
cotangent against ``W_t^T``, each padded back into place and summed (a col2im).

The result is the same sum in another order (relative error ~1e-6 in float32 against XLA's
convolution): ``tests/test_tap_gemm.py`` against torch and XLA's convolution, values and gradients,
every layout, n-d, stride, dilation and padding.

>>> import jax, jax.numpy as jnp, jaxconv
>>> from jaxconv import policy
>>> x, w = jnp.ones((1, 2, 5, 5)), jnp.ones((3, 2, 3, 3))
>>> with policy.conv_algorithm("tap_gemm"):
...     dw = jax.grad(lambda w: jaxconv.conv2d(x, w, padding=1).sum())(w)
>>> dw.shape, float(dw[0, 0, 0, 0]), float(dw[0, 0, 1, 1])
((3, 2, 3, 3), 16.0, 25.0)
"""

from __future__ import annotations

import itertools
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax

from jaxconv.shapes import ConvSpec
from jaxconv.taps import conv_taps

__all__ = ["supports", "tap_gemm_conv", "weight_grad", "weight_term"]

#: Up to this many input channels (an RGB stem) the weight gradient is ``X_t^T G``, each tap's
#: ``(C_in, C_out)`` straight from the two operands; with more, ``G^T`` is copied once and each tap is
#: ``G^T X_t``, the operands as XLA:CPU's (YNNPACK's) GEMM takes them (X_t^T G runs as a transposed
#: Eigen dot). Batch 8, NHWC, ms, X_t^T G -> G^T X_t: 3x3 s1 64@32 13.3 -> 10.4, 128@16 7.4 -> 5.6,
#: 256@8 6.4 -> 5.7, 512@7 21.1 -> 16.6; 3x3 s2 128->256 @16 3.9 -> 3.2, 64->128 @32 3.2 -> 4.0;
#: the stem 7x7 s2 3->64 @128 17.1 -> 40.7 (a 3-column GEMM output). resnet18's train step (batch 8,
#: 128x128), the two programs timed alternately: 1.04x (10 rounds, 0.95-1.25). 2026-12-04.
FEW_CHANNELS = 4


def supports(spec: ConvSpec) -> bool:
    """Whether :func:`tap_gemm_conv` computes ``spec``: a dense conv (``groups == 1``), any n, stride,
    dilation and padding.

    >>> import jaxconv
    >>> supports(jaxconv.shapes.conv_spec("conv2d", (1, 8, 9, 9), (8, 8, 3, 3), None, 2, 1, 1, 1, "zeros", False))
    True
    """
    return spec.groups == 1


def _spatial_axes(spec: ConvSpec) -> range:
    return range(1, spec.n + 1) if spec.channels_last else range(2, spec.n + 2)


def _weight_tap(w: jax.Array, offs: tuple[int, ...], spec: ConvSpec) -> tuple[jax.Array, int]:
    """The weight's 2-d slice at kernel offset ``offs`` and the index of its input-channel dim:
    ``(C_out, C_in)`` of torch's OIHW (dim 1), ``(C_in, C_out)`` of HWIO (dim 0)."""
    if spec.weight_hwio:
        return w[offs], 0
    return w[(slice(None), slice(None), *offs)], 1


def _forward(x: jax.Array, w: jax.Array, spec: ConvSpec, precision: Any) -> jax.Array:
    n = spec.n
    y = None
    for offs, t in zip(itertools.product(*(range(k) for k in spec.kernel)), conv_taps(x, spec)):
        wt, c_dim = _weight_tap(w, offs, spec)
        if spec.channels_last:  # (N, *out, C) x (C, O) -> (N, *out, O)
            term = lax.dot_general(t, wt, (((n + 1,), (c_dim,)), ((), ())), precision=precision)
        else:  # (O, C) x (N, C, *out) -> (O, N, *out), moved to NCHW once after the sum
            term = lax.dot_general(wt, t, (((c_dim,), (1,)), ((), ())), precision=precision)
        y = term if y is None else y + term
    assert y is not None
    return y if spec.channels_last else jnp.moveaxis(y, 0, 1)


def weight_grad(x: jax.Array, g: jax.Array, spec: ConvSpec, precision: Any = None) -> jax.Array:
    """The weight gradient of ``spec`` for input ``x`` (batched, mode-padded) and output cotangent ``g``:
    one GEMM ``X_t^T G`` per kernel tap, contracting the batch and the output positions, in the
    weight's layout (OIHW, or HWIO with ``spec.weight_hwio``).

    >>> import jax.numpy as jnp
    >>> from jaxconv.shapes import conv_spec
    >>> spec = conv_spec("conv2d", (1, 1, 3, 3), (1, 1, 2, 2), None, 1, 0, 1, 1, "zeros", False)
    >>> weight_grad(jnp.arange(9.0).reshape(1, 1, 3, 3), jnp.ones((1, 1, 2, 2)), spec)
    Array([[[[ 8., 12.],
             [20., 24.]]]], dtype=float32)
    """
    n, c, o = spec.n, spec.in_channels, spec.out_channels
    if spec.channels_last and c > FEW_CHANNELS:
        # G^T copied once, then (O, rows) x (rows, C) per tap: both operands as XLA:CPU's GEMM takes them.
        gt = lax.optimization_barrier(g.reshape(-1, o).T)
        rows = [lax.dot(gt, t.reshape(-1, c), precision=precision) for t in conv_taps(x, spec)]
        dw = jnp.stack(rows).reshape(*spec.kernel, o, c)  # HWOI
        return jnp.transpose(dw, (*range(n), n + 1, n) if spec.weight_hwio else (n, n + 1, *range(n)))
    rows = []
    for t in conv_taps(x, spec):
        if spec.channels_last:  # (rows, C)^T (rows, O): the measured form (see the module docstring)
            rows.append(lax.dot_general(t.reshape(-1, c), g.reshape(-1, o), (((0,), (0,)), ((), ())),
                                        precision=precision))
        else:  # (N, C, *out) x (N, O, *out) over the batch and the positions
            dims = (0, *range(2, n + 2))
            rows.append(lax.dot_general(t, g, ((dims, dims), ((), ())), precision=precision))
    dw = jnp.stack(rows).reshape(*spec.kernel, c, o)  # HWIO
    return dw if spec.weight_hwio else jnp.transpose(dw, (n + 1, n, *range(n)))


def weight_term(x: jax.Array, wd: jax.Array, spec: ConvSpec, precision: Any) -> jax.Array:
    """``conv(x, wd)`` written as the linear transpose of :func:`weight_grad`, so that reverse mode,
    transposing it, runs the weight gradient as :func:`weight_grad`."""
    shape = list(x.shape)
    for ax, size in zip(_spatial_axes(spec), spec.out_spatial):
        shape[ax] = size
    shape[-1 if spec.channels_last else 1] = spec.out_channels
    ct_aval = jax.ShapeDtypeStruct(tuple(shape), jnp.result_type(x, wd))
    return jax.linear_transpose(lambda ct: weight_grad(x, ct, spec, precision), ct_aval)(wd)[0]


def tap_gemm_conv(x: jax.Array, w: jax.Array, spec: ConvSpec, precision: Any = None) -> jax.Array:
    """The ``"tap_gemm"`` conv formulation of a dense ``spec`` (:func:`supports`) for a batched,
    mode-padded ``x`` (``spec.lax_pads`` still to apply): NCHW or NHWC (``spec.channels_last``),
    OIHW or HWIO weights. Plain autodiff gives its input gradient; ``jaxconv.convolution`` takes the
    weight gradient from :func:`weight_term` (as :func:`jaxconv.winograd.input_term`).

    Output size per spatial dim: ``floor((in + lo + hi - d*(k-1) - 1)/s) + 1``.

    >>> import jax.numpy as jnp
    >>> from jaxconv.shapes import conv_spec
    >>> spec = conv_spec("conv2d", (1, 1, 4, 4), (1, 1, 3, 3), None, 1, 0, 1, 1, "zeros", False)
    >>> tap_gemm_conv(jnp.arange(16.0).reshape(1, 1, 4, 4), jnp.ones((1, 1, 3, 3)), spec)
    Array([[[[45., 54.],
             [81., 90.]]]], dtype=float32)
    """
    return _forward(x, w, spec, precision)
