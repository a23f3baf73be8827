"""Anonymising faces (retinaface_ros.privacy): pixels outside the enlarged boxes untouched, faces no longer
detectable by the real mnet, temporal safety through detector misses."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from conftest import box_iou

from retinaface_ros.detections import Detections
from retinaface_ros.privacy import METHODS, SHAPES, AnonymizeConfig, FaceCover, anonymize_image, cover_regions


def _textured(shape: tuple[int, ...], dtype: type) -> np.ndarray:
    rng = np.random.default_rng(0)
    high = 256 if dtype == np.uint8 else 65536
    return rng.integers(0, high, size=shape, dtype=dtype)


def _outside_mask(boxes: np.ndarray, scale: float, hw: tuple[int, int]) -> np.ndarray:
    outside = np.ones(hw, bool)
    for x1, y1, x2, y2 in cover_regions(boxes, scale, hw):
        outside[y1:y2, x1:x2] = False
    return outside


BOXES = np.array(
    [[10.4, 20.2, 60.7, 90.1], [150, 5, 190, 45], [-30, 100, 20, 160], [170, 110, 260, 170]], np.float32
)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize(
    ("image_shape", "dtype"),
    [((120, 200, 3), np.uint8), ((120, 200), np.uint8), ((120, 200), np.uint16), ((120, 200, 4), np.uint8)],
)
def test_only_pixels_inside_enlarged_boxes_change(method, shape, image_shape, dtype):
    image = _textured(image_shape, dtype)
    before = image.copy()
    config = AnonymizeConfig(method=method, shape=shape, scale=1.3)
    out = anonymize_image(image, BOXES, config)
    np.testing.assert_array_equal(image, before)  # input untouched
    assert out.dtype == image.dtype and out.shape == image.shape
    outside = _outside_mask(BOXES, 1.3, image_shape[:2])
    np.testing.assert_array_equal(out[outside], image[outside])
    # every box's centre is covered: the textured noise is gone there
    for x1, y1, x2, y2 in cover_regions(BOXES, 1.3, image_shape[:2]):
        cy, cx = (y1 + y2) // 2, (x1 + x2) // 2
        centre = out[cy - 2 : cy + 3, cx - 2 : cx + 3].astype(np.float64)
        assert centre.std() < image[cy - 2 : cy + 3, cx - 2 : cx + 3].astype(np.float64).std() / 3


def test_in_place_and_no_boxes():
    image = _textured((50, 60, 3), np.uint8)
    assert anonymize_image(image, np.zeros((0, 4), np.float32)).tobytes() == image.tobytes()
    same = anonymize_image(image, BOXES[:1], in_place=True)
    assert same is image


def test_enlargement_scale_grows_the_region():
    hw = (200, 200)
    (small,) = cover_regions(np.array([[80, 80, 120, 120]]), 1.0, hw)
    (large,) = cover_regions(np.array([[80, 80, 120, 120]]), 1.5, hw)
    assert small == [80, 80, 120, 120] and large == [70, 70, 130, 130]


@pytest.mark.parametrize(
    "kwargs",
    [{"method": "pixel"}, {"shape": "circle"}, {"scale": 0.5}, {"scale": float("nan")}, {"threshold": 0.0}],
)
def test_bad_config_is_refused(kwargs):
    with pytest.raises(ValueError, match="anonymize"):
        AnonymizeConfig(**kwargs)


@pytest.mark.parametrize("shape", SHAPES)
def test_blurred_faces_are_not_detected_again(mnet_learner, bald_guys_path, shape):
    image = cv2.imread(str(bald_guys_path))
    config = AnonymizeConfig(method="blur", shape=shape)
    original = mnet_learner.detect_arrays(image, threshold=0.5)
    covered = mnet_learner.detect_arrays(image, threshold=config.threshold)
    assert len(original) >= 20 and len(covered) >= len(original)
    again = mnet_learner.detect_arrays(anonymize_image(image, covered.boxes, config), threshold=0.5)
    found_again = int((box_iou(original.boxes, again.boxes).max(1) >= 0.3).sum()) if len(again) else 0
    assert found_again <= 0.02 * len(original), (found_again, len(original))


def _detections(*boxes: list[float]) -> Detections:
    if not boxes:
        return Detections.empty()
    n = len(boxes)
    return Detections(
        np.array(boxes, np.float32),
        np.full(n, 0.9, np.float32),
        np.zeros((n, 5, 2), np.float32),
        np.zeros(n, np.int64),
    )


def test_face_cover_holds_a_face_through_a_short_miss():
    cover = FaceCover(max_age_s=0.25, tracking=False)
    face = [10, 10, 50, 50]
    assert len(cover.update(0.0, _detections(face))) == 1
    held = cover.update(0.1, _detections())  # missed: still covered where it was
    np.testing.assert_allclose(held, [face])
    assert len(cover.update(0.2, _detections())) == 1
    assert len(cover.update(0.3, _detections())) == 0  # 0.3 s since last seen > max_age_s
    # a detected face is not covered twice; another face is added
    cover.update(1.0, _detections(face))
    both = cover.update(1.1, _detections([12, 11, 52, 51], [100, 100, 140, 140]))
    assert len(both) == 2


def test_face_cover_resets_when_stamps_go_back_and_off_means_detections_only():
    cover = FaceCover(max_age_s=1.0)
    cover.update(5.0, _detections([0, 0, 10, 10]))
    assert len(cover.update(1.0, _detections())) == 0  # the stream restarted: nothing held from "the future"
    off = FaceCover(max_age_s=0.0)
    off.update(0.0, _detections([0, 0, 10, 10]))
    assert len(off.update(0.01, _detections())) == 0


def test_face_cover_with_tracker_follows_a_moving_face_through_misses():
    cover = FaceCover(max_age_s=0.5, tracking=True)
    for i in range(5):  # moving right 10 px per 0.1 s
        boxes = cover.update(i * 0.1, _detections([10 + 10 * i, 10, 50 + 10 * i, 50]))
        assert len(boxes) == 1
    for i in range(5, 8):  # missed: covered where the face is predicted to be now
        (box,) = cover.update(i * 0.1, _detections())
        assert abs(box[0] - (10 + 10 * i)) < 6, (i, box)
    for i in range(8, 14):
        last = cover.update(i * 0.1, _detections())
    assert len(last) == 0  # gone after max_age_s
