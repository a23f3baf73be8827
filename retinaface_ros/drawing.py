"""Drawing detections (boxes, scores, five landmarks) on an image with OpenCV."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import cv2
import numpy as np

from retinaface_ros.types import BoundingBox, BoundingBoxList, Image

# BGR colours: per class for boxes, per landmark point (left eye, right eye, nose, mouth left, mouth right).
CLASS_COLORS = ((0, 255, 0), (255, 128, 0))
LANDMARK_COLORS = ((0, 0, 255), (0, 255, 255), (255, 0, 255), (0, 255, 0), (255, 0, 0))
LABELS = ("score", "id", "none")  # what each box is labelled with: its score, its 1-based number, nothing
MIN_FONT_SCALE = 0.3  # smaller text is unreadable: boxes too small for it get no label
MAX_FONT_SCALE = 1.0  # labels of large faces grow up to this (or the image's own size, when larger)


def draw_bounding_boxes(
    img: Image | np.ndarray,
    boxes: BoundingBoxList | Iterable[BoundingBox],
    class_names: Sequence[str] | None = None,
    show: bool = False,
    line_thickness: int | None = None,
    labels: str = "score",
) -> np.ndarray:
    """Draw boxes, labels and landmarks; returns a new HWC BGR image (the input is untouched).

    ``labels``: 'score' (with the class name when ``class_names`` is given), 'id' (the box's 1-based
    position in ``boxes``) or 'none'. A label is never wider than its box nor taller than a third of it,
    so labels in a dense crowd do not cover each other; boxes too small for readable text get none.
    """
    if labels not in LABELS:
        raise ValueError(f"labels must be one of {LABELS}, got {labels!r}")
    from retinaface_ros.inference.preprocess import as_bgr_image

    canvas = as_bgr_image(img).copy()
    names = tuple(class_names) if class_names is not None else None
    thickness = line_thickness or max(1, round(0.002 * (canvas.shape[0] + canvas.shape[1]) / 2))
    font_scale = max(0.35, thickness / 3)
    for number, box in enumerate(boxes, start=1):
        class_index = box.name if isinstance(box.name, int) else 0
        color = CLASS_COLORS[class_index % len(CLASS_COLORS)]
        top_left = (round(box.left), round(box.top))
        bottom_right = (round(box.left + box.width), round(box.top + box.height))
        cv2.rectangle(canvas, top_left, bottom_right, color, thickness, cv2.LINE_AA)
        if labels == "id":
            label = str(number)
        elif names is None:  # default: bare score for faces, "mask" marks masked faces
            label = f"{'mask ' if class_index == 1 else ''}{box.confidence:.2f}"
        else:
            label_name = names[class_index] if 0 <= class_index < len(names) else str(box.name)
            label = f"{label_name} {box.confidence:.2f}"
        if labels != "none":
            _put_label(canvas, label, box, font_scale, max(1, thickness // 2), color)
        if box.landmarks is not None:
            radius = max(1, thickness)
            for (x, y), point_color in zip(box.landmarks, LANDMARK_COLORS, strict=True):
                cv2.circle(canvas, (round(float(x)), round(float(y))), radius, point_color, -1, cv2.LINE_AA)
    if show:
        cv2.imshow("retinaface", canvas)
        cv2.waitKey(0)
    return canvas


def _put_label(
    canvas: np.ndarray, label: str, box: BoundingBox, font_scale: float, thickness: int, color: tuple
) -> None:
    """``label`` above the box (inside it at the image's top edge), sized by the box: as wide as the box at
    most and a third of its height, between MIN_FONT_SCALE (else no label) and MAX_FONT_SCALE."""
    font = cv2.FONT_HERSHEY_SIMPLEX
    (width, height), _ = cv2.getTextSize(label, font, 1.0, 1)
    scale = min(max(font_scale, MAX_FONT_SCALE), box.width / width, box.height / 3 / height)
    if scale < MIN_FONT_SCALE:
        return
    thickness = max(thickness, round(scale)) if scale >= font_scale else 1
    text_height = round(height * scale)
    left, top = round(box.left), round(box.top)
    baseline_y = top - 3 if top - 3 - text_height >= 0 else top + text_height + 2
    cv2.putText(canvas, label, (left, baseline_y), font, scale, color, thickness, cv2.LINE_AA)
