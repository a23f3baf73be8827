"""Drawing detections (boxes, scores, five landmarks) on an image with OpenCV."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import cv2
import numpy as np

from retinaface_ros.types import BoundingBox, BoundingBoxList, Image

# BGR colours: per class for boxes, per landmark point (left eye, right eye, nose, mouth left, mouth right).
CLASS_COLORS = ((0, 255, 0), (255, 128, 0))
LANDMARK_COLORS = ((0, 0, 255), (0, 255, 255), (255, 0, 255), (0, 255, 0), (255, 0, 0))


def draw_bounding_boxes(
    img: Image | np.ndarray,
    boxes: BoundingBoxList | Iterable[BoundingBox],
    class_names: Sequence[str] | None = None,
    show: bool = False,
    line_thickness: int | None = None,
) -> np.ndarray:
    """Draw boxes, score labels and landmarks; returns a new HWC BGR image (the input is untouched)."""
    from retinaface_ros.inference.detector import as_bgr_image

    canvas = as_bgr_image(img).copy()
    names = tuple(class_names) if class_names is not None else None
    thickness = line_thickness or max(1, round(0.002 * (canvas.shape[0] + canvas.shape[1]) / 2))
    font_scale = max(0.35, thickness / 3)
    for box in boxes:
        class_index = box.name if isinstance(box.name, int) else 0
        color = CLASS_COLORS[class_index % len(CLASS_COLORS)]
        top_left = (round(box.left), round(box.top))
        bottom_right = (round(box.left + box.width), round(box.top + box.height))
        cv2.rectangle(canvas, top_left, bottom_right, color, thickness, cv2.LINE_AA)
        if names is None:  # default: bare score for faces, "mask" marks masked faces
            label = f"{'mask ' if class_index == 1 else ''}{box.confidence:.2f}"
        else:
            label_name = names[class_index] if 0 <= class_index < len(names) else str(box.name)
            label = f"{label_name} {box.confidence:.2f}"
        cv2.putText(
            canvas,
            label,
            (top_left[0], max(top_left[1] - 3, 10)),
            cv2.FONT_HERSHEY_SIMPLEX,
            font_scale,
            color,
            max(1, thickness // 2),
            cv2.LINE_AA,
        )
        if box.landmarks is not None:
            radius = max(1, thickness)
            for (x, y), point_color in zip(box.landmarks, LANDMARK_COLORS, strict=True):
                cv2.circle(canvas, (round(float(x)), round(float(y))), radius, point_color, -1, cv2.LINE_AA)
    if show:
        cv2.imshow("retinaface", canvas)
        cv2.waitKey(0)
    return canvas
