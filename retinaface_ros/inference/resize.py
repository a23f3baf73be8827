"""The resize rule of the reference pipeline: the factor for an image size and the resized size (plain
arithmetic, imported by the preprocess and by the memory estimate in :mod:`retinaface_ros.validation`)."""

from __future__ import annotations


def resize_factor(height: int, width: int, scales: tuple[int, int]) -> float:
    """s = target / short side, reduced so that round(s · long side) ≤ max long side."""
    target, max_size = scales
    factor = target / min(height, width)
    if round(factor * max(height, width)) > max_size:
        factor = max_size / max(height, width)
    return factor


def resized_shape(height: int, width: int, factor: float) -> tuple[int, int]:
    return max(1, round(height * factor)), max(1, round(width * factor))
