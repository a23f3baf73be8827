"""Train goal → learner / fit arguments: a pure function (no rclpy, no tensors), testable anywhere.

The goal follows ``retinaface_interfaces/action/Train``: empty strings and 0 mean "the trainer's default",
e.g. ``val_after`` (0 = every epoch when there is a validation set) and ``checkpoint_after_iter`` (0 = every
epoch). Negative or non-finite numbers abort the goal with the reason; the bounds are
:mod:`retinaface_ros.validation`'s.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from retinaface_ros.validation import check_training_value

BACKBONE_ALIASES = {
    "": "mnet",
    "mnet": "mnet",
    "mobilenet": "mnet",
    "mobilenet0.25": "mnet",
    "mobilenet0_25": "mnet",
    "resnet": "resnet",
    "resnet50": "resnet",
    "resnet-50": "resnet",
}
DEVICES = ("auto", "cpu", "cuda")


@dataclass(frozen=True)
class TrainerDefaults:
    """The node parameters a goal falls back on."""

    log_after: int = 20
    default_device: str = "auto"
    image_size: int = 0  # 0 = the backbone's training size
    workdir: str = ""


@dataclass(frozen=True)
class TrainingJob:
    """Everything one goal asks for, validated: ``learner_kwargs`` feed RetinaFaceLearner(...)."""

    dataset_root: Path
    val_dataset_root: Path | None
    pretrained_model: Path | None
    from_scratch: bool
    output_path: Path
    image_size: int | None
    learner_kwargs: dict[str, Any] = field(default_factory=dict)


def resolve_backbone(name: str) -> str:
    key = name.strip().lower()
    if key not in BACKBONE_ALIASES:
        raise ValueError(f"unknown backbone {name!r}: use one of {sorted(k for k in BACKBONE_ALIASES if k)}")
    return BACKBONE_ALIASES[key]


def resolve_device(device: str, default_device: str, cuda_available: bool) -> str:
    """Goal device, else the node default; 'auto' → 'cuda' when a GPU is visible, else 'cpu'."""
    chosen = device.strip() or default_device
    if chosen == "auto":
        return "cuda" if cuda_available else "cpu"
    return chosen


def default_workdir(workdir: str) -> Path:
    return Path(workdir).expanduser() if workdir else Path("~/.ros/retinaface_training").expanduser()


GOAL_NUMBERS = ("lr", "batch_size", "epochs", "checkpoint_after_iter", "checkpoint_load_iter", "val_after")


def goal_number(goal: Any, name: str) -> float | int:
    """A number of the goal: 0 (the default) or a value within ``validation.TRAINING_BOUNDS``; anything
    else (negative, NaN, infinite, too large) is a ValueError naming the field."""
    value = getattr(goal, name)
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"goal field {name} must be finite, got {value}")
    if value == 0:
        return value
    if value < 0:
        raise ValueError(f"goal field {name} must be 0 (the default) or positive, got {value}")
    try:
        return check_training_value(name, value)
    except (TypeError, ValueError) as error:
        raise ValueError(f"goal field {error}") from None


def goal_to_job(
    goal: Any, defaults: TrainerDefaults, cuda_available: bool = False, now: float | None = None
) -> TrainingJob:
    """Validate a Train goal (any object with its fields) and turn it into a :class:`TrainingJob`."""
    if not goal.dataset_root.strip():
        raise ValueError("dataset_root is required (a WIDER FACE folder)")
    dataset_root = Path(goal.dataset_root).expanduser()
    if not dataset_root.is_dir():
        raise FileNotFoundError(f"dataset_root not found: {dataset_root}")
    val_root = Path(goal.val_dataset_root).expanduser() if goal.val_dataset_root.strip() else None
    if val_root is not None and not val_root.is_dir():
        raise FileNotFoundError(f"val_dataset_root not found: {val_root}")
    if val_root is not None and not any((val_root / f"WIDER_{s}").is_dir() for s in ("val", "train")):
        raise FileNotFoundError(
            f"val_dataset_root {val_root} is not a WIDER FACE validation set: it holds no WIDER_val/ folder"
        )
    pretrained = Path(goal.pretrained_model).expanduser() if goal.pretrained_model.strip() else None
    if pretrained is not None and not goal.from_scratch and not pretrained.exists():
        raise FileNotFoundError(f"pretrained_model not found: {pretrained}")
    numbers = {name: goal_number(goal, name) for name in GOAL_NUMBERS}
    if goal.output_path.strip():
        output = Path(goal.output_path).expanduser()
    elif numbers["checkpoint_load_iter"] > 0:
        raise ValueError(
            "checkpoint_load_iter needs output_path: the run folder whose checkpoints/ holds the checkpoint "
            "(an empty output_path starts a new run folder)"
        )
    else:
        stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(time.time() if now is None else now))
        output = default_workdir(defaults.workdir) / f"run-{stamp}"
    backbone = resolve_backbone(goal.backbone)
    learner_kwargs = {
        "backbone": backbone,
        "lr_steps": goal.lr_steps.strip() or "0",
        "flip": bool(goal.flip),
        "checkpoint_after_iter": numbers["checkpoint_after_iter"] or 1,
        "checkpoint_load_iter": numbers["checkpoint_load_iter"],
        # a validation set without val_after: validate after every epoch
        "val_after": (numbers["val_after"] or 1) if val_root is not None else 0,
        "log_after": defaults.log_after,
        "temp_path": str(output / "checkpoints"),
        "device": resolve_device(goal.device, defaults.default_device, cuda_available),
    }
    for name in ("lr", "batch_size", "epochs"):  # left at 0: the learner's own defaults
        if numbers[name] != 0:
            learner_kwargs[name] = numbers[name]
    return TrainingJob(
        dataset_root=dataset_root,
        val_dataset_root=val_root,
        pretrained_model=None if goal.from_scratch else pretrained,
        from_scratch=bool(goal.from_scratch),
        output_path=output,
        image_size=defaults.image_size or None,
        learner_kwargs=learner_kwargs,
    )


def validation_dataset(root: Path) -> Any:
    """The validation set under ``root`` (its WIDER_val split, else WIDER_train); errors name it as the
    validation set."""
    from retinaface_ros.datasets import WiderFaceDataset

    try:
        return WiderFaceDataset(root, [split_for(root, "val")])
    except (FileNotFoundError, ValueError) as error:
        raise type(error)(f"val_dataset_root {root} is not a usable validation set: {error}") from None


def split_for(root: Path, preferred: str) -> str:
    """``preferred`` when ``root/WIDER_<preferred>`` exists, else 'train'."""
    return preferred if (root / f"WIDER_{preferred}").is_dir() else "train"


def pretrained_kind(path: Path) -> str:
    """'model' for a RetinaFace state dict / OpenDR folder, 'backbone' for ImageNet backbone weights."""
    if path.is_dir() or path.suffix == ".json":
        return "model"
    from retinaface_ros.io.state_dicts import detector_backbone, read_state_dict

    return "model" if detector_backbone(read_state_dict(path)) else "backbone"
