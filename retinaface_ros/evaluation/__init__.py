"""Evaluation: the seed's recall, VOC AP, the official WIDER FACE protocol and learner evaluation."""

from retinaface_ros.evaluation.evaluate import detect_tta, evaluate_learner, pyramid_factors
from retinaface_ros.evaluation.metrics import average_precision, precision_recall_curve, recall
from retinaface_ros.evaluation.wider_protocol import (
    SETTINGS,
    WiderGroundTruth,
    bbox_overlaps_inclusive,
    evaluate_wider,
    load_ground_truth,
    load_predictions,
    voc_ap,
    wider_pr_curves,
    write_predictions,
)

__all__ = [
    "SETTINGS",
    "WiderGroundTruth",
    "average_precision",
    "bbox_overlaps_inclusive",
    "detect_tta",
    "evaluate_learner",
    "evaluate_wider",
    "load_ground_truth",
    "load_predictions",
    "precision_recall_curve",
    "pyramid_factors",
    "recall",
    "voc_ap",
    "wider_pr_curves",
    "write_predictions",
]
