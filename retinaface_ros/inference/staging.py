"""Filling a uint8 N×h×w×3 staging buffer with a batch of frames, chunk by chunk.

Each chunk is yielded as soon as it is filled, so the caller can start its host→device copy while the next
chunks are still being written. Plain copies (frames already at the input size) run on a small shared thread
pool, since numpy releases the GIL for them; resizes stay on the calling thread, because OpenCV already
spreads each resize over its own threads.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np

MAX_CHUNKS = 8  # per batch: enough to overlap copies and uploads, few enough to keep per-copy overhead low
WORKERS = min(8, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


@functools.cache
def staging_pool() -> ThreadPoolExecutor:
    """The shared copy threads (created on first use; a forked child makes its own)."""
    return ThreadPoolExecutor(WORKERS, thread_name_prefix="retinaface-staging")


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=staging_pool.cache_clear)  # the parent's threads do not exist there


def resize_image(image: np.ndarray, factor: float, dst: np.ndarray | None = None) -> np.ndarray:
    """``image`` scaled by ``factor`` as the reference pipeline does it: ``cv2.resize(fx=fy=factor)``,
    bilinear, sampling the source at (x + 0.5) / factor − 0.5. Resizing to the rounded target size instead
    samples at the size ratio, which drifts by up to half a source pixel at the far edge.

    Writes into ``dst`` (the rounded ``factor`` × size) when given; returns the resized image.
    """
    height, width = image.shape[:2]
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    if dst is not None and dst.shape[:2] != size[::-1]:
        raise ValueError(f"dst has shape {dst.shape}, the resized image is {size[1]}x{size[0]}")
    if resizes_by_factor(height, width, factor):
        out = cv2.resize(image, None, dst=dst, fx=factor, fy=factor, interpolation=cv2.INTER_LINEAR)
        if out.shape[:2] == size[::-1] and (dst is None or np.shares_memory(out, dst)):
            return out
    # A sliver that rounds to 0 rows (or OpenCV rounding a size differently): the size-driven resize.
    return cv2.resize(image, size, dst=dst, interpolation=cv2.INTER_LINEAR)


def resizes_by_factor(height: int, width: int, factor: float) -> bool:
    """Whether :func:`resize_image` samples by ``factor`` (no side rounds to 0 pixels); else by size."""
    return round(height * factor) >= 1 and round(width * factor) >= 1


def row_chunks(count: int, chunks: int = MAX_CHUNKS) -> list[slice]:
    """``count`` rows cut into at most ``chunks`` contiguous slices of near-equal size."""
    parts = max(1, min(count, chunks))
    bounds = [count * index // parts for index in range(parts + 1)]
    return [slice(start, stop) for start, stop in zip(bounds, bounds[1:], strict=False)]


def stage_frames(array: np.ndarray, images: Sequence[np.ndarray], factor: float) -> Iterator[slice]:
    """Write ``images`` (resized by ``factor`` when it is not 1, see :func:`resize_image`) into ``array``;
    yield each filled chunk of rows, in order."""

    def fill(rows: slice) -> slice:
        for row in range(rows.start, rows.stop):
            if factor != 1.0:
                resize_image(images[row], factor, dst=array[row])
            else:
                array[row] = images[row]
        return rows

    chunks = row_chunks(len(images))
    if factor == 1.0 and len(chunks) > 1 and WORKERS > 1:
        yield from staging_pool().map(fill, chunks)
    else:
        yield from map(fill, chunks)
