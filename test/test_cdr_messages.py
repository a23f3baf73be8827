"""The node's per-face messages written straight as CDR (retinaface_ros/ros/cdr.py) equal rclpy's own
serialization of the same messages built field by field: Detection2DArray, FaceArray and /tf's TFMessage."""

from __future__ import annotations

import numpy as np
import pytest
from ros_helpers import require_rclpy

require_rclpy()

from rclpy.serialization import deserialize_message, serialize_message  # noqa: E402
from std_msgs.msg import Header  # noqa: E402

from retinaface_ros.detections import Detections  # noqa: E402
from retinaface_ros.ros import messages  # noqa: E402
from retinaface_ros.ros.interfaces import import_interfaces, import_vision_msgs  # noqa: E402

FRAME_IDS = ["", "cam", "camera_color_optical_frame"]  # lengths that leave each padding before a field


def _header(frame_id: str) -> Header:
    header = Header(frame_id=frame_id)
    header.stamp.sec, header.stamp.nanosec = 1_700_000_000, 987_654_321
    return header


def _detections(count: int, seed: int) -> Detections:
    rng = np.random.default_rng(seed)
    boxes = np.sort(rng.uniform(0, 600, (count, 4)), axis=1).astype(np.float32)
    return Detections(
        boxes=boxes,
        scores=rng.uniform(0.5, 1.2, count).astype(np.float32),  # over 1: clipped to 1
        landmarks=rng.uniform(0, 600, (count, 5, 2)).astype(np.float32),
        classes=(np.arange(count) % 2).astype(np.int64),  # faces and masked faces
    )


def _same(data: bytes, expected: object) -> None:
    reference = serialize_message(expected)
    assert len(data) == len(reference)  # the same bytes but for the values of alignment padding
    assert deserialize_message(data, type(expected)) == deserialize_message(reference, type(expected))


@pytest.mark.parametrize("frame_id", FRAME_IDS)
@pytest.mark.parametrize("count", [0, 1, 5])
@pytest.mark.parametrize("tracked", [False, True])
def test_detection_array_bytes(frame_id, count, tracked):
    vision_msgs = import_vision_msgs()
    header, detections = _header(frame_id), _detections(count, count)
    ids = [f"t{'x' * i}" for i in range(count)] if tracked else None
    expected = vision_msgs.Detection2DArray(header=header)
    for index in range(count):
        x1, y1, x2, y2 = (float(v) for v in detections.boxes[index])
        detection = vision_msgs.Detection2D(header=header, id=ids[index] if ids else "")
        detection.bbox.center.position.x, detection.bbox.center.position.y = (x1 + x2) / 2, (y1 + y2) / 2
        detection.bbox.size_x, detection.bbox.size_y = x2 - x1, y2 - y1
        hypothesis = vision_msgs.ObjectHypothesisWithPose()
        hypothesis.hypothesis.class_id = messages.CLASS_NAMES[int(detections.classes[index])]
        hypothesis.hypothesis.score = min(float(detections.scores[index]), 1.0)
        detection.results.append(hypothesis)
        expected.detections.append(detection)
    _same(messages.detection_array(detections, header, ids=ids), expected)


@pytest.mark.parametrize("frame_id", FRAME_IDS)
@pytest.mark.parametrize("count", [0, 1, 5])
@pytest.mark.parametrize("tracked", [False, True])
def test_face_array_bytes(frame_id, count, tracked):
    from geometry_msgs.msg import Point

    face_array, face_landmarks, _ = import_interfaces()
    header, detections = _header(frame_id), _detections(count, 10 + count)
    ids = [f"t{'x' * i}" for i in range(count)] if tracked else None
    expected = face_array(header=header)
    for index in range(count):
        face = face_landmarks(
            score=min(float(detections.scores[index]), 1.0),
            masked=bool(detections.classes[index] == 1),
            detection_index=index,
            track_id=ids[index] if ids else "",
        )
        face.landmarks = [Point(x=float(x), y=float(y), z=0.0) for x, y in detections.landmarks[index]]
        expected.faces.append(face)
    _same(messages.face_array(detections, header, ids), expected)


@pytest.mark.parametrize("frame_id", FRAME_IDS)
def test_tf_message_bytes(frame_id):
    pytest.importorskip("tf2_msgs.msg", reason="tf2_msgs missing: run `make setup`")
    from geometry_msgs.msg import TransformStamped
    from tf2_msgs.msg import TFMessage

    from retinaface_ros.ros.face_tf import tf_message_bytes

    rng = np.random.default_rng(7)
    header = _header(frame_id)
    for count in (0, 1, 5):
        children = [f"face_{'x' * i}{i}" for i in range(count)]  # names of every length modulo 4 and 8
        transforms = [(child, rng.normal(size=3), rng.normal(size=4)) for child in children]
        expected = TFMessage()
        for child, translation, rotation in transforms:
            msg = TransformStamped(header=header, child_frame_id=child)
            t, q = msg.transform.translation, msg.transform.rotation
            t.x, t.y, t.z = (float(v) for v in translation)
            q.x, q.y, q.z, q.w = (float(v) for v in rotation)
            expected.transforms.append(msg)
        _same(tf_message_bytes(header, transforms), expected)


@pytest.mark.parametrize("frame_id", FRAME_IDS)
def test_ids_list_bytes(frame_id):
    hri = pytest.importorskip("hri_msgs.msg", reason="hri_msgs missing: run `make setup`")
    from retinaface_ros.ros.hri_messages import ids_list

    header = _header(frame_id)
    for ids in ([], ["abcde"], ["a", "bb", "ccc", "dddd", "front_eeeee"]):
        _same(ids_list(header, ids), hri.IdsList(header=header, ids=ids))
