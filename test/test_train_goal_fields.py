"""The Train goal's field table shared by `retinaface train` and `retinaface train-goal`: it matches the
action, parses --param / YAML values with one-line errors naming the field; goal defaults; log lines."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from training_helpers import blank_goal, mini_wider_root

from retinaface_ros.training import goal_fields
from retinaface_ros.training.goal import TrainerDefaults, goal_to_job
from retinaface_ros.training.progress_log import progress_line

ROS_TYPES = {str: "string", bool: "boolean", int: "int32", float: "float"}


def test_table_matches_the_train_action() -> None:
    pytest.importorskip("rclpy", reason="rclpy missing: run `make setup` and `source tools/env.sh`")
    from retinaface_ros.ros.interfaces import import_interfaces

    fields = import_interfaces()[2].Goal.get_fields_and_field_types()
    assert list(fields) == [field.name for field in goal_fields.GOAL_FIELDS]
    assert fields == {field.name: ROS_TYPES[field.kind] for field in goal_fields.GOAL_FIELDS}
    # the defaults are the goal message's own (empty, False, 0): "use the trainer's default"
    goal = import_interfaces()[2].Goal()
    assert goal_fields.defaults() == {name: getattr(goal, name) for name in fields}


def test_params_convert_to_the_field_types(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    values = goal_fields.parse_params(
        ["epochs=3", "lr=1e-3", "from_scratch=true", "flip=0", "lr_steps=2,4", "dataset_root=data"]
    )
    assert values == {
        "epochs": 3,
        "lr": 0.001,
        "from_scratch": True,
        "flip": False,
        "lr_steps": "2,4",
        "dataset_root": str(tmp_path / "data"),  # relative paths: the trainer has another working folder
    }
    assert goal_fields.parse_params(["output_path=~/runs/a"]) == {"output_path": "~/runs/a"}


@pytest.mark.parametrize(
    ("param", "message"),
    [
        ("epoch=3", "unknown goal field 'epoch'"),
        ("epochs=three", "epochs (--param): expected an integer, got 'three'"),
        ("epochs=2.5", "epochs (--param): expected an integer"),
        ("epochs=99999999999", "epochs (--param): 99999999999 does not fit the goal's int32"),
        ("lr=nan", "lr (--param): must be a finite float32"),
        ("lr=1e40", "lr (--param): must be a finite float32"),
        ("flip=maybe", "flip (--param): expected true or false"),
        ("epochs", "--param 'epochs': expected NAME=VALUE"),
    ],
)
def test_bad_params_name_the_field(param: str, message: str) -> None:
    with pytest.raises(ValueError, match="^" + message.replace("(", r"\(").replace(")", r"\)")):
        goal_fields.parse_params([param])


def test_yaml_goal(tmp_path: Path) -> None:
    goal = tmp_path / "goal.yaml"
    goal.write_text("dataset_root: /data/wider\nepochs: 10\nlr: 0.01\nfrom_scratch: true\n")
    assert goal_fields.load_yaml(goal) == {
        "dataset_root": "/data/wider",
        "epochs": 10,
        "lr": 0.01,
        "from_scratch": True,
    }
    goal.write_text("dataset_root: /data\nepochz: 10\n")
    with pytest.raises(ValueError, match=f"unknown goal field 'epochz' \\({goal}\\)"):
        goal_fields.load_yaml(goal)
    goal.write_text("batch_size: [1, 2]\n")
    with pytest.raises(ValueError, match=f"batch_size \\({goal}\\): expected an integer"):
        goal_fields.load_yaml(goal)
    goal.write_text("- a\n- b\n")
    with pytest.raises(ValueError, match="expected a mapping of goal fields"):
        goal_fields.load_yaml(goal)
    goal.write_text("a: [\n")
    with pytest.raises(ValueError, match="not a readable YAML goal"):
        goal_fields.load_yaml(goal)
    with pytest.raises(FileNotFoundError, match="goal file not found"):
        goal_fields.load_yaml(tmp_path / "missing.yaml")


def test_a_validation_set_without_val_after_validates_every_epoch(tmp_path: Path) -> None:
    root = str(mini_wider_root())
    defaults = TrainerDefaults(workdir=str(tmp_path))
    job = goal_to_job(blank_goal(dataset_root=root, val_dataset_root=root), defaults)
    assert job.learner_kwargs["val_after"] == 1  # was 0: "validating on ..." and never validated
    job = goal_to_job(blank_goal(dataset_root=root, val_dataset_root=root, val_after=3), defaults)
    assert job.learner_kwargs["val_after"] == 3
    assert goal_to_job(blank_goal(dataset_root=root), defaults).learner_kwargs["val_after"] == 0


def test_progress_lines() -> None:
    info = {
        "event": "iteration",
        "epoch": 1,
        "epochs": 10,
        "iteration": 39,
        "iterations_per_epoch": 125,
        "loss": 3.5,
        "loss_box": 1.0,
        "loss_class": 0.5,
        "loss_landmarks": 2.0,
        "lr": 1e-3,
        "eta_sec": 3725.0,
        "val_recall": -1.0,
        "val_ap": -1.0,
        "validated": False,
    }
    assert progress_line(info) == (
        "epoch 2/10 iter 40/125: loss 3.5000 (box 1.0000, class 0.5000, landmarks 2.0000), lr 0.001, "
        "ETA 1:02:05"
    )
    end = {**info, "event": "epoch_end", "validated": True, "val_recall": 0.75, "val_ap": 0.5, "eta_sec": -1}
    assert progress_line(end) == (
        "epoch 2/10 done: mean loss 3.5000 (box 1.0000, class 0.5000, landmarks 2.0000), next lr 0.001, "
        "val recall 0.7500 AP 0.5000, ETA ?"
    )
    assert not math.isnan(info["loss"])
