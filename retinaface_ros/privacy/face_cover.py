"""Which boxes to cover in each frame of one stream: the detections, plus faces the detector briefly missed.

A face that the detector loses for a few frames (motion blur, a turned head) must stay covered. With
``tracking`` the face tracker (``retinaface_ros.tracking``) carries each face at its predicted position
through misses of up to ``max_age_s``; without it the last box of a lost face is held in place for
``max_age_s``. ``max_age_s = 0`` covers the detections only.
"""

from __future__ import annotations

import numpy as np

from retinaface_ros.detections import Detections


class FaceCover:
    """Temporal safety for one image stream (a camera, a bag topic, a video)."""

    def __init__(self, max_age_s: float = 1.0, tracking: bool = False) -> None:
        if not max_age_s >= 0:
            raise ValueError(f"max_age_s must be >= 0, got {max_age_s!r}")
        self.max_age_s = float(max_age_s)
        self.tracking = tracking
        self._tracker = None
        if tracking:
            try:
                from retinaface_ros.tracking import FaceTracker, SmoothingConfig, TrackerConfig
            except ModuleNotFoundError as error:
                raise ModuleNotFoundError(
                    "temporal safety with tracking needs retinaface_ros.tracking (not in this build); "
                    "use tracking=False to hold lost faces in place",
                    name=error.name,
                ) from error
            # Every detection is covered at once (min_hits=1), unsmoothed: covering lags nothing.
            self._tracker = FaceTracker(
                TrackerConfig(
                    min_hits=1, max_age_s=max(self.max_age_s, 1e-6), smoothing=SmoothingConfig(enabled=False)
                )
            )
        self._held: list[tuple[float, np.ndarray]] = []  # (last seen stamp, box) of faces, without tracking
        self._last_stamp: float | None = None

    def reset(self) -> None:
        self._held.clear()
        self._last_stamp = None
        if self._tracker is not None:
            self._tracker.reset()

    def update(
        self, stamp_s: float, detections: Detections | None, image: np.ndarray | None = None
    ) -> np.ndarray:
        """N×4 float32 boxes to cover in the frame at ``stamp_s``: the detections first, then the boxes of
        faces missed in this frame but seen within ``max_age_s``. ``detections=None``: the detector did not
        run on this frame (every live face is covered where it is predicted; ``image`` (BGR) feeds the
        tracker's optical flow)."""
        ran = detections is not None
        detections = detections if ran else Detections.empty()
        boxes = np.asarray(detections.boxes, np.float32).reshape(-1, 4)
        if self.max_age_s == 0:
            return boxes
        if self._last_stamp is not None and stamp_s < self._last_stamp:  # stream restarted or looped
            self.reset()
        self._last_stamp = stamp_s
        if self._tracker is not None:
            tracks = self._tracker.update(stamp_s, detections if ran else None, image)
            missed = [t.box for t in tracks if not t.detected and t.time_since_update_s <= self.max_age_s]
        elif ran:
            missed = self._hold(stamp_s, boxes)
        else:
            missed = [box for seen, box in self._held if stamp_s - seen <= self.max_age_s]
        if not missed:
            return boxes
        return np.concatenate([boxes, np.asarray(missed, np.float32).reshape(-1, 4)])

    def _hold(self, stamp_s: float, boxes: np.ndarray) -> list[np.ndarray]:
        """Boxes of held faces not matched by a detection now; then the held set is refreshed."""
        kept = [(seen, box) for seen, box in self._held if stamp_s - seen <= self.max_age_s]
        missed = [box for _, box in kept if not _overlaps_any(box, boxes)]
        self._held = [(stamp_s, box) for box in boxes] + [
            (seen, box) for seen, box in kept if not _overlaps_any(box, boxes)
        ]
        return missed


def _overlaps_any(box: np.ndarray, boxes: np.ndarray, min_iou: float = 0.3) -> bool:
    if len(boxes) == 0:
        return False
    top_left = np.maximum(box[:2], boxes[:, :2])
    bottom_right = np.minimum(box[2:], boxes[:, 2:])
    inter = np.clip(bottom_right - top_left, 0, None).prod(-1)
    union = (box[2:] - box[:2]).prod() + (boxes[:, 2:] - boxes[:, :2]).prod(-1) - inter
    return bool((inter / np.maximum(union, 1e-9) >= min_iou).any())
