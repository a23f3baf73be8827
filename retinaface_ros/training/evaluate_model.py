"""``validate_model``: recall and AP of a bare network on a validation set, what ``fit`` runs after every
``val_after`` epochs when no ``validate`` function is given (the learner passes its own ``eval``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from retinaface_ros.detections import Detections, InferenceParams
from retinaface_ros.inference.detector import Detector, fast_detector
from retinaface_ros.model import RetinaFace, config_for

NMS_THRESHOLD_WITHOUT_NMS = 0.4  # InferenceParams needs one even when NMS is skipped


class ModelDetector:
    """The ``detect_arrays`` the evaluation calls, over an inference copy of ``model`` (BatchNorm folded;
    ``model`` itself is left untouched)."""

    def __init__(self, model: RetinaFace) -> None:
        device = next(model.parameters()).device
        self.detector: Detector = fast_detector(model, config_for(model.backbone_name), device)

    def detect_arrays(
        self,
        image: np.ndarray,
        threshold: float,
        nms_threshold: float | None,
        scales: Sequence[int],
        mask_thresh: float | None = None,
    ) -> Detections:
        """Faces in one BGR image; ``nms_threshold=None`` skips NMS (the test-time augmentation merges)."""
        defaults = InferenceParams()
        params = InferenceParams(
            threshold,
            NMS_THRESHOLD_WITHOUT_NMS if nms_threshold is None else nms_threshold,
            tuple(scales),
            defaults.mask_thresh if mask_thresh is None else mask_thresh,
        )
        return self.detector.detect_batch([image], params, apply_nms=nms_threshold is not None)[0]


def validate_model(model: RetinaFace, dataset: Any) -> dict[str, Any]:
    """Recall and AP of ``model`` on ``dataset`` (one scale, no flip: the quick check during training)."""
    from retinaface_ros.evaluation.evaluate import evaluate_learner

    return evaluate_learner(ModelDetector(model), dataset, verbose=False, pyramid=False, flip=False)
