"""`retinaface bench-node`: the detector node timed end to end over DDS, next to learner.infer."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from ros_helpers import PYTHON, REPO_ROOT, python_subprocess_env, require_rclpy

pytestmark = pytest.mark.ros
require_rclpy()


def test_bench_node_reports_the_frames_and_writes_the_json(mnet_weights, selfie_path, tmp_path: Path) -> None:
    out = tmp_path / "node.json"
    command = [PYTHON, "-m", "retinaface_ros", "bench-node", "--model", str(mnet_weights)]
    command += ["--image", str(selfie_path), "--frames", "12", "--rate", "10", "--learner-frames", "3"]
    command += ["--reliable", "--output", str(out)]
    result = subprocess.run(
        command,
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        env=python_subprocess_env(),
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout)
    assert json.loads(out.read_text()) == report
    node = report["node"]
    assert node["sent"] == 12 and node["results"] + node["dropped"] == 12 and node["results"] > 0
    assert node["rejected"] == 0 and node["faces_per_frame"] > 10  # a crowd photo
    assert node["latency"]["p50_ms"] > 0 and report["learner_infer"]["frames"] == 3
