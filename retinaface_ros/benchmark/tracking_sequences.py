"""Synthetic camera sequences with known ground truth for the tracking benchmark.

A virtual VGA camera looks at a still photo (bald_guys.jpg, selfie.jpg) and moves: pans, zooms, shake; faces
can be covered for a few frames by pasted patches, and faces enter and leave as the view moves. The true
faces are the detector's faces in the still photo, mapped into each frame by the camera's known motion, so
every frame's ground truth is exact up to the detector's own accuracy on the photo.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

FRAME_SIZE = (640, 480)  # VGA
FPS = 30.0
MIN_VISIBLE = 0.7  # a face counts as in view when this much of its box is inside the frame
MIN_COVERED = 0.5  # ... and as occluded when a patch covers this much of it


@dataclass
class Sequence:
    """Frames and, per frame, every photo face's box in frame pixels with its visibility."""

    name: str
    frames: list[np.ndarray]  # H×W×3 BGR
    boxes: np.ndarray  # T×F×4 x1y1x2y2 (clipped to the frame; meaningless where not visible)
    visible: np.ndarray  # T×F bool: in view
    present: np.ndarray  # T×F bool: at least partly in the frame (outputs there are not false positives)
    occluded: np.ndarray  # T×F bool: in view but covered by a patch
    fps: float = FPS

    def __len__(self) -> int:
        return len(self.frames)


@dataclass(frozen=True)
class Window:
    """The camera's view of the photo: top-left corner and width in photo pixels (height: 3/4 of it)."""

    x: float
    y: float
    width: float


def render(
    photo: np.ndarray,
    faces: np.ndarray,
    name: str,
    windows: list[Window],
    occluders: Callable[[int, np.ndarray], list[np.ndarray]] | None = None,
    noise_std: float = 0.0,
    seed: int = 0,
) -> Sequence:
    """Frames seen through ``windows`` (one per frame) of ``photo`` with faces ``faces`` (F×4 photo pixels).

    ``occluders(frame_index, frame_boxes)`` returns boxes (frame pixels) to paste a patch over; ``noise_std``
    adds sensor noise (grey levels) so that the detector's boxes jitter as with a real camera."""
    rng = np.random.default_rng(seed)
    width, height = FRAME_SIZE
    frames, all_boxes, visible, present, occluded = [], [], [], [], []
    for index, window in enumerate(windows):
        scale = width / window.width
        matrix = np.array([[scale, 0.0, -window.x * scale], [0.0, scale, -window.y * scale]])
        frame = cv2.warpAffine(
            photo, matrix, FRAME_SIZE, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT
        )
        boxes = (faces - np.array([window.x, window.y, window.x, window.y])) * scale
        clipped = boxes.copy()
        np.clip(clipped[:, 0::2], 0, width, out=clipped[:, 0::2])
        np.clip(clipped[:, 1::2], 0, height, out=clipped[:, 1::2])
        inside = _area(clipped) / np.maximum(_area(boxes), 1e-9)
        in_view = inside >= MIN_VISIBLE
        covered = np.zeros(len(faces), bool)
        for patch_box in occluders(index, boxes) if occluders else []:
            _paste_patch(frame, patch_box, rng)
            covered |= _covered_share(boxes, patch_box) >= MIN_COVERED
        if noise_std > 0:
            frame = np.clip(frame + rng.normal(0.0, noise_std, frame.shape), 0, 255).astype(np.uint8)
        frames.append(frame)
        all_boxes.append(clipped)
        visible.append(in_view)
        present.append(inside > 0.0)
        occluded.append(in_view & covered)
    return Sequence(
        name, frames, np.array(all_boxes), np.array(visible), np.array(present), np.array(occluded)
    )


def _area(boxes: np.ndarray) -> np.ndarray:
    return np.clip(boxes[:, 2] - boxes[:, 0], 0, None) * np.clip(boxes[:, 3] - boxes[:, 1], 0, None)


def _covered_share(boxes: np.ndarray, patch: np.ndarray) -> np.ndarray:
    inter_w = np.clip(np.minimum(boxes[:, 2], patch[2]) - np.maximum(boxes[:, 0], patch[0]), 0, None)
    inter_h = np.clip(np.minimum(boxes[:, 3], patch[3]) - np.maximum(boxes[:, 1], patch[1]), 0, None)
    return inter_w * inter_h / np.maximum(_area(boxes), 1e-9)


def _paste_patch(frame: np.ndarray, box: np.ndarray, rng: np.random.Generator) -> None:
    """A textured, face-free patch (blurred noise) over ``box``."""
    height, width = frame.shape[:2]
    x1, y1 = max(int(box[0]), 0), max(int(box[1]), 0)
    x2, y2 = min(int(np.ceil(box[2])), width), min(int(np.ceil(box[3])), height)
    if x2 <= x1 or y2 <= y1:
        return
    patch = rng.integers(40, 220, (y2 - y1, x2 - x1, 3), dtype=np.uint8)
    frame[y1:y2, x1:x2] = cv2.GaussianBlur(patch, (7, 7), 0)


def linear(start: Window, end: Window, frames: int) -> list[Window]:
    """A straight camera move (pan and/or zoom) from ``start`` to ``end``."""
    steps = np.linspace(0.0, 1.0, frames)
    return [
        Window(
            start.x + (end.x - start.x) * t,
            start.y + (end.y - start.y) * t,
            start.width + (end.width - start.width) * t,
        )
        for t in steps
    ]


def shaken(centre: Window, frames: int, amplitude: float, fps: float = FPS, seed: int = 0) -> list[Window]:
    """A hand-held camera: the view shakes around ``centre`` by up to ``amplitude`` photo pixels, a sum of
    three sines per axis at 1-4 Hz with random phases (about what a hand does; not frame-rate noise)."""
    rng = np.random.default_rng(seed)
    times = np.arange(frames) / fps
    offsets = np.zeros((frames, 2))
    for axis in range(2):
        for frequency in rng.uniform(1.0, 4.0, 3):
            offsets[:, axis] += np.sin(2 * np.pi * frequency * times + rng.uniform(0, 2 * np.pi))
    offsets *= amplitude / np.abs(offsets).max(axis=0)
    return [Window(centre.x + dx, centre.y + dy, centre.width) for dx, dy in offsets]


def cover_faces(face_indices: list[int], first: int, last: int, grow: float = 0.1) -> Callable:
    """Occluders: patches over the faces ``face_indices`` during frames ``first``..``last``."""

    def occluders(index: int, boxes: np.ndarray) -> list[np.ndarray]:
        if not first <= index <= last:
            return []
        out = []
        for face in face_indices:
            x1, y1, x2, y2 = boxes[face]
            margin_x, margin_y = grow * (x2 - x1), grow * (y2 - y1)
            out.append(np.array([x1 - margin_x, y1 - margin_y, x2 + margin_x, y2 + margin_y]))
        return out

    return occluders
