"""`retinaface evaluate` on mini_wider (recall, AP, easy/medium/hard AP with .mat ground truth written for its
val split, --plot PR curves, --json) and `retinaface bench --plot` / `evaluate-predictions --plot`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import run_retinaface
from conftest import REPO_ROOT, shared_path
from training_helpers import mini_wider, mini_wider_root

from retinaface_ros.evaluation.wider_protocol import load_ground_truth

PNG = b"\x89PNG\r\n\x1a\n"


def _cell(items: list) -> np.ndarray:
    array = np.empty((len(items), 1), dtype=object)
    for index, item in enumerate(items):
        array[index, 0] = item
    return array


def write_mat_ground_truth(folder: Path) -> dict[str, int]:
    """wider_face_val.mat + wider_{easy,medium,hard}_val.mat for mini_wider's val split, in the official
    layout; the settings keep faces by height (easy ≥ 24 px, medium ≥ 16 px, hard all), as WIDER's nest.
    Returns the faces each setting keeps."""
    from scipy.io import savemat

    dataset = mini_wider("val")
    events: dict[str, list[tuple[str, np.ndarray]]] = {}
    for index in range(len(dataset)):
        event, image = dataset.name(index).split("/")
        boxes = dataset.annotations(index)[:, :4].astype(np.float64)
        events.setdefault(event, []).append((image, np.hstack([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]])))
    limits = {"easy": 24.0, "medium": 16.0, "hard": 0.0}
    names = list(events)
    savemat(
        folder / "wider_face_val.mat",
        {
            "event_list": _cell([np.array([name]) for name in names]),
            "file_list": _cell([_cell([np.array([image]) for image, _ in events[name]]) for name in names]),
            "face_bbx_list": _cell([_cell([boxes for _, boxes in events[name]]) for name in names]),
        },
    )
    kept = dict.fromkeys(limits, 0)
    for setting, low in limits.items():
        lists = []
        for name in names:
            keeps = [np.flatnonzero(boxes[:, 3] >= low)[:, None] + 1.0 for _, boxes in events[name]]
            kept[setting] += sum(len(k) for k in keeps)
            lists.append(_cell(keeps))
        savemat(folder / f"wider_{setting}_val.mat", {"gt_list": _cell(lists)})
    return kept


def test_mat_ground_truth_helper_round_trips(tmp_path: Path) -> None:
    kept = write_mat_ground_truth(tmp_path)
    truth = load_ground_truth(tmp_path)
    assert len(truth) == 8 and kept["hard"] == sum(len(b) for b in truth.boxes)
    assert 0 < kept["easy"] < kept["medium"] < kept["hard"]


@pytest.mark.slow
def test_evaluate_mini_wider_with_plot_and_json(mnet_weights, tmp_path: Path) -> None:
    write_mat_ground_truth(tmp_path)
    plot = tmp_path / "figures" / "pr.png"
    done = run_retinaface(
        *("evaluate", "--model", str(mnet_weights), "--dataset", str(mini_wider_root())),
        *("--ground-truth", str(tmp_path), "--single-pass", "--plot", str(plot), "--json", "--quiet"),
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout)
    assert results["num_images"] == 8 and results["num_faces"] == 151
    assert results["recall"] > 0.95 and results["ap"] > 0.9  # pseudo-labels of this model at score ≥ 0.6
    for setting in ("easy", "medium", "hard"):
        assert 0.5 < results[f"ap_{setting}"] <= 1.0
    assert results["plot"] == str(plot) and plot.read_bytes().startswith(PNG)


def test_evaluate_bad_arguments_are_one_line(mnet_weights, tmp_path: Path) -> None:
    done = run_retinaface("evaluate", "--model", str(mnet_weights), "--dataset", str(tmp_path / "none"))
    assert done.returncode == 2 and done.stderr.strip().startswith("retinaface: error: --dataset not found")
    done = run_retinaface(
        "evaluate", "--model", "m", "--dataset", str(tmp_path), "--plot", str(tmp_path / "pr.svg")
    )
    assert done.returncode == 2 and "--plot writes a PNG" in done.stderr


def test_bench_plot_of_a_saved_report(tmp_path: Path) -> None:
    saved = REPO_ROOT / "bench" / "results" / "cpu_2core.json"
    done = run_retinaface("bench", "--from-json", str(saved), "--plot", str(tmp_path / "saved.png"))
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "saved.png").read_bytes().startswith(PNG)
    (tmp_path / "bad.json").write_text('{"rows": 3}')
    done = run_retinaface(
        "bench", "--from-json", str(tmp_path / "bad.json"), "--plot", str(tmp_path / "x.png")
    )
    assert done.returncode == 2 and "not a `retinaface bench` report" in done.stderr
    assert not (tmp_path / "x.png").exists()


@pytest.mark.slow
def test_bench_run_with_plot(tmp_path: Path) -> None:
    weights = shared_path("models", "mobilenet0.25_Final.pth")
    done = run_retinaface(
        *("bench", "--backbones", "mnet", "--runtimes", "torch", "--inputs", "640x480", "--runs", "2"),
        *("--warmup", "1", "--weights", str(weights), "--plot", str(tmp_path / "run.png")),
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["rows"][0]["runtime"] == "torch"
    assert (tmp_path / "run.png").read_bytes().startswith(PNG)


def test_evaluate_predictions_plot(tmp_path: Path) -> None:
    golden = shared_path("golden", "wider_eval")
    plot = tmp_path / "wider.png"
    done = run_retinaface(
        *("evaluate-predictions", "--predictions", str(golden / "synthetic_predictions.npz")),
        *("--ground-truth", str(golden), "--plot", str(plot), "--json"),
    )
    assert done.returncode == 0, done.stderr
    expected = json.loads((golden / "expected_ap.json").read_text())["ap"]
    assert json.loads(done.stdout)["hard"] == pytest.approx(expected["hard"])
    assert plot.read_bytes().startswith(PNG)
