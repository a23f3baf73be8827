"""retinaface_ros: RetinaFace face detection (PyTorch) with a ROS 2 layer.

The public API is imported lazily so that ``import retinaface_ros`` stays cheap and works without torch or
ROS installed (e.g. for the CLI's help or packaging checks).
"""

from __future__ import annotations

from retinaface_ros.lazy_exports import lazy_exports

__version__ = "0.1.0"

_EXPORTS = {
    "RetinaFaceLearner": "retinaface_ros.learner",
    "Image": "retinaface_ros.types",
    "BoundingBox": "retinaface_ros.types",
    "BoundingBoxList": "retinaface_ros.types",
    "draw_bounding_boxes": "retinaface_ros.drawing",
    "Detections": "retinaface_ros.detections",
    "DetectionDataset": "retinaface_ros.datasets",
    "WiderFaceDataset": "retinaface_ros.datasets",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
