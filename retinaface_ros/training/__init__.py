"""Training of RetinaFace (no ROS): a validated :class:`TrainingConfig`, ``fit(model, config, dataset)`` →
:class:`TrainingResult`, augmentation, MultiBox loss, checkpoints, and the Train goal → job translation."""

from retinaface_ros.training.augment import TrainTransform
from retinaface_ros.training.checkpoint import (
    checkpoint_path,
    load_checkpoint,
    resume_checkpoint_path,
    save_checkpoint,
    stopped_checkpoint_path,
)
from retinaface_ros.training.config import TrainingConfig
from retinaface_ros.training.loop import TrainingResult, fit, load_backbone_weights
from retinaface_ros.training.loss import MultiBoxLoss, match

__all__ = [
    "MultiBoxLoss",
    "TrainTransform",
    "TrainingConfig",
    "TrainingResult",
    "checkpoint_path",
    "fit",
    "load_backbone_weights",
    "load_checkpoint",
    "match",
    "resume_checkpoint_path",
    "save_checkpoint",
    "stopped_checkpoint_path",
]
