"""Prior (anchor) boxes for an input size, computed vectorised and cached per size and device.

Computed with numpy (float64, then float32), so the torch-free ONNX deployment gets the same priors; a torch
device gets them as a tensor on that device.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from retinaface_ros.model.config import ModelConfig

if TYPE_CHECKING:
    import torch

NUMPY = "numpy"  # the "device" under which PriorBoxes caches numpy arrays


def make_priors_array(
    height: int, width: int, min_sizes: tuple[tuple[int, ...], ...], steps: tuple[int, ...]
) -> np.ndarray:
    """P×4 float32 priors (cx, cy, w, h), normalised to the image, in the reference order (level, row, col,
    size)."""
    levels = []
    for level_sizes, step in zip(min_sizes, steps, strict=True):
        rows, cols = math.ceil(height / step), math.ceil(width / step)
        cy = (np.arange(rows, dtype=np.float64) + 0.5) * step / height
        cx = (np.arange(cols, dtype=np.float64) + 0.5) * step / width
        grid_y, grid_x = np.meshgrid(cy, cx, indexing="ij")
        sizes = np.asarray(level_sizes, dtype=np.float64)
        shape = (rows, cols, len(level_sizes))
        level = np.stack(
            (
                np.broadcast_to(grid_x[..., None], shape),
                np.broadcast_to(grid_y[..., None], shape),
                np.broadcast_to(sizes / width, shape),
                np.broadcast_to(sizes / height, shape),
            ),
            axis=-1,
        )
        levels.append(level.reshape(-1, 4))
    return np.concatenate(levels).astype(np.float32)


def make_priors(
    height: int, width: int, min_sizes: tuple[tuple[int, ...], ...], steps: tuple[int, ...]
) -> torch.Tensor:
    """:func:`make_priors_array` as a CPU tensor (for training)."""
    import torch

    return torch.from_numpy(make_priors_array(height, width, min_sizes, steps))


class PriorBoxes:
    """Caches priors per (height, width, device); small LRU so a video stream costs nothing per frame.

    ``device`` is a torch device (a tensor there) or ``"numpy"`` (a numpy array).
    """

    def __init__(self, config: ModelConfig, max_entries: int = 16) -> None:
        self.min_sizes = config.min_sizes
        self.steps = config.steps
        self.max_entries = max_entries
        self._cache: dict[tuple[int, int, str], Any] = {}

    def __call__(self, height: int, width: int, device: torch.device | str = "cpu") -> Any:
        key = (int(height), int(width), str(device))
        priors = self._cache.pop(key, None)
        if priors is None:
            priors = make_priors_array(height, width, self.min_sizes, self.steps)
            if key[2] != NUMPY:
                import torch

                priors = torch.from_numpy(priors).to(device)
        self._cache[key] = priors  # most recently used last
        while len(self._cache) > self.max_entries:
            self._cache.pop(next(iter(self._cache)))
        return priors

    def cache_info(self) -> dict[str, Any]:
        """The cached (height, width, device) keys, least recently used first, and the cache's size."""
        return {"entries": list(self._cache), "max_entries": self.max_entries}
