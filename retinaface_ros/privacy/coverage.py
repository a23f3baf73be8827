"""Coverage report of an anonymisation run: per stream (bag topic, video, image folder) what was covered."""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass
class StreamCoverage:
    """Counters of one stream. ``longest_gap_frames`` is the longest run of consecutive frames in which the
    detector found no face: where a face in view might have been missed, worth a look."""

    frames: int = 0
    frames_with_faces: int = 0
    faces_detected: int = 0
    faces_covered: int = 0  # detections plus faces covered through a miss
    longest_gap_frames: int = 0
    _gap: int = field(default=0, repr=False)
    _seconds: float = field(default=0.0, repr=False)

    def add(self, detected: int, covered: int, seconds: float = 0.0) -> None:
        self.frames += 1
        self.faces_detected += detected
        self.faces_covered += covered
        self._seconds += seconds
        if covered:
            self.frames_with_faces += 1
        self._gap = 0 if detected else self._gap + 1
        self.longest_gap_frames = max(self.longest_gap_frames, self._gap)

    def merge(self, later: StreamCoverage) -> None:
        """Add the counts of the stream's next part (a run without detections across the boundary counts
        as two runs)."""
        self.frames += later.frames
        self.frames_with_faces += later.frames_with_faces
        self.faces_detected += later.faces_detected
        self.faces_covered += later.faces_covered
        self.longest_gap_frames = max(self.longest_gap_frames, later.longest_gap_frames)
        self._seconds += later._seconds

    def to_dict(self) -> dict:
        return {
            "frames": self.frames,
            "frames_with_faces": self.frames_with_faces,
            "faces_detected": self.faces_detected,
            "faces_covered": self.faces_covered,
            "longest_run_without_detection": self.longest_gap_frames,
            "fps": round(self.frames / self._seconds, 2) if self._seconds > 0 else None,
        }


class CoverageReport:
    """Streams by name, in the order first seen, plus the run's wall time."""

    def __init__(self) -> None:
        self.streams: dict[str, StreamCoverage] = {}
        self._start = time.perf_counter()

    def stream(self, name: str) -> StreamCoverage:
        return self.streams.setdefault(name, StreamCoverage())

    def to_dict(self) -> dict:
        seconds = time.perf_counter() - self._start
        frames = sum(s.frames for s in self.streams.values())
        return {
            "streams": {name: s.to_dict() for name, s in self.streams.items()},
            "total_frames": frames,
            "wall_s": round(seconds, 3),
            "fps": round(frames / seconds, 2) if seconds > 0 else None,
        }

    def summary(self) -> str:
        """A few human-readable lines."""
        lines = []
        for name, s in self.streams.items():
            d = s.to_dict()
            fps = f"{d['fps']:.1f} fps" if d["fps"] else "-"
            lines.append(
                f"{name}: {d['frames']} frames, {d['frames_with_faces']} with faces, "
                f"{d['faces_covered']} faces covered, longest run without a detection "
                f"{d['longest_run_without_detection']} frames, {fps}"
            )
        total = self.to_dict()
        lines.append(f"total: {total['total_frames']} frames in {total['wall_s']:.1f} s")
        return "\n".join(lines)
