"""The one home of number and bounds checks: every entry point (learner, commands, detector node parameters,
trainer goals) validates through these functions, so a value accepted by one is accepted by all.

No torch and no ROS: the learner, ``ros/params.py``, the commands and the trainer goals import it alike.
Errors are ``TypeError`` (wrong kind) or ``ValueError`` (out of bounds) whose text names the value;
:class:`ResourceError` (a ``ValueError``) says that a call would not fit in memory.
"""

from __future__ import annotations

import math
import numbers
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

# ---------------------------------------------------------------------------------------------- detection
MIN_SCALE = 16  # px: the network's coarsest stride is 32; smaller inputs detect nothing useful
MAX_SCALE = 8192  # px: the side a resized image may reach (the ROS node's input limit is the same)
MAX_IMAGE_PIXELS = 1 << 30  # an image file or array larger than this is refused (OpenCV's own cap)
MAX_BATCH_SIZE = 256  # images in one detection call
DEVICE_PATTERN = re.compile(r"^(cpu|cuda(:\d+)?)$")

# Peak bytes one detection call needs per network-input pixel (after the resize), per image of the batch:
# activations, head outputs and the float input. Measured with bench/memory_calibration.py (peak RSS growth
# of one CPU call in a fresh process; bench/results/memory_calibration_cpu.json): mnet 45-60 B/px, resnet
# 220-330 B/px at 640×480 … 1980×1024, batch 1-2, 1-2 threads. The constants add headroom for more threads,
# low thresholds (more candidates) and CUDA workspaces.
DETECTION_BYTES_PER_PIXEL = {"mnet": 96, "resnet": 512}
MEMORY_HEADROOM = 0.9  # refuse what needs more than this share of the memory available now

# ----------------------------------------------------------------------------------------------- training
# name: (low, high, integer, low_inclusive). One table for the learner's arguments and the Train goal.
TRAINING_BOUNDS: dict[str, tuple[float, float, bool, bool]] = {
    "lr": (0.0, 10.0, False, False),
    "batch_size": (1, 1024, True, True),
    "epochs": (1, 100_000, True, True),
    "momentum": (0.0, 1.0, False, True),
    "weight_decay": (0.0, 1.0, False, True),
    "checkpoint_after_iter": (0, 10**9, True, True),
    "checkpoint_load_iter": (0, 10**9, True, True),
    "log_after": (1, 10**9, True, True),
    "val_after": (0, 100_000, True, True),
    "image_size": (MIN_SCALE, MAX_SCALE, True, True),
    "num_workers": (0, 256, True, True),
}
MIN_TRAIN_IMAGE_SIZE = (
    64  # the deepest feature map (stride 32) keeps 2×2 cells: BatchNorm works on a batch of one
)
MAX_SEED = 2**32  # training seeds are ints in [0, MAX_SEED)


class ResourceError(ValueError):
    """A call that cannot fit in the memory available; the text says what it needs and what is free."""


def check_number(
    name: str,
    value: Any,
    low: float = -math.inf,
    high: float = math.inf,
    integer: bool = False,
    low_inclusive: bool = True,
) -> Any:
    """``value`` (numpy scalars too) as a Python int (``integer``) or a finite float within the bounds."""
    kind = numbers.Integral if integer else numbers.Real
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, kind):
        raise TypeError(f"{name} must be {'an int' if integer else 'a number'}, got {type(value).__name__}")
    value = int(value) if integer else float(value)
    too_low = value < low if low_inclusive else value <= low
    if not math.isfinite(value) or too_low or value > high:
        raise ValueError(f"{name} must be {_bounds_text(low, high, low_inclusive)}, got {value}")
    return value


def _bounds_text(low: float, high: float, low_inclusive: bool) -> str:
    if low != -math.inf and high != math.inf:
        return f"a finite number in {'[' if low_inclusive else '('}{low:g}, {high:g}]"
    if low != -math.inf:
        return f"a finite number {'≥' if low_inclusive else '>'} {low:g}"
    return f"a finite number ≤ {high:g}" if high != math.inf else "a finite number"


def check_training_value(name: str, value: Any) -> Any:
    """One training setting (``TRAINING_BOUNDS[name]``) checked: lr, batch_size, epochs, momentum, ..."""
    low, high, integer, low_inclusive = TRAINING_BOUNDS[name]
    return check_number(name, value, low, high, integer=integer, low_inclusive=low_inclusive)


def parse_lr_steps(lr_steps: str) -> list[int]:
    """'10,20' → [10, 20] (epochs at which the learning rate is multiplied by 0.1); '0' or '' → []."""
    if not isinstance(lr_steps, str):
        raise TypeError(f"lr_steps must be a comma-separated string of epochs, got {type(lr_steps).__name__}")
    steps = []
    for part in filter(None, (p.strip() for p in lr_steps.split(","))):
        if not part.isdigit():
            raise ValueError(f"lr_steps must be comma-separated non-negative ints, got {lr_steps!r}")
        steps.append(int(part))
    return sorted(step for step in steps if step > 0)


def check_train_image_size(value: Any) -> int:
    """A training image size: a multiple of 32 of at least MIN_TRAIN_IMAGE_SIZE (within TRAINING_BOUNDS)."""
    message = f"image_size must be a multiple of 32 of at least {MIN_TRAIN_IMAGE_SIZE}, got {value!r}"
    try:
        size = check_training_value("image_size", value)
    except (TypeError, ValueError):
        raise ValueError(message) from None
    if size < MIN_TRAIN_IMAGE_SIZE or size % 32:
        raise ValueError(message)
    return size


def check_seed(value: Any) -> int:
    """A training seed: an int in [0, 2**32) (numpy's and torch's seed range)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise ValueError(f"seed must be an int in [0, 2**32), got {value!r}")
    if not 0 <= value < MAX_SEED:
        raise ValueError(f"seed must be an int in [0, 2**32), got {value!r}")
    return int(value)


def check_probability(name: str, value: Any) -> float:
    """A score or IoU threshold: a finite number in [0, 1]."""
    return check_number(name, value, 0.0, 1.0)


def check_scales(scales: Any) -> tuple[int, int]:
    """``[target_short_side, max_long_side]`` as two ints in [MIN_SCALE, MAX_SCALE].

    A target above the maximum is allowed (the long side then decides the size; see :func:`scales_note`).
    """
    if isinstance(scales, (str, bytes)) or not isinstance(scales, Sequence) or len(scales) != 2:
        raise ValueError(f"scales must be [target_short_side, max_long_side] (two ints), got {scales!r}")
    out = []
    for value in scales:
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
            raise ValueError(f"scales must be two ints, got {list(scales)!r}")
        if not MIN_SCALE <= value <= MAX_SCALE:
            raise ValueError(f"scales must be two ints in [{MIN_SCALE}, {MAX_SCALE}], got {list(scales)!r}")
        out.append(int(value))
    return out[0], out[1]


def scales_note(scales: tuple[int, int]) -> str | None:
    """What a target short side above the maximum long side means; None when the order is the usual one."""
    short, long = scales
    if short <= long:
        return None
    return (
        f"scales [{short}, {long}]: the first value is the target SHORT side, the second the MAX LONG side; "
        f"a short side of {short} cannot fit under a long side of {long}, so every image is scaled to a long "
        f"side of {long} (did you mean [{long}, {short}]?)"
    )


def check_batch_size(count: int) -> int:
    """Images in one detection call: at most MAX_BATCH_SIZE."""
    if count > MAX_BATCH_SIZE:
        raise ValueError(f"a detection batch holds at most {MAX_BATCH_SIZE} images, got {count}")
    return count


def check_device(device: Any) -> str:
    """'cpu', 'cuda' or 'cuda:N' (the text only; whether that GPU exists is the learner's check)."""
    if not isinstance(device, str) or not DEVICE_PATTERN.match(device):
        raise ValueError(f"device must be 'cpu', 'cuda' or 'cuda:N', got {device!r}")
    return device


def check_fp16(fp16: bool, device: str) -> None:
    """Half precision runs on CUDA only."""
    if fp16 and not device.startswith("cuda"):
        raise ValueError(f"fp16=True needs a CUDA device, got device={device!r}; use fp16=False on the CPU")


def check_image_size(width: int, height: int, what: str = "image") -> None:
    """Refuse an image over MAX_IMAGE_PIXELS (before decoding it, when the size comes from a header)."""
    if width <= 0 or height <= 0:
        raise ValueError(f"{what} declares an empty size {width}x{height}")
    if width * height > MAX_IMAGE_PIXELS:
        raise ValueError(
            f"{what} is {width}x{height} = {width * height / 1e6:.0f} Mpx, over the "
            f"{MAX_IMAGE_PIXELS / 1e6:.0f} Mpx limit"
        )


# ------------------------------------------------------------------------------------------------- memory
def available_memory() -> int | None:
    """Bytes of RAM available now (/proc/meminfo MemAvailable, else free pages); None where unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, AttributeError):
        return None


@dataclass(frozen=True)
class DetectionCost:
    """The memory one detection call needs: the network's working set plus the resized input copies."""

    network_pixels: int  # network-input pixels summed over the batch
    bytes: int

    @property
    def text(self) -> str:
        return f"{self.bytes / 2**30:.1f} GiB"


def detection_cost(
    image_sizes: Sequence[tuple[int, int]], scales: tuple[int, int], backbone: str
) -> DetectionCost:
    """Estimated peak bytes of detecting faces in images of (height, width) at ``scales``."""
    from retinaface_ros.inference.resize import resize_factor, resized_shape

    per_pixel = DETECTION_BYTES_PER_PIXEL.get(backbone, max(DETECTION_BYTES_PER_PIXEL.values()))
    pixels = 0
    for height, width in image_sizes:
        resized = resized_shape(height, width, resize_factor(height, width, scales))
        pixels += resized[0] * resized[1]
    return DetectionCost(pixels, pixels * per_pixel + pixels * 3)


def check_fits_in_memory(needed: int, what: str, available: int | None = None) -> None:
    """Refuse ``what`` when it needs more than MEMORY_HEADROOM of the available bytes (checked only where
    the available memory is known; ``available`` defaults to the RAM available now)."""
    available = available_memory() if available is None else available
    if available is not None and needed > MEMORY_HEADROOM * available:
        raise ResourceError(
            f"{what} needs about {needed / 2**30:.1f} GiB but only {available / 2**30:.1f} GiB is available"
        )
