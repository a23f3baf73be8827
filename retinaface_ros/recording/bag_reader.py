"""Reading rosbag2 bags, with the one-line errors the recording commands give for a bad input: a bag that
does not open, an image message that does not decode."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from retinaface_ros.recording.bag_images import message_to_bgr8
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


def decode_image_message(
    typestore: Any, conn: Any, raw: bytes, source: Path, index: int
) -> tuple[Any, np.ndarray]:
    """The ``index``-th image message of ``conn``'s topic in ``source``: the message and its BGR8 pixels. One
    that does not decode raises UnreadableInputError naming the bag, the topic and ``index``."""
    try:
        msg = typestore.deserialize_cdr(raw, conn.msgtype)
        return msg, message_to_bgr8(conn.msgtype, msg)
    except Exception as error:  # noqa: BLE001 - one line naming the message
        raise UnreadableInputError(f"{source}: topic {conn.topic} message {index}: {error}") from None
