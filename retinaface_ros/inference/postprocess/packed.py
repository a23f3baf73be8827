"""The whole postprocess of a batch as fixed-shape tensor ops (no host sync), so that it can run as a CUDA
graph right after the network: threshold, top-k, decode, fixed-point greedy NMS, packing; and the ladder of
candidate budgets (:class:`PackedPostprocess`) that runs it and redoes what it cannot hold exactly."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from retinaface_ros.detections import Detections, detections_from_rows
from retinaface_ros.inference.cuda_graphs import CudaGraphForward, PackedPostprocessRunner
from retinaface_ros.inference.nms import POST_NMS_TOP_K, PRE_NMS_TOP_K, pairwise_iou
from retinaface_ros.inference.options import DetectorOptions
from retinaface_ros.inference.postprocess.batch import PostprocessBatch
from retinaface_ros.model.box_coder import decode_boxes, decode_landmarks
from retinaface_ros.model.priors import PriorBoxes

MAX_PACKED_PAIRS = 1 << 27  # batch × k² over which a packed budget is not used (IoU matrices of 0.5 GB)
# Larger budgets run eagerly: a captured graph keeps its peak memory (about 0.4 GB per image at k = 4096).
MAX_CAPTURED_TOP_K = 1024
COUNTERS = ("packed", "larger_top_k", "fallback_overflow", "fallback_not_converged")


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


class PackedPostprocess:
    """:func:`packed_postprocess` over a ladder of candidate budgets (``options.top_k``), with the exact
    path (``exact(batch, row)``) for the images it cannot hold.

    Its cost grows with k², so k = 256 covers a crowded VGA frame at the default threshold, 4096 a crowded
    1820×1024 one; a batch with images over the first budget replays the smallest budget that holds them on
    the same outputs (budgets over ``MAX_CAPTURED_TOP_K`` run eagerly rather than keep a graph's memory).
    Images over the last budget (or over ``MAX_PACKED_PAIRS``) or with an unconverged NMS are redone by the
    exact path; ``counters`` counts each outcome. On CUDA the postprocess of a captured network graph's
    static outputs is itself captured (``graph_of(key)`` finds the network graph of (batch, height, width)).
    """

    def __init__(
        self,
        priors: PriorBoxes,
        variances: tuple[float, float],
        has_mask_head: bool,
        options: DetectorOptions,
        exact: Callable[[PostprocessBatch, int], Detections],
        graph_of: Callable[[tuple[int, ...]], CudaGraphForward | None],
        failures: list[str],
    ) -> None:
        self.priors = priors
        self.variances = variances
        self.has_mask_head = has_mask_head
        self.options = options
        self.exact = exact
        self.graph_of = graph_of
        self.failures = failures
        self.counters = dict.fromkeys(COUNTERS, 0)
        self.function: Callable[..., torch.Tensor] = packed_postprocess
        if options.torch_compile:
            from retinaface_ros.inference.compile import CompiledOrEager

            self.function = CompiledOrEager(packed_postprocess, "packed postprocess")
        self._eager: dict[tuple[int, ...], PackedPostprocessRunner] = {}

    def budgets(self, num_priors: int, batch: int) -> list[int]:
        """The candidate budgets for a batch over ``num_priors`` priors, ascending, capped at what the exact
        path keeps; budgets whose batch × k² pairs exceed ``MAX_PACKED_PAIRS`` are left to the exact path."""
        budgets = sorted({max(1, min(k, num_priors, PRE_NMS_TOP_K)) for k in self.options.top_k})
        return [k for k in budgets if batch * k * k <= MAX_PACKED_PAIRS] or budgets[:1]

    def __call__(self, batch: PostprocessBatch) -> list[Detections]:
        """The packed postprocess with the smallest budget; the images over it (their candidate counts are
        known from that first result) with the smallest budget that holds them all; the exact path for
        images over the last budget or with an unconverged NMS."""
        results: list[Detections | None] = [None] * len(batch)
        pending = list(range(len(batch)))
        budgets = self.budgets(batch.outputs[1].shape[1], len(batch))
        top_k, too_many = budgets[0], []
        while pending:
            host = self.results(batch, top_k)
            over, need = [], 0
            for row in pending:
                kept, converged, count = host[row, 0, :3]
                if count > top_k and top_k < PRE_NMS_TOP_K:
                    if count > budgets[-1] and budgets[-1] < PRE_NMS_TOP_K:
                        too_many.append(row)  # no budget holds it: the exact path, not a larger replay
                    else:
                        over.append(row)
                        need = max(need, int(count))
                elif converged < 0.5:
                    self.counters["fallback_not_converged"] += 1
                    results[row] = self.exact(batch, row)
                else:
                    self.counters["packed"] += 1
                    if top_k > budgets[0]:
                        self.counters["larger_top_k"] += 1
                    results[row] = detections_from_rows(host[row, 1 : 1 + int(kept)], batch.image_hws[row])
            pending = over
            top_k = next((k for k in budgets if k >= min(need, PRE_NMS_TOP_K) and k > top_k), 0)
            if not top_k:
                break
        for row in pending + too_many:
            self.counters["fallback_overflow"] += 1
            results[row] = self.exact(batch, row)
        return results  # type: ignore[return-value]

    def results(self, batch: PostprocessBatch, top_k: int) -> np.ndarray:
        """:func:`packed_postprocess` of a batch's outputs as a host array N×(1+rows)×16: a graph replay (on
        the network graph's static outputs) or an eager call, then one copy and one sync. On CUDA the array
        is a view of a reused pinned buffer, valid until the next call with the same shape and budget."""
        outputs = batch.outputs
        conf = outputs[1]
        key = (conf.shape[0], *batch.input_hw)
        graph = self.graph_of(key) if conf.is_cuda else None
        static = graph is not None and graph.static_outputs[1] is conf
        post = graph.posts.get(top_k) if static else self._eager.get((*key, top_k))
        if post is None:
            post = self._make(outputs, batch.input_hw, top_k, capture=static and top_k <= MAX_CAPTURED_TOP_K)
            if static:
                graph.posts[top_k] = post
            else:
                self._eager[(*key, top_k)] = post
                while len(self._eager) > self.options.max_graphs:
                    self._eager.pop(next(iter(self._eager)))
        params = batch.params
        sx, sy = batch.pixel_scale
        return post(
            (params.threshold, params.nms_threshold, params.mask_thresh, sx, sy, sx, sy, 0.0), outputs
        )

    def _make(
        self, outputs: Sequence[torch.Tensor], input_hw: tuple[int, int], top_k: int, capture: bool
    ) -> PackedPostprocessRunner:
        conf = outputs[1]
        priors = self.priors(*input_hw, conf.device)
        has_mask = self.has_mask_head and len(outputs) > 3
        rounds, variances, postprocess = self.options.nms_rounds, self.variances, self.function

        def fn(outs: Sequence[torch.Tensor], settings: torch.Tensor) -> torch.Tensor:
            outs = outs if has_mask else outs[:3]
            return postprocess(outs, priors, settings, variances, top_k, rounds)

        post = PackedPostprocessRunner(fn, conf.device)
        if capture:
            stream = torch.cuda.current_stream(conf.device)
            try:
                post.capture(outputs)
            except Exception as error:  # an optimisation: run the same function eagerly
                torch.cuda.set_stream(stream)
                self.failures.append(f"postprocess {tuple(conf.shape)}: {type(error).__name__}: {error}")
                warnings.warn(
                    f"CUDA graph capture of the postprocess failed, running eagerly: {error}",
                    RuntimeWarning,
                    stacklevel=3,
                )
        return post

    def cache_info(self) -> dict[str, Any]:
        """The eager postprocess runners' (batch, height, width, budget) keys, least recently used first."""
        return {"eager_postprocess": list(self._eager)}
