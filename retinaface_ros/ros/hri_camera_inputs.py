"""What REP 155's 3D outputs need from one camera besides the image: its sensor_msgs/CameraInfo (the image
topic's sibling, as image_transport names it) and, optionally, a depth image aligned with the colour image,
paired with each colour frame by stamp. Thread-safe: filled by subscription callbacks, read by the worker."""

from __future__ import annotations

import threading
from collections import deque
from typing import Any

import numpy as np

from retinaface_ros.hri import CameraIntrinsics, IntrinsicsError
from retinaface_ros.hri.depth import DEPTH_ENCODINGS

DEPTH_BUFFER = 10  # depth messages kept for pairing
PAIR_TOLERANCE_NS = 10_000_000  # a depth frame pairs with a colour frame stamped within 10 ms


def sibling_topic(image_topic: str, name: str, compressed: bool = False) -> str:
    """``name`` beside the (resolved, possibly remapped) image topic: /cam/color/image_raw →
    /cam/color/camera_info; a transport suffix (``/compressed``) is dropped first."""
    base = image_topic.rsplit("/", 1)[0] if compressed else image_topic
    namespace = base.rsplit("/", 1)[0]
    return f"{namespace}/{name}" if namespace else f"/{name}"


def stamp_ns(header: Any) -> int:
    return int(header.stamp.sec) * 1_000_000_000 + int(header.stamp.nanosec)


def depth_array(msg: Any) -> np.ndarray:
    """A depth Image (16UC1 / mono16 / 32FC1) as an H×W array; ValueError when it is not one."""
    if msg.encoding not in DEPTH_ENCODINGS:
        raise ValueError(f"depth encoding {msg.encoding!r} is not supported (16UC1 in mm or 32FC1 in m)")
    dtype = np.dtype(np.float32 if msg.encoding == "32FC1" else np.uint16)
    dtype = dtype.newbyteorder(">" if msg.is_bigendian else "<")
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    if height <= 0 or width <= 0 or step < width * dtype.itemsize or len(msg.data) < step * height:
        raise ValueError(
            f"depth image {width}x{height} (step {step}) does not match its {len(msg.data)} bytes"
        )
    rows = np.frombuffer(msg.data, np.uint8, count=step * height).reshape(height, step)  # no copy
    pixels = rows[:, : width * dtype.itemsize].view(dtype).reshape(height, width)
    return pixels.astype(dtype.newbyteorder("="), copy=False)


class CameraInputs:
    """The latest camera intrinsics (or why they are unusable) and recent depth images of one camera."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.intrinsics: CameraIntrinsics | None = None
        self.intrinsics_problem = ""  # why the last CameraInfo was refused ('' when fine)
        self.camera_info_count = 0
        self.depth_count = 0
        self._depth: deque[tuple[int, Any]] = deque(maxlen=DEPTH_BUFFER)

    def on_camera_info(self, msg: Any) -> None:
        try:
            intrinsics = CameraIntrinsics.from_k(msg.k, msg.width, msg.height, list(msg.d))
            problem = ""
        except IntrinsicsError as error:
            intrinsics, problem = None, f"camera_info refused: {error}"
        with self._lock:
            self.camera_info_count += 1
            self.intrinsics, self.intrinsics_problem = intrinsics, problem

    def on_depth(self, msg: Any) -> None:
        with self._lock:
            self.depth_count += 1
            self._depth.append((stamp_ns(msg.header), msg))

    def camera(self, image_hw: tuple[int, int]) -> tuple[CameraIntrinsics | None, str]:
        """Intrinsics usable for an image of this size, or (None, why not)."""
        with self._lock:
            intrinsics, problem, count = self.intrinsics, self.intrinsics_problem, self.camera_info_count
        if intrinsics is None:
            return None, problem or ("no camera_info received" if count == 0 else "camera_info unusable")
        if not intrinsics.fits(image_hw):
            return None, (
                f"camera_info is for {intrinsics.width}x{intrinsics.height} images, the image is "
                f"{image_hw[1]}x{image_hw[0]}"
            )
        return intrinsics, ""

    def depth(self, stamp: int) -> tuple[Any | None, str]:
        """The depth message stamped like the colour frame (within PAIR_TOLERANCE_NS), or (None, why not)."""
        with self._lock:
            candidates = list(self._depth)
        if not candidates:
            return None, "no depth image received"
        best_stamp, best = min(candidates, key=lambda item: abs(item[0] - stamp))
        if abs(best_stamp - stamp) > PAIR_TOLERANCE_NS:
            return None, (
                f"no depth image stamped within {PAIR_TOLERANCE_NS / 1e6:.0f} ms of the colour image "
                f"(nearest {abs(best_stamp - stamp) / 1e6:.0f} ms away): are they from the same camera?"
            )
        return best, ""
