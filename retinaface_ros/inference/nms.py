"""Greedy non-maximum suppression: OpenCV on CPU, a loop-free torch version on CUDA.

Both use the reference implementation's pixel-inclusive IoU (widths and heights + 1), so results match
the public RetinaFace pipeline box for box.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import cv2
import numpy as np

if TYPE_CHECKING:
    import torch

PRE_NMS_TOP_K = 5000  # candidates kept (by score) before NMS, as the reference
POST_NMS_TOP_K = 750  # detections kept after NMS, as the reference


def nms(
    boxes: np.ndarray | torch.Tensor, scores: np.ndarray | torch.Tensor, iou_threshold: float
) -> np.ndarray:
    """Indices of the boxes (x1, y1, x2, y2) kept by greedy NMS, highest score first."""
    if not isinstance(boxes, np.ndarray):  # a torch tensor (torch is imported only by its callers)
        if boxes.is_cuda:
            return nms_torch(boxes, scores, iou_threshold).cpu().numpy()
        boxes, scores = boxes.cpu().numpy(), scores.cpu().numpy()
    if len(boxes) == 0:
        return np.zeros(0, dtype=np.int64)
    xywh = np.empty((len(boxes), 4), dtype=np.float64)
    xywh[:, :2] = boxes[:, :2]
    xywh[:, 2:] = boxes[:, 2:] - boxes[:, :2] + 1.0  # pixel-inclusive, as the reference
    scores = np.asarray(scores, dtype=np.float32)
    if scores.min() <= 0:  # OpenCV drops scores ≤ its (non-negative) threshold: use positive ranks instead
        ranks = np.empty(len(scores), np.float32)
        ranks[np.argsort(-scores, kind="stable")] = np.arange(len(scores), 0, -1, dtype=np.float32)
        scores = ranks
    keep = cv2.dnn.NMSBoxes(xywh, scores, 0.0, float(iou_threshold))
    return np.asarray(keep, dtype=np.int64).reshape(-1)


_ROUNDS_PER_CHECK = 3


def pairwise_iou(boxes: torch.Tensor) -> torch.Tensor:
    """IoU of every pair of (..., k, 4) boxes (x1, y1, x2, y2) → (..., k, k), pixel-inclusive (widths and
    heights + 1) as the reference computes it; x and y side by side, so a few kernels on the GPU."""
    import torch

    top_left, bottom_right = boxes[..., :, None, :2], boxes[..., :, None, 2:]  # (..., k, 1, 2)
    sides = bottom_right - top_left + 1
    areas = sides[..., 0, 0] * sides[..., 0, 1]
    overlap = torch.minimum(bottom_right, bottom_right.transpose(-3, -2))
    overlap = (overlap - torch.maximum(top_left, top_left.transpose(-3, -2)) + 1).clamp_(min=0)
    inter = overlap[..., 0] * overlap[..., 1]
    return inter / (areas[..., :, None] + areas[..., None, :] - inter)


def nms_torch(
    boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float, groups: torch.Tensor | None = None
) -> torch.Tensor:
    """Exact greedy NMS without a per-box Python loop (for GPU tensors), highest score first.

    ``groups`` (one id per box, e.g. the image of a batch) confines suppression to boxes of the same group,
    so one call does the NMS of a whole batch.

    Box j is kept iff no kept box with a higher score overlaps it by more than the threshold. Starting from
    "all kept", repeating that rule converges to the greedy result in as many rounds as the longest
    suppression chain (a handful in practice); each round is one matrix product.
    """
    import torch

    if boxes.numel() == 0:
        return torch.zeros(0, dtype=torch.int64, device=boxes.device)
    order = torch.argsort(scores, descending=True, stable=True)  # ties keep their given order
    b = boxes[order].float()
    over = pairwise_iou(b) > iou_threshold
    if groups is not None:
        g = groups[order]
        over &= g[:, None] == g[None, :]
    suppresses = torch.triu(over, diagonal=1).to(torch.float32)  # i (higher) suppresses j
    keep = torch.ones(len(b), dtype=torch.float32, device=b.device)
    for _ in range(len(b)):
        for _ in range(_ROUNDS_PER_CHECK):  # a few rounds per host sync: fixpoint rounds are idempotent
            keep = ((keep @ suppresses) == 0).to(torch.float32)
        new_keep = ((keep @ suppresses) == 0).to(torch.float32)
        if torch.equal(new_keep, keep):
            break
        keep = new_keep
    return order[keep.bool()]
