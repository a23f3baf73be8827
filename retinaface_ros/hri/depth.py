"""The face's depth from a depth image aligned with the colour image: 16UC1 in millimetres or 32FC1 in
metres (the REP 118 encodings), 0 / NaN meaning no reading."""

from __future__ import annotations

import numpy as np

DEPTH_ENCODINGS = {"16UC1": 0.001, "mono16": 0.001, "32FC1": 1.0}  # encoding → metres per unit
PATCH_RADIUS_FRACTION = (
    0.15  # the median is taken over a square of this fraction of the inter-ocular distance
)


class DepthError(ValueError):
    """A depth image that cannot be paired with the colour image (encoding, size)."""


def check_depth(depth: np.ndarray, encoding: str, image_hw: tuple[int, int]) -> float:
    """Metres per unit of this depth image; raise DepthError when its encoding or size do not fit."""
    if encoding not in DEPTH_ENCODINGS:
        raise DepthError(f"depth encoding {encoding!r} is not supported (16UC1 in mm or 32FC1 in m)")
    if depth.ndim != 2 or depth.shape != tuple(image_hw):
        raise DepthError(
            f"depth image is {depth.shape[1] if depth.ndim > 1 else '?'}x{depth.shape[0]}, the colour image "
            f"{image_hw[1]}x{image_hw[0]}: publish the depth registered to the colour camera "
            "(e.g. aligned_depth_to_color)"
        )
    return DEPTH_ENCODINGS[encoding]


def depth_at(
    depth: np.ndarray,
    encoding: str,
    image_hw: tuple[int, int],
    pixel: tuple[float, float],
    radius: float = 3.0,
) -> float | None:
    """Median depth in metres of the valid readings in a square of ``radius`` pixels around ``pixel``;
    None when there is none. Raises DepthError when the image cannot be paired (see :func:`check_depth`)."""
    scale = check_depth(depth, encoding, image_hw)
    rows, cols = depth.shape
    r = max(1, int(round(radius)))
    u, v = int(round(pixel[0])), int(round(pixel[1]))
    if not (0 <= u < cols and 0 <= v < rows):
        return None
    patch = depth[max(0, v - r) : v + r + 1, max(0, u - r) : u + r + 1].astype(np.float64)
    valid = patch[np.isfinite(patch) & (patch > 0)]
    if valid.size == 0:
        return None
    return float(np.median(valid)) * scale
