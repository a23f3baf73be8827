"""The postprocess in torch on the outputs' device: per image, or a whole batch at once (GPU).

Host syncs only for the candidate count, NMS convergence and the one copy of the result back.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from retinaface_ros.detections import Detections, detections_from_rows
from retinaface_ros.inference.nms import POST_NMS_TOP_K, PRE_NMS_TOP_K, nms, nms_torch
from retinaface_ros.inference.postprocess.batch import PostprocessBatch
from retinaface_ros.model.box_coder import decode_boxes, decode_landmarks
from retinaface_ros.model.priors import PriorBoxes

MAX_SCALES = 32  # cached pixel-scale tensors


class TorchPostprocess:
    """Decoding and NMS of torch outputs, with the priors and pixel scales cached per device."""

    def __init__(self, priors: PriorBoxes, variances: tuple[float, float], has_mask_head: bool) -> None:
        self.priors = priors
        self.variances = variances
        self.has_mask_head = has_mask_head
        self._scales: dict[tuple[int, int, float, str], torch.Tensor] = {}

    def image(self, batch: PostprocessBatch, row: int) -> Detections:
        """Image ``row`` of ``batch``: threshold, top-k, decode, NMS; one device→host copy."""
        outputs = [out[row] for out in batch.outputs]
        params = batch.params
        device = outputs[1].device
        scores = outputs[1][:, 1].float()
        candidates = torch.nonzero(scores > params.threshold).squeeze(1)
        if candidates.numel() == 0:
            return Detections.empty()
        scores = scores[candidates]
        if candidates.numel() > PRE_NMS_TOP_K:
            scores, top = torch.topk(scores, PRE_NMS_TOP_K)
            candidates = candidates[top]
        else:
            scores, order = torch.sort(scores, descending=True, stable=True)  # ties: lower prior first
            candidates = candidates[order]
        packed = self.decode_rows(batch, outputs, candidates, candidates, scores)
        if batch.apply_nms:
            nms_fn = nms_torch if device.type == "cuda" else _nms_indices
            packed = packed[nms_fn(packed[:, :4], scores, params.nms_threshold)[:POST_NMS_TOP_K]]
        return detections_from_rows(packed.cpu().numpy(), batch.image_hws[row])

    def batch(self, batch: PostprocessBatch) -> list[Detections] | None:
        """The whole batch at once (one NMS call with per-image groups, one copy back); None when more than
        ``PRE_NMS_TOP_K`` candidates survive (then per image, as the reference)."""
        outputs, params = batch.outputs, batch.params
        all_scores = outputs[1][..., 1].float()
        found = torch.nonzero(all_scores > params.threshold)  # M×2 (image, prior), image-major
        count = found.shape[0]
        if count > PRE_NMS_TOP_K:
            return None
        if count == 0:
            return [Detections.empty() for _ in batch.image_hws]
        image, prior = found[:, 0], found[:, 1]
        scores = all_scores[image, prior]
        order = torch.argsort(image.double() * 2 - scores.double(), stable=True)  # image, then score (desc.)
        image, prior, scores = image[order], prior[order], scores[order]
        decoded = self.decode_rows(batch, outputs, (image, prior), prior, scores)
        packed = torch.cat((decoded, image[:, None].float()), dim=1)
        if batch.apply_nms:
            keep = torch.sort(nms_torch(decoded[:, :4], scores, params.nms_threshold, groups=image)).values
            packed = packed[keep]
        rows = packed.cpu().numpy()  # one device→host copy for the batch
        starts = np.searchsorted(rows[:, 16], np.arange(len(batch) + 1) - 0.5)
        return [
            detections_from_rows(rows[starts[i] : starts[i + 1]][:POST_NMS_TOP_K], hw)
            for i, hw in enumerate(batch.image_hws)
        ]

    def decode_rows(
        self,
        batch: PostprocessBatch,
        outputs: Any,
        rows: torch.Tensor | tuple[torch.Tensor, torch.Tensor],
        prior: torch.Tensor,
        scores: torch.Tensor,
    ) -> torch.Tensor:
        """N×16 rows (box, 10 landmark coords in image pixels, score, class) for the candidates
        ``outputs[k][rows]``, whose prior indices are ``prior``."""
        priors = self.priors(*batch.input_hw, scores.device)[prior]
        scale = self.pixel_scale(batch, scores.device)
        boxes = decode_boxes(outputs[0][rows].float(), priors, self.variances) * scale
        points = decode_landmarks(outputs[2][rows].float(), priors, self.variances) * scale[:2].repeat(5)
        if batch.with_mask(self.has_mask_head):
            classes = (outputs[3][rows][:, 1].float() > batch.params.mask_thresh).float()
        else:
            classes = torch.zeros_like(scores)
        return torch.cat((boxes, points, scores[:, None], classes[:, None]), dim=1)

    def pixel_scale(self, batch: PostprocessBatch, device: torch.device) -> torch.Tensor:
        """[W, H, W, H] / factor on ``device``, cached (no host→device copy per frame)."""
        key = (*batch.input_hw, batch.factor, str(device))
        scale = self._scales.get(key)
        if scale is None:
            height, width = batch.input_hw
            scale = torch.tensor([width, height, width, height], dtype=torch.float32, device=device)
            scale = scale / batch.factor
            if len(self._scales) >= MAX_SCALES:
                self._scales.clear()
            self._scales[key] = scale
        return scale

    def cache_info(self) -> dict[str, Any]:
        return {"pixel_scales": list(self._scales)}


def _nms_indices(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    return torch.as_tensor(nms(boxes, scores, iou_threshold), device=boxes.device)
