"""Flax NNX layers with torch.nn's constructors and weight layouts, PyTorch import, and summary.

``import jaxconv.nn`` never imports torch: :func:`from_torch` imports it when called.
"""

from jaxconv.nn import activations, layers, normalization, pooling
from jaxconv.nn.activations import *  # noqa: F403
from jaxconv.nn.layers import *  # noqa: F403
from jaxconv.nn.normalization import *  # noqa: F403
from jaxconv.nn.pooling import *  # noqa: F403
from jaxconv.nn.summary import Summary, summary
from jaxconv.nn.torch_import import from_torch, load_torch_state_dict, supported_torch_layers, to_torch_state_dict

__all__ = ["Summary", "from_torch", "load_torch_state_dict", "summary", "supported_torch_layers", "to_torch_state_dict"]
__all__ += activations.__all__
__all__ += layers.__all__
__all__ += normalization.__all__
__all__ += pooling.__all__
