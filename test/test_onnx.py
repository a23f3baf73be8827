"""optimize(): ONNX export + onnxruntime inference match the PyTorch path; ONNX folders; the export CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from cli_helpers import run_retinaface
from conftest import shared_path

from retinaface_ros import Image, RetinaFaceLearner
from retinaface_ros.backends.onnxruntime import OnnxRuntimeBackend, choose_providers, physical_cores


@pytest.fixture(scope="module")
def torch_learner(mnet_weights) -> RetinaFaceLearner:
    learner = RetinaFaceLearner(backbone="mnet", device="cpu")
    learner.load(mnet_weights, verbose=False)
    return learner


@pytest.fixture(scope="module")
def onnx_learner(mnet_weights) -> RetinaFaceLearner:
    learner = RetinaFaceLearner(backbone="mnet", device="cpu")
    learner.load(mnet_weights, verbose=False)
    learner.optimize()
    return learner


def raw_heads(learner: RetinaFaceLearner, image: np.ndarray) -> list[np.ndarray]:
    detector = learner.detector
    return [np.asarray(t[0]) for t in detector.run(detector.prepare([image], 1.0))]


def test_raw_heads_match_torch_and_reference(torch_learner, onnx_learner) -> None:
    assert isinstance(onnx_learner.ort_session, OnnxRuntimeBackend)
    raw = np.load(shared_path("golden", "reference_mnet_raw_320x240.npz"))
    ours = raw_heads(onnx_learner, raw["input_bgr_uint8"])
    for got, want, name in zip(
        ours, raw_heads(torch_learner, raw["input_bgr_uint8"]), ("loc", "conf", "landms"), strict=True
    ):
        np.testing.assert_allclose(got, want, atol=1e-4, err_msg=name)
        np.testing.assert_allclose(got, raw[name], atol=1e-4, err_msg=name)


def test_selfie_boxes_identical(torch_learner, onnx_learner, selfie_path) -> None:
    image = Image.open(selfie_path)
    scales = list(image.shape[1:])
    ref = torch_learner.detect_arrays(image, threshold=0.5, scales=scales)
    got = onnx_learner.detect_arrays(image, threshold=0.5, scales=scales)
    assert len(got) == len(ref) > 100
    np.testing.assert_allclose(got.boxes, ref.boxes, atol=1e-3)  # same boxes, float32 rounding only
    np.testing.assert_allclose(got.scores, ref.scores, atol=1e-5)
    np.testing.assert_allclose(got.landmarks, ref.landmarks, atol=1e-3)


def test_dynamic_batch_and_size(torch_learner, onnx_learner) -> None:
    batch = torch.rand(2, 3, 96, 128) * 200 - 100
    with torch.inference_mode():
        want = torch_learner.model(batch)
    for got, expected in zip(onnx_learner.detector.run(batch.numpy()), want, strict=True):
        assert got.shape == expected.shape
        np.testing.assert_allclose(got, expected.numpy(), atol=1e-4, rtol=1e-4)


def test_onnx_folder_round_trip(onnx_learner, torch_learner, tmp_path: Path, bald_guys_path) -> None:
    folder = onnx_learner.save(tmp_path / "mnet_onnx", verbose=False)
    assert sorted(p.name for p in folder.iterdir()) == ["mnet_onnx.json", "mnet_onnx.onnx"]
    meta = json.loads((folder / "mnet_onnx.json").read_text())
    assert (meta["framework"], meta["format"], meta["optimized"]) == ("onnx", "onnx", True)
    assert meta["model_paths"] == ["mnet_onnx.onnx"] and meta["optimizer_info"]["opset"] >= 17

    loaded = RetinaFaceLearner(backbone="mnet", device="cpu")
    loaded.load(folder, verbose=False)
    assert loaded.model is None and isinstance(loaded.ort_session, OnnxRuntimeBackend)
    image = Image.open(bald_guys_path)
    got = loaded.detect_arrays(image, threshold=0.5, scales=[512, 800])
    ref = torch_learner.detect_arrays(image, threshold=0.5, scales=[512, 800])
    assert len(got) == len(ref) > 10
    np.testing.assert_allclose(got.boxes, ref.boxes, atol=1e-3)
    assert (
        loaded.save(tmp_path / "again", verbose=False).joinpath("again.onnx").read_bytes()
        == (folder / "mnet_onnx.onnx").read_bytes()
    )

    (folder / "mnet_onnx.onnx").write_bytes(b"garbage" * 10)
    model, params = torch_learner.model, torch_learner.inference_params
    with pytest.raises(ValueError, match="onnxruntime"):
        torch_learner.load(folder, verbose=False)
    assert torch_learner.model is model and torch_learner.inference_params is params
    assert torch_learner.ort_session is None


def test_session_settings() -> None:
    assert choose_providers("cpu") == ["CPUExecutionProvider"]
    assert 1 <= physical_cores() <= (__import__("os").cpu_count() or 1)


def test_optimize_without_model_is_refused() -> None:
    with pytest.raises(ValueError, match="no model"):
        RetinaFaceLearner(backbone="mnet", device="cpu").optimize()


def test_export_cli(mnet_weights, tmp_path: Path) -> None:
    command = ["export", "--backbone", "mnet", "--model"]
    done = run_retinaface(*command, str(mnet_weights), "--out", str(tmp_path / "exported"), timeout=120)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "exported" / "exported.onnx").stat().st_size > 1_000_000
    missing = run_retinaface(*command, str(tmp_path / "nope.pth"), "--out", str(tmp_path / "x"), timeout=120)
    assert missing.returncode == 2 and "not found" in missing.stderr
