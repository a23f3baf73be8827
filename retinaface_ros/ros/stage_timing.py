"""Where a frame's latency goes, stage by stage, for the detector's /diagnostics.

Stages of one frame, in order: ``transport`` (header stamp → the subscription callback: the camera's
publish, DDS, the executor), ``wait`` (callback → the worker takes it: the hand-off, or an inference still
running), ``convert`` (message → BGR array), ``infer`` (the learner on the batch) and ``publish`` (building
and publishing the output messages). Each is reported as the median over the last frames, so a per-stage
budget can be compared with ``latency`` (stamp → published) at a glance.
"""

from __future__ import annotations

import math
import threading
from collections import deque

import numpy as np

STAGES: tuple[str, ...] = ("transport", "wait", "convert", "infer", "publish")


class StageTimes:
    """Thread-safe rolling windows of per-stage durations (seconds); ``snapshot`` gives medians in ms."""

    def __init__(self, max_samples: int = 300) -> None:
        self._lock = threading.Lock()
        self._samples = {stage: deque(maxlen=max_samples) for stage in STAGES}

    def add(self, **durations_s: float) -> None:
        """Record one frame's stage durations (any subset of ``STAGES``; NaN = unknown, skipped)."""
        with self._lock:
            for stage, value in durations_s.items():
                if not math.isnan(value):
                    self._samples[stage].append(value)

    def snapshot(self) -> dict[str, float]:
        """stage → median milliseconds over the window (NaN when no sample)."""
        with self._lock:
            samples = {stage: list(values) for stage, values in self._samples.items()}
        return {
            stage: float(np.median(values)) * 1000.0 if values else math.nan
            for stage, values in samples.items()
        }

    def diagnostics_values(self) -> dict[str, str]:
        """``stage_<name>_p50_ms`` → value, for the DiagnosticStatus key/values."""
        return {f"stage_{stage}_p50_ms": f"{value:.1f}" for stage, value in self.snapshot().items()}

    def reset(self) -> None:
        with self._lock:
            for values in self._samples.values():
                values.clear()
