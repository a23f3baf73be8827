"""The torch-free deployment: an exported ONNX model folder in ``retinaface detect`` and in the detector node
over real DDS finds the reference RetinaFace's faces (shared/golden) on the shared images. The Jazzy lane runs
this file without torch installed; the Kilted lane runs it too (exporting the folder with torch)."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from cli_helpers import run_retinaface
from conftest import box_iou, shared_path
from ros_helpers import BackgroundSpin, cpu_detector_node, require_rclpy, wait_for

IMAGE = "bald_guys.jpg"
THRESHOLD = 0.5


@pytest.fixture(scope="module")
def golden() -> dict:
    """The reference's faces on IMAGE at native size with a score of at least THRESHOLD (boxes clipped)."""
    ref = json.loads(shared_path("golden", "reference_mnet_detections.json").read_text())["images"][IMAGE]
    strong = np.array(ref["scores"]) >= THRESHOLD
    limits = np.array([ref["width"], ref["height"]] * 2)
    return {
        "boxes": np.clip(np.array(ref["boxes_xyxy"])[strong], 0, limits),
        "scores": np.array(ref["scores"])[strong],
        "scales": [ref["height"], ref["width"]],
    }


def assert_reference_faces(boxes: np.ndarray, scores: np.ndarray, golden: dict) -> None:
    assert len(golden["boxes"]) > 10
    assert abs(len(boxes) - len(golden["boxes"])) <= 1
    iou = box_iou(golden["boxes"], boxes)
    assert iou.max(1).min() >= 0.95
    assert np.abs(scores[iou.argmax(1)] - golden["scores"]).max() <= 0.01


def test_detect_command_on_the_onnx_folder(onnx_model_folder, golden):
    argv = ["detect", str(shared_path("images", IMAGE)), "--model", str(onnx_model_folder), "--json"]
    argv += ["--threshold", str(THRESHOLD), "--scales", *map(str, golden["scales"])]
    done = run_retinaface(*argv)
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)[0]["detections"]
    boxes = np.array([[x, y, x + w, y + h] for x, y, w, h in (d["box_xywh"] for d in found)])
    assert_reference_faces(boxes, np.array([d["score"] for d in found]), golden)


def test_detector_node_on_the_onnx_folder(onnx_model_folder, golden):
    rclpy = require_rclpy()
    from rclpy.lifecycle import TransitionCallbackReturn
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import Image

    from retinaface_ros.ros.image_conversion import bgr8_to_imgmsg
    from retinaface_ros.ros.interfaces import import_vision_msgs

    reliable = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE)
    spinner = BackgroundSpin()
    node = cpu_detector_node(
        spinner.context, "/onnx", onnx_model_folder, threshold=THRESHOLD, scales=golden["scales"]
    )
    probe = rclpy.create_node("probe", namespace="/onnx", context=spinner.context)
    received = []
    probe.create_subscription(import_vision_msgs().Detection2DArray, "detections", received.append, reliable)
    camera = probe.create_publisher(Image, "image", reliable)
    spinner.add(node, probe)
    try:
        success = TransitionCallbackReturn.SUCCESS
        assert node.trigger_configure() == success and node.trigger_activate() == success
        assert wait_for(lambda: camera.get_subscription_count() > 0)
        image = cv2.imread(str(shared_path("images", IMAGE)))
        msg = bgr8_to_imgmsg(image)
        msg.header.frame_id = "camera"
        camera.publish(msg)
        assert wait_for(lambda: received, timeout=120)
        detections = received[0].detections
        centers = np.array([[d.bbox.center.position.x, d.bbox.center.position.y] for d in detections])
        sizes = np.array([[d.bbox.size_x, d.bbox.size_y] for d in detections])
        boxes = np.hstack([centers - sizes / 2, centers + sizes / 2])
        scores = np.array([d.results[0].hypothesis.score for d in detections])
        assert_reference_faces(boxes, scores, golden)
    finally:
        spinner.close()
