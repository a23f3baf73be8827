"""REP 155 2D outputs (IdsList, NormalizedRegionOfInterest2D, FacialLandmarks, the face images) as the CDR
bytes a publisher sends (see :mod:`.cdr`), and the REP 155 face id of a track. Message building only; the
geometry is in :mod:`retinaface_ros.hri`."""

from __future__ import annotations

import importlib
import re
import struct
from collections.abc import Sequence
from types import ModuleType
from typing import Any

import numpy as np

from retinaface_ros.hri import facial_landmarks, normalized_roi
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


class FrameMessages:
    """The CDR bytes of one frame's REP 155 messages (see :mod:`.cdr`). They all carry the frame's header,
    which is encoded once; the ROIs and landmarks of all faces are computed together."""

    def __init__(self, header: Any) -> None:
        self._header = cdr.header(header)  # every next field aligns to 4: pad the header to it
        self._head = cdr.ENCAPSULATION + self._header + bytes(-len(self._header) % 4)
        self._image_layouts: dict[tuple[int, int, int, str], bytes] = {}

    def ids_list(self, ids: Sequence[str]) -> bytes:
        """hri_msgs/IdsList."""
        out = cdr.CdrWriter()
        out.raw(self._header, align=4)
        out.raw(cdr.uint32(len(ids)), align=4)
        for face in ids:
            out.raw(cdr.string(face), align=4)
        return out.to_bytes()

    def rois(self, boxes: np.ndarray, image_hw: tuple[int, int], confidences: np.ndarray) -> list[bytes]:
        """hri_msgs/NormalizedRegionOfInterest2D of each pixel box (faces, 4): normalised to the image,
        with its confidence c."""
        rows = np.empty((len(boxes), 5), "<f4")
        rows[:, :4] = normalized_roi(np.reshape(boxes, (-1, 4)), image_hw)
        rows[:, 4] = np.clip(confidences, 0.0, 1.0)
        return [self._head + row.tobytes() for row in rows]

    def landmarks(
        self, points: np.ndarray, image_hw: tuple[int, int], confidences: np.ndarray
    ) -> list[bytes]:
        """hri_msgs/FacialLandmarks of each face's 5 points (faces, 5, 2): in their slots, the other 65
        unknown (c 0)."""
        rows = facial_landmarks(np.reshape(points, (-1, 5, 2)), image_hw, confidences).astype("<f4")
        size = _HEIGHT_WIDTH.pack(int(image_hw[0]), int(image_hw[1]))
        return [b"".join((self._head, row, size)) for row in rows]  # [70] x y c, height, width

    def image(self, pixels: np.ndarray, encoding: str = "bgr8") -> bytes:
        """sensor_msgs/Image of 8-bit ``pixels`` (height, width[, channels])."""
        pixels = np.ascontiguousarray(pixels)
        height, width = pixels.shape[:2]
        key = (height, width, pixels.nbytes, encoding)
        layout = self._image_layouts.get(key)
        if layout is None:  # height, width, encoding, is_bigendian, step, the data's length
            out = cdr.CdrWriter()
            out.pack(_HEIGHT_WIDTH, height, width, align=4)
            out.raw(cdr.string(encoding), align=4)
            out.raw(b"\0", align=1)
            out.raw(cdr.uint32(pixels.nbytes // max(height, 1)), align=4)
            out.raw(cdr.uint32(pixels.nbytes), align=4)
            layout = self._image_layouts[key] = out.body()
        return b"".join((self._head, layout, memoryview(pixels)))


def ids_list(header: Any, ids: Sequence[str]) -> bytes:
    """hri_msgs/IdsList as the CDR bytes a publisher sends (see :mod:`.cdr`)."""
    return FrameMessages(header).ids_list(ids)


def roi(header: Any, box: np.ndarray, image_hw: tuple[int, int], confidence: float) -> bytes:
    """hri_msgs/NormalizedRegionOfInterest2D (the box normalised to the image, confidence c) as CDR bytes."""
    return FrameMessages(header).rois(np.reshape(box, (1, 4)), image_hw, np.array([confidence]))[0]


def landmarks(header: Any, points: np.ndarray, image_hw: tuple[int, int], confidence: float) -> bytes:
    """hri_msgs/FacialLandmarks as CDR bytes: our 5 points in their slots, the other 65 unknown (c 0)."""
    return FrameMessages(header).landmarks(np.reshape(points, (1, 5, 2)), image_hw, np.array([confidence]))[0]


def image(header: Any, pixels: np.ndarray, encoding: str = "bgr8") -> bytes:
    """sensor_msgs/Image of 8-bit ``pixels`` (height, width[, channels]) as CDR bytes."""
    return FrameMessages(header).image(pixels, encoding)


_HEIGHT_WIDTH = struct.Struct("<II")
