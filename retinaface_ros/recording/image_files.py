"""Image files for anonymisation: read keeping bit depth and channels, written back in the same format."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from retinaface_ros.io import image_files as io_image_files
from retinaface_ros.io.image_files import IMAGE_SUFFIXES

JPEG_QUALITY = 95


class UnreadableInputError(ValueError):
    """An input file (or one message of it) that cannot be decoded; the text names it."""


def is_image_file(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES


def read_image(path: Path) -> np.ndarray:
    """The pixels as stored: H×W grey, H×W×3 BGR or H×W×4 BGRA, uint8 or uint16 (no EXIF rotation); the
    checks of ``io.image_files`` (size declared in the header, memory) before decoding."""
    return io_image_files.read_image(path, cv2.IMREAD_UNCHANGED | cv2.IMREAD_IGNORE_ORIENTATION)


def to_bgr8(image: np.ndarray) -> np.ndarray:
    """A BGR uint8 view/copy of a grey, BGR or BGRA uint8/uint16 image, for the detector."""
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    elif image.dtype != np.uint8:
        raise UnreadableInputError(f"unsupported pixel type {image.dtype}")
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    return image


def encode_image(image: np.ndarray, suffix: str) -> bytes:
    """The image encoded as ``suffix`` (JPEG at quality 95; metadata such as EXIF/GPS is not carried over)."""
    flags = [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY] if suffix.lower() in (".jpg", ".jpeg") else []
    ok, encoded = cv2.imencode(suffix, image, flags)
    if not ok:
        raise ValueError(f"OpenCV cannot encode a {image.dtype} {image.shape} image as {suffix}")
    return encoded.tobytes()
