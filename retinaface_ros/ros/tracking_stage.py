"""The detector node's tracking step: one :class:`~retinaface_ros.tracking.FaceTracker` per camera (ids
prefixed with the camera name, so unique across cameras), which frames the detector runs on
(``detect_rate_hz``), and the confirmed tracks to publish. Wires parameters to the core; no maths.

Trackers live as long as the node, so ids are never handed out twice, also across lifecycle transitions
and ``tracking`` switched off and on (activation and switching off only forget the tracks).
"""

from __future__ import annotations

import threading

import numpy as np

from retinaface_ros.detections import Detections
from retinaface_ros.ros.params import DetectorParams
from retinaface_ros.tracking import (
    FaceTracker,
    SmoothingConfig,
    Track,
    TrackerConfig,
    TrackerStats,
    tracks_to_detections,
)

DETECT_RATE_TOLERANCE = 0.05  # a frame this share of a period early for its detector run still gets it


def stamp_seconds(sec: int, nanosec: int, received_s: float) -> float:
    """A header stamp in seconds; ``received_s`` (the arrival time) when the stamp is unset (zero)."""
    return sec + nanosec * 1e-9 if sec or nanosec else received_s


def tracker_config(params: DetectorParams, camera: str) -> TrackerConfig:
    """The core's settings from the node's parameters; ids prefixed by camera ('cam/left': cam_left_)."""
    smoothing = SmoothingConfig(
        params.smoothing, params.smoothing_min_cutoff, params.smoothing_beta, params.smoothing_d_cutoff
    )
    return TrackerConfig(
        min_hits=params.track_min_hits,
        max_age_s=params.track_max_age_s,
        smoothing=smoothing,
        optical_flow=params.optical_flow,
        id_prefix=camera.replace("/", "_"),
    )


class TrackingStage:
    """Per-camera trackers behind the node's worker; thread-safe (parameters change from the executor)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._trackers: dict[str, FaceTracker] = {}  # by camera name, for the node's lifetime
        self._cameras: tuple[str, ...] = ("",)
        self._params: DetectorParams | None = None
        self._last_detection: dict[int, float] = {}
        self._published: dict[int, list[Track]] = {}  # per camera: the tracks of its latest follow()

    def configure(self, params: DetectorParams) -> None:
        """Apply (validated) parameters: at configure and on every live change."""
        with self._lock:
            was_tracking = self._params is not None and self._params.tracking
            self._params = params
            self._cameras = params.cameras or ("",)
            for name in self._cameras:
                config = tracker_config(params, name)
                if name in self._trackers:
                    self._trackers[name].configure(config)
                else:
                    self._trackers[name] = FaceTracker(config)
            if was_tracking and not params.tracking:
                self._forget()

    def reset(self) -> None:
        """Forget all tracks (at activation: the streams start again); ids are never reused."""
        with self._lock:
            self._forget()

    def _forget(self) -> None:
        for tracker in self._trackers.values():
            tracker.reset()
        self._last_detection.clear()

    @property
    def enabled(self) -> bool:
        return self._params is not None and self._params.tracking

    def wants_detection(self, camera: int, stamp_s: float) -> bool:
        """Whether the detector runs on this camera's frame at ``stamp_s`` (always, unless tracking with
        ``detect_rate_hz``: then when a period has passed since its last detector run, or time went back)."""
        params = self._params
        if params is None or not params.tracking or params.detect_rate_hz <= 0.0:
            return True
        with self._lock:
            last = self._last_detection.get(camera)
            period = 1.0 / params.detect_rate_hz
            if last is None or stamp_s < last or stamp_s - last >= period * (1.0 - DETECT_RATE_TOLERANCE):
                self._last_detection[camera] = stamp_s
                return True
            return False

    def follow(
        self, camera: int, stamp_s: float, detections: Detections | None, image: np.ndarray
    ) -> tuple[Detections, list[str] | None]:
        """What to publish for one frame: the confirmed tracks and their ids, or (with tracking off) the
        detections as they are and no ids. ``detections=None``: the detector skipped this frame."""
        with self._lock:
            if detections is not None and not self.enabled:
                self._published.pop(camera, None)
                return detections, None
            tracker = self._trackers[self._cameras[camera]]
            confirmed = [track for track in tracker.update(stamp_s, detections, image) if track.confirmed]
            self._published[camera] = confirmed
        return tracks_to_detections(confirmed)

    def published_tracks(self, camera: int) -> list[Track] | None:
        """The confirmed tracks the latest :meth:`follow` of ``camera`` published (for the REP 155 outputs,
        so their ids are the same), or None when it did not track."""
        return self._published.get(camera)

    def diagnostics(self) -> dict[str, str]:
        """Tracking counters summed over the cameras, for /diagnostics."""
        with self._lock:
            stats = [self._trackers[name].stats for name in self._cameras if name in self._trackers]
        total = {key: sum(getattr(s, key) for s in stats) for key in TrackerStats.__dataclass_fields__}
        return {
            "tracking": str(self.enabled),
            "tracks_active": str(total["active"]),
            "tracks_confirmed": str(total["confirmed"]),
            "tracks_created": str(total["created"]),
            "frames_detected": str(total["frames_detected"]),
            "frames_propagated": str(total["frames_propagated"]),
            "tracker_resets": str(total["resets"]),
        }
