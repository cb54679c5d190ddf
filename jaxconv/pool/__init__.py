"""Pooling exact to PyTorch: max, min, average, power-average and adaptive pools, and unpooling.

Every pool is a fold over its window *taps* (:mod:`jaxconv.taps`: one strided slice of the
input per kernel offset, positions outside the input filled with the reduction's identity)
in torch's scan order; :func:`window_reduce` is the generic reducer (Flax's
``pooling.pool``), the rest are ``torch.nn.functional``'s functions with its names,
positional order and defaults. Window arithmetic comes from :mod:`jaxconv.shapes`.

- :mod:`jaxconv.pool.extreme`: max and min pools with torch's winner rule and their VJP,
  adaptive max pools;
- :mod:`jaxconv.pool.average`: average, power-average and adaptive average pools;
- :mod:`jaxconv.pool.unpool`: max unpooling;
- :mod:`jaxconv.pool.generic`: :func:`window_reduce`.
"""

from jaxconv import shapes as _shapes
from jaxconv._plumbing import moved_names as _moved_names
from jaxconv.pool import average, extreme, generic, unpool
from jaxconv.pool.average import *  # noqa: F403
from jaxconv.pool.extreme import *  # noqa: F403
from jaxconv.pool.generic import *  # noqa: F403
from jaxconv.pool.unpool import *  # noqa: F403

__all__ = []
__all__ += average.__all__
__all__ += extreme.__all__
__all__ += generic.__all__
__all__ += unpool.__all__

__getattr__ = _moved_names(__name__, PoolSpec=("jaxconv.shapes.PoolSpec", lambda: _shapes.PoolSpec))
