"""``import_torchvision()``: torchvision's models beside the CPU-only torch of this environment.

Why: the torchvision 0.28.0 wheel installed here is CUDA-linked; its C++ ops library fails
to load beside the CPU build of torch 2.13.0, and ``import torchvision`` then stops at
``operator torchvision::nms does not exist`` (its Python code registers fake kernels for
those ops at import time). The models themselves are pure Python and never call the C++
ops, so defining the two op schemas before the import is enough. Nothing is downloaded:
the tests build every model with ``weights=None``.
"""

from __future__ import annotations

from typing import Any

_SCHEMA = "(Tensor dets, Tensor scores, float iou_threshold) -> Tensor"


def import_torchvision() -> Any:
    """``import torchvision`` (the module), defining ``torchvision::nms``/``qnms`` first if no library did."""
    import torch

    for name in ("nms", "qnms"):
        try:
            torch.library.define(f"torchvision::{name}", _SCHEMA)
        except RuntimeError:  # already defined: by an earlier call, or by a working torchvision C++ library
            pass
    import torchvision

    return torchvision
