"""What inference returns and takes: :class:`Detections` (faces of one image, as arrays) and
:class:`InferenceParams` (validated detection settings). No torch."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from retinaface_ros.types import BoundingBox, BoundingBoxList
from retinaface_ros.validation import check_probability, check_scales


@dataclass
class Detections:
    """Faces found in one image, in original-image pixels, sorted by score (highest first)."""

    boxes: np.ndarray  # N×4 float32 (x1, y1, x2, y2)
    scores: np.ndarray  # N float32
    landmarks: np.ndarray  # N×5×2 float32
    classes: np.ndarray  # N int64: 0 face, 1 masked_face

    def __len__(self) -> int:
        return len(self.scores)

    @classmethod
    def empty(cls) -> Detections:
        return cls(
            np.zeros((0, 4), np.float32),
            np.zeros(0, np.float32),
            np.zeros((0, 5, 2), np.float32),
            np.zeros(0, np.int64),
        )

    def select(self, index: np.ndarray) -> Detections:
        return Detections(self.boxes[index], self.scores[index], self.landmarks[index], self.classes[index])

    def to_bounding_boxes(self) -> BoundingBoxList:
        return BoundingBoxList(
            BoundingBox(int(c), x1, y1, x2 - x1, y2 - y1, float(s), lm)
            for (x1, y1, x2, y2), s, lm, c in zip(
                self.boxes.tolist(), self.scores.tolist(), self.landmarks, self.classes.tolist(), strict=True
            )
        )


@dataclass(frozen=True)
class InferenceParams:
    """Validated detection settings."""

    threshold: float = 0.8
    nms_threshold: float = 0.4
    scales: tuple[int, int] = (1024, 1980)
    mask_thresh: float = 0.8

    def __post_init__(self) -> None:
        for name in ("threshold", "nms_threshold", "mask_thresh"):  # numpy scalars become floats
            object.__setattr__(self, name, check_probability(name, getattr(self, name)))
        object.__setattr__(self, "scales", validate_scales(self.scales))


def validate_scales(scales: Sequence[int]) -> tuple[int, int]:
    """``[target_short_side, max_long_side]`` as two ints within :mod:`retinaface_ros.validation`'s bounds."""
    return check_scales(scales)


def detections_from_rows(packed: np.ndarray, image_hw: tuple[int, int]) -> Detections:
    """Rows (x1, y1, x2, y2, 10 landmark coords, score, class) → clipped Detections."""
    boxes = packed[:, :4].copy()
    points = packed[:, 4:14].reshape(-1, 5, 2).copy()
    clip_to_image(boxes, points, image_hw)
    return Detections(boxes, packed[:, 14].copy(), points, packed[:, 15].astype(np.int64))


def clip_to_image(boxes: np.ndarray, points: np.ndarray, image_hw: tuple[int, int]) -> None:
    """Clip N×4 boxes and N×5×2 landmarks to the image, in place."""
    image_height, image_width = image_hw
    np.clip(boxes[:, 0::2], 0, image_width, out=boxes[:, 0::2])
    np.clip(boxes[:, 1::2], 0, image_height, out=boxes[:, 1::2])
    np.clip(points[..., 0], 0, image_width, out=points[..., 0])
    np.clip(points[..., 1], 0, image_height, out=points[..., 1])
