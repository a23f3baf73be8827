"""REP 155 3D outputs as messages: ``face_<id>`` / ``gaze_<id>`` transforms (tf2_msgs/TFMessage on /tf,
written straight as its serialized bytes) and vision_msgs/Detection3D, from
:class:`~retinaface_ros.hri.FacePose` values. Message building only."""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Any

import numpy as np

from retinaface_ros.hri import CameraIntrinsics, FacePose
from retinaface_ros.ros import cdr

FACE_FRAME = "face_{}"
GAZE_FRAME = "gaze_{}"
FACE_DEPTH_M = 0.2  # Detection3D box depth: about a head


def face_transforms(face_id: str, pose: FacePose) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """``face_<id>`` and ``gaze_<id>`` as (child frame, translation, quaternion x y z w)."""
    return [
        (FACE_FRAME.format(face_id), pose.translation, pose.face_quaternion),
        (GAZE_FRAME.format(face_id), pose.translation, pose.gaze_quaternion),
    ]


def tf_message_bytes(header: Any, transforms: Sequence[tuple[str, np.ndarray, np.ndarray]]) -> bytes:
    """A tf2_msgs/TFMessage of ``transforms`` (child frame, translation, quaternion), each a child of
    ``header.frame_id`` at ``header.stamp``, as the CDR bytes a publisher sends (see :mod:`.cdr`)."""
    out = cdr.CdrWriter()
    out.raw(cdr.uint32(len(transforms)), align=4)
    head = cdr.header(header)
    for child, translation, rotation in transforms:
        out.raw(head, align=4)
        out.raw(cdr.string(child), align=4)
        out.pack(_TRANSFORM, *translation, *rotation, align=8)
    return out.to_bytes()


_TRANSFORM = struct.Struct("<7d")  # translation x y z, rotation x y z w


def detection_3d(
    vision_msgs: Any,
    header: Any,
    face_id: str,
    pose: FacePose,
    box: np.ndarray,
    camera: CameraIntrinsics,
    class_id: str,
    score: float,
) -> Any:
    """One vision_msgs/Detection3D: id = the face id, centre = the face pose, size = the face box at the
    face's distance (width, height) and a head's depth."""
    detection = vision_msgs.Detection3D()
    detection.header = header
    detection.id = face_id
    z = float(pose.translation[2])
    center = detection.bbox.center
    center.position.x, center.position.y, center.position.z = (float(v) for v in pose.translation)
    q = pose.face_quaternion
    center.orientation.x, center.orientation.y, center.orientation.z, center.orientation.w = (
        float(v) for v in q
    )
    x1, y1, x2, y2 = (float(v) for v in box)
    detection.bbox.size.x = (x2 - x1) * z / camera.fx
    detection.bbox.size.y = (y2 - y1) * z / camera.fy
    detection.bbox.size.z = FACE_DEPTH_M
    hypothesis = vision_msgs.ObjectHypothesisWithPose()
    hypothesis.hypothesis.class_id = class_id
    hypothesis.hypothesis.score = float(score)
    hypothesis.pose.pose = center
    detection.results = [hypothesis]
    return detection
