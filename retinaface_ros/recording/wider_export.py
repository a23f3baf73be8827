"""Write frames and their detections in the WIDER FACE layout RetinaFace trains on:
``<root>/WIDER_<split>/images/<name>`` and ``<root>/WIDER_<split>/label.txt`` (``# <name>`` lines, then per
face ``x y w h`` and five ``x y 0.0`` landmark triples and the score), which
:class:`~retinaface_ros.datasets.WiderFaceDataset` and the Train action read."""

from __future__ import annotations

from pathlib import Path
from typing import TextIO

import cv2
import numpy as np

from retinaface_ros.detections import Detections


def label_lines(name: str, detections: Detections) -> list[str]:
    lines = [f"# {name}"]
    for (x1, y1, x2, y2), points, score in zip(
        detections.boxes.tolist(), detections.landmarks.tolist(), detections.scores.tolist(), strict=True
    ):
        landmarks = " ".join(f"{x:.2f} {y:.2f} 0.0" for x, y in points)
        lines.append(f"{x1:.2f} {y1:.2f} {x2 - x1:.2f} {y2 - y1:.2f} {landmarks} {score:.4f}")
    return lines


class WiderExporter:
    """Adds frames one by one; the label file is written as it goes (the caller stages ``root``)."""

    def __init__(self, root: Path, split: str = "train", jpeg_quality: int = 95) -> None:
        self.folder = Path(root) / f"WIDER_{split}"
        (self.folder / "images").mkdir(parents=True, exist_ok=True)
        self.jpeg_quality = jpeg_quality
        self._labels: TextIO = open(self.folder / "label.txt", "w", encoding="utf-8")  # noqa: SIM115
        self.images = 0
        self.faces = 0

    def add(self, name: str, image: np.ndarray, detections: Detections) -> None:
        target = self.folder / "images" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        ok, encoded = cv2.imencode(
            target.suffix or ".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, self.jpeg_quality]
        )
        if not ok:
            raise ValueError(f"cannot encode {name}")
        target.write_bytes(encoded.tobytes())
        self._labels.write("\n".join(label_lines(name, detections)) + "\n")
        self.images += 1
        self.faces += len(detections)

    def close(self) -> None:
        self._labels.close()
