"""Train goal → learner arguments (pure, no ROS)."""

from __future__ import annotations

from pathlib import Path

import pytest
from training_helpers import blank_goal, mini_wider_root

from retinaface_ros.learner import RetinaFaceLearner
from retinaface_ros.training.goal import TrainerDefaults, goal_to_job, pretrained_kind, resolve_backbone


def test_defaults_fill_empty_fields(tmp_path: Path) -> None:
    root = mini_wider_root()
    job = goal_to_job(
        blank_goal(dataset_root=str(root)),
        TrainerDefaults(log_after=5, workdir=str(tmp_path)),
        cuda_available=False,
        now=0,
    )
    kwargs = job.learner_kwargs
    assert kwargs["backbone"] == "mnet" and kwargs["device"] == "cpu" and kwargs["log_after"] == 5
    assert not {"epochs", "batch_size", "lr"} & set(kwargs)  # the learner's own defaults apply
    learner = RetinaFaceLearner(**kwargs)
    assert (learner.epochs, learner.batch_size, learner.lr) == (100, 2, 0.001)
    assert kwargs["checkpoint_after_iter"] == 1 and kwargs["val_after"] == 0 and kwargs["lr_steps"] == "0"
    assert job.output_path.parent == tmp_path and kwargs["temp_path"] == str(job.output_path / "checkpoints")
    assert job.image_size is None and job.val_dataset_root is None


def test_goal_fields_are_passed_through(tmp_path: Path) -> None:
    root = mini_wider_root()
    goal = blank_goal(
        dataset_root=str(root),
        val_dataset_root=str(root),
        backbone="resnet50",
        epochs=3,
        batch_size=4,
        lr=0.01,
        lr_steps="1,2",
        flip=True,
        checkpoint_after_iter=2,
        val_after=1,
        device="auto",
        output_path=str(tmp_path / "out"),
        from_scratch=True,
        pretrained_model="/x",
    )
    job = goal_to_job(goal, TrainerDefaults(image_size=160), cuda_available=True)
    kwargs = job.learner_kwargs
    assert kwargs["backbone"] == "resnet" and kwargs["device"] == "cuda" and kwargs["flip"] is True
    assert (kwargs["epochs"], kwargs["batch_size"], kwargs["lr"], kwargs["lr_steps"]) == (3, 4, 0.01, "1,2")
    assert kwargs["val_after"] == 1 and kwargs["checkpoint_after_iter"] == 2 and job.image_size == 160
    assert job.pretrained_model is None and job.from_scratch  # from_scratch ignores pretrained_model


def test_bad_goals_raise_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="dataset_root is required"):
        goal_to_job(blank_goal(), TrainerDefaults())
    with pytest.raises(FileNotFoundError, match="dataset_root not found"):
        goal_to_job(blank_goal(dataset_root=str(tmp_path / "nope")), TrainerDefaults())
    with pytest.raises(ValueError, match="unknown backbone"):
        resolve_backbone("vgg16")
    with pytest.raises(FileNotFoundError, match="pretrained_model"):
        goal_to_job(
            blank_goal(dataset_root=str(tmp_path), pretrained_model=str(tmp_path / "x.pth")),
            TrainerDefaults(),
        )
    # a new run folder has no checkpoints: resuming names the earlier run's folder
    with pytest.raises(ValueError, match="checkpoint_load_iter needs output_path"):
        goal_to_job(blank_goal(dataset_root=str(tmp_path), checkpoint_load_iter=2), TrainerDefaults())
    job = goal_to_job(
        blank_goal(dataset_root=str(tmp_path), checkpoint_load_iter=2, output_path=str(tmp_path / "run")),
        TrainerDefaults(),
    )
    assert job.learner_kwargs["checkpoint_load_iter"] == 2
    assert job.learner_kwargs["temp_path"] == str(tmp_path / "run" / "checkpoints")


def test_pretrained_kind(mnet_weights) -> None:
    assert pretrained_kind(mnet_weights) == "model"
    backbone = mnet_weights.parent / "mobilenetV1X0.25_pretrain.tar"
    if backbone.is_file():
        assert pretrained_kind(backbone) == "backbone"
