"""Face images for REP 155's ``/cropped`` and ``/aligned``: the box scaled, centred and 0-padded to a fixed
size, and the face warped by the similarity transform (rotation, uniform scale, shift) that best maps its
5 landmarks onto the ArcFace template, so the eyes are level."""

from __future__ import annotations

import cv2
import numpy as np

# The standard ArcFace / InsightFace 5-point alignment target for 112×112 crops (x, y in pixels): eyes,
# nose tip, mouth corners, in our landmark order (image-left first).
ARCFACE_TEMPLATE_112 = np.array(
    [
        [38.2946, 51.6963],
        [73.5318, 51.5014],
        [56.0252, 71.7366],
        [41.5493, 92.3655],
        [70.7299, 92.2041],
    ],
    np.float32,
)
ALIGN_STYLES = ("face", "arcface")  # face: the template scaled to the crop size; arcface: exactly 112×112


def cropped_face(image: np.ndarray, box: np.ndarray, size: tuple[int, int] = (128, 128)) -> np.ndarray:
    """The box's pixels, scaled to fit ``size`` (width, height) keeping the aspect ratio, centred on a
    black canvas. A box outside the image gives an all-black crop."""
    width, height = size
    canvas = np.zeros((height, width) + image.shape[2:], image.dtype)
    rows, cols = image.shape[:2]
    x1, y1, x2, y2 = np.asarray(box, np.float64)
    x1, y1 = max(0, int(np.floor(x1))), max(0, int(np.floor(y1)))
    x2, y2 = min(cols, int(np.ceil(x2))), min(rows, int(np.ceil(y2)))
    if x2 <= x1 or y2 <= y1:
        return canvas
    patch = image[y1:y2, x1:x2]
    scale = min(width / patch.shape[1], height / patch.shape[0])
    new_w = max(1, min(width, round(patch.shape[1] * scale)))
    new_h = max(1, min(height, round(patch.shape[0] * scale)))
    # INTER_AREA only where bilinear would alias (shrinking more than 2×): it costs ~5× more
    interpolation = cv2.INTER_AREA if scale < 0.5 else cv2.INTER_LINEAR
    resized = cv2.resize(patch, (new_w, new_h), interpolation=interpolation)
    top, left = (height - new_h) // 2, (width - new_w) // 2
    canvas[top : top + new_h, left : left + new_w] = resized.reshape(
        canvas[top : top + new_h, left : left + new_w].shape
    )
    return canvas


def alignment_matrix(landmarks: np.ndarray, size: tuple[int, int] = (112, 112)) -> np.ndarray:
    """2×3 similarity transform mapping the 5 landmarks onto the ArcFace template scaled to ``size``
    (least squares, ``cv2.estimateAffinePartial2D``); from the two eyes alone when that fails."""
    width, height = size
    target = ARCFACE_TEMPLATE_112 * np.array([width / 112.0, height / 112.0], np.float32)
    source = np.asarray(landmarks, np.float32).reshape(5, 2)
    matrix, _ = cv2.estimateAffinePartial2D(source, target, method=cv2.LMEDS)
    if matrix is None or not np.all(np.isfinite(matrix)):
        matrix = _eyes_similarity(source[:2], target[:2])
    return matrix


def _eyes_similarity(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The similarity mapping two source points exactly onto two target points."""
    src = complex(*(source[1] - source[0]))
    dst = complex(*(target[1] - target[0]))
    factor = dst / src if abs(src) > 1e-6 else 1.0 + 0.0j
    a, b = factor.real, factor.imag
    rotation = np.array([[a, -b], [b, a]])
    shift = target[0] - rotation @ source[0]
    return np.hstack([rotation, shift[:, None]]).astype(np.float64)


def aligned_face(image: np.ndarray, landmarks: np.ndarray, size: tuple[int, int] = (128, 128)) -> np.ndarray:
    """The face warped so its landmarks sit on the ArcFace template scaled to ``size`` (eyes level); pass
    (112, 112) for the exact ArcFace input of recognition models. Outside the image is black."""
    return warp_from_region(image, alignment_matrix(landmarks, size), size)


def warp_from_region(image: np.ndarray, matrix: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``cv2.warpAffine(image, matrix, size)`` reading only the image region the output comes from (the
    warp's cost grows with the source it is given: a face from a whole frame costs ~5× more)."""
    width, height = size
    inverse = cv2.invertAffineTransform(matrix)
    corners = np.array([[0, 0, 1], [width, 0, 1], [0, height, 1], [width, height, 1]], np.float64) @ inverse.T
    rows, cols = image.shape[:2]
    x0, y0 = (max(0, int(np.floor(v)) - 2) for v in corners.min(axis=0))
    x1, y1 = (int(np.ceil(v)) + 3 for v in corners.max(axis=0))
    x1, y1 = min(cols, x1), min(rows, y1)
    if x1 <= x0 or y1 <= y0:
        return np.zeros((height, width) + image.shape[2:], image.dtype)
    shifted = matrix.astype(np.float64).copy()
    shifted[:, 2] += shifted[:, :2] @ np.array([x0, y0], np.float64)
    return cv2.warpAffine(
        image[y0:y1, x0:x1],
        shifted,
        size,
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=0,
    )
