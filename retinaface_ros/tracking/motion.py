"""Constant-velocity Kalman filter on box centre and size, for all tracks of a camera at once.

Each box is ``z = (cx, cy, w, h)``; every coordinate has its own (position, velocity) state with the
continuous white-noise acceleration model (F = [[1, dt], [0, 1]], Q = q [[dt³/3, dt²/2], [dt²/2, dt]], the
position measured with variance r). The coordinates are independent, so the filter is a set of 2-state
filters held as arrays (N tracks × 4 coordinates) and stepped together: a hundred tracks cost what one
costs in a per-track filter (filterpy's ``KalmanFilter``, the reference the tests check this against).
Noise scales with the face's size, so small and large faces behave the same in relative terms.
"""

from __future__ import annotations

import numpy as np

ACCEL_NOISE = 3.0  # process noise: acceleration std, in face heights / s²
MEASUREMENT_NOISE = 0.04  # detector box noise std, in face heights
INITIAL_SPEED_STD = 3.0  # a new track's velocity std, in face heights / s
MIN_SIZE = 1.0  # pixels: widths and heights never drop below this


def boxes_to_z(boxes: np.ndarray) -> np.ndarray:
    """N×4 (x1, y1, x2, y2) → N×4 (cx, cy, w, h), float64."""
    boxes = np.asarray(boxes, np.float64)
    size = boxes[:, 2:] - boxes[:, :2]
    return np.concatenate([boxes[:, :2] + size / 2.0, size], axis=1)


def z_to_boxes(z: np.ndarray) -> np.ndarray:
    """N×4 (cx, cy, w, h) → N×4 (x1, y1, x2, y2)."""
    half = z[:, 2:] / 2.0
    return np.concatenate([z[:, :2] - half, z[:, :2] + half], axis=1)


class BoxKalman:
    """Position/velocity of N boxes' (cx, cy, w, h) with their covariances (p00, p01, p11 per coordinate)."""

    def __init__(self) -> None:
        self.position = np.zeros((0, 4))
        self.velocity = np.zeros((0, 4))
        self.p00 = np.zeros((0, 4))
        self.p01 = np.zeros((0, 4))
        self.p11 = np.zeros((0, 4))

    def __len__(self) -> int:
        return len(self.position)

    @staticmethod
    def _scale(heights: np.ndarray) -> np.ndarray:
        return np.maximum(heights, MIN_SIZE)[:, None]

    def add(self, boxes: np.ndarray) -> None:
        """Start a track per box (N×4 x1y1x2y2), at rest."""
        z = boxes_to_z(boxes)
        scale = self._scale(z[:, 3])
        ones = np.ones_like(z)
        self.position = np.concatenate([self.position, z])
        self.velocity = np.concatenate([self.velocity, np.zeros_like(z)])
        self.p00 = np.concatenate([self.p00, ones * (MEASUREMENT_NOISE * scale) ** 2])
        self.p01 = np.concatenate([self.p01, np.zeros_like(z)])
        self.p11 = np.concatenate([self.p11, ones * (INITIAL_SPEED_STD * scale) ** 2])

    def keep(self, mask: np.ndarray) -> None:
        """Drop the tracks where ``mask`` is False."""
        for name in ("position", "velocity", "p00", "p01", "p11"):
            setattr(self, name, getattr(self, name)[mask])

    def predict(self, dt: float) -> None:
        """Move every track ``dt`` seconds ahead (dt ≥ 0)."""
        if dt <= 0.0 or not len(self):
            return
        q = (ACCEL_NOISE * self._scale(self.position[:, 3])) ** 2
        self.position = self.position + dt * self.velocity
        self.p00 = self.p00 + dt * (2.0 * self.p01 + dt * self.p11) + q * dt**3 / 3.0
        self.p01 = self.p01 + dt * self.p11 + q * dt**2 / 2.0
        self.p11 = self.p11 + q * dt
        np.maximum(self.position[:, 2:], MIN_SIZE, out=self.position[:, 2:])

    def update(self, index: np.ndarray, boxes: np.ndarray, noise: float = MEASUREMENT_NOISE) -> None:
        """Correct the tracks ``index`` with measured boxes (M×4 x1y1x2y2); ``noise`` is the measurement std
        in face heights."""
        if not len(index):
            return
        z = boxes_to_z(boxes)
        r = (noise * self._scale(self.position[index, 3])) ** 2
        p00, p01, p11 = self.p00[index], self.p01[index], self.p11[index]
        innovation = z - self.position[index]
        s = p00 + r
        k0, k1 = p00 / s, p01 / s
        self.position[index] += k0 * innovation
        self.velocity[index] += k1 * innovation
        self.p00[index] = (1.0 - k0) * p00
        self.p01[index] = (1.0 - k0) * p01
        self.p11[index] = p11 - k1 * p01
        np.maximum(self.position[:, 2:], MIN_SIZE, out=self.position[:, 2:])

    def boxes(self) -> np.ndarray:
        """N×4 x1y1x2y2 (float64) of the current estimates."""
        return z_to_boxes(self.position)
