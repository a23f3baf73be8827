"""REP 155 core (no ROS): crops, alignment, normalised ROI/landmarks, head pose, depth."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from retinaface_ros.hri import (
    ARCFACE_TEMPLATE_112,
    FACE_MODEL_MM,
    LANDMARK_SLOTS,
    CameraIntrinsics,
    DepthError,
    IntrinsicsError,
    aligned_face,
    cropped_face,
    depth_at,
    estimate_face_pose,
    facial_landmarks,
    normalized_roi,
)
from retinaface_ros.hri.face_pose import _FACE_IN_MODEL

CAMERA = CameraIntrinsics(fx=600.0, fy=600.0, cx=320.0, cy=240.0, width=640, height=480)


def project(rotation: Rotation, translation_m: np.ndarray, camera: CameraIntrinsics = CAMERA) -> np.ndarray:
    """The mean face model placed at (rotation of the model frame, sellion position) and projected."""
    rvec = rotation.as_rotvec().reshape(3, 1)
    tvec = (np.asarray(translation_m) * 1000.0).reshape(3, 1)
    points, _ = cv2.projectPoints(FACE_MODEL_MM, rvec, tvec, camera.matrix, None)
    return points.reshape(5, 2)


def angle_deg(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.degrees((Rotation.from_matrix(a).inv() * Rotation.from_matrix(b)).magnitude()))


# ----------------------------------------------------------------------------------------- 2D outputs
def test_normalized_roi_divides_and_clips():
    assert normalized_roi(np.array([64, 48, 320, 240]), (480, 640)) == pytest.approx((0.1, 0.1, 0.5, 0.5))
    assert normalized_roi(np.array([-10, -5, 700, 500]), (480, 640)).tolist() == [0.0, 0.0, 1.0, 1.0]
    boxes = np.array([[64, 48, 320, 240], [-10, -5, 700, 500]])  # all faces of a frame at once
    np.testing.assert_allclose(normalized_roi(boxes, (480, 640)), [[0.1, 0.1, 0.5, 0.5], [0, 0, 1, 1]])
    with pytest.raises(ValueError):
        normalized_roi(np.array([0, 0, 1, 1]), (0, 640))


def test_facial_landmarks_put_our_points_in_their_slots_and_mark_the_rest_unknown():
    points = np.array([[100, 100], [200, 100], [150, 150], [110, 200], [190, 200]], np.float32)
    rows = facial_landmarks(points, (400, 400), 0.9)
    assert rows.shape == (70, 3)
    assert LANDMARK_SLOTS == (68, 69, 30, 48, 54)  # RIGHT_PUPIL, LEFT_PUPIL, NOSE, MOUTH_OUTER_RIGHT/LEFT
    np.testing.assert_allclose(rows[list(LANDMARK_SLOTS), :2], points / 400.0, atol=1e-6)
    np.testing.assert_allclose(rows[list(LANDMARK_SLOTS), 2], 0.9)
    others = np.setdiff1d(np.arange(70), LANDMARK_SLOTS)
    assert not rows[others].any()  # unknown: zero position, zero confidence
    faces = facial_landmarks(np.stack([points, points * 2]), (400, 400), np.array([0.9, 0.4]))
    np.testing.assert_array_equal(faces[0], rows)  # all faces of a frame at once, each its confidence
    np.testing.assert_allclose(
        faces[1, list(LANDMARK_SLOTS)], np.c_[np.clip(points / 200.0, 0, 1), [0.4] * 5]
    )


def test_cropped_face_is_scaled_centred_and_zero_padded():
    image = np.zeros((200, 300, 3), np.uint8)
    image[50:150, 100:150] = 255  # a 50 wide × 100 tall white box
    crop = cropped_face(image, np.array([100, 50, 150, 150]), (128, 128))
    assert crop.shape == (128, 128, 3)
    columns = np.nonzero(crop[64, :, 0] > 128)[0]
    assert 30 <= columns[0] <= 34 and 93 <= columns[-1] <= 97  # 64 wide, centred
    assert crop[:, :28].max() == 0 and crop[:, 100:].max() == 0  # padding is black
    assert cropped_face(image, np.array([400, 400, 500, 500])).max() == 0  # box outside the image


def test_aligned_face_levels_the_eyes():
    # A face drawn with eyes 30° off level: after alignment, the eye marks sit on the template's eyes.
    template = ARCFACE_TEMPLATE_112 * (128 / 112)
    angle = math.radians(30)
    rotation = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    landmarks = (template - 64) @ rotation.T * 1.5 + [200, 150]
    image = np.zeros((300, 400, 3), np.uint8)
    for (x, y), colour in zip(landmarks[:2], [(0, 0, 255), (0, 255, 0)], strict=True):
        cv2.circle(image, (int(round(x)), int(round(y))), 4, colour, -1)
    aligned = aligned_face(image, landmarks, (128, 128))
    assert aligned.shape == (128, 128, 3)
    for channel, target in [(2, template[0]), (1, template[1])]:
        ys, xs = np.nonzero(aligned[:, :, channel] > 128)
        assert abs(xs.mean() - target[0]) < 1.5 and abs(ys.mean() - target[1]) < 1.5
    arcface = aligned_face(image, landmarks, (112, 112))
    assert arcface.shape == (112, 112, 3)


def test_face_images_make_both_images_of_a_face_as_the_single_ones_do():
    """One region copy for both images of a face gives what cropped_face and aligned_face give alone, for
    colour and grey images, faces inside, across the border of and outside the image; None asks for none."""
    from retinaface_ros.hri.face_crops import alignment_matrices, alignment_matrix, face_images

    rng = np.random.default_rng(5)
    colour = cv2.GaussianBlur(rng.integers(0, 255, (480, 640, 3), np.uint8), (0, 0), 2)
    landmarks = np.stack(
        [
            ARCFACE_TEMPLATE_112 * 1.5 + [200, 150],  # inside
            ARCFACE_TEMPLATE_112 * 2.0 + [-60, -40],  # across the top-left corner
            ARCFACE_TEMPLATE_112 * 1.2 + [900, 900],  # outside
        ]
    )
    boxes = np.c_[landmarks.min(axis=1) - 20, landmarks.max(axis=1) + 20]
    matrices = alignment_matrices(landmarks, (128, 128))
    for image in (colour, np.ascontiguousarray(colour[:, :, 1])):
        for box, points, matrix in zip(boxes, landmarks, matrices, strict=True):
            np.testing.assert_allclose(matrix, alignment_matrix(points, (128, 128)), atol=1e-9)
            cropped, aligned = face_images(image, box, matrix, (96, 128), (128, 128))
            assert np.abs(cropped.astype(int) - cropped_face(image, box, (96, 128))).max() <= 1
            assert np.array_equal(aligned, aligned_face(image, points, (128, 128)))
            assert face_images(image, box, None)[1] is None and face_images(image, None, matrix)[0] is None
    assert not face_images(colour, boxes[2], matrices[2])[0].any()  # outside: black


# ----------------------------------------------------------------------------------------- 3D pose
@pytest.mark.parametrize(
    ("euler_deg", "translation"),
    [
        ((0, 0, 0), (0.0, 0.0, 1.0)),
        ((10, 25, -5), (0.3, -0.1, 1.5)),
        ((-15, -35, 10), (-0.4, 0.2, 2.5)),
        ((20, 10, 15), (0.1, 0.3, 0.7)),
    ],
)
def test_head_pose_recovers_a_projected_face(euler_deg, translation):
    rng = np.random.default_rng(0)
    truth = Rotation.from_euler("xyz", euler_deg, degrees=True)
    pixels = project(truth, np.array(translation)) + rng.normal(0, 0.3, (5, 2))  # sub-pixel landmark noise
    pose = estimate_face_pose(pixels, CAMERA)
    distance = float(np.linalg.norm(translation))
    assert pose.distance_source == "model"
    assert np.linalg.norm(pose.translation - translation) < 0.05 * distance
    assert angle_deg(pose.face_rotation, truth.as_matrix() @ _FACE_IN_MODEL) < 5.0


def test_face_and_gaze_frames_follow_rep155():
    pose = estimate_face_pose(project(Rotation.identity(), np.array([0.0, 0.0, 1.0])), CAMERA)
    face_x, face_y, face_z = pose.face_rotation.T
    np.testing.assert_allclose(face_x, [0, 0, -1], atol=0.02)  # out of the face, towards the camera
    np.testing.assert_allclose(face_z, [0, -1, 0], atol=0.02)  # up (optical y points down)
    np.testing.assert_allclose(face_y, [1, 0, 0], atol=0.02)  # the person's left = the image's right
    gaze_x, gaze_y, gaze_z = pose.gaze_rotation.T
    np.testing.assert_allclose(gaze_z, face_x, atol=1e-9)  # gaze along the head's forward axis
    np.testing.assert_allclose(gaze_y, -face_z, atol=1e-9)  # y down
    np.testing.assert_allclose(gaze_x, -face_y, atol=1e-9)  # x to the person's right
    quaternion = pose.face_quaternion
    assert quaternion.shape == (4,) and abs(np.linalg.norm(quaternion) - 1) < 1e-9


def test_depth_image_replaces_the_model_distance():
    truth = Rotation.from_euler("xyz", (5, 20, 0), degrees=True)
    translation = np.array([0.2, -0.05, 1.8])
    pixels = project(truth, translation)
    sellion = pixels[:2].mean(axis=0)
    for encoding, scale, dtype in [("16UC1", 1000.0, np.uint16), ("32FC1", 1.0, np.float32)]:
        depth = np.zeros((480, 640), dtype)  # no reading anywhere ...
        u, v = int(round(sellion[0])), int(round(sellion[1]))
        depth[v - 3 : v + 4, u - 3 : u + 4] = translation[2] * scale  # ... but at the face
        depth[v, u] = 0  # one hole in the patch is ignored
        measured = depth_at(depth, encoding, (480, 640), tuple(sellion))
        # The model-based distance is deliberately wrong (camera focal length off by 20%); depth fixes z.
        wrong_camera = CameraIntrinsics(720.0, 720.0, 320.0, 240.0)
        pose = estimate_face_pose(pixels, wrong_camera, depth_m=measured)
        assert pose.distance_source == "depth"
        assert abs(pose.translation[2] - translation[2]) < 0.02 * translation[2]


def test_depth_errors_are_clear():
    depth = np.zeros((240, 320), np.uint16)
    with pytest.raises(DepthError, match="320x240.*640x480"):
        depth_at(depth, "16UC1", (480, 640), (10, 10))
    with pytest.raises(DepthError, match="encoding 'rgb8'"):
        depth_at(np.zeros((480, 640), np.uint8), "rgb8", (480, 640), (10, 10))
    assert depth_at(np.zeros((480, 640), np.float32), "32FC1", (480, 640), (10, 10)) is None


@pytest.mark.parametrize("k", [[0, 0, 320, 0, 0, 240, 0, 0, 1], [float("nan"), 0, 320, 0, 600, 240, 0, 0, 1]])
def test_bad_intrinsics_are_refused(k):
    with pytest.raises(IntrinsicsError, match="fx"):
        CameraIntrinsics.from_k(k)


def test_landmarks_no_face_fits_fall_back_to_the_inter_ocular_distance():
    # Mouth corners swapped and far apart: no pose of the mean face reprojects onto these points.
    pixels = np.array([[300, 240], [340, 240], [320, 300], [340, 200], [300, 330]], np.float64)
    pose = estimate_face_pose(pixels, CAMERA)
    assert pose.distance_source == "inter_ocular"
    assert pose.translation[2] == pytest.approx(600 * 0.063 / 40, rel=1e-6)  # f · 63 mm / 40 px


def test_a_face_too_small_for_pnp_falls_back_to_the_inter_ocular_distance():
    # 60 m away the face is ~0.6 px across: SQPnP refuses points that do not spread (a cv2.error, which
    # once cost such faces their TF frames); the pose comes from the eye distance instead.
    pixels = project(Rotation.identity(), np.array([0.0, 0.0, 60.0]))
    with pytest.raises(cv2.error):
        cv2.solvePnP(FACE_MODEL_MM, pixels, CAMERA.matrix, None, flags=cv2.SOLVEPNP_SQPNP)
    pose = estimate_face_pose(pixels, CAMERA)
    assert pose.distance_source == "inter_ocular"
    assert pose.translation[2] == pytest.approx(60.0, rel=0.01)


# ----------------------------------------------------------------------------------------- real image
def test_bald_guys_faces_are_in_front_of_the_camera_left_to_right(mnet_learner, bald_guys_path):
    image = cv2.imread(str(bald_guys_path))
    height, width = image.shape[:2]
    found = mnet_learner.detect_arrays(image, 0.8, 0.4, (1024, 1980))
    assert len(found) >= 10
    # A plausible camera for this photo: 60° horizontal field of view, centred principal point.
    focal = (width / 2) / math.tan(math.radians(30))
    camera = CameraIntrinsics(focal, focal, width / 2, height / 2, width, height)
    poses = [estimate_face_pose(landmarks, camera) for landmarks in found.landmarks]
    depths = np.array([pose.translation[2] for pose in poses])
    assert np.all(depths > 0.3) and np.all(depths < 15.0)  # in front, at room distances
    # Left to right as in the image: every two faces that are clearly side by side (box centres more than
    # half a face apart) are in the same order in 3D (optical x / z).
    centres = (found.boxes[:, 0] + found.boxes[:, 2]) / 2
    half_widths = (found.boxes[:, 2] - found.boxes[:, 0]) / 2
    lateral = np.array([pose.translation[0] / pose.translation[2] for pose in poses])
    pairs = [
        (i, j)
        for i in range(len(poses))
        for j in range(len(poses))
        if centres[j] - centres[i] > (half_widths[i] + half_widths[j]) / 2
    ]
    assert len(pairs) > 30
    assert all(lateral[i] < lateral[j] for i, j in pairs)
    # Faces look roughly towards the camera: the face x axis points back at it.
    facing = [
        float(pose.face_rotation[:, 0] @ -pose.translation / np.linalg.norm(pose.translation))
        for pose in poses
    ]
    assert np.median(facing) > 0.7


def test_quaternions_match_scipy():
    from retinaface_ros.hri.face_pose import quaternion

    for euler in [(0, 0, 0), (10, 20, 30), (-170, 45, 90), (179, -5, -179), (0, 180, 0)]:
        matrix = Rotation.from_euler("xyz", euler, degrees=True).as_matrix()
        ours, theirs = quaternion(matrix), Rotation.from_matrix(matrix).as_quat()
        assert (
            min(np.abs(ours - theirs).max(), np.abs(ours + theirs).max()) < 1e-6
        )  # q and -q are one rotation


def test_aligned_face_reads_only_its_region_but_matches_a_whole_image_warp():
    from retinaface_ros.hri.face_crops import alignment_matrix

    rng = np.random.default_rng(1)
    image = rng.integers(0, 255, (480, 640, 3), np.uint8)
    for landmarks in [
        ARCFACE_TEMPLATE_112 * 1.5 + [200, 150],  # inside
        ARCFACE_TEMPLATE_112 * 2.0 + [-60, -40],  # over the top-left corner: black outside
        ARCFACE_TEMPLATE_112 * 1.2 + [900, 900],  # outside the image: all black
    ]:
        matrix = alignment_matrix(landmarks, (128, 128))
        whole = cv2.warpAffine(image, matrix, (128, 128), flags=cv2.INTER_LINEAR, borderValue=0)
        ours = aligned_face(image, landmarks, (128, 128))
        assert np.abs(ours.astype(int) - whole.astype(int)).max() <= 1


def test_similarity_matrix_is_the_least_squares_similarity():
    from retinaface_ros.hri.face_crops import similarity_matrix

    rng = np.random.default_rng(3)
    source = ARCFACE_TEMPLATE_112.astype(np.float64) * 1.7 + [300.0, 120.0]
    angle = math.radians(25)
    rotation = 0.8 * np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    exact = source @ rotation.T + [5.0, -7.0]
    matrix = similarity_matrix(source, exact)
    np.testing.assert_allclose(matrix, np.hstack([rotation, [[5.0], [-7.0]]]), atol=1e-9)
    # Noisy points: no similarity fits them better, so OpenCV's robust estimate leaves a residual at least
    # as large; and the matrix is a similarity (equal scales, no shear, no reflection).
    noisy = exact + rng.normal(0, 2.0, exact.shape)
    matrix = similarity_matrix(source, noisy)
    robust, _ = cv2.estimateAffinePartial2D(source.astype(np.float32), noisy.astype(np.float32))

    def residual(m: np.ndarray) -> float:
        return float(np.sum((source @ m[:, :2].T + m[:, 2] - noisy) ** 2))

    assert residual(matrix) <= residual(robust) + 1e-9
    assert matrix[0, 0] == pytest.approx(matrix[1, 1]) and matrix[0, 1] == pytest.approx(-matrix[1, 0])
    # Points that do not spread: the shift alone.
    same = np.full((5, 2), 4.0)
    np.testing.assert_allclose(similarity_matrix(same, same + 1.0), [[1, 0, 1], [0, 1, 1]])


def test_non_finite_landmarks_give_a_black_aligned_face():
    image = np.full((200, 200, 3), 255, np.uint8)
    landmarks = ARCFACE_TEMPLATE_112.copy()
    landmarks[2] = np.nan
    assert not aligned_face(image, landmarks, (128, 128)).any()


def test_a_large_face_is_shrunk_like_inter_area():
    rng = np.random.default_rng(4)
    image = cv2.GaussianBlur(rng.integers(0, 255, (900, 700, 3), np.uint8), (0, 0), 3)
    box = np.array([13.0, 20.0, 613.0, 860.0])  # 600×840 → 91×128: shrunk 6.6×
    crop = cropped_face(image, box, (128, 128))
    reference = cv2.resize(image[20:860, 13:613], (91, 128), interpolation=cv2.INTER_AREA)
    inner = crop[:, 18:109].astype(int)  # centred: (128 - 91) // 2 = 18 black columns on the left
    assert not crop[:, :18].any() and not crop[:, 109:].any()
    assert np.abs(inner - reference).mean() < 2.0
