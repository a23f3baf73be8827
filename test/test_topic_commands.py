"""issue #20.10: ``retinaface echo`` (one line per Detection2DArray / FaceArray) and ``retinaface view``
(Image / CompressedImage frames written with --save; headless-safe) against real publishers over DDS."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest
from cli_helpers import run_retinaface
from ros_helpers import (
    BackgroundSpin,
    make_test_messages,
    python_subprocess_env,
    require_rclpy,
)

pytestmark = pytest.mark.ros
rclpy = require_rclpy()

from rclpy.qos import QoSProfile, ReliabilityPolicy  # noqa: E402
from sensor_msgs.msg import CompressedImage, Image  # noqa: E402

from retinaface_ros.ros.image_conversion import bgr8_to_compressed, bgr8_to_imgmsg  # noqa: E402
from retinaface_ros.ros.interfaces import import_interfaces, import_vision_msgs  # noqa: E402

VM = import_vision_msgs()
FACE_ARRAY = import_interfaces()[0]
NS = f"/cli{os.getpid()}"


@pytest.fixture(scope="module")
def publishers():
    """A node publishing one detections, faces, image (reliable) and image/compressed (best_effort) message
    every 0.1 s, each with a fresh stamp."""
    spinner = BackgroundSpin()
    node = rclpy.create_node("cli_publisher", namespace=NS, context=spinner.context)
    reliable = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE)
    best_effort = QoSProfile(depth=1, reliability=ReliabilityPolicy.BEST_EFFORT)
    detections, faces = make_test_messages()
    image = np.random.default_rng(0).integers(0, 255, (48, 64, 3), np.uint8)
    image_msg, compressed_msg = bgr8_to_imgmsg(image), bgr8_to_compressed(image, "png")
    pubs = [
        (node.create_publisher(VM.Detection2DArray, "detections", reliable), detections),
        (node.create_publisher(FACE_ARRAY, "faces", reliable), faces),
        (node.create_publisher(Image, "image", reliable), image_msg),
        (node.create_publisher(CompressedImage, "image/compressed", best_effort), compressed_msg),
    ]

    def tick() -> None:
        stamp = node.get_clock().now().to_msg()
        for publisher, msg in pubs:
            msg.header.stamp = stamp
            if hasattr(msg, "detections"):
                for det in msg.detections:
                    det.header.stamp = stamp
            publisher.publish(msg)

    node.create_timer(0.1, tick)
    spinner.add(node)
    yield image
    spinner.close()


def _retinaface(*args: str, env_drop: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    env = python_subprocess_env()
    for name in env_drop:
        env.pop(name, None)
    return run_retinaface(*args, env=env, timeout=120)


@pytest.mark.parametrize("topic", ["detections", "faces"])
def test_echo_prints_one_line_per_message(publishers, topic):
    run = _retinaface("echo", f"{NS}/{topic}", "--count", "3")
    assert run.returncode == 0, run.stderr
    lines = run.stdout.strip().splitlines()
    assert len(lines) == 3, run.stdout
    for line in lines:
        stamp, frame_id, faces, ids, scores, latency = line.split(" ", 5)
        assert float(stamp) > 0 and frame_id == "camera_optical" and faces == "faces=1"
        assert ids == "ids=[0]" and scores == "scores=[0.88]"
        assert latency.startswith("masked=1 latency=" if topic == "faces" else "latency=")
        assert latency.endswith(" ms") and float(latency.rsplit("=", 1)[1].split()[0]) >= 0.0


def test_echo_refuses_other_types_and_missing_topics(publishers):
    wrong = _retinaface("echo", f"{NS}/image", "--count", "1")
    assert (
        wrong.returncode == 2 and "sensor_msgs/msg/Image" in wrong.stderr and "Traceback" not in wrong.stderr
    )
    assert len(wrong.stderr.strip().splitlines()) == 1
    missing = _retinaface("echo", f"{NS}/nothing_here", "--wait", "1")
    assert missing.returncode == 2 and f"no publisher on {NS}/nothing_here" in missing.stderr


@pytest.mark.parametrize("topic", ["image", "image/compressed"])
def test_view_save_writes_the_frames(publishers, tmp_path: Path, topic):
    out = tmp_path / "frames"
    run = _retinaface("view", f"{NS}/{topic}", "--save", str(out), "--format", "png", "--count", "2")
    assert run.returncode == 0, run.stderr
    files = sorted(out.glob("*.png"))
    assert len(files) == 2 and f"2 frame(s) from {NS}/{topic} to {out}" in run.stdout
    for file in files:
        np.testing.assert_array_equal(cv2.imread(str(file)), publishers)  # png: the exact pixels
    assert not list(out.glob(".*"))  # no temp files left behind


def test_view_is_headless_safe(publishers, tmp_path: Path):
    run = _retinaface("view", f"{NS}/image", "--count", "1", env_drop=("DISPLAY", "WAYLAND_DISPLAY"))
    assert run.returncode == 2 and "use --save DIR" in run.stderr and "Traceback" not in run.stderr
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    refused = _retinaface("view", f"{NS}/image", "--save", str(blocker), "--count", "1")
    assert refused.returncode == 2 and "not a folder" in refused.stderr and blocker.read_text() == "x"
