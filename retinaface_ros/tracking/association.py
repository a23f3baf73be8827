"""Detections ↔ tracks: a cost from IoU and centre distance, and an optimal assignment (Hungarian, scipy's
``linear_sum_assignment``) instead of a greedy match, so two nearby faces do not swap ids."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

MIN_IOU = 0.1  # a pair overlapping at least this much may match ...
MAX_CENTRE_DISTANCE = 1.0  # ... or one whose centres are at most this many face sizes apart
DISTANCE_WEIGHT = 0.5  # cost = (1 - IoU) + DISTANCE_WEIGHT * centre distance (in face sizes)
_FORBIDDEN = 1e6


@dataclass(frozen=True)
class Assignment:
    """Index pairs that matched, and what is left on each side."""

    tracks: np.ndarray  # matched track indices
    detections: np.ndarray  # matched detection indices (same length, pairwise)
    unmatched_tracks: np.ndarray
    unmatched_detections: np.ndarray


def _areas(boxes: np.ndarray) -> np.ndarray:
    return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box in ``a`` (N×4 x1y1x2y2) with every box in ``b`` (M×4): N×M."""
    width = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0])
    height = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1])
    inter = np.maximum(width, 0.0) * np.maximum(height, 0.0)
    union = _areas(a)[:, None] + _areas(b)[None, :] - inter
    return inter / np.maximum(union, 1e-12)


def centre_distance_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Centre distance of every pair, in face sizes (the mean of both boxes' sqrt(area)): N×M."""
    dx = (a[:, None, 0] + a[:, None, 2] - b[None, :, 0] - b[None, :, 2]) / 2.0
    dy = (a[:, None, 1] + a[:, None, 3] - b[None, :, 1] - b[None, :, 3]) / 2.0
    size_a = np.sqrt(np.maximum(_areas(a), 1.0))
    size_b = np.sqrt(np.maximum(_areas(b), 1.0))
    return np.hypot(dx, dy) / ((size_a[:, None] + size_b[None, :]) / 2.0)


def cost_matrix(tracks: np.ndarray, detections: np.ndarray) -> np.ndarray:
    """Matching cost of every track box with every detection box; pairs that may not match cost ``1e6``."""
    iou = iou_matrix(tracks, detections)
    distance = centre_distance_matrix(tracks, detections)
    cost = (1.0 - iou) + DISTANCE_WEIGHT * distance
    allowed = (iou >= MIN_IOU) | (distance <= MAX_CENTRE_DISTANCE)
    return np.where(allowed, cost, _FORBIDDEN)


def associate(tracks: np.ndarray, detections: np.ndarray) -> Assignment:
    """Match track boxes (N×4) to detection boxes (M×4) at the least total cost, allowed pairs only."""
    if not len(tracks) or not len(detections):
        empty = np.zeros(0, np.int64)
        return Assignment(empty, empty, np.arange(len(tracks)), np.arange(len(detections)))
    cost = cost_matrix(tracks, detections)
    rows, cols = linear_sum_assignment(cost)
    good = cost[rows, cols] < _FORBIDDEN
    rows, cols = rows[good], cols[good]
    track_left = np.ones(len(tracks), bool)
    track_left[rows] = False
    detection_left = np.ones(len(detections), bool)
    detection_left[cols] = False
    return Assignment(rows, cols, np.flatnonzero(track_left), np.flatnonzero(detection_left))
