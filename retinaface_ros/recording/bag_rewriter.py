"""Stream a rosbag2 through a per-image-batch function and write a new bag (rosbags).

Messages are read and written one by one in the input's order with their receive timestamps; only the image
messages the function changes are re-serialised, every other message is copied as its raw bytes; topics keep
their type, message definition, serialisation format and QoS profiles. Memory holds one batch of images
(plus the few messages that arrive between them), so bags larger than RAM stream through.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from retinaface_ros.recording.bag_images import IMAGE_TYPES, message_to_bgr8
from retinaface_ros.recording.bag_reader import decode_image_message, open_bag
from retinaface_ros.recording.image_files import UnreadableInputError

STORAGES = ("mcap", "sqlite3")
_FILE_STORAGE = {".mcap": "mcap", ".db3": "sqlite3"}


@dataclass
class BagImage:
    """One image message handed to the batch function."""

    topic: str
    index: int  # per-topic message index (0-based)
    timestamp_ns: int  # receive timestamp
    msgtype: str
    msg: Any  # deserialised rosbags message
    bgr: np.ndarray  # for the detector


# For each BagImage: (replacement message or None to keep the raw bytes, extra messages (topic, msgtype, msg)
# to write right after it with the same receive timestamp).
BagResult = tuple[Any | None, Sequence[tuple[str, str, Any]]]
BagBatchFn = Callable[[Sequence[BagImage]], Sequence[BagResult]]


def default_typestore():  # noqa: ANN201 - rosbags Typestore
    from rosbags.typesys import Stores, get_typestore

    return get_typestore(Stores.LATEST)


def bag_storage(path: Path) -> str:
    """The storage plugin of a bag folder (from metadata.yaml) or a bare bag file (from its suffix)."""
    if path.is_file():
        return _FILE_STORAGE[path.suffix.lower()]
    from ruamel.yaml import YAML

    try:
        info = YAML(typ="safe").load((path / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
        return str(info["storage_identifier"])
    except Exception as error:  # noqa: BLE001 - any malformed metadata
        raise UnreadableInputError(f"{path / 'metadata.yaml'}: unreadable bag metadata ({error})") from None


def image_topics(source: Path) -> dict[str, str]:
    """topic → type of the bag's sensor_msgs/Image and CompressedImage topics."""
    from rosbags.rosbag2 import Reader

    with Reader(source) as reader:
        return {c.topic: c.msgtype for c in reader.connections if c.msgtype in IMAGE_TYPES}


def _select_topics(connections: list, topics: Sequence[str] | None, source: Path) -> set[int]:
    images = {c.topic for c in connections if c.msgtype in IMAGE_TYPES}
    if topics is None:
        chosen = images
    else:
        unknown = [t for t in topics if t not in images]
        if unknown:
            raise ValueError(
                f"{source}: --topics {', '.join(unknown)}: not an Image/CompressedImage topic of this bag "
                f"(image topics: {', '.join(sorted(images)) or 'none'})"
            )
        chosen = set(topics)
    return {c.id for c in connections if c.topic in chosen}


def rewrite_bag(
    source: Path,
    target: Path,
    process: BagBatchFn,
    topics: Sequence[str] | None = None,
    storage: str | None = None,
    batch_size: int = 8,
    on_frames: Callable[[int], None] | None = None,
    typestore: Any = None,
    time_range: tuple[int, int] | None = None,
    preroll_ns: int = 0,
) -> dict:
    """Write ``source`` (bag folder or bare .mcap/.db3) to ``target`` (a new bag folder, or a bare .mcap/.db3
    file when ``target`` has that suffix) with the image messages of ``topics`` (default: all) passed through
    ``process``. ``typestore`` must know the types of extra messages. Returns counts per topic.

    ``time_range`` = (start, stop) receive times in ns: only the messages in [start, stop) are written (a part
    of a bag split across tasks); the images of the ``preroll_ns`` before start go through ``process`` first,
    unwritten, so temporal safety starts warm."""
    from rosbags.rosbag2 import Writer
    from rosbags.rosbag2.enums import StoragePlugin

    typestore = typestore or default_typestore()
    storage = storage or bag_storage(source)
    if storage not in STORAGES:
        raise ValueError(f"storage must be one of {', '.join(STORAGES)}, got {storage!r}")
    bare = target.suffix.lower() in _FILE_STORAGE
    if bare and _FILE_STORAGE[target.suffix.lower()] != storage:
        raise ValueError(f"{target}: a {target.suffix} file cannot hold {storage} storage")
    bag_dir = target.with_suffix("") if bare else target
    counts: dict[str, int] = {}
    reader = open_bag(source)
    try:
        rewrite_ids = _select_topics(reader.connections, topics, source)
        writer = Writer(bag_dir, version=9, storage_plugin=StoragePlugin[storage.upper()])
        writer.open()
        try:
            out_conns = {}
            for conn in reader.connections:
                kwargs: dict[str, Any] = {"serialization_format": conn.ext.serialization_format}
                if conn.msgdef.data and conn.digest:
                    kwargs.update(msgdef=conn.msgdef.data, rihs01=conn.digest)
                else:
                    kwargs["typestore"] = typestore
                out_conns[conn.id] = writer.add_connection(
                    conn.topic, conn.msgtype, offered_qos_profiles=conn.ext.offered_qos_profiles, **kwargs
                )
                counts.setdefault(conn.topic, 0)
            extra_conns: dict[tuple[str, str], Any] = {}
            pending: list[tuple[Any, int, Any, BagImage | None]] = []
            images_pending = 0
            per_topic_index: dict[str, int] = {}

            def write_extra(topic: str, msgtype: str, msg: Any, timestamp: int) -> None:
                key = (topic, msgtype)
                if key not in extra_conns:
                    extra_conns[key] = writer.add_connection(topic, msgtype, typestore=typestore)
                    counts.setdefault(topic, 0)
                writer.write(extra_conns[key], timestamp, typestore.serialize_cdr(msg, msgtype))
                counts[topic] += 1

            def flush() -> None:
                nonlocal images_pending
                items = [item for *_, item in pending if item is not None]
                results = iter(process(items)) if items else iter(())
                for conn, timestamp, raw, item in pending:
                    data = raw
                    extras: Sequence = ()
                    if item is not None:
                        replacement, extras = next(results)
                        if replacement is not None:
                            data = typestore.serialize_cdr(replacement, conn.msgtype)
                    writer.write(out_conns[conn.id], timestamp, data)
                    counts[conn.topic] += 1
                    for topic, msgtype, msg in extras:
                        write_extra(topic, msgtype, msg, timestamp)
                if on_frames is not None and items:
                    on_frames(len(items))
                pending.clear()
                images_pending = 0

            read = 0
            start, stop = time_range if time_range is not None else (None, None)
            warmup: list[BagImage] = []
            messages = reader.messages(start=None if start is None else max(0, start - preroll_ns), stop=stop)
            while True:
                try:
                    conn, timestamp, raw = next(messages)
                except StopIteration:
                    break
                except (Exception, struct.error) as error:  # noqa: BLE001 - truncated/corrupt storage
                    raise UnreadableInputError(
                        f"{source}: unreadable after message {read} ({type(error).__name__}: {error})"
                    ) from None
                read += 1
                if start is not None and timestamp < start:  # pre-roll: images only, never written
                    if conn.id in rewrite_ids:
                        msg = typestore.deserialize_cdr(raw, conn.msgtype)
                        warmup.append(
                            BagImage(
                                conn.topic,
                                -1,
                                timestamp,
                                conn.msgtype,
                                msg,
                                message_to_bgr8(conn.msgtype, msg),
                            )
                        )
                        if len(warmup) >= batch_size:
                            process(warmup)
                            warmup.clear()
                    continue
                if warmup:
                    process(warmup)
                    warmup.clear()
                if conn.id not in rewrite_ids:
                    if pending:
                        pending.append((conn, timestamp, raw, None))
                    else:
                        writer.write(out_conns[conn.id], timestamp, raw)
                        counts[conn.topic] += 1
                    continue
                index = per_topic_index.get(conn.topic, 0)
                per_topic_index[conn.topic] = index + 1
                msg, bgr = decode_image_message(typestore, conn, raw, source, index)
                pending.append(
                    (conn, timestamp, raw, BagImage(conn.topic, index, timestamp, conn.msgtype, msg, bgr))
                )
                images_pending += 1
                if images_pending >= batch_size:
                    flush()
            flush()
        except BaseException:
            writer.abort() if hasattr(writer, "abort") else None
            raise
        writer.close()
    finally:
        reader.close()
    if bare:
        os.replace(bag_dir / f"{bag_dir.name}{target.suffix}", target)
        for leftover in bag_dir.iterdir():
            leftover.unlink()
        bag_dir.rmdir()
    return {"messages": counts, "storage": storage}
