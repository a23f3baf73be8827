"""The pixel layouts of sensor_msgs/Image encodings, and reading them (table-driven, after vision_opencv's
cv_bridge/core.py). Works on any object with the Image fields (an rclpy message, a message read from a bag by
rosbags): no ROS import. ``numpy.frombuffer`` and a reshape that honours ``step`` give a view of the data;
nothing is copied unless the layout forces it (a byte swap). Every malformed message raises
:class:`ImageConversionError` naming the problem, before any pixel is touched.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

MAX_SIDE = 8192


class ImageConversionError(ValueError):
    """A message that cannot be turned into an image; the text names the problem."""


@dataclass(frozen=True)
class Encoding:
    """How one sensor_msgs encoding lays out a pixel, and the OpenCV code that turns it into BGR."""

    dtype: type
    channels: int
    to_bgr: int | None  # cv2.COLOR_* code; None: already BGR (or handled specially: mono16)


_U8, _U16 = np.uint8, np.uint16
# ROS bayer names give the pattern of the top-left 2×2 block; OpenCV names the block one pixel in, hence the
# apparent swap (same table as cv_bridge's getConversionCode).
ENCODINGS: dict[str, Encoding] = {
    "bgr8": Encoding(_U8, 3, None),
    "8UC3": Encoding(_U8, 3, None),
    "rgb8": Encoding(_U8, 3, cv2.COLOR_RGB2BGR),
    "bgra8": Encoding(_U8, 4, cv2.COLOR_BGRA2BGR),
    "8UC4": Encoding(_U8, 4, cv2.COLOR_BGRA2BGR),
    "rgba8": Encoding(_U8, 4, cv2.COLOR_RGBA2BGR),
    "mono8": Encoding(_U8, 1, cv2.COLOR_GRAY2BGR),
    "8UC1": Encoding(_U8, 1, cv2.COLOR_GRAY2BGR),
    "mono16": Encoding(_U16, 1, cv2.COLOR_GRAY2BGR),
    "16UC1": Encoding(_U16, 1, cv2.COLOR_GRAY2BGR),
    "bayer_rggb8": Encoding(_U8, 1, cv2.COLOR_BayerBG2BGR),
    "bayer_bggr8": Encoding(_U8, 1, cv2.COLOR_BayerRG2BGR),
    "bayer_gbrg8": Encoding(_U8, 1, cv2.COLOR_BayerGR2BGR),
    "bayer_grbg8": Encoding(_U8, 1, cv2.COLOR_BayerGB2BGR),
    "bayer_rggb16": Encoding(_U16, 1, cv2.COLOR_BayerBG2BGR),
    "bayer_bggr16": Encoding(_U16, 1, cv2.COLOR_BayerRG2BGR),
    "bayer_gbrg16": Encoding(_U16, 1, cv2.COLOR_BayerGR2BGR),
    "bayer_grbg16": Encoding(_U16, 1, cv2.COLOR_BayerGB2BGR),
    # sensor_msgs/image_encodings.hpp: YUV422 is UYVY; YUV422_YUY2 (and the common alias yuyv) is YUYV.
    "yuv422": Encoding(_U8, 2, cv2.COLOR_YUV2BGR_UYVY),
    "uyvy": Encoding(_U8, 2, cv2.COLOR_YUV2BGR_UYVY),
    "yuv422_yuy2": Encoding(_U8, 2, cv2.COLOR_YUV2BGR_YUYV),
    "yuyv": Encoding(_U8, 2, cv2.COLOR_YUV2BGR_YUYV),
}


def _int_field(msg: Any, name: str) -> int:
    value = getattr(msg, name, None)
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ImageConversionError(f"Image.{name} must be an int, got {value!r}")
    return int(value)


def check_image(msg: Any) -> Encoding:
    """Validate an Image's metadata (encoding, size, step, data length) in O(1); return its encoding."""
    encoding = getattr(msg, "encoding", None)
    if not isinstance(encoding, str):
        raise ImageConversionError(f"Image.encoding must be a string, got {encoding!r}")
    spec = ENCODINGS.get(encoding)
    if spec is None:
        raise ImageConversionError(f"unsupported encoding {encoding!r} (supported: {', '.join(ENCODINGS)})")
    height, width, step = _int_field(msg, "height"), _int_field(msg, "width"), _int_field(msg, "step")
    if height <= 0 or width <= 0:
        raise ImageConversionError(f"empty image: {width}x{height}")
    if height > MAX_SIDE or width > MAX_SIDE:
        raise ImageConversionError(f"image {width}x{height} exceeds the {MAX_SIDE} px side limit")
    row = width * spec.channels * np.dtype(spec.dtype).itemsize
    if step < row:
        raise ImageConversionError(
            f"step {step} < width*channels*bytes = {row} for {encoding} {width}x{height}"
        )
    data = getattr(msg, "data", None)
    try:
        size = memoryview(data).nbytes
    except TypeError:
        raise ImageConversionError(f"Image.data is not a byte buffer ({type(data).__name__})") from None
    if size < step * height:
        raise ImageConversionError(f"data has {size} bytes, fewer than step*height = {step * height}")
    if spec.channels == 2 and width % 2:
        raise ImageConversionError(f"{encoding} needs an even width, got {width}")
    return spec


def imgmsg_to_array(msg: Any) -> np.ndarray:
    """The pixels in the message's own encoding as an H×W(×C) view of ``msg.data`` (native byte order).

    A view whenever possible (read-only, sharing the message buffer); copied only to swap bytes.
    """
    spec = check_image(msg)
    height, width, step = msg.height, msg.width, msg.step
    dtype = np.dtype(spec.dtype)
    if dtype.itemsize > 1:
        dtype = dtype.newbyteorder(">" if msg.is_bigendian else "<")
    rows = np.frombuffer(msg.data, dtype=np.uint8, count=step * height).reshape(height, step)
    pixels = rows[:, : width * spec.channels * dtype.itemsize].view(dtype)
    shape = (height, width) if spec.channels == 1 else (height, width, spec.channels)
    pixels = pixels.reshape(shape)
    if not pixels.dtype.isnative:
        pixels = pixels.astype(pixels.dtype.newbyteorder("="))
    return pixels
