"""3x3 stride-1 convolutions by Winograd's minimal filtering F(2x2, 3x3).

Lavin and Gray, "Fast Algorithms for Convolutional Neural Networks" (2016): a 2x2 block of
outputs of a 3x3 correlation is ``A^T [(G g G^T) * (B^T d B)] A`` for the 4x4 input tile ``d``
under it and the kernel ``g``; the elementwise product ``*`` over a channel sum is 16 GEMMs, one
per position of the 4x4 transformed tile, each ``(N * tiles, C) x (C, K)``. That is 16 / 36 of
the direct form's multiplies; the transforms are additions (``B``, ``A``: entries 0 and +-1;
``G``: halves) over 16 strided views of the input, which XLA:CPU fuses into a few loops.

Why: XLA:CPU's own convolution reaches 40-60% of its GEMM rate on ResNet's 64-channel 3x3
convolutions where oneDNN reaches ~95%. Measured on this project's 2-core machine (AMD EPYC,
batch 8, NHWC, forward, ms): 64 -> 64 @32 7.0 -> 3.1, @56 19.1 -> 10.9, 128 -> 128 @28
10.6 -> 7.6, 256 -> 256 @8 4.4 -> 2.5; 128 -> 128 @16 loses (3.2 -> 3.9).

The result is the same sum in another order, the transforms' additions rounded like any other
(relative error ~1e-6 in float32 against XLA's convolution), exact to float rounding:
``tests/test_winograd.py`` against torch and XLA's convolution, values and gradients. Half
types are computed in float32 and rounded once at the end.

Gradients (the conv's custom JVP in :mod:`jaxconv.convolution`, which takes :func:`input_term`
for the input tangent): the input gradient of a stride-1 3x3
conv is itself a 3x3 stride-1 conv of the cotangent (kernel flipped, in/out channels swapped,
padding ``2 - p``), so the input tangent is written as the linear transpose of that Winograd
conv and reverse mode runs it in the fast form (plain autodiff would transpose the 16 strided
views into 16 interior-padded scatters: 7.3 ms against 3.1 at 64 @32). The weight tangent is
plain: its transpose is 16 GEMMs ``V^T (A g_out A^T)`` contracting over every tile, which the CPU
policy leaves unused: it measured 1-2.4x slower than XLA's weight gradient (64 @56: 49 against 21 ms).

>>> import jax.numpy as jnp, jaxconv
>>> from jaxconv import policy
>>> x, w = jnp.ones((1, 2, 5, 5)), jnp.ones((3, 2, 3, 3))
>>> with policy.conv_algorithm("winograd"):
...     y = jaxconv.conv2d(x, w, padding=1)
>>> y.shape, float(y[0, 0, 0, 0]), float(y[0, 0, 2, 2])
((1, 3, 5, 5), 8.0, 18.0)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax

from jaxconv._plumbing import strided_slice
from jaxconv.shapes import ConvSpec

__all__ = ["input_term", "supports", "winograd_conv"]

# F(2x2, 3x3)'s transforms (Lavin and Gray, eq. 7): input B^T, kernel G, output A^T.
_BT = ((1, 0, -1, 0), (0, 1, 1, 0), (0, -1, 1, 0), (0, 1, 0, -1))
_G = ((1, 0, 0), (0.5, 0.5, 0.5), (0.5, -0.5, 0.5), (0, 0, 1))
_AT = ((1, 1, 1, 0), (0, 1, -1, -1))


def supports(spec: ConvSpec) -> bool:
    """Whether :func:`winograd_conv` computes ``spec``: 2-d, 3x3, stride 1, dilation 1, groups 1.

    >>> import jaxconv
    >>> supports(jaxconv.shapes.conv_spec("conv2d", (1, 8, 9, 9), (8, 8, 3, 3), None, 1, 1, 1, 1, "zeros", False))
    True
    """
    return spec.n == 2 and spec.kernel == (3, 3) and spec.stride == (1, 1) and spec.dilation == (1, 1) and spec.groups == 1


def _combine(matrix: Sequence[Sequence[float]], items: Sequence[Any]) -> list[Any]:
    """``[sum_i matrix[a][i] * items[i] for each row a]``, skipping zeros and writing +-1 as add/subtract."""
    out = []
    for row in matrix:
        acc = None
        for c, v in zip(row, items):
            if c == 0:
                continue
            term = v if c in (1, -1) else v * c
            if acc is None:
                acc = -term if c == -1 else term
            else:
                acc = acc - term if c == -1 else acc + term
        out.append(acc)
    return out


def _transform(grid: Sequence[Sequence[Any]], matrix: Sequence[Sequence[float]]) -> list[list[Any]]:
    """``M grid M^T`` for a grid of arrays: ``out[a][b] = sum_ij M[a][i] M[b][j] grid[i][j]``."""
    cols = [_combine(matrix, [row[j] for row in grid]) for j in range(len(grid[0]))]  # cols[j][a]
    return [_combine(matrix, [col[a] for col in cols]) for a in range(len(matrix))]


def _core(x: jax.Array, taps: Sequence[Sequence[jax.Array]], pads: Sequence[tuple[int, int]],
          out_hw: Sequence[int], channels_last: bool, precision: Any) -> jax.Array:
    """The 3x3 correlation of ``x`` (NCHW or NHWC) zero-padded by ``pads``, with tap matrices
    ``taps[i][j]`` of shape ``(C_in, C_out)``, cropped to ``out_hw``; the output in ``x``'s layout."""
    if not channels_last:
        # NCHW: transposed to NHWC and back, as XLA:CPU does around its own convolution; the 16 views
        # and GEMMs of NCHW directly ran 10-25% slower (64 -> 64 @32, batch 8: 5.8 ms against 5.0).
        return jnp.moveaxis(_core(jnp.moveaxis(x, 1, -1), taps, pads, out_hw, True, precision), -1, 1)
    sp = (1, 2)
    tiles = tuple(-(-o // 2) for o in out_hw)
    cfg = [(0, 0, 0)] * 4
    for ax, (lo, _), t in zip(sp, pads, tiles):  # every tile's 4x4 window in range: 2 * tiles + 2 rows
        cfg[ax] = (lo, 2 * t + 2 - x.shape[ax] - lo, 0)
    xp = lax.pad(x, jnp.zeros((), x.dtype), cfg)
    # The 16 views d[i][j]: every tile's entry (i, j) of its 4x4 window, one stride-2 slice each (the
    # SPMD-safe slice: a height-sharded input stays sharded; tests/test_sharding.py). A reshape of the rows
    # into (tile, parity) pairs, unit-stride, timed the same and made the partitioner replicate.
    n, _, _, c = xp.shape

    def view(i: int, j: int) -> jax.Array:
        return strided_slice(xp, (0, i, j, 0), (n, i + 2 * tiles[0] - 1, j + 2 * tiles[1] - 1, c), (1, 2, 2, 1))

    v = _transform([[view(i, j) for j in range(4)] for i in range(4)], _BT)
    u = _transform(taps, _G)
    # (N, tiles_h, tiles_w, C_out): the free dims of the tile views, then the tap's.
    m = [[lax.dot_general(v[a][b], u[a][b], (((3,), (0,)), ((), ())), precision=precision)
          for b in range(4)] for a in range(4)]
    y = _transform(m, _AT)
    y = jnp.stack([jnp.stack(row, axis=3) for row in y], axis=2)  # (N, th, 2, tw, 2, C_out)
    _, th, _, tw, _, k = y.shape
    return y.reshape(n, 2 * th, 2 * tw, k)[:, :out_hw[0], :out_hw[1]]


def _taps(w: jax.Array, weight_hwio: bool) -> list[list[jax.Array]]:
    """The kernel's 9 ``(C_in, C_out)`` tap matrices."""
    return [[w[i, j] if weight_hwio else w[:, :, i, j].T for j in range(3)] for i in range(3)]


def _forward(x: jax.Array, w: jax.Array, spec: ConvSpec, precision: Any) -> jax.Array:
    return _core(x, _taps(w, spec.weight_hwio), spec.lax_pads, spec.out_spatial, spec.channels_last, precision)


def _adjoint(ct: jax.Array, w: jax.Array, spec: ConvSpec, precision: Any) -> jax.Array:
    """The input gradient: the 3x3 stride-1 conv of the cotangent with the flipped kernel, in and
    out channels swapped, padded ``2 - p`` (the input size again: ``(H + lo + hi - 2) + 4 - lo - hi``)."""
    taps = _taps(w, spec.weight_hwio)
    flipped = [[taps[2 - i][2 - j].T for j in range(3)] for i in range(3)]
    pads = [(2 - lo, 2 - hi) for lo, hi in spec.lax_pads]
    sp = (1, 2) if spec.channels_last else (2, 3)
    in_hw = (ct.shape[sp[0]] + sum(pads[0]) - 2, ct.shape[sp[1]] + sum(pads[1]) - 2)
    return _core(ct, flipped, pads, in_hw, spec.channels_last, precision)


def input_term(xd: jax.Array, w: jax.Array, spec: ConvSpec, precision: Any) -> jax.Array:
    """``conv(xd, w)`` written as the linear transpose of :func:`_adjoint`, so that reverse mode,
    transposing it, runs the input gradient as a Winograd conv of the cotangent."""
    sp = (1, 2) if spec.channels_last else (2, 3)
    shape = list(xd.shape)
    shape[sp[0]], shape[sp[1]] = spec.out_spatial
    shape[3 if spec.channels_last else 1] = spec.out_channels
    ct_aval = jax.ShapeDtypeStruct(tuple(shape), xd.dtype)
    if jnp.dtype(jnp.result_type(xd, w)).itemsize < 4:  # half types: in float32, as winograd_conv
        def adjoint(ct: jax.Array) -> jax.Array:
            return _adjoint(ct.astype(jnp.float32), w.astype(jnp.float32), spec, precision).astype(xd.dtype)
    else:
        def adjoint(ct: jax.Array) -> jax.Array:
            return _adjoint(ct, w, spec, precision)
    return jax.linear_transpose(adjoint, ct_aval)(xd)[0]


def winograd_conv(x: jax.Array, w: jax.Array, spec: ConvSpec, precision: Any = None) -> jax.Array:
    """The ``"winograd"`` conv formulation of ``spec`` (:func:`supports`) for a batched, mode-padded
    ``x`` (``spec.lax_pads`` still to apply): NCHW or NHWC (``spec.channels_last``), OIHW or HWIO weights.

    Output size per spatial dim: ``in + lo + hi - 2`` (stride 1, kernel 3).

    >>> import jax.numpy as jnp
    >>> from jaxconv.shapes import conv_spec
    >>> spec = conv_spec("conv2d", (1, 1, 4, 4), (1, 1, 3, 3), None, 1, 0, 1, 1, "zeros", False)
    >>> winograd_conv(jnp.arange(16.0).reshape(1, 1, 4, 4), jnp.ones((1, 1, 3, 3)), spec)
    Array([[[[45., 54.],
             [81., 90.]]]], dtype=float32)
    """
    dtype = jnp.result_type(x, w)
    if jnp.dtype(dtype).itemsize < 4:  # half types: transforms and products in float32, one rounding
        return _forward(x.astype(jnp.float32), w.astype(jnp.float32), spec, precision).astype(dtype)
    return _forward(x, w, spec, precision)
