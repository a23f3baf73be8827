"""The runtime seam: the registry, onnxruntime's ordered providers, OpenVINO against torch, the ``--runtime``
option, the detector options' validation, and the ONNX inference path without torch."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import run_retinaface
from conftest import REPO_ROOT, box_iou

from retinaface_ros import Image, RetinaFaceLearner
from retinaface_ros.backends import registry
from retinaface_ros.backends.onnxruntime import OnnxRuntimeBackend, resolve_providers
from retinaface_ros.backends.openvino import OpenVinoBackend
from retinaface_ros.backends.torch import TorchBackend
from retinaface_ros.inference.options import DetectorOptions

PARAMS = {"threshold": 0.5, "scales": [512, 800]}


@pytest.fixture(scope="module")
def onnx_folder(mnet_weights, tmp_path_factory) -> Path:
    learner = RetinaFaceLearner(backbone="mnet", device="cpu")
    learner.load(mnet_weights, verbose=False)
    learner.optimize()
    return learner.save(tmp_path_factory.mktemp("models") / "mnet_onnx", verbose=False)


def assert_same_faces(got, want) -> None:
    assert len(got) == len(want) > 10
    iou = box_iou(want.boxes, got.boxes)
    assert iou.max(1).min() >= 0.999
    np.testing.assert_allclose(got.scores[iou.argmax(1)], want.scores, atol=1e-4)


def test_registry_chooses_by_framework_and_option() -> None:
    assert registry.runtime_for("pytorch").name == "torch"
    assert registry.runtime_for("onnx").name == "onnxruntime"
    assert registry.runtime_for("onnx", "openvino").name == "openvino"
    assert set(registry.CHOICES) == {"auto", "torch", "onnxruntime", "openvino"}
    with pytest.raises(ValueError, match="runtime must be one of auto, torch, onnxruntime, openvino"):
        registry.check_runtime("tensorflow")
    with pytest.raises(ValueError, match="cannot run an ONNX graph"):
        registry.onnx_backend(b"", "torch")
    for runtime in registry.RUNTIMES.values():  # each entry names a real backend class
        assert runtime.backend_class().name == runtime.name


def test_each_runtime_finds_the_same_faces(mnet_weights, onnx_folder: Path, bald_guys_path) -> None:
    image = Image.open(bald_guys_path)
    found = {}
    for runtime in ("torch", "onnxruntime", "openvino"):
        learner = RetinaFaceLearner(backbone="mnet", device="cpu", runtime=runtime)
        learner.load(mnet_weights, verbose=False)  # a .pth: exported to ONNX for the ONNX runtimes
        assert learner.detector.backend.name == runtime
        found[runtime] = learner.detect_arrays(image, **PARAMS)
    for runtime in ("onnxruntime", "openvino"):
        assert_same_faces(found[runtime], found["torch"])
    loaded = RetinaFaceLearner(backbone="mnet", device="cpu", runtime="openvino")
    loaded.load(onnx_folder, verbose=False)
    assert isinstance(loaded.detector.backend, OpenVinoBackend) and loaded.model is None
    assert_same_faces(loaded.detect_arrays(image, **PARAMS), found["torch"])


def test_openvino_folder_saves_the_same_graph(onnx_folder: Path, tmp_path: Path) -> None:
    learner = RetinaFaceLearner(backbone="mnet", device="cpu", runtime="openvino")
    learner.load(onnx_folder, verbose=False)
    again = learner.save(tmp_path / "again", verbose=False)
    assert (again / "again.onnx").read_bytes() == (onnx_folder / "mnet_onnx.onnx").read_bytes()
    meta = json.loads((again / "again.json").read_text())
    assert meta["framework"] == "onnx" and meta["has_mask_head"] is False


def test_providers_in_order_and_missing_ones_named() -> None:
    assert resolve_providers(["cpu"]) == ["CPUExecutionProvider"]
    with pytest.warns(
        RuntimeWarning, match=r"provider 'TensorRT' \(TensorrtExecutionProvider\) is not installed"
    ):
        assert resolve_providers(["TensorRT", "CPU"], "cuda:1") == ["CPUExecutionProvider"]
    with pytest.warns(RuntimeWarning), pytest.raises(ValueError, match="none of the onnxruntime providers"):
        resolve_providers(["CUDA"])
    with pytest.raises(ValueError, match="providers are an onnxruntime option"):
        RetinaFaceLearner(backbone="mnet", device="cpu", runtime="openvino", providers=["CPU"])
    with pytest.raises(ValueError, match="runtime must be one of"):
        RetinaFaceLearner(backbone="mnet", device="cpu", runtime="tflite")


def test_learner_providers_reach_the_session(onnx_folder: Path) -> None:
    learner = RetinaFaceLearner(backbone="mnet", device="cpu", providers=["CPU"])
    learner.load(onnx_folder, verbose=False)
    backend = learner.detector.backend
    assert isinstance(backend, OnnxRuntimeBackend) and backend.providers == ["CPUExecutionProvider"]


def test_detector_options_are_validated() -> None:
    assert DetectorOptions().replace(top_k=[64, 128]).top_k == (64, 128)
    with pytest.raises(TypeError, match="fp16 must be a bool"):
        DetectorOptions(fp16=1)
    with pytest.raises(ValueError, match="max_graphs must be ≥ 1"):
        DetectorOptions(max_graphs=0)
    with pytest.raises(ValueError, match="top_k must hold at least one"):
        DetectorOptions(top_k=())
    with pytest.raises(TypeError, match="top_k entries must be an int"):
        DetectorOptions(top_k=(256, 1.5))


def test_torch_backend_writes_the_trainable_state_dict(mnet_learner) -> None:
    backend = mnet_learner.detector.backend
    assert isinstance(backend, TorchBackend) and backend.framework == "pytorch"
    framework, payload = backend.model_file()
    assert framework == "pytorch" and len(payload) > 1_000_000  # the unfolded fp32 weights


@pytest.mark.slow
def test_detect_command_runtime_option(onnx_folder: Path, mnet_weights, bald_guys_path) -> None:
    counts = {}
    for model, runtime in ((mnet_weights, "torch"), (onnx_folder, "openvino"), (onnx_folder, "onnxruntime")):
        argv = ["detect", str(bald_guys_path), "--model", str(model), "--runtime", runtime, "--json"]
        argv += ["--threshold", "0.5", "--scales", "512", "800"]
        done = run_retinaface(*argv)
        assert done.returncode == 0, done.stderr
        counts[runtime] = len(json.loads(done.stdout)[0]["detections"])
    assert counts["torch"] == counts["openvino"] == counts["onnxruntime"] > 10


TORCH_FREE = """
import sys
sys.modules["torch"] = None  # any torch import on this path fails
import cv2, json
from retinaface_ros.backends.registry import onnx_backend
from retinaface_ros.detections import InferenceParams
from retinaface_ros.drawing import draw_bounding_boxes
from retinaface_ros.inference.detector import Detector
from retinaface_ros.io.model_folder import read_meta
from retinaface_ros.model.config import config_for
model_file, meta = read_meta(sys.argv[1])
image = cv2.imread(sys.argv[2])
counts = []
for runtime in ("onnxruntime", "openvino"):
    detector = Detector(onnx_backend(model_file.read_bytes(), runtime), config_for("mnet"))
    found = detector.detect(image, InferenceParams(threshold=0.5, scales=(512, 800)))
    draw_bounding_boxes(image, found.to_bounding_boxes())
    counts.append(len(found))
print(json.dumps(counts))
"""


def test_onnx_inference_path_imports_no_torch(onnx_folder: Path, bald_guys_path, mnet_learner) -> None:
    """Model folder → backend → detector → postprocess → drawing with torch made unimportable."""
    done = subprocess.run(
        [sys.executable, "-c", TORCH_FREE, str(onnx_folder), str(bald_guys_path)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    want = mnet_learner.detect_arrays(Image.open(bald_guys_path), **PARAMS)
    assert json.loads(done.stdout) == [len(want), len(want)]


CLI_WITHOUT_TORCH = """
import sys
sys.modules["torch"] = None  # any torch import on this path fails
from retinaface_ros.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_image_commands_run_an_onnx_folder_without_torch(onnx_folder: Path, bald_guys_path, tmp_path) -> None:
    """detect, anonymize and export-dataset on an ONNX folder with torch unimportable."""
    commands = {
        "detect": ["detect", str(bald_guys_path), "--json", "--threshold", "0.5"],
        "anonymize": ["anonymize", str(bald_guys_path), "--out", str(tmp_path / "anonymized.jpg")],
        "export-dataset": ["export-dataset", str(bald_guys_path), "--out", str(tmp_path / "dataset")],
    }
    for name, argv in commands.items():
        done = subprocess.run(
            [sys.executable, "-c", CLI_WITHOUT_TORCH, *argv, "--model", str(onnx_folder)],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, (name, done.stderr[-2000:])
        if name == "detect":
            assert len(json.loads(done.stdout)[0]["detections"]) > 10
    assert (tmp_path / "anonymized.jpg").stat().st_size > 0
    assert any((tmp_path / "dataset").rglob("*.txt"))
