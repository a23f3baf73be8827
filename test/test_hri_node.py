"""The detector node's REP 155 mode over real DDS: two cameras with ids unique across them, 3D only where
camera_info is usable, bad camera_info / depth of another size / unpaired depth → 2D goes on and the
problem is counted, a lost face's topics removed after its track ends."""

from __future__ import annotations

import os
import threading

import cv2
import numpy as np
import pytest
from ros_helpers import require_rclpy, wait_for

rclpy = require_rclpy()
hri_msgs = pytest.importorskip("hri_msgs.msg", reason="hri_msgs missing: run `make setup`")
tf2_msgs = pytest.importorskip("tf2_msgs.msg", reason="tf2_msgs missing: run `make setup`")

from diagnostic_msgs.msg import DiagnosticArray  # noqa: E402
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.lifecycle import TransitionCallbackReturn  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from rclpy.qos import QoSProfile, ReliabilityPolicy  # noqa: E402
from sensor_msgs.msg import CameraInfo, Image  # noqa: E402

from retinaface_ros.ros.detector_node import DetectorNode  # noqa: E402
from retinaface_ros.ros.image_conversion import array_to_imgmsg, bgr8_to_imgmsg  # noqa: E402
from retinaface_ros.ros.interfaces import import_vision_msgs  # noqa: E402

VM = import_vision_msgs()
RELIABLE = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
NS = f"/hri{os.getpid()}"
SUCCESS = TransitionCallbackReturn.SUCCESS


def camera_info(width: int, height: int, focal: float) -> CameraInfo:
    msg = CameraInfo(width=width, height=height)
    msg.k = [focal, 0.0, width / 2, 0.0, focal, height / 2, 0.0, 0.0, 1.0]
    return msg


class Probe:
    def __init__(self, context) -> None:
        self.node = rclpy.create_node("hri_probe", namespace=NS, context=context)
        self.tracked: list[list[str]] = []
        self.tf: dict[str, object] = {}
        self.detections_3d: dict[str, object] = {}
        self.diagnostics: dict[str, str] = {}
        self.images = {
            cam: self.node.create_publisher(Image, f"{cam}/image", RELIABLE) for cam in ("left", "right")
        }
        self.infos = {
            cam: self.node.create_publisher(CameraInfo, f"{cam}/camera_info", 5) for cam in ("left", "right")
        }
        self.depth = self.node.create_publisher(Image, "left/depth", 5)
        self.node.create_subscription(hri_msgs.IdsList, "/humans/faces/tracked", self._on_tracked, RELIABLE)
        self.node.create_subscription(tf2_msgs.TFMessage, "/tf", self._on_tf, QoSProfile(depth=100))
        for cam in ("left", "right"):
            self.node.create_subscription(
                VM.Detection3DArray,
                f"{cam}/detections_3d",
                lambda m, c=cam: self.detections_3d.__setitem__(c, m),
                5,
            )
        self.node.create_subscription(DiagnosticArray, "/diagnostics", self._on_diagnostics, 10)

    def _on_tracked(self, msg) -> None:
        self.tracked.append(list(msg.ids))

    def _on_tf(self, msg) -> None:
        for transform in msg.transforms:
            self.tf[transform.child_frame_id] = transform

    def _on_diagnostics(self, msg) -> None:
        for status in msg.status:
            if status.name.endswith("retinaface_detector"):
                self.diagnostics = {kv.key: kv.value for kv in status.values}

    def count(self, key: str) -> int:
        return int(self.diagnostics.get(key, -1))

    def send(self, cam: str, image: np.ndarray, frame_id: str, stamp=None) -> None:
        msg = bgr8_to_imgmsg(image)
        msg.header.frame_id = frame_id
        msg.header.stamp = stamp or self.node.get_clock().now().to_msg()
        self.images[cam].publish(msg)
        return msg.header.stamp


@pytest.fixture(scope="module")
def faces(bald_guys_path) -> dict[str, np.ndarray]:
    image = cv2.imread(str(bald_guys_path))
    half = cv2.resize(image, (image.shape[1] // 2, image.shape[0] // 2), interpolation=cv2.INTER_AREA)
    width = half.shape[1]
    return {"left": half[:, : width // 2].copy(), "right": half[:, width // 2 :].copy()}


@pytest.fixture(scope="module")
def ros(mnet_weights):
    context = rclpy.Context()
    rclpy.init(context=context)
    settings = {
        "model_path": str(mnet_weights),
        "device": "cpu",
        "scales": [480, 860],
        "qos_reliability": "reliable",
        "cameras": ["left", "right"],
        "publish_annotated": False,
        "diagnostics_period": 0.2,
        "hri": True,
        "hri_depth_topic": "depth",
        "hri_face_linger_s": 0.0,
    }
    node = DetectorNode(
        namespace=NS,
        context=context,
        parameter_overrides=[Parameter(k, value=v) for k, v in settings.items()],
    )
    assert node.trigger_configure() == SUCCESS
    assert node.trigger_activate() == SUCCESS
    probe = Probe(context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    executor.add_node(probe.node)
    thread = threading.Thread(target=executor.spin, daemon=True)
    thread.start()
    assert wait_for(lambda: all(p.get_subscription_count() > 0 for p in probe.images.values()))
    assert wait_for(
        lambda: probe.infos["left"].get_subscription_count() > 0 and probe.depth.get_subscription_count() > 0
    )
    yield node, probe
    executor.shutdown(timeout_sec=2.0)
    node.destroy_node()
    probe.node.destroy_node()
    context.try_shutdown()
    thread.join(5.0)


def _ids(probe: Probe, prefix: str) -> list[str]:
    return [face for face in (probe.tracked[-1] if probe.tracked else []) if face.startswith(prefix)]


def test_two_cameras_3d_where_camera_info_is_usable_and_bad_inputs_keep_2d(ros, faces):
    node, probe = ros
    height, width = faces["left"].shape[:2]
    probe.infos["left"].publish(camera_info(width, height, 600.0))
    # right: never a camera_info at first, then one with a zero focal length
    for _ in range(60):
        probe.infos["left"].publish(camera_info(width, height, 600.0))
        probe.send("left", faces["left"], "left_optical")
        probe.send("right", faces["right"], "right_optical")
        if wait_for(lambda: len(_ids(probe, "left_")) >= 3 and len(_ids(probe, "right_")) >= 3, timeout=2.0):
            break
    left, right = _ids(probe, "left_"), _ids(probe, "right_")
    assert len(left) >= 3 and len(right) >= 3 and not set(left) & set(right)  # unique across cameras
    assert wait_for(lambda: all(f"face_{face}" in probe.tf and f"gaze_{face}" in probe.tf for face in left))
    assert probe.tf[f"face_{left[0]}"].header.frame_id == "left_optical"
    assert not any(f"face_{face}" in probe.tf for face in right)  # no camera_info: no 3D
    assert "left" in probe.detections_3d and "right" not in probe.detections_3d
    assert {d.id for d in probe.detections_3d["left"].detections} <= set(_ids(probe, "left_")) | set(left)
    assert wait_for(
        lambda: "right/camera_info: no camera_info received" in probe.diagnostics.get("hri_3d", "")
    )

    # Bad camera_info on the right: refused (counted in diagnostics), the 2D outputs go on.
    before = len(probe.tracked)
    probe.infos["right"].publish(camera_info(width, height, 0.0))
    for _ in range(3):
        probe.send("right", faces["right"], "right_optical")
    assert wait_for(lambda: "camera_info refused" in probe.diagnostics.get("hri_3d", ""))
    assert wait_for(lambda: len(probe.tracked) > before and _ids(probe, "right_"))

    # Depth of another size on the left: refused, TF still from the face model.
    refused = probe.count("hri_depth_refused")
    stamp = probe.send("left", faces["left"], "left_optical", stamp=None)
    small = array_to_imgmsg(np.full((10, 10), 1500, np.uint16), "16UC1")
    small.header.stamp = stamp
    probe.depth.publish(small)
    for _ in range(3):
        stamp = probe.node.get_clock().now().to_msg()
        small.header.stamp = stamp
        probe.depth.publish(small)
        probe.send("left", faces["left"], "left_optical", stamp=stamp)
    assert wait_for(lambda: probe.count("hri_depth_refused") > max(refused, 0))

    # Depth whose stamps never match the colour frames': not used (counted), TF still from the face model.
    unpaired, paired = probe.count("hri_depth_unpaired"), probe.count("hri_depth_paired")
    good = array_to_imgmsg(np.full((height, width), 1500, np.uint16), "16UC1")
    for _ in range(3):
        stamp = probe.node.get_clock().now().to_msg()
        good.header.stamp.sec, good.header.stamp.nanosec = stamp.sec - 5, stamp.nanosec  # 5 s off
        probe.depth.publish(good)
        probe.send("left", faces["left"], "left_optical", stamp=stamp)
        if wait_for(lambda: probe.count("hri_depth_unpaired") > max(unpaired, 0), timeout=2.0):
            break
    assert probe.count("hri_depth_unpaired") > max(unpaired, 0)
    assert probe.count("hri_depth_paired") == paired

    # Depth of the right size and stamp: paired, and the faces' z is the depth image's 1.5 m.
    for _ in range(20):
        stamp = probe.node.get_clock().now().to_msg()
        good.header.stamp = stamp
        probe.depth.publish(good)
        probe.send("left", faces["left"], "left_optical", stamp=stamp)
        if wait_for(lambda: probe.count("hri_depth_paired") > 0, timeout=2.0):
            break
    assert wait_for(
        lambda: any(
            t.header.stamp == stamp and abs(t.transform.translation.z - 1.5) < 1e-6
            for name, t in probe.tf.items()
            if name.startswith("face_left_")
        )
    )

    # The left camera sees nobody any more: its tracks end, its faces' topics go away (linger 0 s).
    lost = _ids(probe, "left_")
    blank = np.zeros_like(faces["left"])
    for _ in range(100):
        probe.send("left", blank, "left_optical")
        if wait_for(lambda: not _ids(probe, "left_"), timeout=1.0):
            break
    assert not _ids(probe, "left_") and _ids(probe, "right_")
    assert wait_for(lambda: all(node.count_publishers(f"/humans/faces/{face}/roi") == 0 for face in lost))
