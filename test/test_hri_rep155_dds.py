"""REP 155 as a downstream node sees it: the detector runs in its own process with ``hri:=true``; this test's
subscriber knows only REP 155's names and types (hri_msgs, sensor_msgs, tf2_msgs; nothing from
retinaface_ros) and, like libhri, follows /humans/faces/tracked and subscribes to each face's topics. Every
tracked face must deliver roi, cropped, aligned, landmarks and its face_<id> and gaze_<id> TF frames (the
reference implementation once shipped a release without TF output; here that fails this test).
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time

import cv2
import numpy as np
import pytest
from ros_helpers import PYTHON, REPO_ROOT, python_subprocess_env, require_rclpy

rclpy = require_rclpy()
hri_msgs = pytest.importorskip("hri_msgs.msg", reason="hri_msgs missing: run `make setup`")
tf2_msgs = pytest.importorskip("tf2_msgs.msg", reason="tf2_msgs missing: run `make setup`")

from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.qos import QoSProfile, ReliabilityPolicy  # noqa: E402
from sensor_msgs.msg import CameraInfo, Image  # noqa: E402

RELIABLE = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
CAMERA_NS = f"/rep155_{os.getpid()}/camera"
FRAME_ID = "camera_color_optical_frame"
FACE_TOPICS = ("roi", "cropped", "aligned", "landmarks")


class Rep155Listener:
    """A REP 155 consumer: tracked ids → per-face subscriptions; TF frames from /tf."""

    def __init__(self, node) -> None:
        self.node = node
        self.tracked: list[list[str]] = []
        self.received: dict[str, dict[str, object]] = {}
        self.tf_children: dict[str, str] = {}  # child frame → parent frame
        self._lock = threading.Lock()
        node.create_subscription(hri_msgs.IdsList, "/humans/faces/tracked", self._on_tracked, RELIABLE)
        node.create_subscription(tf2_msgs.TFMessage, "/tf", self._on_tf, QoSProfile(depth=100))

    def _on_tracked(self, msg) -> None:
        with self._lock:
            self.tracked.append(list(msg.ids))
        for face in msg.ids:
            if face in self.received:
                continue
            self.received[face] = {}
            types = {
                "roi": hri_msgs.NormalizedRegionOfInterest2D,
                "cropped": Image,
                "aligned": Image,
                "landmarks": hri_msgs.FacialLandmarks,
            }
            for name, msg_type in types.items():
                self.node.create_subscription(
                    msg_type,
                    f"/humans/faces/{face}/{name}",
                    lambda m, face=face, name=name: self.received[face].__setitem__(name, m),
                    QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE),
                )

    def _on_tf(self, msg) -> None:
        for transform in msg.transforms:
            self.tf_children[transform.child_frame_id] = transform.header.frame_id

    def complete(self, face: str) -> bool:
        got = self.received.get(face, {})
        return (
            all(name in got for name in FACE_TOPICS)
            and f"face_{face}" in self.tf_children
            and f"gaze_{face}" in self.tf_children
        )


def image_msg(image: np.ndarray, stamp, frame_id: str) -> Image:
    msg = Image()
    msg.header.stamp, msg.header.frame_id = stamp, frame_id
    msg.height, msg.width = image.shape[:2]
    msg.encoding, msg.step = "bgr8", image.shape[1] * 3
    msg.data = image.tobytes()
    return msg


def camera_info_msg(width: int, height: int, stamp, frame_id: str) -> CameraInfo:
    focal = (width / 2) / np.tan(np.radians(30))  # 60° horizontal field of view
    msg = CameraInfo()
    msg.header.stamp, msg.header.frame_id = stamp, frame_id
    msg.width, msg.height = width, height
    msg.distortion_model = "plumb_bob"
    msg.d = [0.0] * 5
    msg.k = [focal, 0.0, width / 2, 0.0, focal, height / 2, 0.0, 0.0, 1.0]
    msg.p = [focal, 0.0, width / 2, 0.0, 0.0, focal, height / 2, 0.0, 0.0, 0.0, 1.0, 0.0]
    return msg


def test_rep155_consumer_gets_every_output_of_every_tracked_face(mnet_weights, bald_guys_path, tmp_path):
    image = cv2.imread(str(bald_guys_path))
    image = cv2.resize(image, (image.shape[1] // 2, image.shape[0] // 2), interpolation=cv2.INTER_AREA)
    height, width = image.shape[:2]
    log = tmp_path / "detector.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [
                PYTHON,
                "-m",
                "retinaface_ros.ros.detector_node",
                "--ros-args",
                "--params-file",
                str(REPO_ROOT / "config" / "detector.yaml"),
                "-r",
                f"image:={CAMERA_NS}/image_raw",  # camera_info is expected beside it: {CAMERA_NS}/camera_info
                "-p",
                f"model_path:={mnet_weights}",
                "-p",
                "device:=cpu",
                "-p",
                "scales:=[640, 1000]",
                "-p",
                "qos_reliability:=reliable",
                "-p",
                "hri:=true",
                "-p",
                "publish_annotated:=false",
            ],
            cwd=REPO_ROOT,
            env=python_subprocess_env(PYTHONUNBUFFERED="1"),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    context = rclpy.Context()
    rclpy.init(context=context)
    node = rclpy.create_node("rep155_consumer", context=context)
    listener = Rep155Listener(node)
    image_pub = node.create_publisher(Image, f"{CAMERA_NS}/image_raw", RELIABLE)
    info_pub = node.create_publisher(CameraInfo, f"{CAMERA_NS}/camera_info", RELIABLE)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    thread = threading.Thread(target=executor.spin, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 240
        done = False
        while time.monotonic() < deadline and process.poll() is None and not done:
            stamp = node.get_clock().now().to_msg()
            info_pub.publish(camera_info_msg(width, height, stamp, FRAME_ID))
            image_pub.publish(image_msg(image, stamp, FRAME_ID))
            time.sleep(0.5)
            latest = listener.tracked[-1] if listener.tracked else []
            done = len(latest) >= 10 and all(listener.complete(face) for face in latest)
        if not done:
            latest = listener.tracked[-1] if listener.tracked else []
            missing = {
                face: sorted(listener.received.get(face, {}))
                for face in latest
                if not listener.complete(face)
            }
            pytest.fail(
                f"tracked {latest}; incomplete faces (topics received) {missing}; "
                f"tf frames {sorted(listener.tf_children)[:6]}...\n{log.read_text()[-3000:]}"
            )
        latest = listener.tracked[-1]
        assert len(set(latest)) == len(latest)
        for face in latest:
            got = listener.received[face]
            roi = got["roi"]
            assert 0.0 <= roi.xmin < roi.xmax <= 1.0 and 0.0 <= roi.ymin < roi.ymax <= 1.0 and 0 < roi.c <= 1
            assert roi.header.frame_id == FRAME_ID
            for name in ("cropped", "aligned"):
                assert (got[name].width, got[name].height, got[name].encoding) == (128, 128, "bgr8")
            landmarks = got["landmarks"]
            assert (landmarks.width, landmarks.height) == (width, height) and len(landmarks.landmarks) == 70
            pupil = landmarks.landmarks[hri_msgs.FacialLandmarks.RIGHT_PUPIL]
            assert roi.xmin <= pupil.x <= roi.xmax and roi.ymin <= pupil.y <= roi.ymax and pupil.c > 0
            assert landmarks.landmarks[hri_msgs.FacialLandmarks.MENTON].c == 0.0  # not ours: unknown
            assert listener.tf_children[f"face_{face}"] == FRAME_ID
            assert listener.tf_children[f"gaze_{face}"] == FRAME_ID
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        executor.shutdown(timeout_sec=2.0)
        node.destroy_node()
        context.try_shutdown()
        thread.join(5.0)
