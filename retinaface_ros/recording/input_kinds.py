"""What an input path is: an image, a folder of images/videos, a video, or a rosbag2 (folder or bare file)."""

from __future__ import annotations

from pathlib import Path

from retinaface_ros.recording.image_files import is_image_file
from retinaface_ros.recording.video_rewriter import is_video_file

BAG_FILE_SUFFIXES = frozenset({".mcap", ".db3"})


def is_bag(path: Path) -> bool:
    return (path.is_dir() and (path / "metadata.yaml").is_file()) or (
        path.is_file() and path.suffix.lower() in BAG_FILE_SUFFIXES
    )


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
