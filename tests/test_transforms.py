"""Every op under JAX's transformations: jit, vmap (over the batch and over the weights), grad.

* ``jit``: the op inside ``jax.jit`` gives the eager result.
* ``vmap`` over the batch: mapping an op over a leading axis of unbatched ``(C, *spatial)``
  inputs gives the batched call; mapping over an extra leading axis of batched inputs
  gives the per-slice results.
* ``vmap`` over the weights (conv, conv_transpose): mapping over a stack of weights (and
  biases) gives the per-weight results.
* ``grad``: ``jax.test_util.check_grads`` in float64 (x64 enabled, so that finite
  differences are accurate): reverse mode to second order for every op, forward mode (to
  first order) for every op without a custom VJP (``T.fwd``); jit(grad) and per-example
  vmap(grad) agree with grad. The max/min pools (and adaptive max, lp_pool
  with p = inf) and max_unpool carry custom VJPs (torch's winner rule, dilation), which
  JAX cannot differentiate in forward mode.

oracle: the eager op itself (jit, vmap), finite differences (grad); values against torch
are the business of test_properties.py and test_dtypes.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

import jaxconv


@dataclass(frozen=True)
class T:
    name: str
    fn: Callable[..., Any]  # fn(x) or fn(x, w, b); must accept batched and unbatched x
    shape: tuple[int, ...]  # batched input shape
    wshape: tuple[int, ...] | None = None
    bshape: tuple[int, ...] | None = None
    fwd: bool = True  # forward-mode differentiable (no custom VJP)
    batchable: bool = True  # accepts unbatched (C, *spatial) input


def _idx_of(x: Any, k: int, s: int) -> Any:
    return jaxconv.max_pool2d(jax.lax.stop_gradient(x), k, s, return_indices=True)[1]


OPS = [
    T("conv1d", lambda x, w, b: jaxconv.conv1d(x, w, b, 2, 1), (2, 2, 7), (3, 2, 3), (3,)),
    T("conv2d", lambda x, w, b: jaxconv.conv2d(x, w, b, 1, "same", 2), (2, 2, 5, 5), (3, 2, 3, 3), (3,)),
    T("conv2d_groups_reflect", lambda x, w, b: jaxconv.conv2d(x, w, b, 2, 1, 1, 2, padding_mode="reflect"),
      (2, 4, 5, 5), (4, 2, 3, 3), (4,)),
    T("conv3d", lambda x, w, b: jaxconv.conv3d(x, w, b, 1, 1), (2, 2, 3, 3, 3), (2, 2, 2, 2, 2), (2,)),
    T("conv_transpose2d", lambda x, w, b: jaxconv.conv_transpose2d(x, w, b, 2, 1, 1), (2, 2, 3, 3), (2, 3, 3, 3), (3,)),
    T("conv_transpose1d_groups", lambda x, w, b: jaxconv.conv_transpose1d(x, w, b, 2, 0, 1, 2, 2), (2, 4, 4), (4, 1, 2),
      (2,)),
    T("max_pool2d", lambda x: jaxconv.max_pool2d(x, 3, 2, 1, 1, True), (2, 2, 5, 5), fwd=False),
    T("max_pool1d_dilated", lambda x: jaxconv.max_pool1d(x, 2, 1, 1, 2), (2, 2, 7), fwd=False),
    T("max_pool3d", lambda x: jaxconv.max_pool3d(x, 2, 1), (1, 2, 3, 3, 3), fwd=False),
    T("min_pool2d", lambda x: jaxconv.min_pool2d(x, 2, 1, 1), (2, 2, 4, 4), fwd=False),
    T("avg_pool2d", lambda x: jaxconv.avg_pool2d(x, 3, 2, 1, True, False), (2, 2, 5, 5)),
    T("avg_pool1d", lambda x: jaxconv.avg_pool1d(x, 2, 1, 1), (2, 2, 6)),
    T("avg_pool3d", lambda x: jaxconv.avg_pool3d(x, 2, 1, 0, False, True, 3), (1, 2, 3, 3, 3)),
    T("lp_pool2d", lambda x: jaxconv.lp_pool2d(x, 2, 2, 1), (2, 2, 4, 4)),
    T("lp_pool1d_inf", lambda x: jaxconv.lp_pool1d(x, float("inf"), 2), (2, 2, 6), fwd=False),
    T("adaptive_avg_pool2d", lambda x: jaxconv.adaptive_avg_pool2d(x, (2, 3)), (2, 2, 5, 4)),
    T("adaptive_max_pool2d", lambda x: jaxconv.adaptive_max_pool2d(x, (3, 2)), (2, 2, 5, 4), fwd=False),
    T("adaptive_avg_pool1d", lambda x: jaxconv.adaptive_avg_pool1d(x, 3), (2, 2, 7)),
    T("max_unpool2d", lambda x: jaxconv.max_unpool2d(x, jnp.broadcast_to(jnp.array([[0, 6], [9, 15]], jnp.int32), x.shape), 2),
      (2, 2, 2, 2), fwd=False),
    T("interpolate_nearest", lambda x: jaxconv.interpolate(x, scale_factor=2, mode="nearest"), (2, 2, 3, 3),
      batchable=False),
    T("interpolate_bilinear", lambda x: jaxconv.interpolate(x, size=(5, 4), mode="bilinear", align_corners=True),
      (2, 2, 3, 3), batchable=False),
    T("interpolate_bicubic", lambda x: jaxconv.interpolate(x, scale_factor=1.5, mode="bicubic"), (2, 2, 3, 3),
      batchable=False),
    T("interpolate_area", lambda x: jaxconv.interpolate(x, size=(2, 3), mode="area"), (2, 2, 5, 5), batchable=False),
    T("interpolate_trilinear", lambda x: jaxconv.interpolate(x, scale_factor=2, mode="trilinear"), (1, 1, 2, 2, 2),
      batchable=False),
    T("interpolate_antialias", lambda x: jaxconv.interpolate(x, size=(3, 2), mode="bicubic", antialias=True), (1, 2, 6, 5),
      batchable=False),
    T("unfold", lambda x: jaxconv.unfold(x, 2, 1, 1, 2), (2, 2, 4, 4)),
    T("fold", lambda x: jaxconv.fold(x, (4, 4), 2, 1, 1, 2), (2, 8, 9)),
    T("pad_reflect", lambda x: jaxconv.pad(x, ((1, 2), (2, 0)), "reflect"), (2, 2, 4, 4)),
    T("pad_circular", lambda x: jaxconv.pad(x, ((1, 1),), "circular"), (2, 2, 5)),
    T("pad_constant", lambda x: jaxconv.pad(x, ((1, 1), (1, 1)), "constant", 0.5), (2, 2, 3, 3)),
    T("pixel_shuffle", lambda x: jaxconv.pixel_shuffle(x, 2), (2, 8, 2, 2)),
    T("pixel_unshuffle", lambda x: jaxconv.pixel_unshuffle(x, 2), (2, 2, 4, 4)),
]
IDS = [t.name for t in OPS]


def _args(t: T, dtype: Any = np.float32, batched: bool = True, seed: int = 0) -> tuple:
    rng = np.random.default_rng(seed)
    shape = t.shape if batched else t.shape[1:]
    args = [jnp.asarray(rng.standard_normal(shape).astype(dtype))]
    if t.wshape is not None:
        args.append(jnp.asarray(rng.standard_normal(t.wshape).astype(dtype)))
        args.append(jnp.asarray(rng.standard_normal(t.bshape).astype(dtype)))
    return tuple(args)


def _close(a: Any, b: Any, tol: float = 1e-6) -> None:
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=tol, atol=tol)


@pytest.mark.parametrize("t", OPS, ids=IDS)
def test_jit(t: T):
    """``jax.jit(op)`` equals the eager op. oracle: the eager call."""
    args = _args(t)
    _close(jax.jit(t.fn)(*args), t.fn(*args))


@pytest.mark.parametrize("t", OPS, ids=IDS)
def test_vmap_over_batch(t: T):
    """vmap over unbatched inputs = the batched call; vmap over an extra axis = per-slice calls.

    oracle: the eager op on the whole batch and on each slice.
    """
    args = _args(t)
    x, rest = args[0], args[1:]
    want = t.fn(*args)
    if t.batchable:
        got = jax.vmap(lambda xi: t.fn(xi, *rest))(x)  # each xi is an unbatched (C, *spatial)
        _close(got, want)
    stacked = jnp.stack([x, x[::-1] * 0.5])  # (2, N, C, *spatial)
    got = jax.vmap(lambda xi: t.fn(xi, *rest))(stacked)
    _close(got[0], want)
    _close(got[1], t.fn(x[::-1] * 0.5, *rest))


WEIGHTED = [t for t in OPS if t.wshape is not None]


@pytest.mark.parametrize("t", WEIGHTED, ids=[t.name for t in WEIGHTED])
def test_vmap_over_weights(t: T):
    """vmap over a stack of (weight, bias) pairs = one call per pair; also under jit. oracle: the eager op."""
    x, w, b = _args(t)
    ws = jnp.stack([w, -w, 2 * w])
    bs = jnp.stack([b, b + 1, -b])
    got = jax.vmap(lambda wi, bi: t.fn(x, wi, bi))(ws, bs)
    got_jit = jax.jit(jax.vmap(lambda wi, bi: t.fn(x, wi, bi)))(ws, bs)
    for k in range(3):
        want = t.fn(x, ws[k], bs[k])
        _close(got[k], want, 1e-5)
        _close(got_jit[k], want, 1e-5)
    # and over the batch and the weights at once (one weight per example)
    both = jax.vmap(lambda xi, wi, bi: t.fn(xi, wi, bi))(x, ws[:2], bs[:2])
    for k in range(2):
        _close(both[k], t.fn(x[k], ws[k], bs[k]), 1e-5)


@pytest.mark.parametrize("t", OPS, ids=IDS)
def test_check_grads_second_order(t: T):
    """``check_grads`` to order 2 (reverse mode; forward mode too where no custom VJP), in float64.

    oracle: finite differences (jax.test_util.check_grads).
    """
    with jax.enable_x64(True):
        args = _args(t, np.float64, seed=1)
        if t.name.startswith("lp_pool2d"):
            args = (jnp.abs(args[0]) + 0.5,)  # away from the p-norm's kink at 0
        # Second order in reverse mode (what training uses: grad of grad, Hessian-vector
        # products); forward mode to first order where there is no custom VJP (each extra
        # mode and order is several more compiles per op).
        check_grads(t.fn, args, order=2, modes=("rev",), atol=1e-5, rtol=1e-5)
        if t.fwd:
            check_grads(t.fn, args, order=1, modes=("fwd",), atol=1e-5, rtol=1e-5)


NO_FWD = [t for t in OPS if not t.fwd]


@pytest.mark.parametrize("t", NO_FWD, ids=[t.name for t in NO_FWD])
def test_forward_mode_is_refused_cleanly(t: T):
    """Ops with a custom VJP refuse jax.jvp with JAX's own TypeError (no wrong numbers).

    oracle: JAX's custom_vjp contract.
    """
    args = _args(t)
    with pytest.raises(TypeError, match=r"forward-mode|jvp"):
        jax.jvp(t.fn, args, tuple(jnp.ones_like(a) for a in args))


@pytest.mark.parametrize("name", ["conv2d", "max_pool2d", "interpolate_bilinear"])
def test_grad_under_jit_and_vmap(name: str):
    """jit(grad), vmap(grad) and grad agree (per-example gradients). oracle: the eager gradient."""
    t = next(o for o in OPS if o.name == name)
    args = _args(t)

    def loss(*a: Any) -> Any:
        return jnp.sum(t.fn(*a) ** 2)

    g = jax.grad(loss)(*args)
    _close(jax.jit(jax.grad(loss))(*args), g, 1e-5)
    x, rest = args[0], args[1:]
    per_example = jax.vmap(lambda xi: jax.grad(lambda xx: loss(xx[None], *rest))(xi))(x)
    # the gradient of a sum over the batch is the sum of per-example gradients
    _close(per_example, jax.grad(lambda xx: loss(xx, *rest))(x), 1e-5)


def test_max_pool_indices_under_vmap_and_jit():
    """return_indices=True under vmap and jit gives the eager values and indices. oracle: the eager op."""
    x = jnp.asarray(np.random.default_rng(0).integers(0, 3, (3, 2, 5, 5)).astype(np.float32))  # ties
    want = jaxconv.max_pool2d(x, 3, 2, 1, 1, True, True)
    for f in (jax.jit(lambda x: jaxconv.max_pool2d(x, 3, 2, 1, 1, True, True)),
              jax.vmap(lambda xi: jaxconv.max_pool2d(xi, 3, 2, 1, 1, True, True))):
        got = f(x)
        np.testing.assert_array_equal(np.asarray(got[0]), np.asarray(want[0]))
        np.testing.assert_array_equal(np.asarray(got[1]), np.asarray(want[1]))


def test_transform_matrix_is_documented():
    """The README's transformation table lists exactly the ops without forward mode. oracle: README.md."""
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    assert "## Transformations and sharding" in readme, "README lacks its Transformations and sharding section"
    section = readme.split("## Transformations and sharding", 1)[1].split("\n## ", 1)[0]
    assert "forward mode" in section and "max_unpool" in section and "adaptive_max_pool" in section
