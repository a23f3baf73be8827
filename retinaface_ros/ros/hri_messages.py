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


def ids_list(header: Any, ids: Sequence[str]) -> bytes:
    """hri_msgs/IdsList as the CDR bytes a publisher sends (see :mod:`.cdr`)."""
    out = cdr.CdrWriter()
    out.raw(cdr.header(header), align=4)
    out.raw(cdr.uint32(len(ids)), align=4)
    for face in ids:
        out.raw(cdr.string(face), align=4)
    return out.to_bytes()


def roi(header: Any, box: np.ndarray, image_hw: tuple[int, int], confidence: float) -> bytes:
    """hri_msgs/NormalizedRegionOfInterest2D (the box normalised to the image, confidence c) as CDR bytes."""
    out = cdr.CdrWriter()
    out.raw(cdr.header(header), align=4)
    out.pack(_ROI, *normalized_roi(box, image_hw), min(1.0, max(0.0, float(confidence))), align=4)
    return out.to_bytes()


def landmarks(header: Any, points: np.ndarray, image_hw: tuple[int, int], confidence: float) -> bytes:
    """hri_msgs/FacialLandmarks as CDR bytes: our 5 points in their slots, the other 65 unknown (c 0)."""
    out = cdr.CdrWriter()
    out.raw(cdr.header(header), align=4)
    out.raw(facial_landmarks(points, image_hw, confidence).astype("<f4").tobytes(), align=4)  # [70] x y c
    out.pack(_HEIGHT_WIDTH, int(image_hw[0]), int(image_hw[1]), align=4)
    return out.to_bytes()


def image(header: Any, pixels: np.ndarray, encoding: str = "bgr8") -> bytes:
    """sensor_msgs/Image of 8-bit ``pixels`` (height, width[, channels]) as CDR bytes."""
    pixels = np.ascontiguousarray(pixels)
    height, width = pixels.shape[:2]
    out = cdr.CdrWriter()
    out.raw(cdr.header(header), align=4)
    out.pack(_HEIGHT_WIDTH, height, width, align=4)
    out.raw(cdr.string(encoding), align=4)
    out.raw(b"\0", align=1)  # is_bigendian
    out.raw(cdr.uint32(pixels.nbytes // max(height, 1)), align=4)  # step: bytes a row
    out.raw(cdr.uint32(pixels.nbytes) + pixels.tobytes(), align=4)  # data
    return out.to_bytes()


_ROI = struct.Struct("<5f")  # xmin, ymin, xmax, ymax, c
_HEIGHT_WIDTH = struct.Struct("<II")
