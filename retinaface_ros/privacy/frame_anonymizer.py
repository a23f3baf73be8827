"""Batched detection + temporal safety + coverage for many streams: what the offline commands run per frame.

The caller owns pixel layouts: it hands BGR frames in, gets the boxes to cover back and covers them in its own
layout (a raw ROS image keeps its encoding). No ROS; the learner is any object with ``detect_arrays_batch``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from retinaface_ros.detections import Detections
from retinaface_ros.privacy.anonymizer import AnonymizeConfig
from retinaface_ros.privacy.coverage import CoverageReport
from retinaface_ros.privacy.face_cover import FaceCover


class FrameAnonymizer:
    """Detects faces in batches of frames and returns, per frame, the boxes to cover."""

    def __init__(
        self,
        learner: Any,
        config: AnonymizeConfig | None = None,
        max_age_s: float = 1.0,
        tracking: bool = False,
        nms_threshold: float | None = None,
        scales: Sequence[int] | None = None,
    ) -> None:
        self.learner = learner
        self.config = config or AnonymizeConfig()
        self.max_age_s = max_age_s
        self.tracking = tracking
        self.nms_threshold = nms_threshold
        self.scales = None if scales is None else list(scales)
        self.report = CoverageReport()
        self._covers: dict[str, FaceCover] = {}

    def boxes_to_cover(self, frames: Sequence[tuple[str, float | None, np.ndarray]]) -> list[np.ndarray]:
        """:meth:`process` without the detections."""
        return [boxes for _, boxes in self.process(frames)]

    def process(
        self, frames: Sequence[tuple[str, float | None, np.ndarray]], count: bool = True
    ) -> list[tuple[Detections, np.ndarray]]:
        """``frames`` = (stream, stamp in s, BGR uint8 image), in stream order; per frame, the detections and
        the N×4 boxes to cover (the detections' boxes plus faces carried through misses).

        All frames go through one ``detect_arrays_batch`` call; each stream's temporal safety sees its
        frames in the order given. A stamp of None (unrelated photos) covers that frame's detections only.
        ``count=False`` leaves the frames out of the coverage report (a warm-up before a bag part).
        """
        if not frames:
            return []
        start = time.perf_counter()
        found = self.learner.detect_arrays_batch(
            [image for _, _, image in frames],
            threshold=self.config.threshold,
            nms_threshold=self.nms_threshold,
            scales=self.scales,
        )
        out = []
        for (stream, stamp, image), detections in zip(frames, found, strict=True):
            if stamp is None:
                out.append((detections, np.asarray(detections.boxes, np.float32).reshape(-1, 4)))
                continue
            cover = self._covers.get(stream)
            if cover is None:
                cover = self._covers[stream] = FaceCover(self.max_age_s, self.tracking)
            out.append((detections, cover.update(stamp, detections, image)))
        seconds = (time.perf_counter() - start) / len(frames)
        for (stream, _, _), (detections, boxes) in zip(frames, out if count else (), strict=False):
            self.report.stream(stream).add(len(detections), len(boxes), seconds)
        return out
