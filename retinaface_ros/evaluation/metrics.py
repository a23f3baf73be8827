"""Recall and AP over a set of images (boxes x1, y1, x2, y2; pixel-inclusive IoU as the seed and WIDER use).

* :func:`recall` is the seed's metric: a ground-truth face is found when its best IoU with any detection is
  > ``iou_threshold``; every image counts, also those without detections, and a face found by several
  detections counts once.
* :func:`average_precision` is the VOC all-point AP at IoU > ``iou_threshold`` with greedy matching in score
  order (a detection whose best face is already taken is a false positive).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from retinaface_ros.evaluation.wider_protocol import bbox_overlaps_inclusive, voc_ap


def _boxes(array: np.ndarray, columns: int, what: str, index: int) -> np.ndarray:
    array = np.asarray(array, dtype=np.float64)
    if array.size == 0:
        return np.zeros((0, columns))
    if array.ndim != 2 or array.shape[1] < columns:
        raise ValueError(
            f"{what} of image {index} must be N x {columns}+ (x1, y1, x2, y2[, score]), got {array.shape}"
        )
    return array[:, :columns]


def _check_lengths(detections: Sequence, ground_truth: Sequence) -> None:
    if isinstance(detections, np.ndarray) or isinstance(ground_truth, np.ndarray):
        raise TypeError("detections and ground_truth must be sequences of per-image arrays")
    if len(detections) != len(ground_truth):
        raise ValueError(f"{len(detections)} detection arrays for {len(ground_truth)} ground-truth arrays")


def recall(
    detections: Sequence[np.ndarray], ground_truth: Sequence[np.ndarray], iou_threshold: float = 0.5
) -> float:
    """Fraction of ground-truth faces (per image ``N x 4``) whose best IoU with a detection (``K x 4+``) is
    > ``iou_threshold``; 0.0 when there are no faces."""
    _check_lengths(detections, ground_truth)
    found = total = 0
    for index, (dets, gts) in enumerate(zip(detections, ground_truth, strict=True)):
        gts = _boxes(gts, 4, "ground truth", index)
        dets = _boxes(dets, 4, "detections", index)
        total += len(gts)
        if len(gts) and len(dets):
            found += int((bbox_overlaps_inclusive(dets, gts).max(axis=0) > iou_threshold).sum())
    return found / total if total else 0.0


def average_precision(
    detections: Sequence[np.ndarray], ground_truth: Sequence[np.ndarray], iou_threshold: float = 0.5
) -> float:
    """VOC all-point AP of detections (per image ``K x 5``: x1, y1, x2, y2, score) against faces (``N x 4``);
    0.0 when there are no faces."""
    curve = precision_recall_curve(detections, ground_truth, iou_threshold)
    return 0.0 if curve is None else voc_ap(*curve)


def precision_recall_curve(
    detections: Sequence[np.ndarray], ground_truth: Sequence[np.ndarray], iou_threshold: float = 0.5
) -> tuple[np.ndarray, np.ndarray] | None:
    """(recall, precision) after each detection in score order, as :func:`average_precision` integrates it;
    None when there are no faces or no detections."""
    _check_lengths(detections, ground_truth)
    all_scores: list[np.ndarray] = []
    all_tp: list[np.ndarray] = []
    total = 0
    for index, (dets, gts) in enumerate(zip(detections, ground_truth, strict=True)):
        gts = _boxes(gts, 4, "ground truth", index)
        dets = _boxes(dets, 5, "detections", index)
        total += len(gts)
        if not len(dets):
            continue
        dets = dets[np.argsort(-dets[:, 4], kind="stable")]
        tp = np.zeros(len(dets), dtype=bool)
        if len(gts):
            overlaps = bbox_overlaps_inclusive(dets[:, :4], gts)
            best = overlaps.argmax(axis=1)
            hit = overlaps[np.arange(len(dets)), best] > iou_threshold
            # A face is taken by the first (highest-scoring) detection that hits it; later hits are FPs.
            candidates = np.flatnonzero(hit)
            _, first = np.unique(best[candidates], return_index=True)
            tp[candidates[first]] = True
        all_scores.append(dets[:, 4])
        all_tp.append(tp)
    if total == 0 or not all_scores:
        return None
    scores = np.concatenate(all_scores)
    order = np.argsort(-scores, kind="stable")
    tp = np.concatenate(all_tp)[order]
    tp_cum = np.cumsum(tp)
    fp_cum = np.cumsum(~tp)
    return tp_cum / total, tp_cum / np.maximum(tp_cum + fp_cum, 1)
