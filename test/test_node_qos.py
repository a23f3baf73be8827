"""issues #20.1 and #16.8: ``qos_reliability: auto`` follows the input's publishers (a camera in another
process at 1986×1545, reliable and best_effort), explicit values still win, and frames the middleware loses
before the callback are counted per input in diagnostics with a WARN that says what to change."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from ros_helpers import BackgroundSpin, node_process, require_rclpy, stop_process, wait_for

pytestmark = pytest.mark.ros
rclpy = require_rclpy()

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus  # noqa: E402
from rclpy.lifecycle import TransitionCallbackReturn  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from rclpy.qos import QoSProfile, ReliabilityPolicy  # noqa: E402

from retinaface_ros.ros.detector_node import DetectorNode  # noqa: E402
from retinaface_ros.ros.interfaces import import_vision_msgs  # noqa: E402
from retinaface_ros.ros.qos_choice import choose_reliability  # noqa: E402
from retinaface_ros.ros.stage_timing import STAGES  # noqa: E402

VM = import_vision_msgs()
RELIABLE, BEST_EFFORT = ReliabilityPolicy.RELIABLE, ReliabilityPolicy.BEST_EFFORT
SUCCESS = TransitionCallbackReturn.SUCCESS


def test_choose_reliability_rule():
    assert choose_reliability("auto", []).name == "best_effort"  # matches whatever publisher comes
    assert choose_reliability("auto", [RELIABLE, RELIABLE]).name == "reliable"
    assert choose_reliability("auto", [RELIABLE, BEST_EFFORT]).name == "best_effort"
    assert choose_reliability("reliable", [BEST_EFFORT]).name == "reliable"  # explicit values win
    assert choose_reliability("best_effort", [RELIABLE]).name == "best_effort"
    with pytest.raises(ValueError, match="qos_reliability"):
        choose_reliability("sometimes", [])


def _camera(log: Path, namespace: str, image: Path, reliable: bool) -> subprocess.Popen:
    """image_publisher in its own process: ``image`` (1986×1545 raw bgr8) at 4 Hz."""
    return node_process(
        "retinaface_ros.ros.image_publisher",
        log,
        *("-r", f"__ns:={namespace}", "-p", f"path:={image}", "-p", "rate:=4.0"),
        *("-p", f"reliable:={str(reliable).lower()}"),
    )


def test_auto_follows_camera_processes_and_losses_are_reported(mnet_weights, bald_guys_path, tmp_path):
    namespace = f"/qos{os.getpid()}"
    spinner = BackgroundSpin()
    context = spinner.context
    settings = {"model_path": str(mnet_weights), "device": "cpu", "scales": [480, 860]}
    auto = DetectorNode(
        namespace=namespace,
        context=context,
        parameter_overrides=[
            Parameter(k, value=v) for k, v in {**settings, "diagnostics_period": 0.2}.items()
        ],
    )
    explicit = DetectorNode(  # the same input, qos_reliability set: never follows the publishers
        node_name="explicit_detector",
        namespace=namespace,
        context=context,
        parameter_overrides=[Parameter(k, value=v) for k, v in settings.items()]
        + [Parameter("qos_reliability", value="best_effort"), Parameter("publish_annotated", value=False)],
    )
    probe = rclpy.create_node("qos_probe", namespace=namespace, context=context)
    detections: list = []
    diagnostics: dict[str, DiagnosticStatus] = {}
    probe.create_subscription(VM.Detection2DArray, "detections", detections.append, QoSProfile(depth=10))

    def on_diagnostics(msg: DiagnosticArray) -> None:
        for status in msg.status:
            diagnostics[status.name] = status

    probe.create_subscription(DiagnosticArray, "/diagnostics", on_diagnostics, 10)
    spinner.add(auto, explicit, probe)
    name, topic = auto.get_fully_qualified_name(), f"{namespace}/image"

    def value(key: str) -> str:
        status = diagnostics.get(name)
        return {kv.key: kv.value for kv in status.values}.get(key, "") if status else ""

    cameras: list[subprocess.Popen] = []
    try:
        for node in (auto, explicit):
            assert node.trigger_configure() == SUCCESS and node.trigger_activate() == SUCCESS
        assert auto.active and explicit.active
        assert auto.input_reliability == ["best_effort"]  # no publisher yet: matches whatever comes

        cameras.append(_camera(tmp_path / "reliable.log", namespace, bald_guys_path, reliable=True))
        assert wait_for(lambda: auto.input_reliability == ["reliable"], 60), (
            tmp_path / "reliable.log"
        ).read_text()
        assert wait_for(lambda: len(detections) >= 2, 120), "no detections from the reliable camera"
        assert max(len(msg.detections) for msg in detections) >= 10  # the bald guys, at full 1986×1545
        assert wait_for(lambda: value("input_reliability") == f"{topic}: reliable", 10)
        # issue #20.2: where the latency goes, per stage, in diagnostics
        assert wait_for(lambda: value("stage_infer_p50_ms") not in ("", "nan"), 10)
        stages = {stage: float(value(f"stage_{stage}_p50_ms")) for stage in STAGES}
        assert all(ms >= 0.0 for ms in stages.values()) and stages["infer"] > 0.0, stages
        assert explicit.input_reliability == ["best_effort"]
        stop_process(cameras.pop())

        cameras.append(_camera(tmp_path / "best_effort.log", namespace, bald_guys_path, reliable=False))
        assert wait_for(lambda: auto.input_reliability == ["best_effort"], 60)
        assert wait_for(lambda: value("input_reliability") == f"{topic}: best_effort", 10)
        # Raw 9 MB frames over best_effort UDP fragments: most never reach the callback. The middleware's
        # count of them is in diagnostics, with a WARN saying what to change.
        assert wait_for(lambda: int(value("transport_lost") or 0) > 0, 60), value("transport_lost")
        assert wait_for(lambda: diagnostics[name].level == DiagnosticStatus.WARN, 30)
        message = diagnostics[name].message
        assert "the middleware lost" in message and topic in message and "qos_depth (now 1)" in message
        assert value("transport_lost_by_input").startswith(f"{topic}: ")
    finally:
        for camera in cameras:
            stop_process(camera)
        spinner.close()
