"""Optical flow between detector runs, on real image content: crops of bald_guys.jpg panned by known
amounts, so where a face box must be is known exactly."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from retinaface_ros.detections import Detections
from retinaface_ros.tracking import FaceTracker, TrackerConfig
from retinaface_ros.tracking.optical_flow import similarities, to_gray, track_points

FPS = 30.0
CROP = (640, 480)
START = np.array([600, 500])  # crop origin in bald_guys.jpg at frame 0
BOX = np.array([165.0, 250.0, 345.0, 470.0])  # a face in frame 0
PAN = np.array([3, -2])  # the content moves this many pixels per frame (right, up)


@pytest.fixture(scope="module")
def scene(bald_guys_path) -> np.ndarray:
    image = cv2.imread(str(bald_guys_path))
    assert image is not None
    return image


def frame_at(scene: np.ndarray, index: int) -> np.ndarray:
    x, y = START - PAN * index
    return scene[y : y + CROP[1], x : x + CROP[0]].copy()


def one_face(box: np.ndarray) -> Detections:
    landmarks = box[:2] + np.array([(0.3, 0.4), (0.7, 0.4), (0.5, 0.6), (0.35, 0.8), (0.65, 0.8)]) * (
        box[2:] - box[:2]
    )
    return Detections(
        box[None].astype(np.float32),
        np.array([0.9], np.float32),
        landmarks[None].astype(np.float32),
        np.zeros(1, np.int64),
    )


def test_track_points_recovers_a_known_shift(scene):
    before, after = to_gray(frame_at(scene, 0)), to_gray(frame_at(scene, 1))
    points = np.array([[220.0, 365.0], [300.0, 365.0], [260.0, 400.0], [240.0, 440.0]])
    moved, ok = track_points(before, after, points)
    assert ok.sum() >= 3
    np.testing.assert_allclose(moved[ok] - points[ok], np.broadcast_to(PAN, (ok.sum(), 2)), atol=0.3)
    shift, scale = similarities(points[None], moved[None], ok[None])
    assert scale[0] == pytest.approx(1.0, abs=0.02) and np.allclose(shift[0], PAN, atol=0.5)


def test_similarities_shift_and_scale_robust_to_a_bad_point():
    grid = np.array([[x, y] for x in (0.0, 10.0, 20.0) for y in (0.0, 10.0, 20.0)])  # 9 points, as per track
    before = np.stack([grid, grid])
    after = before * 1.5 + [3.0, -2.0]
    after[0, 1] = [90.0, 90.0]  # one point followed something else
    ok = np.ones((2, 9), bool)
    ok[1, 2:] = False  # two reliable points left
    shift, scale = similarities(before, after, ok)
    assert scale[0] == pytest.approx(1.5, abs=0.05) and np.allclose(shift[0], [3.0, -2.0], atol=1.0)
    assert scale[1] == pytest.approx(1.5) and np.allclose(shift[1], [3.0, -2.0])


def test_to_gray_accepts_camera_layouts_and_names_bad_ones():
    assert to_gray(np.zeros((4, 5, 3), np.uint8)).shape == (4, 5)
    assert to_gray(np.zeros((4, 5, 4), np.uint8)).shape == (4, 5)
    assert to_gray(np.zeros((4, 5, 1), np.uint8)).shape == (4, 5)
    with pytest.raises(ValueError, match="uint8"):
        to_gray(np.zeros((4, 5, 3), np.float32))


@pytest.mark.parametrize("optical_flow", [True, False])
def test_between_detector_runs_flow_follows_the_pan(scene, optical_flow):
    """One detection, then 12 frames without: with flow the box follows the pan; the motion model alone
    (no velocity known yet) cannot."""
    tracker = FaceTracker(TrackerConfig(optical_flow=optical_flow, deterministic_ids=True))
    tracker.update(0.0, one_face(BOX), frame_at(scene, 0))
    for index in range(1, 13):
        (track,) = tracker.update(index / FPS, None, frame_at(scene, index))
        assert track.track_id == "1" and not track.detected
    truth = BOX + np.tile(PAN * 12, 2)
    error = np.abs(track.box - truth).max()
    landmark_error = np.abs(track.landmarks - one_face(truth).landmarks[0]).max()
    if optical_flow:
        assert error < 4.0 and landmark_error < 4.0
    else:
        assert error > 20.0
    assert tracker.stats.frames_propagated == 12


def test_detection_every_third_frame_keeps_the_box_on_the_face(scene):
    tracker = FaceTracker(TrackerConfig(deterministic_ids=True))
    errors = []
    for index in range(30):
        truth = BOX + np.tile(PAN * index, 2)
        detections = one_face(truth) if index % 3 == 0 else None
        (track,) = tracker.update(index / FPS, detections, frame_at(scene, index))
        assert track.track_id == "1" and track.confirmed
        errors.append(np.abs((track.box[:2] + track.box[2:]) / 2 - (truth[:2] + truth[2:]) / 2).max())
    assert max(errors[10:]) < 4.0
