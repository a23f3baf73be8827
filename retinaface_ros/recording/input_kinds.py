"""What an input path is: an image, a folder of images/videos, a video, or a rosbag2 (folder or bare file)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from retinaface_ros.recording.image_files import is_image_file
from retinaface_ros.recording.video_rewriter import is_video_file

BAG_FILE_SUFFIXES = frozenset({".mcap", ".db3"})


def is_bag(path: Path) -> bool:
    return (path.is_dir() and (path / "metadata.yaml").is_file()) or (
        path.is_file() and path.suffix.lower() in BAG_FILE_SUFFIXES
    )


def walk_folder(root: Path) -> Iterator[tuple[Path, list[Path], list[Path]]]:
    """The tree under ``root`` in name order, a rosbag2 folder taken as one input (not entered): for each
    folder, (the folder, the bag folders in it, the files in it)."""
    for top, dirs, files in os.walk(root):
        here = Path(top)
        dirs.sort()
        bags = [here / name for name in dirs if is_bag(here / name)]
        dirs[:] = [name for name in dirs if here / name not in bags]
        yield here, bags, [here / name for name in sorted(files)]


def input_kind(path: Path) -> str:
    """'bag', 'folder', 'video' or 'image'; ValueError naming the path otherwise."""
    if not path.exists():
        raise FileNotFoundError(f"input not found: {path}")
    if is_bag(path):
        return "bag"
    if path.is_dir():
        return "folder"
    if is_video_file(path):
        return "video"
    if is_image_file(path):
        return "image"
    raise ValueError(f"{path}: not an image, video, folder or rosbag2 (by its name)")
