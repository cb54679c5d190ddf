"""Window arithmetic for convolution and pooling: pure Python integers, no JAX.

Every rule about windows lives here and only here: argument canonicalisation and
validation, the padding vocabulary (:func:`resolve_padding`), output sizes of
convolutions, pools and transposed convolutions, parameter and FLOP counts, and
receptive fields, and the frozen specs the ops run. The ops modules call one spec
builder per call, with static shapes, and hand the spec unchanged to one formulation.

Three modules, one concept each:

- :mod:`jaxconv.shapes.arguments`: argument types, canonical tuples, the one error form, spec caches;
- :mod:`jaxconv.shapes.rules`: the window rules (padding vocabulary, output sizes, divisors, bins, ...);
- :mod:`jaxconv.shapes.specs`: the frozen per-call specs and the checks a layer's constructor makes.

The padding vocabulary (spatial dims always in array order, first spatial dim
first)::

    2                       -> ((2, 2), (2, 2))          every side of every dim
    (1, 2)                  -> ((1, 1), (2, 2))          per dim, both sides
    ((1, 0), (2, 3))        -> ((1, 0), (2, 3))          per side: (top, bottom), (left, right)
    "valid"                 -> ((0, 0), (0, 0))
    "same"                  -> XLA/TensorFlow SAME, any stride and dilation, odd pixel at the end
    "same_lower"            -> like "same", odd pixel at the start
    "full"                  -> (k_eff - 1, k_eff - 1) per dim
    "causal"                -> (k_eff - 1, 0) per dim

Note that torch's ``F.pad`` takes a *flat* tuple starting from the LAST dim:
``F.pad(x, (left, right, top, bottom))`` is ``((top, bottom), (left, right))``
here; :func:`from_torch_pad` converts. torch's ``Conv2d(padding=(1, 0))`` is per
dim in array order, as here: one row on top and bottom, no columns.

``python -m jaxconv --help`` (also installed as ``jaxconv-shapes``) is a command-line calculator
over these rules, printing the formulas with the numbers filled in (:mod:`jaxconv.cli`).
"""

from __future__ import annotations

import functools
import warnings
from typing import Any

from jaxconv.shapes import arguments, rules, specs
from jaxconv.shapes.arguments import *  # noqa: F403
from jaxconv.shapes.rules import *  # noqa: F403
from jaxconv.shapes.specs import *  # noqa: F403

__all__ = []
__all__ += arguments.__all__
__all__ += rules.__all__
__all__ += specs.__all__


@functools.cache
def _shape_error() -> type[ValueError]:
    class ShapeError(ValueError):
        """Deprecated: never raised (jaxconv raises ``ValueError``/``TypeError``); removed in the next release."""

    ShapeError.__module__ = __name__
    return ShapeError


def __getattr__(name: str) -> Any:
    # Names that left this module's API: they keep working for a release, with a warning.
    if name == "ShapeError":
        warnings.warn("jaxconv.shapes.ShapeError is deprecated (jaxconv raises ValueError); it will be removed",
                      DeprecationWarning, stacklevel=2)
        return _shape_error()
    if name == "main":
        warnings.warn("jaxconv.shapes.main is deprecated; use jaxconv.cli.main (python -m jaxconv, or jaxconv-shapes)",
                      DeprecationWarning, stacklevel=2)
        from jaxconv.cli import main

        return main
    if name == "_is_int":
        return arguments.is_int
    raise AttributeError(f"module 'jaxconv.shapes' has no attribute {name!r}")
