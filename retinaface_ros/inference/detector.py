"""Inference pipeline: image checks → resize + mean subtraction → forward → threshold → decode → NMS.

Pure PyTorch/OpenCV; the learner and the ROS node call :class:`Detector`. The fast paths (one-pass OpenCV
preprocessing, numpy postprocess on the CPU; uint8 upload, resize on the GPU, CUDA graphs and GPU NMS on
CUDA) are described on the class; ``retinaface bench`` measures them.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import cv2
import numpy as np
import torch

from retinaface_ros.detections import Detections, InferenceParams, clip_to_image, detections_from_rows
from retinaface_ros.inference.cuda_graphs import (
    CudaGraphForward,
    PackedPostprocessRunner,
    cudnn_benchmark,
    on_own_device,
)
from retinaface_ros.inference.nms import POST_NMS_TOP_K, PRE_NMS_TOP_K, nms, nms_torch
from retinaface_ros.inference.postprocess.packed import packed_postprocess
from retinaface_ros.inference.staging import resize_image, resizes_by_factor, stage_frames
from retinaface_ros.model.box_coder import decode_boxes, decode_landmarks
from retinaface_ros.model.config import ModelConfig
from retinaface_ros.model.fusion import fold_batchnorm, fuse_relu, merge_heads
from retinaface_ros.model.priors import PriorBoxes
from retinaface_ros.types import Image

MAX_PACKED_PAIRS = 1 << 27  # batch × k² over which a packed budget is not used (IoU matrices of 0.5 GB)
# Larger budgets run eagerly: a captured graph keeps its peak memory (about 0.4 GB per image at k = 4096).
MAX_CAPTURED_TOP_K = 1024

Forward = Callable[[torch.Tensor], Sequence[torch.Tensor]]


def as_bgr_image(img: Image | np.ndarray) -> np.ndarray:
    """An HWC BGR uint8 array from an Image or array; grey and BGRA are converted, anything else refused."""
    if isinstance(img, Image):
        img = img.opencv()
    if not isinstance(img, np.ndarray):
        raise TypeError(f"img must be an Image or an HWC BGR uint8 numpy array, got {type(img).__name__}")
    if img.dtype != np.uint8:
        raise TypeError(f"img must have dtype uint8, got {img.dtype}")
    if img.size == 0:
        raise ValueError(f"img is empty (shape {img.shape})")
    if img.ndim == 2 or (img.ndim == 3 and img.shape[2] == 1):
        return cv2.cvtColor(img.reshape(img.shape[:2]), cv2.COLOR_GRAY2BGR)
    if img.ndim != 3:
        raise ValueError(f"img must be HxW (grey) or HxWxC, got shape {img.shape}")
    if img.shape[2] == 4:
        return cv2.cvtColor(img, cv2.COLOR_BGRA2BGR)
    if img.shape[2] != 3:
        raise ValueError(f"img must have 1, 3 or 4 channels (HWC layout), got shape {img.shape}")
    return img


def resize_factor(height: int, width: int, scales: tuple[int, int]) -> float:
    """s = target / short side, reduced so that round(s · long side) ≤ max long side."""
    target, max_size = scales
    factor = target / min(height, width)
    if round(factor * max(height, width)) > max_size:
        factor = max_size / max(height, width)
    return factor


def resized_shape(height: int, width: int, factor: float) -> tuple[int, int]:
    return max(1, round(height * factor)), max(1, round(width * factor))


def resize_on_device(images: torch.Tensor, out: torch.Tensor, factor: float) -> None:
    """Bilinear resize by ``factor`` of uint8 N×H×W×3 ``images`` into uint8 N×h×w×3 ``out`` on their device,
    as :func:`~.staging.resize_image` (OpenCV's ``INTER_LINEAR`` with fx = fy = ``factor``:
    half-pixel centres, no antialiasing), rounded to uint8. Within one grey level of OpenCV, whose uint8
    resize uses 11-bit fixed-point weights."""
    planes = images.permute(0, 3, 1, 2).float()  # NCHW view, channels_last strides
    size = list(out.shape[1:3])
    # The aten op takes the output size and the scale together: samples at (x + 0.5) / factor − 0.5, as the
    # reference's cv2.resize(fx=factor), rather than at the ratio of the rounded sizes.
    resized = torch.ops.aten.upsample_bilinear2d(planes, size, False, factor, factor)
    out.copy_(resized.round_().permute(0, 2, 3, 1))


def group_by_shape(
    images: Sequence[np.ndarray], scales: tuple[int, int]
) -> dict[tuple[int, int, float], list[int]]:
    """Image indices grouped by (resized height, resized width, factor): one forward pass per group."""
    groups: dict[tuple[int, int, float], list[int]] = {}
    for index, image in enumerate(images):
        height, width = image.shape[:2]
        factor = resize_factor(height, width, scales)
        groups.setdefault((*resized_shape(height, width, factor), factor), []).append(index)
    return groups


class Detector:
    """Runs RetinaFace on images. ``forward`` is the network (a torch module or an onnxruntime wrapper).

    Stages: :meth:`prepare` (resize, upload) → :meth:`run` (network) → :meth:`postprocess` (threshold,
    decode the survivors with cached priors, NMS, back to image pixels). Fast paths, each checked against
    the plain path in ``test/test_fast_paths.py``:

    * CPU: resize as the reference (:func:`~.staging.resize_image`), then mean subtraction +
      HWC→NCHW in one OpenCV pass (``cv2.dnn.blobFromImage(s)``), and a numpy postprocess with OpenCV NMS.
    * CUDA: frames are copied into a pinned uint8 staging buffer (by a few threads for batches) and
      uploaded as uint8 (¼ of the bytes) chunk by chunk; frames that need resizing are uploaded at their
      own size and resized on the GPU. Mean subtraction, the fp16/channels_last cast and the network run
      as one CUDA graph per (batch, height, width) seen more than once (eager the first time, or if capture
      fails; see :meth:`run`). The postprocess
      (:func:`packed_postprocess`: threshold, top-k, decode, ``nms_rounds`` NMS rounds, packing) is a
      second graph replayed right after, over the network's static outputs, with the thresholds as device
      inputs; its one packed buffer comes back in one copy into pinned memory with one sync. Its cost grows
      with k², so ``top_k`` is a ladder of candidate budgets: k = 256 covers a crowded VGA frame at the
      default threshold, 4096 a crowded 1820×1024 one; a batch with images over the first budget replays
      the smallest budget that holds them on the same outputs (budgets over ``MAX_CAPTURED_TOP_K`` run
      eagerly rather than keep a graph's memory). Images over the last budget (or over
      ``MAX_PACKED_PAIRS``) or with an unconverged NMS are redone by the exact path (``counters`` counts
      each outcome).
    * ``torch_compile`` (CUDA, opt-in): the network and the packed postprocess go through
      ``torch.compile`` (inductor fuses their small kernels) before being captured as above; the first run
      of each input shape compiles for seconds (:class:`~retinaface_ros.inference.compile.CompiledOrEager`,
      eager again if compiling fails).
    """

    def __init__(
        self,
        forward: Forward,
        config: ModelConfig,
        device: torch.device | str = "cpu",
        has_mask_head: bool = False,
        input_dtype: torch.dtype = torch.float32,
        *,
        channels_last: bool = False,
        cuda_graphs: bool | None = None,
        fast_preprocess: bool = True,
        fast_postprocess: bool = True,
        max_graphs: int = 8,
        packed: bool | None = None,
        top_k: Sequence[int] = (256, 1024, 4096),
        nms_rounds: int = 8,
        torch_compile: bool = False,
    ) -> None:
        self.forward = forward
        self.config = config
        self.device = torch.device(device)
        self.has_mask_head = has_mask_head
        self.input_dtype = input_dtype
        self.channels_last = channels_last
        on_cuda = self.device.type == "cuda"
        self.cuda_graphs = on_cuda if cuda_graphs is None else bool(cuda_graphs and on_cuda)
        self.fast_preprocess = fast_preprocess
        self.fast_postprocess = fast_postprocess
        self.max_graphs = max_graphs
        self.priors = PriorBoxes(config)
        self._mean = torch.tensor(config.mean_bgr, dtype=torch.float32, device=self.device).view(1, 3, 1, 1)
        self._mean_bgr = tuple(float(m) for m in config.mean_bgr)
        self._graphs: dict[tuple[int, ...], CudaGraphForward | None] = {}  # least recently used first
        self._sightings: dict[tuple[int, ...], int] = {}  # input shapes run on CUDA, how often
        self._staging: dict[tuple[int, ...], tuple[torch.Tensor, Any]] = {}
        self._scales: dict[tuple[int, int, float, str], torch.Tensor] = {}
        self.graph_failures: list[str] = []
        self.packed = packed
        self.top_k = tuple(top_k)
        self.nms_rounds = nms_rounds
        self._eager_posts: dict[tuple[int, ...], PackedPostprocessRunner] = {}
        self.counters = {"packed": 0, "larger_top_k": 0, "fallback_overflow": 0, "fallback_not_converged": 0}
        self.torch_compile = bool(torch_compile and on_cuda)
        self._packed_postprocess: Callable[..., torch.Tensor] = packed_postprocess
        if self.torch_compile:
            from retinaface_ros.inference.compile import CompiledOrEager

            self.forward = CompiledOrEager(forward, "network")
            self._packed_postprocess = CompiledOrEager(packed_postprocess, "packed postprocess")

    def compile_failures(self) -> dict[str, str | None]:
        """With ``torch_compile``: why compiling the network / postprocess fell back to eager (None where
        it did not); empty without ``torch_compile``."""
        if not self.torch_compile:
            return {}
        parts = {"network": self.forward, "postprocess": self._packed_postprocess}
        return {name: getattr(part, "failure", None) for name, part in parts.items()}

    # ------------------------------------------------------------------------------------------ preprocess
    @on_own_device
    def preprocess(self, images: Sequence[np.ndarray], factor: float) -> torch.Tensor:
        """Resize and subtract the mean → N×3×h×w model input (``input_dtype``) on the device."""
        if self.device.type == "cpu" and self.fast_preprocess:
            return self._blob(images, factor)
        return self.normalise(self._upload(images, factor))

    @on_own_device
    def prepare(self, images: Sequence[np.ndarray], factor: float) -> torch.Tensor:
        """What :meth:`run` takes: the model input on the CPU, the uploaded uint8 N×h×w×3 batch on CUDA."""
        if self.device.type == "cuda":
            return self._upload(images, factor)
        return self.preprocess(images, factor)

    def normalise(self, batch: torch.Tensor) -> torch.Tensor:
        """uint8 N×h×w×3 BGR → N×3×h×w ``input_dtype`` minus the mean (channels_last if so configured)."""
        x = batch.permute(0, 3, 1, 2).float() - self._mean  # keeps the NHWC (= channels_last) strides
        x = x.to(self.input_dtype)
        return x if self.channels_last else x.contiguous()

    def _blob(self, images: Sequence[np.ndarray], factor: float) -> torch.Tensor:
        if factor != 1.0:  # cv2.dnn's own resize samples at the size ratio: resize as the reference first
            images = [resize_image(image, factor) for image in images]
        if len(images) == 1:
            blob = cv2.dnn.blobFromImage(images[0], 1.0, None, self._mean_bgr, False, False)
        else:
            blob = cv2.dnn.blobFromImages(list(images), 1.0, None, self._mean_bgr, False, False)
        batch = torch.from_numpy(blob)
        if self.channels_last:
            batch = batch.contiguous(memory_format=torch.channels_last)
        return batch if self.input_dtype == torch.float32 else batch.to(self.input_dtype)

    def _upload(self, images: Sequence[np.ndarray], factor: float) -> torch.Tensor:
        """The uint8 N×h×w×3 batch on the device (on CUDA, into the graph's static input if there is one).

        On CUDA frames that need resizing are uploaded at their own size and resized there
        (:func:`resize_on_device`): fewer bytes to copy and no resize on the host's cores.
        """
        height, width = resized_shape(*images[0].shape[:2], factor)
        key = (len(images), height, width)
        cuda = self.device.type == "cuda"
        graph = self._graphs.get(key) if cuda else None
        batch = graph.static_input if graph is not None else self._new_batch((*key, 3))
        same_size = all(image.shape == images[0].shape for image in images)
        if cuda and factor != 1.0 and same_size and resizes_by_factor(*images[0].shape[:2], factor):
            originals = self._new_batch((len(images), *images[0].shape))
            self._copy_staged(images, 1.0, originals)
            resize_on_device(originals, batch, factor)
        else:
            self._copy_staged(images, factor, batch)
        return batch

    def _new_batch(self, shape: tuple[int, ...]) -> torch.Tensor:
        return torch.empty(shape, dtype=torch.uint8, device=self.device)

    def _copy_staged(self, images: Sequence[np.ndarray], factor: float, target: torch.Tensor) -> None:
        """Resize or copy ``images`` into a reused uint8 staging buffer (pinned on CUDA) and copy that into
        ``target`` chunk by chunk, each copy overlapping the filling of the next chunk."""
        key = tuple(target.shape[:3])
        cuda = self.device.type == "cuda"
        staging, pending = self._staging.pop(key, (None, None))
        if staging is None:
            staging = torch.empty(target.shape, dtype=torch.uint8, pin_memory=cuda)
        if pending is not None:
            pending.synchronize()  # the previous upload from this buffer must finish before reuse
        for rows in stage_frames(staging.numpy(), images, factor):
            target[rows].copy_(staging[rows], non_blocking=cuda)
        event = None
        if cuda:
            event = torch.cuda.Event()
            event.record(torch.cuda.current_stream(self.device))
        self._staging[key] = (staging, event)
        while len(self._staging) > self.max_graphs:
            self._staging.pop(next(iter(self._staging)))

    # ------------------------------------------------------------------------------------------ forward
    @on_own_device
    def run(self, prepared: torch.Tensor) -> Sequence[torch.Tensor]:
        """The network on :meth:`prepare`'s output (a replayed CUDA graph where possible).

        On CUDA an input shape seen a second time is captured as a graph (kept for the ``max_graphs`` most
        recently used shapes) and gets cuDNN's autotuned convolutions; a shape seen once (an evaluation
        pyramid, a one-off frame size) runs eagerly with cuDNN's heuristics, without capture or tuning
        costs. A graph's outputs are static buffers, overwritten by the next run of the same shape.
        """
        if self.device.type != "cuda":
            return self.forward(prepared)
        key = tuple(prepared.shape[:3])
        repeated = key in self._graphs or self._count_sighting(key) >= 2
        if self.cuda_graphs and repeated:
            graph = self._graph_for(key, prepared)
            if graph is not None:
                if prepared.data_ptr() != graph.static_input.data_ptr():
                    graph.static_input.copy_(prepared, non_blocking=True)
                return graph.replay()
        with cudnn_benchmark(repeated):
            return self.forward(self.normalise(prepared))

    def _count_sighting(self, key: tuple[int, ...]) -> int:
        count = self._sightings[key] = self._sightings.pop(key, 0) + 1
        while len(self._sightings) > 8 * self.max_graphs:
            self._sightings.pop(next(iter(self._sightings)))
        return count

    def _graph_for(self, key: tuple[int, ...], prepared: torch.Tensor) -> CudaGraphForward | None:
        """The graph of ``key`` (captured now if new; None if capture failed), most recently used last."""
        if key in self._graphs:
            graph = self._graphs[key] = self._graphs.pop(key)
        else:
            graph = self._graphs[key] = self._capture(prepared)
            while len(self._graphs) > self.max_graphs:  # the least recently used shape goes
                self._graphs.pop(next(iter(self._graphs)))
        return graph

    def _capture(self, example: torch.Tensor) -> CudaGraphForward | None:
        stream = torch.cuda.current_stream(self.device)
        try:
            with cudnn_benchmark(True):  # the graph keeps the convolutions its warm-up picked
                return CudaGraphForward(lambda x: self.forward(self.normalise(x)), example)
        except Exception as error:  # capture is an optimisation: any failure means eager execution
            torch.cuda.set_stream(stream)  # a failed capture_end leaves its capture stream current
            self.graph_failures.append(f"{tuple(example.shape)}: {type(error).__name__}: {error}")
            warnings.warn(
                f"CUDA graph capture failed, running eagerly: {error}", RuntimeWarning, stacklevel=2
            )
            return None

    # ------------------------------------------------------------------------------------------ detect
    @torch.inference_mode()
    def detect(self, image: np.ndarray, params: InferenceParams) -> Detections:
        """Faces in one HWC BGR uint8 image."""
        return self.detect_batch([image], params)[0]

    @torch.inference_mode()
    @on_own_device
    def detect_batch(
        self, images: Sequence[np.ndarray], params: InferenceParams, apply_nms: bool = True
    ) -> list[Detections]:
        """Faces in several images; images that resize to the same shape share one forward pass."""
        results: list[Detections | None] = [None] * len(images)
        for (height, width, factor), indices in group_by_shape(images, params.scales).items():
            outputs = self.run(self.prepare([images[i] for i in indices], factor))
            found = self.postprocess_group(
                outputs, (height, width), [images[i].shape[:2] for i in indices], factor, params, apply_nms
            )
            for index, detections in zip(indices, found, strict=True):
                results[index] = detections
        return results  # type: ignore[return-value]

    # ------------------------------------------------------------------------------------------ postprocess
    @on_own_device
    def postprocess_group(
        self,
        outputs: Sequence[torch.Tensor],
        input_hw: tuple[int, int],
        image_hws: Sequence[tuple[int, int]],
        factor: float,
        params: InferenceParams,
        apply_nms: bool = True,
    ) -> list[Detections]:
        """Detections for each image of one forward pass (batched outputs N×P×…)."""
        if apply_nms and self.fast_postprocess and self._use_packed(outputs):
            return self._postprocess_packed(outputs, input_hw, image_hws, factor, params)
        if len(image_hws) > 1 and outputs[1].is_cuda and self.fast_postprocess:
            found = self._postprocess_batch_torch(outputs, input_hw, image_hws, factor, params, apply_nms)
            if found is not None:
                return found
        return [
            self._postprocess_row(outputs, row, input_hw, image_hws, factor, params, apply_nms)
            for row in range(len(image_hws))
        ]

    def _use_packed(self, outputs: Sequence[torch.Tensor]) -> bool:
        return outputs[1].is_cuda if self.packed is None else self.packed

    def _top_ks(self, num_priors: int, batch: int) -> list[int]:
        """The candidate budgets for a batch over ``num_priors`` priors, ascending, capped at what the exact
        path keeps; budgets whose batch × k² pairs exceed ``MAX_PACKED_PAIRS`` are left to the exact path."""
        budgets = sorted({max(1, min(k, num_priors, PRE_NMS_TOP_K)) for k in self.top_k})
        return [k for k in budgets if batch * k * k <= MAX_PACKED_PAIRS] or budgets[:1]

    def _postprocess_packed(
        self,
        outputs: Sequence[torch.Tensor],
        input_hw: tuple[int, int],
        image_hws: Sequence[tuple[int, int]],
        factor: float,
        params: InferenceParams,
    ) -> list[Detections]:
        """The packed postprocess with the smallest budget; the images over it (their candidate counts are
        known from that first result) with the smallest budget that holds them all; the exact path for
        images over the last budget or with an unconverged NMS."""
        results: list[Detections | None] = [None] * len(image_hws)
        pending = list(range(len(image_hws)))
        budgets = self._top_ks(outputs[1].shape[1], len(image_hws))
        top_k, too_many = budgets[0], []
        while pending:
            host = self.packed_results(outputs, input_hw, factor, params, top_k)
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
                    results[row] = self._postprocess_row(outputs, row, input_hw, image_hws, factor, params)
                else:
                    self.counters["packed"] += 1
                    if top_k > budgets[0]:
                        self.counters["larger_top_k"] += 1
                    results[row] = detections_from_rows(host[row, 1 : 1 + int(kept)], image_hws[row])
            pending = over
            top_k = next((k for k in budgets if k >= min(need, PRE_NMS_TOP_K) and k > top_k), 0)
            if not top_k:
                break
        for row in pending + too_many:
            self.counters["fallback_overflow"] += 1
            results[row] = self._postprocess_row(outputs, row, input_hw, image_hws, factor, params)
        return results  # type: ignore[return-value]

    def _postprocess_row(
        self,
        outputs: Sequence[torch.Tensor],
        row: int,
        input_hw: tuple[int, int],
        image_hws: Sequence[tuple[int, int]],
        factor: float,
        params: InferenceParams,
        apply_nms: bool = True,
    ) -> Detections:
        """The exact postprocess of one image of a batch."""
        image_hw = image_hws[row]
        return self.postprocess([out[row] for out in outputs], input_hw, image_hw, factor, params, apply_nms)

    @on_own_device
    def packed_results(
        self,
        outputs: Sequence[torch.Tensor],
        input_hw: tuple[int, int],
        factor: float,
        params: InferenceParams,
        top_k: int,
    ) -> np.ndarray:
        """:func:`packed_postprocess` of a batch's outputs as a host array N×(1+rows)×16: a graph replay (on
        the network graph's static outputs) or an eager call, then one copy and one sync. On CUDA the array
        is a view of a reused pinned buffer, valid until the next call with the same shape and budget."""
        conf = outputs[1]
        key = (conf.shape[0], *input_hw)
        graph = self._graphs.get(key) if conf.is_cuda else None
        static = graph is not None and graph.static_outputs[1] is conf
        post = graph.posts.get(top_k) if static else self._eager_posts.get((*key, top_k))
        if post is None:
            post = self._make_post(outputs, input_hw, top_k, capture=static and top_k <= MAX_CAPTURED_TOP_K)
            if static:
                graph.posts[top_k] = post
            else:
                self._eager_posts[(*key, top_k)] = post
                while len(self._eager_posts) > self.max_graphs:
                    self._eager_posts.pop(next(iter(self._eager_posts)))
        height, width = input_hw
        sx, sy = width / factor, height / factor
        settings = (params.threshold, params.nms_threshold, params.mask_thresh, sx, sy, sx, sy, 0.0)
        return post(settings, outputs)

    def _make_post(
        self, outputs: Sequence[torch.Tensor], input_hw: tuple[int, int], top_k: int, capture: bool
    ) -> PackedPostprocessRunner:
        conf = outputs[1]
        priors = self.priors(*input_hw, conf.device)
        has_mask = self.has_mask_head and len(outputs) > 3
        rounds, variances, postprocess = self.nms_rounds, self.config.variances, self._packed_postprocess

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
                self.graph_failures.append(
                    f"postprocess {tuple(conf.shape)}: {type(error).__name__}: {error}"
                )
                warnings.warn(
                    f"CUDA graph capture of the postprocess failed, running eagerly: {error}",
                    RuntimeWarning,
                    stacklevel=3,
                )
        return post

    def postprocess(
        self,
        outputs: Sequence[torch.Tensor],
        input_hw: tuple[int, int],
        image_hw: tuple[int, int],
        factor: float,
        params: InferenceParams,
        apply_nms: bool = True,
    ) -> Detections:
        """Threshold, decode the survivors only, NMS, map to original pixels and clip."""
        if self.fast_postprocess and outputs[1].device.type == "cpu":
            return self._postprocess_numpy(outputs, input_hw, image_hw, factor, params, apply_nms)
        return self._postprocess_torch(outputs, input_hw, image_hw, factor, params, apply_nms)

    def _postprocess_numpy(
        self,
        outputs: Sequence[torch.Tensor],
        input_hw: tuple[int, int],
        image_hw: tuple[int, int],
        factor: float,
        params: InferenceParams,
        apply_nms: bool,
    ) -> Detections:
        all_scores = outputs[1].numpy()[:, 1]
        candidates = np.flatnonzero(all_scores > params.threshold)
        if candidates.size == 0:
            return Detections.empty()
        scores = all_scores[candidates].astype(np.float32, copy=False)
        order = np.argsort(-scores, kind="stable")[:PRE_NMS_TOP_K]
        candidates, scores = candidates[order], scores[order]
        height, width = input_hw
        priors = self.priors(height, width, "cpu").numpy()[candidates]
        loc = outputs[0].numpy()[candidates].astype(np.float32, copy=False)
        marks = outputs[2].numpy()[candidates].astype(np.float32, copy=False).reshape(-1, 5, 2)
        v_center, v_size = self.config.variances
        sx, sy = np.float32(width / factor), np.float32(height / factor)
        centers = priors[:, :2] + loc[:, :2] * v_center * priors[:, 2:]
        sizes = priors[:, 2:] * np.exp(loc[:, 2:] * v_size)
        top_left = centers - sizes / 2
        scale = np.array([sx, sy, sx, sy], np.float32)
        boxes = np.concatenate((top_left, top_left + sizes), axis=1) * scale
        points = (priors[:, None, :2] + marks * v_center * priors[:, None, 2:]) * scale[:2]
        classes = np.zeros(len(candidates), np.int64)
        if self.has_mask_head and len(outputs) > 3:
            classes = (outputs[3].numpy()[candidates, 1] > params.mask_thresh).astype(np.int64)
        if apply_nms:
            keep = nms(boxes, scores, params.nms_threshold)[:POST_NMS_TOP_K]
            boxes, scores, points, classes = boxes[keep], scores[keep], points[keep], classes[keep]
        clip_to_image(boxes, points, image_hw)
        return Detections(boxes, scores, points, classes)

    def _pixel_scale(self, input_hw: tuple[int, int], factor: float, device: torch.device) -> torch.Tensor:
        """[W, H, W, H] / factor on ``device``, cached (no host→device copy per frame)."""
        key = (*input_hw, factor, str(device))
        scale = self._scales.get(key)
        if scale is None:
            height, width = input_hw
            scale = torch.tensor([width, height, width, height], dtype=torch.float32, device=device) / factor
            if len(self._scales) >= 32:
                self._scales.clear()
            self._scales[key] = scale
        return scale

    def _postprocess_torch(
        self,
        outputs: Sequence[torch.Tensor],
        input_hw: tuple[int, int],
        image_hw: tuple[int, int],
        factor: float,
        params: InferenceParams,
        apply_nms: bool,
    ) -> Detections:
        """The postprocess in torch on the outputs' device: host syncs only for the candidate count, NMS
        convergence and the one copy of the packed result."""
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
        packed = self._decode_rows(outputs, candidates, candidates, scores, input_hw, factor, params)
        if apply_nms:
            nms_fn = nms_torch if device.type == "cuda" else _nms_indices
            packed = packed[nms_fn(packed[:, :4], scores, params.nms_threshold)[:POST_NMS_TOP_K]]
        return detections_from_rows(packed.cpu().numpy(), image_hw)  # one device→host copy

    def _decode_rows(
        self,
        outputs: Sequence[torch.Tensor],
        rows: torch.Tensor | tuple[torch.Tensor, torch.Tensor],
        prior: torch.Tensor,
        scores: torch.Tensor,
        input_hw: tuple[int, int],
        factor: float,
        params: InferenceParams,
    ) -> torch.Tensor:
        """N×16 rows (box, 10 landmark coords in image pixels, score, class) for the candidates
        ``outputs[k][rows]``, whose prior indices are ``prior``."""
        priors = self.priors(*input_hw, scores.device)[prior]
        scale = self._pixel_scale(input_hw, factor, scores.device)
        variances = self.config.variances
        boxes = decode_boxes(outputs[0][rows].float(), priors, variances) * scale
        points = decode_landmarks(outputs[2][rows].float(), priors, variances) * scale[:2].repeat(5)
        if self.has_mask_head and len(outputs) > 3:
            classes = (outputs[3][rows][:, 1].float() > params.mask_thresh).float()
        else:
            classes = torch.zeros_like(scores)
        return torch.cat((boxes, points, scores[:, None], classes[:, None]), dim=1)

    def _postprocess_batch_torch(
        self,
        outputs: Sequence[torch.Tensor],
        input_hw: tuple[int, int],
        image_hws: Sequence[tuple[int, int]],
        factor: float,
        params: InferenceParams,
        apply_nms: bool,
    ) -> list[Detections] | None:
        """The whole batch's postprocess at once on the GPU (one NMS call with per-image groups, one copy
        back); None when more than ``PRE_NMS_TOP_K`` candidates survive (then per image, as the reference)."""
        all_scores = outputs[1][..., 1].float()
        found = torch.nonzero(all_scores > params.threshold)  # M×2 (image, prior), image-major
        count = found.shape[0]
        if count > PRE_NMS_TOP_K:
            return None
        if count == 0:
            return [Detections.empty() for _ in image_hws]
        image, prior = found[:, 0], found[:, 1]
        scores = all_scores[image, prior]
        order = torch.argsort(image.double() * 2 - scores.double(), stable=True)  # image, then score (desc.)
        image, prior, scores = image[order], prior[order], scores[order]
        decoded = self._decode_rows(outputs, (image, prior), prior, scores, input_hw, factor, params)
        packed = torch.cat((decoded, image[:, None].float()), dim=1)
        if apply_nms:
            keep = torch.sort(nms_torch(decoded[:, :4], scores, params.nms_threshold, groups=image)).values
            packed = packed[keep]
        rows = packed.cpu().numpy()  # one device→host copy for the batch
        starts = np.searchsorted(rows[:, 16], np.arange(len(image_hws) + 1) - 0.5)
        return [
            detections_from_rows(rows[starts[i] : starts[i + 1]][:POST_NMS_TOP_K], hw)
            for i, hw in enumerate(image_hws)
        ]


def fast_detector(
    model: torch.nn.Module,
    config: ModelConfig,
    device: torch.device | str = "cpu",
    fp16: bool = False,
    *,
    fold: bool = True,
    merge: bool = True,
    channels_last: bool | None = None,
    cuda_graphs: bool | None = None,
    fuse: bool | None = None,
    torch_compile: bool = False,
) -> Detector:
    """A :class:`Detector` over an inference copy of ``model`` (BN folded, heads merged per level; fp16,
    channels_last and ReLUs fused into their convolutions on CUDA).

    ``model`` itself is not modified. ``channels_last`` defaults to on (measured faster on CPU and CUDA, see
    README's Benchmarks); ``cuda_graphs`` defaults to on for CUDA; ``fuse`` (:func:`fuse_relu`, cuDNN's
    conv+ReLU calls) defaults to on for CUDA with cuDNN and a folded model, unless ``torch_compile``
    (inductor does its own fusing).
    """
    device = torch.device(device)
    net = fold_batchnorm(model) if fold else copy.deepcopy(model).eval()
    if fuse is None:
        cudnn = torch.backends.cudnn.is_available() and torch.backends.cudnn.enabled
        fuse = device.type == "cuda" and cudnn and fold and not torch_compile
    if fuse:
        fuse_relu(net)
    if merge:
        net = merge_heads(net)
    net = net.to(device)
    dtype = torch.float16 if fp16 else torch.float32
    if fp16:
        net = net.half()
    if channels_last is None:
        channels_last = True
    if channels_last:
        net = net.to(memory_format=torch.channels_last)
    for parameter in net.parameters():
        parameter.requires_grad_(False)
    has_mask = bool(getattr(model, "with_mask_head", False))
    return Detector(
        net,
        config,
        device,
        has_mask,
        dtype,
        channels_last=channels_last,
        cuda_graphs=cuda_graphs,
        torch_compile=torch_compile,
    )


def _nms_indices(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    return torch.as_tensor(nms(boxes, scores, iou_threshold), device=boxes.device)
