"""The tracker's settings: :class:`SmoothingConfig` (One-Euro filter) and :class:`TrackerConfig`, both
validated when made, so a bad value fails at the call that set it."""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field


def _positive_float(owner: str, name: str, value: object, allow_zero: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{owner}.{name} must be a number, got {type(value).__name__}")
    number = float(value)
    if not math.isfinite(number) or number < 0.0 or (number == 0.0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{owner}.{name} must be a finite number {bound}, got {value!r}")
    return number


def _bool(owner: str, name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{owner}.{name} must be a bool, got {type(value).__name__}")
    return value


@dataclass(frozen=True)
class SmoothingConfig:
    """One-Euro filter settings (Casiez et al., CHI 2012) for the published boxes and landmarks.

    ``min_cutoff`` (Hz): cut-off of a still face; lower = less jitter. ``beta`` (per pixel/s): how fast the
    cut-off rises with speed; higher = less lag when moving. ``d_cutoff`` (Hz): cut-off of the speed estimate.
    ``enabled=False`` publishes the motion model's estimate as is."""

    enabled: bool = True
    min_cutoff: float = 1.0
    beta: float = 0.05
    d_cutoff: float = 1.0

    def __post_init__(self) -> None:
        _bool("SmoothingConfig", "enabled", self.enabled)
        object.__setattr__(
            self, "min_cutoff", _positive_float("SmoothingConfig", "min_cutoff", self.min_cutoff)
        )
        object.__setattr__(
            self, "beta", _positive_float("SmoothingConfig", "beta", self.beta, allow_zero=True)
        )
        object.__setattr__(self, "d_cutoff", _positive_float("SmoothingConfig", "d_cutoff", self.d_cutoff))


@dataclass(frozen=True)
class TrackerConfig:
    """Settings of one :class:`~retinaface_ros.tracking.FaceTracker` (one camera).

    ``min_hits``: matched detections before a track is confirmed (tracks born in the first ``min_hits``
    detector frames of a stream are confirmed at once, as SORT does, so a single image still gives its faces).
    ``max_age_s``: how long a track lives on without a detection. ``optical_flow``: between detector runs,
    move tracks by pyramidal Lucas-Kanade when images are given. ``id_prefix``: prepended to ids as
    ``"<prefix>_<id>"`` (e.g. the camera name, so ids are unique across cameras). ``deterministic_ids``:
    ``"1", "2", ...`` instead of random short hex ids (reproducible tests and benchmarks)."""

    min_hits: int = 3
    max_age_s: float = 1.0
    smoothing: SmoothingConfig = field(default_factory=SmoothingConfig)
    optical_flow: bool = True
    id_prefix: str = ""
    deterministic_ids: bool = False

    def __post_init__(self) -> None:
        if isinstance(self.min_hits, bool) or not isinstance(self.min_hits, numbers.Integral):
            raise TypeError(f"TrackerConfig.min_hits must be an int, got {type(self.min_hits).__name__}")
        if not 1 <= int(self.min_hits) <= 1000:
            raise ValueError(f"TrackerConfig.min_hits must be in [1, 1000], got {self.min_hits}")
        object.__setattr__(self, "min_hits", int(self.min_hits))
        object.__setattr__(self, "max_age_s", _positive_float("TrackerConfig", "max_age_s", self.max_age_s))
        if not isinstance(self.smoothing, SmoothingConfig):
            raise TypeError(
                f"TrackerConfig.smoothing must be a SmoothingConfig, got {type(self.smoothing).__name__}"
            )
        _bool("TrackerConfig", "optical_flow", self.optical_flow)
        _bool("TrackerConfig", "deterministic_ids", self.deterministic_ids)
        if not isinstance(self.id_prefix, str):
            raise TypeError(f"TrackerConfig.id_prefix must be a string, got {type(self.id_prefix).__name__}")
