"""Covering faces inside raw bag images in their own encoding (recording.bag_images): only bytes of the
covered cells change, and the message keeps encoding, size, step, padding and byte order."""

from __future__ import annotations

import numpy as np
import pytest

from retinaface_ros.privacy import AnonymizeConfig, cover_regions
from retinaface_ros.recording.bag_images import IMAGE_TYPE, cover_message, message_to_bgr8
from retinaface_ros.recording.bag_rewriter import default_typestore
from retinaface_ros.recording.image_files import UnreadableInputError

BOX = np.array([[20.5, 10.2, 50.3, 41.7]], np.float32)
H, W = 60, 80


def _message(encoding: str, bytes_per_pixel: int, padding: int = 4, bigendian: int = 0):
    typestore = default_typestore()
    Image = typestore.types[IMAGE_TYPE]
    Header = typestore.types["std_msgs/msg/Header"]
    Time = typestore.types["builtin_interfaces/msg/Time"]
    step = W * bytes_per_pixel + padding
    data = np.random.default_rng(1).integers(0, 256, H * step, dtype=np.uint8)
    header = Header(stamp=Time(sec=7, nanosec=9), frame_id="cam")
    return Image(
        header=header, height=H, width=W, encoding=encoding, is_bigendian=bigendian, step=step, data=data
    )


@pytest.mark.parametrize(
    ("encoding", "bpp", "bigendian", "cell"),
    [
        ("bgr8", 3, 0, (1, 1)),
        ("rgba8", 4, 0, (1, 1)),
        ("mono8", 1, 0, (1, 1)),
        ("mono16", 2, 1, (1, 1)),
        ("16UC1", 2, 0, (1, 1)),
        ("bayer_rggb8", 1, 0, (2, 2)),
        ("bayer_grbg16", 2, 0, (2, 2)),
        ("yuv422", 2, 0, (2, 1)),
        ("yuv422_yuy2", 2, 0, (2, 1)),
    ],
)
@pytest.mark.parametrize("method", ["blur", "solid"])
def test_raw_encodings_covered_in_place(encoding, bpp, bigendian, cell, method):
    msg = _message(encoding, bpp, bigendian=bigendian)
    message_to_bgr8(IMAGE_TYPE, msg)  # readable for the detector
    out = cover_message(IMAGE_TYPE, msg, BOX, AnonymizeConfig(method=method, shape="box"))
    assert (out.encoding, out.height, out.width, out.step, out.is_bigendian) == (
        encoding,
        H,
        W,
        msg.step,
        bigendian,
    )
    assert out.header == msg.header and out.data.size == msg.data.size
    before = msg.data.reshape(H, msg.step)
    after = out.data.reshape(H, msg.step)
    cx, cy = cell
    ((x1, y1, x2, y2),) = cover_regions(BOX / np.array([cx, cy, cx, cy]), 1.3, (H // cy, W // cx))
    allowed = np.zeros_like(before, bool)
    allowed[y1 * cy : y2 * cy, x1 * cx * bpp : x2 * cx * bpp] = True
    changed = before != after
    assert changed[allowed].mean() > 0.5  # the region is covered
    assert not changed[~allowed].any()  # nothing else, padding included


def test_unknown_encoding_is_named():
    msg = _message("32FC1", 4)
    with pytest.raises(UnreadableInputError, match="32FC1"):
        message_to_bgr8(IMAGE_TYPE, msg)
