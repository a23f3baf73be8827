"""Evaluate a RetinaFace learner on a data set: recall, AP and (with the official .mat files) WIDER AP.

Test-time augmentation follows the public RetinaFace WIDER test: an image pyramid of target short sides
``(500, 800, 1100, 1400, 1700)`` relative to a base resize of short side 800 capped at long side 1200 (so the
largest pass is at most 2.125 x 1200 = 2550 px long, whatever the input size), plus a horizontal flip of each
pass; candidates from all passes (score > 0.02, no NMS) are merged with one NMS at 0.4 and the best 750 kept.
Both off: a single pass at the original resolution (no resize), as Pytorch_Retinaface's ``--origin_size``.
Torch is imported lazily so ``retinaface_ros.evaluation`` stays importable without it.
"""

from __future__ import annotations

import logging
import math
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from retinaface_ros.datasets import mirror_boxes_and_landmarks
from retinaface_ros.evaluation.metrics import average_precision, precision_recall_curve, recall
from retinaface_ros.evaluation.wider_protocol import (
    load_ground_truth,
    voc_ap,
    wider_pr_curves,
    write_predictions,
)

LOGGER = logging.getLogger(__name__)

DETECTION_THRESHOLD = 0.02
TTA_NMS_THRESHOLD = 0.4
MAX_DETECTIONS = 750
PYRAMID_SHORT_SIDES = (500, 800, 1100, 1400, 1700)
PYRAMID_BASE = (800, 1200)  # (target short side, max long side) of the base resize the pyramid is relative to


def pyramid_factors(height: int, width: int, pyramid: bool = True) -> list[float]:
    """Resize factors of the test passes for an image: ``[1.0]`` without the pyramid."""
    if not pyramid:
        return [1.0]
    target, max_size = PYRAMID_BASE
    base = min(target / min(height, width), max_size / max(height, width))
    return [side / target * base for side in PYRAMID_SHORT_SIDES]


def _scales_for(height: int, width: int, factor: float) -> tuple[int, int]:
    """``(target_short_side, max_long_side)`` that make the detector resize by (about) ``factor``."""
    short, long = min(height, width), max(height, width)
    target = max(1, round(short * factor))
    return target, math.ceil(long * target / short) + 1


def _flip_back(dets: Any, width: int) -> Any:
    """Map detections on ``img[:, ::-1]`` back to the original (x -> W - x; left/right landmarks swap)."""
    boxes, landmarks = mirror_boxes_and_landmarks(dets.boxes, dets.landmarks, width)
    return type(dets)(boxes, dets.scores, landmarks, dets.classes)


def detect_tta(
    learner: Any,
    image: np.ndarray,
    threshold: float = DETECTION_THRESHOLD,
    nms_threshold: float = TTA_NMS_THRESHOLD,
    pyramid: bool = True,
    flip: bool = True,
    max_detections: int = MAX_DETECTIONS,
) -> Any:
    """``Detections`` in original-image pixels, with optional pyramid and flip test-time augmentation."""
    height, width = image.shape[:2]
    factors = pyramid_factors(height, width, pyramid)
    if len(factors) == 1 and not flip:
        return learner.detect_arrays(image, threshold, nms_threshold, _scales_for(height, width, factors[0]))
    from retinaface_ros.detections import Detections
    from retinaface_ros.inference.nms import nms

    flipped = np.ascontiguousarray(image[:, ::-1]) if flip else None
    parts = []
    for factor in factors:
        scales = _scales_for(height, width, factor)
        parts.append(learner.detect_arrays(image, threshold, None, scales))
        if flipped is not None:
            parts.append(_flip_back(learner.detect_arrays(flipped, threshold, None, scales), width))
    parts = [p for p in parts if len(p.scores)]
    if not parts:
        return Detections.empty()
    merged = Detections(
        np.concatenate([p.boxes for p in parts]).astype(np.float32),
        np.concatenate([p.scores for p in parts]).astype(np.float32),
        np.concatenate([p.landmarks for p in parts]).astype(np.float32),
        np.concatenate([p.classes for p in parts]).astype(np.int64),
    )
    keep = np.asarray(nms(merged.boxes, merged.scores, nms_threshold), dtype=np.int64)[:max_detections]
    return merged.select(keep)


def _subset_indices(size: int, use_subset: bool, subset_size: int, seed: int) -> np.ndarray:
    if not use_subset or subset_size >= size:
        return np.arange(size)
    return np.sort(np.random.default_rng(seed).choice(size, subset_size, replace=False))


def evaluate_learner(
    learner: Any,
    dataset: Any,
    verbose: bool = True,
    use_subset: bool = False,
    subset_size: int = 250,
    pyramid: bool = True,
    flip: bool = True,
    predictions_dir: str | os.PathLike | None = None,
    ground_truth_dir: str | os.PathLike | None = None,
    threshold: float = DETECTION_THRESHOLD,
    nms_threshold: float = TTA_NMS_THRESHOLD,
    seed: int = 0,
    return_curves: bool = False,
) -> dict[str, Any]:
    """Run ``learner`` over ``dataset`` (a :class:`~retinaface_ros.datasets.DetectionDataset`) and score it.

    Returns ``recall`` (the seed's: best IoU > 0.5, all images count), ``ap`` (VOC AP at IoU 0.5),
    ``num_images``, ``num_faces``, ``seconds``, and ``ap_easy``/``ap_medium``/``ap_hard`` (official WIDER
    protocol, restricted to the evaluated images; NaN for a setting with no face among them) when
    ``ground_truth_dir`` or ``dataset.ground_truth_dir`` holds the .mat files. ``use_subset`` evaluates
    ``subset_size`` distinct images drawn with ``seed``.
    ``predictions_dir`` also writes the detections in the WIDER txt layout (``<event>/<image>.txt``).
    ``return_curves`` adds ``pr_curves``: ``{'all': (recall, precision), 'easy': ..., ...}`` arrays (the
    curves the APs are the areas under; a WIDER setting without faces is left out).
    """
    if not callable(getattr(learner, "detect_arrays", None)):
        raise TypeError(f"learner must provide detect_arrays(...), got {type(learner).__name__}")
    if not (hasattr(dataset, "__len__") and hasattr(dataset, "__getitem__")) or isinstance(
        dataset, (str, bytes)
    ):
        raise TypeError(f"dataset must be a DetectionDataset, got {type(dataset).__name__}")
    if len(dataset) == 0:
        raise ValueError("dataset is empty")
    if isinstance(subset_size, bool) or not isinstance(subset_size, (int, np.integer)) or subset_size <= 0:
        raise ValueError(f"subset_size must be a positive int, got {subset_size!r}")
    for name, value in (("threshold", threshold), ("nms_threshold", nms_threshold)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
            raise ValueError(f"{name} must be a number in [0, 1], got {value!r}")
    explicit_gt = ground_truth_dir is not None
    gt_dir = ground_truth_dir if explicit_gt else getattr(dataset, "ground_truth_dir", None)
    wider_gt = load_ground_truth(gt_dir) if gt_dir is not None else None

    from tqdm import tqdm

    start = time.perf_counter()
    indices = _subset_indices(len(dataset), use_subset, int(subset_size), seed)
    detections, ground_truth, predictions = [], [], {}
    for index in tqdm(indices.tolist(), desc="Evaluating", unit="img", disable=not verbose):
        image, annotations = dataset[index]
        dets = detect_tta(learner, image, threshold, nms_threshold, pyramid, flip)
        boxes = np.asarray(dets.boxes, dtype=np.float64).reshape(-1, 4)
        scores = np.asarray(dets.scores, dtype=np.float64).reshape(-1, 1)
        detections.append(np.hstack([boxes, scores]))
        ground_truth.append(np.asarray(annotations, dtype=np.float64)[:, :4])
        name = dataset.name(index) if hasattr(dataset, "name") else f"images/{index}"
        predictions[name] = np.hstack([boxes[:, :2], boxes[:, 2:] - boxes[:, :2], scores])

    curves: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    if return_curves and (curve := precision_recall_curve(detections, ground_truth)) is not None:
        curves["all"] = curve
    results: dict[str, Any] = {
        "recall": recall(detections, ground_truth),
        "ap": average_precision(detections, ground_truth),
        "num_images": len(indices),
        "num_faces": int(sum(len(g) for g in ground_truth)),
    }
    if predictions_dir is not None:  # first: a scoring error must not cost the inference
        write_predictions(predictions, Path(predictions_dir))
    if wider_gt is not None:
        covered = wider_gt.subset(set(predictions))
        if len(covered):
            wider_curves = wider_pr_curves(predictions, covered)
            for setting, curve in wider_curves.items():
                results[f"ap_{setting}"] = math.nan if curve is None else voc_ap(*curve)
                if return_curves and curve is not None:
                    curves[setting] = curve
        elif explicit_gt:
            raise ValueError(f"none of the evaluated images is in the WIDER ground truth at {gt_dir}")
        else:
            LOGGER.info(
                "WIDER ground truth at %s covers none of the evaluated images; no easy/medium/hard AP", gt_dir
            )
    results["seconds"] = time.perf_counter() - start
    if return_curves:
        results["pr_curves"] = curves
    return results
