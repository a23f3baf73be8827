"""Image files in and out, safe for any path and any file: the only place a file path meets OpenCV.

* :func:`read_image` reads the bytes itself and decodes them with ``cv2.imdecode``: paths are never handed
  to OpenCV (its ``imread`` crashes on names that are not valid UTF-8), and the size the header declares is
  checked against the pixel limit and the free memory before anything is decoded.
* :func:`write_image` encodes with ``cv2.imencode`` and writes atomically (temp file + rename), refusing an
  existing output that is not a regular file (folder, device, FIFO, socket).
* :func:`check_image_format` tells early whether OpenCV can write a file name's format.
* :func:`image_files_in` expands a folder to the image files in it; :func:`opencv_path` is the file name
  to give the OpenCV calls that take nothing else (videos), refused when it is not valid UTF-8.

Paths may be ``str`` (including the surrogate escapes Python uses for undecodable bytes), ``bytes`` or
``os.PathLike``. Every error is one line naming the file; use :func:`display_path` to print a path.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from retinaface_ros.io.atomic_files import check_output_file, display_path, write_atomically
from retinaface_ros.io.image_header import declared_size
from retinaface_ros.validation import check_fits_in_memory, check_image_size

PathArg = str | bytes | os.PathLike
# File name endings read as images when a folder is expanded (lower case; compared case-insensitively).
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".pgm", ".ppm", ".pnm")

__all__ = [
    "IMAGE_SUFFIXES",
    "check_image_format",
    "display_path",
    "image_files_in",
    "opencv_path",
    "read_image",
    "write_image",
]


def read_image(path: PathArg, flags: int = cv2.IMREAD_COLOR) -> np.ndarray:
    """Decode an image file (any format OpenCV reads); BGR uint8 HWC with the default ``flags``.

    Raises FileNotFoundError for a missing file and ValueError (one line naming the file) for a file that
    is not a regular file, is empty, declares a size over the limit or beyond the free memory, or does not
    decode.
    """
    name = display_path(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"image file not found: {name}")
    if not os.path.isfile(path):
        raise ValueError(f"image file {name} is not a regular file")
    with open(path, "rb") as handle:  # Python opens any path; OpenCV only ever sees bytes
        data = np.frombuffer(handle.read(), np.uint8)
    return decode_image(data, f"image file {name}", flags)


def decode_image(data: bytes | np.ndarray, what: str, flags: int = cv2.IMREAD_COLOR) -> np.ndarray:
    """Decode encoded image bytes (``what`` names them in errors), checking the declared size first."""
    buffer = np.frombuffer(data, np.uint8) if not isinstance(data, np.ndarray) else data.reshape(-1)
    if buffer.size == 0:
        raise ValueError(f"{what} is empty")
    size = declared_size(buffer)
    if size is not None:  # PNG, JPEG, BMP, GIF, WebP: refuse a decompression bomb before decoding it
        check_image_size(*size, what=what)
        check_fits_in_memory(size[0] * size[1] * 3, f"decoding {what} ({size[0]}x{size[1]})")
    try:
        image = cv2.imdecode(buffer, flags)
    except cv2.error as error:  # other formats: OpenCV's own pixel cap, corrupt data
        raise ValueError(f"cannot decode {what}: {_opencv_reason(error)}") from None
    if image is None:
        raise ValueError(f"cannot decode {what}: not an image format OpenCV reads, or truncated")
    check_image_size(image.shape[1], image.shape[0], what=what)
    return image


def check_image_format(path: PathArg) -> str:
    """The extension OpenCV will encode ``path`` with ('.jpg' when it has none); ValueError when OpenCV
    cannot write that format. Checks the name only (never the path itself)."""
    extension = Path(os.fsdecode(path)).suffix.lower() or ".jpg"
    try:
        ok = cv2.imencode(extension, np.zeros((1, 1, 3), np.uint8))[0]
    except cv2.error:
        ok = False
    if not ok:
        raise ValueError(f"{display_path(path)}: OpenCV cannot write {extension!r} images (use .jpg or .png)")
    return extension


def write_image(path: PathArg, image: np.ndarray, params: Sequence[int] = ()) -> Path:
    """Encode ``image`` by the extension of ``path`` (JPEG when it has none) and write it atomically.

    Refuses (ValueError) an existing ``path`` that is not a regular file, and a format OpenCV cannot
    write; ``params`` are OpenCV ``IMWRITE_*`` flags. Returns the path written.
    """
    target = Path(os.fsdecode(path))
    check_output_file(target)
    extension = check_image_format(target)
    try:
        ok, encoded = cv2.imencode(extension, image, list(params))
    except cv2.error as error:
        raise ValueError(f"cannot encode {display_path(target)}: {_opencv_reason(error)}") from None
    if not ok:
        raise ValueError(f"cannot encode a {image.shape} image as {extension!r} for {display_path(target)}")
    return write_atomically(target, encoded.tobytes())


def image_files_in(folder: PathArg, recursive: bool = False, exclude: PathArg | None = None) -> list[Path]:
    """The image files (by ``IMAGE_SUFFIXES``) in ``folder``, sorted; subfolders too when ``recursive``.
    Hidden files (temp files of atomic writes) and anything under ``exclude`` are left out."""
    root = Path(os.fsdecode(folder))
    skip = Path(os.fsdecode(exclude)).resolve() if exclude is not None else None
    found = []
    for path in sorted(root.rglob("*") if recursive else root.iterdir()):
        relative = path.relative_to(root).parts
        if any(part.startswith(".") for part in relative) or path.suffix.lower() not in IMAGE_SUFFIXES:
            continue
        if skip is not None and path.resolve().is_relative_to(skip):
            continue
        if path.is_file():
            found.append(path)
    return found


def opencv_path(path: PathArg) -> str:
    """``path`` as text for the OpenCV calls that only take a file name (``cv2.VideoCapture``): refused
    with one line when it is not valid UTF-8 (OpenCV crashes on such names)."""
    raw = os.fsencode(path)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError(
            f"{display_path(raw)}: OpenCV cannot open a file whose name is not valid UTF-8; rename it"
        ) from None


def _opencv_reason(error: cv2.error) -> str:
    """The useful part of an OpenCV error (its message spans lines and names C++ source files)."""
    text = " ".join(str(error).split())
    return text.split(" error: ", 1)[-1] if " error: " in text else text
