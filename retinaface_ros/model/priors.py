"""Prior (anchor) boxes for an input size, computed vectorised and cached per size and device."""

from __future__ import annotations

import math

import torch

from retinaface_ros.model.config import ModelConfig


def make_priors(
    height: int, width: int, min_sizes: tuple[tuple[int, ...], ...], steps: tuple[int, ...]
) -> torch.Tensor:
    """P×4 priors (cx, cy, w, h), normalised to the image, in the reference order (level, row, col, size)."""
    levels = []
    for level_sizes, step in zip(min_sizes, steps, strict=True):
        rows, cols = math.ceil(height / step), math.ceil(width / step)
        cy = (torch.arange(rows, dtype=torch.float64) + 0.5) * step / height
        cx = (torch.arange(cols, dtype=torch.float64) + 0.5) * step / width
        grid_y, grid_x = torch.meshgrid(cy, cx, indexing="ij")
        sizes = torch.tensor(level_sizes, dtype=torch.float64)
        num = len(level_sizes)
        level = torch.stack(
            (
                grid_x[..., None].expand(rows, cols, num),
                grid_y[..., None].expand(rows, cols, num),
                (sizes / width).expand(rows, cols, num),
                (sizes / height).expand(rows, cols, num),
            ),
            dim=-1,
        )
        levels.append(level.reshape(-1, 4))
    return torch.cat(levels).float()


class PriorBoxes:
    """Caches priors per (height, width, device); small LRU so a video stream costs nothing per frame."""

    def __init__(self, config: ModelConfig, max_entries: int = 16) -> None:
        self.min_sizes = config.min_sizes
        self.steps = config.steps
        self.max_entries = max_entries
        self._cache: dict[tuple[int, int, str], torch.Tensor] = {}

    def __call__(self, height: int, width: int, device: torch.device | str = "cpu") -> torch.Tensor:
        key = (int(height), int(width), str(device))
        priors = self._cache.pop(key, None)
        if priors is None:
            priors = make_priors(height, width, self.min_sizes, self.steps).to(device)
        self._cache[key] = priors  # most recently used last
        while len(self._cache) > self.max_entries:
            self._cache.pop(next(iter(self._cache)))
        return priors
