"""RetinaFace MultiBox loss (the reference ``MultiBoxLoss``), vectorised over the batch.

Ground truth is padded to the most faces in the batch (``targets`` B×M×15 plus a ``valid`` B×M mask), so
matching, encoding and hard negative mining are tensor operations over (B, M, P) with no Python loop.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from retinaface_ros.model.box_coder import encode_boxes, encode_landmarks

MATCH_THRESHOLD = 0.35
FORCE_MATCH_MIN_IOU = 0.2  # the reference forces a GT onto its best prior only when that IoU reaches 0.2
NEG_POS_RATIO = 7
LOC_WEIGHT = 2.0
MAX_IOU_ELEMENTS = 64_000_000  # B×M×P elements per chunk (bounds memory on crowded WIDER images)


@dataclass
class MatchResult:
    """Per-prior targets of one batch: labels (B×P: 1 face, 0 background), box and landmark targets."""

    positive: torch.Tensor  # B×P bool
    positive_landmarks: torch.Tensor  # B×P bool (positive and the matched face has landmarks)
    loc: torch.Tensor  # B×P×4 encoded boxes
    landmarks: torch.Tensor  # B×P×10 encoded landmarks


def point_form(priors: torch.Tensor) -> torch.Tensor:
    """(cx, cy, w, h) → (x1, y1, x2, y2)."""
    return torch.cat((priors[:, :2] - priors[:, 2:] / 2, priors[:, :2] + priors[:, 2:] / 2), dim=1)


def batched_iou(boxes: torch.Tensor, priors_xyxy: torch.Tensor) -> torch.Tensor:
    """IoU of B×M×4 boxes against P×4 boxes → B×M×P."""
    top_left = torch.maximum(boxes[..., None, :2], priors_xyxy[:, :2])
    bottom_right = torch.minimum(boxes[..., None, 2:], priors_xyxy[:, 2:])
    inter = (bottom_right - top_left).clamp(min=0).prod(-1)
    area_a = (boxes[..., 2:] - boxes[..., :2]).prod(-1)[..., None]
    area_b = (priors_xyxy[:, 2:] - priors_xyxy[:, :2]).prod(-1)
    return inter / (area_a + area_b - inter).clamp(min=1e-12)


def _best_matches(
    truths: torch.Tensor, valid: torch.Tensor, priors_xyxy: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Best GT index and overlap per prior (B×P), with each GT forced onto its best prior."""
    overlaps = batched_iou(truths, priors_xyxy).masked_fill_(~valid[..., None], -1.0)
    best_prior_overlap, best_prior_idx = overlaps.max(dim=2)  # B×M
    best_truth_overlap, best_truth_idx = overlaps.max(dim=1)  # B×P
    forced = valid & (best_prior_overlap >= FORCE_MATCH_MIN_IOU)
    batch_idx, truth_idx = forced.nonzero(as_tuple=True)
    prior_idx = best_prior_idx[batch_idx, truth_idx]
    best_truth_overlap[batch_idx, prior_idx] = 2.0
    # Faces sharing a best prior: the last one takes it, as the reference's loop (a plain indexed assignment
    # with repeated indices leaves the winner undefined).
    linear = batch_idx * best_truth_idx.shape[1] + prior_idx
    best_truth_idx.view(-1).scatter_reduce_(0, linear, truth_idx, reduce="amax", include_self=False)
    return best_truth_idx, best_truth_overlap


def match(
    targets: torch.Tensor,
    valid: torch.Tensor,
    priors: torch.Tensor,
    variances: tuple[float, float],
    threshold: float = MATCH_THRESHOLD,
) -> MatchResult:
    """Match padded ground truth (B×M×15 normalised, ``valid`` B×M) to priors (P×4 cx, cy, w, h)."""
    priors_xyxy = point_form(priors)
    batch = targets.shape[0]
    if targets.shape[1] == 0:
        targets = targets.new_zeros((batch, 1, 15))
        valid = valid.new_zeros((batch, 1))
    chunk = max(1, MAX_IOU_ELEMENTS // max(1, targets.shape[1] * priors.shape[0]))
    indices, overlaps = [], []
    for start in range(0, batch, chunk):
        idx, ov = _best_matches(
            targets[start : start + chunk, :, :4], valid[start : start + chunk], priors_xyxy
        )
        indices.append(idx)
        overlaps.append(ov)
    best_truth_idx, best_truth_overlap = torch.cat(indices), torch.cat(overlaps)
    matched = torch.gather(targets, 1, best_truth_idx[..., None].expand(-1, -1, targets.shape[2]))  # B×P×15
    positive = best_truth_overlap >= threshold
    return MatchResult(
        positive=positive,
        positive_landmarks=positive & (matched[..., 14] > 0),
        loc=encode_boxes(matched[..., :4], priors, variances),
        landmarks=encode_landmarks(matched[..., 4:14], priors, variances),
    )


class MultiBoxLoss(torch.nn.Module):
    """Box smooth-L1 (×``loc_weight``) + class CE with OHEM ``neg_pos_ratio``:1 + landmark smooth-L1.

    ``forward`` returns ``(total, loss_box, loss_class, loss_landmarks)``; ``loss_box`` is unweighted.
    """

    def __init__(
        self,
        variances: tuple[float, float] = (0.1, 0.2),
        threshold: float = MATCH_THRESHOLD,
        neg_pos_ratio: int = NEG_POS_RATIO,
        loc_weight: float = LOC_WEIGHT,
    ) -> None:
        super().__init__()
        self.variances = variances
        self.threshold = threshold
        self.neg_pos_ratio = neg_pos_ratio
        self.loc_weight = loc_weight

    def forward(
        self,
        predictions: tuple[torch.Tensor, ...],
        priors: torch.Tensor,
        targets: torch.Tensor,
        valid: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        loc_p, conf_p, landm_p = predictions[0], predictions[1], predictions[2]
        with torch.no_grad():
            m = match(targets.to(loc_p.dtype), valid, priors.to(loc_p.dtype), self.variances, self.threshold)
        pos, pos_landm = m.positive, m.positive_landmarks
        num_pos = pos.sum().clamp(min=1).to(loc_p.dtype)
        num_pos_landm = pos_landm.sum().clamp(min=1).to(loc_p.dtype)

        loss_landm = (
            F.smooth_l1_loss(landm_p[pos_landm], m.landmarks[pos_landm], reduction="sum") / num_pos_landm
        )
        loss_box = F.smooth_l1_loss(loc_p[pos], m.loc[pos], reduction="sum") / num_pos

        # Hard negative mining: per image, the num_neg negatives with the highest classification loss.
        labels = pos.long()
        with torch.no_grad():
            mining = (
                torch.logsumexp(conf_p.float(), dim=-1) - conf_p.float().gather(-1, labels[..., None])[..., 0]
            )
            mining[pos] = 0.0
            order = mining.argsort(dim=1, descending=True)
            rank = order.argsort(dim=1)
            num_neg = (self.neg_pos_ratio * pos.sum(dim=1, keepdim=True)).clamp(max=pos.shape[1] - 1)
            neg = rank < num_neg
        selected = pos | neg
        loss_class = F.cross_entropy(conf_p[selected], labels[selected], reduction="sum") / num_pos
        total = self.loc_weight * loss_box + loss_class + loss_landm
        return total, loss_box, loss_class, loss_landm
