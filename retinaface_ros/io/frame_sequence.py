"""Frames of a video file (PyAV, with each frame's presentation time) or of an image sequence folder (in
natural name order, timed at a given rate) as one iterator of :class:`SequenceFrame`; errors name the file."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm")


class SequenceError(ValueError):
    """A video or image sequence that cannot be read; the message names the file."""


@dataclass
class SequenceFrame:
    index: int
    time_s: float  # presentation time (video) or index / fps (folder)
    image: np.ndarray  # H×W×3 uint8 BGR
    name: str  # the image file (folder) or "frame <index>" (video)


def _natural_key(path: Path) -> list[object]:
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", path.name)]


class FrameSequence:
    """A video file or a folder of images; iterate for the frames, ``len()`` when known (else 0)."""

    def __init__(self, source: str | Path, fps: float = 30.0) -> None:
        self.source = Path(source)
        if not self.source.exists():
            raise SequenceError(f"{self.source}: no such video file or image folder")
        if fps <= 0:
            raise SequenceError(f"fps must be > 0, got {fps}")
        self.fps = float(fps)
        self._files: list[Path] = []
        self._frames = 0
        if self.source.is_dir():
            self._files = sorted(
                (p for p in self.source.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()),
                key=_natural_key,
            )
            if not self._files:
                raise SequenceError(f"{self.source}: no images ({', '.join(IMAGE_SUFFIXES)}) in the folder")
            self._frames = len(self._files)
        else:
            self._probe_video()

    def _probe_video(self) -> None:
        import av

        try:
            with av.open(str(self.source)) as container:
                if not container.streams.video:
                    raise SequenceError(f"{self.source}: no video stream")
                stream = container.streams.video[0]
                self._frames = int(stream.frames or 0)
                if stream.average_rate:
                    self.fps = float(stream.average_rate)
        except av.error.FFmpegError as error:
            raise SequenceError(f"{self.source}: not a readable video ({error})") from error

    def __len__(self) -> int:
        return self._frames

    def __iter__(self) -> Iterator[SequenceFrame]:
        return self._read_folder() if self._files else self._read_video()

    def _read_folder(self) -> Iterator[SequenceFrame]:
        import cv2

        for index, path in enumerate(self._files):
            image = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if image is None:
                raise SequenceError(f"{path}: not a readable image")
            yield SequenceFrame(index, index / self.fps, image, str(path))

    def _read_video(self) -> Iterator[SequenceFrame]:
        import av

        try:
            with av.open(str(self.source)) as container:
                stream = container.streams.video[0]
                stream.thread_type = "AUTO"
                for index, frame in enumerate(container.decode(stream)):
                    time_s = float(frame.time) if frame.time is not None else index / self.fps
                    yield SequenceFrame(index, time_s, frame.to_ndarray(format="bgr24"), f"frame {index}")
        except av.error.FFmpegError as error:
            raise SequenceError(f"{self.source}: decoding failed ({error})") from error
