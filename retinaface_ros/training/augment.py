"""Training-time preprocessing of the public RetinaFace recipe (biubug6 ``data/data_augment.py`` ``preproc``).

Random square crop → photometric distortion → pad to square (with the mean) → random horizontal mirror
(left/right landmarks swapped) → resize to the training size → mean subtraction; targets are normalised to
[0, 1]. All randomness comes from the ``np.random.Generator`` passed in, so a sample is reproducible from its
seed. Annotation rows are ``x1, y1, x2, y2``, 10 landmark coordinates, landmark flag (1 / -1).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from retinaface_ros.datasets import mirror_boxes_and_landmarks

CROP_SCALES = (0.3, 0.45, 0.6, 0.8, 1.0)
CROP_TRIES = 250
_INTERPOLATIONS = (cv2.INTER_LINEAR, cv2.INTER_CUBIC, cv2.INTER_AREA, cv2.INTER_NEAREST, cv2.INTER_LANCZOS4)


def _has_landmarks(annotations: np.ndarray) -> np.ndarray:
    return annotations[:, 14] > 0


def random_crop(
    image: np.ndarray,
    annotations: np.ndarray,
    image_size: int,
    rng: np.random.Generator,
    min_face: float = 0.0,
    tries: int = CROP_TRIES,
) -> tuple[np.ndarray, np.ndarray, bool]:
    """A random square crop (side 0.3–1.0 of the short side) keeping the faces whose centre lies inside it.

    At least one face must lie wholly inside the crop, and kept faces must measure more than ``min_face``
    pixels (short side) once resized to ``image_size`` (the recipe uses 0). Returns ``(crop, annotations,
    needs_pad)``; after ``tries`` failures the image is returned whole with ``needs_pad=True``.
    """
    height, width = image.shape[:2]
    boxes = annotations[:, :4]
    if len(boxes) == 0:
        return image, annotations, True
    short_side = min(width, height)
    centers = (boxes[:, :2] + boxes[:, 2:]) / 2
    for _ in range(tries):
        side = int(CROP_SCALES[rng.integers(len(CROP_SCALES))] * short_side)
        if side < 1:
            continue
        left = 0 if width == side else int(rng.integers(width - side))
        top = 0 if height == side else int(rng.integers(height - side))
        roi = np.array((left, top, left + side, top + side), dtype=np.float32)
        inside = (boxes[:, :2] >= roi[:2]).all(axis=1) & (boxes[:, 2:] <= roi[2:]).all(axis=1)
        if not inside.any():  # the reference's matrix_iof(boxes, roi) >= 1
            continue
        keep = ((roi[:2] < centers) & (centers < roi[2:])).all(axis=1)
        kept = annotations[keep].copy()
        if len(kept) == 0:
            continue
        kept[:, :2] = np.maximum(kept[:, :2], roi[:2]) - roi[:2]
        kept[:, 2:4] = np.minimum(kept[:, 2:4], roi[2:]) - roi[:2]
        with_landmarks = _has_landmarks(kept)
        points = kept[with_landmarks, 4:14].reshape(-1, 5, 2) - roi[:2]
        kept[with_landmarks, 4:14] = np.clip(points, 0, side).reshape(-1, 10)
        face_w = (kept[:, 2] - kept[:, 0] + 1) / side * image_size
        face_h = (kept[:, 3] - kept[:, 1] + 1) / side * image_size
        kept = kept[np.minimum(face_w, face_h) > min_face]
        if len(kept) == 0:
            continue
        crop = image[int(top) : int(top) + side, int(left) : int(left) + side]
        return crop, kept, False
    return image, annotations, True


def photometric_distort(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Random brightness (±32), contrast (0.5–1.5), saturation (0.5–1.5) and hue (±18°), as the recipe."""
    image = image.astype(np.float32)

    def convert(img: np.ndarray, alpha: float = 1.0, beta: float = 0.0) -> None:
        img[:] = np.clip(img * alpha + beta, 0, 255)

    contrast_first = rng.integers(2) == 1
    if rng.integers(2):
        convert(image, beta=float(rng.uniform(-32, 32)))
    if contrast_first and rng.integers(2):
        convert(image, alpha=float(rng.uniform(0.5, 1.5)))
    hsv = cv2.cvtColor(image.astype(np.uint8), cv2.COLOR_BGR2HSV).astype(np.float32)
    if rng.integers(2):
        hsv[:, :, 1] = np.clip(hsv[:, :, 1] * rng.uniform(0.5, 1.5), 0, 255)
    if rng.integers(2):
        hsv[:, :, 0] = (hsv[:, :, 0] + rng.integers(-18, 18)) % 180
    image = cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2BGR).astype(np.float32)
    if not contrast_first and rng.integers(2):
        convert(image, alpha=float(rng.uniform(0.5, 1.5)))
    return image


def pad_to_square(image: np.ndarray, mean_bgr: tuple[float, float, float]) -> np.ndarray:
    """Pad right/bottom with the mean colour to a square of side max(H, W)."""
    height, width = image.shape[:2]
    side = max(height, width)
    if height == width:
        return image
    out = np.empty((side, side, 3), dtype=image.dtype)
    out[:] = np.asarray(mean_bgr, dtype=image.dtype)
    out[:height, :width] = image
    return out


def mirror(image: np.ndarray, annotations: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Horizontal flip; x → W - x, boxes re-ordered, left/right eyes and mouth corners swapped."""
    width = image.shape[1]
    flipped = np.ascontiguousarray(image[:, ::-1])
    out = annotations.copy()
    with_landmarks = _has_landmarks(annotations)  # absent landmarks (-1) stay as they are
    out[:, :4], points = mirror_boxes_and_landmarks(
        annotations[:, :4], annotations[with_landmarks, 4:14].reshape(-1, 5, 2), width
    )
    out[with_landmarks, 4:14] = points.reshape(-1, 10)
    return flipped, out


@dataclass
class TrainTransform:
    """``(image_bgr uint8, annotations N×15) → (image float32 3×S×S minus mean, targets N×15 in [0, 1])``.

    ``augment=False`` keeps only the deterministic part (pad to square, resize, mean subtraction), for
    overfitting and loss checks.
    """

    image_size: int
    mean_bgr: tuple[float, float, float] = (104.0, 117.0, 123.0)
    augment: bool = True
    min_face: float = 0.0

    def __call__(
        self, image: np.ndarray, annotations: np.ndarray, rng: np.random.Generator, mirrored: bool = False
    ) -> tuple[np.ndarray, np.ndarray]:
        annotations = np.asarray(annotations, dtype=np.float32).reshape(-1, 15)
        if mirrored:
            image, annotations = mirror(image, annotations)
        if self.augment:
            image, annotations, _ = random_crop(image, annotations, self.image_size, rng, self.min_face)
            image = photometric_distort(image, rng)
        image = pad_to_square(image.astype(np.float32), self.mean_bgr)
        if self.augment and rng.integers(2):
            image, annotations = mirror(image, annotations)
        side = image.shape[0]
        interpolation = (
            _INTERPOLATIONS[rng.integers(len(_INTERPOLATIONS))] if self.augment else cv2.INTER_LINEAR
        )
        image = cv2.resize(image, (self.image_size, self.image_size), interpolation=interpolation)
        image = image - np.asarray(self.mean_bgr, dtype=np.float32)
        targets = annotations.copy()
        targets[:, :14] /= side
        no_landmarks = ~_has_landmarks(targets)
        targets[no_landmarks, 4:14] = -1.0
        targets[:, 14] = np.where(no_landmarks, -1.0, 1.0)
        return np.ascontiguousarray(image.transpose(2, 0, 1), dtype=np.float32), targets.astype(np.float32)
