"""``image_anonymized`` of the detector node over real rclpy + DDS with the pretrained mnet: faces covered,
header and encoding kept, detections still at ``threshold``, compressed in → compressed out, and fail closed
(a frame whose inference failed is dropped, or published entirely blurred with ``anonymize_on_failure``)."""

from __future__ import annotations

import os

import cv2
import numpy as np
import pytest
from conftest import box_iou
from recording_helpers import panning_frames
from ros_helpers import BackgroundSpin, cpu_detector_node, require_rclpy, wait_for

pytestmark = pytest.mark.ros
rclpy = require_rclpy()

from diagnostic_msgs.msg import DiagnosticArray  # noqa: E402
from rclpy.lifecycle import TransitionCallbackReturn  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from rclpy.qos import QoSProfile, ReliabilityPolicy  # noqa: E402
from sensor_msgs.msg import CompressedImage, Image  # noqa: E402

from retinaface_ros.privacy import cover_regions  # noqa: E402
from retinaface_ros.ros.detector_node import DetectorNode  # noqa: E402
from retinaface_ros.ros.image_conversion import (  # noqa: E402
    bgr8_to_compressed,
    bgr8_to_imgmsg,
    compressed_to_bgr8,
    imgmsg_to_bgr8,
)
from retinaface_ros.ros.interfaces import import_vision_msgs  # noqa: E402

VM = import_vision_msgs()
SCALES = [480, 640]
RELIABLE = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
NS = f"/anon{os.getpid()}"


class Probe:
    def __init__(self, context, namespace: str) -> None:
        self.node = rclpy.create_node("anon_probe", namespace=namespace, context=context)
        self.raw: dict[str, Image] = {}
        self.compressed: dict[str, CompressedImage] = {}
        self.detections: dict[str, object] = {}
        self.diagnostics: dict[str, str] = {}
        self.image_pub = self.node.create_publisher(Image, "raw/image", RELIABLE)
        self.compressed_pub = self.node.create_publisher(CompressedImage, "jpeg/image/compressed", RELIABLE)
        sub = self.node.create_subscription
        sub(Image, "raw/image_anonymized", lambda m: self.raw.__setitem__(m.header.frame_id, m), RELIABLE)
        sub(
            VM.Detection2DArray,
            "raw/detections",
            lambda m: self.detections.__setitem__(m.header.frame_id, m),
            RELIABLE,
        )
        sub(
            CompressedImage,
            "jpeg/image_anonymized/compressed",
            lambda m: self.compressed.__setitem__(m.header.frame_id, m),
            RELIABLE,
        )
        sub(DiagnosticArray, "/diagnostics", self._on_diagnostics, 10)

    def _on_diagnostics(self, msg) -> None:
        for status in msg.status:
            if status.name.startswith(NS + "/raw"):
                self.diagnostics = {kv.key: kv.value for kv in status.values}

    def counter(self, key: str) -> int:
        return int(self.diagnostics.get(key, -1))


def _detector(context, namespace: str, weights, **overrides) -> DetectorNode:
    settings = {"scales": SCALES, "anonymize": "blur", "diagnostics_period": 0.2, **overrides}
    return cpu_detector_node(context, namespace, weights, **settings)


@pytest.fixture(scope="module")
def ros(mnet_weights):
    with BackgroundSpin() as spinner:
        raw = _detector(spinner.context, f"{NS}/raw", mnet_weights)
        jpeg = _detector(spinner.context, f"{NS}/jpeg", mnet_weights, use_compressed=True)
        for node in (raw, jpeg):
            assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
            assert node.trigger_activate() == TransitionCallbackReturn.SUCCESS
        probe = Probe(spinner.context, NS)
        spinner.add(raw, jpeg, probe.node)
        assert wait_for(
            lambda: (
                probe.image_pub.get_subscription_count() > 0
                and probe.compressed_pub.get_subscription_count() > 0
            )
        )
        assert wait_for(lambda: raw.output_publisher("image_anonymized").get_subscription_count() > 0)
        yield raw, jpeg, probe


@pytest.fixture(scope="module")
def frame(bald_guys_path) -> np.ndarray:
    return panning_frames(bald_guys_path, 1)[0]


def _send(probe: Probe, msg, frame_id: str, publisher) -> None:
    msg.header.frame_id = frame_id
    msg.header.stamp = probe.node.get_clock().now().to_msg()
    publisher.publish(msg)


def test_raw_frame_anonymized_in_its_encoding(ros, frame, mnet_learner):
    _, _, probe = ros
    sent = bgr8_to_imgmsg(frame, "rgb8")
    _send(probe, sent, "rgb", probe.image_pub)
    assert wait_for(lambda: "rgb" in probe.raw and "rgb" in probe.detections)
    out = probe.raw["rgb"]
    assert out.header == sent.header and (out.encoding, out.height, out.width, out.step) == (
        "rgb8",
        sent.height,
        sent.width,
        sent.step,
    )
    image = imgmsg_to_bgr8(out)
    original = mnet_learner.detect_arrays(frame, threshold=0.5, scales=SCALES)
    again = mnet_learner.detect_arrays(image, threshold=0.5, scales=SCALES)
    found_again = int((box_iou(original.boxes, again.boxes).max(1) >= 0.3).sum()) if len(again) else 0
    assert len(original) >= 20 and found_again <= 0.02 * len(original)
    covered = mnet_learner.detect_arrays(frame, threshold=0.3, scales=SCALES)
    allowed = np.zeros(frame.shape[:2], np.uint8)
    for x1, y1, x2, y2 in cover_regions(covered.boxes, 1.3, frame.shape[:2]):
        allowed[y1:y2, x1:x2] = 1
    allowed = cv2.dilate(allowed, np.ones((5, 5), np.uint8)).astype(bool)
    assert not ((image != frame).any(-1) & ~allowed).any()  # nothing outside the covered regions
    # the detections topic keeps its own threshold (0.8), although the detector ran at 0.3
    scores = [d.results[0].hypothesis.score for d in probe.detections["rgb"].detections]
    assert scores and min(scores) >= 0.8


def test_16_bit_input_comes_out_bgr8(ros, frame):
    _, _, probe = ros
    grey16 = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY).astype(np.uint16) * 257
    sent = bgr8_to_imgmsg(frame, "bgr8")
    sent.encoding, sent.step = "mono16", frame.shape[1] * 2
    sent.data = grey16.tobytes()
    _send(probe, sent, "mono16", probe.image_pub)
    assert wait_for(lambda: "mono16" in probe.raw)
    assert probe.raw["mono16"].encoding == "bgr8" and probe.raw["mono16"].header == sent.header


def test_compressed_in_compressed_out(ros, frame):
    _, _, probe = ros
    sent = bgr8_to_compressed(frame, "jpeg")
    _send(probe, sent, "jpeg", probe.compressed_pub)
    assert wait_for(lambda: "jpeg" in probe.compressed)
    out = probe.compressed["jpeg"]
    assert out.format == "jpeg" and out.header == sent.header
    decoded = compressed_to_bgr8(out)
    assert decoded.shape == frame.shape
    assert np.abs(decoded.astype(int) - frame.astype(int)).max() > 100  # faces covered


def test_fail_closed(ros, frame):
    raw, _, probe = ros
    learner = raw.model.learner

    def broken(*args, **kwargs):
        raise RuntimeError("simulated CUDA error")

    learner.detect_arrays_batch = broken
    try:
        before = probe.counter("anonymized_dropped_failed")
        _send(probe, bgr8_to_imgmsg(frame, "rgb8"), "failed", probe.image_pub)
        assert wait_for(lambda: probe.counter("anonymized_dropped_failed") == max(before, 0) + 1)
        assert "failed" not in probe.raw  # dropped: never published unprocessed
        raw.set_parameters([Parameter("anonymize_on_failure", value="blur_all")])
        _send(probe, bgr8_to_imgmsg(frame, "rgb8"), "blurred", probe.image_pub)
        assert wait_for(lambda: "blurred" in probe.raw)
        image = imgmsg_to_bgr8(probe.raw["blurred"])
        assert (image != frame).any(-1).mean() > 0.95  # the whole frame covered
        assert wait_for(lambda: probe.counter("anonymized_blurred_failed") >= 1)
        assert "failed" not in probe.raw
    finally:
        del learner.detect_arrays_batch  # the class's method again
        raw.set_parameters([Parameter("anonymize_on_failure", value="drop")])


def test_frames_between_detector_runs_stay_covered(ros, frame, mnet_learner):
    raw, _, probe = ros
    raw.set_parameters([Parameter("detect_rate_hz", value=1.0)])
    try:
        first = bgr8_to_imgmsg(frame, "rgb8")
        _send(probe, first, "run", probe.image_pub)
        assert wait_for(lambda: "run" in probe.raw)
        batches = raw.stats.snapshot().batches  # counted before the outputs are published
        skipped = bgr8_to_imgmsg(frame, "rgb8")  # 0.1 s later: no detector run at 1 Hz
        skipped.header.frame_id = "skipped"
        skipped.header.stamp.sec, skipped.header.stamp.nanosec = (
            first.header.stamp.sec,
            first.header.stamp.nanosec,
        )
        skipped.header.stamp.nanosec += 100_000_000
        if skipped.header.stamp.nanosec >= 1_000_000_000:
            skipped.header.stamp.sec += 1
            skipped.header.stamp.nanosec -= 1_000_000_000
        probe.image_pub.publish(skipped)
        assert wait_for(lambda: "skipped" in probe.raw)
        assert raw.stats.snapshot().batches == batches  # the detector did not run on it
        image = imgmsg_to_bgr8(probe.raw["skipped"])
        original = mnet_learner.detect_arrays(frame, threshold=0.5, scales=SCALES)
        again = mnet_learner.detect_arrays(image, threshold=0.5, scales=SCALES)
        found_again = int((box_iou(original.boxes, again.boxes).max(1) >= 0.3).sum()) if len(again) else 0
        assert found_again <= 0.02 * len(original)  # covered at the tracked positions
    finally:
        raw.set_parameters([Parameter("detect_rate_hz", value=0.0)])
