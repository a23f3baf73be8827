"""REP 155 message building: the fast FacialLandmarks serialization equals rclpy's own, ids are valid ROS
names."""

from __future__ import annotations

import numpy as np
import pytest

hri = pytest.importorskip("hri_msgs.msg", reason="hri_msgs missing: run `make setup`")

from rclpy.serialization import deserialize_message, serialize_message  # noqa: E402

from retinaface_ros.ros import hri_messages  # noqa: E402


@pytest.mark.parametrize("frame_id", ["", "cam", "camera_color_optical_frame", "a" * 37])
def test_serialized_templates_equal_rclpys_messages(frame_id):
    from sensor_msgs.msg import Image

    from retinaface_ros.ros.image_conversion import bgr8_to_imgmsg

    templates = {
        "roi": hri_messages.roi_template(hri),
        "landmarks": hri_messages.landmarks_template(hri),
        "image": hri_messages.image_template((40, 30, 3)),
    }
    rng = np.random.default_rng(len(frame_id))
    for sec in (0, 1_700_000_000, 2**31 - 1):
        header = hri.IdsList().header
        header.frame_id, header.stamp.sec, header.stamp.nanosec = frame_id, sec, 123_456_789
        points, box = rng.uniform(0, 600, (5, 2)), np.sort(rng.uniform(0, 600, 4))
        pixels = rng.integers(0, 255, (40, 30, 3), np.uint8)
        cases = [
            (
                "roi",
                hri_messages.roi_tail(box, (480, 640), 0.8),
                hri_messages.roi(hri, header, box, (480, 640), 0.8),
            ),
            (
                "landmarks",
                hri_messages.landmarks_tail(points, (480, 640), 0.8),
                hri_messages.landmarks(hri, header, points, (480, 640), 0.8),
            ),
            ("image", pixels, bgr8_to_imgmsg(pixels, "bgr8", header)),
        ]
        for name, tail, expected in cases:
            data, reference = templates[name].serialize(header, tail), serialize_message(expected)
            assert len(data) == len(reference)  # the same bytes but for alignment padding
            msg_type = Image if name == "image" else type(expected)
            assert deserialize_message(data, msg_type) == deserialize_message(reference, msg_type), name


def test_face_ids_are_valid_topic_tokens():
    assert hri_messages.face_id("a3f09c") == "a3f09c"
    assert hri_messages.face_id("3f09c") == "f3f09c"  # a ROS name token cannot start with a digit
    assert hri_messages.face_id("12") == "f12"
    assert hri_messages.face_id("front_3a") == "front_3a"
    assert hri_messages.face_id("cam/left_3a") == "cam_left_3a"
