"""Frames the middleware lost before they reached the detector, per input, from rclpy's subscription events.

A best_effort reader that misses samples (UDP fragments of a large raw frame dropped by a full socket
buffer, a history of ``qos_depth`` overrun) gets ``message_lost`` events; a reader whose QoS cannot match a
publisher gets ``incompatible_qos``. Neither reaches the subscription callback, so without these counts the
loss is invisible: the node only sees a low input rate.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass

from rclpy.event_handler import SubscriptionEventCallbacks

LOSS_WARN_FRACTION = 0.2  # WARN when at least this share of the frames offered in the window was lost


@dataclass(frozen=True)
class InputLosses:
    """One input's losses: since activation, and within the last ``window_s``."""

    lost: int
    window_lost: int
    incompatible_qos: int


class TransportLosses:
    """Thread-safe counters fed by the event callbacks of each input's subscription."""

    def __init__(self, inputs: int = 0, window_s: float = 5.0) -> None:
        self.window_s = window_s
        self._lock = threading.Lock()
        self.reset(inputs)

    def reset(self, inputs: int) -> None:
        with self._lock:
            self._lost = [0] * inputs
            self._incompatible = [0] * inputs
            self._recent: list[deque[tuple[float, int]]] = [deque(maxlen=1000) for _ in range(inputs)]

    def callbacks(self, index: int) -> SubscriptionEventCallbacks:
        """Event callbacks for input ``index``'s subscription."""
        return SubscriptionEventCallbacks(
            message_lost=lambda info: self.on_lost(index, info.total_count_change),
            incompatible_qos=lambda info: self.on_incompatible(index, info.total_count_change),
        )

    def on_lost(self, index: int, count: int) -> None:
        with self._lock:
            if index < len(self._lost) and count > 0:
                self._lost[index] += count
                self._recent[index].append((time.monotonic(), count))

    def on_incompatible(self, index: int, count: int) -> None:
        with self._lock:
            if index < len(self._incompatible) and count > 0:
                self._incompatible[index] += count

    def snapshot(self) -> list[InputLosses]:
        start = time.monotonic() - self.window_s
        with self._lock:
            return [
                InputLosses(lost, sum(n for t, n in recent if t >= start), incompatible)
                for lost, recent, incompatible in zip(
                    self._lost, self._recent, self._incompatible, strict=True
                )
            ]


def loss_warning(
    topics: list[str],
    losses: list[InputLosses],
    window_received: int,
    reliabilities: list[str],
    depth: int,
    window_s: float,
) -> str:
    """A WARN message naming the inputs that lost a large share of their frames and what to change, or ''."""
    lost = sum(item.window_lost for item in losses)
    if not lost or lost < LOSS_WARN_FRACTION * (lost + window_received):
        return ""
    where = ", ".join(
        f"{topic} ({item.window_lost} lost, {reliability})"
        for topic, item, reliability in zip(topics, losses, reliabilities, strict=False)
        if item.window_lost
    )
    return (
        f"the middleware lost {lost} of {lost + window_received} frames in the last "
        f"{window_s:.0f} s on {where} before they reached the node: make the camera publish reliable "
        f"(qos_reliability auto then subscribes reliable) or use image/compressed, lower the camera rate or "
        f"resolution, or raise qos_depth (now {depth}) for bursts"
    )
