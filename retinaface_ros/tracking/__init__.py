"""Face tracking (no ROS, no torch): stable string ids, smoothed boxes and landmarks, and tracks carried
between detector runs by a motion model and optical flow. One :class:`FaceTracker` per camera."""

from __future__ import annotations

from retinaface_ros.tracking.config import SmoothingConfig, TrackerConfig
from retinaface_ros.tracking.track import Track, TrackerStats, tracks_to_detections
from retinaface_ros.tracking.tracker import FaceTracker

__all__ = ["FaceTracker", "SmoothingConfig", "Track", "TrackerConfig", "TrackerStats", "tracks_to_detections"]
