"""Pixel geometry → REP 155's normalised image coordinates: the face ROI
(hri_msgs/NormalizedRegionOfInterest2D) and the 70-slot landmark layout of hri_msgs/FacialLandmarks."""

from __future__ import annotations

import numpy as np

FACIAL_LANDMARKS_COUNT = 70  # hri_msgs/FacialLandmarks: NormalizedPointOfInterest2D[70]

# Our 5 points (image-left eye, image-right eye, nose tip, image-left mouth corner, image-right mouth
# corner) at their slots in FacialLandmarks (dlib/OpenPose numbering). Left/right are the person's, so the
# eye on the image's left is the person's RIGHT_PUPIL.
LANDMARK_SLOTS: tuple[int, ...] = (
    68,  # RIGHT_PUPIL
    69,  # LEFT_PUPIL
    30,  # NOSE (tip)
    48,  # MOUTH_OUTER_RIGHT
    54,  # MOUTH_OUTER_LEFT
)


def _image_size(image_hw: tuple[int, int]) -> tuple[float, float]:
    height, width = image_hw
    if height <= 0 or width <= 0:
        raise ValueError(f"image size must be positive, got {width}x{height}")
    return float(height), float(width)


def normalized_roi(box: np.ndarray, image_hw: tuple[int, int]) -> tuple[float, float, float, float]:
    """(xmin, ymin, xmax, ymax) of a pixel box x1y1x2y2, divided by the image size and clipped to [0, 1]."""
    height, width = _image_size(image_hw)
    x1, y1, x2, y2 = (float(v) for v in box)
    scaled = (x1 / width, y1 / height, x2 / width, y2 / height)
    return tuple(min(1.0, max(0.0, v)) for v in scaled)  # type: ignore[return-value]


def facial_landmarks(landmarks: np.ndarray, image_hw: tuple[int, int], confidence: float) -> np.ndarray:
    """(70, 3) float32 rows (x, y, c) in FacialLandmarks order: our 5 points normalised and clipped to
    [0, 1] with ``confidence``; every other slot is unknown: (0, 0) with confidence 0."""
    height, width = _image_size(image_hw)
    points = np.asarray(landmarks, np.float64).reshape(5, 2)
    out = np.zeros((FACIAL_LANDMARKS_COUNT, 3), np.float32)
    out[list(LANDMARK_SLOTS), 0] = np.clip(points[:, 0] / width, 0.0, 1.0)
    out[list(LANDMARK_SLOTS), 1] = np.clip(points[:, 1] / height, 0.0, 1.0)
    out[list(LANDMARK_SLOTS), 2] = min(1.0, max(0.0, float(confidence)))
    return out
