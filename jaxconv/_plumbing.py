"""Array-level plumbing shared by the ops: input checks, the batch dim, the SPMD-safe slice.

Private: the ops import it, users never need it. The argument-level plumbing (canonical
tuples, frozen cache keys, the error form) is pure Python and lives in
:mod:`jaxconv.shapes.arguments`.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.core import Tracer

from jaxconv.shapes import arg_error

__all__ = ["as_array", "check_dtype", "check_same_dtype", "eager_jit", "moved_names", "per_example", "strided_slice"]


def as_array(fn: str, name: str, v: Any, *, optional: bool = False) -> Any:
    """A ``jax.Array`` (tracers too) or a NumPy array (as a ``jax.Array``), else a ``TypeError`` naming ``fn`` and ``name``.

    torch's functions take tensors only; jaxconv takes JAX and NumPy arrays and says how to
    convert anything else (a torch tensor, a list, a string, ``None``) instead of failing
    inside XLA; torch is never imported here. ``optional`` lets ``None`` through (a bias).

    >>> as_array("conv2d", "input", [1.0, 2.0])
    Traceback (most recent call last):
    TypeError: conv2d: `input` must be a jax.Array or a NumPy array (convert it with jnp.asarray(...)), got 'list'
    """
    if v is None and optional:
        return None
    if isinstance(v, jax.Array):
        return v
    if isinstance(v, (np.ndarray, np.generic)):
        if np.dtype(v.dtype).kind not in "biufcV":
            raise arg_error(fn, name, "must have a numeric dtype", str(v.dtype), exc=TypeError)
        return jax.device_put(v)  # a transfer, no compilation (jnp.asarray would compile a conversion)
    cls = type(v)
    if cls.__module__.split(".")[0] == "torch":
        raise arg_error(fn, name, "must be a jax.Array or a NumPy array (convert a torch tensor with jnp.asarray(t.numpy()), "
                        "after t.detach().cpu())", f"{cls.__module__}.{cls.__name__}", exc=TypeError)
    raise arg_error(fn, name, "must be a jax.Array or a NumPy array (convert it with jnp.asarray(...))", cls.__name__,
                    exc=TypeError)


def check_dtype(fn: str, x: Any, floating_only: bool, name: str = "input") -> None:
    """A floating (or, unless ``floating_only``, integer) dtype, as torch's kernels accept."""
    dt = jnp.dtype(x.dtype)
    if floating_only:
        if not jnp.issubdtype(dt, jnp.floating):
            raise arg_error(fn, name, "must have a floating dtype (as torch, which does not average integers)", str(dt),
                            exc=TypeError)
    elif dt == jnp.bool_ or not (jnp.issubdtype(dt, jnp.floating) or jnp.issubdtype(dt, jnp.integer)):
        raise arg_error(fn, name, "must have a floating or integer dtype", str(dt), exc=TypeError)


def check_same_dtype(fn: str, x: Any, **others: Any) -> None:
    """Every array in ``others`` (``None`` skipped) has the input's dtype; the message says which to cast.

    >>> check_same_dtype("conv2d", jnp.zeros(1), weight=jnp.zeros(1, jnp.bfloat16))
    Traceback (most recent call last):
    TypeError: conv2d: `weight` must have the input's dtype float32 (cast one of them, e.g. weight.astype(input.dtype)), got 'bfloat16'
    """
    for name, v in others.items():
        if v is not None and v.dtype != x.dtype:
            raise arg_error(fn, name, f"must have the input's dtype {x.dtype} (cast one of them, e.g. {name}.astype(input.dtype))",
                            str(v.dtype), exc=TypeError)


_Impl = TypeVar("_Impl", bound=Callable[..., Any])


def per_example(n_arrays: int = 1, spec_index: int | None = None) -> Callable[[_Impl], _Impl]:
    """Decorate ``impl(*args)`` written for batched arrays to take unbatched ones too.

    The spec is ``args[spec_index]`` (default: right after the arrays). When
    ``spec.batched`` is false, a batch dim of 1 is added to the first ``n_arrays`` arguments
    and stripped from every output (a tuple of outputs too).
    """
    where = n_arrays if spec_index is None else spec_index

    def wrap(impl: _Impl) -> _Impl:
        @functools.wraps(impl)
        def run(*args: Any) -> Any:
            spec = args[where]
            if spec.batched:
                return impl(*args)
            out = impl(*(a[None] for a in args[:n_arrays]), *args[n_arrays:])
            return jax.tree.map(lambda y: y[0], out)
        return run  # type: ignore[return-value]
    return wrap


def strided_slice(x: jax.Array, starts: Sequence[int], limits: Sequence[int], strides: Sequence[int]) -> jax.Array:
    """``lax.slice``, with stride 1 in the dims where it takes a single element (same result).

    XLA's SPMD partitioner (jax 0.10) miscompiles a strided slice that takes one element of
    a sharded dim: wrong values or an HLO verifier error (a pool to one output row of a
    height-sharded input, e.g. global pooling). tests/test_sharding.py pins it.
    """
    strides = [1 if hi - lo <= 1 else st for lo, hi, st in zip(starts, limits, strides)]
    return lax.slice(x, tuple(starts), tuple(limits), tuple(strides))


def moved_names(module: str, **moved: tuple[str, Callable[[], Any]]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for public names that moved: each still works for a release, with a
    ``DeprecationWarning`` naming its new home. ``moved``: ``old_name=(new_path, getter)``.
    """
    def __getattr__(name: str) -> Any:
        if name in moved:
            new, get = moved[name]
            warnings.warn(f"{module}.{name} moved to {new}; the old name will be removed in the next release",
                          DeprecationWarning, stacklevel=2)
            return get()
        raise AttributeError(f"module {module!r} has no attribute {name!r}")
    return __getattr__


def _staging() -> bool:
    """Whether the current trace, or one it runs inside, stages a program (``jit``; not eager ``grad``/``vmap``)."""
    from jax._src import core  # the trace stack: JAX has no public API for "am I inside a jit"
    from jax._src.interpreters import partial_eval as pe

    t = core.trace_ctx.trace
    while t is not None:
        if isinstance(t, pe.DynamicJaxprTrace):
            return True
        t = getattr(t, "parent_trace", None)
    return False


def eager_jit(impl: _Impl, static_argnums: int | tuple[int, ...]) -> _Impl:
    """``jax.jit(impl)`` for eager calls (one cached program per spec); ``impl`` itself inside a ``jit``.

    Called while an enclosing ``jit`` stages a program (also through ``grad``/``vmap`` inside it),
    the op's body is inlined into that program instead of staying a nested ``jit``. Eager
    ``grad``/``vmap`` keep the op's own jit (its program, and the output sharding XLA propagates
    through it: tests/test_sharding.py's eager rows). A nested jit around a
    ``lax.platform_dependent`` (the policy's per-backend branches) defeats XLA:CPU's convolution
    layout assignment once transposed: a strided conv's input gradient then runs ~30x slower
    (NCHW kept, `bf01_io01->bf01`), found by the benchmark's per-part rows
    (experiments/benchmark.py `-k part`); inlined, the program is the one raw lax gives.
    """
    jitted = jax.jit(impl, static_argnums=static_argnums)
    statics = {static_argnums} if isinstance(static_argnums, int) else set(static_argnums)

    @functools.wraps(impl)
    def run(*args: Any) -> Any:
        traced = any(isinstance(a, Tracer) for i, a in enumerate(args) if i not in statics)
        return impl(*args) if traced and _staging() else jitted(*args)
    return run  # type: ignore[return-value]
