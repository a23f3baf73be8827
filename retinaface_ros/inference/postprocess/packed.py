"""The whole postprocess of a batch as fixed-shape tensor ops (no host sync), so that it can run as a CUDA
graph right after the network: threshold, top-k, decode, fixed-point greedy NMS, packing."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from retinaface_ros.inference.nms import POST_NMS_TOP_K, pairwise_iou
from retinaface_ros.model.box_coder import decode_boxes, decode_landmarks


def packed_postprocess(
    outputs: Sequence[torch.Tensor],
    priors: torch.Tensor,
    settings: torch.Tensor,
    variances: tuple[float, float],
    top_k: int,
    rounds: int,
    rows: int = POST_NMS_TOP_K,
) -> torch.Tensor:
    """The whole postprocess of a batch as fixed-shape tensor ops (no host sync; CUDA-graph capturable).

    ``outputs``: loc N×P×4, conf N×P×2, landmarks N×P×10 (and mask N×P×2), any float dtype (computed in
    fp32); ``priors`` P×4; ``settings`` fp32 device tensor (threshold, nms_threshold, mask_thresh, sx, sy,
    sx, sy, ·), sx/sy the resized width/height over the resize factor. Per image: the ``top_k`` best
    candidates above the threshold, decoded, greedy NMS (pixel-inclusive IoU, as ``nms_torch``) by
    ``rounds`` fixed-point rounds, kept ones packed first.

    Returns N×(1+min(top_k, rows))×16 fp32: row 0 = (kept, converged, candidates, 0…); then the kept
    detections by score as (x1, y1, x2, y2, 10 landmark coordinates, score, class), unclipped. The result
    is exact iff converged and candidates ≤ top_k.
    """
    loc, conf, landmarks = outputs[0], outputs[1], outputs[2]
    n, p = conf.shape[:2]  # p < 2**20
    k = min(top_k, p)
    rows = min(rows, k)
    threshold, nms_threshold, mask_thresh = settings[0], settings[1], settings[2]
    scores = conf[..., 1].float().contiguous()
    above = scores > threshold
    count = above.sum(1)
    # Rank by (score, then lower prior index) as the numpy path's stable sort: scores ≥ 0 order as their
    # bit patterns, so one int64 key breaks fp16's frequent score ties deterministically.
    ranks = torch.arange(p - 1, -1, -1, device=conf.device)
    key = torch.where(above, scores.view(torch.int32).long() * (1 << 20) + ranks, -1)
    index = torch.topk(key, k, dim=1).indices  # sorted: candidates first
    top_scores = scores.gather(1, index)
    valid = torch.arange(k, device=conf.device)[None, :] < count[:, None]
    picked = index.reshape(-1)
    priors_k = priors.index_select(0, picked).view(n, k, 4)
    loc_k = loc.gather(1, index[..., None].expand(n, k, loc.shape[2])).float()
    marks_k = landmarks.gather(1, index[..., None].expand(n, k, landmarks.shape[2])).float()
    boxes = decode_boxes(loc_k, priors_k, variances) * settings[3:7]
    points = (decode_landmarks(marks_k, priors_k, variances).view(n, k, 5, 2) * settings[3:5]).view(n, k, 10)
    if len(outputs) > 3:
        mask = outputs[3].gather(1, index[..., None].expand(n, k, outputs[3].shape[2]))
        classes = (mask[..., 1].float() > mask_thresh).float()
    else:
        classes = torch.zeros_like(top_scores)

    over = pairwise_iou(boxes) > nms_threshold  # pixel-inclusive, as nms_torch
    # One round: keep_j = max(0, valid_j − Σ_i keep_i · suppresses_ij), suppresses_ij = i (higher score)
    # overlaps j; as one product of the state [keep, 1] with [[−suppresses], [valid]] and one clamp into
    # keep. Sums of 0/±1 terms: exact in fp16, and never 0 when a suppressor is kept. Candidates past the
    # count start and stay at keep = 0 (valid = 0), so they suppress nothing: no pair mask is needed.
    dtype = torch.float16 if conf.is_cuda else torch.float32
    valid_values = valid.to(dtype)[:, None, :]
    step = torch.cat((torch.triu(over.to(dtype), diagonal=1).neg_(), valid_values), dim=1)  # n×(k+1)×k
    state = torch.ones(n, 1, k + 1, dtype=dtype, device=conf.device)
    keep = state[:, 0, :k]
    keep.copy_(valid_values[:, 0])
    for _ in range(rounds):
        torch.clamp_min(torch.bmm(state, step)[:, 0], 0, out=keep)
    converged = (torch.bmm(state, step)[:, 0].clamp_min(0) == keep).all(1)
    kept_mask = keep > 0

    kept = kept_mask.sum(1)
    position = kept_mask.long().cumsum(1)  # 1-based row of each kept box
    slot = torch.arange(n, device=conf.device)[:, None] * (rows + 1) + position
    dump = n * (rows + 1)
    slot = torch.where(kept_mask & (position <= rows), slot, dump)
    packed = torch.cat((boxes, points, top_scores[..., None], classes[..., None]), dim=-1)
    flat = torch.zeros(dump + 1, 16, dtype=torch.float32, device=conf.device)
    flat.index_copy_(0, slot.reshape(-1), packed.reshape(-1, 16))  # dropped rows all land on the dump row
    out = flat[:dump].view(n, rows + 1, 16)
    out[:, 0, :3] = torch.stack((kept.clamp(max=rows).float(), converged.float(), count.float()), dim=1)
    return out
