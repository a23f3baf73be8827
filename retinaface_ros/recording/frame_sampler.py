"""Which frames of a stream to keep: every N-th, and/or at least S seconds apart (stream time)."""

from __future__ import annotations


class FrameSampler:
    def __init__(self, every: int = 1, min_interval_s: float = 0.0) -> None:
        if every < 1 or not min_interval_s >= 0:
            raise ValueError(f"sampling needs every >= 1 and an interval >= 0, got {every}, {min_interval_s}")
        self.every, self.min_interval_s = every, min_interval_s
        self._last: dict[str, float] = {}

    def keep(self, stream: str, index: int, stamp_s: float | None) -> bool:
        """True for frames ``index % every == 0`` that are ``min_interval_s`` after the last kept one (frames
        without a stamp: the index rule only)."""
        if index % self.every:
            return False
        if stamp_s is None or self.min_interval_s == 0:
            return True
        last = self._last.get(stream)
        if last is not None and 0 <= stamp_s - last < self.min_interval_s:
            return False
        self._last[stream] = stamp_s
        return True
