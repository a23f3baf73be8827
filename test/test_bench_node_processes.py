"""issue #20.2: ``retinaface bench-node --processes``: camera, detector and subscriber as three processes;
the report has the end-to-end latency, detect_arrays alone, their ratio and the node's per-stage breakdown."""

from __future__ import annotations

import json
import math
import subprocess
from pathlib import Path

import pytest
from ros_helpers import PYTHON, REPO_ROOT, python_subprocess_env, require_rclpy

pytestmark = pytest.mark.ros
require_rclpy()


@pytest.mark.slow
@pytest.mark.parametrize("dds", ["default", "large_data"])
def test_bench_node_processes_reports_latency_and_stages(
    mnet_weights, bald_guys_path, tmp_path: Path, dds: str
) -> None:
    out = tmp_path / "processes.json"
    command = [PYTHON, "-m", "retinaface_ros", "bench-node", "--processes", "--model", str(mnet_weights)]
    command += ["--image", str(bald_guys_path), "--width", "320", "--height", "240", "--frames", "10"]
    command += ["--rate", "5", "--learner-frames", "3", "--dds", dds, "--output", str(out)]
    result = subprocess.run(
        command, capture_output=True, text=True, cwd=REPO_ROOT, env=python_subprocess_env(), timeout=400
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout)
    assert json.loads(out.read_text()) == report
    node = report["node"]
    assert report["config"]["qos"] == "auto" and report["config"]["dds"] == dds
    assert node["detector_exit_code"] == 0
    assert 0 < node["results"] <= node["sent"] == 10 and node["faces_per_frame"] > 5
    assert node["latency"]["p50_ms"] > 0 and report["detect_arrays"]["frames"] == 3
    assert set(node["stages_p50_ms"]) == {"transport", "wait", "convert", "infer", "publish"}
    assert all(math.isfinite(ms) and ms >= 0 for ms in node["stages_p50_ms"].values())
    assert report["ratio_p50"] > 0 and report["ratio_p50_at_camera_rate"] > 0
    assert report["detect_arrays"]["at_camera_rate_latency"]["p50_ms"] > 0
    assert report["ratio_p50_to_node_infer"] >= 1.0  # end to end includes the inference


@pytest.mark.parametrize("frame_id", ["", "a", "abc", "bench_optical"])
def test_the_subscriber_reads_stamp_and_count_from_serialized_detections(frame_id):
    import numpy as np
    from std_msgs.msg import Header

    from retinaface_ros.commands.bench_node_processes import detection_array_stamp_and_count
    from retinaface_ros.detections import Detections
    from retinaface_ros.ros import messages

    header = Header(frame_id=frame_id)
    header.stamp.sec, header.stamp.nanosec = 1_700_000_000, 5
    count = 3
    found = Detections(
        boxes=np.zeros((count, 4), np.float32),
        scores=np.ones(count, np.float32),
        landmarks=np.zeros((count, 5, 2), np.float32),
        classes=np.zeros(count, np.int64),
    )
    data = messages.detection_array(found, header)
    assert detection_array_stamp_and_count(data) == (1_700_000_000_000_000_005, count)
