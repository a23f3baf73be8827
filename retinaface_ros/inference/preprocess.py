"""Image → network input: image checks, the resize factor, grouping by input shape, the CPU blob (one
OpenCV pass) and the CUDA upload (uint8, pinned staging, resize on the device).

Only numpy and OpenCV at import: the torch parts (:func:`resize_on_device`, :class:`DeviceUploader`) import
torch when they are used, so the torch-free ONNX deployment uses the rest.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from retinaface_ros.inference.resize import resize_factor, resized_shape
from retinaface_ros.inference.staging import resize_image, resizes_by_factor, stage_frames
from retinaface_ros.types import Image

if TYPE_CHECKING:
    import torch

__all__ = [
    "DeviceUploader",
    "as_bgr_image",
    "cpu_blob",
    "group_by_shape",
    "resize_factor",
    "resize_on_device",
    "resized_shape",
]


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


def cpu_blob(images: Sequence[np.ndarray], factor: float, mean_bgr: tuple[float, float, float]) -> np.ndarray:
    """N×3×h×w float32 network input: resized as the reference, then mean subtraction and HWC→NCHW in one
    OpenCV pass (``cv2.dnn.blobFromImage(s)``)."""
    if factor != 1.0:  # cv2.dnn's own resize samples at the size ratio: resize as the reference first
        images = [resize_image(image, factor) for image in images]
    if len(images) == 1:
        return cv2.dnn.blobFromImage(images[0], 1.0, None, mean_bgr, False, False)
    return cv2.dnn.blobFromImages(list(images), 1.0, None, mean_bgr, False, False)


def resize_on_device(images: torch.Tensor, out: torch.Tensor, factor: float) -> None:
    """Bilinear resize by ``factor`` of uint8 N×H×W×3 ``images`` into uint8 N×h×w×3 ``out`` on their device,
    as :func:`~.staging.resize_image` (OpenCV's ``INTER_LINEAR`` with fx = fy = ``factor``:
    half-pixel centres, no antialiasing), rounded to uint8. Within one grey level of OpenCV, whose uint8
    resize uses 11-bit fixed-point weights."""
    import torch

    planes = images.permute(0, 3, 1, 2).float()  # NCHW view, channels_last strides
    size = list(out.shape[1:3])
    # The aten op takes the output size and the scale together: samples at (x + 0.5) / factor − 0.5, as the
    # reference's cv2.resize(fx=factor), rather than at the ratio of the rounded sizes.
    resized = torch.ops.aten.upsample_bilinear2d(planes, size, False, factor, factor)
    out.copy_(resized.round_().permute(0, 2, 3, 1))


class DeviceUploader:
    """Frames → uint8 N×h×w×3 batch on a torch device, through reused staging buffers (pinned on CUDA).

    On CUDA frames that need resizing are uploaded at their own size and resized there
    (:func:`resize_on_device`): fewer bytes to copy and no resize on the host's cores.
    """

    def __init__(self, device: torch.device, max_buffers: int) -> None:
        self.device = device
        self.max_buffers = max_buffers
        self._staging: dict[tuple[int, ...], tuple[Any, Any]] = {}  # least recently used first

    def upload(
        self, images: Sequence[np.ndarray], factor: float, target: torch.Tensor | None
    ) -> torch.Tensor:
        """The batch in ``target`` (e.g. a CUDA graph's static input) or in a new tensor."""
        height, width = resized_shape(*images[0].shape[:2], factor)
        batch = target if target is not None else self._new_batch((len(images), height, width, 3))
        same_size = all(image.shape == images[0].shape for image in images)
        cuda = self.device.type == "cuda"
        if cuda and factor != 1.0 and same_size and resizes_by_factor(*images[0].shape[:2], factor):
            originals = self._new_batch((len(images), *images[0].shape))
            self._copy_staged(images, 1.0, originals)
            resize_on_device(originals, batch, factor)
        else:
            self._copy_staged(images, factor, batch)
        return batch

    def _new_batch(self, shape: tuple[int, ...]) -> torch.Tensor:
        import torch

        return torch.empty(shape, dtype=torch.uint8, device=self.device)

    def _copy_staged(self, images: Sequence[np.ndarray], factor: float, target: torch.Tensor) -> None:
        """Resize or copy ``images`` into a reused uint8 staging buffer (pinned on CUDA) and copy that into
        ``target`` chunk by chunk, each copy overlapping the filling of the next chunk."""
        import torch

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
        while len(self._staging) > self.max_buffers:
            self._staging.pop(next(iter(self._staging)))

    def cache_info(self) -> dict[str, Any]:
        """The staging buffers' (batch, height, width) keys, least recently used first."""
        return {"staging": list(self._staging), "max_buffers": self.max_buffers}
