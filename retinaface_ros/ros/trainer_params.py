"""The trainer node's parameters: one :class:`~retinaface_ros.ros.params.ParamSpec` table, as the detector's.

``TRAINER_PARAMETERS`` drives the node's declarations (descriptors and ranges through
:func:`~retinaface_ros.ros.params.parameter_descriptors`), ``config/trainer.yaml`` (checked against it by a
test) and :meth:`TrainerParams.from_values`, which validates both a full set and a live change (every
parameter is read again at the next goal, so all of them may change while the node runs). Bounds come from
:mod:`retinaface_ros.validation`, the same as the learner's, the Train goal's and ``retinaface train``'s.
ROS-free apart from the descriptors.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from retinaface_ros.ros.params import ParameterError, ParamSpec, with_defaults
from retinaface_ros.training.goal import TrainerDefaults
from retinaface_ros.validation import (
    MAX_SCALE,
    TRAINING_BOUNDS,
    check_device,
    check_train_image_size,
    check_training_value,
)

_LOG_AFTER = TRAINING_BOUNDS["log_after"]

TRAINER_PARAMETERS: tuple[ParamSpec, ...] = (
    ParamSpec(
        "log_after",
        20,
        "Feedback and a log line every this many iterations",
        live=True,
        int_range=(int(_LOG_AFTER[0]), int(_LOG_AFTER[1])),
    ),
    ParamSpec(
        "default_device",
        "auto",
        "Device when a goal leaves it empty: 'auto', 'cpu', 'cuda' or 'cuda:N'",
        live=True,
    ),
    ParamSpec(
        "deploy_to",
        "",
        "Detector node whose model_path is set to the trained model ('' = none)",
        live=True,
    ),
    ParamSpec(
        "image_size",
        0,
        "Training image size, a multiple of 32 and ≥ 64 (0 = default: 640 mnet, 840 resnet)",
        live=True,
        int_range=(0, MAX_SCALE),
    ),
    ParamSpec(
        "workdir",
        "",
        "Folder for runs whose goal has no output_path ('' = ~/.ros/retinaface_training)",
        live=True,
    ),
    ParamSpec(
        "tensorboard_dir",
        "",
        "TensorBoard event files of each run ('' = <output_path>/tensorboard)",
        live=True,
    ),
)
TRAINER_PARAMETER_NAMES: tuple[str, ...] = tuple(spec.name for spec in TRAINER_PARAMETERS)
TRAINER_SPECS: dict[str, ParamSpec] = {spec.name: spec for spec in TRAINER_PARAMETERS}


@dataclass(frozen=True)
class TrainerParams:
    """The trainer node's settings, validated; build with :meth:`from_values`."""

    log_after: int
    default_device: str
    deploy_to: str
    image_size: int
    workdir: str
    tensorboard_dir: str

    @classmethod
    def from_values(cls, values: Mapping[str, Any]) -> TrainerParams:
        """Validate a set of values (missing names take their defaults); raise ParameterError."""
        merged = with_defaults(values, TRAINER_PARAMETERS)
        try:
            for name in ("default_device", "deploy_to", "workdir", "tensorboard_dir"):
                if not isinstance(merged[name], str):
                    raise TypeError(f"{name} must be a string, got {type(merged[name]).__name__}")
            merged["log_after"] = check_training_value("log_after", merged["log_after"])
            if merged["image_size"] != 0 or isinstance(merged["image_size"], bool):
                merged["image_size"] = check_train_image_size(merged["image_size"])
            if merged["default_device"] != "auto":
                check_device(merged["default_device"])
        except (TypeError, ValueError) as error:
            raise ParameterError(str(error).replace("device must", "default_device must", 1)) from None
        return cls(**merged)

    def updated(self, changes: Mapping[str, Any]) -> TrainerParams:
        """A copy with ``changes`` applied, validated."""
        return TrainerParams.from_values({**self.as_values(), **changes})

    def as_values(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @property
    def defaults(self) -> TrainerDefaults:
        """What a goal falls back on."""
        return TrainerDefaults(
            log_after=self.log_after,
            default_device=self.default_device,
            image_size=self.image_size,
            workdir=self.workdir,
        )
