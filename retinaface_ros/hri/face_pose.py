"""3D pose of a face from its 5 landmarks: head rotation by PnP against a mean 3D face model, metric
distance from the model's typical inter-ocular distance (or from an aligned depth image), expressed as
REP 155's ``face_<id>`` frame (origin at the sellion, x out of the face, z up to the scalp) and
``gaze_<id>`` frame (same origin, z along the gaze, x right, y down), both in the camera's optical frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import cv2
import numpy as np

from retinaface_ros.hri.camera import CameraIntrinsics

TYPICAL_INTEROCULAR_M = 0.063  # mean adult interpupillary distance (Dodgson 2004, Proc. SPIE 5291: 63 mm)

# Mean 3D positions (mm) of our 5 landmarks, in a model frame that is the camera's optical frame for a face
# looking straight into the camera: X towards the image right (the person's left), Y down, Z away from the
# camera; origin midway between the eyes (REP 155 approximates the sellion so).
# Sources: x/y are the standard ArcFace 5-point template (the mean landmark layout of frontal faces used to
# align InsightFace's training data), made symmetric and scaled so the eyes are TYPICAL_INTEROCULAR_M apart;
# depths are those of the generic head model of S. Mallick, "Head Pose Estimation using OpenCV and Dlib"
# (LearnOpenCV, 2016: nose tip 135, mouth corners 10 units in front of the eyes, eyes 450 units apart),
# at the same scale.
FACE_MODEL_MM = np.array(
    [
        [-31.5, 0.0, 0.0],  # image-left eye (the person's right)
        [31.5, 0.0, 0.0],  # image-right eye
        [0.0, 36.0, -18.9],  # nose tip
        [-26.1, 72.7, -1.4],  # image-left mouth corner
        [26.1, 72.7, -1.4],  # image-right mouth corner
    ],
    np.float64,
)

# Columns: the face frame's axes (x out of the face, y to the person's left, z up) in model coordinates.
_FACE_IN_MODEL = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, -1.0], [-1.0, 0.0, 0.0]])
# Columns: the gaze frame's axes (x right, y down, z along the gaze, as seen by the person) in face axes.
_GAZE_IN_FACE = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])
MAX_REPROJECTION = 0.25  # PnP fits worse than this fraction of the eye distance (px) are not trusted


@dataclass(frozen=True)
class FacePose:
    """One face in the camera's optical frame (metres); rotations as 3×3 matrices whose columns are the
    frame's axes, and as (x, y, z, w) quaternions."""

    translation: np.ndarray  # (3,) sellion position
    face_rotation: np.ndarray  # (3, 3) face_<id> axes
    distance_source: str  # "model" (PnP with the mean face's scale), "inter_ocular" (fallback) or "depth"
    reprojection_px: float  # RMS PnP reprojection error; inf for the fallback

    @property
    def gaze_rotation(self) -> np.ndarray:
        return self.face_rotation @ _GAZE_IN_FACE

    @cached_property
    def face_quaternion(self) -> np.ndarray:
        return quaternion(self.face_rotation)

    @cached_property
    def gaze_quaternion(self) -> np.ndarray:
        return quaternion(self.gaze_rotation)


def quaternion(rotation: np.ndarray) -> np.ndarray:
    """(x, y, z, w) of a rotation matrix, by way of its rotation vector (cv2.Rodrigues: a few µs, where
    scipy's Rotation.from_matrix takes ~70 µs for one matrix)."""
    rvec = cv2.Rodrigues(np.asarray(rotation, np.float64))[0].reshape(3)
    angle = float(np.linalg.norm(rvec))
    if angle < 1e-12:
        return np.array([0.0, 0.0, 0.0, 1.0])
    return np.append(rvec / angle * np.sin(angle / 2), np.cos(angle / 2))


def _undistorted(points: np.ndarray, camera: CameraIntrinsics) -> np.ndarray:
    """Pixels with the lens distortion removed (unchanged when the camera has none)."""
    if not any(camera.distortion):
        return points
    normalised = cv2.undistortPoints(points.reshape(-1, 1, 2), camera.matrix, np.array(camera.distortion))
    return normalised.reshape(-1, 2) * [camera.fx, camera.fy] + [camera.cx, camera.cy]


def _solve_pnp(points: np.ndarray, camera: CameraIntrinsics) -> tuple[np.ndarray, np.ndarray, float] | None:
    """Model→camera rotation, translation (mm) and RMS reprojection error (px), or None."""
    ok, rvec, tvec = cv2.solvePnP(FACE_MODEL_MM, points, camera.matrix, None, flags=cv2.SOLVEPNP_SQPNP)
    if not ok or not np.all(np.isfinite(tvec)) or tvec[2, 0] <= 0:
        return None
    projected, _ = cv2.projectPoints(FACE_MODEL_MM, rvec, tvec, camera.matrix, None)
    error = float(np.sqrt(np.mean(np.sum((projected.reshape(-1, 2) - points) ** 2, axis=1))))
    return cv2.Rodrigues(rvec)[0], tvec.reshape(3), error


def estimate_face_pose(
    landmarks: np.ndarray, camera: CameraIntrinsics, depth_m: float | None = None
) -> FacePose:
    """Pose of the face whose 5 landmarks (pixels, our order) are given. ``depth_m``: the measured depth
    (optical z, metres) at the sellion, which replaces the model-based distance."""
    points = _undistorted(np.asarray(landmarks, np.float64).reshape(5, 2), camera)
    sellion = points[:2].mean(axis=0)
    eye_px = float(np.linalg.norm(points[1] - points[0]))
    solved = _solve_pnp(points, camera)
    if solved is not None and solved[2] <= MAX_REPROJECTION * max(eye_px, 1.0):
        model_rotation, translation_mm, error = solved
        translation = translation_mm / 1000.0
        source = "model"
    else:  # frontal face at the distance where the typical eyes would look this far apart
        model_rotation, error = np.eye(3), float("inf")
        distance = camera.fx * TYPICAL_INTEROCULAR_M / max(eye_px, 1e-3)
        translation = camera.ray(*sellion) * distance
        source = "inter_ocular"
    if depth_m is not None and np.isfinite(depth_m) and depth_m > 0:
        translation = camera.ray(*sellion) * depth_m
        source = "depth"
    return FacePose(translation, model_rotation @ _FACE_IN_MODEL, source, error)
