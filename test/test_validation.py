"""One set of bounds for every entry point (#16 item 4), non-finite weights refused at load (#16 item 5), and
Train goal numbers where only 0 means "default" (#16 item 7)."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from training_helpers import blank_goal, mini_wider_root

from retinaface_ros import validation
from retinaface_ros.cli import main
from retinaface_ros.detections import InferenceParams
from retinaface_ros.learner import RetinaFaceLearner
from retinaface_ros.ros.params import DetectorParams, ParameterError
from retinaface_ros.training.goal import (
    GOAL_NUMBERS,
    TrainerDefaults,
    goal_to_job,
    pretrained_kind,
    validation_dataset,
)
from retinaface_ros.validation import (
    MAX_SCALE,
    MIN_SCALE,
    ResourceError,
    check_scales,
    check_training_value,
    detection_cost,
    scales_note,
)


# ------------------------------------------------------------------------------------------ item 4: bounds
@pytest.mark.parametrize(
    "scales", [[MIN_SCALE - 1, 640], [640, MAX_SCALE + 1], [100000, 100000], [640.0, 480], [640], "640,480"]
)
def test_scales_bounds_agree_for_core_node_and_command(scales, tmp_path, capsys) -> None:
    """Before: the core and the CLI accepted [100000, 100000] (22.5 GB peak); only the node capped it."""
    with pytest.raises((TypeError, ValueError)):
        check_scales(scales)
    with pytest.raises((TypeError, ValueError)):
        InferenceParams(scales=scales)
    with pytest.raises(ParameterError):
        DetectorParams.from_values({"scales": scales})


def test_scales_at_the_bounds_are_accepted_everywhere() -> None:
    for scales in ([MIN_SCALE, MIN_SCALE], [MAX_SCALE, MAX_SCALE], [640, 480]):
        assert InferenceParams(scales=scales).scales == tuple(scales)
        assert DetectorParams.from_values({"scales": scales}).scales == tuple(scales)
    assert scales_note((640, 1080)) is None and "did you mean [640, 1080]" in scales_note((1080, 640))


def test_detect_command_refuses_huge_and_reversed_scales(tmp_path, mnet_weights, capsys) -> None:
    image = tmp_path / "x.png"
    image.write_bytes(b"")  # never read: the scales are refused first
    assert main(["detect", str(image), "--model", str(mnet_weights), "--scales", "100000", "100000"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"[{MIN_SCALE}, {MAX_SCALE}]" in err
    assert main(["detect", str(image), "--model", str(mnet_weights), "--scales", "1080", "640"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "target SHORT side" in err and "did you mean [640, 1080]" in err


@pytest.mark.parametrize(
    ("name", "bad"),
    [("lr", 0.0), ("lr", -1.0), ("lr", math.nan), ("lr", math.inf), ("batch_size", 0), ("batch_size", 5000)]
    + [("epochs", -5), ("epochs", 10**7), ("momentum", 1.5), ("val_after", -1)],
)
def test_training_bounds_agree_for_learner_and_goal(name, bad, tmp_path) -> None:
    with pytest.raises((TypeError, ValueError), match=name):
        check_training_value(name, bad)
    with pytest.raises((TypeError, ValueError), match=name):
        RetinaFaceLearner(backbone="mnet", device="cpu", **{name: bad})
    if name in GOAL_NUMBERS and bad != 0:  # 0 is the goal's "default"; momentum is not a goal field
        with pytest.raises(ValueError, match=name):
            goal_to_job(blank_goal(dataset_root=str(mini_wider_root()), **{name: bad}), TrainerDefaults())


def test_device_and_fp16_checks() -> None:
    for device in ("gpu", "cuda:x", "CPU", ""):
        with pytest.raises(ValueError, match="device must be"):
            RetinaFaceLearner(backbone="mnet", device=device)
    with pytest.raises(ValueError, match="fp16=True needs a CUDA device"):
        RetinaFaceLearner(backbone="mnet", device="cpu", fp16=True)


def test_detection_cost_grows_with_scales_and_batch() -> None:
    small = detection_cost([(480, 640)], (480, 640), "mnet")
    assert small.network_pixels == 480 * 640
    assert detection_cost([(480, 640)] * 4, (480, 640), "mnet").bytes == 4 * small.bytes
    assert detection_cost([(480, 640)], (480, 640), "resnet").bytes > 4 * small.bytes
    upscaled = detection_cost([(480, 640)], (MAX_SCALE, MAX_SCALE), "mnet")  # long side 8192
    assert upscaled.network_pixels == 6144 * 8192


def test_a_detection_that_cannot_fit_is_refused(monkeypatch, mnet_learner) -> None:
    """Before: the call ran until the machine ran out of memory."""
    frame = np.zeros((480, 640, 3), np.uint8)
    need = detection_cost([frame.shape[:2]], (MAX_SCALE, MAX_SCALE), "mnet").bytes
    monkeypatch.setattr(validation, "available_memory", lambda: need // 2)  # as if the RAM were half that
    for call in (mnet_learner.detect_arrays, mnet_learner.infer):
        with pytest.raises(ResourceError, match=r"needs about .* GiB but only .* GiB is available"):
            call(frame, scales=[MAX_SCALE, MAX_SCALE])
    with pytest.raises(ResourceError):
        mnet_learner.detect_arrays_batch([frame, frame], scales=[MAX_SCALE, MAX_SCALE])
    assert len(mnet_learner.detect_arrays(frame, scales=[240, 320])) == 0  # small calls still run
    with pytest.raises(ValueError, match="at most 256 images"):
        mnet_learner.detect_arrays_batch([frame] * 257, scales=[16, 16])


def test_detect_command_refuses_what_cannot_fit(monkeypatch, tmp_path, mnet_weights, capsys) -> None:
    import cv2

    image = tmp_path / "x.png"
    image.write_bytes(cv2.imencode(".png", np.zeros((480, 640, 3), np.uint8))[1].tobytes())
    monkeypatch.setattr(validation, "available_memory", lambda: 2**30)  # 1 GiB
    assert main(["detect", str(image), "--model", str(mnet_weights), "--scales", "6000", "8000"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "needs about" in err and "only 1.0 GiB is available" in err


# -------------------------------------------------------------------------------- item 5: non-finite weights
def _nan_state(mnet_weights: Path) -> tuple[dict[str, torch.Tensor], str]:
    state = torch.load(mnet_weights, map_location="cpu", weights_only=True)
    state = {key.removeprefix("module."): value for key, value in state.items()}
    first_float = next(key for key, value in state.items() if value.is_floating_point())
    victim = next(key for key in state if key.startswith("ssh1.") and state[key].is_floating_point())
    state[victim] = torch.full_like(state[victim], math.nan)
    assert victim != first_float
    return state, victim


def test_non_finite_weights_are_refused_everywhere(tmp_path, mnet_weights) -> None:
    """Before: a NaN state dict loaded ("model reloaded") and every output was empty."""
    state, victim = _nan_state(mnet_weights)
    nan_file = tmp_path / "nan.pth"
    torch.save(state, nan_file)
    learner = RetinaFaceLearner(backbone="mnet", device="cpu")
    with pytest.raises(ValueError, match=rf"nan\.pth: tensor '{victim}' holds NaN") as caught:
        learner.load(nan_file, verbose=False)
    assert "\n" not in str(caught.value) and learner.model is None
    with pytest.raises(ValueError, match="holds NaN"):
        learner.load_state_dict(state, source="in memory")
    with pytest.raises(ValueError, match=rf"nan\.pth: tensor '{victim}'"):
        pretrained_kind(nan_file)  # the trainer's pretrained_model
    good = RetinaFaceLearner(backbone="mnet", device="cpu")
    good.load(mnet_weights, verbose=False)
    folder = good.save(tmp_path / "model", verbose=False)
    torch.save({**state, victim: torch.full_like(state[victim], math.inf)}, folder / "model.pth")
    with pytest.raises(ValueError, match=rf"model\.pth: tensor '{victim}' holds NaN or infinite"):
        learner.load(folder, verbose=False)


def test_the_detector_node_refuses_a_non_finite_model(tmp_path, mnet_weights) -> None:
    from retinaface_ros.ros.detector_node import load_model

    state, victim = _nan_state(mnet_weights)
    torch.save(state, tmp_path / "nan.pth")
    params = DetectorParams.from_values({"model_path": str(tmp_path / "nan.pth"), "device": "cpu"})
    with pytest.raises(ValueError, match=rf"tensor '{victim}' holds NaN"):
        load_model(params)


# ----------------------------------------------------------------------------------------- item 7: goals
@pytest.mark.parametrize(
    ("field", "value"),
    [("epochs", -5), ("batch_size", -3), ("lr", -1.0), ("lr", math.nan), ("lr", -math.inf)]
    + [("checkpoint_after_iter", -1), ("checkpoint_load_iter", -2), ("val_after", -1)],
)
def test_bad_goal_numbers_abort_with_the_reason(field, value, tmp_path) -> None:
    """Before: epochs=-5 started a 100-epoch run; batch_size=-3 and lr=-1 trained with the defaults."""
    goal = blank_goal(dataset_root=str(mini_wider_root()), output_path=str(tmp_path), **{field: value})
    with pytest.raises(ValueError, match=rf"goal field {field} must be") as caught:
        goal_to_job(goal, TrainerDefaults())
    assert str(value) in str(caught.value)


def test_zero_goal_numbers_take_the_defaults_and_positive_ones_pass(tmp_path) -> None:
    root = str(mini_wider_root())
    job = goal_to_job(blank_goal(dataset_root=root, output_path=str(tmp_path)), TrainerDefaults())
    assert not {"epochs", "batch_size", "lr"} & set(job.learner_kwargs)
    job = goal_to_job(blank_goal(dataset_root=root, epochs=3, batch_size=4, lr=0.01), TrainerDefaults())
    assert (job.learner_kwargs["epochs"], job.learner_kwargs["batch_size"]) == (3, 4)
    assert job.learner_kwargs["lr"] == pytest.approx(0.01)


def test_a_bad_validation_root_is_named_as_the_validation_set(tmp_path) -> None:
    """Before: val_dataset_root='/' was reported as a missing *train* split."""
    root = str(mini_wider_root())
    with pytest.raises(FileNotFoundError, match=r"val_dataset_root / is not a WIDER FACE validation set"):
        goal_to_job(blank_goal(dataset_root=root, val_dataset_root="/"), TrainerDefaults())
    empty_split = tmp_path / "val"
    (empty_split / "WIDER_val").mkdir(parents=True)  # the folder, but no annotations
    job = goal_to_job(blank_goal(dataset_root=root, val_dataset_root=str(empty_split)), TrainerDefaults())
    with pytest.raises(FileNotFoundError, match=r"val_dataset_root .* is not a usable validation set"):
        validation_dataset(job.val_dataset_root)
    assert len(validation_dataset(Path(root))) > 0


def test_an_onnx_folder_with_non_finite_weights_is_refused(tmp_path, mnet_weights) -> None:
    onnx = pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from onnx import numpy_helper

    learner = RetinaFaceLearner(backbone="mnet", device="cpu")
    learner.load(mnet_weights, verbose=False)
    learner.optimize()
    folder = learner.save(tmp_path / "optimized", verbose=False)
    model = onnx.load(folder / "optimized.onnx")
    victim = next(i for i in model.graph.initializer if numpy_helper.to_array(i).dtype.kind == "f")
    values = numpy_helper.to_array(victim).copy()
    values.flat[0] = np.inf
    victim.CopyFrom(numpy_helper.from_array(values, victim.name))
    onnx.save(model, folder / "optimized.onnx")
    fresh = RetinaFaceLearner(backbone="mnet", device="cpu")
    bad = rf"optimized\.onnx: initializer '{re.escape(victim.name)}' holds NaN or infinite"
    with pytest.raises(ValueError, match=bad):
        fresh.load(folder, verbose=False)
    assert fresh.ort_session is None
