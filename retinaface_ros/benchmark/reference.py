"""A straightforward port of the public reference pipeline (biubug6/Pytorch_Retinaface ``detect.py``).

Kept deliberately as published, as the benchmark's baseline: float conversion and mean subtraction in numpy,
a PriorBox built with Python loops over ``itertools.product`` on every frame, decode of ALL priors, scores
thresholded afterwards, numpy ``py_cpu_nms``, nothing cached. Resizing follows ``test_widerface.py``.
"""

from __future__ import annotations

from itertools import product
from math import ceil

import cv2
import numpy as np
import torch

from retinaface_ros.model.config import ModelConfig


class PriorBox:
    """The reference's anchor generator (Python loops, rebuilt per frame)."""

    def __init__(self, config: ModelConfig, image_size: tuple[int, int]) -> None:
        self.min_sizes = config.min_sizes
        self.steps = config.steps
        self.image_size = image_size
        self.feature_maps = [[ceil(image_size[0] / step), ceil(image_size[1] / step)] for step in self.steps]

    def forward(self) -> torch.Tensor:
        anchors: list[float] = []
        for k, f in enumerate(self.feature_maps):
            min_sizes = self.min_sizes[k]
            for i, j in product(range(f[0]), range(f[1])):
                for min_size in min_sizes:
                    s_kx = min_size / self.image_size[1]
                    s_ky = min_size / self.image_size[0]
                    dense_cx = [x * self.steps[k] / self.image_size[1] for x in [j + 0.5]]
                    dense_cy = [y * self.steps[k] / self.image_size[0] for y in [i + 0.5]]
                    for cy, cx in product(dense_cy, dense_cx):
                        anchors += [cx, cy, s_kx, s_ky]
        return torch.Tensor(anchors).view(-1, 4)


def decode(loc: torch.Tensor, priors: torch.Tensor, variances: tuple[float, float]) -> torch.Tensor:
    boxes = torch.cat(
        (
            priors[:, :2] + loc[:, :2] * variances[0] * priors[:, 2:],
            priors[:, 2:] * torch.exp(loc[:, 2:] * variances[1]),
        ),
        1,
    )
    boxes[:, :2] -= boxes[:, 2:] / 2
    boxes[:, 2:] += boxes[:, :2]
    return boxes


def decode_landm(pre: torch.Tensor, priors: torch.Tensor, variances: tuple[float, float]) -> torch.Tensor:
    return torch.cat(
        [priors[:, :2] + pre[:, 2 * k : 2 * k + 2] * variances[0] * priors[:, 2:] for k in range(5)], dim=1
    )


def py_cpu_nms(dets: np.ndarray, thresh: float) -> list[int]:
    """The reference's pure-numpy greedy NMS."""
    x1, y1, x2, y2, scores = dets[:, 0], dets[:, 1], dets[:, 2], dets[:, 3], dets[:, 4]
    areas = (x2 - x1 + 1) * (y2 - y1 + 1)
    order = scores.argsort()[::-1]
    keep = []
    while order.size > 0:
        i = order[0]
        keep.append(int(i))
        xx1 = np.maximum(x1[i], x1[order[1:]])
        yy1 = np.maximum(y1[i], y1[order[1:]])
        xx2 = np.minimum(x2[i], x2[order[1:]])
        yy2 = np.minimum(y2[i], y2[order[1:]])
        w = np.maximum(0.0, xx2 - xx1 + 1)
        h = np.maximum(0.0, yy2 - yy1 + 1)
        inter = w * h
        ovr = inter / (areas[i] + areas[order[1:]] - inter)
        inds = np.where(ovr <= thresh)[0]
        order = order[inds + 1]
    return keep


class ReferencePipeline:
    """``detect.py``'s per-image loop around an un-fused fp32 RetinaFace (batch of one image at a time)."""

    def __init__(
        self,
        net: torch.nn.Module,
        config: ModelConfig,
        device: torch.device | str = "cpu",
        confidence_threshold: float = 0.02,
        nms_threshold: float = 0.4,
        top_k: int = 5000,
        keep_top_k: int = 750,
    ) -> None:
        self.net = net.eval()
        self.config = config
        self.device = torch.device(device)
        self.confidence_threshold = confidence_threshold
        self.nms_threshold = nms_threshold
        self.top_k = top_k
        self.keep_top_k = keep_top_k

    def preprocess(self, img_raw: np.ndarray, resize: float) -> torch.Tensor:
        img = np.float32(img_raw)
        if resize != 1:
            img = cv2.resize(img, None, None, fx=resize, fy=resize, interpolation=cv2.INTER_LINEAR)
        img -= (104, 117, 123)
        img = img.transpose(2, 0, 1)
        return torch.from_numpy(img).unsqueeze(0).to(self.device)

    def forward(self, img: torch.Tensor) -> tuple[torch.Tensor, ...]:
        with torch.no_grad():
            return self.net(img)

    def postprocess(self, outputs: tuple[torch.Tensor, ...], img: torch.Tensor, resize: float) -> np.ndarray:
        loc, conf, landms = outputs[0], outputs[1], outputs[2]
        im_height, im_width = img.shape[2], img.shape[3]
        scale = torch.Tensor([im_width, im_height, im_width, im_height]).to(self.device)
        priorbox = PriorBox(self.config, image_size=(im_height, im_width))
        priors = priorbox.forward().to(self.device)
        variances = self.config.variances
        boxes = decode(loc.data.squeeze(0), priors.data, variances)
        boxes = (boxes * scale / resize).cpu().numpy()
        scores = conf.squeeze(0).data.cpu().numpy()[:, 1]
        landms = decode_landm(landms.data.squeeze(0), priors.data, variances)
        scale1 = torch.Tensor([im_width, im_height] * 5).to(self.device)
        landms = (landms * scale1 / resize).cpu().numpy()
        inds = np.where(scores > self.confidence_threshold)[0]
        boxes, landms, scores = boxes[inds], landms[inds], scores[inds]
        order = scores.argsort()[::-1][: self.top_k]
        boxes, landms, scores = boxes[order], landms[order], scores[order]
        dets = np.hstack((boxes, scores[:, np.newaxis])).astype(np.float32, copy=False)
        keep = py_cpu_nms(dets, self.nms_threshold)
        dets, landms = dets[keep, :], landms[keep]
        dets, landms = dets[: self.keep_top_k, :], landms[: self.keep_top_k, :]
        return np.concatenate((dets, landms), axis=1)

    def detect(self, img_raw: np.ndarray, resize: float = 1.0) -> np.ndarray:
        """N×15 (x1, y1, x2, y2, score, 5 landmarks) for one image, as ``detect.py`` produces them."""
        img = self.preprocess(img_raw, resize)
        return self.postprocess(self.forward(img), img, resize)
