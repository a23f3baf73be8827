"""One-Euro filter (Casiez, Roussel, Vogel, CHI 2012) for many signals at once, with time from stamps.

A low-pass filter whose cut-off rises with the signal's speed: a still face gets heavy smoothing (no jitter),
a moving one light smoothing (little lag). Each row is one track's values (box and landmarks), filtered
element-wise with that row's own time step, so variable frame rates and dropped frames are handled.

Given the motion model's velocity, the previous filtered value is first moved along it (the filter then
smooths the deviation from the predicted motion): a face moving steadily gets full smoothing without lag.
"""

from __future__ import annotations

import math

import numpy as np

from retinaface_ros.tracking.config import SmoothingConfig


def _alpha(cutoff: np.ndarray | float, dt: np.ndarray) -> np.ndarray:
    tau = 1.0 / (2.0 * math.pi * cutoff)
    return 1.0 / (1.0 + tau / dt)


class OneEuroFilter:
    """Filtered values, their filtered speeds and the time of the last sample, one row per track."""

    def __init__(self, config: SmoothingConfig, width: int) -> None:
        self.config = config
        self.value = np.zeros((0, width))
        self.speed = np.zeros((0, width))
        self.time = np.zeros(0)

    def add(self, values: np.ndarray, stamp_s: float) -> None:
        """New rows, starting at ``values`` (no smoothing for their first sample)."""
        values = np.asarray(values, np.float64).reshape(len(values), -1)
        self.value = np.concatenate([self.value, values])
        self.speed = np.concatenate([self.speed, np.zeros_like(values)])
        self.time = np.concatenate([self.time, np.full(len(values), stamp_s)])

    def keep(self, mask: np.ndarray) -> None:
        self.value, self.speed, self.time = self.value[mask], self.speed[mask], self.time[mask]

    def __call__(self, values: np.ndarray, stamp_s: float, velocity: np.ndarray | None = None) -> np.ndarray:
        """Filter one sample per row (N×width) taken at ``stamp_s``, with the values' expected velocity
        (N×width per second) when known; rows whose last sample is not older (dt ≤ 0) keep their value.
        Returns the filtered rows."""
        values = np.asarray(values, np.float64).reshape(len(self.value), -1)
        if not self.config.enabled:
            self.value = values.copy()
            self.time[:] = stamp_s
            return self.value
        dt = (stamp_s - self.time)[:, None]
        fresh = dt[:, 0] > 0.0
        if not fresh.any():
            return self.value
        dt = np.where(dt > 0.0, dt, 1.0)
        previous = self.value if velocity is None else self.value + velocity * dt
        speed = (values - previous) / dt
        alpha_d = _alpha(self.config.d_cutoff, dt)
        speed = alpha_d * speed + (1.0 - alpha_d) * self.speed
        alpha = _alpha(self.config.min_cutoff + self.config.beta * np.abs(speed), dt)
        value = alpha * values + (1.0 - alpha) * previous
        self.value[fresh], self.speed[fresh], self.time[fresh] = value[fresh], speed[fresh], stamp_s
        return self.value
