"""Image → tensor → network → decode → NMS → :class:`~retinaface_ros.detections.Detections`.

:mod:`.detector` runs the stages; :mod:`.staging` fills the input batch, :mod:`.cuda_graphs` and
:mod:`.compile` speed the network up on CUDA, :mod:`.postprocess` decodes the head outputs and :mod:`.nms`
suppresses overlaps.
Names are imported lazily, so that importing the package does not import torch.
"""

from __future__ import annotations

from retinaface_ros.lazy_exports import lazy_exports

_EXPORTS = {
    "Detector": "retinaface_ros.inference.detector",
    "fast_detector": "retinaface_ros.inference.detector",
    "as_bgr_image": "retinaface_ros.inference.detector",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
