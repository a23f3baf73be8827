"""The postprocess of one image in numpy + OpenCV (the CPU default; the torch-free deployment's only one)."""

from __future__ import annotations

import numpy as np

from retinaface_ros.detections import Detections, clip_to_image
from retinaface_ros.inference.nms import POST_NMS_TOP_K, PRE_NMS_TOP_K, nms
from retinaface_ros.inference.postprocess.batch import PostprocessBatch
from retinaface_ros.model.box_coder import decode_boxes, decode_landmarks


def postprocess_numpy(
    batch: PostprocessBatch,
    row: int,
    priors: np.ndarray,
    variances: tuple[float, float],
    has_mask_head: bool,
) -> Detections:
    """Threshold, decode the survivors only, NMS, map to original pixels and clip: image ``row`` of
    ``batch`` (numpy arrays or CPU tensors), ``priors`` the P×4 float32 priors of its input size."""
    params = batch.params
    all_scores = np.asarray(batch.outputs[1][row])[:, 1]
    candidates = np.flatnonzero(all_scores > params.threshold)
    if candidates.size == 0:
        return Detections.empty()
    scores = all_scores[candidates].astype(np.float32, copy=False)
    order = np.argsort(-scores, kind="stable")[:PRE_NMS_TOP_K]
    candidates, scores = candidates[order], scores[order]
    priors = priors[candidates]
    loc = np.asarray(batch.outputs[0][row])[candidates].astype(np.float32, copy=False)
    marks = np.asarray(batch.outputs[2][row])[candidates].astype(np.float32, copy=False)
    sx, sy = (np.float32(value) for value in batch.pixel_scale)
    scale = np.array([sx, sy, sx, sy], np.float32)
    boxes = decode_boxes(loc, priors, variances) * scale
    points = decode_landmarks(marks, priors, variances).reshape(-1, 5, 2) * scale[:2]
    classes = np.zeros(len(candidates), np.int64)
    if batch.with_mask(has_mask_head):
        mask = np.asarray(batch.outputs[3][row])
        classes = (mask[candidates, 1] > params.mask_thresh).astype(np.int64)
    if batch.apply_nms:
        keep = nms(boxes, scores, params.nms_threshold)[:POST_NMS_TOP_K]
        boxes, scores, points, classes = boxes[keep], scores[keep], points[keep], classes[keep]
    clip_to_image(boxes, points, batch.image_hws[row])
    return Detections(boxes, scores, points, classes)
