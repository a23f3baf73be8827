"""Image → tensor → network → decode → NMS → :class:`~retinaface_ros.detections.Detections`.

:mod:`.detector` runs one call with the :mod:`.options` it was given; :mod:`.preprocess` (with
:mod:`.staging`) makes the network input, :mod:`retinaface_ros.backends` run the network (:mod:`.cuda_graphs`
and :mod:`.compile` speed torch up on CUDA), :mod:`.postprocess` decodes the head outputs (numpy, torch,
packed) and :mod:`.nms` suppresses overlaps.
Names are imported lazily; only the torch backend and postprocess variants import torch.
"""

from __future__ import annotations

from retinaface_ros.lazy_exports import lazy_exports

_EXPORTS = {
    "Detector": "retinaface_ros.inference.detector",
    "fast_detector": "retinaface_ros.inference.detector",
    "DetectorOptions": "retinaface_ros.inference.options",
    "as_bgr_image": "retinaface_ros.inference.preprocess",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
