"""RetinaFace network, anchors and box coding (pure PyTorch, no ROS).

Names are imported lazily, so that ``retinaface_ros.model.config`` (backbone names and settings, no torch) can
be read on a machine without PyTorch, e.g. by the ``retinaface`` command's argument parser.
"""

from __future__ import annotations

from retinaface_ros.lazy_exports import lazy_exports

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


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
