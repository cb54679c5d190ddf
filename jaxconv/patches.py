"""Sliding-window patches and sub-pixel shuffles: ``unfold``, ``fold``, ``pixel_shuffle``, ``pixel_unshuffle``.

``unfold`` (im2col) is ``prod(kernel_size)`` strided slices of the padded input,
stacked: exact for every dtype and platform, and O(output) work (a one-hot
convolution such as ``lax.conv_general_dilated_patches`` does ``prod(k)`` times
more multiply-adds and rounds through the MXU/TF32 on accelerators unless asked
not to). ``fold`` (col2im) is its exact adjoint: each kernel offset's block is
placed back with one ``lax.pad`` (interior padding = stride - 1, negative edge
padding crops the padding) and the blocks are summed.

As in :mod:`jaxconv.convolution`, the arguments are canonicalised once into a frozen,
cached spec and one jitted inner function runs with the spec static.
"""

from __future__ import annotations

import functools
import math
import operator
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax

from jaxconv._plumbing import as_array, eager_jit
from jaxconv.padding import pad_spatial
from jaxconv.shapes import IntOrSeq, Padding, arg_error, canonicalize, conv_window, frozen_args, spec_cache, split_batch

__all__ = ["fold", "pixel_shuffle", "pixel_unshuffle", "unfold"]


@dataclass(frozen=True)
class PatchSpec:
    """Everything static about one unfold/fold call (two spatial dims, as torch)."""

    batched: bool
    spatial: tuple[int, int]  # unfold's input size = fold's output size
    kernel: tuple[int, int]
    dilation: tuple[int, int]
    pads: tuple[tuple[int, int], tuple[int, int]]
    stride: tuple[int, int]
    blocks: tuple[int, int]  # the grid of sliding blocks; L = prod(blocks)


def _window(fn: str, spatial: tuple[int, ...], kernel_size: Any, dilation: Any, padding: Any, stride: Any,
            batched: bool) -> PatchSpec:
    w = conv_window(spatial, kernel_size, stride, padding, dilation, fn=fn)
    return PatchSpec(batched, spatial, w.kernel, w.dilation, w.pads, w.stride, w.out)  # type: ignore[arg-type]


@spec_cache
def _unfold_spec(fn: str, x_shape: tuple[int, ...], kernel_size: Any, dilation: Any, padding: Any, stride: Any) -> PatchSpec:
    batched = split_batch(fn, len(x_shape), 2)
    if any(s < 1 for s in x_shape[-3:]):
        raise arg_error(fn, "input", "must have non-zero channel and spatial sizes (as torch: only the batch dim may be 0)", f"shape {x_shape}")
    return _window(fn, tuple(x_shape[-2:]), kernel_size, dilation, padding, stride, batched)


@spec_cache
def _fold_spec(fn: str, x_shape: tuple[int, ...], output_size: Any, kernel_size: Any, dilation: Any, padding: Any,
               stride: Any) -> PatchSpec:
    if len(x_shape) not in (2, 3):
        raise arg_error(fn, "input", "must have rank 2 (C*prod(kernel_size), L) or 3 (N, C*prod(kernel_size), L)",
                        f"rank {len(x_shape)}")
    out = canonicalize(output_size, 2, "output_size", fn, min_value=1)
    ks = canonicalize(kernel_size, 2, "kernel_size", fn, min_value=1)
    ckk, length = x_shape[-2], x_shape[-1]
    if ckk == 0 or ckk % math.prod(ks):
        raise arg_error(fn, "input", f"must have dim -2 = C * prod(kernel_size) = C * {math.prod(ks)} with C >= 1",
                        f"shape {x_shape}")
    spec = _window(fn, out, ks, dilation, padding, stride, len(x_shape) == 3)
    if length != math.prod(spec.blocks):
        raise arg_error(fn, "input",
                        f"must have dim -1 = L = the number of sliding blocks {spec.blocks[0]} * {spec.blocks[1]} = "
                        f"{math.prod(spec.blocks)} for output_size={out}", f"shape {x_shape}")
    return spec


def _spec(fn: str, getter: Any, shape: tuple[int, ...], *args: Any) -> PatchSpec:
    names = ("output_size",) * (len(args) - 4) + ("kernel_size", "dilation", "padding", "stride")
    return getter(fn, tuple(shape), *frozen_args(fn, **dict(zip(names, args))))


def _unfold_impl(x: jax.Array, spec: PatchSpec) -> jax.Array:
    if not spec.batched:
        x = x[None]
    x = pad_spatial(x, spec.pads, "constant")
    (kh, kw), (dh, dw), (sh, sw), (bh, bw) = spec.kernel, spec.dilation, spec.stride, spec.blocks
    n, c = x.shape[:2]
    cols = [
        # stride 1 where one block fits: XLA's SPMD partitioner miscompiles a strided slice
        # taking one element of a sharded dim (tests/test_sharding.py)
        lax.slice(x, (0, 0, i * dh, j * dw), (n, c, i * dh + (bh - 1) * sh + 1, j * dw + (bw - 1) * sw + 1),
                  (1, 1, sh if bh > 1 else 1, sw if bw > 1 else 1))
        for i in range(kh) for j in range(kw)
    ]
    # (N, C, kh*kw, bh, bw): channel-major, then kernel offsets row-major -- torch's row order.
    out = jnp.stack(cols, axis=2).reshape(n, c * kh * kw, bh * bw)
    return out if spec.batched else out[0]


def _fold_impl(x: jax.Array, spec: PatchSpec) -> jax.Array:
    if not spec.batched:
        x = x[None]
    (kh, kw), (dh, dw), (sh, sw), (bh, bw) = spec.kernel, spec.dilation, spec.stride, spec.blocks
    (hl, _), (wl, _) = spec.pads
    oh, ow = spec.spatial
    n = x.shape[0]
    c = x.shape[1] // (kh * kw)
    x = x.reshape(n, c, kh, kw, bh, bw)
    zero = jnp.zeros((), x.dtype)
    out = None
    for i in range(kh):
        for j in range(kw):
            # Block (i, j) lands at rows i*dh - hl + t*sh of the unpadded output: interior
            # padding spaces it by the stride, negative edge padding drops what falls in the padding.
            top, left = i * dh - hl, j * dw - wl
            cfg = ((0, 0, 0), (0, 0, 0),
                   (top, oh - top - (bh - 1) * sh - 1, sh - 1),
                   (left, ow - left - (bw - 1) * sw - 1, sw - 1))
            term = lax.pad(x[:, :, i, j], zero, cfg)
            out = term if out is None else out + term
    assert out is not None
    return out if spec.batched else out[0]


_unfold_jit = eager_jit(_unfold_impl, static_argnums=1)
_fold_jit = eager_jit(_fold_impl, static_argnums=1)


def unfold(input: jax.Array, kernel_size: IntOrSeq, dilation: IntOrSeq = 1, padding: Padding = 0, stride: IntOrSeq = 1
           ) -> jax.Array:
    """Extract sliding local blocks (im2col), as ``torch.nn.functional.unfold``.

    Args:
      input: ``(N, C, H, W)`` or unbatched ``(C, H, W)``.
      kernel_size: int or ``(kh, kw)``.
      dilation: int or per-dim ints, >= 1.
      padding: torch's int or per-dim ints (zeros), or jaxconv's per-side pairs
        ``((top, bottom), (left, right))`` or a padding string (``"same"``, ...).
      stride: int or per-dim ints, >= 1.

    Returns:
      ``(N, C * kh * kw, L)`` (unbatched: ``(C * kh * kw, L)``). Row
      ``c * kh * kw + i * kw + j`` holds channel ``c`` at kernel offset ``(i, j)``;
      column ``l`` is block ``(l // bw, l % bw)`` with
      ``b = floor((in + lo + hi - d * (k - 1) - 1) / s) + 1`` per dim and ``L = bh * bw``.

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxconv
      >>> x = jnp.arange(16.0).reshape(1, 1, 4, 4)
      >>> jaxconv.unfold(x, 2, stride=2)
      Array([[[ 0.,  2.,  8., 10.],
              [ 1.,  3.,  9., 11.],
              [ 4.,  6., 12., 14.],
              [ 5.,  7., 13., 15.]]], dtype=float32)
    """
    fn = "unfold"
    input = as_array(fn, "input", input)
    spec = _spec(fn, _unfold_spec, tuple(input.shape), kernel_size, dilation, padding, stride)
    return _unfold_jit(input, spec)


def fold(input: jax.Array, output_size: IntOrSeq, kernel_size: IntOrSeq, dilation: IntOrSeq = 1, padding: Padding = 0,
         stride: IntOrSeq = 1) -> jax.Array:
    """Combine sliding local blocks into an array, summing overlaps (col2im), as ``torch.nn.functional.fold``.

    The adjoint of :func:`unfold`: ``fold(unfold(x)) == x * fold(unfold(ones))``, the
    second factor counting how many blocks cover each pixel.

    Args:
      input: ``(N, C * kh * kw, L)`` or unbatched ``(C * kh * kw, L)``, rows and
        columns in :func:`unfold`'s order.
      output_size: int or ``(H, W)``, the spatial size of the result.
      kernel_size: int or ``(kh, kw)``.
      dilation: int or per-dim ints, >= 1.
      padding: as :func:`unfold` (entries landing in the padding are dropped).
      stride: int or per-dim ints, >= 1.

    Returns:
      ``(N, C, H, W)`` (unbatched: ``(C, H, W)``). ``L`` must equal the number of
      blocks ``bh * bw``, ``b = floor((out + lo + hi - d * (k - 1) - 1) / s) + 1`` per dim.

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxconv
      >>> jaxconv.fold(jnp.ones((1, 4, 4)), (3, 3), 2)[0, 0]
      Array([[1., 2., 1.],
             [2., 4., 2.],
             [1., 2., 1.]], dtype=float32)
    """
    fn = "fold"
    input = as_array(fn, "input", input)
    spec = _spec(fn, _fold_spec, tuple(input.shape), output_size, kernel_size, dilation, padding, stride)
    return _fold_jit(input, spec)


def _factor(fn: str, name: str, r: Any) -> int:
    if isinstance(r, bool) or (not isinstance(r, int) and not hasattr(r, "__index__")):
        raise arg_error(fn, name, "must be an int", r, exc=TypeError)
    r = operator.index(r)
    if r < 1:
        raise arg_error(fn, name, "must be >= 1", r)
    return r


@functools.partial(jax.jit, static_argnums=1)
def _pixel_shuffle_impl(x: jax.Array, r: int) -> jax.Array:
    *lead, c, h, w = x.shape
    x = x.reshape(*lead, c // (r * r), r, r, h, w)
    b = len(lead)
    x = x.transpose(*range(b), b, b + 3, b + 1, b + 4, b + 2)
    return x.reshape(*lead, c // (r * r), h * r, w * r)


@functools.partial(jax.jit, static_argnums=1)
def _pixel_unshuffle_impl(x: jax.Array, r: int) -> jax.Array:
    *lead, c, h, w = x.shape
    x = x.reshape(*lead, c, h // r, r, w // r, r)
    b = len(lead)
    x = x.transpose(*range(b), b, b + 2, b + 4, b + 1, b + 3)
    return x.reshape(*lead, c * r * r, h // r, w // r)


def _check_rank3(fn: str, x: Any) -> None:
    if x.ndim < 3:
        raise arg_error(fn, "input", "must have rank >= 3 (*, C, H, W)", f"shape {tuple(x.shape)}")


def pixel_shuffle(input: jax.Array, upscale_factor: int) -> jax.Array:
    """Rearrange ``(*, C * r^2, H, W)`` into ``(*, C, H * r, W * r)``, as ``torch.nn.functional.pixel_shuffle``.

    Args:
      input: ``(*, C * r * r, H, W)`` with any number of leading dims (>= 0).
      upscale_factor: ``r``, an int >= 1.

    Returns:
      ``(*, C, H * r, W * r)`` with ``out[..., c, h*r + i, w*r + j] = in[..., c*r*r + i*r + j, h, w]``.

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxconv
      >>> jaxconv.pixel_shuffle(jnp.arange(4.0).reshape(4, 1, 1), 2)
      Array([[[0., 1.],
              [2., 3.]]], dtype=float32)
    """
    fn = "pixel_shuffle"
    input = as_array(fn, "input", input)
    r = _factor(fn, "upscale_factor", upscale_factor)
    _check_rank3(fn, input)
    if input.shape[-3] % (r * r):
        raise arg_error(fn, "input", f"must have channels (dim -3) divisible by upscale_factor**2 = {r * r}",
                        f"shape {tuple(input.shape)}")
    return _pixel_shuffle_impl(input, r)


def pixel_unshuffle(input: jax.Array, downscale_factor: int) -> jax.Array:
    """Rearrange ``(*, C, H * r, W * r)`` into ``(*, C * r^2, H, W)``, as ``torch.nn.functional.pixel_unshuffle``.

    The inverse of :func:`pixel_shuffle`.

    Args:
      input: ``(*, C, H * r, W * r)`` with any number of leading dims (>= 0).
      downscale_factor: ``r``, an int >= 1.

    Returns:
      ``(*, C * r * r, H, W)`` with ``out[..., c*r*r + i*r + j, h, w] = in[..., c, h*r + i, w*r + j]``.

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxconv
      >>> jaxconv.pixel_unshuffle(jnp.arange(4.0).reshape(1, 2, 2), 2)[:, 0, 0]
      Array([0., 1., 2., 3.], dtype=float32)
    """
    fn = "pixel_unshuffle"
    input = as_array(fn, "input", input)
    r = _factor(fn, "downscale_factor", downscale_factor)
    _check_rank3(fn, input)
    h, w = input.shape[-2:]
    if h % r or w % r:
        raise arg_error(fn, "input", f"must have height and width divisible by downscale_factor = {r}",
                        f"shape {tuple(input.shape)}")
    return _pixel_unshuffle_impl(input, r)
