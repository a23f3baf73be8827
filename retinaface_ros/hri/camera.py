"""Pinhole intrinsics of the camera that took the image (sensor_msgs/CameraInfo's K), validated."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np


class IntrinsicsError(ValueError):
    """Camera intrinsics that cannot be used (zero, negative or non-finite focal length or centre)."""


@dataclass(frozen=True)
class CameraIntrinsics:
    """fx, fy, cx, cy in pixels of a width×height image; distortion coefficients as CameraInfo's D."""

    fx: float
    fy: float
    cx: float
    cy: float
    width: int = 0
    height: int = 0
    distortion: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        values = {"fx": self.fx, "fy": self.fy, "cx": self.cx, "cy": self.cy}
        bad = {name: value for name, value in values.items() if not math.isfinite(value)}
        if bad or self.fx <= 0 or self.fy <= 0:
            raise IntrinsicsError(
                f"camera intrinsics need finite fx, fy > 0 and finite cx, cy; got "
                f"fx={self.fx}, fy={self.fy}, cx={self.cx}, cy={self.cy}"
            )
        if not all(math.isfinite(d) for d in self.distortion):
            raise IntrinsicsError(f"distortion coefficients must be finite, got {list(self.distortion)}")

    @classmethod
    def from_k(
        cls, k: Sequence[float], width: int = 0, height: int = 0, distortion: Sequence[float] = ()
    ) -> CameraIntrinsics:
        """From a row-major 3×3 K (CameraInfo.k)."""
        values = [float(v) for v in k]
        if len(values) != 9:
            raise IntrinsicsError(f"K must have 9 values, got {len(values)}")
        return cls(values[0], values[4], values[2], values[5], int(width), int(height), tuple(distortion))

    @cached_property
    def matrix(self) -> np.ndarray:
        """K as a 3×3 array (made once; do not modify it)."""
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])

    def ray(self, u: float, v: float) -> np.ndarray:
        """Direction (x, y, 1) through pixel (u, v), in the camera's optical frame."""
        return np.array([(u - self.cx) / self.fx, (v - self.cy) / self.fy, 1.0])

    def fits(self, image_hw: tuple[int, int]) -> bool:
        """True when these intrinsics were made for an image of this size (or carry no size)."""
        return (self.width, self.height) in ((0, 0), (image_hw[1], image_hw[0]))
