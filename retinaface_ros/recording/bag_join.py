"""Join bags written as consecutive time parts of one bag (Ray tasks) into one, in order, raw bytes as
they are: topics keep type, definition, serialisation format and QoS; the first part's topic order."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from retinaface_ros.recording.bag_rewriter import STORAGES


def join_bags(parts: Sequence[Path], target: Path, storage: str) -> dict[str, int]:
    """Write the messages of ``parts`` (bag folders, in time order) to the new bag ``target`` (a folder, or
    a bare .mcap/.db3 file); returns messages per topic."""
    from rosbags.rosbag2 import Reader, Writer
    from rosbags.rosbag2.enums import StoragePlugin

    if storage not in STORAGES:
        raise ValueError(f"storage must be one of {', '.join(STORAGES)}, got {storage!r}")
    bare = target.suffix.lower() in (".mcap", ".db3")
    bag_dir = target.with_suffix("") if bare else target
    counts: dict[str, int] = {}
    with Writer(bag_dir, version=9, storage_plugin=StoragePlugin[storage.upper()]) as writer:
        connections: dict[tuple[str, str], object] = {}
        for part in parts:
            with Reader(part) as reader:
                for conn in reader.connections:
                    key = (conn.topic, conn.msgtype)
                    if key not in connections:
                        connections[key] = writer.add_connection(
                            conn.topic,
                            conn.msgtype,
                            msgdef=conn.msgdef.data,
                            rihs01=conn.digest,
                            serialization_format=conn.ext.serialization_format,
                            offered_qos_profiles=conn.ext.offered_qos_profiles,
                        )
                        counts[conn.topic] = 0
                for conn, timestamp, raw in reader.messages():
                    writer.write(connections[(conn.topic, conn.msgtype)], timestamp, raw)
                    counts[conn.topic] += 1
    if bare:
        os.replace(bag_dir / f"{bag_dir.name}{target.suffix}", target)
        for leftover in bag_dir.iterdir():
            leftover.unlink()
        bag_dir.rmdir()
    return counts
