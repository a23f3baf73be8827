"""Training checkpoints: written atomically (temp file + fsync + rename), read with ``weights_only=True``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from retinaface_ros.atomic_files import atomic_output

__all__ = ["checkpoint_path", "load_checkpoint", "save_checkpoint"]


def checkpoint_path(folder: str | Path, prefix: str, epoch: int) -> Path:
    """``{folder}/{prefix}checkpoint_epoch_{epoch}.pth``: the state after ``epoch`` completed epochs."""
    return Path(folder) / f"{prefix}checkpoint_epoch_{epoch}.pth"


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> Path:
    """Write a training checkpoint (tensors, state dicts and plain Python values only) via
    :func:`atomic_output`: a crash leaves the old file or the new one, never half."""
    with atomic_output(path) as handle:
        torch.save(state, handle)
    return Path(path)


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a training checkpoint written by :func:`save_checkpoint` (``weights_only=True``)."""
    path = Path(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise ValueError(f"cannot read training checkpoint {path}: {error}") from error
    needed = ("model", "optimizer", "scheduler", "epoch", "seed", "torch_rng", "history", "backbone")
    if not isinstance(state, dict) or any(key not in state for key in needed):
        raise ValueError(f"{path} is not a training checkpoint (needs keys {needed})")
    return state
