"""REP 155 3D outputs as messages: ``face_<id>`` / ``gaze_<id>`` transforms (tf2_msgs/TFMessage on /tf,
written straight as its serialized bytes) and vision_msgs/Detection3D, from
:class:`~retinaface_ros.hri.FacePose` values. Message building only."""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Any

import numpy as np

from retinaface_ros.hri import CameraIntrinsics, FacePose

FACE_FRAME = "face_{}"
GAZE_FRAME = "gaze_{}"
FACE_DEPTH_M = 0.2  # Detection3D box depth: about a head
CDR_LITTLE_ENDIAN = b"\x00\x01\x00\x00"  # the encapsulation header of little-endian CDR


def face_transforms(face_id: str, pose: FacePose) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """``face_<id>`` and ``gaze_<id>`` as (child frame, translation, quaternion x y z w)."""
    return [
        (FACE_FRAME.format(face_id), pose.translation, pose.face_quaternion),
        (GAZE_FRAME.format(face_id), pose.translation, pose.gaze_quaternion),
    ]


def tf_message_bytes(header: Any, transforms: Sequence[tuple[str, np.ndarray, np.ndarray]]) -> bytes:
    """A tf2_msgs/TFMessage of ``transforms`` (child frame, translation, quaternion), each a child of
    ``header.frame_id`` at ``header.stamp``, as the CDR bytes rclpy publishes as they are (little-endian
    CDR, what ``rclpy.serialization.serialize_message`` writes: checked against it in the tests). ~3 µs a
    transform, where building a TransformStamped message costs ~25 µs."""
    body = bytearray(struct.pack("<I", len(transforms)))
    stamp = struct.pack("<iI", header.stamp.sec, header.stamp.nanosec)
    parent = _cdr_string(header.frame_id)
    for child, translation, rotation in transforms:
        _align(body, 4)
        body += stamp + parent
        _align(body, 4)
        body += _cdr_string(child)
        _align(body, 8)
        body += struct.pack("<7d", *translation, *rotation)
    return CDR_LITTLE_ENDIAN + bytes(body)


def _cdr_string(text: str) -> bytes:
    data = text.encode() + b"\0"
    return struct.pack("<I", len(data)) + data


def _align(buffer: bytearray, size: int) -> None:
    buffer += bytes(-len(buffer) % size)


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
