"""Face images for REP 155's ``/cropped`` and ``/aligned``: the box scaled, centred and 0-padded to a fixed
size, and the face warped by the similarity transform (rotation, uniform scale, shift) that best maps its
5 landmarks onto the ArcFace template, so the eyes are level."""

from __future__ import annotations

import math

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
    if scale < 0.5:  # bilinear would alias: first average whole blocks down to within 2× of the size
        patch = _block_average(patch, int(1.0 / scale))
    resized = cv2.resize(patch, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    top, left = (height - new_h) // 2, (width - new_w) // 2
    canvas[top : top + new_h, left : left + new_w] = resized.reshape(
        canvas[top : top + new_h, left : left + new_w].shape
    )
    return canvas


def _block_average(patch: np.ndarray, factor: int) -> np.ndarray:
    """``patch`` shrunk by a whole ``factor``, each pixel the mean of a factor×factor block (INTER_AREA's
    fast path: ~7× cheaper than INTER_AREA to an arbitrary size). The fewer than ``factor`` rows / columns
    that fill no block are trimmed evenly from both sides (under one output pixel)."""
    rows, cols = patch.shape[:2]
    top, left = (rows % factor) // 2, (cols % factor) // 2
    patch = patch[top : top + rows - rows % factor, left : left + cols - cols % factor]
    size = (patch.shape[1] // factor, patch.shape[0] // factor)
    return cv2.resize(patch, size, interpolation=cv2.INTER_AREA)


def alignment_matrix(landmarks: np.ndarray, size: tuple[int, int] = (112, 112)) -> np.ndarray:
    """2×3 similarity transform mapping the 5 landmarks onto the ArcFace template scaled to ``size``."""
    width, height = size
    target = ARCFACE_TEMPLATE_112 * np.array([width / 112.0, height / 112.0], np.float32)
    return similarity_matrix(np.asarray(landmarks, np.float64).reshape(5, 2), target)


def similarity_matrix(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The least-squares similarity (rotation, uniform scale, shift; no reflection) mapping ``source`` points
    onto ``target`` points, as a 2×3 matrix: Umeyama's closed form, the estimate of scikit-image's
    SimilarityTransform that InsightFace aligns ArcFace inputs with. In complex numbers the map is
    w = a·z + b with a = Σ conj(z − z̄)·(w − w̄) / Σ|z − z̄|² (in plain floats for 5 points: ~9 µs, where
    cv2.estimateAffinePartial2D's robust search takes ~100 µs). Points that do not spread give the shift."""
    points = np.asarray(source, np.float64).tolist()
    pairs = list(zip(points, np.asarray(target, np.float64).tolist(), strict=True))
    count = len(pairs)
    mx = sum(z[0] for z, _ in pairs) / count
    my = sum(z[1] for z, _ in pairs) / count
    mu = sum(w[0] for _, w in pairs) / count
    mv = sum(w[1] for _, w in pairs) / count
    energy = real = imag = 0.0
    for (x, y), (u, v) in pairs:
        x, y, u, v = x - mx, y - my, u - mu, v - mv
        energy += x * x + y * y
        real += x * u + y * v
        imag += x * v - y * u
    a, b = (real / energy, imag / energy) if energy > 1e-12 else (1.0, 0.0)
    return np.array([[a, -b, mu - a * mx + b * my], [b, a, mv - b * mx - a * my]])


def aligned_face(image: np.ndarray, landmarks: np.ndarray, size: tuple[int, int] = (128, 128)) -> np.ndarray:
    """The face warped so its landmarks sit on the ArcFace template scaled to ``size`` (eyes level); pass
    (112, 112) for the exact ArcFace input of recognition models. Outside the image is black."""
    return warp_from_region(image, alignment_matrix(landmarks, size), size)


def warp_from_region(image: np.ndarray, matrix: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``cv2.warpAffine(image, matrix, size)`` reading only the image region the output comes from (the
    warp's cost grows with the source it is given: a face from a whole frame costs ~5× more). A non-finite
    matrix (from non-finite landmarks) gives a black image."""
    width, height = size
    black = np.zeros((height, width) + image.shape[2:], image.dtype)
    if not np.all(np.isfinite(matrix)):
        return black
    (a, b, c), (d, e, f) = cv2.invertAffineTransform(np.asarray(matrix, np.float64)).tolist()
    xs = (c, a * width + c, b * height + c, a * width + b * height + c)  # the output's corners in the image
    ys = (f, d * width + f, e * height + f, d * width + e * height + f)
    rows, cols = image.shape[:2]
    x0, y0 = max(0, math.floor(min(xs)) - 2), max(0, math.floor(min(ys)) - 2)
    x1, y1 = min(cols, math.ceil(max(xs)) + 3), min(rows, math.ceil(max(ys)) + 3)
    if x1 <= x0 or y1 <= y0:
        return black
    shifted = np.array(matrix, np.float64)
    shifted[:, 2] += shifted[:, :2] @ (x0, y0)
    region = image[y0:y1, x0:x1]
    bgr = region.ndim == 3 and region.shape[2] == 3 and region.dtype == np.uint8
    if bgr:  # OpenCV's bilinear remap is vectorised for 1 and 4 channels, not 3: through BGRA is ~2× faster
        region = cv2.cvtColor(region, cv2.COLOR_BGR2BGRA)
    warped = cv2.warpAffine(
        region, shifted, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0
    )
    return cv2.cvtColor(warped, cv2.COLOR_BGRA2BGR) if bgr else warped.reshape(black.shape)
