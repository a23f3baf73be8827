"""Training logs: TensorBoard event files of a real ``fit`` read back with tensorboard's EventAccumulator, and
`retinaface train` end to end (progress lines, model, stats, event files)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from cli_helpers import run_retinaface
from conftest import REPO_ROOT
from ros_helpers import PYTHON
from training_helpers import mini_wider, mini_wider_root

from retinaface_ros.learner import RetinaFaceLearner

pytest.importorskip("tensorboard", reason="tensorboard missing: pip install tensorboard")
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402

from retinaface_ros.training.progress_log import ProgressLog  # noqa: E402
from retinaface_ros.training.tensorboard_log import TensorBoardLog  # noqa: E402

SCALARS = {
    "train/loss",
    "train/loss_box",
    "train/loss_class",
    "train/loss_landmarks",
    "train/lr",
    "epoch/loss",
    "epoch/loss_box",
    "epoch/loss_class",
    "epoch/loss_landmarks",
    "epoch/lr",
    "val/recall",
    "val/ap",
}


def _events(folder: Path) -> EventAccumulator:
    accumulator = EventAccumulator(str(folder), size_guidance={"images": 0, "scalars": 0})
    accumulator.Reload()
    return accumulator


def test_fit_writes_losses_lr_validation_and_pictures(mnet_weights, tmp_path: Path) -> None:
    learner = RetinaFaceLearner(
        "mnet", device="cpu", epochs=1, batch_size=2, lr=1e-4, log_after=1, val_after=1
    )
    learner.load(mnet_weights, verbose=False)
    val = mini_wider("val", 2)
    board = TensorBoardLog(tmp_path / "tb", learner, val, images=2)
    lines: list[str] = []
    log = ProgressLog(lines.append)

    def callback(info: dict) -> None:
        log(info)
        board(info)

    history = learner.fit(
        mini_wider("train", 4), val, silent=True, verbose=False, image_size=160, callback=callback
    )
    board.close()
    events = _events(tmp_path / "tb")
    assert set(events.Tags()["scalars"]) == SCALARS
    losses = events.Scalars("train/loss")
    assert [e.step for e in losses] == [1, 2]  # 4 images, batch 2, a report every iteration
    assert events.Scalars("epoch/loss")[0].value == pytest.approx(history["loss"][0], rel=1e-5)
    assert events.Scalars("val/recall")[0].value == pytest.approx(history["val_recall"][0], rel=1e-5)
    assert events.Scalars("val/ap")[0].value == pytest.approx(history["val_ap"][0], rel=1e-5)
    pictures = [tag for tag in events.Tags()["images"] if tag.startswith("val/detections/")]
    assert pictures == [f"val/detections/{val.name(i)}" for i in range(2)]
    picture = events.Images(pictures[0])[0]
    height, width = val[0][0].shape[:2]
    assert (picture.height, picture.width) == (height, width) and picture.step == 1
    assert [line.split(":")[0] for line in lines] == [
        "epoch 1/1 iter 1/2",
        "epoch 1/1 iter 2/2",
        "epoch 1/1 done",
    ]
    assert "val recall" in lines[-1] and "ETA" in lines[0]


@pytest.mark.slow
def test_retinaface_train_one_epoch_on_mini_wider(mnet_weights, tmp_path: Path) -> None:
    root = mini_wider_root()
    out = tmp_path / "run"
    command = ["train", str(root), "--val-dataset-root", str(root)]
    command += ["--pretrained-model", str(mnet_weights), "--epochs", "1", "--batch-size", "8", "--lr", "1e-4"]
    command += [
        "--image-size",
        "160",
        "--log-after",
        "1",
        "--device",
        "cpu",
        "--output-path",
        str(out),
        "--json",
    ]
    done = run_retinaface(*command, timeout=600)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["success"] and summary["epochs_completed"] == 1 and 0 <= summary["val_recall"] <= 1
    assert "epoch 1/1 iter 1/2: loss" in done.stderr and "epoch 1/1 done" in done.stderr  # log lines
    assert "1/2" in done.stderr and "Traceback" not in done.stderr  # the bar
    model = Path(summary["model_path"])
    assert model == out / "retinaface_mnet"
    RetinaFaceLearner("mnet", device="cpu").load(model, verbose=False)
    stats = json.loads((out / "stats.json").read_text())
    assert stats["epochs_completed"] == 1 and stats["val_epoch"] == [1]
    assert (out / "checkpoints" / "checkpoint_epoch_1.pth").is_file()
    assert {"train/loss", "val/recall", "val/ap"} <= set(_events(out / "tensorboard").Tags()["scalars"])


def test_retinaface_train_bad_option_is_one_line(tmp_path: Path) -> None:
    done = run_retinaface("train", str(tmp_path), "--epochs", "ten", timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip() == "retinaface: error: epochs (--epochs): expected an integer, got 'ten'"


@pytest.mark.slow
def test_retinaface_train_ctrl_c_stops_with_a_checkpoint(tmp_path: Path) -> None:
    import signal

    from ros_helpers import wait_for

    out = tmp_path / "run"
    log = tmp_path / "stderr.txt"
    command = [PYTHON, "-m", "retinaface_ros.cli", "train", str(mini_wider_root()), "--from-scratch"]
    command += ["--epochs", "1000", "--batch-size", "2", "--image-size", "64", "--log-after", "1"]
    command += ["--device", "cpu", "--output-path", str(out), "--json"]
    with log.open("w") as stderr:
        process = subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=stderr, text=True)
    try:
        assert wait_for(lambda: "iter 2/8: loss" in log.read_text() or process.poll() is not None, 300.0)
        process.send_signal(signal.SIGINT)
        stdout, _ = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    text = log.read_text()
    assert process.returncode == 130, text
    assert "stopping at the next iteration" in text and "Traceback" not in text
    summary = json.loads(stdout)
    assert not summary["success"] and summary["epochs_completed"] == 0
    assert Path(summary["model_path"]).is_file() and summary["model_path"].startswith(
        str(out / "checkpoints")
    )
