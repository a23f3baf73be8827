"""vision_msgs and retinaface_interfaces messages travel over real DDS, in one process and across two."""

from __future__ import annotations

import subprocess
import textwrap

import pytest
from ros_helpers import (
    PYTHON,
    REPO_ROOT,
    make_test_messages,
    python_subprocess_env,
    require_rclpy,
    spin_until,
)

pytestmark = pytest.mark.ros

rclpy = require_rclpy()

from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy  # noqa: E402

from retinaface_ros.ros.interfaces import import_interfaces, import_vision_msgs  # noqa: E402

LATCHED = QoSProfile(
    depth=5, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL
)


def assert_received(detections, faces) -> None:
    assert detections.header.frame_id == "camera_optical"
    assert (detections.header.stamp.sec, detections.header.stamp.nanosec) == (1234, 5678)
    assert len(detections.detections) == 1
    det = detections.detections[0]
    assert det.bbox.center.position.x == pytest.approx(120.5)
    assert det.bbox.center.position.y == pytest.approx(80.25)
    assert (det.bbox.size_x, det.bbox.size_y) == (40.0, 52.0)
    assert det.results[0].hypothesis.class_id == "face"
    assert det.results[0].hypothesis.score == pytest.approx(0.875)
    assert det.id == "0"

    assert faces.header == detections.header
    assert len(faces.faces) == 1
    face = faces.faces[0]
    assert face.score == pytest.approx(0.875)
    assert face.masked is True
    assert face.detection_index == 0
    assert [(p.x, p.y, p.z) for p in face.landmarks] == [(100.0 + i, 70.0 + 2 * i, 0.0) for i in range(5)]


@pytest.fixture
def context():
    ctx = rclpy.Context()
    rclpy.init(context=ctx)
    yield ctx
    ctx.try_shutdown()


def _subscribe(node, received: dict) -> None:
    vm = import_vision_msgs()
    face_array, _, _ = import_interfaces()
    node.create_subscription(
        vm.Detection2DArray, "faces/detections", lambda m: received.setdefault("det", m), LATCHED
    )
    node.create_subscription(
        face_array, "faces/landmarks", lambda m: received.setdefault("faces", m), LATCHED
    )


def test_pubsub_same_process(context):
    vm = import_vision_msgs()
    face_array, _, _ = import_interfaces()
    pub_node = rclpy.create_node("rf_test_pub", context=context)
    sub_node = rclpy.create_node("rf_test_sub", context=context)
    executor = SingleThreadedExecutor(context=context)
    try:
        executor.add_node(pub_node)
        executor.add_node(sub_node)
        det_pub = pub_node.create_publisher(vm.Detection2DArray, "faces/detections", LATCHED)
        face_pub = pub_node.create_publisher(face_array, "faces/landmarks", LATCHED)
        received: dict = {}
        _subscribe(sub_node, received)
        detections, faces = make_test_messages()
        det_pub.publish(detections)
        face_pub.publish(faces)
        assert spin_until(executor, lambda: len(received) == 2, timeout=10.0), (
            f"received only {list(received)}"
        )
        assert_received(received["det"], received["faces"])
    finally:
        executor.shutdown()
        pub_node.destroy_node()
        sub_node.destroy_node()


PUBLISHER_SCRIPT = textwrap.dedent(
    f"""
    import sys, time
    sys.path.insert(0, {str(REPO_ROOT / "test")!r})
    import rclpy
    from ros_helpers import make_test_messages
    from retinaface_ros.ros.interfaces import import_interfaces, import_vision_msgs
    from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

    latched = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE,
                         durability=DurabilityPolicy.TRANSIENT_LOCAL)
    rclpy.init()
    node = rclpy.create_node("rf_test_remote_pub")
    vm = import_vision_msgs()
    FaceArray, _, _ = import_interfaces()
    det_pub = node.create_publisher(vm.Detection2DArray, "faces/detections", latched)
    face_pub = node.create_publisher(FaceArray, "faces/landmarks", latched)
    detections, faces = make_test_messages()
    det_pub.publish(detections)
    face_pub.publish(faces)
    print("PUBLISHED", flush=True)
    # Stay alive (transient local keeps the samples for late subscribers) until the test ends us.
    deadline = time.monotonic() + 30.0
    while rclpy.ok() and time.monotonic() < deadline:
        rclpy.spin_once(node, timeout_sec=0.1)
    """
)


def test_pubsub_across_processes(context):
    child = subprocess.Popen(
        [PYTHON, "-c", PUBLISHER_SCRIPT],
        cwd=REPO_ROOT,
        env=python_subprocess_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    sub_node = rclpy.create_node("rf_test_remote_sub", context=context)
    executor = SingleThreadedExecutor(context=context)
    try:
        executor.add_node(sub_node)
        received: dict = {}
        _subscribe(sub_node, received)
        ok = spin_until(executor, lambda: len(received) == 2 or child.poll() is not None, timeout=20.0)
        if not (ok and len(received) == 2):
            child.kill()
            out, err = child.communicate(timeout=10)
            pytest.fail(f"received {list(received)} from the publisher process; its output:\n{out}\n{err}")
        assert_received(received["det"], received["faces"])
    finally:
        if child.poll() is None:
            child.terminate()
            try:
                child.communicate(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()
                child.communicate()
        executor.shutdown()
        sub_node.destroy_node()
