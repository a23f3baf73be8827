"""sensor_msgs/Image and CompressedImage messages of a bag (as deserialised by rosbags) ↔ pixels.

Raw images are covered in their own encoding (bayer and YUV 4:2:2 per 2×2 / 2×1 cell), so a bag keeps its
encodings and every byte outside the covered regions; compressed images are decoded and re-encoded in their
format (JPEG or PNG) only when something is covered.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import cv2
import numpy as np

from retinaface_ros.image_encodings import ENCODINGS, ImageConversionError, check_image, imgmsg_to_array
from retinaface_ros.io.image_files import decode_image
from retinaface_ros.privacy.anonymizer import AnonymizeConfig, anonymize_image
from retinaface_ros.recording.image_files import UnreadableInputError

IMAGE_TYPE = "sensor_msgs/msg/Image"
COMPRESSED_TYPE = "sensor_msgs/msg/CompressedImage"
IMAGE_TYPES = (IMAGE_TYPE, COMPRESSED_TYPE)

_BAYER = "bayer_"
_YUV_SOLID = {"yuv422": (128, 0, 128, 0), "uyvy": (128, 0, 128, 0), "yuv422_yuy2": (0, 128, 0, 128)}
_YUV_SOLID["yuyv"] = _YUV_SOLID["yuv422_yuy2"]


def _compressed_suffix(fmt: str) -> str:
    lowered = fmt.lower()
    if "compresseddepth" in lowered:
        raise UnreadableInputError(f"depth images are not anonymised (format {fmt!r})")
    if "png" in lowered:
        return ".png"
    if "jpeg" in lowered or "jpg" in lowered:
        return ".jpg"
    raise UnreadableInputError(f"unknown compressed format {fmt!r} (JPEG and PNG are rewritten)")


def message_to_bgr8(msgtype: str, msg: Any) -> np.ndarray:
    """The image as BGR uint8 for the detector."""
    try:
        if msgtype == COMPRESSED_TYPE:
            _compressed_suffix(msg.format)
            return decode_image(np.asarray(msg.data, np.uint8), f"{msg.format!r} data", cv2.IMREAD_COLOR)
        spec = check_image(msg)
        pixels = imgmsg_to_array(msg)
    except ImageConversionError as error:
        raise UnreadableInputError(str(error)) from None
    if pixels.dtype == np.uint16:
        if spec.channels == 1 and msg.encoding.startswith(_BAYER):
            return (cv2.cvtColor(np.ascontiguousarray(pixels), spec.to_bgr) >> 8).astype(np.uint8)
        pixels = (pixels >> 8).astype(np.uint8)
    return np.ascontiguousarray(pixels) if spec.to_bgr is None else cv2.cvtColor(pixels, spec.to_bgr)


def covered_raw_data(
    encoding: str,
    height: int,
    width: int,
    step: int,
    is_bigendian: int,
    data: Any,
    boxes: np.ndarray,
    config: AnonymizeConfig,
) -> np.ndarray:
    """A copy of a raw image's ``data`` (flat uint8, ``step * height`` bytes) with ``boxes`` covered in the
    encoding's own layout; bytes outside the covered cells (row padding included) unchanged."""
    spec = ENCODINGS[encoding]
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    rows = np.array(np.frombuffer(data, np.uint8)[: step * height].reshape(height, step))  # writeable copy
    dtype = np.dtype(spec.dtype).newbyteorder(">" if is_bigendian else "<")
    row_bytes = width * spec.channels * dtype.itemsize
    pixels = rows[:, :row_bytes].view(dtype).reshape(height, width, spec.channels)
    native = pixels.astype(pixels.dtype.newbyteorder("="))
    if encoding.startswith(_BAYER):  # one 2×2 cell = 4 planes of half size
        cells = (
            native[..., 0]
            .reshape(height // 2, 2, width // 2, 2)
            .transpose(0, 2, 1, 3)
            .reshape(height // 2, width // 2, 4)
        )
        cells = anonymize_image(cells, boxes / 2, config)
        native = cells.reshape(height // 2, width // 2, 2, 2).transpose(0, 2, 1, 3).reshape(height, width, 1)
    elif spec.channels == 2:  # YUV 4:2:2: one macro-pixel = 2 pixels = 4 bytes
        macro = native.reshape(height, width // 2, 4)
        scaled = boxes * np.array([0.5, 1, 0.5, 1], np.float32)
        solid = _YUV_SOLID.get(encoding)
        native = anonymize_image(macro, scaled, config, solid_color=solid).reshape(height, width, 2)
    else:
        native = anonymize_image(native if spec.channels > 1 else native[..., 0], boxes, config)
        native = native.reshape(height, width, spec.channels)
    pixels[...] = native.astype(dtype)
    return rows.reshape(-1)


def _cover_raw(msg: Any, boxes: np.ndarray, config: AnonymizeConfig, jpeg_quality: int) -> Any:
    data = covered_raw_data(
        msg.encoding, msg.height, msg.width, msg.step, msg.is_bigendian, msg.data, boxes, config
    )
    return dataclasses.replace(msg, data=data)


def _cover_compressed(msg: Any, boxes: np.ndarray, config: AnonymizeConfig, jpeg_quality: int) -> Any:
    suffix = _compressed_suffix(msg.format)
    image = decode_image(np.asarray(msg.data, np.uint8), f"{msg.format!r} data", cv2.IMREAD_UNCHANGED)
    covered = anonymize_image(image, boxes, config)
    flags = [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality] if suffix == ".jpg" else []
    ok, encoded = cv2.imencode(suffix, covered, flags)
    if not ok:
        raise UnreadableInputError(f"cannot re-encode the image as {msg.format!r}")
    return dataclasses.replace(msg, data=encoded.reshape(-1))


def cover_message(
    msgtype: str, msg: Any, boxes: np.ndarray, config: AnonymizeConfig, jpeg_quality: int = 95
) -> Any:
    """A copy of ``msg`` with ``boxes`` covered (header, encoding/format, size and step unchanged)."""
    cover = _cover_compressed if msgtype == COMPRESSED_TYPE else _cover_raw
    return cover(msg, np.asarray(boxes, np.float32).reshape(-1, 4), config, jpeg_quality)
