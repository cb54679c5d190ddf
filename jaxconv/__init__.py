"""jaxconv: the arithmetic of convolutional networks in JAX, exact to PyTorch.

Pure, jit-able, differentiable functions over ``lax.conv_general_dilated`` and
``lax.reduce_window`` with ``torch.nn.functional``'s names, argument order and
defaults, one padding vocabulary for everything (see :mod:`jaxconv.shapes`), and
Flax NNX layers in :mod:`jaxconv.nn`.
"""

from jaxconv import shapes
from jaxconv.conv import conv, conv1d, conv2d, conv3d, corr2d
from jaxconv.padding import pad
from jaxconv.shapes import (
    conv_flops,
    conv_output_shape,
    conv_params,
    conv_transpose_output_shape,
    pool_output_shape,
    receptive_field,
    resolve_padding,
)

__version__ = "0.1.0"

__all__ = [
    "conv",
    "conv1d",
    "conv2d",
    "conv3d",
    "conv_flops",
    "conv_output_shape",
    "conv_params",
    "conv_transpose_output_shape",
    "corr2d",
    "pad",
    "pool_output_shape",
    "receptive_field",
    "resolve_padding",
    "shapes",
]
