"""``FaceTracker``: one camera's faces followed over frames (SORT-style: predict, associate, update, manage).

Per frame: every track is moved to the frame's stamp by its constant-velocity Kalman filter
(:mod:`.motion`); on frames the detector ran on, tracks and detections are matched optimally
(:mod:`.association`), matched tracks are corrected, unmatched detections start tentative tracks; on frames
it did not run on, tracks are moved by sparse optical flow from the previous image when enabled
(:mod:`.optical_flow`). Tracks are confirmed after ``min_hits`` detections (at once during the stream's
first ``min_hits`` detector frames, as SORT does, so a single image gives its faces), a tentative track
missed once is dropped, and any track without a detection for ``max_age_s`` is deleted. Published boxes and
landmarks are One-Euro smoothed (:mod:`.smoothing`).

Bad input never raises from :meth:`FaceTracker.update` for data a camera can produce: a stamp earlier than
the previous one (a camera or bag restart) or a change of frame size resets the tracks (ids still never
come back); detections with non-finite or empty boxes are ignored; a gap in the stamps ages tracks out as
time says.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from retinaface_ros.detections import Detections
from retinaface_ros.tracking import optical_flow
from retinaface_ros.tracking.association import associate
from retinaface_ros.tracking.config import TrackerConfig
from retinaface_ros.tracking.ids import IdAllocator
from retinaface_ros.tracking.lifecycle import TrackLife
from retinaface_ros.tracking.motion import BoxKalman
from retinaface_ros.tracking.smoothing import OneEuroFilter
from retinaface_ros.tracking.track import Track, TrackerStats

FLOW_NOISE = 0.01  # measurement std of a box moved by optical flow, in face heights
MIN_FLOW_POINTS = 3  # of a track's 9 points (4 inner box corners + 5 landmarks) that must follow
CORNER_INSET = 0.2  # flow follows points this far (in box sizes) inside the box corners: on the face
MIN_IN_VIEW = 0.5  # an undetected track with less of its box inside the frame has left the view


def _landmarks_in_box(relative: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Landmarks (N×5×2) from box-relative coordinates (0..1 across the box) and boxes (N×4)."""
    size = boxes[:, None, 2:] - boxes[:, None, :2]
    return boxes[:, None, :2] + relative * size


def _box_relative(landmarks: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    size = np.maximum(boxes[:, None, 2:] - boxes[:, None, :2], 1.0)
    return (landmarks - boxes[:, None, :2]) / size


def _share_in_view(boxes: np.ndarray, frame_size: tuple[int, int]) -> np.ndarray:
    """The share of each box's area inside the frame."""
    height, width = frame_size
    inside_w = np.clip(np.minimum(boxes[:, 2], width) - np.maximum(boxes[:, 0], 0), 0, None)
    inside_h = np.clip(np.minimum(boxes[:, 3], height) - np.maximum(boxes[:, 1], 0), 0, None)
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return inside_w * inside_h / np.maximum(area, 1e-9)


def _valid_detections(detections: Detections) -> Detections:
    """The rows with finite values and a box of positive size (shapes checked)."""
    count = len(detections.scores)
    boxes = np.asarray(detections.boxes, np.float64).reshape(count, 4)
    landmarks = np.asarray(detections.landmarks, np.float64).reshape(count, 5, 2)
    scores = np.asarray(detections.scores, np.float64).reshape(count)
    classes = np.asarray(detections.classes).reshape(count).astype(np.int64)
    good = np.isfinite(boxes).all(axis=1) & np.isfinite(landmarks).all(axis=(1, 2)) & np.isfinite(scores)
    good &= (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
    return Detections(boxes[good], scores[good], landmarks[good], classes[good])


class FaceTracker:
    """Multi-face tracker for one camera; see the module docstring."""

    def __init__(self, config: TrackerConfig | None = None) -> None:
        self.config = config if config is not None else TrackerConfig()
        self._new_id = IdAllocator(self.config.id_prefix, self.config.deterministic_ids)
        self._counts = TrackerStats()
        self._clear()

    def _clear(self) -> None:
        self._ids: list[str] = []
        self._kalman = BoxKalman()
        self._life = TrackLife()
        self._smoother = OneEuroFilter(self.config.smoothing, 14)
        self._landmarks = np.zeros((0, 5, 2))  # raw (unsmoothed) landmarks in the current frame
        self._last_stamp: float | None = None
        self._frame_size: tuple[int, int] | None = None
        self._previous_gray: np.ndarray | None = None
        self._detector_frames = 0  # since the stream (re)started

    def configure(self, config: TrackerConfig) -> None:
        """Apply new settings to the running tracker, keeping its tracks and ids (``id_prefix`` and
        ``deterministic_ids`` are fixed for a tracker's life: make a new one to change them)."""
        fixed = (self.config.id_prefix, self.config.deterministic_ids)
        if (config.id_prefix, config.deterministic_ids) != fixed:
            raise ValueError("id_prefix and deterministic_ids cannot change on a running tracker")
        if not config.optical_flow:
            self._previous_gray = None  # no stale image to flow from when it is switched on again
        self.config = config
        self._smoother.config = config.smoothing

    def reset(self) -> None:
        """Forget all tracks (their ids are still never handed out again)."""
        self._clear()
        self._counts = replace(self._counts, resets=self._counts.resets + 1)

    @property
    def stats(self) -> TrackerStats:
        confirmed = int(np.count_nonzero(self._life.confirmed))
        return replace(self._counts, active=len(self._ids), confirmed=confirmed, created=self._new_id.issued)

    # ---------------------------------------------------------------------------------------------- frame
    def update(
        self, stamp_s: float, detections: Detections | None, image: np.ndarray | None = None
    ) -> list[Track]:
        """One frame at ``stamp_s`` (seconds, e.g. the image header's stamp). ``detections=None``: the
        detector did not run on this frame and tracks are propagated (motion model, plus optical flow from
        the previous image when enabled and ``image`` is given). Returns the live tracks (confirmed and
        tentative); publish those with ``.confirmed``."""
        stamp_s = float(stamp_s)
        if not math.isfinite(stamp_s):
            raise ValueError(f"stamp_s must be a finite number of seconds, got {stamp_s}")
        gray = self._check_frame(stamp_s, image)
        dt = 0.0 if self._last_stamp is None else stamp_s - self._last_stamp
        previous_boxes = self._kalman.boxes()
        self._kalman.predict(dt)
        self._life.detected[:] = False
        if detections is None:
            self._counts = replace(self._counts, frames_propagated=self._counts.frames_propagated + 1)
            self._follow_without_detections(previous_boxes, gray)
        else:
            self._counts = replace(self._counts, frames_detected=self._counts.frames_detected + 1)
            self._detector_frames += 1
            self._follow_detections(previous_boxes, _valid_detections(detections), stamp_s, gray)
        self._drop_lost(stamp_s, detected=detections is not None)
        self._last_stamp = stamp_s
        if gray is not None:
            self._previous_gray = gray
        return self._tracks(stamp_s)

    def _check_frame(self, stamp_s: float, image: np.ndarray | None) -> np.ndarray | None:
        """Reset on a stamp going back or a new frame size; the frame as gray when optical flow needs it."""
        if self._last_stamp is not None and stamp_s < self._last_stamp:
            self.reset()
        if image is None:
            return None
        size = (int(image.shape[0]), int(image.shape[1]))
        if self._frame_size is not None and size != self._frame_size:
            self.reset()
        self._frame_size = size
        return optical_flow.to_gray(image) if self.config.optical_flow else None

    def _follow_detections(
        self, previous_boxes: np.ndarray, found: Detections, stamp_s: float, gray: np.ndarray | None
    ) -> None:
        predicted = self._kalman.boxes()
        match = associate(predicted, found.boxes)
        self._kalman.update(match.tracks, found.boxes[match.detections])
        self._landmarks[match.tracks] = found.landmarks[match.detections]
        self._life.matched(
            match.tracks,
            found.scores[match.detections],
            found.classes[match.detections],
            stamp_s,
            self.config.min_hits,
        )
        missed = match.unmatched_tracks
        if len(missed):  # faces the detector missed: moved like between detector runs
            self._move_undetected(missed, previous_boxes, gray)
        self._start(found.select(match.unmatched_detections), stamp_s)

    def _start(self, found: Detections, stamp_s: float) -> None:
        if not len(found):
            return
        self._ids.extend(self._new_id() for _ in range(len(found)))
        self._kalman.add(found.boxes)
        self._life.add(found.scores, found.classes, stamp_s, self._detector_frames <= self.config.min_hits)
        self._landmarks = np.concatenate([self._landmarks, found.landmarks])
        self._smoother.add(np.concatenate([found.boxes, found.landmarks.reshape(-1, 10)], axis=1), stamp_s)

    def _follow_without_detections(self, previous_boxes: np.ndarray, gray: np.ndarray | None) -> None:
        if self._ids:
            self._move_undetected(np.arange(len(self._ids)), previous_boxes, gray)

    def _move_undetected(
        self, tracks: np.ndarray, previous_boxes: np.ndarray, gray: np.ndarray | None
    ) -> None:
        """Tracks ``tracks`` had no detection in this frame: their landmarks follow the predicted boxes, and
        both are corrected by optical flow from the previous image when there is one."""
        before = previous_boxes[tracks]
        relative = _box_relative(self._landmarks[tracks], before)
        landmarks = _landmarks_in_box(relative, self._kalman.boxes()[tracks])
        if gray is not None and self._previous_gray is not None:
            self._flow(tracks, before, gray, landmarks)
        self._landmarks[tracks] = landmarks

    def _flow(
        self, tracks: np.ndarray, previous_boxes: np.ndarray, gray: np.ndarray, landmarks: np.ndarray
    ) -> None:
        """Correct ``tracks`` (with their previous boxes) by where their points flowed; ``landmarks`` (theirs,
        same order) are changed in place."""
        count = len(tracks)
        x1, y1, x2, y2 = previous_boxes.T
        inset_x, inset_y = CORNER_INSET * (x2 - x1), CORNER_INSET * (y2 - y1)
        left, right, top, bottom = x1 + inset_x, x2 - inset_x, y1 + inset_y, y2 - inset_y
        corners = np.stack(
            [
                np.stack([left, top], 1),
                np.stack([right, top], 1),
                np.stack([left, bottom], 1),
                np.stack([right, bottom], 1),
            ],
            axis=1,
        )
        previous_landmarks = self._landmarks[tracks]
        before = np.concatenate([corners, previous_landmarks], axis=1)  # N×9×2
        after, ok = optical_flow.track_points(self._previous_gray, gray, before.reshape(-1, 2))
        after, ok = after.reshape(count, 9, 2).astype(np.float64), ok.reshape(count, 9)
        followed = ok.sum(axis=1) >= MIN_FLOW_POINTS
        if not followed.any():
            return
        rows = np.flatnonzero(followed)
        shift, scale = optical_flow.similarities(before[rows], after[rows], ok[rows])
        moved_boxes = previous_boxes[rows] * scale[:, None] + np.tile(shift, 2)
        moved_landmarks = previous_landmarks[rows] * scale[:, None, None] + shift[:, None]
        points_ok = ok[rows, 4:, None]  # landmarks that followed take their own flow
        landmarks[rows] = np.where(points_ok, after[rows, 4:], moved_landmarks)
        self._kalman.update(tracks[rows], moved_boxes, noise=FLOW_NOISE)

    def _drop_lost(self, stamp_s: float, detected: bool) -> None:
        """Delete tracks too long without a detection, tentative ones missed on a detector frame, and
        undetected ones mostly out of the frame (they left)."""
        lost = self._life.expired(stamp_s, self.config.max_age_s)
        if detected:
            lost |= ~self._life.confirmed & ~self._life.detected
        if self._frame_size is not None and len(self._ids):  # undetected and mostly out of view: it left
            lost |= ~self._life.detected & (
                _share_in_view(self._kalman.boxes(), self._frame_size) < MIN_IN_VIEW
            )
        if lost.any():
            keep = ~lost
            self._ids = [track_id for track_id, kept in zip(self._ids, keep, strict=True) if kept]
            self._kalman.keep(keep)
            self._life.keep(keep)
            self._smoother.keep(keep)
            self._landmarks = self._landmarks[keep]

    def _velocities(self) -> np.ndarray:
        """N×14 velocities (pixels/s) of the box corners and landmarks under the motion model."""
        velocity = self._kalman.velocity
        centre, half_size = velocity[:, :2], velocity[:, 2:] / 2.0
        return np.concatenate([centre - half_size, centre + half_size, np.tile(centre, 5)], axis=1)

    def _tracks(self, stamp_s: float) -> list[Track]:
        if not self._ids:
            return []
        raw = np.concatenate([self._kalman.boxes(), self._landmarks.reshape(-1, 10)], axis=1)
        smooth = self._smoother(raw, stamp_s, self._velocities()).astype(np.float32)
        boxes, landmarks = smooth[:, :4], smooth[:, 4:].reshape(-1, 5, 2)
        if self._frame_size is not None:
            height, width = self._frame_size
            np.clip(boxes[:, 0::2], 0, width, out=boxes[:, 0::2])
            np.clip(boxes[:, 1::2], 0, height, out=boxes[:, 1::2])
            np.clip(landmarks[..., 0], 0, width, out=landmarks[..., 0])
            np.clip(landmarks[..., 1], 0, height, out=landmarks[..., 1])
        life = self._life
        ages = (stamp_s - life.created_s).tolist()
        since = (stamp_s - life.updated_s).tolist()
        return [
            Track(track_id, box, points, score, class_id, confirmed, hits, detected, age, waited)
            for track_id, box, points, score, class_id, confirmed, hits, detected, age, waited in zip(
                self._ids,
                boxes,
                landmarks,
                life.score.tolist(),
                life.class_ids().tolist(),
                life.confirmed.tolist(),
                life.hits.tolist(),
                life.detected.tolist(),
                ages,
                since,
                strict=True,
            )
        ]
