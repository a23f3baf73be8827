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
_SLOTS = np.array(LANDMARK_SLOTS)


def _image_size(image_hw: tuple[int, int]) -> tuple[float, float]:
    height, width = image_hw
    if height <= 0 or width <= 0:
        raise ValueError(f"image size must be positive, got {width}x{height}")
    return float(height), float(width)


def normalized_roi(box: np.ndarray, image_hw: tuple[int, int]) -> np.ndarray:
    """xmin, ymin, xmax, ymax of pixel boxes x1y1x2y2 (shape (..., 4)), divided by the image size and
    clipped to [0, 1]: float64 of the boxes' shape."""
    height, width = _image_size(image_hw)
    return np.clip(np.asarray(box, np.float64) / (width, height, width, height), 0.0, 1.0)


def facial_landmarks(
    landmarks: np.ndarray, image_hw: tuple[int, int], confidence: float | np.ndarray
) -> np.ndarray:
    """Rows (x, y, c) in FacialLandmarks order, float32 of shape (70, 3), or (faces, 70, 3) for landmarks of
    shape (faces, 5, 2) with a confidence each: our 5 points normalised and clipped to [0, 1] with their
    face's confidence; every other slot is unknown: (0, 0) with confidence 0."""
    height, width = _image_size(image_hw)
    points = np.asarray(landmarks, np.float64)
    points = points.reshape(points.shape[:-2] + (5, 2) if points.ndim >= 2 else (5, 2))
    out = np.zeros(points.shape[:-2] + (FACIAL_LANDMARKS_COUNT, 3), np.float32)
    out[..., _SLOTS, :2] = np.clip(points / (width, height), 0.0, 1.0)
    out[..., _SLOTS, 2] = np.clip(np.asarray(confidence, np.float64), 0.0, 1.0)[..., None]
    return out
