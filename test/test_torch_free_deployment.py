"""An exported ONNX model folder runs in a fresh venv without torch (``pip install .[onnx]``): ``retinaface
detect`` finds the torch path's faces on the shared images, and nothing imports torch."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import box_iou, shared_path
from venv_helpers import clean_env, install_checkout

from retinaface_ros import Image, RetinaFaceLearner

IMAGES = ("selfie.jpg", "bald_guys.jpg")


def folder_size_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink()) / 2**20


@pytest.mark.slow
def test_onnx_folder_runs_without_torch(mnet_learner, tmp_path: Path) -> None:
    onnx = RetinaFaceLearner(backbone="mnet", device="cpu")
    onnx.load_state_dict(mnet_learner.model.state_dict())
    onnx.optimize()
    folder = onnx.save(tmp_path / "mnet_onnx", verbose=False)

    env = clean_env()
    venv = install_checkout(tmp_path, ".[onnx]", env, timeout=900)
    py = venv / "bin" / "python"
    size = folder_size_mb(venv)
    print(f"torch-free venv: {size:.0f} MB")  # reported with -s; ~2 GB with a CPU torch

    images = [str(shared_path("images", name)) for name in IMAGES]
    probe = (
        "import runpy, sys; sys.argv = ['retinaface', *sys.argv[1:]];"
        "runpy.run_module('retinaface_ros.cli', run_name='__main__')"
    )
    args = ["detect", *images, "--model", str(folder), "--threshold", "0.5", "--json"]
    done = subprocess.run(
        [str(py), "-I", "-X", "importtime", "-c", probe, *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    imported = {line.split("|")[-1].strip().split(".")[0] for line in done.stderr.splitlines() if "|" in line}
    assert "torch" not in imported and "onnxruntime" in imported
    report = json.loads(done.stdout)
    for name, entry in zip(IMAGES, report, strict=True):
        want = mnet_learner.detect_arrays(Image.open(shared_path("images", name)), threshold=0.5)
        xywh = np.array([d["box_xywh"] for d in entry["detections"]])
        got = np.concatenate((xywh[:, :2], xywh[:, :2] + xywh[:, 2:]), axis=1)
        scores = np.array([d["score"] for d in entry["detections"]])
        assert len(got) == len(want) > 10, name
        iou = box_iou(want.boxes, got)
        assert iou.max(1).min() >= 0.999, name
        np.testing.assert_allclose(scores[iou.argmax(1)], want.scores, atol=1e-4)
    assert sys.modules.get("torch") is not None  # this side (the reference) did use torch
