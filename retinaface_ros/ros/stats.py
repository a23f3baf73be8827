"""Thread-safe counters and rolling windows behind the detector's /diagnostics: fps, latency, drops.

A frame replaced in the slot while the worker was busy is *dropped* (inference slower than the input); one
replaced while the worker deliberately waited for ``max_rate_hz`` is *skipped* (the rate limit at work).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class StatsSnapshot:
    """What the node reports; rates over the last ``window_s`` seconds, counters since activation."""

    input_fps: float
    processed_fps: float
    latency_mean_ms: float
    latency_p95_ms: float
    inference_mean_ms: float
    received: int
    processed: int
    dropped: int
    skipped: int
    rejected: int
    batches: int
    largest_batch: int
    window_received: int
    window_dropped: int
    window_rejected: int
    last_reject_reason: str


class Stats:
    """Records events from the callback and worker threads; :meth:`snapshot` summarises them."""

    def __init__(self, window_s: float = 5.0, max_samples: int = 1000) -> None:
        self.window_s = window_s
        self._lock = threading.Lock()
        self._inputs: deque[float] = deque(maxlen=max_samples)
        self._outputs: deque[tuple[float, float, float]] = deque(maxlen=max_samples)  # t, latency, inference
        self._drops: deque[float] = deque(maxlen=max_samples)
        self._rejects: deque[float] = deque(maxlen=max_samples)
        self.received = self.processed = self.dropped = self.skipped = self.rejected = 0
        self.batches = self.largest_batch = 0
        self.last_reject_reason = ""

    def on_input(self) -> None:
        with self._lock:
            self.received += 1
            self._inputs.append(time.monotonic())

    def on_drop(self) -> None:
        with self._lock:
            self.dropped += 1
            self._drops.append(time.monotonic())

    def on_batch(self, size: int) -> None:
        """One inference over ``size`` frames (several cameras' frames that were waiting together)."""
        with self._lock:
            self.batches += 1
            self.largest_batch = max(self.largest_batch, size)

    def on_skip(self) -> None:
        with self._lock:
            self.skipped += 1

    def on_reject(self, reason: str) -> None:
        with self._lock:
            self.rejected += 1
            self.last_reject_reason = reason
            self._rejects.append(time.monotonic())

    def on_processed(self, latency_s: float, inference_s: float) -> None:
        with self._lock:
            self.processed += 1
            self._outputs.append((time.monotonic(), latency_s, inference_s))

    def snapshot(self) -> StatsSnapshot:
        now = time.monotonic()
        start = now - self.window_s
        with self._lock:
            inputs = [t for t in self._inputs if t >= start]
            outputs = [o for o in self._outputs if o[0] >= start]
            drops = sum(1 for t in self._drops if t >= start)
            rejects = sum(1 for t in self._rejects if t >= start)
            counters = (
                self.received,
                self.processed,
                self.dropped,
                self.rejected,
                self.last_reject_reason,
                self.skipped,
                self.batches,
                self.largest_batch,
            )

        def rate(times: list[float]) -> float:
            if len(times) < 2:
                return 0.0
            return (len(times) - 1) / max(times[-1] - times[0], 1e-6)

        latencies = np.array([o[1] for o in outputs]) * 1000.0
        inference = np.array([o[2] for o in outputs]) * 1000.0
        return StatsSnapshot(
            input_fps=rate(inputs),
            processed_fps=rate([o[0] for o in outputs]),
            latency_mean_ms=float(latencies.mean()) if latencies.size else 0.0,
            latency_p95_ms=float(np.percentile(latencies, 95)) if latencies.size else 0.0,
            inference_mean_ms=float(inference.mean()) if inference.size else 0.0,
            received=counters[0],
            processed=counters[1],
            dropped=counters[2],
            skipped=counters[5],
            batches=counters[6],
            largest_batch=counters[7],
            rejected=counters[3],
            window_received=len(inputs),
            window_dropped=drops,
            window_rejected=rejects,
            last_reject_reason=counters[4],
        )

    def reset(self) -> None:
        with self._lock:
            for queue in (self._inputs, self._outputs, self._drops, self._rejects):
                queue.clear()
            self.received = self.processed = self.dropped = self.skipped = self.rejected = 0
            self.batches = self.largest_batch = 0
            self.last_reject_reason = ""
