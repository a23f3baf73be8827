"""sensor_msgs/Image and CompressedImage ↔ numpy for the ROS layer; the encodings table and the reading of raw
pixels are the core's (:mod:`retinaface_ros.image_encodings`, shared with the bag tools).

``numpy.frombuffer`` on ``msg.data`` and a reshape that honours ``step`` give a view of the message: nothing
is copied unless the layout forces it (a colour conversion, a byte swap). Every malformed message raises
:class:`ImageConversionError` naming the problem, before any pixel is touched. When a ROS 2 ``cv_bridge`` is
importable it does the conversion to BGR (after our checks); otherwise our own converter does.
"""

from __future__ import annotations

import array
import sys
from typing import Any

import cv2
import numpy as np

from retinaface_ros.image_encodings import (  # noqa: F401  (re-exported for the ROS layer)
    ENCODINGS,
    MAX_SIDE,
    Encoding,
    ImageConversionError,
    check_image,
    imgmsg_to_array,
)
from retinaface_ros.io.image_header import declared_size

try:  # a ROS 2 cv_bridge (ros-$ROS_DISTRO-cv-bridge); the PyPI "cv-bridge" is ROS 1 and is not supported
    from cv_bridge import CvBridge as _CvBridge

    _BRIDGE: Any = _CvBridge()
except Exception:  # ImportError, or a broken/ROS 1 install
    _BRIDGE = None


def have_cv_bridge() -> bool:
    return _BRIDGE is not None


def imgmsg_to_bgr8(msg: Any) -> np.ndarray:
    """An H×W×3 BGR uint8 image from any supported encoding (a read-only view for bgr8/8UC3)."""
    spec = check_image(msg)
    if _BRIDGE is not None:
        try:
            return _BRIDGE.imgmsg_to_cv2(msg, desired_encoding="bgr8")
        except Exception as error:  # cv_bridge's own refusal: report it the same way
            raise ImageConversionError(f"cv_bridge: {error}") from error
    pixels = imgmsg_to_array(msg)
    if spec.dtype is np.uint16:
        if spec.to_bgr in (cv2.COLOR_GRAY2BGR,):
            pixels = (pixels >> 8).astype(np.uint8)
        else:  # 16-bit bayer: demosaic at 16 bit, then scale
            return (cv2.cvtColor(np.ascontiguousarray(pixels), spec.to_bgr) >> 8).astype(np.uint8)
    if spec.to_bgr is None:
        return pixels
    return cv2.cvtColor(pixels, spec.to_bgr)


def array_to_imgmsg(image: np.ndarray, encoding: str = "bgr8", header: Any = None) -> Any:
    """A sensor_msgs/Image holding ``image`` (already in ``encoding``'s layout); one copy of the pixels."""
    from sensor_msgs.msg import Image

    spec = ENCODINGS.get(encoding)
    if spec is None:
        raise ImageConversionError(f"unsupported encoding {encoding!r}")
    image = np.asarray(image)
    channels = 1 if image.ndim == 2 else image.shape[2]
    if image.dtype != spec.dtype or channels != spec.channels:
        raise ImageConversionError(
            f"{encoding} needs {np.dtype(spec.dtype).name} with {spec.channels} channel(s), "
            f"got {image.dtype} with shape {image.shape}"
        )
    msg = Image()
    if header is not None:
        msg.header = header
    msg.height, msg.width = int(image.shape[0]), int(image.shape[1])
    msg.encoding = encoding
    msg.is_bigendian = sys.byteorder == "big"
    msg.step = msg.width * spec.channels * image.dtype.itemsize
    msg.data = array.array("B", np.ascontiguousarray(image).tobytes())
    return msg


def bgr8_to_imgmsg(image: np.ndarray, encoding: str = "bgr8", header: Any = None) -> Any:
    """A BGR uint8 image converted to ``encoding`` (bgr8, rgb8, bgra8, rgba8, mono8, mono16) as an Image."""
    conversions = {
        "bgr8": None,
        "8UC3": None,
        "rgb8": cv2.COLOR_BGR2RGB,
        "bgra8": cv2.COLOR_BGR2BGRA,
        "rgba8": cv2.COLOR_BGR2RGBA,
        "mono8": cv2.COLOR_BGR2GRAY,
        "8UC1": cv2.COLOR_BGR2GRAY,
        "mono16": cv2.COLOR_BGR2GRAY,
    }
    if encoding not in conversions:
        raise ImageConversionError(
            f"cannot publish BGR frames as {encoding!r}; use one of {list(conversions)}"
        )
    code = conversions[encoding]
    out = image if code is None else cv2.cvtColor(image, code)
    if encoding == "mono16":
        out = out.astype(np.uint16) * 257
    return array_to_imgmsg(out, encoding, header)


def compressed_image_size(data: bytes | bytearray | np.ndarray) -> tuple[int, int] | None:
    """(width, height) from a PNG or JPEG header without decoding (the core's header reader); None for other
    formats (the only ones a CompressedImage may carry here) or unreadable data."""
    head = bytes(memoryview(data.reshape(-1) if isinstance(data, np.ndarray) else data)[:2])
    if head not in (b"\x89P", b"\xff\xd8"):
        return None
    return declared_size(data)


def compressed_to_bgr8(msg: Any) -> np.ndarray:
    """Decode a sensor_msgs/CompressedImage to BGR uint8: JPEG or PNG, whose header size is checked against
    ``MAX_SIDE`` before decoding (other formats are refused: their size cannot be checked first)."""
    fmt = getattr(msg, "format", "")
    if not isinstance(fmt, str):
        raise ImageConversionError(f"CompressedImage.format must be a string, got {fmt!r}")
    if "compressedDepth" in fmt:
        raise ImageConversionError(f"depth images are not supported (format {fmt!r})")
    try:
        buffer = np.frombuffer(msg.data, dtype=np.uint8)
    except TypeError:
        raise ImageConversionError(
            f"CompressedImage.data is not a byte buffer ({type(msg.data).__name__})"
        ) from None
    if buffer.size == 0:
        raise ImageConversionError("CompressedImage.data is empty")
    declared = compressed_image_size(buffer)  # refuse a decompression bomb before decoding it
    if declared is None:
        raise ImageConversionError(
            f"compressed data (format {fmt!r}) is not a readable JPEG or PNG: the only formats decoded"
        )
    if max(declared) > MAX_SIDE:
        raise ImageConversionError(f"image {declared[0]}x{declared[1]} exceeds the {MAX_SIDE} px side limit")
    image = cv2.imdecode(buffer, cv2.IMREAD_COLOR)
    if image is None:
        raise ImageConversionError(
            f"could not decode {buffer.size} bytes of compressed data (format {fmt!r})"
        )
    height, width = image.shape[:2]
    if height > MAX_SIDE or width > MAX_SIDE:
        raise ImageConversionError(f"image {width}x{height} exceeds the {MAX_SIDE} px side limit")
    return image


def bgr8_to_compressed(image: np.ndarray, fmt: str = "jpeg", header: Any = None, quality: int = 90) -> Any:
    """Encode a BGR uint8 image as a sensor_msgs/CompressedImage ('jpeg' or 'png')."""
    from sensor_msgs.msg import CompressedImage

    extension = {"jpeg": ".jpg", "jpg": ".jpg", "png": ".png"}.get(fmt)
    if extension is None:
        raise ImageConversionError(f"format must be 'jpeg' or 'png', got {fmt!r}")
    flags = [cv2.IMWRITE_JPEG_QUALITY, quality] if extension == ".jpg" else []
    ok, encoded = cv2.imencode(extension, image, flags)
    if not ok:
        raise ImageConversionError(f"OpenCV could not encode a {image.shape} image as {fmt}")
    msg = CompressedImage()
    if header is not None:
        msg.header = header
    msg.format = "jpeg" if extension == ".jpg" else "png"
    msg.data = array.array("B", encoded.tobytes())
    return msg
