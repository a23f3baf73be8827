"""``retinaface bench-hri``: runs every set-up over real DDS and reports them as JSON (file written too)."""

from __future__ import annotations

import json

import pytest
from ros_helpers import require_rclpy

require_rclpy()
pytest.importorskip("hri_msgs.msg", reason="hri_msgs missing: run `make setup`")

from retinaface_ros.cli import main  # noqa: E402
from retinaface_ros.commands.bench_hri import SETUPS  # noqa: E402


@pytest.mark.slow
def test_bench_hri_reports_every_setup(mnet_weights, bald_guys_path, tmp_path, capsys):
    out = tmp_path / "hri.json"
    args = ["bench-hri", "--model", str(mnet_weights), "--image", str(bald_guys_path)]
    options = ["--faces", "3", "--width", "800", "--frames", "5", "--rate", "100", "--output", str(out)]
    assert main([*args, *options]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report == json.loads(out.read_text())
    assert report["faces"] == 3 and set(report["rep155"]) == set(SETUPS)
    for name, row in report["rep155"].items():
        assert row["cpu_mean_ms"] > 0 and 0 < row["p50_ms"] <= row["p95_ms"], name
        assert row["frames_3d"] == (25 if "3d" in name else 0), name  # 5 timed + 20 warm-up frames
        assert row["depth_paired"] == (25 if "depth" in name else 0), name
        assert ("consumer_cpu_mean_ms" in row) == ("images" in name), name  # the images' consumer process
        assert row.get("consumer_cpu_mean_ms", 0) >= 0, name  # /proc counts 10 ms ticks: may be 0 here
    assert main([*args, "--faces", "500", "--width", "800", "--frames", "5"]) == 2  # not that many faces
