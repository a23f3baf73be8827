"""Inference, one call: image checks → prepare (resize, mean, upload) → backend (network) → postprocess
(threshold, decode, NMS) → :class:`~retinaface_ros.detections.Detections`.

The stages live in their own modules: :mod:`.preprocess`, :mod:`retinaface_ros.backends` (the network on
one runtime), :mod:`.postprocess` (numpy, torch, packed) and :mod:`.nms`. Importing this module does not
import torch: with a numpy backend (onnxruntime, OpenVINO) the whole path is numpy + OpenCV.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from retinaface_ros.detections import Detections, InferenceParams
from retinaface_ros.inference.options import DetectorOptions
from retinaface_ros.inference.postprocess.batch import PostprocessBatch
from retinaface_ros.inference.postprocess.numpy import postprocess_numpy
from retinaface_ros.inference.preprocess import as_bgr_image, group_by_shape
from retinaface_ros.model.config import ModelConfig
from retinaface_ros.model.priors import NUMPY, PriorBoxes

if TYPE_CHECKING:
    import torch

    from retinaface_ros.backends.base import Backend

__all__ = ["Detector", "as_bgr_image", "fast_detector"]


class Detector:
    """Runs RetinaFace on images with a :class:`~retinaface_ros.backends.base.Backend`.

    Stages: :meth:`prepare` (the backend's resize and upload) → :meth:`run` (the network) →
    :meth:`postprocess_group` (threshold, decode the survivors with cached priors, NMS, back to image
    pixels). The postprocess follows the outputs: numpy arrays (and CPU tensors with ``fast_postprocess``)
    take :func:`~.postprocess.numpy.postprocess_numpy`; CUDA tensors the packed postprocess
    (:class:`~.postprocess.packed.PackedPostprocess`, a CUDA graph after the network's, with its ladder of
    candidate budgets) or :class:`~.postprocess.torch.TorchPostprocess` (per batch, per image). Each fast
    path is checked against the plain one (``options.PLAIN``) in the tests; ``counters`` counts the packed
    path's outcomes and ``retinaface bench`` measures them.
    """

    def __init__(self, backend: Backend, config: ModelConfig, options: DetectorOptions | None = None) -> None:
        self.backend = backend
        self.config = config
        self.options = options if options is not None else getattr(backend, "options", DetectorOptions())
        self.has_mask_head = bool(backend.has_mask_head)
        self.priors = PriorBoxes(config)
        self.graph_failures: list[str] = getattr(backend, "graph_failures", [])
        self._torch_post: Any = None
        self._packed: Any = None

    @property
    def device(self) -> Any:
        return self.backend.device

    @property
    def counters(self) -> dict[str, int]:
        """Outcomes of the packed postprocess: packed, larger_top_k, fallback_overflow,
        fallback_not_converged."""
        from retinaface_ros.inference.postprocess.packed import COUNTERS

        return dict(self._packed.counters) if self._packed is not None else dict.fromkeys(COUNTERS, 0)

    def compile_failures(self) -> dict[str, str | None]:
        """With ``torch_compile`` on CUDA: why compiling the network / postprocess fell back to eager (None
        where it did not); empty otherwise."""
        failures = getattr(self.backend, "compile_failures", dict)()
        if failures:
            failures["postprocess"] = getattr(self._packed_postprocess().function, "failure", None)
        return failures

    def cache_info(self) -> dict[str, Any]:
        """What is cached (the backend's graphs and buffers, priors, postprocess runners), by key."""
        info = {"backend": self.backend.cache_info(), "priors": self.priors.cache_info()}
        if self._torch_post is not None:
            info.update(self._torch_post.cache_info())
        if self._packed is not None:
            info.update(self._packed.cache_info())
        return info

    # ------------------------------------------------------------------------------------------ detect
    def detect(self, image: np.ndarray, params: InferenceParams) -> Detections:
        """Faces in one HWC BGR uint8 image."""
        return self.detect_batch([image], params)[0]

    def detect_batch(
        self, images: Sequence[np.ndarray], params: InferenceParams, apply_nms: bool = True
    ) -> list[Detections]:
        """Faces in several images; images that resize to the same shape share one forward pass."""
        results: list[Detections | None] = [None] * len(images)
        with self.backend.scope():
            for (height, width, factor), indices in group_by_shape(images, params.scales).items():
                group = [images[i] for i in indices]
                outputs = self.backend.run(self.backend.prepare(group, factor))
                hws = [image.shape[:2] for image in group]
                batch = PostprocessBatch(outputs, (height, width), hws, factor, params, apply_nms)
                for index, detections in zip(indices, self._postprocess(batch), strict=True):
                    results[index] = detections
        return results  # type: ignore[return-value]

    # ------------------------------------------------------------------------------------------ stages
    def prepare(self, images: Sequence[np.ndarray], factor: float) -> Any:
        """The network input of images of one size (resized by ``factor``), as the backend takes it."""
        with self.backend.scope():
            return self.backend.prepare(images, factor)

    def run(self, prepared: Any) -> Sequence[Any]:
        """The network's head outputs for :meth:`prepare`'s result."""
        with self.backend.scope():
            return self.backend.run(prepared)

    def postprocess_group(self, batch: PostprocessBatch) -> list[Detections]:
        """Detections for each image of one forward pass."""
        with self.backend.scope():
            return self._postprocess(batch)

    def _postprocess(self, batch: PostprocessBatch) -> list[Detections]:
        conf = batch.outputs[1]
        if isinstance(conf, np.ndarray):
            return [self._numpy(batch, row) for row in range(len(batch))]
        fast = self.options.fast_postprocess
        packed = conf.is_cuda if self.options.packed is None else self.options.packed
        if batch.apply_nms and fast and packed:
            return self._packed_postprocess()(batch)
        if len(batch) > 1 and conf.is_cuda and fast:
            found = self._torch_postprocess().batch(batch)
            if found is not None:
                return found
        return [self.postprocess_image(batch, row) for row in range(len(batch))]

    def postprocess_image(self, batch: PostprocessBatch, row: int) -> Detections:
        """The exact postprocess of image ``row``: numpy (CPU, ``fast_postprocess``) or torch."""
        conf = batch.outputs[1]
        if isinstance(conf, np.ndarray) or (self.options.fast_postprocess and conf.device.type == "cpu"):
            return self._numpy(batch, row)
        return self._torch_postprocess().image(batch, row)

    def _numpy(self, batch: PostprocessBatch, row: int) -> Detections:
        priors = self.priors(*batch.input_hw, NUMPY)
        return postprocess_numpy(batch, row, priors, self.config.variances, self.has_mask_head)

    def _torch_postprocess(self) -> Any:
        if self._torch_post is None:
            from retinaface_ros.inference.postprocess.torch import TorchPostprocess

            self._torch_post = TorchPostprocess(self.priors, self.config.variances, self.has_mask_head)
        return self._torch_post

    def _packed_postprocess(self) -> Any:
        if self._packed is None:
            from retinaface_ros.inference.postprocess.packed import PackedPostprocess

            self._packed = PackedPostprocess(
                self.priors,
                self.config.variances,
                self.has_mask_head,
                self.options,
                self.postprocess_image,
                getattr(self.backend, "graph", lambda key: None),
                self.graph_failures,
            )
        return self._packed


def fast_detector(
    model: torch.nn.Module,
    config: ModelConfig,
    device: torch.device | str = "cpu",
    options: DetectorOptions | None = None,
) -> Detector:
    """A :class:`Detector` over a torch inference copy of ``model`` (see
    :meth:`~retinaface_ros.backends.torch.TorchBackend.from_model`); ``model`` itself is not modified."""
    from retinaface_ros.backends.torch import TorchBackend

    options = options if options is not None else DetectorOptions()
    return Detector(TorchBackend.from_model(model, device, options), config, options)
