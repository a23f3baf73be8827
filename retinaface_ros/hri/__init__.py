"""REP 155 (ROS4HRI) face outputs without ROS: face crops, aligned faces, normalised ROIs and landmarks in
hri_msgs' layout, and the 3D face / gaze pose from the 5 landmarks (PnP against a mean face model, depth
from an aligned depth image when there is one). The ROS layer (``ros/hri_publishers.py``, ``ros/face_tf.py``)
only turns these into messages."""

from __future__ import annotations

from retinaface_ros.hri.camera import CameraIntrinsics, IntrinsicsError
from retinaface_ros.hri.depth import DepthError, depth_at
from retinaface_ros.hri.face_crops import ALIGN_STYLES, ARCFACE_TEMPLATE_112, aligned_face, cropped_face
from retinaface_ros.hri.face_pose import FACE_MODEL_MM, FacePose, estimate_face_pose
from retinaface_ros.hri.normalized import (
    FACIAL_LANDMARKS_COUNT,
    LANDMARK_SLOTS,
    facial_landmarks,
    normalized_roi,
)

__all__ = [
    "ALIGN_STYLES",
    "ARCFACE_TEMPLATE_112",
    "FACE_MODEL_MM",
    "FACIAL_LANDMARKS_COUNT",
    "LANDMARK_SLOTS",
    "CameraIntrinsics",
    "DepthError",
    "FacePose",
    "IntrinsicsError",
    "aligned_face",
    "cropped_face",
    "depth_at",
    "estimate_face_pose",
    "facial_landmarks",
    "normalized_roi",
]
