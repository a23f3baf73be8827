"""TensorBoard event files of a training run: a ``fit`` callback.

Tags: ``train/loss``, ``train/loss_box``, ``train/loss_class``, ``train/loss_landmarks``, ``train/lr`` (every
report, step = iterations since the start of the run), ``epoch/loss*``, ``epoch/lr`` (step = epoch),
``val/recall``, ``val/ap`` and images ``val/detections/<image>`` (the first ``images`` validation images with
the detections of the validated weights, ground truth in white) after each validation.
View them with ``tensorboard --logdir DIR``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

LOGGER = logging.getLogger(__name__)
LOSS_KEYS = ("loss", "loss_box", "loss_class", "loss_landmarks")
IMAGE_LONG_SIDE = 640  # validation pictures are shrunk to this, to keep the event files small
IMAGE_THRESHOLD = 0.5


class TensorBoardLog:
    """Writes what ``fit`` reports (and pictures of validation images) to ``log_dir``.

    ``learner`` and ``val_dataset`` are needed for the pictures only. Call :meth:`close` at the end.
    """

    def __init__(self, log_dir: str | Path, learner: Any = None, val_dataset: Any = None, images: int = 3):
        from torch.utils.tensorboard import SummaryWriter  # needs the tensorboard package

        self.log_dir = Path(log_dir)
        self.writer = SummaryWriter(log_dir=str(self.log_dir))
        self.learner, self.val_dataset = learner, val_dataset
        self.images = min(images, len(val_dataset)) if val_dataset is not None else 0

    @classmethod
    def create(cls, log_dir: str | Path, learner: Any = None, val_dataset: Any = None, images: int = 3):
        """A :class:`TensorBoardLog`, or None (with one warning line) when tensorboard is not installed."""
        try:
            return cls(log_dir, learner, val_dataset, images)
        except ModuleNotFoundError as error:
            LOGGER.warning("no TensorBoard logs: %s is missing (pip install tensorboard)", error.name)
            return None

    def __call__(self, info: dict) -> None:
        event, epoch = info.get("event"), int(info["epoch"])
        if event == "iteration":
            step = epoch * int(info["iterations_per_epoch"]) + int(info["iteration"]) + 1
            for key in LOSS_KEYS:
                self.writer.add_scalar(f"train/{key}", info[key], step)
            self.writer.add_scalar("train/lr", info["lr"], step)
        elif event == "epoch_end":
            for key in LOSS_KEYS:
                self.writer.add_scalar(f"epoch/{key}", info[key], epoch + 1)
            self.writer.add_scalar("epoch/lr", info["lr"], epoch + 1)
            if info.get("validated"):
                self.writer.add_scalar("val/recall", info["val_recall"], epoch + 1)
                if info.get("val_ap", -1.0) >= 0:
                    self.writer.add_scalar("val/ap", info["val_ap"], epoch + 1)
                self._add_pictures(epoch + 1)
            self.writer.flush()

    def _add_pictures(self, step: int) -> None:
        """The first validation images with the learner's detections (its weights are the validated ones)."""
        if not self.images or self.learner is None:
            return
        import cv2

        from retinaface_ros.drawing import draw_bounding_boxes

        for index in range(self.images):
            image, annotations = self.val_dataset[index]
            height, width = image.shape[:2]  # at the original size, as the validation runs
            scales = (min(height, width), max(height, width))
            found = self.learner.detect_arrays(image, threshold=IMAGE_THRESHOLD, scales=scales)
            canvas = draw_bounding_boxes(image, found.to_bounding_boxes())
            for x1, y1, x2, y2 in np.asarray(annotations)[:, :4]:
                cv2.rectangle(canvas, (round(x1), round(y1)), (round(x2), round(y2)), (255, 255, 255), 1)
            factor = IMAGE_LONG_SIDE / max(canvas.shape[:2])
            if factor < 1:
                canvas = cv2.resize(canvas, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)
            name = self.val_dataset.name(index) if hasattr(self.val_dataset, "name") else str(index)
            self.writer.add_image(
                f"val/detections/{name}", canvas[:, :, ::-1].copy(), step, dataformats="HWC"
            )

    def close(self) -> None:
        self.writer.close()
