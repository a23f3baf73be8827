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

    from retinaface_ros.checkpoints import read_state_dict
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
