"""What every postprocess variant takes: one forward pass's head outputs and how to map them back."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from retinaface_ros.detections import InferenceParams


@dataclass(frozen=True)
class PostprocessBatch:
    """Head outputs of one forward pass (loc N×P×4, conf N×P×2, landmarks N×P×10[, mask N×P×2]; numpy
    arrays or torch tensors), the network input's size, each image's original size, the resize factor
    (input = factor × image), the thresholds, and whether to apply NMS (off for TTA merging)."""

    outputs: Sequence[Any]
    input_hw: tuple[int, int]
    image_hws: Sequence[tuple[int, int]]
    factor: float
    params: InferenceParams
    apply_nms: bool = True

    def __len__(self) -> int:
        return len(self.image_hws)

    @property
    def pixel_scale(self) -> tuple[float, float]:
        """(sx, sy): normalised input coordinates → original image pixels."""
        height, width = self.input_hw
        return width / self.factor, height / self.factor

    def with_mask(self, has_mask_head: bool) -> bool:
        """Whether a mask head's output is there to classify masked faces."""
        return has_mask_head and len(self.outputs) > 3
