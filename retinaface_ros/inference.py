"""Inference pipeline: image checks → resize + mean subtraction → forward → threshold → decode → NMS.

Pure PyTorch/OpenCV; the learner and the ROS node call :class:`Detector`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import torch

from retinaface_ros.model.box_coder import decode_boxes, decode_landmarks
from retinaface_ros.model.config import ModelConfig
from retinaface_ros.model.priors import PriorBoxes
from retinaface_ros.nms import nms
from retinaface_ros.types import BoundingBox, BoundingBoxList, Image

PRE_NMS_TOP_K = 5000  # candidates kept (by score) before NMS, as the reference
POST_NMS_TOP_K = 750  # detections kept after NMS, as the reference

Forward = Callable[[torch.Tensor], Sequence[torch.Tensor]]


@dataclass
class Detections:
    """Faces found in one image, in original-image pixels, sorted by score (highest first)."""

    boxes: np.ndarray  # N×4 float32 (x1, y1, x2, y2)
    scores: np.ndarray  # N float32
    landmarks: np.ndarray  # N×5×2 float32
    classes: np.ndarray  # N int64: 0 face, 1 masked_face

    def __len__(self) -> int:
        return len(self.scores)

    @classmethod
    def empty(cls) -> Detections:
        return cls(
            np.zeros((0, 4), np.float32),
            np.zeros(0, np.float32),
            np.zeros((0, 5, 2), np.float32),
            np.zeros(0, np.int64),
        )

    def select(self, index: np.ndarray) -> Detections:
        return Detections(self.boxes[index], self.scores[index], self.landmarks[index], self.classes[index])

    def to_bounding_boxes(self) -> BoundingBoxList:
        return BoundingBoxList(
            BoundingBox(int(c), x1, y1, x2 - x1, y2 - y1, float(s), lm)
            for (x1, y1, x2, y2), s, lm, c in zip(
                self.boxes.tolist(), self.scores.tolist(), self.landmarks, self.classes.tolist(), strict=True
            )
        )


@dataclass(frozen=True)
class InferenceParams:
    """Validated detection settings."""

    threshold: float = 0.8
    nms_threshold: float = 0.4
    scales: tuple[int, int] = (1024, 1980)
    mask_thresh: float = 0.8

    def __post_init__(self) -> None:
        for name in ("threshold", "nms_threshold", "mask_thresh"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TypeError(f"{name} must be a number, got {type(value).__name__}")
            if not math.isfinite(value) or not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be a finite number in [0, 1], got {value}")
        object.__setattr__(self, "scales", validate_scales(self.scales))


def validate_scales(scales: Sequence[int]) -> tuple[int, int]:
    """``[target_short_side, max_long_side]`` as two positive ints."""
    if isinstance(scales, (str, bytes)) or not isinstance(scales, Sequence) or len(scales) != 2:
        raise ValueError(
            f"scales must be [target_short_side, max_long_side] (two positive ints), got {scales!r}"
        )
    out = []
    for value in scales:
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
            raise ValueError(f"scales must be two positive ints, got {scales!r}")
        out.append(int(value))
    return out[0], out[1]


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


class Detector:
    """Runs RetinaFace on images. ``forward`` is the network (a torch module or an onnxruntime wrapper)."""

    def __init__(
        self,
        forward: Forward,
        config: ModelConfig,
        device: torch.device | str = "cpu",
        has_mask_head: bool = False,
        input_dtype: torch.dtype = torch.float32,
    ) -> None:
        self.forward = forward
        self.config = config
        self.device = torch.device(device)
        self.has_mask_head = has_mask_head
        self.input_dtype = input_dtype
        self.priors = PriorBoxes(config)
        self._mean = torch.tensor(config.mean_bgr, dtype=torch.float32, device=self.device).view(1, 3, 1, 1)

    def preprocess(self, images: Sequence[np.ndarray], factor: float) -> torch.Tensor:
        """Resize (one OpenCV pass), upload as uint8, subtract the mean on the device → N×3×h×w."""
        resized = []
        for image in images:
            if factor != 1.0:
                height, width = resized_shape(*image.shape[:2], factor)
                image = cv2.resize(image, (width, height), interpolation=cv2.INTER_LINEAR)
            resized.append(image)
        batch = torch.from_numpy(np.stack(resized) if len(resized) > 1 else resized[0][None])
        batch = batch.to(self.device, non_blocking=True).permute(0, 3, 1, 2).float()
        return (batch - self._mean).to(self.input_dtype).contiguous()

    @torch.inference_mode()
    def detect(self, image: np.ndarray, params: InferenceParams) -> Detections:
        """Faces in one HWC BGR uint8 image."""
        return self.detect_batch([image], params)[0]

    @torch.inference_mode()
    def detect_batch(
        self, images: Sequence[np.ndarray], params: InferenceParams, apply_nms: bool = True
    ) -> list[Detections]:
        """Faces in several images; images that resize to the same shape share one forward pass."""
        results: list[Detections | None] = [None] * len(images)
        groups: dict[tuple[int, int, float], list[int]] = {}
        for index, image in enumerate(images):
            height, width = image.shape[:2]
            factor = resize_factor(height, width, params.scales)
            groups.setdefault((*resized_shape(height, width, factor), factor), []).append(index)
        for (_, _, factor), indices in groups.items():
            batch = self.preprocess([images[i] for i in indices], factor)
            outputs = self.forward(batch)
            for row, index in enumerate(indices):
                results[index] = self.postprocess(
                    [out[row] for out in outputs],
                    batch.shape[-2:],
                    images[index].shape[:2],
                    factor,
                    params,
                    apply_nms,
                )
        return results  # type: ignore[return-value]

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
        loc, conf, landmarks = outputs[0], outputs[1], outputs[2]
        scores = conf[:, 1].float()
        candidates = torch.nonzero(scores > params.threshold).squeeze(1)
        if candidates.numel() == 0:
            return Detections.empty()
        scores = scores[candidates]
        if candidates.numel() > PRE_NMS_TOP_K:
            scores, top = torch.topk(scores, PRE_NMS_TOP_K)
            candidates = candidates[top]
        else:
            scores, order = torch.sort(scores, descending=True)
            candidates = candidates[order]
        height, width = input_hw
        priors = self.priors(height, width, scores.device)[candidates]
        to_pixels = torch.tensor([width, height], dtype=torch.float32, device=scores.device) / factor
        variances = self.config.variances
        boxes = decode_boxes(loc[candidates].float(), priors, variances) * to_pixels.repeat(2)
        points = decode_landmarks(landmarks[candidates].float(), priors, variances).view(-1, 5, 2) * to_pixels
        classes = torch.zeros_like(candidates)
        if self.has_mask_head and len(outputs) > 3:
            classes = (outputs[3][candidates, 1].float() > params.mask_thresh).long()
        if apply_nms:
            keep = torch.as_tensor(nms(boxes, scores, params.nms_threshold), device=scores.device)[
                :POST_NMS_TOP_K
            ]
            boxes, scores, points, classes = boxes[keep], scores[keep], points[keep], classes[keep]
        image_height, image_width = image_hw
        boxes[:, 0::2] = boxes[:, 0::2].clamp(0, image_width)
        boxes[:, 1::2] = boxes[:, 1::2].clamp(0, image_height)
        points[..., 0] = points[..., 0].clamp(0, image_width)
        points[..., 1] = points[..., 1].clamp(0, image_height)
        return Detections(
            boxes.cpu().numpy(),
            scores.cpu().numpy(),
            points.cpu().numpy(),
            classes.cpu().numpy().astype(np.int64),
        )
