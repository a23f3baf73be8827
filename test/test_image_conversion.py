"""Image / CompressedImage ↔ numpy: every encoding, step padding, byte order, zero copy, bad messages."""

from __future__ import annotations

import array

import cv2
import numpy as np
import pytest
from ros_helpers import require_rclpy

require_rclpy()
from sensor_msgs.msg import CompressedImage, Image  # noqa: E402

from retinaface_ros.ros import image_conversion as ic  # noqa: E402
from retinaface_ros.ros.image_conversion import (  # noqa: E402
    ImageConversionError,
    array_to_imgmsg,
    bgr8_to_compressed,
    bgr8_to_imgmsg,
    check_image,
    compressed_image_size,
    compressed_to_bgr8,
    imgmsg_to_array,
    imgmsg_to_bgr8,
)


@pytest.fixture(autouse=True)
def own_converter(monkeypatch):
    """Our converter, also where a ROS 2 cv_bridge is installed (the node then converts with cv_bridge, after
    the same checks; test_cv_bridge_agrees_with_our_converter compares the two)."""
    monkeypatch.setattr(ic, "_BRIDGE", None)


RNG = np.random.default_rng(0)
BGR = RNG.integers(0, 256, (6, 8, 3), dtype=np.uint8)


def padded_msg(pixels: np.ndarray, encoding: str, pad: int = 0, bigendian: bool = False) -> Image:
    """An Image whose rows carry ``pad`` junk bytes after the pixels."""
    height, width = pixels.shape[:2]
    raw = (
        pixels.astype(pixels.dtype.newbyteorder(">" if bigendian else "<")).reshape(height, -1).view(np.uint8)
    )
    rows = np.concatenate([raw, np.full((height, pad), 0xAB, np.uint8)], axis=1)
    return Image(
        height=height,
        width=width,
        encoding=encoding,
        is_bigendian=bigendian,
        step=rows.shape[1],
        data=array.array("B", rows.tobytes()),
    )


@pytest.mark.parametrize("pad", [0, 5])
@pytest.mark.parametrize(
    ("encoding", "make"),
    [
        ("bgr8", lambda bgr: bgr),
        ("8UC3", lambda bgr: bgr),
        ("rgb8", lambda bgr: bgr[..., ::-1]),
        ("bgra8", lambda bgr: cv2.cvtColor(bgr, cv2.COLOR_BGR2BGRA)),
        ("rgba8", lambda bgr: cv2.cvtColor(bgr, cv2.COLOR_BGR2RGBA)),
    ],
)
def test_colour_encodings_to_bgr(encoding, make, pad):
    msg = padded_msg(np.ascontiguousarray(make(BGR)), encoding, pad)
    np.testing.assert_array_equal(imgmsg_to_bgr8(msg), BGR)


@pytest.mark.parametrize("encoding", ["mono8", "8UC1"])
def test_mono8(encoding):
    grey = BGR[..., 0]
    out = imgmsg_to_bgr8(padded_msg(np.ascontiguousarray(grey), encoding, pad=3))
    assert out.shape == (6, 8, 3)
    np.testing.assert_array_equal(out[..., 1], grey)


@pytest.mark.parametrize("bigendian", [False, True])
def test_mono16_respects_byte_order_and_step(bigendian):
    values = RNG.integers(0, 65536, (4, 5), dtype=np.uint16)
    msg = padded_msg(values, "mono16", pad=2, bigendian=bigendian)
    np.testing.assert_array_equal(imgmsg_to_array(msg), values)
    np.testing.assert_array_equal(imgmsg_to_bgr8(msg)[..., 2], (values >> 8).astype(np.uint8))


def test_bgr8_is_a_view_of_the_message_even_with_padding():
    msg = padded_msg(BGR, "bgr8", pad=7)
    out = imgmsg_to_bgr8(msg)
    assert np.shares_memory(out, np.frombuffer(msg.data, np.uint8))
    assert out.strides[0] == msg.step


@pytest.mark.parametrize(
    ("encoding", "offsets"),  # (row, col) of R, then B in the top-left 2x2 block
    [
        ("bayer_rggb8", ((0, 0), (1, 1))),
        ("bayer_bggr8", ((1, 1), (0, 0))),
        ("bayer_gbrg8", ((1, 0), (0, 1))),
        ("bayer_grbg8", ((0, 1), (1, 0))),
    ],
)
def test_bayer_demosaic(encoding, offsets):
    colour = np.array([40, 120, 200], np.uint8)  # B, G, R
    mosaic = np.full((8, 8), colour[1], np.uint8)
    (r_row, r_col), (b_row, b_col) = offsets
    mosaic[r_row::2, r_col::2] = colour[2]
    mosaic[b_row::2, b_col::2] = colour[0]
    out = imgmsg_to_bgr8(padded_msg(mosaic, encoding, pad=4))
    np.testing.assert_array_equal(out[2:-2, 2:-2], np.broadcast_to(colour, (4, 4, 3)))


@pytest.mark.parametrize(
    ("encoding", "order"), [("yuv422", "uyvy"), ("uyvy", "uyvy"), ("yuv422_yuy2", "yuyv"), ("yuyv", "yuyv")]
)
def test_yuv422_layouts(encoding, order):
    y, u, v = 150, 100, 170  # one flat colour
    pair = [u, y, v, y] if order == "uyvy" else [y, u, y, v]
    packed = np.tile(np.array(pair, np.uint8), (4, 3)).reshape(4, 6, 2)
    expected = cv2.cvtColor(packed, cv2.COLOR_YUV2BGR_UYVY if order == "uyvy" else cv2.COLOR_YUV2BGR_YUYV)
    out = imgmsg_to_bgr8(padded_msg(packed, encoding, pad=2))
    np.testing.assert_array_equal(out, expected)
    assert len(np.unique(out.reshape(-1, 3), axis=0)) == 1


@pytest.mark.parametrize("encoding", ["bgr8", "rgb8", "bgra8", "rgba8", "mono8", "mono16"])
def test_publish_roundtrip(encoding):
    msg = bgr8_to_imgmsg(BGR, encoding)
    assert (msg.encoding, msg.height, msg.width) == (encoding, 6, 8)
    out = imgmsg_to_bgr8(msg)
    if encoding.startswith("mono"):
        np.testing.assert_array_equal(out[..., 0], cv2.cvtColor(BGR, cv2.COLOR_BGR2GRAY))
    else:
        np.testing.assert_array_equal(out, BGR)


def test_compressed_roundtrip():
    image = cv2.GaussianBlur(RNG.integers(0, 256, (32, 48, 3), dtype=np.uint8), (5, 5), 0)
    png = bgr8_to_compressed(image, "png")
    np.testing.assert_array_equal(compressed_to_bgr8(png), image)
    jpeg = bgr8_to_compressed(image, "jpeg")
    assert jpeg.format == "jpeg"
    assert compressed_to_bgr8(jpeg).shape == image.shape


@pytest.mark.parametrize("extension", [".png", ".jpg"])
def test_compressed_size_is_read_from_the_header_and_a_bomb_is_refused_before_decoding(extension):
    image = np.zeros((7, 13, 3), np.uint8)
    flags = [cv2.IMWRITE_JPEG_PROGRESSIVE, 1] if extension == ".jpg" else []
    data = bytearray(cv2.imencode(extension, image, flags)[1].tobytes())
    assert compressed_image_size(data) == (13, 7)
    if extension == ".png":  # IHDR width, height
        data[16:24] = (9000).to_bytes(4, "big") + (9000).to_bytes(4, "big")
    else:  # the start-of-frame segment's height, width
        sof = next(i for i in range(2, len(data) - 1) if data[i] == 0xFF and data[i + 1] in (0xC0, 0xC2))
        data[sof + 5 : sof + 9] = (9000).to_bytes(2, "big") + (9000).to_bytes(2, "big")
    assert compressed_image_size(data) == (9000, 9000)
    with pytest.raises(ImageConversionError, match="9000x9000 exceeds"):
        compressed_to_bgr8(CompressedImage(format=extension[1:], data=array.array("B", data)))
    assert compressed_image_size(b"BM not a png or jpeg") is None


def test_bomb_check_walks_past_long_metadata_and_refuses_other_formats():
    image = np.zeros((7, 13, 3), np.uint8)
    jpeg = cv2.imencode(".jpg", image)[1].tobytes()
    comment = b"\xff\xfe" + (65535).to_bytes(2, "big") + bytes(65533)  # a 64 kB COM segment first
    padded = jpeg[:2] + comment + jpeg[2:]
    assert compressed_image_size(padded) == (13, 7)
    np.testing.assert_array_equal(
        compressed_to_bgr8(CompressedImage(format="jpeg", data=array.array("B", padded))).shape, (7, 13, 3)
    )
    bmp = cv2.imencode(".bmp", image)[1].tobytes()  # OpenCV decodes it, but its size is not checked first
    with pytest.raises(ImageConversionError, match="not a readable JPEG or PNG"):
        compressed_to_bgr8(CompressedImage(format="bmp", data=array.array("B", bmp)))


def _image(**fields) -> Image:
    base = dict(height=4, width=4, encoding="bgr8", step=12, data=array.array("B", bytes(48)))
    base.update(fields)
    return Image(**base)


BAD_IMAGES = {
    "unknown encoding": (_image(encoding="weird16"), "unsupported encoding"),
    "empty encoding": (_image(encoding=""), "unsupported encoding"),
    "zero width": (_image(width=0, step=0, data=array.array("B")), "empty image"),
    "zero height": (_image(height=0, data=array.array("B")), "empty image"),
    "too large": (_image(height=9000, width=4), "exceeds"),
    "short data": (_image(data=array.array("B", bytes(47))), r"fewer than step\*height"),
    "step too small": (_image(step=11), "step 11 <"),
    "odd yuv width": (
        _image(encoding="yuv422", width=3, step=6, data=array.array("B", bytes(24))),
        "even width",
    ),
}


@pytest.mark.parametrize("case", list(BAD_IMAGES))
def test_bad_images_are_refused_with_a_reason(case):
    msg, reason = BAD_IMAGES[case]
    with pytest.raises(ImageConversionError, match=reason):
        imgmsg_to_bgr8(msg)


def test_none_fields_are_refused():
    class Broken:
        encoding, height, width, step, data = "bgr8", None, 4, 12, None

    with pytest.raises(ImageConversionError, match="height"):
        check_image(Broken())


@pytest.mark.parametrize("data", [b"", b"\xff\xd8\xff\xe0 not really a jpeg", bytes(range(256))])
def test_corrupt_compressed_is_refused(data):
    with pytest.raises(ImageConversionError):
        compressed_to_bgr8(CompressedImage(format="jpeg", data=array.array("B", data)))


def test_array_to_imgmsg_checks_layout():
    with pytest.raises(ImageConversionError, match="bgr8 needs"):
        array_to_imgmsg(np.zeros((2, 2), np.uint8), "bgr8")


@pytest.mark.skipif(not ic.have_cv_bridge(), reason="no ROS 2 cv_bridge in this environment")
def test_cv_bridge_agrees_with_our_converter(monkeypatch) -> None:
    from cv_bridge import CvBridge

    for encoding in ("bgr8", "rgb8", "bgra8", "mono8", "bayer_rggb8"):  # 8 bit: both are cv2.cvtColor
        msg = padded_msg(BGR if encoding in ("bgr8", "rgb8") else _pixels_for(encoding), encoding, pad=3)
        ours = imgmsg_to_bgr8(msg)
        monkeypatch.setattr(ic, "_BRIDGE", CvBridge())
        theirs = imgmsg_to_bgr8(msg)
        monkeypatch.setattr(ic, "_BRIDGE", None)
        np.testing.assert_array_equal(ours, theirs, err_msg=encoding)


def _pixels_for(encoding: str) -> np.ndarray:
    spec = ic.ENCODINGS[encoding]
    shape = BGR.shape[:2] + ((spec.channels,) if spec.channels > 1 else ())
    return RNG.integers(0, np.iinfo(spec.dtype).max, shape, dtype=spec.dtype)
