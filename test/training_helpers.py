"""Helpers shared by the training tests: mini_wider data sets and small subsets of them."""

from __future__ import annotations

from pathlib import Path

from conftest import shared_path

from retinaface_ros.datasets import DetectionDataset, WiderFaceDataset


class SubsetDataset(DetectionDataset):
    """The first ``count`` images of another DetectionDataset (no parsing of its own)."""

    def __init__(self, dataset: DetectionDataset, count: int) -> None:
        self._records = list(dataset._records[:count])


def mini_wider_root() -> Path:
    return shared_path("data", "mini_wider")


def mini_wider(split: str = "train", count: int | None = None) -> DetectionDataset:
    dataset = WiderFaceDataset(mini_wider_root(), [split])
    return dataset if count is None else SubsetDataset(dataset, count)
