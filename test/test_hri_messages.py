"""REP 155 message building: the CDR bytes equal rclpy's own serialization, ids are valid ROS names."""

from __future__ import annotations

import numpy as np
import pytest

hri = pytest.importorskip("hri_msgs.msg", reason="hri_msgs missing: run `make setup`")

from rclpy.serialization import deserialize_message, serialize_message  # noqa: E402

from retinaface_ros.ros import hri_messages  # noqa: E402


@pytest.mark.parametrize("frame_id", ["", "cam", "camera_color_optical_frame", "a" * 37])
def test_messages_equal_rclpys_serialization(frame_id):
    from sensor_msgs.msg import Image

    from retinaface_ros.hri import LANDMARK_SLOTS, facial_landmarks, normalized_roi
    from retinaface_ros.ros.image_conversion import bgr8_to_imgmsg

    rng = np.random.default_rng(len(frame_id))
    for sec in (0, 1_700_000_000, 2**31 - 1):
        header = hri.IdsList().header
        header.frame_id, header.stamp.sec, header.stamp.nanosec = frame_id, sec, 123_456_789
        points, box = rng.uniform(0, 600, (5, 2)), np.sort(rng.uniform(0, 600, 4))
        xmin, ymin, xmax, ymax = normalized_roi(box, (480, 640))
        roi = hri.NormalizedRegionOfInterest2D(
            header=header, xmin=xmin, ymin=ymin, xmax=xmax, ymax=ymax, c=0.8
        )
        landmarks = hri.FacialLandmarks(header=header, height=480, width=640)
        rows = facial_landmarks(points, (480, 640), 0.8)
        for slot in LANDMARK_SLOTS:  # ours; the other 65 stay (0, 0, c = 0): unknown
            point = landmarks.landmarks[slot]
            point.x, point.y, point.c = (float(v) for v in rows[slot])
        pixels = rng.integers(0, 255, (40, 30, 3), np.uint8)
        gray = np.ascontiguousarray(pixels[:, :, 0])
        cases = [
            (hri_messages.roi(header, box, (480, 640), 0.8), roi),
            (hri_messages.landmarks(header, points, (480, 640), 0.8), landmarks),
            (hri_messages.image(header, pixels), bgr8_to_imgmsg(pixels, "bgr8", header)),
            (
                hri_messages.image(header, gray, "mono8"),
                Image(header=header, height=40, width=30, encoding="mono8", step=30, data=gray.tobytes()),
            ),
        ]
        for data, expected in cases:
            reference = serialize_message(expected)
            assert len(data) == len(reference)  # the same bytes but for the values of alignment padding
            msg_type = Image if isinstance(expected, Image) else type(expected)
            assert deserialize_message(data, msg_type) == deserialize_message(reference, msg_type)


def test_a_frames_messages_of_all_faces_equal_each_faces_own():
    """FrameMessages builds the ROIs and landmarks of all faces of a frame at once: byte for byte what the
    one-face functions give."""
    header = hri.IdsList().header
    header.frame_id, header.stamp.sec, header.stamp.nanosec = "camera_optical", 17, 5
    rng = np.random.default_rng(9)
    boxes, points = np.sort(rng.uniform(-50, 700, (6, 4))), rng.uniform(-50, 700, (6, 5, 2))
    scores = rng.uniform(-0.5, 1.5, 6)  # clipped to [0, 1]
    frame = hri_messages.FrameMessages(header)
    assert frame.rois(boxes, (480, 640), scores) == [
        hri_messages.roi(header, box, (480, 640), score) for box, score in zip(boxes, scores, strict=True)
    ]
    assert frame.landmarks(points, (480, 640), scores) == [
        hri_messages.landmarks(header, face, (480, 640), score)
        for face, score in zip(points, scores, strict=True)
    ]
    rois = [
        deserialize_message(data, hri.NormalizedRegionOfInterest2D)
        for data in frame.rois(boxes, (480, 640), scores)
    ]
    assert [roi.c for roi in rois] == pytest.approx(np.clip(scores, 0, 1).tolist())
    assert frame.rois(np.empty((0, 4)), (480, 640), np.empty(0)) == []


def test_face_ids_are_valid_topic_tokens():
    assert hri_messages.face_id("a3f09c") == "a3f09c"
    assert hri_messages.face_id("3f09c") == "f3f09c"  # a ROS name token cannot start with a digit
    assert hri_messages.face_id("12") == "f12"
    assert hri_messages.face_id("front_3a") == "front_3a"
    assert hri_messages.face_id("cam/left_3a") == "cam_left_3a"
