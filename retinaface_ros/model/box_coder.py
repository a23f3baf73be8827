"""Encode / decode boxes and landmarks against priors (SSD-style with variances).

The decoders take torch tensors (any device) or numpy arrays and compute the same operations in the same
order on either, so the numpy postprocess (no torch installed) and the torch ones share one implementation.
"""

from __future__ import annotations

from types import ModuleType
from typing import TYPE_CHECKING, TypeVar

import numpy as np

if TYPE_CHECKING:
    import torch

Array = TypeVar("Array", np.ndarray, "torch.Tensor")


def array_namespace(array: np.ndarray | torch.Tensor) -> ModuleType:
    """``numpy`` for numpy arrays, ``torch`` for tensors (imported only then)."""
    if isinstance(array, np.ndarray):
        return np
    import torch

    return torch


def decode_boxes(loc: Array, priors: Array, variances: tuple[float, float]) -> Array:
    """Regression offsets (..., 4) → boxes (x1, y1, x2, y2) in the priors' normalised coordinates."""
    xp = array_namespace(loc)
    centers = priors[..., :2] + loc[..., :2] * variances[0] * priors[..., 2:]
    sizes = priors[..., 2:] * xp.exp(loc[..., 2:] * variances[1])
    top_left = centers - sizes / 2
    return xp.concatenate((top_left, top_left + sizes), axis=-1)


def decode_landmarks(pre: Array, priors: Array, variances: tuple[float, float]) -> Array:
    """Landmark offsets (..., 10) → five (x, y) points (..., 10) in normalised coordinates."""
    offsets = pre.reshape(*pre.shape[:-1], 5, 2)
    points = priors[..., None, :2] + offsets * variances[0] * priors[..., None, 2:]
    return points.reshape(pre.shape)


def encode_boxes(matched: torch.Tensor, priors: torch.Tensor, variances: tuple[float, float]) -> torch.Tensor:
    """Ground-truth boxes (x1, y1, x2, y2) matched to priors → regression targets (inverse of decode)."""
    import torch

    centers = (matched[..., :2] + matched[..., 2:]) / 2
    sizes = (matched[..., 2:] - matched[..., :2]).clamp(min=1e-8)
    return torch.cat(
        (
            (centers - priors[..., :2]) / (variances[0] * priors[..., 2:]),
            torch.log(sizes / priors[..., 2:]) / variances[1],
        ),
        dim=-1,
    )


def encode_landmarks(
    matched: torch.Tensor, priors: torch.Tensor, variances: tuple[float, float]
) -> torch.Tensor:
    """Ground-truth landmarks (..., 10) matched to priors → regression targets."""
    points = matched.reshape(*matched.shape[:-1], 5, 2)
    encoded = (points - priors[..., None, :2]) / (variances[0] * priors[..., None, 2:])
    return encoded.reshape(matched.shape)
