"""Training checkpoints: written atomically (temp file + fsync + rename), read with ``weights_only=True``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

TEMP_MARKER = ".tmp-"


def checkpoint_path(folder: str | Path, prefix: str, epoch: int) -> Path:
    """``{folder}/{prefix}checkpoint_epoch_{epoch}.pth``: the state after ``epoch`` completed epochs."""
    return Path(folder) / f"{prefix}checkpoint_epoch_{epoch}.pth"


def atomic_torch_save(obj: Any, path: str | Path) -> Path:
    """``torch.save`` to a temp file in the same folder, fsync it, then ``os.replace`` onto ``path``.

    A crash at any moment leaves either the old file or the complete new one, never a truncated file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}{TEMP_MARKER}{os.getpid()}")
    try:
        with open(temp, "wb") as handle:
            torch.save(obj, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
    return path


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> Path:
    """Write a training checkpoint (tensors, state dicts and plain Python values only)."""
    return atomic_torch_save(state, path)


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


def remove_stale_temp_files(folder: str | Path) -> list[Path]:
    """Delete temp files left by a run killed mid-write; returns what was removed."""
    removed = []
    for temp in Path(folder).glob(f".*{TEMP_MARKER}*"):
        temp.unlink(missing_ok=True)
        removed.append(temp)
    return removed
