"""Training of RetinaFace (no ROS): a validated :class:`TrainingConfig`, ``fit(model, config, dataset)`` →
:class:`TrainingResult`, augmentation, MultiBox loss, checkpoints, and the Train goal → job translation.

Names are imported lazily, so that the torch-free submodules (``goal_fields`` for the ``retinaface``
command's parser) import without PyTorch.
"""

from __future__ import annotations

from retinaface_ros.lazy_exports import lazy_exports

_EXPORTS = {
    "MultiBoxLoss": "retinaface_ros.training.loss",
    "TrainTransform": "retinaface_ros.training.augment",
    "TrainingConfig": "retinaface_ros.training.config",
    "TrainingResult": "retinaface_ros.training.loop",
    "checkpoint_path": "retinaface_ros.training.checkpoint",
    "fit": "retinaface_ros.training.loop",
    "load_backbone_weights": "retinaface_ros.training.loop",
    "load_checkpoint": "retinaface_ros.training.checkpoint",
    "match": "retinaface_ros.training.loss",
    "resume_checkpoint_path": "retinaface_ros.training.checkpoint",
    "save_checkpoint": "retinaface_ros.training.checkpoint",
    "stopped_checkpoint_path": "retinaface_ros.training.checkpoint",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
