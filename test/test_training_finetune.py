"""Fine-tuning the pretrained RetinaFace-mnet on mini_wider: the loss falls and the recall holds."""

from __future__ import annotations

import json
import os

import pytest
import torch
from training_helpers import mini_wider

from retinaface_ros.learner import RetinaFaceLearner


@pytest.mark.slow
def test_finetune_pretrained_mnet_lowers_loss_and_keeps_recall(mnet_weights, tmp_path) -> None:
    torch.manual_seed(0)
    learner = RetinaFaceLearner(
        "mnet", device="cpu", epochs=2, batch_size=8, lr=1e-3, log_after=1, val_after=1, shuffle=False
    )
    learner.load(mnet_weights, verbose=False)
    val = mini_wider("val")
    start = learner.eval(val, verbose=False, pyramid=False, flip=False)["recall"]
    curve: list[float] = []
    history = learner.fit(
        mini_wider("train"),
        val_dataset=val,
        silent=True,
        verbose=False,
        image_size=320,
        augment=False,
        callback=lambda info: curve.append(info["loss"]) if info["event"] == "iteration" else None,
    )
    assert len(curve) == 4  # 16 images, batch 8, 2 epochs
    assert history["loss"][1] < history["loss"][0], history["loss"]
    assert history["val_epoch"] == [1, 2]
    assert min(history["val_recall"]) >= 0.9 * start, (start, history["val_recall"])
    end = learner.eval(val, verbose=False, pyramid=False, flip=False)["recall"]
    assert end == history["val_recall"][-1] and end >= 0.9 * start
    if os.environ.get("RETINAFACE_REPORT"):
        print(json.dumps({"start_recall": start, "iteration_losses": curve, **history}))
