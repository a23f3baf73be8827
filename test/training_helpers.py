"""Helpers shared by the training tests: mini_wider data sets and small subsets of them, blank Train goals."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from conftest import shared_path

from retinaface_ros.datasets import DetectionDataset, WiderFaceDataset
from retinaface_ros.training import goal_fields


class SubsetDataset(DetectionDataset):
    """The first ``count`` images of another DetectionDataset (no parsing of its own)."""

    def __init__(self, dataset: DetectionDataset, count: int) -> None:
        self._records = list(dataset._records[:count])


def mini_wider_root() -> Path:
    return shared_path("data", "mini_wider")


def mini_wider(split: str = "train", count: int | None = None) -> DetectionDataset:
    dataset = WiderFaceDataset(mini_wider_root(), [split])
    return dataset if count is None else SubsetDataset(dataset, count)


def blank_goal(**fields) -> SimpleNamespace:
    """A Train goal without ROS: the message's own defaults (empty, False, 0: "use the trainer's default")
    with ``fields`` set; test_train_goal_fields checks that table against the action."""
    return SimpleNamespace(**{**goal_fields.defaults(), **fields})
