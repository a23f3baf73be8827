"""A validated training job (:class:`~retinaface_ros.training.goal.TrainingJob`, from a Train goal's
fields) → the learner, data sets and starting weights ``fit`` needs; no ROS. The one path of
``retinaface train`` and the trainer node's Train action."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class PreparedJob:
    learner: Any  # RetinaFaceLearner, the pretrained model loaded when the job names one
    dataset: Any  # WiderFaceDataset (training split)
    val_dataset: Any  # WiderFaceDataset (validation split) or None
    pretrained_backbone: Path | None  # ImageNet backbone weights for fit, when the job names those

    def fit(
        self, job: Any, callback: Callable[[dict], None], should_stop: Callable[[], bool], **extra: Any
    ) -> dict:
        """``learner.fit`` on these data sets and starting weights with the job's settings, quietly (progress
        goes to ``callback`` only); ``extra`` are further fit keywords (``seed``). Returns fit's history."""
        return self.learner.fit(
            self.dataset,
            val_dataset=self.val_dataset,
            from_scratch=job.from_scratch,
            silent=True,
            verbose=False,
            image_size=job.image_size,
            pretrained_backbone=self.pretrained_backbone,
            callback=callback,
            should_stop=should_stop,
            **extra,
        )


def prepare_job(job: Any) -> PreparedJob:
    """Build the learner and read the data sets (the train split, and ``val`` where the folder has one)."""
    from retinaface_ros.datasets import WiderFaceDataset
    from retinaface_ros.learner import RetinaFaceLearner
    from retinaface_ros.training.goal import pretrained_kind, split_for, validation_dataset

    learner = RetinaFaceLearner(**job.learner_kwargs)
    dataset = WiderFaceDataset(job.dataset_root, [split_for(job.dataset_root, "train")])
    val = None
    if job.val_dataset_root is not None:
        val = validation_dataset(job.val_dataset_root)
    backbone = None
    if job.pretrained_model is not None:
        if pretrained_kind(job.pretrained_model) == "model":
            learner.load(job.pretrained_model, verbose=False)
        else:
            backbone = job.pretrained_model
    return PreparedJob(learner, dataset, val, backbone)
