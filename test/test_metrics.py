"""Recall (the seed's definition, every image counted) and VOC AP on hand-made cases."""

from __future__ import annotations

import numpy as np
import pytest

from retinaface_ros.evaluation import average_precision, recall

FACE_A = [10.0, 10.0, 49.0, 49.0]
FACE_B = [100.0, 100.0, 139.0, 139.0]


def _dets(*rows):
    return np.array(rows, dtype=np.float64).reshape(-1, 5)


def test_recall_counts_images_without_detections():
    gts = [np.array([FACE_A, FACE_B]), np.array([FACE_A])]
    dets = [_dets(FACE_A + [0.9], FACE_B + [0.8]), np.zeros((0, 5))]
    assert recall(dets, gts) == pytest.approx(2 / 3)


def test_recall_duplicates_do_not_double_count():
    gts = [np.array([FACE_A, FACE_B])]
    dets = [_dets(FACE_A + [0.9], [11, 11, 50, 50, 0.8], [10, 12, 49, 51, 0.7])]
    assert recall(dets, gts) == pytest.approx(0.5)


def test_recall_iou_threshold_is_strict():
    gt = [np.array([[0.0, 0.0, 9.0, 9.0]])]  # 10 x 10 pixels
    half = [_dets([0, 0, 9, 4, 0.9])]  # 10 x 5 pixels: pixel-inclusive IoU exactly 0.5
    assert recall(half, gt) == 0.0
    assert recall([_dets([0, 0, 9, 5, 0.9])], gt) == 1.0


def test_recall_no_faces_and_boxes_only():
    assert recall([np.zeros((2, 4))], [np.zeros((0, 4))]) == 0.0
    assert recall([np.array([FACE_A])], [np.array([FACE_A])]) == 1.0  # scores optional for recall


def test_ap_perfect_and_ranked():
    gts = [np.array([FACE_A, FACE_B])]
    assert average_precision([_dets(FACE_A + [0.9], FACE_B + [0.8])], gts) == pytest.approx(1.0)
    # a false positive ranked first: precision 1/2 at recall 0.5, 2/3 at recall 1 -> envelope 2/3 everywhere
    dets = [_dets([300, 300, 340, 340, 0.95], FACE_A + [0.9], FACE_B + [0.8])]
    assert average_precision(dets, gts) == pytest.approx(2 / 3)
    # the false positive ranked last does not hurt
    dets = [_dets([300, 300, 340, 340, 0.1], FACE_A + [0.9], FACE_B + [0.8])]
    assert average_precision(dets, gts) == pytest.approx(1.0)


def test_ap_duplicate_is_false_positive_and_misses_cap_recall():
    gts = [np.array([FACE_A, FACE_B]), np.array([FACE_A])]
    # image 0: A found twice (second is FP), B missed; image 1: no detections
    dets = [_dets(FACE_A + [0.9], [11, 11, 50, 50, 0.8]), np.zeros((0, 5))]
    # recall 1/3 at precision 1, then a FP: AP = 1/3
    assert average_precision(dets, gts) == pytest.approx(1 / 3)


def test_ap_orders_across_images():
    gts = [np.array([FACE_A]), np.array([FACE_A])]
    dets = [_dets(FACE_A + [0.5]), _dets([300, 300, 340, 340, 0.9], FACE_A + [0.4])]
    # ranking: FP (0.9), TP (0.5), TP (0.4) -> precision 1/2 at recall 1/2, 2/3 at 1
    assert average_precision(dets, gts) == pytest.approx(2 / 3)


def test_bad_inputs():
    with pytest.raises(ValueError, match="2 detection arrays for 1"):
        recall([np.zeros((0, 4)), np.zeros((0, 4))], [np.zeros((0, 4))])
    with pytest.raises(ValueError, match="N x 5"):
        average_precision([np.zeros((2, 4))], [np.zeros((1, 4))])
    with pytest.raises(TypeError):
        recall(np.zeros((1, 4)), [np.zeros((1, 4))])
