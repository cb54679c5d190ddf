"""jaxconv: the arithmetic of convolutional networks in JAX, exact to PyTorch.

Pure, jit-able, differentiable functions over ``lax.conv_general_dilated`` and
``lax.reduce_window`` with ``torch.nn.functional``'s names, argument order and
defaults, one padding vocabulary for everything (see :mod:`jaxconv.shapes`), and
Flax NNX layers in :mod:`jaxconv.nn`.
"""

import sys as _sys
import types as _types
import warnings as _warnings

from jaxconv import affine, convolution, host_memory, normalization, patches, policy, pool, shapes, transpose, tuning
from jaxconv.affine import *  # noqa: F403
from jaxconv.convolution import *  # noqa: F403
from jaxconv.normalization import *  # noqa: F403
from jaxconv.padding import pad
from jaxconv.patches import *  # noqa: F403
from jaxconv.pool import *  # noqa: F403
from jaxconv.resize import interpolate, upsample, upsample_bilinear, upsample_nearest
from jaxconv.shapes import (
    conv_flops,
    conv_output_shape,
    conv_params,
    conv_transpose_output_shape,
    pool_output_shape,
    receptive_field,
    resolve_padding,
)
from jaxconv.transpose import *  # noqa: F403
from jaxconv.tuning import tune

__version__ = "0.1.0"

# The ops (each op module's __all__), the shape rules most used, measured plans (`tune`), and the
# four modules users reach through the package (the shape rules, the algorithm policy, tuning, host memory).
__all__ = ["conv_flops", "conv_output_shape", "conv_params", "conv_transpose_output_shape", "host_memory", "interpolate", "pad",
           "policy", "pool_output_shape", "receptive_field", "resolve_padding", "shapes", "tune", "tuning",
           "upsample", "upsample_bilinear", "upsample_nearest"]
__all__ += affine.__all__
__all__ += convolution.__all__
__all__ += normalization.__all__
__all__ += patches.__all__
__all__ += pool.__all__
__all__ += transpose.__all__


class _MovedModule(_types.ModuleType):
    """A module path that moved (``jaxconv.conv`` -> :mod:`jaxconv.convolution`, ``jaxconv.linear`` ->
    :mod:`jaxconv.affine`, so that the functions ``jaxconv.conv`` and ``jaxconv.linear`` no longer hide
    their modules): it works for a release, with a ``DeprecationWarning``.

    The package attributes are the functions; ``from jaxconv.conv import conv2d`` and
    ``importlib.import_module("jaxconv.conv")`` find this stand-in in ``sys.modules``.
    """

    def __init__(self, name: str, target: str) -> None:
        super().__init__(name)
        self._target = target

    def __getattr__(self, attr: str) -> object:
        import importlib

        if attr.startswith("__"):
            raise AttributeError(attr)
        _warnings.warn(f"the module {self.__name__} is now {self._target}; {self.__name__} will be removed in the next release",
                       DeprecationWarning, stacklevel=2)
        if attr in ("ConvSpec", "conv_spec"):
            return getattr(shapes, attr)
        return getattr(importlib.import_module(self._target), attr)


for _old, _new in (("conv", "convolution"), ("linear", "affine")):
    _sys.modules.setdefault(f"{__name__}.{_old}", _MovedModule(f"{__name__}.{_old}", f"{__name__}.{_new}"))
