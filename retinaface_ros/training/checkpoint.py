"""Training checkpoints: written atomically (temp file + fsync + rename), read with ``weights_only=True``."""

from __future__ import annotations

import glob
from pathlib import Path
from typing import Any

import torch

from retinaface_ros.io.atomic_files import atomic_output
from retinaface_ros.io.state_dicts import load_failure

__all__ = [
    "checkpoint_path",
    "load_checkpoint",
    "resume_checkpoint_path",
    "save_checkpoint",
    "stopped_checkpoint_path",
]


def checkpoint_path(folder: str | Path, prefix: str, epoch: int) -> Path:
    """``{folder}/{prefix}checkpoint_epoch_{epoch}.pth``: the state after ``epoch`` completed epochs."""
    return Path(folder) / f"{prefix}checkpoint_epoch_{epoch}.pth"


def stopped_checkpoint_path(folder: str | Path, prefix: str, epoch: int, iteration: int) -> Path:
    """``{folder}/{prefix}checkpoint_stopped_epoch_{epoch}_iter_{iteration}.pth``: the state of a run stopped
    in epoch ``epoch`` (0-based, so after ``epoch`` completed epochs) once ``iteration`` batches of it ran."""
    return Path(folder) / f"{prefix}checkpoint_stopped_epoch_{epoch}_iter_{iteration}.pth"


def resume_checkpoint_path(folder: str | Path, prefix: str, epoch: int) -> Path | None:
    """The checkpoint to resume at epoch ``epoch`` (0-based) from: the newest of the end of the epoch before
    and the runs stopped within epoch ``epoch`` (a stop is newer than the epoch checkpoint its run wrote
    before it; a later run's epoch checkpoint is newer than an old stop). None when there is none."""
    candidates = [checkpoint_path(folder, prefix, epoch)]
    for path in Path(folder).glob(f"{glob.escape(prefix)}checkpoint_stopped_epoch_{epoch}_iter_*.pth"):
        iteration = path.stem.rsplit("_", 1)[-1]
        if iteration.isdigit() and path == stopped_checkpoint_path(folder, prefix, epoch, int(iteration)):
            candidates.append(path)
    found = [(path.stat().st_mtime_ns, path) for path in candidates if path.is_file()]
    return max(found)[1] if found else None


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
        raise ValueError(f"cannot read training checkpoint {path}: {load_failure(error)}") from error
    needed = ("model", "optimizer", "scheduler", "epoch", "seed", "torch_rng", "history", "backbone")
    if not isinstance(state, dict) or any(key not in state for key in needed):
        raise ValueError(f"{path} is not a training checkpoint (needs keys {needed})")
    return state
