"""HriPublishers without the detector: faces from the node's tracker (ids given) or from its own tracker
(the node's tracking off), ids made valid ROS names, a lost face's topics removed."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from ros_helpers import require_rclpy, wait_for

rclpy = require_rclpy()
hri = pytest.importorskip("hri_msgs.msg", reason="hri_msgs missing: run `make setup`")

from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from std_msgs.msg import Header  # noqa: E402

from retinaface_ros.detections import Detections  # noqa: E402
from retinaface_ros.ros.hri_publishers import HriPublishers, HriSettings  # noqa: E402


def one_face(x: float) -> Detections:
    box = np.array([[x, 100, x + 80, 200]], np.float32)
    points = np.array(
        [[[x + 25, 140], [x + 55, 140], [x + 40, 160], [x + 28, 180], [x + 52, 180]]], np.float32
    )
    return Detections(box, np.array([0.95], np.float32), points, np.array([0], np.int64))


@pytest.fixture()
def host():
    context = rclpy.Context()
    rclpy.init(context=context)
    node = rclpy.create_node("hri_host", context=context)
    tracked: list[list[str]] = []
    node.create_subscription(hri.IdsList, "/humans/faces/tracked", lambda m: tracked.append(list(m.ids)), 10)
    publishers = HriPublishers(node, HriSettings(linger_s=0.0), [], ("",))
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    thread = threading.Thread(target=executor.spin, daemon=True)
    thread.start()
    yield node, publishers, tracked
    executor.shutdown(timeout_sec=2.0)
    publishers.destroy()
    node.destroy_node()
    context.try_shutdown()
    thread.join(5.0)


def frame(index: int) -> Header:
    header = Header(frame_id="cam")
    header.stamp.sec, header.stamp.nanosec = 100 + index // 10, (index % 10) * 100_000_000
    return header


def test_ids_from_the_nodes_tracker_are_published_as_valid_names(host):
    node, publishers, tracked = host
    image = np.zeros((480, 640, 3), np.uint8)
    publishers.on_frame(0, frame(0), image, one_face(100), ids=["3fa2"])
    assert wait_for(lambda: tracked and tracked[-1] == ["f3fa2"], timeout=10)
    assert wait_for(lambda: node.count_publishers("/humans/faces/f3fa2/roi") == 1, timeout=10)
    publishers.on_frame(0, frame(1), image, one_face(100).select(np.arange(0)), ids=[])  # the face is gone
    assert wait_for(lambda: tracked[-1] == [], timeout=10)
    assert wait_for(lambda: node.count_publishers("/humans/faces/f3fa2/roi") == 0, timeout=10)


def test_without_the_nodes_tracker_an_own_tracker_gives_the_ids(host):
    node, publishers, tracked = host
    image = np.zeros((480, 640, 3), np.uint8)
    for index in range(5):
        publishers.on_frame(0, frame(index), image, one_face(100 + index))
    assert wait_for(lambda: tracked and len(tracked[-1]) == 1, timeout=10)
    face = tracked[-1][0]
    assert face[0].isalpha() and face.replace("_", "").isalnum()
    assert wait_for(lambda: node.count_publishers(f"/humans/faces/{face}/landmarks") == 1, timeout=10)
