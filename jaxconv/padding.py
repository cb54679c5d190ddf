"""Padding of the trailing spatial dims: constant, reflect, replicate, circular."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

import jax
import jax.numpy as jnp

from jaxconv import shapes
from jaxconv._plumbing import as_array, moved_names
from jaxconv.shapes import IntOrSeq, Padding, arg_error, is_int, resolve_padding

__all__ = ["PAD_MODES", "check_pad_rank", "pad", "pad_spatial"]

# torch's mode names -> numpy/jnp's.
PAD_MODES = {"constant": "constant", "zeros": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def check_pad_rank(fn: str, shape: tuple[int, ...], k: int, mode: str) -> None:
    """torch's ``F.pad`` rules on the input's rank and zero sizes for padding its last ``k`` dims.

    Constant padding may pad every dim (``k <= ndim``) of any size. The other modes need one
    or two leading dims that are not padded, ``(C, *spatial)`` or ``(N, C, *spatial)`` (torch
    raises "Padding size 2 is not supported for 4D input tensor" otherwise), and reflect and
    replicate need every dim but a batch dim non-zero. (torch's other modes also stop at
    ``k = 3``; jaxconv pads any ``k``.)

    >>> check_pad_rank("pad", (3,), 1, "reflect")
    Traceback (most recent call last):
    ValueError: pad: `input` must have rank 2 (C, *spatial) or 3 (N, C, *spatial) to pad its last 1 dim(s) with mode='reflect' (as torch; constant mode pads any dims), got 'shape (3,)'
    """
    ndim = len(shape)
    if mode in ("constant", "zeros"):
        if k > ndim:
            raise arg_error(fn, "input", f"must have at least {k} dims to pad {k} dims (as torch)", f"shape {shape}")
        return
    if ndim not in (k + 1, k + 2):
        raise arg_error(fn, "input", f"must have rank {k + 1} (C, *spatial) or {k + 2} (N, C, *spatial) to pad its last "
                        f"{k} dim(s) with mode={mode!r} (as torch; constant mode pads any dims)", f"shape {shape}")
    if mode in ("reflect", "replicate") and 0 in shape[ndim - k - 1:]:
        # torch: "Expected 3D or 4D (batch mode) tensor with possibly 0 batch size and other non-zero dimensions"
        raise arg_error(fn, "input", f"must have non-zero sizes in every dim but the batch dim for mode={mode!r} (as torch)",
                        f"shape {shape}")


def pad_spatial(x: jnp.ndarray, pads: Sequence[tuple[int, int]], mode: str, value: float | jax.Array = 0.0,
                trailing: int = 0) -> jnp.ndarray:
    """Pad the ``len(pads)`` spatial dims of ``x`` with already-validated pairs (internal fast path):
    the last dims, or with ``trailing=1`` the ones before a channels-last channel dim."""
    if not any(lo or hi for lo, hi in pads):
        return x
    width = ((0, 0),) * (x.ndim - len(pads) - trailing) + tuple(tuple(p) for p in pads) + ((0, 0),) * trailing
    np_mode = PAD_MODES[mode]
    if np_mode == "constant":
        return jnp.pad(x, width, mode="constant", constant_values=jnp.asarray(value, dtype=x.dtype))
    return jnp.pad(x, width, mode=np_mode)


@partial(jax.jit, static_argnums=(1, 2))
def _pad_jit(x: jax.Array, pads: tuple[tuple[int, int], ...], mode: str, value: jax.Array) -> jax.Array:
    return pad_spatial(x, pads, mode, value)


def pad(input: jnp.ndarray, pad: Padding, mode: str = "constant", value: float | None = None, *,
        kernel_size: IntOrSeq | None = None, stride: IntOrSeq = 1, dilation: IntOrSeq = 1, spatial_dims: int | None = None
        ) -> jnp.ndarray:
    """Pad the trailing spatial dims of ``(N, C, *spatial)`` or ``(C, *spatial)`` arrays (any dims in constant mode).

    Unlike torch's ``F.pad``, ``pad`` takes jaxconv's padding vocabulary in array
    order (first spatial dim first)::

        torch:   F.pad(x, (left, right, top, bottom))
        jaxconv: pad(x, ((top, bottom), (left, right)))

    so ``pad(x, (1, 0))`` on ``(1, 1, 4, 4)`` pads one row at the top and bottom and
    gives ``(1, 1, 6, 4)``, as ``torch.nn.Conv2d(padding=(1, 0))`` does.
    Use :func:`jaxconv.shapes.from_torch_pad` to convert a torch tuple.

    Args:
      input: the array.
      pad: int, per-dim ints, per-side pairs, or a string of the vocabulary
        (``"same"`` etc., which need ``kernel_size``).
      mode: ``"constant"``, ``"reflect"``, ``"replicate"`` or ``"circular"``.
      value: fill value for ``"constant"`` (default 0).
      kernel_size, stride, dilation: only to resolve string paddings.
      spatial_dims: how many trailing dims are spatial; inferred from a sequence
        ``pad`` and otherwise ``input.ndim - 2``.

    Returns:
      The padded array, same dtype. Each padded dim grows by ``lo + hi``.

    Reflect padding needs ``pad < size``, circular ``pad <= size`` (torch's limits).
    As torch's ``F.pad``, constant padding may pad every dim of the input (a 1-d array
    with one pair); the other modes need one or two leading dims that are not padded,
    ``(C, *spatial)`` or ``(N, C, *spatial)``, and reflect and replicate need every dim
    but the batch dim non-zero. Negative (cropping) pads are not accepted.

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxconv
      >>> jaxconv.pad(jnp.ones((1, 1, 4, 4)), (1, 0)).shape
      (1, 1, 6, 4)
      >>> jaxconv.pad(jnp.arange(4.0).reshape(1, 1, 4), ((2, 1),), mode="reflect")
      Array([[[2., 1., 0., 1., 2., 3., 2.]]], dtype=float32)
    """
    fn = "pad"
    input = as_array(fn, "input", input)
    if not isinstance(mode, str) or mode.lower() not in PAD_MODES or mode.lower() == "zeros":
        raise arg_error(fn, "mode", "must be one of 'constant', 'reflect', 'replicate', 'circular'", mode)
    mode = mode.lower()
    if value is not None and mode != "constant":
        raise arg_error(fn, "value", f"is only used by mode='constant', not mode={mode!r}", value)
    if spatial_dims is None:
        if isinstance(pad, Sequence) and not isinstance(pad, str):
            spatial_dims = len(pad)
        else:
            spatial_dims = input.ndim - 2
    if not is_int(spatial_dims):
        raise arg_error(fn, "spatial_dims", "must be an int >= 1", spatial_dims, exc=TypeError)
    spatial_dims = int(spatial_dims)  # type: ignore[arg-type]
    if spatial_dims < 1:
        raise arg_error(fn, "spatial_dims", "must be an int >= 1 (pass it for an int or string pad of a rank < 3 input)",
                        spatial_dims)
    check_pad_rank(fn, tuple(input.shape), spatial_dims, mode)
    sizes = tuple(input.shape[-spatial_dims:])
    if isinstance(pad, str) and kernel_size is None:
        raise arg_error(fn, "pad", "is a string, which needs kernel_size= to resolve", pad)
    try:
        pads = resolve_padding(pad, sizes, 1 if kernel_size is None else kernel_size, stride, dilation, fn=fn, n=spatial_dims)
    except (ValueError, TypeError) as e:
        # resolve_padding calls its argument `padding`; this function's is `pad`.
        raise type(e)(str(e).replace(f"{fn}: `padding`", f"{fn}: `pad`", 1)) from None
    shapes.check_pad_limits(fn, mode, pads, sizes, name="pad")
    if not any(lo or hi for lo, hi in pads):
        return input
    # One compiled program per (shape, pads, mode): jnp.pad's reflect/circular forms are
    # many small ops, which would each dispatch separately in eager mode.
    return _pad_jit(input, pads, mode, jnp.asarray(0.0 if value is None else value, dtype=input.dtype))


__getattr__ = moved_names(__name__, check_pad_limits=("jaxconv.shapes.check_pad_limits", lambda: shapes.check_pad_limits))
