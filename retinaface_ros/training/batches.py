"""What the training loop iterates over: a DetectionDataset seen through the augmentation, a sampler that can
skip the batches a stopped run already did, and the collate function that pads the targets."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from retinaface_ros.datasets import ANNOTATION_COLUMNS
from retinaface_ros.training.augment import TrainTransform

DEFAULT_SEED = 0


class TrainingSet(Dataset):
    """A DetectionDataset seen through :class:`TrainTransform`; ``mirror=True`` appends a mirrored copy."""

    def __init__(
        self, dataset: Any, transform: TrainTransform, mirror: bool = False, seed: int = DEFAULT_SEED
    ):
        self.dataset = dataset
        self.transform = transform
        self.mirror = mirror
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.dataset) * (2 if self.mirror else 1)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        base = len(self.dataset)
        image, annotations = self.dataset[index % base]
        annotations = np.asarray(annotations)
        if annotations.ndim != 2 or annotations.shape[1] != ANNOTATION_COLUMNS:
            raise ValueError(
                f"{type(self.dataset).__name__}[{index % base}]: annotations must be N x "
                f"{ANNOTATION_COLUMNS} (box, 5 landmarks, landmark flag), got shape {annotations.shape}"
            )
        rng = np.random.default_rng([self.seed, self.epoch, index])
        image, targets = self.transform(image, annotations, rng, mirrored=index >= base)
        return torch.from_numpy(image), torch.from_numpy(targets)


class SkippingSampler(Sampler):
    """``sampler`` without its first ``skip`` indices (set for the epoch a stopped run resumes in)."""

    def __init__(self, sampler: Sampler) -> None:
        self.sampler = sampler
        self.skip = 0

    def __iter__(self) -> Iterator[int]:
        return itertools.islice(iter(self.sampler), self.skip, None)

    def __len__(self) -> int:
        return max(0, len(self.sampler) - self.skip)  # type: ignore[arg-type]


def collate(
    batch: list[tuple[torch.Tensor, torch.Tensor]],
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Stack images; pad targets to the most faces in the batch → (images, targets B×M×15, valid B×M)."""
    images = torch.stack([image for image, _ in batch])
    most = max(len(t) for _, t in batch)
    targets = torch.zeros((len(batch), most, 15), dtype=torch.float32)
    valid = torch.zeros((len(batch), most), dtype=torch.bool)
    for i, (_, t) in enumerate(batch):
        targets[i, : len(t)] = t
        valid[i, : len(t)] = True
    return images, targets, valid
