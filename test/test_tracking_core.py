"""The face tracker's core (no ROS, no torch) on synthetic boxes: motion model (checked against filterpy),
One-Euro smoothing, optimal association, ids, track life, and bad input (stamps going back, a frame size
change, a camera restart, non-finite detections)."""

from __future__ import annotations

import numpy as np
import pytest

from retinaface_ros.detections import Detections
from retinaface_ros.tracking import FaceTracker, SmoothingConfig, TrackerConfig, tracks_to_detections
from retinaface_ros.tracking.association import associate
from retinaface_ros.tracking.ids import IdAllocator
from retinaface_ros.tracking.motion import BoxKalman, boxes_to_z
from retinaface_ros.tracking.smoothing import OneEuroFilter

LANDMARK_LAYOUT = np.array([(0.3, 0.4), (0.7, 0.4), (0.5, 0.6), (0.35, 0.8), (0.65, 0.8)])
FPS = 30.0


def faces(boxes, classes=None, scores=None) -> Detections:
    """Detections for x1y1x2y2 boxes, landmarks at fixed places inside each box."""
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    size = boxes[:, None, 2:] - boxes[:, None, :2]
    landmarks = (boxes[:, None, :2] + LANDMARK_LAYOUT[None] * size).astype(np.float32)
    count = len(boxes)
    scores = np.full(count, 0.9, np.float32) if scores is None else np.asarray(scores, np.float32)
    classes = np.zeros(count, np.int64) if classes is None else np.asarray(classes, np.int64)
    return Detections(boxes, scores, landmarks, classes)


def box_at(x: float, y: float, size: float = 60.0) -> list[float]:
    return [x, y, x + size, y + size]


def confirmed_ids(tracks) -> list[str]:
    return sorted(t.track_id for t in tracks if t.confirmed)


def ids_by_x(tracks) -> list[str]:
    return [t.track_id for t in sorted(tracks, key=lambda t: t.box[0]) if t.confirmed]


# ---------------------------------------------------------------------------------------------- config / ids
@pytest.mark.parametrize(
    "kwargs",
    [{"min_hits": 0}, {"min_hits": 2.5}, {"max_age_s": 0.0}, {"max_age_s": float("nan")}, {"id_prefix": 3}],
)
def test_config_rejects_bad_values(kwargs):
    with pytest.raises((ValueError, TypeError), match="TrackerConfig"):
        TrackerConfig(**kwargs)


@pytest.mark.parametrize("kwargs", [{"min_cutoff": 0.0}, {"beta": -1.0}, {"d_cutoff": float("inf")}])
def test_smoothing_config_rejects_bad_values(kwargs):
    with pytest.raises(ValueError, match="SmoothingConfig"):
        SmoothingConfig(**kwargs)


def test_ids_deterministic_prefixed_and_random_never_repeat():
    counting = IdAllocator("front", deterministic=True)
    assert [counting() for _ in range(3)] == ["front_1", "front_2", "front_3"]
    random_ids = IdAllocator()
    drawn = [random_ids() for _ in range(2000)]
    assert len(set(drawn)) == 2000 and random_ids.issued == 2000
    # five lowercase letters: valid ROS name tokens, so REP 155 topics and TF frames carry the id unchanged
    assert all(len(track_id) == 5 and track_id.isascii() and track_id.isalpha() for track_id in drawn)
    assert all(track_id.islower() for track_id in drawn)


# ---------------------------------------------------------------------------------------------- motion
def test_batched_kalman_matches_filterpy():
    """The array filter gives filterpy's KalmanFilter's numbers for the same F, Q, R, H (per coordinate)."""
    from filterpy.common import Q_continuous_white_noise
    from filterpy.kalman import KalmanFilter

    from retinaface_ros.tracking import motion

    rng = np.random.default_rng(1)
    start = np.array([[100.0, 50.0, 160.0, 130.0]])
    ours = BoxKalman()
    ours.add(start)
    height = boxes_to_z(start)[0, 3]
    reference = []
    for value in boxes_to_z(start)[0]:
        kf = KalmanFilter(dim_x=2, dim_z=1)
        kf.x = np.array([[value], [0.0]])
        kf.P = np.diag([(motion.MEASUREMENT_NOISE * height) ** 2, (motion.INITIAL_SPEED_STD * height) ** 2])
        kf.H = np.array([[1.0, 0.0]])
        reference.append(kf)
    box = start[0].copy()
    for step in range(40):
        dt = 1 / 30 if step % 5 else 1 / 10  # variable frame rate
        box = box + np.array([3.0, 1.0, 3.5, 1.5]) + rng.normal(0, 1.0, 4)
        q_height = ours.position[0, 3]  # Q scales with the size before the step, R with the one after
        ours.predict(dt)
        r_height = ours.position[0, 3]
        ours.update(np.array([0]), box[None])
        for coordinate, kf in enumerate(reference):
            kf.F = np.array([[1.0, dt], [0.0, 1.0]])
            kf.Q = Q_continuous_white_noise(2, dt, (motion.ACCEL_NOISE * q_height) ** 2)
            kf.predict()
            kf.R = np.array([[(motion.MEASUREMENT_NOISE * r_height) ** 2]])
            kf.update(boxes_to_z(box[None])[0, coordinate])
        expected = np.array([kf.x[0, 0] for kf in reference])
        np.testing.assert_allclose(ours.position[0], expected, rtol=1e-9, atol=1e-6)
        np.testing.assert_allclose(ours.velocity[0], [kf.x[1, 0] for kf in reference], rtol=1e-9, atol=1e-6)
        np.testing.assert_allclose(ours.p00[0], [kf.P[0, 0] for kf in reference], rtol=1e-9)
        np.testing.assert_allclose(ours.p11[0], [kf.P[1, 1] for kf in reference], rtol=1e-9)


# ---------------------------------------------------------------------------------------------- smoothing
def test_one_euro_removes_jitter_of_a_still_value_and_follows_a_moving_one():
    rng = np.random.default_rng(2)
    still = OneEuroFilter(SmoothingConfig(), width=1)
    still.add(np.array([[100.0]]), 0.0)
    raw = 100.0 + rng.normal(0, 2.0, 300)
    out = np.array([still(np.array([[value]]), (i + 1) / FPS)[0, 0] for i, value in enumerate(raw)])
    assert np.std(np.diff(out[30:])) * 3 < np.std(np.diff(raw[30:]))

    moving = OneEuroFilter(SmoothingConfig(), width=1)
    moving.add(np.array([[0.0]]), 0.0)
    speed = 10.0  # pixels per frame
    out = [moving(np.array([[speed * (i + 1)]]), (i + 1) / FPS)[0, 0] for i in range(60)]
    lag_frames = (speed * 60 - out[-1]) / speed
    assert lag_frames < 1.0


def test_one_euro_passes_through_when_time_does_not_advance_and_when_disabled():
    smoother = OneEuroFilter(SmoothingConfig(), width=2)
    smoother.add(np.array([[1.0, 2.0]]), 5.0)
    np.testing.assert_array_equal(smoother(np.array([[9.0, 9.0]]), 5.0), [[1.0, 2.0]])
    off = OneEuroFilter(SmoothingConfig(enabled=False), width=2)
    off.add(np.array([[1.0, 2.0]]), 0.0)
    np.testing.assert_array_equal(off(np.array([[9.0, 8.0]]), 0.1), [[9.0, 8.0]])


# ---------------------------------------------------------------------------------------------- association
def test_association_is_optimal_not_greedy():
    """Greedy by best IoU gives track 0 detection 0 and leaves track 1 unmatched; the optimum pairs both."""
    tracks = np.array([box_at(0, 0, 100), box_at(60, 0, 100)], float)
    detections = np.array([box_at(30, 0, 100), box_at(-40, 0, 100)], float)
    match = associate(tracks, detections)
    assert dict(zip(match.tracks.tolist(), match.detections.tolist(), strict=True)) == {0: 1, 1: 0}
    assert not len(match.unmatched_tracks) and not len(match.unmatched_detections)


def test_association_gates_far_pairs_and_handles_empty_sides():
    match = associate(np.array([box_at(0, 0)], float), np.array([box_at(500, 500)], float))
    assert not len(match.tracks) and match.unmatched_tracks.tolist() == [0]
    assert match.unmatched_detections.tolist() == [0]
    match = associate(np.zeros((0, 4)), np.array([box_at(0, 0)], float))
    assert match.unmatched_detections.tolist() == [0]


# ---------------------------------------------------------------------------------------------- tracker
def test_moving_faces_keep_their_ids_and_a_new_face_gets_a_new_one():
    tracker = FaceTracker(TrackerConfig(min_hits=3, deterministic_ids=True))
    first = None
    for frame in range(60):
        boxes = [box_at(50 + 4 * frame, 100), box_at(400 - 3 * frame, 120)]
        if frame >= 30:
            boxes.append(box_at(300, 400))
        tracks = tracker.update(frame / FPS, faces(boxes))
        if frame == 0:
            first = ids_by_x(tracks)
            assert len(first) == 2  # confirmed at once: the stream's first min_hits frames
        if frame == 20:  # the two faces crossed (frame ~50/7): ids follow the faces, not the positions
            assert sorted(ids_by_x(tracks)) == sorted(first)
            moving_right = min(tracks, key=lambda t: abs(t.box[0] - (50 + 4 * frame)))
            assert moving_right.track_id == first[0]
    assert len(tracks) == 3 and sum(t.confirmed for t in tracks) == 3
    newcomer = [t for t in tracks if t.track_id not in first]
    assert len(newcomer) == 1 and newcomer[0].hits == 30
    assert tracker.stats.created == 3 and tracker.stats.frames_detected == 60


def test_later_faces_need_min_hits_and_tentative_ones_missed_once_are_dropped():
    tracker = FaceTracker(TrackerConfig(min_hits=3, deterministic_ids=True))
    for frame in range(5):
        tracker.update(frame / FPS, faces([box_at(10, 10)]))
    stamp = 5 / FPS
    tracks = tracker.update(stamp, faces([box_at(10, 10), box_at(300, 300)]))
    newcomer = next(t for t in tracks if t.box[0] > 200)
    assert not newcomer.confirmed
    tracks = tracker.update(stamp + 1 / FPS, faces([box_at(10, 10)]))  # the false positive is gone
    assert [t.track_id for t in tracks] == ["1"]
    for frame in range(3):
        tracks = tracker.update(stamp + (frame + 2) / FPS, faces([box_at(10, 10), box_at(300, 300)]))
        newcomer = next(t for t in tracks if t.box[0] > 200)
        assert newcomer.track_id == "3" and newcomer.confirmed == (frame == 2)  # confirmed at its 3rd hit


def test_a_face_missed_for_less_than_max_age_keeps_its_id_and_a_lost_one_is_never_reused():
    tracker = FaceTracker(TrackerConfig(max_age_s=0.5, deterministic_ids=True))
    stamp = 0.0
    for frame in range(10):
        stamp = frame / FPS
        tracks = tracker.update(stamp, faces([box_at(100 + 2 * frame, 100)]))
    (original,) = confirmed_ids(tracks)
    for frame in range(10, 22):  # 0.4 s occluded: the track coasts on its velocity
        stamp = frame / FPS
        tracks = tracker.update(stamp, faces([]))
        assert confirmed_ids(tracks) == [original] and not tracks[0].detected
    tracks = tracker.update(22 / FPS, faces([box_at(144, 100)]))
    assert confirmed_ids(tracks) == [original] and tracks[0].detected
    for frame in range(23, 45):  # 0.7 s gone: deleted
        tracks = tracker.update(frame / FPS, faces([]))
    assert tracks == []
    for frame in range(45, 50):
        tracks = tracker.update(frame / FPS, faces([box_at(144, 100)]))
    assert confirmed_ids(tracks) and confirmed_ids(tracks) != [original]
    assert tracker.stats.created == 2


def test_class_by_majority_and_score_follow_the_detections():
    tracker = FaceTracker()
    for frame, cls in enumerate([1, 0, 1, 1, 0]):
        tracks = tracker.update(frame / FPS, faces([box_at(0, 0)], classes=[cls], scores=[0.5]))
    assert tracks[0].class_id == 1
    assert tracks[0].score == pytest.approx(0.5)
    assert tracks[0].age_s == pytest.approx(4 / FPS) and tracks[0].time_since_update_s == 0.0


def test_propagated_frames_follow_the_motion_and_are_counted():
    tracker = FaceTracker(TrackerConfig(deterministic_ids=True))
    speed = 5.0
    for frame in range(30):
        detections = faces([box_at(100 + speed * frame, 100)]) if frame % 3 == 0 else None
        tracks = tracker.update(frame / FPS, detections)
        assert len(tracks) == 1 and tracks[0].track_id == "1"
        assert tracks[0].detected == (frame % 3 == 0)
    truth = 100 + speed * 29
    assert abs(tracks[0].box[0] - truth) < 2 * speed
    assert tracker.stats.frames_detected == 10 and tracker.stats.frames_propagated == 20


def test_a_still_face_jitters_at_least_three_times_less_than_its_detections():
    rng = np.random.default_rng(3)
    tracker = FaceTracker()
    raw_centres, tracked_centres = [], []
    for frame in range(150):
        box = np.array(box_at(200, 200, 80)) + rng.normal(0, 1.5, 4)
        (track,) = tracker.update(frame / FPS, faces([box]))
        raw_centres.append((box[:2] + box[2:]) / 2)
        tracked_centres.append((track.box[:2] + track.box[2:]) / 2)
    raw_jitter = np.linalg.norm(np.diff(raw_centres[30:], axis=0), axis=1).mean()
    tracked_jitter = np.linalg.norm(np.diff(tracked_centres[30:], axis=0), axis=1).mean()
    assert tracked_jitter * 3 <= raw_jitter


def test_tracks_to_detections_sorted_by_score_with_matching_ids():
    tracker = FaceTracker(TrackerConfig(deterministic_ids=True))
    tracks = tracker.update(0.0, faces([box_at(0, 0), box_at(200, 0)], scores=[0.6, 0.95], classes=[0, 1]))
    detections, ids = tracks_to_detections(tracks)
    assert ids == ["2", "1"] and detections.scores.tolist() == pytest.approx([0.95, 0.6])
    assert detections.classes.tolist() == [1, 0] and detections.landmarks.shape == (2, 5, 2)
    empty, no_ids = tracks_to_detections([])
    assert len(empty) == 0 and no_ids == []


# ---------------------------------------------------------------------------------------------- bad input
def test_stamps_going_back_reset_tracks_without_reusing_ids():
    tracker = FaceTracker(TrackerConfig(deterministic_ids=True))
    for frame in range(5):
        tracks = tracker.update(100 + frame / FPS, faces([box_at(10, 10)]))
    assert confirmed_ids(tracks) == ["1"]
    tracks = tracker.update(100.0, faces([box_at(10, 10)]))  # the bag looped / the camera restarted
    assert confirmed_ids(tracks) == ["2"]  # the new stream's first frame: confirmed at once
    assert tracker.stats.resets == 1
    tracks = tracker.update(100.0, faces([box_at(10, 10)]))  # a repeated stamp is not "back"
    assert confirmed_ids(tracks) == ["2"] and tracker.stats.resets == 1


def test_a_frame_size_change_resets_and_a_long_gap_ages_tracks_out():
    tracker = FaceTracker(TrackerConfig(deterministic_ids=True, max_age_s=1.0))
    small = np.zeros((240, 320, 3), np.uint8)
    for frame in range(3):
        tracks = tracker.update(frame / FPS, faces([box_at(10, 10)]), small)
    tracks = tracker.update(3 / FPS, faces([box_at(20, 20)]), np.zeros((480, 640, 3), np.uint8))
    assert confirmed_ids(tracks) == ["2"] and tracker.stats.resets == 1
    tracks = tracker.update(60.0, None, np.zeros((480, 640, 3), np.uint8))  # camera back after a minute
    assert tracks == []
    tracks = tracker.update(60.1, faces([box_at(20, 20)]), np.zeros((480, 640, 3), np.uint8))
    assert [t.track_id for t in tracks] == ["3"]


def test_bad_detections_are_ignored_and_bad_stamps_named():
    tracker = FaceTracker()
    bad = faces([box_at(0, 0), box_at(100, 100), box_at(300, 300)])
    bad.boxes[0, 0] = np.nan
    bad.boxes[1] = [50, 50, 40, 60]  # x2 < x1
    tracks = tracker.update(0.0, bad)
    assert len(tracks) == 1 and tracks[0].box[0] == pytest.approx(300)
    assert tracker.update(0.1, Detections.empty())[0].detected is False
    with pytest.raises(ValueError, match="stamp_s"):
        tracker.update(float("nan"), None)


def test_tracks_leaving_the_frame_are_dropped_and_boxes_clipped():
    tracker = FaceTracker(TrackerConfig(deterministic_ids=True, max_age_s=5.0))
    image = np.zeros((200, 300, 3), np.uint8)
    for frame in range(10):
        tracks = tracker.update(frame / FPS, faces([box_at(200 + 8 * frame, 50)]), image)
    assert tracks[0].box[2] <= 300
    for frame in range(10, 40):
        tracks = tracker.update(frame / FPS, faces([]), image)
    assert tracks == []


def test_configure_applies_live_and_keeps_tracks_and_ids():
    tracker = FaceTracker(TrackerConfig(deterministic_ids=True, id_prefix="front"))
    tracks = tracker.update(0.0, faces([box_at(10, 10)]))
    assert [t.track_id for t in tracks] == ["front_1"]
    tracker.configure(TrackerConfig(deterministic_ids=True, id_prefix="front", max_age_s=0.05, min_hits=5))
    tracks = tracker.update(1 / FPS, faces([box_at(10, 10)]))
    assert [t.track_id for t in tracks] == ["front_1"]
    assert tracker.update(0.2, faces([])) == []  # the new max_age_s applies
    with pytest.raises(ValueError, match="id_prefix"):
        tracker.configure(TrackerConfig(deterministic_ids=True, id_prefix="rear"))


def test_association_leaves_a_face_out_rather_than_pairing_two_bad_matches():
    """Track 1's face vanished and a new face appeared beside track 0: track 0 keeps its own face (no swap
    that would give both tracks poor matches)."""
    tracks = np.array([[546, 366, 584, 410], [515, 355, 543, 387]], float)
    detections = np.array([[540, 359, 577, 403], [570, 368, 598, 407]], float)
    match = associate(tracks, detections)
    assert dict(zip(match.tracks.tolist(), match.detections.tolist(), strict=True)) == {0: 0}
    assert match.unmatched_tracks.tolist() == [1] and match.unmatched_detections.tolist() == [1]


def test_cost_matrix_matches_its_parts():
    from retinaface_ros.tracking.association import (
        DISTANCE_WEIGHT,
        centre_distance_matrix,
        cost_matrix,
        iou_matrix,
    )

    rng = np.random.default_rng(5)
    a = rng.uniform(0, 200, (30, 2))
    b = rng.uniform(0, 200, (20, 2))
    tracks = np.concatenate([a, a + rng.uniform(10, 40, (30, 2))], axis=1)
    detections = np.concatenate([b, b + rng.uniform(10, 40, (20, 2))], axis=1)
    cost = cost_matrix(tracks, detections)
    iou, distance = iou_matrix(tracks, detections), centre_distance_matrix(tracks, detections)
    allowed = cost < 1e6
    np.testing.assert_allclose(cost[allowed], ((1 - iou) + DISTANCE_WEIGHT * distance)[allowed], rtol=1e-5)
    assert (allowed == ((iou >= 0.1) | (distance <= 1.0))).all() and allowed.any() and not allowed.all()
