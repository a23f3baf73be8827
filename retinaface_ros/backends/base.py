"""The seam between the detector and a runtime: images → network input → head outputs.

A backend is one file in this package and one entry in :mod:`.registry`. The detector only calls what
:class:`Backend` lists: ``prepare`` and ``run`` for each forward pass, ``scope`` around them; the learner
and the model folder ask ``framework``/``model_file`` what ``save`` writes.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol, runtime_checkable

import numpy as np

from retinaface_ros.inference.preprocess import cpu_blob


@runtime_checkable
class Backend(Protocol):
    """A loaded RetinaFace network on one runtime.

    ``name``: the registry's runtime name; ``framework``: what a model folder saved from it holds
    (``"pytorch"`` or ``"onnx"``); ``device``: where it runs (``"cpu"``, ``"cuda:0"``, ``"GPU"`` …);
    ``has_mask_head``: a fourth (mask) output.
    """

    name: str
    framework: str
    device: Any
    has_mask_head: bool

    def prepare(self, images: Sequence[np.ndarray], factor: float) -> Any:
        """HWC BGR uint8 images of one size → the network input (resized by ``factor``)."""

    def run(self, prepared: Any) -> Sequence[Any]:
        """Network input → (loc N×P×4, conf N×P×2, landmarks N×P×10[, mask N×P×2]): numpy arrays or
        torch tensors."""

    def scope(self) -> AbstractContextManager[Any]:
        """The context of a detection (torch: inference mode on the backend's own CUDA device)."""

    def model_file(self) -> tuple[str, bytes]:
        """(framework, file contents) that a model folder saved from this backend holds."""

    def cache_info(self) -> dict[str, Any]:
        """What the backend caches (graphs, buffers), for tests and the benchmark."""


class ArrayBackend:
    """Base of the numpy runtimes (onnxruntime, OpenVINO): the CPU blob in, numpy arrays out, no torch."""

    name = "array"
    framework = "onnx"
    device: Any = "cpu"
    has_mask_head = False

    def __init__(self, mean_bgr: tuple[float, float, float]) -> None:
        self.mean_bgr = tuple(float(m) for m in mean_bgr)

    def prepare(self, images: Sequence[np.ndarray], factor: float) -> np.ndarray:
        return cpu_blob(images, factor, self.mean_bgr)

    def scope(self) -> AbstractContextManager[Any]:
        return contextlib.nullcontext()

    def cache_info(self) -> dict[str, Any]:
        return {}
