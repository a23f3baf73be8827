"""Opening a rosbag2 for reading, with the one-line error the recording commands give for a bad input."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from retinaface_ros.recording.image_files import UnreadableInputError


def open_bag(path: Path) -> Any:
    """An open ``rosbags.rosbag2.Reader`` of ``path`` (the caller closes it); a bag rosbags cannot open
    (damaged, unknown version, not a bag) raises UnreadableInputError naming ``path``."""
    from rosbags.rosbag2 import Reader

    try:
        reader = Reader(path)
        reader.open()
    except Exception as error:  # noqa: BLE001 - rosbags raises many kinds on a damaged bag
        raise UnreadableInputError(f"{path}: not a readable rosbag2 ({error})") from None
    return reader
