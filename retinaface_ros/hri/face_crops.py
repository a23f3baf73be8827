"""Face images for REP 155's ``/cropped`` and ``/aligned``: the box scaled, centred and 0-padded to a fixed
size, and the face warped by the similarity transform (rotation, uniform scale, shift) that best maps its
5 landmarks onto the ArcFace template, so the eyes are level. Both of a face come from one copy of the
image region they need (:func:`face_images`); the transforms of all faces of a frame are fitted at once
(:func:`alignment_matrices`)."""

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
    return face_images(image, box=box, crop_size=size)[0]  # type: ignore[return-value]


def aligned_face(image: np.ndarray, landmarks: np.ndarray, size: tuple[int, int] = (128, 128)) -> np.ndarray:
    """The face warped so its landmarks sit on the ArcFace template scaled to ``size`` (eyes level); pass
    (112, 112) for the exact ArcFace input of recognition models. Outside the image is black."""
    return face_images(image, matrix=alignment_matrix(landmarks, size), aligned_size=size)[1]  # type: ignore[return-value]


def face_images(
    image: np.ndarray,
    box: np.ndarray | None = None,
    matrix: np.ndarray | None = None,
    crop_size: tuple[int, int] = (128, 128),
    aligned_size: tuple[int, int] = (128, 128),
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """A face's cropped image (of pixel ``box`` x1y1x2y2, as :func:`cropped_face`) and aligned image (the
    image warped by the 2×3 ``matrix`` to ``aligned_size``, as :func:`aligned_face`), each None when its
    argument is. Both read one copy of the image region they come from, not the whole frame (a warp's cost
    grows with its source), in BGRA for 8-bit BGR images: OpenCV vectorises 4-channel bilinear sampling,
    not 3-channel (~2× faster). Non-finite input gives black images."""
    rows, cols = image.shape[:2]
    crop_box = None if box is None else _pixel_box(box, rows, cols)
    warp_box = None if matrix is None else _warp_source(matrix, aligned_size, rows, cols)
    parts = [part for part in (crop_box, warp_box) if part is not None]
    region, x0, y0 = image[:0, :0], 0, 0
    if parts:
        x0, y0 = min(part[0] for part in parts), min(part[1] for part in parts)
        x1, y1 = max(part[2] for part in parts), max(part[3] for part in parts)
        region = image[y0:y1, x0:x1]
    bgr = image.ndim == 3 and image.shape[2] == 3 and image.dtype == np.uint8
    if bgr and region.size:
        region = cv2.cvtColor(region, cv2.COLOR_BGR2BGRA)
    cropped = aligned = None
    if box is not None:
        cropped = _black(image, crop_size)
        if crop_box is not None:
            bx1, by1, bx2, by2 = crop_box
            _crop_into(cropped, region[by1 - y0 : by2 - y0, bx1 - x0 : bx2 - x0], bgr)
    if matrix is not None:
        aligned = _black(image, aligned_size)
        if warp_box is not None:
            shifted = np.array(matrix, np.float64)
            shifted[:, 2] += shifted[:, :2] @ (x0, y0)
            warped = cv2.warpAffine(
                region, shifted, aligned_size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT
            )
            _paste(aligned, warped, bgr)
    return cropped, aligned


def _black(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    return np.zeros((size[1], size[0]) + image.shape[2:], image.dtype)


def _paste(out: np.ndarray, pixels: np.ndarray, bgr: bool) -> None:
    """``pixels`` (BGRA when ``bgr``) into ``out`` (a view of the same height and width)."""
    if bgr:
        cv2.cvtColor(pixels, cv2.COLOR_BGRA2BGR, dst=out)
    else:
        out[...] = pixels.reshape(out.shape)


def _pixel_box(box: np.ndarray, rows: int, cols: int) -> tuple[int, int, int, int] | None:
    """The whole pixels a box x1y1x2y2 covers inside the image, or None (empty, outside, non-finite)."""
    x1, y1, x2, y2 = np.asarray(box, np.float64).reshape(4).tolist()
    if not all(math.isfinite(v) for v in (x1, y1, x2, y2)):
        return None
    x1, y1 = max(0, math.floor(x1)), max(0, math.floor(y1))
    x2, y2 = min(cols, math.ceil(x2)), min(rows, math.ceil(y2))
    return (x1, y1, x2, y2) if x2 > x1 and y2 > y1 else None


def _warp_source(
    matrix: np.ndarray, size: tuple[int, int], rows: int, cols: int
) -> tuple[int, int, int, int] | None:
    """The image pixels (x1, y1, x2, y2) a warp by ``matrix`` to ``size`` reads, with the bilinear
    neighbours; None when it reads none or the matrix is not finite (or not invertible)."""
    (a, b, c), (d, e, f) = np.asarray(matrix, np.float64).tolist()
    det = a * e - b * d
    if not all(math.isfinite(v) for v in (a, b, c, d, e, f)) or abs(det) < 1e-12:
        return None
    ia, ib, id_, ie = e / det, -b / det, -d / det, a / det  # the inverse: output pixel → image pixel
    ic, if_ = -(ia * c + ib * f), -(id_ * c + ie * f)
    width, height = size
    xs = (ic, ia * width + ic, ib * height + ic, ia * width + ib * height + ic)  # the output's corners
    ys = (if_, id_ * width + if_, ie * height + if_, id_ * width + ie * height + if_)
    x0, y0 = max(0, math.floor(min(xs)) - 2), max(0, math.floor(min(ys)) - 2)
    x1, y1 = min(cols, math.ceil(max(xs)) + 3), min(rows, math.ceil(max(ys)) + 3)
    return (x0, y0, x1, y1) if x1 > x0 and y1 > y0 else None


def _crop_into(canvas: np.ndarray, patch: np.ndarray, bgr: bool) -> None:
    """``patch`` (BGRA when ``bgr``) scaled to fit ``canvas`` keeping its aspect ratio, centred there."""
    height, width = canvas.shape[:2]
    scale = min(width / patch.shape[1], height / patch.shape[0])
    new_w = max(1, min(width, round(patch.shape[1] * scale)))
    new_h = max(1, min(height, round(patch.shape[0] * scale)))
    if scale < 0.5:  # bilinear would alias: first average whole blocks down to within 2× of the size
        patch = _block_average(patch, int(1.0 / scale))
    top, left = (height - new_h) // 2, (width - new_w) // 2
    view = canvas[top : top + new_h, left : left + new_w]
    if bgr:
        _paste(view, cv2.resize(patch, (new_w, new_h), interpolation=cv2.INTER_LINEAR), bgr)
    else:
        view[...] = cv2.resize(patch, (new_w, new_h), interpolation=cv2.INTER_LINEAR).reshape(view.shape)


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
    return alignment_matrices(np.reshape(landmarks, (1, 5, 2)), size)[0]


def alignment_matrices(landmarks: np.ndarray, size: tuple[int, int] = (112, 112)) -> np.ndarray:
    """(faces, 2, 3): :func:`alignment_matrix` of each face's landmarks (faces, 5, 2), all at once."""
    width, height = size
    target = ARCFACE_TEMPLATE_112.astype(np.float64) * (width / 112.0, height / 112.0)
    return similarity_matrices(np.asarray(landmarks, np.float64).reshape(-1, 5, 2), target)


def similarity_matrix(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The least-squares similarity (rotation, uniform scale, shift; no reflection) mapping ``source`` points
    onto ``target`` points, as a 2×3 matrix; see :func:`similarity_matrices`."""
    source = np.asarray(source, np.float64)
    return similarity_matrices(source.reshape((1,) + source.shape), target)[0]


def similarity_matrices(sources: np.ndarray, target: np.ndarray) -> np.ndarray:
    """(sets, 2, 3): for each point set of ``sources`` (sets, points, 2), the least-squares similarity onto
    ``target`` (points, 2): Umeyama's closed form, the estimate of scikit-image's SimilarityTransform that
    InsightFace aligns ArcFace inputs with (cv2.estimateAffinePartial2D's robust search takes ~100 µs a
    face; this, ~4 µs). In complex numbers the map is w = a·z + b with
    a = Σ conj(z − z̄)·(w − w̄) / Σ|z − z̄|². Points that do not spread give the shift alone."""
    z = np.asarray(sources, np.float64)
    w = np.asarray(target, np.float64)
    z_mean, w_mean = z.mean(axis=1), w.mean(axis=0)
    zc, wc = z - z_mean[:, None], w - w_mean
    energy = np.einsum("spk,spk->s", zc, zc)
    real = np.einsum("spk,pk->s", zc, wc)
    imag = (zc[..., 0] * wc[:, 1] - zc[..., 1] * wc[:, 0]).sum(axis=1)
    spread = energy > 1e-12
    safe = np.where(spread, energy, 1.0)
    a, b = np.where(spread, real / safe, 1.0), np.where(spread, imag / safe, 0.0)
    (mx, my), (mu, mv) = z_mean.T, w_mean
    return np.stack(
        [np.stack([a, -b, mu - a * mx + b * my], -1), np.stack([b, a, mv - b * mx - a * my], -1)], 1
    )
