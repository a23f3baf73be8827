"""3D pose of a face from its 5 landmarks: head rotation by PnP against a mean 3D face model, metric
distance from the model's typical inter-ocular distance (or from an aligned depth image), expressed as
REP 155's ``face_<id>`` frame (origin at the sellion, x out of the face, z up to the scalp) and
``gaze_<id>`` frame (same origin, z along the gaze, x right, y down), both in the camera's optical frame.
"""

from __future__ import annotations

import math
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
# at the same scale. Kept in mm: with the same model in metres SQPnP finds the same pose ~2.3× slower
# (bald_guys.jpg's faces).
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
    """(x, y, z, w) of a rotation matrix, by Shepperd's method (from the largest of w, x, y, z, which keeps
    it accurate): ~3 µs, where scipy's Rotation.from_matrix takes ~70 µs for one matrix."""
    (m00, m01, m02), (m10, m11, m12), (m20, m21, m22) = np.asarray(rotation, np.float64).tolist()
    trace = m00 + m11 + m22
    if trace > 0:
        s = 2.0 * math.sqrt(trace + 1.0)
        return np.array([(m21 - m12) / s, (m02 - m20) / s, (m10 - m01) / s, s / 4])
    if m00 > m11 and m00 > m22:
        s = 2.0 * math.sqrt(1.0 + m00 - m11 - m22)
        return np.array([s / 4, (m01 + m10) / s, (m02 + m20) / s, (m21 - m12) / s])
    if m11 > m22:
        s = 2.0 * math.sqrt(1.0 + m11 - m00 - m22)
        return np.array([(m01 + m10) / s, s / 4, (m12 + m21) / s, (m02 - m20) / s])
    s = 2.0 * math.sqrt(1.0 + m22 - m00 - m11)
    return np.array([(m02 + m20) / s, (m12 + m21) / s, s / 4, (m10 - m01) / s])


def _undistorted(points: np.ndarray, camera: CameraIntrinsics) -> np.ndarray:
    """Pixels with the lens distortion removed (unchanged when the camera has none)."""
    if not any(camera.distortion):
        return points
    normalised = cv2.undistortPoints(points.reshape(-1, 1, 2), camera.matrix, np.array(camera.distortion))
    return normalised.reshape(-1, 2) * [camera.fx, camera.fy] + [camera.cx, camera.cy]


def _solve_pnp(points: np.ndarray, camera: CameraIntrinsics) -> tuple[np.ndarray, np.ndarray, float] | None:
    """Model→camera rotation, translation (mm) and RMS reprojection error (px), or None (also for a face
    so small that SQPnP refuses its points as not spread enough: a few pixels across)."""
    try:
        ok, rvec, tvec = cv2.solvePnP(FACE_MODEL_MM, points, camera.matrix, None, flags=cv2.SOLVEPNP_SQPNP)
    except cv2.error:
        return None
    if not ok or not math.isfinite(float(tvec.sum())) or tvec[2, 0] <= 0:
        return None
    projected, _ = cv2.projectPoints(FACE_MODEL_MM, rvec, tvec, camera.matrix, None)
    error = cv2.norm(projected.reshape(-1, 2), points, cv2.NORM_L2) / math.sqrt(len(points))
    return cv2.Rodrigues(rvec)[0], tvec.reshape(3), error


def estimate_face_pose(
    landmarks: np.ndarray, camera: CameraIntrinsics, depth_m: float | None = None
) -> FacePose:
    """Pose of the face whose 5 landmarks (pixels, our order) are given. ``depth_m``: the measured depth
    (optical z, metres) at the sellion, which replaces the model-based distance."""
    points = _undistorted(np.asarray(landmarks, np.float64).reshape(5, 2), camera)
    (left_x, left_y), (right_x, right_y) = points[:2].tolist()
    sellion = ((left_x + right_x) / 2, (left_y + right_y) / 2)
    eye_px = math.hypot(right_x - left_x, right_y - left_y)
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
