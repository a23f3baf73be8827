"""REP 155 3D outputs as messages: ``face_<id>`` / ``gaze_<id>`` transforms (tf2_msgs/TFMessage on /tf) and
vision_msgs/Detection3D, from :class:`~retinaface_ros.hri.FacePose` values. Message building only."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from geometry_msgs.msg import TransformStamped

from retinaface_ros.hri import CameraIntrinsics, FacePose

FACE_FRAME = "face_{}"
GAZE_FRAME = "gaze_{}"
FACE_DEPTH_M = 0.2  # Detection3D box depth: about a head


def _transform(header: Any, child: str, translation: np.ndarray, quaternion: np.ndarray) -> TransformStamped:
    msg = TransformStamped()
    msg.header = header
    msg.child_frame_id = child
    msg.transform.translation.x, msg.transform.translation.y, msg.transform.translation.z = (
        float(v) for v in translation
    )
    rotation = msg.transform.rotation
    rotation.x, rotation.y, rotation.z, rotation.w = (float(v) for v in quaternion)
    return msg


def face_transforms(header: Any, face_id: str, pose: FacePose) -> list[TransformStamped]:
    """``face_<id>`` and ``gaze_<id>``, both children of the image's frame (``header.frame_id``)."""
    return [
        _transform(header, FACE_FRAME.format(face_id), pose.translation, pose.face_quaternion),
        _transform(header, GAZE_FRAME.format(face_id), pose.translation, pose.gaze_quaternion),
    ]


def tf_message(tf_type: type, transforms: Sequence[TransformStamped]) -> Any:
    msg = tf_type()
    msg.transforms = list(transforms)
    return msg


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
