"""Average, power-average and adaptive average pooling, with torch's divisors and summation order.

Window sums are folds of :mod:`jaxconv.taps` in torch's scan order (half types summed in
float32, torch's "opmath" type), divided by the per-window divisors the spec carries
(:func:`jaxconv.shapes.pool_spec` with ``divisor=``, :func:`jaxconv.shapes.adaptive_pool_spec`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jaxconv._plumbing import as_array, check_dtype, eager_jit, per_example
from jaxconv.pool.extreme import max_pool1d, max_pool2d, max_pool3d
from jaxconv.shapes import IntOrSeq, Padding, PoolSpec, adaptive_pool_spec, arg_error, is_int, pool_spec
from jaxconv.taps import bshape, reduce_windows

__all__ = [
    "adaptive_avg_pool1d",
    "adaptive_avg_pool2d",
    "adaptive_avg_pool3d",
    "avg_pool1d",
    "avg_pool2d",
    "avg_pool3d",
    "lp_pool1d",
    "lp_pool2d",
    "lp_pool3d",
]

Array = jax.Array


def _acc_dtype(dtype: Any) -> Any:
    # torch accumulates half types in float32 (its "opmath" type).
    return jnp.float32 if jnp.dtype(dtype).itemsize < 4 else dtype


def _window_sums(x: jax.Array, spec: PoolSpec, p: float = 1.0) -> jax.Array:
    """Sums of ``x ** p`` over every window, in the accumulation dtype."""
    x = x.astype(_acc_dtype(x.dtype))
    return reduce_windows(x if p == 1.0 else _pow(x, p), spec, 0, lax.add)


def _divide(s: jax.Array, spec: PoolSpec, override: int | None = None) -> jax.Array:
    if override is not None:
        return s / jnp.asarray(override, s.dtype)
    lead = s.ndim - spec.n
    div = None
    for d, c in enumerate(spec.divisors):  # type: ignore[arg-type]
        v = jnp.asarray(np.asarray(c, np.float64), s.dtype).reshape(bshape(s.ndim, lead + d, len(c)))
        div = v if div is None else div * v
    assert div is not None  # spec.n >= 1
    return s / div


@per_example()
def _avg_impl(x: jax.Array, spec: PoolSpec, override: int | None) -> jax.Array:
    return _divide(_window_sums(x, spec), spec, override).astype(x.dtype)


_avg_jit = eager_jit(_avg_impl, static_argnums=(1, 2))


def _avg(fn: str, n: int, input: Any, kernel_size: IntOrSeq, stride: IntOrSeq | None, padding: Padding, ceil_mode: bool,
         count_include_pad: bool, divisor_override: int | None) -> jax.Array:
    input = as_array(fn, "input", input)
    spec = pool_spec(fn, input.shape, n, kernel_size, stride, padding, 1, ceil_mode,
                     "padded" if count_include_pad else "real")
    check_dtype(fn, input, floating_only=True)
    if divisor_override is not None:
        if not is_int(divisor_override):
            raise arg_error(fn, "divisor_override", "must be a non-zero int or None", divisor_override, exc=TypeError)
        if divisor_override == 0:
            raise arg_error(fn, "divisor_override", "must be a non-zero int or None", divisor_override)
        divisor_override = int(divisor_override)
    return _avg_jit(input, spec, divisor_override)


def _pow(x: jax.Array, p: float) -> jax.Array:
    # torch's pow kernels special-case these exponents; matching them keeps results bit-close.
    if p == int(p) and abs(p) <= 4:
        return lax.integer_pow(x, int(p))
    if p == 0.5:
        return jnp.sqrt(x)
    return jnp.power(x, jnp.asarray(p, x.dtype))


@per_example()
def _lp_impl(x: jax.Array, spec: PoolSpec, norm_type: float) -> jax.Array:
    # torch: avg_pool(x ** p, padding=0, count_include_pad=True) * prod(kernel), then ** (1/p).
    # In ceil mode the overhang window is thus scaled by kernel size / its real count.
    s = _window_sums(x, spec, norm_type)
    out = _divide(s, spec) * jnp.asarray(spec.taps, s.dtype)
    # sign(out) * relu(|out|) is out, but its gradient is 0 where out == 0 (torch's
    # "zero sum -> zero gradient"): keep the power off 0 so that no inf * 0 appears.
    nz = out != 0
    y = jnp.where(nz, _pow(jnp.where(nz, out, jnp.ones_like(out)), 1.0 / norm_type), jnp.zeros_like(out))
    return y.astype(x.dtype)


_lp_jit = eager_jit(_lp_impl, static_argnums=(1, 2))

_MAX_POOLS = {1: max_pool1d, 2: max_pool2d, 3: max_pool3d}


def _lp(fn: str, n: int, input: Any, norm_type: float, kernel_size: IntOrSeq, stride: IntOrSeq | None,
        ceil_mode: bool) -> jax.Array:
    input = as_array(fn, "input", input)
    if isinstance(norm_type, bool) or not isinstance(norm_type, (int, float, np.integer, np.floating)):
        raise arg_error(fn, "norm_type", "must be a real number", norm_type, exc=TypeError)
    p = float(norm_type)
    if p == 0 or math.isnan(p):
        raise arg_error(fn, "norm_type", "must be non-zero and not NaN (the result is the sum ** (1 / norm_type))", norm_type)
    spec = pool_spec(fn, input.shape, n, kernel_size, stride, 0, 1, ceil_mode, "padded")
    if math.isinf(p):
        # torch: max_pool(|x|) for +inf and -max_pool(-|x|) for -inf, padding 0, dilation 1.
        pool = _MAX_POOLS[n]
        return pool(jnp.abs(input), kernel_size, stride, 0, 1, ceil_mode) if p > 0 else \
            -pool(-jnp.abs(input), kernel_size, stride, 0, 1, ceil_mode)
    check_dtype(fn, input, floating_only=True)
    return _lp_jit(input, spec, p)


@per_example()
def _adaptive_avg_impl(x: jax.Array, spec: PoolSpec) -> jax.Array:
    # Uneven (overlapping) bins are summed from one gather per dim (taps.axis_taps), not by
    # an averaging matrix, which would multiply each NaN/inf by the zero weights of the bins
    # without it and spread NaN over the whole row (torch keeps it in its own bins).
    return _divide(_window_sums(x, spec), spec).astype(x.dtype)


_adaptive_avg_jit = eager_jit(_adaptive_avg_impl, static_argnums=(1,))


def _adaptive_avg(fn: str, n: int, input: Any, output_size: int | Sequence[int | None]) -> jax.Array:
    input = as_array(fn, "input", input)
    spec = adaptive_pool_spec(fn, input.shape, n, output_size)
    check_dtype(fn, input, floating_only=True)
    if 0 in spec.out_spatial:  # an empty output, as torch: nothing to compute
        return jnp.zeros((*input.shape[:input.ndim - n], *spec.out_spatial), input.dtype)
    return _adaptive_avg_jit(input, spec)


# ---------------------------------------------------------------------------------------
# The torch.nn.functional functions
# ---------------------------------------------------------------------------------------

def avg_pool2d(input: Array, kernel_size: IntOrSeq, stride: IntOrSeq | None = None, padding: Padding = 0, ceil_mode: bool = False,
               count_include_pad: bool = True, divisor_override: int | None = None) -> Array:
    """2-d average pooling with ``torch.nn.functional.avg_pool2d``'s arguments.

    Window sums are taken in torch's scan order (in float32 for half types) and divided by
    torch's divisor: with ``count_include_pad`` the window clipped to the padded input (zero
    padding counts, the ceil-mode overhang does not); without it the number of input
    elements; ``divisor_override`` replaces both. No dilation, as torch.

    Args:
      input: ``(N, C, H, W)`` or unbatched ``(C, H, W)``, floating dtype.
      kernel_size: int or 2 ints.
      stride: int or 2 ints; ``None`` (default) means ``kernel_size``.
      padding: an int or 2 ints (at most ``kernel_size // 2``), or any form of
        :func:`jaxconv.shapes.resolve_padding`.
      ceil_mode: round the output size up (the last window starts inside the input or the
        left padding).
      count_include_pad: count zero padding in the divisor.
      divisor_override: a non-zero int divisor for every window.

    Returns:
      ``out = floor_or_ceil((in + lo + hi - k)/s) + 1`` per dim.

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxconv
      >>> jaxconv.avg_pool2d(jnp.ones((1, 1, 3, 3)), 2, stride=2, padding=1)
      Array([[[[0.25, 0.5 ],
               [0.5 , 1.  ]]]], dtype=float32)
    """
    return _avg("avg_pool2d", 2, input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override)


def avg_pool1d(input: Array, kernel_size: IntOrSeq, stride: IntOrSeq | None = None, padding: Padding = 0, ceil_mode: bool = False,
               count_include_pad: bool = True, divisor_override: int | None = None) -> Array:
    """1-d average pooling: :func:`avg_pool2d`'s rules over ``(N, C, L)`` or ``(C, L)``.

    ``divisor_override`` is jaxconv's addition (torch's ``avg_pool1d`` has no such argument).

    >>> import jax.numpy as jnp
    >>> import jaxconv
    >>> jaxconv.avg_pool1d(jnp.array([[[1., 2., 3., 4., 5.]]]), 2, ceil_mode=True)
    Array([[[1.5, 3.5, 5. ]]], dtype=float32)
    """
    return _avg("avg_pool1d", 1, input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override)


def avg_pool3d(input: Array, kernel_size: IntOrSeq, stride: IntOrSeq | None = None, padding: Padding = 0, ceil_mode: bool = False,
               count_include_pad: bool = True, divisor_override: int | None = None) -> Array:
    """3-d average pooling: :func:`avg_pool2d`'s rules over ``(N, C, D, H, W)``.

    >>> import jax.numpy as jnp
    >>> import jaxconv
    >>> jaxconv.avg_pool3d(jnp.ones((1, 1, 2, 2, 2)), 2)
    Array([[[[[1.]]]]], dtype=float32)
    """
    return _avg("avg_pool3d", 3, input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override)


def lp_pool2d(input: Array, norm_type: float, kernel_size: IntOrSeq, stride: IntOrSeq | None = None, ceil_mode: bool = False) -> Array:
    """2-d power-average pooling, ``torch.nn.functional.lp_pool2d``, built as torch builds it.

    ``(avg_pool(x ** p) * prod(kernel_size)) ** (1 / p)`` with no padding: the p-norm of each
    window. As torch: ``x ** p`` is not ``|x| ** p`` (negative inputs with odd or fractional
    ``p`` give negative sums or NaN); a ceil-mode window that overhangs the input is scaled by
    ``prod(kernel_size) / (its element count)``; the gradient is 0 where the window sum is 0;
    ``p = inf`` is ``max_pool(|x|)`` and ``p = -inf`` is ``-max_pool(-|x|)``.

    Args:
      input: ``(N, C, H, W)`` or unbatched ``(C, H, W)``, floating dtype (any real dtype
        for ``p = +-inf``).
      norm_type: the power ``p`` (non-zero, may be ``+-inf``).
      kernel_size: int or 2 ints.
      stride: int or 2 ints; ``None`` (default) means ``kernel_size``.
      ceil_mode: round the output size up.

    Returns:
      ``out = floor_or_ceil((in - k)/s) + 1`` per dim.

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxconv
      >>> jaxconv.lp_pool2d(jnp.full((1, 1, 2, 2), 2.0), 2, 2)
      Array([[[[4.]]]], dtype=float32)
    """
    return _lp("lp_pool2d", 2, input, norm_type, kernel_size, stride, ceil_mode)


def lp_pool1d(input: Array, norm_type: float, kernel_size: IntOrSeq, stride: IntOrSeq | None = None, ceil_mode: bool = False) -> Array:
    """1-d power-average pooling: :func:`lp_pool2d`'s rules over ``(N, C, L)`` or ``(C, L)``.

    >>> import jax.numpy as jnp
    >>> import jaxconv
    >>> jaxconv.lp_pool1d(jnp.array([[[3., 4., 1.]]]), 2.0, 2)
    Array([[[5.]]], dtype=float32)
    """
    return _lp("lp_pool1d", 1, input, norm_type, kernel_size, stride, ceil_mode)


def lp_pool3d(input: Array, norm_type: float, kernel_size: IntOrSeq, stride: IntOrSeq | None = None, ceil_mode: bool = False) -> Array:
    """3-d power-average pooling: :func:`lp_pool2d`'s rules over ``(N, C, D, H, W)``.

    >>> import jax.numpy as jnp
    >>> import jaxconv
    >>> jaxconv.lp_pool3d(jnp.ones((1, 1, 2, 2, 2)), 1, 2)
    Array([[[[[8.]]]]], dtype=float32)
    """
    return _lp("lp_pool3d", 3, input, norm_type, kernel_size, stride, ceil_mode)


def adaptive_avg_pool2d(input: Array, output_size: int | Sequence[int | None]) -> Array:
    """2-d adaptive average pooling, ``torch.nn.functional.adaptive_avg_pool2d``.

    Each output is the mean of its bin (floating dtypes, half types summed in float32). The
    bin of output ``i`` along a dim is ``[floor(i*in/out), ceil((i+1)*in/out))``, as torch:
    bins overlap where ``out`` does not divide ``in``.

    Args:
      input: ``(N, C, H, W)`` or unbatched ``(C, H, W)``.
      output_size: an int or 2 entries, each an int >= 1 or ``None`` (keep that dim).

    Returns:
      ``(N, C, *output_size)``.

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxconv
      >>> jaxconv.adaptive_avg_pool2d(jnp.arange(16.).reshape(1, 1, 4, 4), (1, 2))
      Array([[[[6.5, 8.5]]]], dtype=float32)
    """
    return _adaptive_avg("adaptive_avg_pool2d", 2, input, output_size)


def adaptive_avg_pool1d(input: Array, output_size: int | Sequence[int | None]) -> Array:
    """1-d adaptive average pooling: :func:`adaptive_avg_pool2d`'s rules over ``(N, C, L)`` or ``(C, L)``.

    >>> import jax.numpy as jnp
    >>> import jaxconv
    >>> jaxconv.adaptive_avg_pool1d(jnp.array([[[1., 2., 3., 4., 5.]]]), 3)
    Array([[[1.5, 3. , 4.5]]], dtype=float32)
    """
    return _adaptive_avg("adaptive_avg_pool1d", 1, input, output_size)


def adaptive_avg_pool3d(input: Array, output_size: int | Sequence[int | None]) -> Array:
    """3-d adaptive average pooling: :func:`adaptive_avg_pool2d`'s rules over ``(N, C, D, H, W)``.

    >>> import jax.numpy as jnp
    >>> import jaxconv
    >>> jaxconv.adaptive_avg_pool3d(jnp.arange(8.).reshape(1, 1, 2, 2, 2), 1)
    Array([[[[[3.5]]]]], dtype=float32)
    """
    return _adaptive_avg("adaptive_avg_pool3d", 3, input, output_size)
