"""Detections ↔ tracks: a cost from IoU and centre distance, and an optimal assignment (Hungarian, scipy's
``linear_sum_assignment``) instead of a greedy match, so two nearby faces do not swap ids.

Leaving a track or a detection unmatched is one of the options the assignment weighs (at ``UNMATCHED_COST``
each), so it never pairs two bad matches just to avoid leaving one face out: solved as the assignment on
costs capped at ``2 * UNMATCHED_COST`` (the same optimum as padding the matrix with "no match" slots, at a
quarter of the size), where a pair at the cap counts as unmatched.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

MIN_IOU = 0.1  # a pair overlapping at least this much may match ...
MAX_CENTRE_DISTANCE = 1.0  # ... or one whose centres are at most this many face sizes apart
DISTANCE_WEIGHT = 0.5  # cost = (1 - IoU) + DISTANCE_WEIGHT * centre distance (in face sizes)
UNMATCHED_COST = 0.75  # a pair is matched only when its cost is below two of these (1.5)
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
    """Matching cost of every track box with every detection box (``(1 - IoU) + DISTANCE_WEIGHT *`` centre
    distance); pairs that may not match cost ``1e6``. (:func:`iou_matrix` and :func:`centre_distance_matrix`
    in one pass, sharing the intermediate arrays: this is most of the tracker's time with many faces.)"""
    tracks, detections = np.asarray(tracks, np.float32), np.asarray(detections, np.float32)  # pixels: ample
    t_x1, t_y1, t_x2, t_y2 = (tracks[:, i, None] for i in range(4))
    d_x1, d_y1, d_x2, d_y2 = (detections[None, :, i] for i in range(4))
    inter = np.maximum(np.minimum(t_x2, d_x2) - np.maximum(t_x1, d_x1), 0.0)
    inter *= np.maximum(np.minimum(t_y2, d_y2) - np.maximum(t_y1, d_y1), 0.0)
    area_t, area_d = (t_x2 - t_x1) * (t_y2 - t_y1), (d_x2 - d_x1) * (d_y2 - d_y1)
    iou = inter / np.maximum(area_t + area_d - inter, np.float32(1e-12))
    dx, dy = (t_x1 + t_x2) - (d_x1 + d_x2), (t_y1 + t_y2) - (d_y1 + d_y2)  # twice the centre offsets
    size = np.sqrt(np.maximum(area_t, 1.0)) + np.sqrt(np.maximum(area_d, 1.0))  # twice the mean size
    distance = np.sqrt(dx * dx + dy * dy) / size
    cost = (1.0 - iou) + DISTANCE_WEIGHT * distance
    cost[(iou < MIN_IOU) & (distance > MAX_CENTRE_DISTANCE)] = _FORBIDDEN
    return cost


def associate(tracks: np.ndarray, detections: np.ndarray) -> Assignment:
    """Match track boxes (N×4) to detection boxes (M×4) at the least total cost, allowed pairs only."""
    if not len(tracks) or not len(detections):
        empty = np.zeros(0, np.int64)
        return Assignment(empty, empty, np.arange(len(tracks)), np.arange(len(detections)))
    cap = 2.0 * UNMATCHED_COST
    cost = np.minimum(cost_matrix(tracks, detections), cap)
    rows, cols = linear_sum_assignment(cost)
    good = cost[rows, cols] < cap
    rows, cols = rows[good], cols[good]
    track_left = np.ones(len(tracks), bool)
    track_left[rows] = False
    detection_left = np.ones(len(detections), bool)
    detection_left[cols] = False
    return Assignment(rows, cols, np.flatnonzero(track_left), np.flatnonzero(detection_left))
