"""Anonymise one input (image, folder, video, bag) into its output path: the unit of work of
``retinaface anonymize`` (and of one Ray task)."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from retinaface_ros.privacy.anonymizer import AnonymizeConfig, anonymize_image
from retinaface_ros.privacy.frame_anonymizer import FrameAnonymizer
from retinaface_ros.recording.bag_images import cover_message
from retinaface_ros.recording.bag_rewriter import BagImage, default_typestore, rewrite_bag
from retinaface_ros.recording.face_messages import DETECTIONS_TYPE, FACES_TYPE, face_messages, face_typestore
from retinaface_ros.recording.image_files import (
    UnreadableInputError,
    encode_image,
    is_image_file,
    read_image,
    to_bgr8,
)
from retinaface_ros.recording.input_kinds import is_bag, walk_folder
from retinaface_ros.recording.video_rewriter import is_video_file, rewrite_video


@dataclass(frozen=True)
class RewriteOptions:
    config: AnonymizeConfig = AnonymizeConfig()
    topics: Sequence[str] | None = None
    storage: str | None = None
    batch_size: int = 8
    jpeg_quality: int = 95
    cover: bool = True  # False: images are left as they are (detect-bag)
    add_detections: bool = False  # bags: <topic>/detections and <topic>/faces after each image


Progress = Callable[[int], object]


def _images(
    paths: list[tuple[Path, Path]],
    stream: str,
    anonymizer: FrameAnonymizer,
    options: RewriteOptions,
    progress: Progress,
) -> None:
    """Photos (unrelated frames: no temporal safety), in batches."""
    for start in range(0, len(paths), options.batch_size):
        chunk = paths[start : start + options.batch_size]
        images = [read_image(source) for source, _ in chunk]
        boxes = anonymizer.boxes_to_cover([(stream, None, to_bgr8(image)) for image in images])
        for (source, target), image, found in zip(chunk, images, boxes, strict=True):
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(encode_image(anonymize_image(image, found, options.config), source.suffix))
        progress(len(chunk))


def _video(
    source: Path, target: Path, anonymizer: FrameAnonymizer, options: RewriteOptions, progress: Progress
) -> dict:
    stream = str(source)

    def process(images: Sequence[np.ndarray], stamps: Sequence[float]) -> list[np.ndarray]:
        boxes = anonymizer.boxes_to_cover(
            [(stream, t, image) for image, t in zip(images, stamps, strict=True)]
        )
        return [anonymize_image(i, b, options.config) for i, b in zip(images, boxes, strict=True)]

    target.parent.mkdir(parents=True, exist_ok=True)
    return rewrite_video(source, target, process, options.batch_size, progress)


def _bag(
    source: Path,
    target: Path,
    anonymizer: FrameAnonymizer,
    options: RewriteOptions,
    progress: Progress,
    time_range: tuple[int, int] | None = None,
) -> dict:
    typestore = face_typestore() if options.add_detections else default_typestore()

    def process(items: Sequence[BagImage]) -> list:
        frames = [(f"{source}:{item.topic}", _stamp_s(item), item.bgr) for item in items]
        if items and items[0].index < 0:  # pre-roll of a bag part: temporal state only
            anonymizer.process(frames, count=False)
            return []
        results = []
        for item, (detections, boxes) in zip(items, anonymizer.process(frames), strict=True):
            extras = ()
            if options.add_detections:
                detected, faces = face_messages(typestore, item.msg.header, detections)
                extras = (
                    (f"{item.topic}/detections", DETECTIONS_TYPE, detected),
                    (f"{item.topic}/faces", FACES_TYPE, faces),
                )
            if not options.cover or len(boxes) == 0:
                results.append((None, extras))  # nothing to cover: the message's bytes are kept
                continue
            try:
                covered = cover_message(item.msgtype, item.msg, boxes, options.config, options.jpeg_quality)
            except (ValueError, KeyError) as error:
                raise UnreadableInputError(
                    f"{source}: topic {item.topic} message {item.index}: {error}"
                ) from None
            results.append((covered, extras))
        return results

    target.parent.mkdir(parents=True, exist_ok=True)
    preroll_ns = int(anonymizer.max_age_s * 1e9)
    return rewrite_bag(
        source,
        target,
        process,
        options.topics,
        options.storage,
        options.batch_size,
        progress,
        typestore,
        time_range,
        preroll_ns,
    )


def _stamp_s(item: BagImage) -> float:
    """Header stamp in seconds; the receive time when the header is unset."""
    stamp = item.msg.header.stamp
    if stamp.sec or stamp.nanosec:
        return stamp.sec + stamp.nanosec * 1e-9
    return item.timestamp_ns * 1e-9


def _folder(
    source: Path, target: Path, anonymizer: FrameAnonymizer, options: RewriteOptions, progress: Progress
) -> dict:
    """The tree under ``source``: images and videos anonymised, bags rewritten, other files copied."""
    images: list[tuple[Path, Path]] = []
    counts = {"images": 0, "videos": 0, "bags": 0, "copied": []}
    target.mkdir(parents=True, exist_ok=True)
    for _, bags, files in walk_folder(source):
        for bag in bags:
            _bag(bag, target / bag.relative_to(source), anonymizer, options, progress)
            counts["bags"] += 1
        for file in files:
            out = target / file.relative_to(source)
            if is_image_file(file):
                images.append((file, out))
            elif is_video_file(file):
                _video(file, out, anonymizer, options, progress)
                counts["videos"] += 1
            elif is_bag(file):  # a bare .mcap / .db3: rewritten like a bag folder, not copied with its faces
                _bag(file, out, anonymizer, options, progress)
                counts["bags"] += 1
            else:
                out.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(file, out)
                counts["copied"].append(str(file.relative_to(source)))
    _images(images, str(source), anonymizer, options, progress)
    counts["images"] = len(images)
    return counts


def rewrite_bag_part(
    source: Path,
    target: Path,
    anonymizer: FrameAnonymizer,
    options: RewriteOptions,
    time_range: tuple[int, int],
) -> dict:
    """The messages of ``source`` received in [start, stop) ns, rewritten into the bag ``target``."""
    return _bag(source, target, anonymizer, options, lambda _: None, time_range)


def rewrite_input(
    kind: str,
    source: Path,
    target: Path,
    anonymizer: FrameAnonymizer,
    options: RewriteOptions,
    progress: Progress,
) -> dict:
    """Anonymise ``source`` (of ``kind`` from ``input_kind``) into ``target``; returns what was done."""
    if kind == "image":
        _images([(source, target)], str(source), anonymizer, options, progress)
        return {"images": 1}
    if kind == "video":
        return _video(source, target, anonymizer, options, progress)
    if kind == "bag":
        return _bag(source, target, anonymizer, options, progress)
    return _folder(source, target, anonymizer, options, progress)
