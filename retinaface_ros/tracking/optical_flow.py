"""Sparse optical flow between two frames (OpenCV pyramidal Lucas-Kanade), with a forward-backward check,
and the similarity (shift + scale) that moves a face's box from the points that followed it."""

from __future__ import annotations

import cv2
import numpy as np

WINDOW = (21, 21)
PYRAMID_LEVELS = 3
MAX_FORWARD_BACKWARD_ERROR = 1.0  # pixels: a point that does not flow back to where it started is dropped
_CRITERIA = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 20, 0.03)


def to_gray(image: np.ndarray) -> np.ndarray:
    """uint8 grayscale of a BGR (H×W×3), BGRA or gray image."""
    if image.dtype != np.uint8:
        raise ValueError(f"optical flow needs a uint8 image, got {image.dtype}")
    if image.ndim == 3 and image.shape[2] in (3, 4):
        return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY if image.shape[2] == 3 else cv2.COLOR_BGRA2GRAY)
    if image.ndim == 3 and image.shape[2] == 1:
        return np.ascontiguousarray(image[..., 0])
    if image.ndim == 2:
        return image
    raise ValueError(f"optical flow needs an H×W, H×W×1, ×3 or ×4 image, got shape {image.shape}")


def track_points(
    previous: np.ndarray, current: np.ndarray, points: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Where ``points`` (N×2, pixels in ``previous``) went in ``current`` (both uint8 gray, same size): the
    moved points (N×2) and which of them are reliable (N bool; lost or failing the forward-backward check)."""
    if not len(points):
        return np.zeros((0, 2), np.float32), np.zeros(0, bool)
    start = np.ascontiguousarray(points, np.float32).reshape(-1, 1, 2)
    moved, status, _ = cv2.calcOpticalFlowPyrLK(
        previous, current, start, None, winSize=WINDOW, maxLevel=PYRAMID_LEVELS, criteria=_CRITERIA
    )
    back, back_status, _ = cv2.calcOpticalFlowPyrLK(
        current, previous, moved, None, winSize=WINDOW, maxLevel=PYRAMID_LEVELS, criteria=_CRITERIA
    )
    error = np.linalg.norm((back - start).reshape(-1, 2), axis=1)
    ok = status.ravel().astype(bool) & back_status.ravel().astype(bool) & (error < MAX_FORWARD_BACKWARD_ERROR)
    height, width = previous.shape[:2]
    moved = moved.reshape(-1, 2)
    ok &= np.isfinite(moved).all(axis=1) & (moved[:, 0] >= 0) & (moved[:, 0] < width)
    ok &= (moved[:, 1] >= 0) & (moved[:, 1] < height)
    return moved, ok


def similarities(before: np.ndarray, after: np.ndarray, ok: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each of N point sets that moved ``before`` → ``after`` (N×K×2, reliable where ``ok``, N×K, at least
    two per set), the shift (N×2) and scale (N) with ``after ≈ scale * before + shift``, from medians so that
    one bad point does not matter. Scales stay in [0.5, 2]."""
    if not len(before):
        return np.zeros((0, 2)), np.zeros(0)
    mask = ok[..., None]
    centre_before = np.nanmedian(np.where(mask, before, np.nan), axis=1)
    centre_after = np.nanmedian(np.where(mask, after, np.nan), axis=1)
    spread_before = np.linalg.norm(before - centre_before[:, None], axis=2)
    spread_after = np.linalg.norm(after - centre_after[:, None], axis=2)
    usable = ok & (spread_before > 1.0)
    ratios = np.where(usable, spread_after / np.maximum(spread_before, 1.0), np.nan)
    ratios[~usable.any(axis=1)] = 1.0  # no spread to measure: no scale change
    scale = np.clip(np.nanmedian(ratios, axis=1), 0.5, 2.0)
    return centre_after - centre_before * scale[:, None], scale
