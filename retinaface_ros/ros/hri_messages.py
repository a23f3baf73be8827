"""REP 155 2D outputs as hri_msgs messages (IdsList, NormalizedRegionOfInterest2D, FacialLandmarks) and the
REP 155 face id of a track. Message building only; the geometry is in :mod:`retinaface_ros.hri`."""

from __future__ import annotations

import importlib
import re
import sys
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

import numpy as np

from retinaface_ros.hri import LANDMARK_SLOTS, facial_landmarks, normalized_roi
from retinaface_ros.ros import cdr
from retinaface_ros.ros.interfaces import _check_type_support, _repo_hint

_TOPIC_TOKEN = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


def face_id(track_id: str) -> str:
    """The REP 155 id of a track: the tracker's id, with an ``f`` in front when it does not start with a
    letter (a ROS name token cannot start with a digit: ``/humans/faces/3a9c/roi`` is not a valid topic)."""
    clean = re.sub(r"[^A-Za-z0-9_]", "_", track_id)
    return clean if _TOPIC_TOKEN.match(clean) else f"f{clean}"


def import_hri_msgs() -> tuple[ModuleType, type]:
    """``(hri_msgs.msg, tf2_msgs.msg.TFMessage)``, or RuntimeError saying how to get them."""
    try:
        hri = importlib.import_module("hri_msgs.msg")
        tf_message = importlib.import_module("tf2_msgs.msg").TFMessage
        _check_type_support(hri.IdsList, hri.NormalizedRegionOfInterest2D, hri.FacialLandmarks, tf_message)
    except Exception as error:
        repo = _repo_hint()
        raise RuntimeError(
            "hri=true needs hri_msgs and tf2_msgs: install ros-$ROS_DISTRO-hri-msgs and "
            "ros-$ROS_DISTRO-tf2-msgs, or build the copies bundled with retinaface_ros: `colcon build "
            f"--base-paths {repo}/tools/hri_msgs {repo}/tools/tf2_msgs` (or `make setup`) and source "
            f"install/setup.bash ({error})"
        ) from error
    return hri, tf_message


def ids_list(header: Any, ids: Sequence[str]) -> bytes:
    """hri_msgs/IdsList as the CDR bytes a publisher sends (see :mod:`.cdr`)."""
    out = cdr.CdrWriter()
    out.raw(cdr.header(header), align=4)
    out.raw(cdr.uint32(len(ids)), align=4)
    for face in ids:
        out.raw(cdr.string(face), align=4)
    return out.to_bytes()


def roi(hri: ModuleType, header: Any, box: np.ndarray, image_hw: tuple[int, int], confidence: float) -> Any:
    xmin, ymin, xmax, ymax = normalized_roi(box, image_hw)
    c = min(1.0, max(0.0, float(confidence)))
    return hri.NormalizedRegionOfInterest2D(header=header, xmin=xmin, ymin=ymin, xmax=xmax, ymax=ymax, c=c)


class SerializedTemplate:
    """One topic's messages, written straight into their CDR bytes (rclpy publishes bytes as they are).

    REP 155 publishes the same few message layouts for every face and frame; only the header stamp and the
    fields at the end of the message change (the ROI's 5 floats, the 70 landmarks and the image size, an
    image's pixels). So a template made by ``make(frame_id)`` is serialized by rclpy once per frame_id, and
    each publish writes the stamp (after the 4-byte encapsulation header) and the trailing bytes: ~5 µs,
    where building and converting the Python message costs 20-60 µs (a FacialLandmarks has 70 nested
    points) and copies an image twice. Checked against rclpy's own serialization in the tests."""

    def __init__(self, make: Callable[[str], Any]) -> None:
        self._make = make
        self._frame_id: str | None = None
        self._buffer = bytearray()
        self._stamp = np.zeros(2, np.uint32)
        self._bytes = np.zeros(0, np.uint8)

    def serialize(self, header: Any, tail: np.ndarray) -> bytes:
        """The message with ``header``'s stamp and frame_id, its last ``tail.nbytes`` bytes = ``tail``."""
        if header.frame_id != self._frame_id:
            from rclpy.serialization import serialize_message

            buffer = bytearray(serialize_message(self._make(header.frame_id)))
            if buffer[:2] != b"\x00\x01" or sys.byteorder != "little":
                raise RuntimeError(
                    "REP 155 fast serialization needs little-endian CDR on a little-endian host"
                )
            self._buffer, self._frame_id = buffer, header.frame_id
            self._stamp = np.frombuffer(self._buffer, np.uint32, 2, 4)
            self._bytes = np.frombuffer(self._buffer, np.uint8)
        self._stamp[:] = (header.stamp.sec & 0xFFFFFFFF, header.stamp.nanosec)
        data = np.ascontiguousarray(tail).reshape(-1).view(np.uint8)
        self._bytes[self._bytes.size - data.size :] = data
        return bytes(self._buffer)


def roi_template(hri: ModuleType) -> SerializedTemplate:
    return SerializedTemplate(
        lambda frame_id: hri.NormalizedRegionOfInterest2D(header=_header(hri, frame_id))
    )


def roi_tail(box: np.ndarray, image_hw: tuple[int, int], confidence: float) -> np.ndarray:
    """NormalizedRegionOfInterest2D's xmin, ymin, xmax, ymax, c."""
    c = min(1.0, max(0.0, float(confidence)))
    return np.array([*normalized_roi(box, image_hw), c], "<f4")


def landmarks_template(hri: ModuleType) -> SerializedTemplate:
    return SerializedTemplate(lambda frame_id: hri.FacialLandmarks(header=_header(hri, frame_id)))


def landmarks_tail(points: np.ndarray, image_hw: tuple[int, int], confidence: float) -> np.ndarray:
    """FacialLandmarks' 70 × (x, y, c) float32, then height and width as uint32."""
    rows = facial_landmarks(points, image_hw, confidence).astype("<f4").reshape(-1).view(np.uint8)
    return np.concatenate([rows, np.array(image_hw, "<u4").view(np.uint8)])


def image_template(shape: tuple[int, int, int]) -> SerializedTemplate:
    """A bgr8 sensor_msgs/Image of ``shape`` (height, width, 3); the tail is its pixels."""
    from sensor_msgs.msg import Image

    height, width, channels = shape

    def make(frame_id: str) -> Any:
        msg = Image(height=height, width=width, encoding="bgr8", step=width * channels)
        msg.header.frame_id = frame_id
        msg.data = bytes(height * width * channels)
        return msg

    return SerializedTemplate(make)


def _header(hri: ModuleType, frame_id: str) -> Any:
    header = hri.IdsList().header
    header.frame_id = frame_id
    return header


def landmarks(
    hri: ModuleType,
    header: Any,
    points: np.ndarray,
    image_hw: tuple[int, int],
    confidence: float,
    reuse: Any = None,
) -> Any:
    """FacialLandmarks with our 5 points in their slots, the others unknown (0, 0, c = 0). ``reuse``: the
    face's previous message, whose other 65 slots are unknown already (only our 5 are rewritten)."""
    rows = facial_landmarks(points, image_hw, confidence)
    msg = reuse if reuse is not None else hri.FacialLandmarks()
    msg.header, msg.height, msg.width = header, int(image_hw[0]), int(image_hw[1])
    for slot in LANDMARK_SLOTS:
        point = msg.landmarks[slot]
        point.x, point.y, point.c = (float(v) for v in rows[slot])
    return msg
