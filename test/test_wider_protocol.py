"""The official WIDER FACE protocol: golden AP, a plain-loop cross-check, prediction I/O, bad input."""

from __future__ import annotations

import json
import os
import subprocess

import numpy as np
import pytest
from cli_helpers import run_retinaface
from conftest import REPO_ROOT, shared_path

from retinaface_ros.evaluation.wider_protocol import (
    SETTINGS,
    WiderGroundTruth,
    bbox_overlaps_inclusive,
    evaluate_wider,
    load_ground_truth,
    load_predictions,
    normalize_scores,
    voc_ap,
    write_predictions,
)
from retinaface_ros.io.atomic_files import TEMP_MARKER


@pytest.fixture(scope="module")
def golden_dir():
    return shared_path("golden", "wider_eval")


@pytest.fixture(scope="module")
def wider_gt(golden_dir):
    return load_ground_truth(golden_dir)


@pytest.fixture(scope="module")
def golden_predictions(golden_dir):
    return load_predictions(golden_dir / "synthetic_predictions.npz")


def _expected(golden_dir) -> dict[str, float]:
    return json.loads((golden_dir / "expected_ap.json").read_text())["ap"]


def test_golden_ap(golden_dir, wider_gt, golden_predictions):
    aps = evaluate_wider(golden_predictions, wider_gt)
    expected = _expected(golden_dir)
    for setting in SETTINGS:
        assert aps[setting] == pytest.approx(expected[setting], abs=1e-6)


def test_ground_truth_layout(wider_gt):
    assert len(wider_gt) == 3226
    assert all(b.shape[1] == 4 for b in wider_gt.boxes)
    # easy ⊆ medium ⊆ hard, 0-based and in range
    for boxes, easy, medium, hard in zip(
        wider_gt.boxes, wider_gt.keep["easy"], wider_gt.keep["medium"], wider_gt.keep["hard"], strict=True
    ):
        assert set(easy) <= set(medium) <= set(hard)
        assert all(0 <= i < len(boxes) for i in hard)


def test_txt_round_trip(tmp_path, golden_dir, wider_gt, golden_predictions):
    written = write_predictions(golden_predictions, tmp_path / "txt")
    assert len(written) == len(golden_predictions)
    lines = written[0].read_text().splitlines()
    assert lines[0] == written[0].stem and int(lines[1]) == len(lines) - 2
    scores = [float(line.split()[4]) for line in lines[2:]]
    assert scores == sorted(scores, reverse=True)
    assert not list((tmp_path / "txt").rglob(f"*{TEMP_MARKER}*"))  # no atomic-write temp file left
    loaded = load_predictions(tmp_path / "txt")
    aps = evaluate_wider(loaded, wider_gt)
    for setting, value in _expected(golden_dir).items():
        assert aps[setting] == pytest.approx(value, abs=1e-6)


def _reference_loop(predictions: dict[str, np.ndarray], gt: WiderGroundTruth, thresh_num: int = 1000):
    """The reference algorithm, written as plain per-prediction / per-threshold loops."""
    preds = {k: v.astype(float).copy() for k, v in predictions.items()}
    max_s = max([0.0] + [v[:, 4].max() for v in preds.values() if len(v)])
    min_s = min([1.0] + [v[:, 4].min() for v in preds.values() if len(v)])
    for v in preds.values():
        if len(v):
            v[:, 4] = (v[:, 4] - min_s) / (max_s - min_s)
    aps = {}
    for setting in SETTINGS:
        curve = np.zeros((thresh_num, 2))
        faces = 0
        for name, boxes, keep in zip(gt.names, gt.boxes, gt.keep[setting], strict=True):
            pred = preds[name]
            faces += len(keep)
            if not len(boxes) or not len(pred):
                continue
            ignore = np.zeros(len(boxes))
            ignore[keep] = 1
            p, g = pred.copy(), boxes.copy()
            p[:, 2:4] += p[:, :2]
            g[:, 2:4] += g[:, :2]
            overlaps = bbox_overlaps_inclusive(p[:, :4], g)
            recall_list = np.zeros(len(g))
            proposal = np.ones(len(p))
            pred_recall = np.zeros(len(p))
            for h in range(len(p)):
                j = overlaps[h].argmax()
                if overlaps[h, j] >= 0.5:
                    if ignore[j] == 0:
                        recall_list[j] = -1
                        proposal[h] = -1
                    elif recall_list[j] == 0:
                        recall_list[j] = 1
                pred_recall[h] = (recall_list == 1).sum()
            for t in range(thresh_num):
                above = np.where(pred[:, 4] >= 1 - (t + 1) / thresh_num)[0]
                if len(above):
                    r = above[-1]
                    curve[t] += [(proposal[: r + 1] == 1).sum(), pred_recall[r]]
        with np.errstate(divide="ignore", invalid="ignore"):
            precision = np.nan_to_num(curve[:, 1] / curve[:, 0])
        aps[setting] = voc_ap(curve[:, 1] / faces, precision)
    return aps


def test_matches_plain_loop_on_crowded_random_images():
    """Duplicates, ignored faces and ties: the vectorised code agrees with the literal algorithm."""
    rng = np.random.default_rng(3)
    names, boxes, keep, predictions = [], [], {s: [] for s in SETTINGS}, {}
    for i in range(12):
        n = int(rng.integers(1, 15))
        gt = np.column_stack([rng.uniform(0, 300, (n, 2)), rng.uniform(5, 60, (n, 2))]).round()
        hard = np.flatnonzero(rng.random(n) < 0.8)
        medium = hard[rng.random(len(hard)) < 0.7]
        easy = medium[rng.random(len(medium)) < 0.6]
        names.append(f"ev/img_{i}")
        boxes.append(gt)
        for s, k in zip(SETTINGS, (easy, medium, hard), strict=True):
            keep[s].append(k)
        jitter = gt[rng.integers(0, n, 2 * n)] + rng.normal(0, 3, (2 * n, 4))
        false = np.column_stack([rng.uniform(0, 300, (n, 2)), rng.uniform(5, 60, (n, 2))])
        pred = np.vstack([jitter, false])
        scores = rng.choice([0.3, 0.5, 0.7, 0.9, 0.95], len(pred))
        pred = np.column_stack([pred, scores])
        predictions[names[-1]] = pred[np.argsort(-pred[:, 4], kind="stable")]
    gt = WiderGroundTruth(tuple(names), tuple(boxes), {s: tuple(v) for s, v in keep.items()})
    fast = evaluate_wider(predictions, gt)
    slow = _reference_loop(predictions, gt)
    for setting in SETTINGS:
        assert fast[setting] == pytest.approx(slow[setting], abs=1e-12)
        assert 0.0 < fast[setting] <= 1.0


def test_bbox_overlaps_inclusive_hand_case():
    a = np.array([[0.0, 0.0, 9.0, 9.0]])  # 10 x 10 pixels
    b = np.array([[5.0, 0.0, 14.0, 9.0], [20.0, 20.0, 30.0, 30.0]])  # overlaps 5 x 10; disjoint
    overlaps = bbox_overlaps_inclusive(a, b)
    assert overlaps[0, 0] == pytest.approx(50 / 150)
    assert overlaps[0, 1] == 0.0


def test_voc_ap_envelope():
    assert voc_ap(np.array([0.5, 1.0]), np.array([1.0, 0.5])) == pytest.approx(0.75)
    assert voc_ap(np.array([0.5, 0.5, 1.0]), np.array([0.2, 1.0, 0.5])) == pytest.approx(0.75)


def test_missing_images_count_as_no_detections(wider_gt, golden_predictions):
    some = dict(list(golden_predictions.items())[:100])
    partial = evaluate_wider(some, wider_gt)
    full = evaluate_wider(golden_predictions, wider_gt)
    assert all(partial[s] < full[s] for s in SETTINGS)
    with pytest.raises(ValueError, match="no predictions"):
        evaluate_wider(some, wider_gt, strict=True)


def test_scores_normalise_from_max_0_and_min_1():
    """The official running max starts at 0 and the min at 1: scores above 1 normalise against 1, not against
    their own minimum (plain min-max would stretch 1.50..1.52 over 0..1)."""
    predictions = {"a/1": np.array([[0, 0, 5, 5, 1.5], [0, 0, 5, 5, 1.52]]), "a/2": np.zeros((0, 5))}
    normalize_scores(predictions)
    np.testing.assert_allclose(predictions["a/1"][:, 4], [0.5 / 0.52, 1.0])
    inside = {"b/1": np.array([[0, 0, 5, 5, 0.3], [0, 0, 5, 5, 0.9]])}
    normalize_scores(inside)
    np.testing.assert_allclose(inside["b/1"][:, 4], [0.0, 1.0])


def test_a_setting_without_faces_has_nan_ap(wider_gt, golden_predictions):
    """Part of the set can lack a setting's faces (615 val images have hard faces and no easy one)."""
    index = next(
        i for i in range(len(wider_gt)) if len(wider_gt.keep["hard"][i]) and not len(wider_gt.keep["easy"][i])
    )
    part = wider_gt.subset({wider_gt.names[index]})
    aps = evaluate_wider(golden_predictions, part)
    assert np.isnan(aps["easy"]) and 0 <= aps["hard"] <= 1


def test_unreadable_ground_truth_and_predictions_get_one_line_errors(tmp_path, golden_dir):
    for name in ("wider_face_val.mat", "wider_easy_val.mat", "wider_medium_val.mat", "wider_hard_val.mat"):
        (tmp_path / name).write_bytes(b"MATLAB 5.0 junk")
    with pytest.raises(ValueError, match=r"wider_face_val\.mat is not a readable MATLAB file"):
        load_ground_truth(tmp_path)
    broken = tmp_path / "broken.npz"
    broken.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match=r"broken\.npz is not a readable \.npz"):
        load_predictions(broken)
    pickled = tmp_path / "objects.npz"
    np.savez(pickled, **{"ev/img": np.array([object()], dtype=object)})
    with pytest.raises(ValueError, match=r"holds Python objects \(pickles are never loaded\)") as caught:
        load_predictions(pickled)
    assert "allow_pickle" not in str(caught.value)


def test_bad_inputs(tmp_path, golden_dir, wider_gt):
    with pytest.raises(FileNotFoundError):
        load_ground_truth(tmp_path)
    with pytest.raises(FileNotFoundError):
        load_predictions(tmp_path / "nothing")
    with pytest.raises(ValueError, match="no prediction matches"):
        evaluate_wider({"ev/unknown": np.zeros((1, 5))}, wider_gt)
    with pytest.raises(ValueError, match="N x 5"):
        evaluate_wider({wider_gt.names[0]: np.zeros((3, 4))}, wider_gt)
    with pytest.raises(TypeError):
        evaluate_wider([np.zeros((1, 5))], wider_gt)
    with pytest.raises(ValueError, match="no <event>"):
        load_predictions(tmp_path)
    (tmp_path / "preds.txt").write_text("x")
    with pytest.raises(ValueError, match=r"\.npz"):
        load_predictions(tmp_path / "preds.txt")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("img\n", "count line"),
        ("img\ntwo\n", "number of boxes"),
        ("img\n2\n1 2 3 4 0.5\n", "count line says 2"),
        ("img\n1\n1 2 3 4\n", r":3: expected"),
        ("img\n1\n1 2 a 4 0.5\n", r":3: expected"),
    ],
)
def test_malformed_prediction_txt(tmp_path, content, message):
    (tmp_path / "ev").mkdir()
    (tmp_path / "ev" / "img.txt").write_text(content)
    with pytest.raises(ValueError, match=message):
        load_predictions(tmp_path)


def _evaluate_predictions_cli(*args: str) -> subprocess.CompletedProcess:
    """``retinaface evaluate-predictions ARGS`` in a child process."""
    return run_retinaface(
        "evaluate-predictions", *args, env={**os.environ, "PYTHONPATH": str(REPO_ROOT)}, timeout=120
    )


def test_cli_evaluate_predictions_json(golden_dir):
    npz = str(golden_dir / "synthetic_predictions.npz")
    result = _evaluate_predictions_cli("--predictions", npz, "--ground-truth", str(golden_dir), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    for setting, value in _expected(golden_dir).items():
        assert report[setting] == pytest.approx(value, abs=1e-6)
    assert report["seconds"] > 0


def test_cli_notes_ground_truth_images_without_predictions(tmp_path, golden_dir, golden_predictions):
    part = tmp_path / "part.npz"
    np.savez(part, **dict(list(golden_predictions.items())[:100]))
    result = _evaluate_predictions_cli("--predictions", str(part), "--ground-truth", str(golden_dir))
    assert result.returncode == 0, result.stderr
    assert "have no predictions and count as images without detections" in result.stderr
    assert [line.split()[0] for line in result.stdout.splitlines()[1:4]] == list(SETTINGS)


def test_cli_evaluate_predictions_bad_input(tmp_path, golden_dir):
    missing = str(tmp_path / "missing.npz")
    result = _evaluate_predictions_cli("--predictions", missing, "--ground-truth", str(golden_dir))
    assert result.returncode == 2
    assert "predictions not found" in result.stderr
