"""Read-only frame streams out of recordings: (stream name, index, stamp, BGR image) from bags (every
Image/CompressedImage topic, or those named), videos, image folders and single images."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from retinaface_ros.recording.bag_images import IMAGE_TYPES
from retinaface_ros.recording.bag_reader import decode_image_message, open_bag
from retinaface_ros.recording.image_files import UnreadableInputError, is_image_file, read_image, to_bgr8
from retinaface_ros.recording.input_kinds import input_kind, walk_folder
from retinaface_ros.recording.video_rewriter import is_video_file


@dataclass
class Frame:
    stream: str  # "<bag>:<topic>", a video's path or an image folder's path
    index: int  # within its stream
    stamp_s: float | None  # header stamp (bags), presentation time (videos); None for photos
    name: str  # a relative file name for the frame, unique within the run
    image: np.ndarray  # BGR uint8


def _slug(text: str) -> str:
    return text.strip("/").replace("/", "_") or "root"


def bag_frames(path: Path, topics: Sequence[str] | None = None) -> Iterator[Frame]:
    from retinaface_ros.recording.bag_rewriter import default_typestore

    typestore = default_typestore()
    reader = open_bag(path)
    try:
        chosen = [
            c for c in reader.connections if c.msgtype in IMAGE_TYPES and (not topics or c.topic in topics)
        ]
        if topics:
            missing = sorted(set(topics) - {c.topic for c in chosen})
            if missing:
                raise ValueError(f"{path}: no image topic {', '.join(missing)} in this bag")
        counts: dict[str, int] = {}
        messages = reader.messages(connections=chosen) if chosen else iter(())
        while True:
            try:
                conn, timestamp, raw = next(messages)
            except StopIteration:
                return
            except Exception as error:  # noqa: BLE001 - truncated/corrupt storage
                raise UnreadableInputError(
                    f"{path}: unreadable after {sum(counts.values())} images ({error})"
                ) from None
            index = counts.get(conn.topic, 0)
            counts[conn.topic] = index + 1
            msg, image = decode_image_message(typestore, conn, raw, path, index)
            stamp = msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9 or timestamp * 1e-9
            yield Frame(
                f"{path}:{conn.topic}",
                index,
                stamp,
                f"{_slug(path.stem)}/{_slug(conn.topic)}/{index:06d}.jpg",
                image,
            )
    finally:
        reader.close()


def video_frames(path: Path, name: str | None = None) -> Iterator[Frame]:
    import av

    from retinaface_ros.recording.video_rewriter import _open_input

    container = _open_input(path)
    stem = name or path.stem
    index = 0
    try:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        try:
            for frame in container.decode(stream):
                image = frame.to_ndarray(format="bgr24")
                yield Frame(str(path), index, float(frame.time or 0.0), f"{stem}/{index:06d}.jpg", image)
                index += 1
        except av.FFmpegError as error:
            raise UnreadableInputError(f"{path}: frame {index}: cannot decode ({error})") from None
    finally:
        container.close()


def folder_frames(path: Path) -> Iterator[Frame]:
    """Images (one stream per folder, sorted, no stamps), videos and bags of a tree, in name order."""
    for here, bags, files in walk_folder(path):
        for bag in bags:
            yield from bag_frames(bag)
        images = 0
        for file in files:
            relative = file.relative_to(path)
            if is_image_file(file):
                image = to_bgr8(read_image(file))
                yield Frame(str(here), images, None, f"{_slug(path.name)}/{relative}", image)
                images += 1
            elif is_video_file(file):
                yield from video_frames(file, f"{_slug(path.name)}/{_slug(str(relative.with_suffix('')))}")
            elif file.name.endswith((".mcap", ".db3")):
                yield from bag_frames(file)


def frames_of(path: Path, topics: Sequence[str] | None = None) -> Iterator[Frame]:
    kind = input_kind(path)
    if kind == "bag":
        return bag_frames(path, topics)
    if kind == "video":
        return video_frames(path)
    if kind == "folder":
        return folder_frames(path)
    return iter([Frame(str(path), 0, None, path.name, to_bgr8(read_image(path)))])
