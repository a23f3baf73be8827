"""The ``retinaface bench`` command: JSON rows, refused filters."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stderr, redirect_stdout


def test_bench_command_prints_json(mnet_weights) -> None:
    from retinaface_ros.cli import main

    out, err = io.StringIO(), io.StringIO()
    argv = ["bench", "--runs", "2", "--warmup", "1", "--backbones", "mnet", "--devices", "cpu"]
    argv += ["--inputs", "640x480", "--runtimes", "reference,torch", "--json"]
    with redirect_stdout(out), redirect_stderr(err):
        assert main(argv) == 0
    report = json.loads(out.getvalue())
    assert {"machine", "settings", "rows"} <= set(report)
    assert [r["runtime"] for r in report["rows"]] == ["reference", "torch"]
    for r in report["rows"]:
        for key in ("preprocess_ms", "forward_ms", "postprocess_ms", "total_ms"):
            assert set(r[key]) == {"median", "p90"} and r[key]["median"] > 0
        for key in ("fps", "peak_rss_mb", "backbone", "device", "input", "batch", "speedup_vs_reference"):
            assert key in r
        assert r["faces_per_image"] > 0


def test_bench_rejects_unknown_filter() -> None:
    from retinaface_ros.cli import main

    with redirect_stderr(io.StringIO()):
        assert main(["bench", "--backbones", "vgg"]) == 2
        assert main(["bench", "--warmup", "0"]) == 2  # the warm-up counts the faces
