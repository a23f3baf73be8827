"""Learner API: argument validation, bad images, types, drawing and the ``detect`` CLI."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest

from retinaface_ros import BoundingBox, BoundingBoxList, Image, RetinaFaceLearner, draw_bounding_boxes


@pytest.fixture(scope="module")
def learner(mnet_learner) -> RetinaFaceLearner:
    return mnet_learner


@pytest.fixture(scope="module")
def small_selfie(selfie_path) -> np.ndarray:
    return Image.open(selfie_path).opencv()[350:830, 600:1240]  # 640×480 crop with many faces


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"backbone": "vgg"}, ValueError, "backbone"),
        ({"lr": 0}, ValueError, "lr"),
        ({"lr": "fast"}, TypeError, "lr"),
        ({"batch_size": 0}, ValueError, "batch_size"),
        ({"batch_size": 2.5}, TypeError, "batch_size"),
        ({"epochs": 0}, ValueError, "epochs"),
        ({"lr_steps": "10,x"}, ValueError, "lr_steps"),
        ({"momentum": 1.5}, ValueError, "momentum"),
        ({"shuffle": "yes"}, TypeError, "shuffle"),
        ({"device": "gpu"}, ValueError, "device"),
        ({"val_after": -1}, ValueError, "val_after"),
        ({"temp_path": 3}, TypeError, "temp_path"),
    ],
)
def test_constructor_validates_arguments(kwargs: dict, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        RetinaFaceLearner(**{"device": "cpu", **kwargs})


def test_cuda_without_gpu_names_the_fix() -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA GPU is present")
    with pytest.raises(ValueError, match="device='cpu'"):
        RetinaFaceLearner(backbone="mnet", device="cuda")


def test_defaults_and_classes() -> None:
    learner = RetinaFaceLearner(backbone="mnet", device="cpu", lr_steps="20, 10")
    assert learner.classes == ["face", "masked_face"]
    assert learner.lr_steps_list == [10, 20]


def test_infer_without_model_is_an_error() -> None:
    with pytest.raises(ValueError, match="no model loaded"):
        RetinaFaceLearner(backbone="mnet", device="cpu").infer(np.zeros((32, 32, 3), np.uint8))


def test_load_wrong_backbone_is_refused(mnet_weights) -> None:
    learner = RetinaFaceLearner(backbone="resnet", device="cpu")
    with pytest.raises(ValueError, match="'mnet' model"):
        learner.load(mnet_weights, verbose=False)
    assert learner.model is None


def test_load_accepts_module_prefix(tmp_path, mnet_weights) -> None:
    import torch

    state = torch.load(mnet_weights, map_location="cpu", weights_only=True)
    torch.save({"state_dict": {f"module.{k}": v for k, v in state.items()}}, tmp_path / "wrapped.pth")
    learner = RetinaFaceLearner(backbone="mnet", device="cpu")
    learner.load(tmp_path / "wrapped.pth", verbose=False)
    assert not learner.model.with_mask_head


@pytest.mark.parametrize(
    ("image", "error", "message"),
    [
        (np.zeros((0, 10, 3), np.uint8), ValueError, "empty"),
        (np.zeros((10, 10, 3), np.float32), TypeError, "uint8"),
        (np.zeros((2, 10, 10, 3), np.uint8), ValueError, "shape"),
        (np.zeros((10, 10, 2), np.uint8), ValueError, "channels"),
        ([[0, 1], [2, 3]], TypeError, "numpy array"),
    ],
)
def test_bad_images_are_refused(learner: RetinaFaceLearner, image, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        learner.infer(image)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"threshold": math.nan}, "threshold"),
        ({"threshold": 1.5}, "threshold"),
        ({"nms_threshold": -0.1}, "nms_threshold"),
        ({"mask_thresh": math.inf}, "mask_thresh"),
        ({"scales": [640]}, "scales"),
        ({"scales": [640, -1]}, "scales"),
        ({"scales": [640.0, 480.0]}, "scales"),
        ({"scales": "640,480"}, "scales"),
    ],
)
def test_bad_settings_are_refused(learner: RetinaFaceLearner, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        learner.infer(np.zeros((32, 32, 3), np.uint8), **kwargs)


def test_grey_bgra_and_chw_inputs_are_converted(learner: RetinaFaceLearner, small_selfie: np.ndarray) -> None:
    import cv2

    colour = learner.infer(small_selfie, threshold=0.9, scales=[480, 640])
    grey = cv2.cvtColor(small_selfie, cv2.COLOR_BGR2GRAY)
    assert len(learner.infer(grey, threshold=0.9, scales=[480, 640])) > 0.5 * len(colour)
    bgra = cv2.cvtColor(small_selfie, cv2.COLOR_BGR2BGRA)
    assert len(learner.infer(bgra, threshold=0.9, scales=[480, 640])) == len(colour)
    chw = Image(small_selfie.transpose(2, 0, 1).copy())
    assert len(learner.infer(chw, threshold=0.9, scales=[480, 640])) == len(colour)


def test_infer_returns_typed_boxes(learner: RetinaFaceLearner, small_selfie: np.ndarray) -> None:
    boxes = learner.infer(Image(small_selfie), threshold=0.8, scales=[480, 640])
    assert isinstance(boxes, BoundingBoxList) and len(boxes) > 10
    scores = [box.confidence for box in boxes]
    assert scores == sorted(scores, reverse=True) and min(scores) > 0.8
    for box in boxes:
        assert box.name == 0 and box.landmarks.shape == (5, 2)
        assert box.left >= 0 and box.left + box.width <= 640 and box.top + box.height <= 480
        # landmarks of a detected face lie around its box
        assert np.all(box.landmarks[:, 0] >= box.left - box.width) and np.all(
            box.landmarks[:, 0] <= box.left + 2 * box.width
        )
    assert boxes[0] is boxes.data[0] and len(list(iter(boxes))) == len(boxes)


def test_nms_threshold_is_honoured(learner: RetinaFaceLearner, small_selfie: np.ndarray) -> None:
    strict = learner.detect_arrays(small_selfie, threshold=0.3, nms_threshold=0.1, scales=[480, 640])
    loose = learner.detect_arrays(small_selfie, threshold=0.3, nms_threshold=0.7, scales=[480, 640])
    raw = learner.detect_arrays(small_selfie, threshold=0.3, nms_threshold=None, scales=[480, 640])
    assert len(strict) < len(loose) < len(raw)


def test_image_open_missing_file() -> None:
    with pytest.raises(FileNotFoundError):
        Image.open("/nonexistent/face.jpg")


def test_draw_bounding_boxes_marks_boxes_and_landmarks() -> None:
    image = np.zeros((100, 120, 3), np.uint8)
    landmarks = np.array([[30, 40], [50, 40], [40, 50], [32, 60], [48, 60]], np.float32)
    boxes = BoundingBoxList(
        [BoundingBox(0, 20, 30, 40, 45, 0.97, landmarks), BoundingBox(1, 70, 10, 30, 30, 0.9)]
    )
    drawn = draw_bounding_boxes(image, boxes, line_thickness=1)
    assert drawn.shape == image.shape and image.sum() == 0  # input untouched

    def colour_at(y: int, x: int) -> np.ndarray:
        return drawn[y, x].astype(int)

    assert np.abs(colour_at(75, 40) - (0, 255, 0)).max() < 40  # bottom edge of the face box (green)
    assert np.abs(colour_at(40, 30) - (0, 0, 255)).max() < 40  # left-eye landmark (red)
    assert np.abs(colour_at(25, 100) - (255, 128, 0)).max() < 40  # right edge of the masked-face box
    assert drawn[85:, :].sum() == 0  # nothing drawn below the boxes


def test_detect_cli_json_and_annotated_output(tmp_path, mnet_weights, selfie_path) -> None:
    out = tmp_path / "annotated.jpg"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "retinaface_ros",
            "detect",
            str(selfie_path),
            "--model",
            str(mnet_weights),
            "--threshold",
            "0.9",
            "--scales",
            "480",
            "860",
            "--out",
            str(out),
            "--json",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    report = json.loads(result.stdout)
    assert report[0]["image"] == str(selfie_path) and len(report[0]["detections"]) > 50
    assert out.stat().st_size > 10_000


def test_detect_cli_bad_input_exit_code_2(tmp_path, mnet_weights) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "retinaface_ros",
            "detect",
            str(tmp_path / "missing.jpg"),
            "--model",
            str(mnet_weights),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2 and "not found" in result.stderr


def test_mask_head_gives_masked_face_class(tmp_path, mnet_weights, small_selfie: np.ndarray) -> None:
    import torch

    from retinaface_ros.io.state_dicts import read_state_dict
    from retinaface_ros.model import RetinaFace

    model = RetinaFace("mnet", with_mask_head=True)
    missing = model.load_state_dict(read_state_dict(mnet_weights), strict=False).missing_keys
    assert missing and all(key.startswith("MaskHead.") for key in missing)
    with torch.no_grad():
        for head in model.MaskHead:  # a head that says "masked" (p ≈ 0.99995) for every anchor
            head.conv1x1.weight.zero_()
            head.conv1x1.bias.copy_(torch.tensor([-5.0, 5.0, -5.0, 5.0]))
    torch.save(model.state_dict(), tmp_path / "masked.pth")

    plain = RetinaFaceLearner(backbone="mnet", device="cpu")
    plain.load(mnet_weights, verbose=False)
    learner = RetinaFaceLearner(backbone="mnet", device="cpu")
    learner.load(tmp_path / "masked.pth", verbose=False)
    assert learner.model.with_mask_head
    settings = {"threshold": 0.9, "scales": [480, 640]}
    faces = plain.infer(small_selfie, **settings)
    masked = learner.infer(small_selfie, mask_thresh=0.8, **settings)
    assert len(masked) == len(faces) > 10 and {box.name for box in masked} == {1}
    assert {box.name for box in learner.infer(small_selfie, mask_thresh=1.0, **settings)} == {0}

    folder = learner.save(tmp_path / "masked_model", verbose=False)
    reloaded = RetinaFaceLearner(backbone="mnet", device="cpu")
    reloaded.load(folder, verbose=False)
    assert {box.name for box in reloaded.infer(small_selfie, **settings)} == {1}


def test_numpy_scalars_and_torch_device_are_accepted() -> None:
    import torch

    learner = RetinaFaceLearner(
        backbone="mnet",
        device=torch.device("cpu"),
        lr=np.float32(0.01),
        batch_size=np.int64(4),
        epochs=np.int32(3),
        momentum=np.float64(0.5),
    )
    assert learner.device == torch.device("cpu")
    assert (learner.lr, learner.batch_size, learner.epochs, learner.momentum) == (
        pytest.approx(0.01),
        4,
        3,
        0.5,
    )
    assert type(learner.lr) is float and type(learner.batch_size) is int and type(learner.epochs) is int
    with pytest.raises(TypeError, match="batch_size"):
        RetinaFaceLearner(backbone="mnet", device="cpu", batch_size=np.float64(4))
    with pytest.raises(TypeError, match="lr"):
        RetinaFaceLearner(backbone="mnet", device="cpu", lr=np.bool_(True))
    with pytest.raises(ValueError, match="device"):
        RetinaFaceLearner(backbone="mnet", device=torch.device("meta"))


def test_numpy_thresholds_work_like_floats(learner: RetinaFaceLearner, small_selfie: np.ndarray) -> None:
    plain = learner.detect_arrays(small_selfie, threshold=0.5, nms_threshold=0.4, scales=[480, 640])
    numpy = learner.detect_arrays(
        small_selfie, threshold=np.float32(0.5), nms_threshold=np.float32(0.4), scales=[480, 640]
    )
    np.testing.assert_array_equal(numpy.boxes, plain.boxes)
    assert len(learner.infer(small_selfie, threshold=np.float32(0.5), scales=[480, 640])) == len(plain)
    with pytest.raises(TypeError, match="threshold"):
        learner.infer(small_selfie, threshold="0.5")


def test_set_model_refuses_other_modules() -> None:
    import torch

    learner = RetinaFaceLearner(backbone="mnet", device="cpu")
    with pytest.raises(TypeError, match="RetinaFace"):
        learner.set_model(torch.nn.Linear(1, 1))
    assert learner.model is None


def test_image_refuses_unit_floats_and_takes_0_255_floats(small_selfie: np.ndarray) -> None:
    with pytest.raises(ValueError, match="0..255"):
        Image(small_selfie.astype(np.float32) / 255)
    with pytest.raises(ValueError, match="NaN"):
        Image(np.full((4, 4, 3), np.nan))
    np.testing.assert_array_equal(Image(small_selfie.astype(np.float64)).opencv(), small_selfie)
    clipped = Image(np.array([[[-3.0, 254.6, 300.0]]])).opencv()
    np.testing.assert_array_equal(clipped, [[[0, 255, 255]]])
    assert Image(np.zeros((2, 2, 3), np.float32)).opencv().shape == (2, 2, 3)  # black is black either way


def test_image_three_rows_high_is_hwc(small_selfie: np.ndarray) -> None:
    strip = np.ascontiguousarray(small_selfie[:3])  # 3 × 640 × 3: channels last
    image = Image(strip)
    assert image.shape == (3, 3, 640)
    np.testing.assert_array_equal(image.opencv(), strip)
    np.testing.assert_array_equal(Image(image).opencv(), strip)  # an Image is not guessed again
    chw = small_selfie.transpose(2, 0, 1).copy()  # unambiguous CHW still works
    np.testing.assert_array_equal(Image(chw).opencv(), small_selfie)


def _tiny_jpeg(tmp_path) -> str:
    import cv2

    path = tmp_path / "tiny.jpg"
    cv2.imwrite(str(path), np.full((48, 64, 3), 127, np.uint8))
    return str(path)


def test_detect_cli_unwritable_extension_is_a_usage_error(tmp_path, mnet_weights, capsys) -> None:
    from retinaface_ros.cli import main

    image = _tiny_jpeg(tmp_path)
    assert main(["detect", image, "--model", str(mnet_weights), "--out", str(tmp_path / "x.xyz")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "'.xyz'" in err and not (tmp_path / "x.xyz").exists()
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    out = str(blocker / "annotated.jpg")  # the parent is a file: OSError while writing
    assert main(["detect", image, "--model", str(mnet_weights), "--scales", "48", "64", "--out", out]) == 1
    err = capsys.readouterr().err
    assert err.startswith("retinaface: error:") and err.count("\n") == 1 and "Traceback" not in err


def test_bench_report_is_written_atomically(tmp_path) -> None:
    import argparse

    from retinaface_ros.commands.bench import _write

    out = tmp_path / "reports" / "bench.json"
    out.parent.mkdir()
    out.write_text("old")
    text = _write(out, [{"row": 1}], [], argparse.Namespace(runs=1, warmup=0, levers=False))
    assert json.loads(out.read_text()) == json.loads(text) and json.loads(text)["rows"] == [{"row": 1}]
    assert [p.name for p in out.parent.iterdir()] == ["bench.json"]  # no temp file left


def test_detect_cli_takes_the_saved_settings(tmp_path, mnet_weights, selfie_path, capsys) -> None:
    from retinaface_ros.cli import main
    from retinaface_ros.detections import InferenceParams

    learner = RetinaFaceLearner(backbone="mnet", device="cpu")
    learner.load(mnet_weights, verbose=False)
    learner.inference_params = InferenceParams(threshold=0.97, scales=(480, 860))
    folder = learner.save(tmp_path / "strict", verbose=False)

    def faces(*options: str) -> int:
        assert main(["detect", str(selfie_path), "--model", str(folder), "--json", *options]) == 0
        return len(json.loads(capsys.readouterr().out)[0]["detections"])

    saved, explicit = faces(), faces("--threshold", "0.5", "--scales", "480", "860")
    assert 0 < saved < explicit  # no options: the folder's 0.97, not a CLI default of 0.8
    assert InferenceParams(threshold=np.float32(0.5)).threshold == 0.5  # numpy scalars become floats
    assert type(InferenceParams(threshold=np.float32(0.5)).threshold) is float


def test_detect_arrays_batch_equals_one_by_one(learner: RetinaFaceLearner, small_selfie: np.ndarray) -> None:
    images = [small_selfie, small_selfie[:240, :320].copy(), np.ascontiguousarray(small_selfie[:, ::-1])]
    batch = learner.detect_arrays_batch(images, threshold=0.6, scales=[480, 640])
    for image, got in zip(images, batch, strict=True):
        want = learner.detect_arrays(image, threshold=0.6, scales=[480, 640])
        assert len(got) == len(want) > 0
        np.testing.assert_allclose(got.boxes, want.boxes, atol=1e-3)
    assert learner.detect_arrays_batch([]) == []
    with pytest.raises(TypeError, match="list"):
        learner.detect_arrays_batch(small_selfie)
