"""Input-type rules (issue #13): every public op refuses what is not an array, naming itself and the argument.

torch's functions take tensors only; jaxconv's take JAX and NumPy arrays. A torch tensor, a
Python list, a string or ``None`` where an array is required is a ``TypeError`` of the one
error form (``"conv2d: `weight` must be a JAX or NumPy array, got ..."``), raised before
anything is traced, and a torch tensor's message says how to convert it (``jnp.asarray``).
Also: dtypes that differ between input and weight say which to cast, and an NHWC input to an
NCHW convolution points at ``channels_last=True``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import jax.numpy as jnp
import pytest
from jax import lax

torch = pytest.importorskip("torch", reason="a torch tensor is one of the wrong inputs these tests pass")

import jaxconv  # noqa: E402

X1, X2, X3 = jnp.ones((1, 2, 6)), jnp.ones((1, 2, 6, 6)), jnp.ones((1, 2, 6, 6, 6))
_IDX = {n: jnp.zeros((1, 2) + (3,) * n, jnp.int32) for n in (1, 2, 3)}
_X = {1: X1, 2: X2, 3: X3}

# name -> (call(arrays) -> result, {argument: valid array}, arguments that may be None)
OPS: dict[str, tuple[Callable[..., Any], dict[str, Any], tuple[str, ...]]] = {}


def op(name: str, call: Callable[..., Any], optional: tuple[str, ...] = (), **arrays: Any) -> None:
    OPS[name] = (call, arrays, optional)


for n in (1, 2, 3):
    x = _X[n]
    op(f"conv{n}d", lambda a, _n=n: getattr(jaxconv, f"conv{_n}d")(a["input"], a["weight"]),
       input=x, weight=jnp.ones((3, 2) + (2,) * n))
    op(f"conv_transpose{n}d", lambda a, _n=n: getattr(jaxconv, f"conv_transpose{_n}d")(a["input"], a["weight"]),
       input=x, weight=jnp.ones((2, 3) + (2,) * n))
    for p in ("max", "min", "avg"):
        op(f"{p}_pool{n}d", lambda a, _f=f"{p}_pool{n}d": getattr(jaxconv, _f)(a["input"], 2), input=x)
    op(f"lp_pool{n}d", lambda a, _n=n: getattr(jaxconv, f"lp_pool{_n}d")(a["input"], 2.0, 2), input=x)
    for p in ("avg", "max"):
        op(f"adaptive_{p}_pool{n}d", lambda a, _f=f"adaptive_{p}_pool{n}d": getattr(jaxconv, _f)(a["input"], 2), input=x)
    op(f"max_unpool{n}d", lambda a, _n=n: getattr(jaxconv, f"max_unpool{_n}d")(a["input"], a["indices"], 2),
       input=jnp.ones((1, 2) + (3,) * n), indices=_IDX[n])
op("conv", lambda a: jaxconv.conv(a["input"], a["weight"]), input=X2, weight=jnp.ones((3, 2, 2, 2)))
op("conv_transpose", lambda a: jaxconv.conv_transpose(a["input"], a["weight"]), input=X2, weight=jnp.ones((2, 3, 2, 2)))
op("corr2d", lambda a: jaxconv.corr2d(a["X"], a["K"]), X=jnp.ones((4, 4)), K=jnp.ones((2, 2)))
op("window_reduce", lambda a: jaxconv.window_reduce(a["input"], 0.0, lax.add, 2), input=X2)
op("interpolate", lambda a: jaxconv.interpolate(a["input"], scale_factor=2), input=X2)
op("upsample", lambda a: jaxconv.upsample(a["input"], scale_factor=2), input=X2)
op("upsample_nearest", lambda a: jaxconv.upsample_nearest(a["input"], scale_factor=2), input=X2)
op("upsample_bilinear", lambda a: jaxconv.upsample_bilinear(a["input"], scale_factor=2), input=X2)
op("pad", lambda a: jaxconv.pad(a["input"], 1), input=X2)
op("unfold", lambda a: jaxconv.unfold(a["input"], 2), input=X2)
op("fold", lambda a: jaxconv.fold(a["input"], (3, 3), 2), input=jnp.ones((1, 8, 4)))
op("pixel_shuffle", lambda a: jaxconv.pixel_shuffle(a["input"], 2), input=jnp.ones((1, 4, 2, 2)))
op("pixel_unshuffle", lambda a: jaxconv.pixel_unshuffle(a["input"], 2), input=jnp.ones((1, 1, 4, 4)))
op("linear", lambda a: jaxconv.linear(a["input"], a["weight"]), input=jnp.ones((2, 3)), weight=jnp.ones((4, 3)))
op("batch_norm", lambda a: jaxconv.batch_norm(a["input"], jnp.zeros(2), jnp.ones(2), a["weight"]), ("weight",),
   input=X2, weight=jnp.ones(2))
op("batch_norm_update", lambda a: jaxconv.batch_norm_update(a["input"], a["running_mean"], a["running_var"]),
   input=X2, running_mean=jnp.zeros(2), running_var=jnp.ones(2))
op("layer_norm", lambda a: jaxconv.layer_norm(a["input"], (6,), a["weight"]), ("weight",), input=X2, weight=jnp.ones(6))
op("group_norm", lambda a: jaxconv.group_norm(a["input"], 2, a["weight"]), ("weight",), input=X2, weight=jnp.ones(2))

# Public functions that are not ops on arrays: the shape calculators and the conv tuner (which takes a
# function and its example arguments); public modules and classes are skipped.
NOT_OPS = {"conv_flops", "conv_output_shape", "conv_params", "conv_transpose_output_shape", "pool_output_shape",
           "receptive_field", "resolve_padding", "tune"}

WRONG = {
    "torch": lambda v: torch.from_numpy(jnp.asarray(v).__array__().copy()),
    "list": lambda v: jnp.asarray(v).tolist(),
    "str": lambda v: "abc",
    "None": lambda v: None,
}

CASES = [(name, arg, kind) for name, (_, arrays, optional) in OPS.items() for arg in arrays for kind in WRONG
         if not (kind == "None" and arg in optional)]


def test_every_public_function_is_covered() -> None:
    """oracle: jaxconv.__all__: every public function is an op on arrays (and in the table) or one of NOT_OPS."""
    functions = {n for n in jaxconv.__all__ if not inspect.ismodule(v := getattr(jaxconv, n)) and not inspect.isclass(v)}
    assert set(OPS) | (NOT_OPS & functions) == functions
    assert not set(OPS) & NOT_OPS


@pytest.mark.parametrize("name", sorted(OPS))
def test_valid_call_runs(name: str) -> None:
    """oracle: the table's own arguments are valid (so each wrong-type case changes one thing only)."""
    call, arrays, _ = OPS[name]
    call(dict(arrays))


@pytest.mark.parametrize("name, arg, kind", CASES, ids=[f"{n}-{a}-{k}" for n, a, k in CASES])
def test_wrong_type_is_a_type_error_naming_fn_and_argument(name: str, arg: str, kind: str) -> None:
    """oracle: the error rule: TypeError "<fn>: `<argument>` ...", and for a torch tensor the conversion, jnp.asarray."""
    call, arrays, _ = OPS[name]
    args = dict(arrays)
    args[arg] = WRONG[kind](arrays[arg])
    with pytest.raises(TypeError, match=rf"^{name}: `{arg}`") as info:
        call(args)
    if kind == "torch":
        assert "jnp.asarray" in str(info.value)


_WEIGHTED = [name for name, (_, arrays, _) in OPS.items() if "weight" in arrays]


@pytest.mark.parametrize("name", _WEIGHTED)
def test_dtype_mismatch_says_which_to_cast(name: str) -> None:
    """oracle: the error rule: a float32 input with a bfloat16 weight names the weight and the cast (astype)."""
    call, arrays, _ = OPS[name]
    args = dict(arrays)
    args["weight"] = arrays["weight"].astype(jnp.bfloat16)
    with pytest.raises(TypeError, match=rf"^{name}: `weight`") as info:
        call(args)
    assert "astype" in str(info.value)


def test_nhwc_input_to_nchw_conv_points_at_channels_last() -> None:
    """oracle: issue #13: input (1, 8, 8, 3) with weight (4, 3, 3, 3): the input's last dim is in_channels."""
    with pytest.raises(ValueError, match=r"^conv2d: `input`") as info:
        jaxconv.conv2d(jnp.ones((1, 8, 8, 3)), jnp.ones((4, 3, 3, 3)))
    assert "channels_last=True" in str(info.value)
