"""TrainingConfig (validated with the core's bounds, frozen) and ``training.fit`` used directly, without a
learner: model and config in, TrainingResult out, checkpoints, validation, callbacks and rollback."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch
from training_helpers import mini_wider

from retinaface_ros.learner import RetinaFaceLearner
from retinaface_ros.model import RetinaFace
from retinaface_ros.training import TrainingConfig, TrainingResult, checkpoint_path, fit, load_checkpoint
from retinaface_ros.validation import TRAINING_BOUNDS


# ------------------------------------------------------------------------------------------- config
def test_defaults_take_the_backbone_training_size():
    assert TrainingConfig(backbone="mnet").image_size == 640
    assert TrainingConfig(backbone="resnet").image_size == 840
    assert TrainingConfig(image_size=np.int64(128)).image_size == 128


@pytest.mark.parametrize(
    "settings, error, message",
    [
        ({"backbone": "vgg"}, ValueError, "backbone"),
        ({"lr": 0.0}, ValueError, r"lr must be a finite number in \(0, 10\]"),
        ({"lr": float("nan")}, ValueError, "lr"),
        ({"lr": "0.1"}, TypeError, "lr must be a number"),
        ({"batch_size": 0}, ValueError, "batch_size"),
        ({"batch_size": 2.0}, TypeError, "batch_size must be an int"),
        ({"epochs": True}, TypeError, "epochs"),
        ({"momentum": 1.5}, ValueError, "momentum"),
        ({"lr_steps": "3,x"}, ValueError, "lr_steps"),
        ({"lr_steps": (-1,)}, ValueError, "lr_steps"),
        ({"image_size": 100}, ValueError, "image_size must be a multiple of 32"),
        ({"image_size": 32}, ValueError, "image_size"),
        ({"seed": -1}, ValueError, "seed"),
        ({"seed": 2**32}, ValueError, "seed"),
        ({"num_workers": -1}, ValueError, "num_workers"),
        ({"shuffle": 1}, TypeError, "shuffle must be a bool"),
        ({"checkpoint_after_iter": 1}, ValueError, "need temp_path"),
        ({"epochs": 2, "checkpoint_load_iter": 2, "checkpoint_dir": "x"}, ValueError, "nothing to train"),
    ],
)
def test_bad_settings_are_refused_with_the_name(settings, error, message):
    with pytest.raises(error, match=message):
        TrainingConfig(**settings)


def test_bounds_are_the_validation_table():
    for name in ("lr", "batch_size", "epochs", "momentum", "weight_decay", "log_after", "val_after"):
        low, high, integer, low_inclusive = TRAINING_BOUNDS[name]
        kind = int if integer else float
        TrainingConfig(**{name: kind(high)})  # the upper bound is accepted
        with pytest.raises(ValueError, match=name):
            TrainingConfig(**{name: kind(high) + 1})
        if low_inclusive:
            TrainingConfig(**{name: kind(low)})


def test_resume_needs_the_checkpoint(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match="checkpoint_epoch_1.pth"):
        TrainingConfig(epochs=3, checkpoint_load_iter=1, checkpoint_dir=str(tmp_path))


def test_config_is_frozen_and_normalised():
    config = TrainingConfig(lr=np.float32(0.5), batch_size=np.int64(4), lr_steps="20, 10,0")
    assert type(config.lr) is float and type(config.batch_size) is int
    assert config.lr_steps == (10, 20)
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.lr = 0.1  # type: ignore[misc]
    assert config.replace(epochs=3).epochs == 3 and config.epochs == 100
    with pytest.raises(ValueError, match="epochs"):
        config.replace(epochs=0)
    assert config.as_dict()["lr_steps"] == [10, 20]


def test_from_learner_reads_the_current_settings():
    learner = RetinaFaceLearner("mnet", device="cpu", lr=0.01, epochs=4, lr_steps="2", temp_path="ckpt")
    learner.batch_size = 3  # changed after construction: still taken
    config = TrainingConfig.from_learner(learner, image_size=96, seed=5)
    assert (config.lr, config.epochs, config.batch_size, config.lr_steps) == (0.01, 4, 3, (2,))
    assert (config.checkpoint_dir, config.image_size, config.seed) == ("ckpt", 96, 5)
    learner.lr = -1.0
    with pytest.raises(ValueError, match="lr"):
        TrainingConfig.from_learner(learner)


# ------------------------------------------------------------------------------------------- fit
def test_fit_without_a_learner(tmp_path: Path):
    config = TrainingConfig(
        backbone="mnet",
        epochs=2,
        batch_size=2,
        lr=0.01,
        log_after=1,
        val_after=1,
        checkpoint_after_iter=1,
        checkpoint_dir=str(tmp_path / "ckpt"),
        from_scratch=True,
        image_size=96,
        shuffle=False,
        augment=False,
    )
    reports: list[dict] = []
    result = fit(
        None,
        config,
        mini_wider("train", 2),
        mini_wider("val", 1),
        callback=reports.append,
        silent=True,
        verbose=False,
    )
    assert isinstance(result, TrainingResult) and isinstance(result.model, RetinaFace)
    assert not result.model.training and result.device == torch.device("cpu")
    assert result.epochs_completed == 2 and not result.stopped
    assert len(result.history["loss"]) == 2 and all(np.isfinite(result.history["loss"]))
    assert result.history["val_epoch"] == [1, 2] and len(result.history["val_recall"]) == 2
    assert 0.0 <= result.history["val_recall"][-1] <= 1.0  # the default validation of a bare model
    assert result.last_checkpoint == str(checkpoint_path(tmp_path / "ckpt", "", 2))
    assert load_checkpoint(result.last_checkpoint)["epoch"] == 2
    assert [r["event"] for r in reports] == ["iteration", "epoch_end"] * 2
    assert all(r["epochs"] == 2 for r in reports)


def test_fit_fine_tunes_the_given_model_and_takes_a_validate_function():
    torch.manual_seed(0)
    model = RetinaFace("mnet")
    before = model.body.stage1[0][0].weight.detach().clone()
    seen: list[RetinaFace] = []

    def validate(trained: RetinaFace, dataset) -> dict:
        seen.append(trained)
        assert not trained.training  # validated in eval mode
        return {"recall": 0.25, "ap": 0.125}

    config = TrainingConfig(epochs=1, lr=0.01, image_size=64, val_after=1, augment=False)
    result = fit(
        model,
        config,
        mini_wider("train", 2),
        mini_wider("val", 1),
        validate=validate,
        silent=True,
        verbose=False,
    )
    assert result.model is model and seen == [model]
    assert not torch.equal(model.body.stage1[0][0].weight, before)  # trained in place
    assert result.history["val_recall"] == [0.25] and result.history["val_ap"] == [0.125]


def test_a_failed_fit_gives_the_model_its_weights_back():
    model = RetinaFace("mnet")
    before = {key: value.clone() for key, value in model.state_dict().items()}

    def diverge(info: dict) -> None:
        with torch.no_grad():
            model.body.stage1[0][0].weight.fill_(float("nan"))

    config = TrainingConfig(epochs=2, batch_size=1, image_size=64, log_after=1, augment=False)
    with pytest.raises(FloatingPointError, match="loss became"):
        fit(model, config, mini_wider("train", 2), callback=diverge, silent=True, verbose=False)
    assert not model.training
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), key


def test_fit_refuses_mismatched_arguments():
    data = mini_wider("train", 2)
    with pytest.raises(TypeError, match="TrainingConfig"):
        fit(None, {"epochs": 1}, data)
    with pytest.raises(ValueError, match="does not match config backbone"):
        fit(RetinaFace("mnet"), TrainingConfig(backbone="resnet"), data)
    with pytest.raises(TypeError, match="RetinaFace or None"):
        fit(torch.nn.Linear(1, 1), TrainingConfig(), data)
