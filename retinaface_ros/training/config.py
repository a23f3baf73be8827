"""``TrainingConfig``: every setting of one ``fit``, validated once (bounds from
:mod:`retinaface_ros.validation`), frozen, no ROS.

Build it from a learner's settings (:meth:`TrainingConfig.from_learner`, what ``RetinaFaceLearner.fit``
does) or directly (``TrainingConfig(backbone="mnet", epochs=10, checkpoint_dir="ckpt")``); ``retinaface
train`` and the trainer node's Train goals reach it through the learner they prepare
(:mod:`retinaface_ros.training.goal`, :mod:`retinaface_ros.training.job_setup`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from retinaface_ros.model.config import BACKBONES, ModelConfig, config_for
from retinaface_ros.training.batches import DEFAULT_SEED
from retinaface_ros.training.checkpoint import (
    checkpoint_path,
    resume_checkpoint_path,
    stopped_checkpoint_path,
)
from retinaface_ros.validation import (
    TRAINING_BOUNDS,
    check_seed,
    check_train_image_size,
    check_training_value,
    parse_lr_steps,
)

# the settings a learner holds under the same names (``temp_path`` is the learner's ``checkpoint_dir``)
LEARNER_SETTINGS = (
    "backbone",
    "lr",
    "batch_size",
    "epochs",
    "momentum",
    "weight_decay",
    "log_after",
    "val_after",
    "checkpoint_after_iter",
    "checkpoint_load_iter",
    "prefix",
    "shuffle",
    "flip",
)


@dataclass(frozen=True)
class TrainingConfig:
    """What one ``fit`` does. Numbers are checked against ``validation.TRAINING_BOUNDS`` when built; a bad
    value is a ``TypeError`` / ``ValueError`` naming it, before any work.

    ``lr_steps`` takes '10,20' or a sequence of epochs; ``image_size`` None is the backbone's training size;
    ``checkpoint_dir`` '' writes no checkpoints (then ``checkpoint_after_iter`` / ``checkpoint_load_iter``
    must be 0); ``from_scratch`` starts from random weights instead of the given model / ImageNet backbone.
    """

    backbone: str = "mnet"
    lr: float = 0.001
    batch_size: int = 2
    epochs: int = 100
    momentum: float = 0.9
    weight_decay: float = 5e-4
    lr_steps: tuple[int, ...] = ()
    log_after: int = 20
    val_after: int = 5
    checkpoint_after_iter: int = 0
    checkpoint_load_iter: int = 0
    checkpoint_dir: str = ""
    prefix: str = ""
    shuffle: bool = True
    flip: bool = False
    from_scratch: bool = False
    image_size: int | None = None
    augment: bool = True
    num_workers: int | None = None
    seed: int = DEFAULT_SEED
    resume_path: Path | None = field(default=None, init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.backbone not in BACKBONES:
            raise ValueError(f"backbone must be one of {BACKBONES}, got {self.backbone!r}")
        for name in (name for name in LEARNER_SETTINGS if name in TRAINING_BOUNDS):  # the learner's numbers
            self._set(name, check_training_value(name, getattr(self, name)))
        steps = self.lr_steps
        if isinstance(steps, str):
            steps = parse_lr_steps(steps)
        elif not all(isinstance(step, int) and not isinstance(step, bool) and step >= 0 for step in steps):
            raise ValueError(f"lr_steps must be non-negative epochs, got {steps!r}")
        self._set("lr_steps", tuple(sorted(step for step in steps if step > 0)))
        for name in ("checkpoint_dir", "prefix"):
            value = getattr(self, name)
            if isinstance(value, Path):
                value = str(value)
            if not isinstance(value, str):
                raise TypeError(f"{name} must be a string, got {type(value).__name__}")
            self._set(name, value)
        for name in ("shuffle", "flip", "from_scratch", "augment"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"{name} must be a bool, got {type(getattr(self, name)).__name__}")
        if self.image_size is None:  # the backbone's size (resnet: 840, biubug6's, not a multiple of 32)
            self._set("image_size", self.model_config.train_image_size)
        else:
            self._set("image_size", check_train_image_size(self.image_size))
        if self.num_workers is not None:
            self._set("num_workers", check_training_value("num_workers", self.num_workers))
        self._set("seed", check_seed(self.seed))
        self._check_checkpoints()

    def _set(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)  # normalising a frozen dataclass's own fields while built

    def _check_checkpoints(self) -> None:
        if (self.checkpoint_after_iter > 0 or self.checkpoint_load_iter > 0) and not self.checkpoint_dir:
            raise ValueError(
                "checkpoint_after_iter / checkpoint_load_iter need temp_path (the checkpoint folder)"
            )
        epoch = self.checkpoint_load_iter
        if epoch >= self.epochs:
            raise ValueError(
                f"checkpoint_load_iter={epoch} leaves nothing to train with epochs={self.epochs}"
            )
        if epoch > 0:
            folder, prefix = self.checkpoint_dir, self.prefix
            path = resume_checkpoint_path(folder, prefix, epoch)
            if path is None:
                stopped = stopped_checkpoint_path(folder, prefix, epoch, 0).name.removesuffix("0.pth")
                raise FileNotFoundError(
                    f"checkpoint_load_iter={epoch}: no checkpoint {checkpoint_path(folder, prefix, epoch)} "
                    f"nor {stopped}*.pth of a run stopped in that epoch"
                )
            self._set("resume_path", path)

    @classmethod
    def from_learner(cls, learner: Any, **settings: Any) -> TrainingConfig:
        """The config of ``learner``'s current settings (attributes changed since it was built included);
        ``settings`` add or override fields (``image_size``, ``seed``, ``from_scratch``, ...)."""
        values = {name: getattr(learner, name) for name in LEARNER_SETTINGS}
        values["lr_steps"] = learner.lr_steps
        values["checkpoint_dir"] = learner.temp_path
        values.update({name: value for name, value in settings.items() if value is not None})
        return cls(**values)

    @property
    def model_config(self) -> ModelConfig:
        """The backbone's network settings (anchors, variances, mean, training size)."""
        return config_for(self.backbone)

    @property
    def resuming(self) -> bool:
        return self.checkpoint_load_iter > 0

    def replace(self, **changes: Any) -> TrainingConfig:
        """A copy with ``changes``, validated again."""
        return replace(self, **changes)

    def as_dict(self) -> dict[str, Any]:
        """Plain values (e.g. for a run's stats or TensorBoard hparams)."""
        values = asdict(self)
        values.pop("resume_path")
        values["lr_steps"] = list(self.lr_steps)
        return values
