"""The CPU fast paths (one-pass blob preprocess, numpy postprocess, batching) against the plain path and
the reference port."""

from __future__ import annotations

import cv2
import numpy as np
import torch
from conftest import box_iou
from detector_helpers import (
    PARAMS,
    assert_same_faces,
    plain_detector,
)

from retinaface_ros import RetinaFaceLearner
from retinaface_ros.benchmark.reference import ReferencePipeline
from retinaface_ros.detections import Detections, InferenceParams
from retinaface_ros.inference.detector import fast_detector
from retinaface_ros.inference.postprocess.batch import PostprocessBatch
from retinaface_ros.inference.postprocess.torch import TorchPostprocess
from retinaface_ros.inference.preprocess import resize_on_device
from retinaface_ros.inference.staging import resize_image
from retinaface_ros.model import RetinaFace, config_for


def test_one_pass_preprocess_matches_plain(model: RetinaFace, frame: np.ndarray) -> None:
    fast = fast_detector(model, config_for("mnet"))
    slow = plain_detector(model)
    for factor in (1.0, 0.73):
        np.testing.assert_allclose(
            fast.prepare([frame], factor).numpy(), slow.prepare([frame], factor).numpy(), atol=1e-4
        )


def test_cpu_fast_path_matches_plain(model: RetinaFace, frame: np.ndarray, plain: Detections) -> None:
    got = fast_detector(model, config_for("mnet")).detect(frame, PARAMS)
    assert_same_faces(got, plain, 0.99)
    assert got.boxes.dtype == np.float32 and got.classes.dtype == np.int64


def test_cpu_defaults_scales_path(model: RetinaFace, frame: np.ndarray) -> None:
    params = InferenceParams(threshold=0.5, scales=(1024, 1980))  # a resize (480 → 1024)
    want = plain_detector(model).detect(frame, params)
    got = fast_detector(model, config_for("mnet")).detect(frame, params)
    assert_same_faces(got, want, 0.99)
    assert got.boxes[:, 2].max() <= 640 and got.boxes[:, 3].max() <= 480


def test_device_resize_gives_the_same_faces(model: RetinaFace, frame: np.ndarray) -> None:
    """CUDA resizes on the device (:func:`resize_on_device`); run here on CPU tensors, its 1365×1024 input
    gives the faces that OpenCV's resize (as the reference calls it) gives."""
    detector = fast_detector(model, config_for("mnet"))
    params = InferenceParams(threshold=0.5, scales=(1024, 1980))  # 1365×1024 is already at these scales
    resized = torch.empty((1, 1024, 1365, 3), dtype=torch.uint8)
    resize_on_device(torch.from_numpy(frame)[None], resized, 1024 / 480)
    want = detector.detect(resize_image(frame, 1024 / 480), params)
    # inputs one level apart on ~12 % of pixels: small faces' scores move by up to ~0.01
    assert_same_faces(detector.detect(resized[0].numpy(), params), want, 0.99, score_atol=0.02)


def test_reference_port_agrees(model: RetinaFace, frame: np.ndarray, plain: Detections) -> None:
    ref = ReferencePipeline(model, config_for("mnet")).detect(frame)
    ref = ref[ref[:, 4] > PARAMS.threshold]
    assert abs(len(ref) - len(plain)) <= 1
    strong = np.clip(ref[ref[:, 4] > 0.55, :4], 0, [640, 480, 640, 480])  # the reference does not clip
    assert box_iou(strong, plain.boxes).max(1).min() >= 0.99


def test_batch_equals_single(model: RetinaFace, frame: np.ndarray) -> None:
    detector = fast_detector(model, config_for("mnet"))
    images = [frame, np.ascontiguousarray(frame[:, ::-1]), cv2.resize(frame, (480, 360)), frame]
    params = InferenceParams(threshold=0.5, scales=(480, 640))
    batched = detector.detect_batch(images, params)
    for image, got in zip(images, batched, strict=True):
        want = detector.detect(image, params)
        np.testing.assert_allclose(got.boxes, want.boxes, atol=1e-3)
        np.testing.assert_allclose(got.scores, want.scores, atol=1e-5)


def test_learner_infer_batch_mixed_sizes(mnet_weights, frame: np.ndarray) -> None:
    learner = RetinaFaceLearner(backbone="mnet", device="cpu")
    learner.load(mnet_weights, verbose=False)
    images = [frame, cv2.resize(frame, (320, 240)), frame]
    batched = learner.infer_batch(images, threshold=0.5)
    for image, boxes in zip(images, batched, strict=True):
        single = learner.infer(image, threshold=0.5)
        assert len(single) == len(boxes) > 0
        np.testing.assert_allclose([b.xyxy() for b in boxes], [b.xyxy() for b in single], atol=1e-2)


def test_batched_torch_postprocess_matches_per_image(model: RetinaFace, frame: np.ndarray) -> None:
    """The CUDA batch postprocess (one grouped NMS, one copy back), run here on CPU tensors."""
    detector = fast_detector(model, config_for("mnet"))
    images = [frame, np.ascontiguousarray(frame[:, ::-1]), frame[::-1].copy()]
    with torch.inference_mode():
        outputs = detector.run(detector.prepare(images, 1.0))
        batch = PostprocessBatch(outputs, (480, 640), [(480, 640)] * 3, 1.0, PARAMS)
        batched = TorchPostprocess(detector.priors, (0.1, 0.2), False).batch(batch)
        assert batched is not None
        for row, got in enumerate(batched):
            want = detector.postprocess_image(batch, row)  # the numpy path on the CPU
            assert len(got) == len(want) > 0
            np.testing.assert_allclose(got.boxes, want.boxes, atol=1e-3)
            np.testing.assert_allclose(got.scores, want.scores, atol=1e-6)
