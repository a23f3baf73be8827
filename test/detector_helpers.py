"""Shared pieces of the detector tests: the pretrained mnet, a crowded VGA frame, the plain (parity oracle)
detector and comparisons of detections."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from conftest import box_iou

from retinaface_ros import RetinaFaceLearner
from retinaface_ros.detections import Detections, InferenceParams
from retinaface_ros.inference.detector import Detector, fast_detector
from retinaface_ros.inference.options import PLAIN, DetectorOptions
from retinaface_ros.model import RetinaFace, config_for

CUDA = torch.cuda.is_available()
needs_cuda = pytest.mark.skipif(not CUDA, reason="no CUDA GPU visible to PyTorch: CUDA fast paths not run")
PARAMS = InferenceParams(threshold=0.5, nms_threshold=0.4, scales=(480, 640))


def assert_same_faces(
    got: Detections,
    want: Detections,
    min_iou: float,
    score_atol: float = 1e-3,
    min_share: float = 1.0,
    count_tol: float = 0.02,
    all_confident: bool = True,
) -> None:
    """Same detections (up to borderline ones at the threshold): reference boxes matched at ``min_iou``
    (``min_share`` of them; with ``all_confident`` every box scoring ≥ 0.8). fp16 on an H200 moved one
    confident selfie box to IoU 0.906, hence ``all_confident=False`` there."""
    assert len(want) > 0
    assert abs(len(got) - len(want)) <= max(1, round(count_tol * len(want))), (len(got), len(want))
    strong = want.scores >= PARAMS.threshold + 0.05  # away from the threshold, where rounding may flip one
    iou = box_iou(want.boxes[strong], got.boxes)
    best = iou.max(1)
    if all_confident:
        assert best[want.scores[strong] >= 0.8].min() >= min_iou
    assert (best >= min_iou).mean() >= min_share, np.sort(best)[:5]
    match = iou.argmax(1)
    good = best >= min_iou
    np.testing.assert_allclose(got.scores[match][good], want.scores[strong][good], atol=score_atol)


@pytest.fixture(scope="module")
def model(mnet_weights) -> RetinaFace:
    learner = RetinaFaceLearner(backbone="mnet", device="cpu")
    learner.load(mnet_weights, verbose=False)
    return learner.model


@pytest.fixture(scope="module")
def frame(selfie_path) -> np.ndarray:
    photo = cv2.imread(str(selfie_path))
    return cv2.resize(photo[:, 200:1397], (640, 480), interpolation=cv2.INTER_AREA)


def plain_detector(model: RetinaFace, device: str = "cpu") -> Detector:
    """The un-optimised path: un-fused fp32 model, torch preprocess and postprocess, no graphs."""
    return fast_detector(model, config_for("mnet"), device, PLAIN)


@pytest.fixture(scope="module")
def plain(model: RetinaFace, frame: np.ndarray) -> Detections:
    return plain_detector(model).detect(frame, PARAMS)


def random_boxes(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    centers = rng.uniform(0, 200, (n, 2))
    sizes = rng.uniform(5, 60, (n, 2))
    boxes = np.concatenate((centers - sizes / 2, centers + sizes / 2), 1).astype(np.float32)
    return boxes, rng.permutation(n).astype(np.float32) / n  # distinct scores: one greedy answer


def packed_detector(model: RetinaFace, device: str = "cpu", **settings) -> Detector:
    """The fast detector with the packed (in-graph on CUDA) postprocess forced on, also on the CPU."""
    return fast_detector(model, config_for("mnet"), device, DetectorOptions(packed=True, **settings))


def selfie_frames(frame: np.ndarray) -> list[np.ndarray]:
    return [frame, np.ascontiguousarray(frame[:, ::-1]), frame[::-1].copy()]


def assert_exact(got: list[Detections], want: list[Detections]) -> None:
    for g, w in zip(got, want, strict=True):
        assert len(g) == len(w) > 0
        assert box_iou(w.boxes, g.boxes).max(1).min() >= 0.99
        np.testing.assert_allclose(g.boxes, w.boxes, atol=1e-2)
        np.testing.assert_allclose(g.scores, w.scores, atol=1e-5)
        np.testing.assert_allclose(g.landmarks, w.landmarks, atol=1e-2)
        np.testing.assert_array_equal(g.classes, w.classes)
