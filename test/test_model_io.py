"""OpenDR model folders: round trips, atomic replacement, and refusals that leave the learner unchanged."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import shared_path

from retinaface_ros import RetinaFaceLearner
from retinaface_ros.detections import InferenceParams


@pytest.fixture(scope="module")
def golden_input() -> np.ndarray:
    return np.load(shared_path("golden", "reference_mnet_raw_320x240.npz"))["input_bgr_uint8"]


@pytest.fixture(scope="module")
def saved_mnet(tmp_path_factory, mnet_weights) -> Path:
    learner = RetinaFaceLearner(backbone="mnet", device="cpu")
    learner.load(mnet_weights, verbose=False)
    learner.inference_params = InferenceParams(0.6, 0.35, (240, 320), 0.7)
    return learner.save(tmp_path_factory.mktemp("models") / "mnet_model", verbose=False)


@pytest.fixture()
def learner(mnet_weights) -> RetinaFaceLearner:
    learner = RetinaFaceLearner(backbone="mnet", device="cpu")
    learner.load(mnet_weights, verbose=False)
    return learner


def detections(learner: RetinaFaceLearner, image: np.ndarray) -> np.ndarray:
    found = learner.detect_arrays(image, threshold=0.5, nms_threshold=0.4, scales=image.shape[:2])
    return np.concatenate([found.boxes, found.scores[:, None]], axis=1)


def test_mnet_round_trip(saved_mnet: Path, learner: RetinaFaceLearner, golden_input) -> None:
    assert sorted(p.name for p in saved_mnet.iterdir()) == ["mnet_model.json", "mnet_model.pth"]
    meta = json.loads((saved_mnet / "mnet_model.json").read_text())
    assert meta["model_paths"] == ["mnet_model.pth"]
    assert (meta["framework"], meta["format"], meta["has_data"], meta["optimized"]) == (
        "pytorch",
        "pth",
        False,
        False,
    )
    assert meta["backbone"] == "mnet" and meta["has_mask_head"] is False
    assert meta["inference_params"] == {
        "threshold": 0.6,
        "nms_threshold": 0.35,
        "scales": [240, 320],
        "mask_thresh": 0.7,
    }
    state = torch.load(saved_mnet / "mnet_model.pth", weights_only=True)
    assert all(isinstance(v, torch.Tensor) for v in state.values())

    loaded = RetinaFaceLearner(backbone="mnet", device="cpu")
    loaded.load(saved_mnet, verbose=False)
    assert loaded.inference_params == InferenceParams(0.6, 0.35, (240, 320), 0.7)
    for key, value in learner.model.state_dict().items():
        assert torch.equal(value, loaded.model.state_dict()[key]), key
    np.testing.assert_array_equal(detections(loaded, golden_input), detections(learner, golden_input))
    again = RetinaFaceLearner(backbone="mnet", device="cpu")
    again.load(saved_mnet / "mnet_model.json", verbose=False)  # the .json path works too
    assert again.model is not None


def test_resnet_round_trip(tmp_path: Path) -> None:
    learner = RetinaFaceLearner(backbone="resnet", device="cpu")
    learner.init_model()
    folder = learner.save(tmp_path / "r50", verbose=False)
    loaded = RetinaFaceLearner(backbone="resnet", device="cpu")
    loaded.load(folder, verbose=False)
    for key, value in learner.model.state_dict().items():
        assert torch.equal(value, loaded.model.state_dict()[key]), key
    x = torch.rand(1, 3, 64, 64)
    with torch.inference_mode():
        for ours, theirs in zip(learner.model(x), loaded.model(x), strict=True):
            torch.testing.assert_close(ours, theirs)


def test_save_replaces_atomically_and_refuses_foreign_folders(
    learner: RetinaFaceLearner, tmp_path: Path
) -> None:
    target = tmp_path / "m"
    learner.save(target, verbose=False)
    first = (target / "m.pth").stat().st_ino
    learner.save(target, verbose=False)  # replace an existing model folder
    assert (target / "m.pth").stat().st_ino != first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"], "temp / old folders left behind"
    foreign = tmp_path / "notes"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("mine")
    with pytest.raises(ValueError, match="not a model folder"):
        learner.save(foreign, verbose=False)
    assert (foreign / "keep.txt").read_text() == "mine"
    with pytest.raises(ValueError, match="no model"):
        RetinaFaceLearner(backbone="mnet", device="cpu").save(tmp_path / "empty", verbose=False)
    assert not (tmp_path / "empty").exists()
    # a .json path names the folder's metadata file: saved where load() finds it, or refused
    saved = learner.save(tmp_path / "j" / "j.json", verbose=False)
    assert saved == tmp_path / "j" and (saved / "j.json").is_file()
    RetinaFaceLearner(backbone="mnet", device="cpu").load(tmp_path / "j" / "j.json", verbose=False)
    with pytest.raises(ValueError, match="<folder>/<folder>.json"):
        learner.save(tmp_path / "out" / "model.json", verbose=False)
    assert not (tmp_path / "out").exists()


def test_files_that_are_not_checkpoints_get_a_one_line_reason(tmp_path: Path) -> None:
    from fractions import Fraction

    from retinaface_ros.io.state_dicts import read_state_dict

    image = tmp_path / "photo.pth"
    image.write_bytes(b"\xff\xd8\xff\xe0" + bytes(100))
    with pytest.raises(ValueError, match="is not a PyTorch checkpoint") as caught:
        read_state_dict(image)
    assert "\n" not in str(caught.value)
    pickled = tmp_path / "objects.pth"
    torch.save({"weight": Fraction(1, 3)}, pickled)
    with pytest.raises(ValueError, match="objects other than tensors") as caught:
        read_state_dict(pickled)
    assert "\n" not in str(caught.value) and "weights_only" not in str(caught.value)  # no advice to unpickle


def _rewrite_json(folder: Path, **changes) -> None:
    path = folder / f"{folder.name}.json"
    meta = json.loads(path.read_text())
    meta.update(changes)
    path.write_text(json.dumps(meta))


def _break_weights(folder: Path, how: str) -> None:
    file = folder / f"{folder.name}.pth"
    data = file.read_bytes()
    if how == "empty":
        file.write_bytes(b"")
    elif how == "truncated":
        file.write_bytes(data[: len(data) // 2])
    elif how == "shape":
        state = torch.load(file, weights_only=True)
        state["ClassHead.0.conv1x1.weight"] = torch.zeros(7, 64, 1, 1)
        torch.save(state, file)
    elif how == "missing_key":
        state = torch.load(file, weights_only=True)
        state.pop("ClassHead.0.conv1x1.weight")
        torch.save(state, file)
    elif how == "code":
        torch.save({"body.stage1.0.0.weight": _Payload()}, file)


class _Payload:
    def __reduce__(self):
        return (print, ("pickled code ran",))


REFUSALS = {
    "missing_json": (lambda f: (f / f"{f.name}.json").unlink(), FileNotFoundError),
    "garbled_json": (lambda f: (f / f"{f.name}.json").write_text("{not json"), ValueError),
    "json_not_object": (lambda f: (f / f"{f.name}.json").write_text("[1, 2]"), ValueError),
    "parent_path": (lambda f: _rewrite_json(f, model_paths=["../other/x.pth"]), ValueError),
    "absolute_path": (lambda f: _rewrite_json(f, model_paths=["/etc/passwd"]), ValueError),
    "missing_file": (lambda f: _rewrite_json(f, model_paths=["nope.pth"]), FileNotFoundError),
    "wrong_backbone": (lambda f: _rewrite_json(f, backbone="resnet"), ValueError),
    "bad_framework": (lambda f: _rewrite_json(f, framework="tensorflow"), ValueError),
    "bad_params": (lambda f: _rewrite_json(f, inference_params={"threshold": 3.0}), ValueError),
    "wrong_mask_flag": (lambda f: _rewrite_json(f, has_mask_head=True), ValueError),
    "shape_mismatch": (lambda f: _break_weights(f, "shape"), ValueError),
    "missing_key": (lambda f: _break_weights(f, "missing_key"), ValueError),
    "pickle_with_code": (lambda f: _break_weights(f, "code"), ValueError),
    "empty_file": (lambda f: _break_weights(f, "empty"), ValueError),
    "truncated_file": (lambda f: _break_weights(f, "truncated"), ValueError),
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_refused_folders_leave_learner_unchanged(
    case: str, saved_mnet: Path, learner: RetinaFaceLearner, golden_input, tmp_path: Path, capsys
) -> None:
    folder = tmp_path / saved_mnet.name
    shutil.copytree(saved_mnet, folder)
    damage, error = REFUSALS[case]
    damage(folder)
    model, params, before = learner.model, learner.inference_params, detections(learner, golden_input)
    with pytest.raises(error):
        learner.load(folder, verbose=False)
    assert learner.model is model and learner.inference_params is params and learner.ort_session is None
    np.testing.assert_array_equal(detections(learner, golden_input), before)
    assert "pickled code ran" not in capsys.readouterr().out


def test_link_escaping_the_folder_is_refused(
    saved_mnet: Path, learner: RetinaFaceLearner, tmp_path: Path
) -> None:
    folder = tmp_path / saved_mnet.name
    shutil.copytree(saved_mnet, folder)
    (folder / "link.pth").symlink_to(shared_path("models", "mobilenet0.25_Final.pth"))
    _rewrite_json(folder, model_paths=["link.pth"])
    model = learner.model
    with pytest.raises(ValueError, match="escapes"):
        learner.load(folder, verbose=False)
    assert learner.model is model


def test_saved_inference_params_are_the_defaults_after_load(saved_mnet: Path, golden_input) -> None:
    loaded = RetinaFaceLearner(backbone="mnet", device="cpu")
    loaded.load(saved_mnet, verbose=False)  # saved with InferenceParams(0.6, 0.35, (240, 320), 0.7)

    def rows(found) -> np.ndarray:
        return np.concatenate([found.boxes, found.scores[:, None]], axis=1)

    implicit = rows(loaded.detect_arrays(golden_input))
    np.testing.assert_array_equal(
        implicit, rows(loaded.detect_arrays(golden_input, 0.6, 0.35, (240, 320), 0.7))
    )
    assert len(implicit) and implicit[:, 4].min() >= 0.6
    boxes = loaded.infer(golden_input)
    assert len(boxes) == len(implicit) and len(loaded.infer_batch([golden_input])[0]) == len(implicit)
    strict = loaded.infer(golden_input, threshold=0.95)  # explicit arguments win
    assert all(box.confidence >= 0.95 for box in strict) and len(strict) < len(boxes)
    assert len(loaded.detect_arrays(golden_input, nms_threshold=None)) > len(implicit)  # None: no NMS
    fresh = RetinaFaceLearner(backbone="mnet", device="cpu")
    assert fresh.inference_params == InferenceParams()  # 0.8, 0.4, (1024, 1980), 0.8 without a folder


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="no /proc: the umask is read via os.umask")
def test_current_umask_does_not_change_it(monkeypatch) -> None:
    from retinaface_ros.io.atomic_files import current_umask

    old = os.umask(0o027)
    try:
        with monkeypatch.context() as patch:  # setting it, even briefly, would affect every thread
            patch.setattr(os, "umask", lambda mask: pytest.fail(f"os.umask({mask:o}) called"))
            assert current_umask() == 0o027
    finally:
        os.umask(old)
