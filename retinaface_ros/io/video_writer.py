"""An H.264 (or MPEG-4 Part 2 where libx264 is missing) video written with PyAV through a temp file that
replaces the target only when the video is complete, so a failed run never leaves a broken file."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from types import TracebackType

import numpy as np

from retinaface_ros.io.atomic_files import atomic_output

CONTAINERS = {".mp4": "mp4", ".mkv": "matroska", ".mov": "mov", ".avi": "avi"}


class VideoWriter:
    """``with VideoWriter(path, fps) as video: video.write(bgr_image)``; the frame size is the first frame's
    (later frames of another size are resized to it)."""

    def __init__(self, path: str | Path, fps: float) -> None:
        self.path = Path(path)
        if self.path.suffix.lower() not in CONTAINERS:
            raise ValueError(f"{self.path}: the video must end in one of {', '.join(CONTAINERS)}")
        self.fps = Fraction(fps).limit_denominator(1001)
        self._output = None
        self._handle = None
        self._container = None
        self._stream = None
        self._size: tuple[int, int] | None = None

    def __enter__(self) -> VideoWriter:
        import av  # noqa: F401 - fail before anything is opened when PyAV is missing

        self._output = atomic_output(self.path)
        self._handle = self._output.__enter__()
        return self

    def _open(self, width: int, height: int) -> None:
        import av

        self._container = av.open(self._handle, mode="w", format=CONTAINERS[self.path.suffix.lower()])
        codec = "libx264" if "libx264" in av.codecs_available else "mpeg4"
        self._stream = self._container.add_stream(codec, rate=self.fps)
        self._stream.width, self._stream.height = width, height
        self._stream.pix_fmt = "yuv420p"
        self._size = (width, height)

    def write(self, image: np.ndarray) -> None:
        import av
        import cv2

        if self._size is None:
            self._open(image.shape[1] // 2 * 2, image.shape[0] // 2 * 2)  # yuv420p needs even sizes
        width, height = self._size
        if image.shape[:2] != (height, width):
            image = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="bgr24")
        for packet in self._stream.encode(frame):
            self._container.mux(packet)

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            if self._container is not None:
                if kind is None:
                    for packet in self._stream.encode():
                        self._container.mux(packet)
                self._container.close()
        except BaseException as close_error:
            self._output.__exit__(type(close_error), close_error, close_error.__traceback__)
            raise
        if kind is None and self._container is None:
            error = ValueError(f"{self.path}: no frames to write")
            self._output.__exit__(ValueError, error, None)
            raise error
        self._output.__exit__(kind, error, traceback)
