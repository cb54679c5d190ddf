"""jaxconv: the arithmetic of convolutional networks in JAX, exact to PyTorch.

Pure, jit-able, differentiable functions over ``lax.conv_general_dilated`` and
``lax.reduce_window`` with ``torch.nn.functional``'s names, argument order and
defaults, one padding vocabulary for everything (see :mod:`jaxconv.shapes`), and
Flax NNX layers in :mod:`jaxconv.nn`.
"""

from jaxconv import shapes
from jaxconv.conv import conv, conv1d, conv2d, conv3d, corr2d
from jaxconv.linear import linear
from jaxconv.normalization import batch_norm, batch_norm_update, group_norm, layer_norm
from jaxconv.padding import pad
from jaxconv.patches import fold, pixel_shuffle, pixel_unshuffle, unfold
from jaxconv.pool import (
    adaptive_avg_pool1d,
    adaptive_avg_pool2d,
    adaptive_avg_pool3d,
    adaptive_max_pool1d,
    adaptive_max_pool2d,
    adaptive_max_pool3d,
    avg_pool1d,
    avg_pool2d,
    avg_pool3d,
    lp_pool1d,
    lp_pool2d,
    lp_pool3d,
    max_pool1d,
    max_pool2d,
    max_pool3d,
    max_unpool1d,
    max_unpool2d,
    max_unpool3d,
    min_pool1d,
    min_pool2d,
    min_pool3d,
    window_reduce,
)
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
from jaxconv.transpose import conv_transpose, conv_transpose1d, conv_transpose2d, conv_transpose3d

__version__ = "0.1.0"

__all__ = [
    "adaptive_avg_pool1d",
    "adaptive_avg_pool2d",
    "adaptive_avg_pool3d",
    "adaptive_max_pool1d",
    "adaptive_max_pool2d",
    "adaptive_max_pool3d",
    "avg_pool1d",
    "avg_pool2d",
    "avg_pool3d",
    "batch_norm",
    "batch_norm_update",
    "conv",
    "conv1d",
    "conv2d",
    "conv3d",
    "conv_flops",
    "conv_output_shape",
    "conv_params",
    "conv_transpose",
    "conv_transpose1d",
    "conv_transpose2d",
    "conv_transpose3d",
    "conv_transpose_output_shape",
    "corr2d",
    "fold",
    "group_norm",
    "interpolate",
    "layer_norm",
    "linear",
    "lp_pool1d",
    "lp_pool2d",
    "lp_pool3d",
    "max_pool1d",
    "max_pool2d",
    "max_pool3d",
    "max_unpool1d",
    "max_unpool2d",
    "max_unpool3d",
    "min_pool1d",
    "min_pool2d",
    "min_pool3d",
    "pad",
    "pixel_shuffle",
    "pixel_unshuffle",
    "pool_output_shape",
    "receptive_field",
    "resolve_padding",
    "shapes",
    "unfold",
    "upsample",
    "upsample_bilinear",
    "upsample_nearest",
    "window_reduce",
]
