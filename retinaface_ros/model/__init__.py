"""RetinaFace network, anchors and box coding (pure PyTorch, no ROS).

Names are imported lazily, so that ``retinaface_ros.model.config`` (backbone names and settings, no torch) can
be read on a machine without PyTorch, e.g. by the ``retinaface`` command's argument parser.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "BACKBONES": "retinaface_ros.model.config",
    "ModelConfig": "retinaface_ros.model.config",
    "config_for": "retinaface_ros.model.config",
    "PriorBoxes": "retinaface_ros.model.priors",
    "RetinaFace": "retinaface_ros.model.retinaface",
    "decode_boxes": "retinaface_ros.model.box_coder",
    "decode_landmarks": "retinaface_ros.model.box_coder",
    "encode_boxes": "retinaface_ros.model.box_coder",
    "encode_landmarks": "retinaface_ros.model.box_coder",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'retinaface_ros.model' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)
