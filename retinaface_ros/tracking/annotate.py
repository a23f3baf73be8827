"""Track ids drawn on an annotated image (next to what :func:`retinaface_ros.drawing.draw_bounding_boxes`
draws), so a viewer sees which face is which."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from retinaface_ros.detections import Detections

ID_COLOR = (255, 255, 255)
ID_OUTLINE = (0, 0, 0)


def draw_track_ids(canvas: np.ndarray, detections: Detections, ids: Sequence[str]) -> np.ndarray:
    """Write each face's id inside its box's bottom-left corner, on ``canvas`` (BGR, changed in place and
    returned)."""
    thickness = max(1, round(0.002 * (canvas.shape[0] + canvas.shape[1]) / 2))
    scale = max(0.6, thickness / 2)  # a bit larger than the score labels: the id is what people look for
    for (x1, _, _, y2), track_id in zip(detections.boxes.tolist(), ids, strict=True):
        origin = (round(x1) + 3, max(round(y2) - 6, 16))
        for color, width in ((ID_OUTLINE, thickness + 2), (ID_COLOR, thickness)):
            cv2.putText(
                canvas, f"#{track_id}", origin, cv2.FONT_HERSHEY_SIMPLEX, scale, color, width, cv2.LINE_AA
            )
    return canvas
