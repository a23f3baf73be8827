"""The tracking benchmark's machinery without the detector: ground truth of the synthetic camera, the
motmetrics wiring, jitter and lag measures, and the replay against camera-rate arrivals."""

from __future__ import annotations

import numpy as np
import pytest

from retinaface_ros.benchmark.tracking import replay_at_camera_rate
from retinaface_ros.benchmark.tracking_metrics import evaluated_faces, jitter, lag_frames, mot_scores
from retinaface_ros.benchmark.tracking_sequences import Window, cover_faces, linear, render, shaken
from retinaface_ros.detections import Detections

PHOTO = np.random.default_rng(0).integers(0, 255, (600, 900, 3), dtype=np.uint8)
FACES = np.array(
    [[100, 100, 160, 170], [300, 120, 350, 180], [500, 300, 570, 380], [850, 100, 890, 150]], float
)


def as_detections(boxes: np.ndarray) -> Detections:
    count = len(boxes)
    landmarks = np.repeat(((boxes[:, :2] + boxes[:, 2:]) / 2)[:, None], 5, axis=1)
    return Detections(
        boxes.astype(np.float32),
        np.ones(count, np.float32),
        landmarks.astype(np.float32),
        np.zeros(count, np.int64),
    )


def truth_outputs(sequence, ids=("a", "b", "c", "d"), shift=None):
    outputs = []
    for index in range(len(sequence)):
        shown = np.flatnonzero(sequence.visible[index])
        boxes = sequence.boxes[index, shown] + (0 if shift is None else shift(index))
        outputs.append((as_detections(boxes), [ids[i] for i in shown]))
    return outputs


def test_camera_moves_map_the_faces():
    pan = render(PHOTO, FACES, "pan", linear(Window(0, 0, 640), Window(20, 10, 640), 3))
    np.testing.assert_allclose(pan.boxes[2, 0], FACES[0] - [20, 10, 20, 10])
    assert pan.visible[:, :3].all() and not pan.visible[:, 3].any() and not pan.present[:, 3].any()
    zoom = render(PHOTO, FACES, "zoom", [Window(0, 0, 320)])
    np.testing.assert_allclose(zoom.boxes[0, 0], FACES[0] * 2)
    assert zoom.frames[0].shape == (480, 640, 3)
    covered = render(PHOTO, FACES, "cover", [Window(0, 0, 640)] * 4, occluders=cover_faces([1], 1, 2))
    assert covered.occluded[:, 1].tolist() == [False, True, True, False] and not covered.occluded[:, 0].any()
    shake = shaken(Window(100, 100, 640), 30, 6.0)
    offsets = np.array([[w.x - 100, w.y - 100] for w in shake])
    assert (
        np.abs(offsets).max() == pytest.approx(6.0) and np.abs(np.diff(offsets, axis=0)).max() < 4.0
    )  # smooth


def test_scores_of_perfect_and_swapped_outputs():
    sequence = render(PHOTO, FACES, "pan", linear(Window(0, 0, 640), Window(30, 0, 640), 12))
    found = [as_detections(sequence.boxes[i, np.flatnonzero(sequence.visible[i])]) for i in range(12)]
    evaluated = evaluated_faces(sequence, found)
    assert evaluated.tolist() == [True, True, True, False]
    perfect = mot_scores(sequence, truth_outputs(sequence), evaluated)
    assert perfect["idf1"] == 1.0 and perfect["id_switches"] == 0 and perfect["mota"] == 1.0

    outputs = truth_outputs(sequence)
    for index in range(6, 12):  # faces a and b swap ids halfway
        ids = outputs[index][1]
        outputs[index] = (outputs[index][0], [{"a": "b", "b": "a"}.get(i, i) for i in ids])
    scores = mot_scores(sequence, outputs, evaluated)
    assert scores["id_switches"] == 2 and scores["idf1"] < 0.8 and scores["mota"] < 1.0
    found[4] = as_detections(sequence.boxes[4, [0, 2]])  # face 1 missed once: not scored
    assert evaluated_faces(sequence, found).tolist() == [True, False, True, False]


def test_lag_and_jitter_measures():
    sequence = render(PHOTO, FACES, "pan", linear(Window(0, 0, 640), Window(60, 0, 640), 21))  # 3 px/frame
    evaluated = np.array([True, True, True, False])
    on_time = [o[0] for o in truth_outputs(sequence)]
    one_behind = [o[0] for o in truth_outputs(sequence, shift=lambda i: np.array([3.0, 0, 3.0, 0]))]
    assert lag_frames(sequence, on_time, evaluated) == pytest.approx(0.0, abs=1e-6)
    assert lag_frames(sequence, one_behind, evaluated) == pytest.approx(1.0, abs=1e-3)
    still = render(PHOTO, FACES, "still", [Window(0, 0, 640)] * 20)
    rng = np.random.default_rng(1)
    noisy = [as_detections(still.boxes[i, :3] + rng.normal(0, 1.0, (3, 4))) for i in range(20)]
    measured = jitter(still, noisy, evaluated)
    assert measured["samples"] == 3 * 9 and 0.5 < measured["centre_px"] < 2.0


def test_replay_at_camera_rate():
    assert replay_at_camera_rate([0.01] * 30, 30.0) == {"output_share": 1.0, "output_fps": 30.0}
    slow = replay_at_camera_rate([0.1] * 30, 30.0)  # three frame periods each: about every third frame
    assert 0.3 <= slow["output_share"] <= 0.4
    every_third = [0.05 if i % 3 == 0 else 0.005 for i in range(30)]  # a 50 ms detector, 5 ms in between
    assert replay_at_camera_rate(every_third, 30.0)["output_share"] == 1.0


def test_detector_limit_for_full_rate():
    from retinaface_ros.benchmark.tracking import detector_limit_for_full_rate

    limit = detector_limit_for_full_rate([0.005] * 30, 3, 30.0)  # 5 ms of tracking per frame
    assert 50.0 <= limit <= 100.0 - 2 * 5.0
    costs = [(limit / 1000 if i % 3 == 0 else 0.0) + 0.005 for i in range(30)]
    assert replay_at_camera_rate(costs, 30.0)["output_share"] == 1.0
