"""Training of RetinaFace: augmentation, MultiBox loss, checkpoints and the ``fit`` loop (no ROS).

The names below are imported lazily (they need torch), so that torch-free modules of this package (e.g.
``goal_fields``, which the ``retinaface train`` command's parser uses) import without torch installed.
"""

from retinaface_ros.lazy_exports import lazy_exports

_EXPORTS = {
    "TrainTransform": "retinaface_ros.training.augment",
    "checkpoint_path": "retinaface_ros.training.checkpoint",
    "load_checkpoint": "retinaface_ros.training.checkpoint",
    "resume_checkpoint_path": "retinaface_ros.training.checkpoint",
    "save_checkpoint": "retinaface_ros.training.checkpoint",
    "stopped_checkpoint_path": "retinaface_ros.training.checkpoint",
    "fit": "retinaface_ros.training.loop",
    "load_backbone_weights": "retinaface_ros.training.loop",
    "MultiBoxLoss": "retinaface_ros.training.loss",
    "match": "retinaface_ros.training.loss",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
