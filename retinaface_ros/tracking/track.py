"""What the tracker reports: :class:`Track` (one face followed over frames) and :class:`TrackerStats`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from retinaface_ros.detections import Detections


@dataclass
class Track:
    """One tracked face in the current frame."""

    track_id: str  # unique for the tracker's lifetime, never reused
    box: np.ndarray  # (4,) float32 x1, y1, x2, y2 in the current frame's pixels (smoothed)
    landmarks: np.ndarray  # (5, 2) float32 (smoothed)
    score: float  # track score: running mean of its detections' scores
    class_id: int  # 0 face / 1 masked_face, by majority over its detections
    confirmed: bool
    hits: int  # matched detections so far
    detected: bool  # True when matched to a detection in this frame; False when predicted/propagated
    age_s: float  # since the track was created
    time_since_update_s: float  # since its last matched detection


@dataclass(frozen=True)
class TrackerStats:
    """Counters of one tracker since it was made (``reset()`` keeps them)."""

    active: int = 0  # live tracks (confirmed and tentative)
    confirmed: int = 0  # live confirmed tracks
    created: int = 0  # tracks started (= ids handed out)
    frames_detected: int = 0  # frames with detector output
    frames_propagated: int = 0  # frames without (motion model / optical flow only)
    resets: int = 0  # times all tracks were dropped (stamps going back, frame size change, reset())


def tracks_to_detections(tracks: Sequence[Track]) -> tuple[Detections, list[str]]:
    """Tracks as :class:`Detections` (sorted by score, highest first) and their ids in the same order, for
    publishing and drawing."""
    if not tracks:
        return Detections.empty(), []
    order = sorted(range(len(tracks)), key=lambda i: -tracks[i].score)
    ordered = [tracks[i] for i in order]
    detections = Detections(
        np.stack([t.box for t in ordered]).astype(np.float32),
        np.array([t.score for t in ordered], np.float32),
        np.stack([t.landmarks for t in ordered]).astype(np.float32),
        np.array([t.class_id for t in ordered], np.int64),
    )
    return detections, [t.track_id for t in ordered]
