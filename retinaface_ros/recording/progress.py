"""One tqdm bar over all frames of a run (images, video frames, bag image messages), sized up front where
the containers say how many frames they hold."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from pathlib import Path

from tqdm import tqdm

from retinaface_ros.recording.image_files import is_image_file
from retinaface_ros.recording.input_kinds import is_bag, walk_folder
from retinaface_ros.recording.video_rewriter import is_video_file


def _video_frames(path: Path) -> int | None:
    try:
        import av

        with av.open(str(path)) as container:
            return int(container.streams.video[0].frames) or None
    except Exception:  # noqa: BLE001 - an unreadable video is reported when it is processed
        return None


def _bag_frames(path: Path) -> int | None:
    try:
        from rosbags.rosbag2 import Reader

        from retinaface_ros.recording.bag_images import IMAGE_TYPES

        with Reader(path) as reader:
            return sum(c.msgcount for c in reader.connections if c.msgtype in IMAGE_TYPES)
    except Exception:  # noqa: BLE001
        return None


def count_frames(path: Path, kind: str) -> int | None:
    """Frames ``path`` will yield, or None when unknown."""
    if kind == "image":
        return 1
    if kind == "video":
        return _video_frames(path)
    if kind == "bag":
        return _bag_frames(path)
    total = 0
    for _, bags, files in walk_folder(path):
        for bag in bags:
            total += _bag_frames(bag) or 0
        for file in files:
            if is_image_file(file):
                total += 1
            elif is_video_file(file):
                total += _video_frames(file) or 0
            elif is_bag(file):
                total += _bag_frames(file) or 0
    return total


@contextlib.contextmanager
def frame_progress(inputs: Sequence[Path], kinds: Sequence[str]) -> Iterator[tqdm]:
    counts = [count_frames(path, kind) for path, kind in zip(inputs, kinds, strict=True)]
    total = None if any(c is None for c in counts) else sum(counts)
    with tqdm(total=total, unit="frame", dynamic_ncols=True, leave=True) as bar:
        yield bar
