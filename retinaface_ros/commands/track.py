"""``retinaface track``: follow faces through a video or an image sequence folder; write the video annotated
with track ids and/or a JSON of per-frame boxes, landmarks, scores and ids."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from retinaface_ros.commands import UsageError
from retinaface_ros.commands.runtime_options import add_detection_arguments
from retinaface_ros.model.config import BACKBONES

CLASS_NAMES = ("face", "masked_face")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "track",
        help="track faces through a video or an image folder (stable ids, smoothed boxes)",
        description="Detect and track faces in a video file (PyAV) or a folder of images (name order); "
        "write an annotated video (--out) and/or per-frame tracks as JSON (--json).",
    )
    parser.add_argument("source", type=Path, help="video file, or folder of images (sorted by name)")
    parser.add_argument("--model", required=True, type=Path, help=".pth state dict or OpenDR model folder")
    parser.add_argument("--out", type=Path, help="annotated video (.mp4, .mkv, .mov, .avi)")
    parser.add_argument("--json", type=Path, help="per-frame tracks (boxes, landmarks, scores, ids)")
    parser.add_argument("--backbone", default="mnet", choices=BACKBONES)
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    add_detection_arguments(parser)
    parser.add_argument(
        "--detect-every",
        type=int,
        default=1,
        metavar="N",
        help="run the detector on every Nth frame, track on the others (default 1: every frame)",
    )
    parser.add_argument("--min-hits", type=int, default=3, help="detections before a track is reported")
    parser.add_argument(
        "--max-age-s", type=float, default=1.0, help="seconds a track lives without detection"
    )
    parser.add_argument(
        "--no-optical-flow", action="store_true", help="between detections: motion model only"
    )
    parser.add_argument("--no-smoothing", action="store_true", help="no One-Euro smoothing")
    parser.add_argument("--fps", type=float, default=30.0, help="frame rate of an image folder (default 30)")
    parser.add_argument(
        "--random-ids",
        action="store_true",
        help="random letter ids (as the node uses) instead of 1, 2, 3, ...",
    )
    parser.set_defaults(func=run)


def _check(args: argparse.Namespace) -> None:
    from retinaface_ros.io.video_writer import CONTAINERS

    if args.out is None and args.json is None:
        raise UsageError("nothing to write: give --out VIDEO and/or --json FILE")
    if args.out is not None and args.out.suffix.lower() not in CONTAINERS:
        raise UsageError(f"--out {args.out}: the video must end in one of {', '.join(CONTAINERS)}")
    source = args.source.resolve()
    for option, path in (("--out", args.out), ("--json", args.json)):
        if path is not None and path.resolve() == source:
            raise UsageError(f"{option} {path} is the input; the input is never overwritten")
    if args.detect_every < 1:
        raise UsageError(f"--detect-every must be >= 1, got {args.detect_every}")


def run(args: argparse.Namespace) -> int:
    _check(args)
    from tqdm import tqdm

    from retinaface_ros.io.atomic_files import write_atomically
    from retinaface_ros.io.frame_sequence import FrameSequence
    from retinaface_ros.learner import RetinaFaceLearner
    from retinaface_ros.tracking import FaceTracker, SmoothingConfig, TrackerConfig

    config = TrackerConfig(
        min_hits=args.min_hits,
        max_age_s=args.max_age_s,
        smoothing=SmoothingConfig(enabled=not args.no_smoothing),
        optical_flow=not args.no_optical_flow,
        deterministic_ids=not args.random_ids,
    )
    frames = FrameSequence(args.source, fps=args.fps)
    learner = RetinaFaceLearner(backbone=args.backbone, device=args.device)
    learner.load(args.model, verbose=False)
    tracker = FaceTracker(config)
    scales = None if args.scales is None else list(args.scales)
    report: list[dict[str, Any]] = []
    video = _video(args.out, frames.fps)
    with video as writer, tqdm(total=len(frames) or None, unit="frame", desc="track") as progress:
        for frame in frames:
            detect = frame.index % args.detect_every == 0
            found = None
            if detect:  # (detect_arrays would take nms_threshold=None as "no NMS")
                batch = learner.detect_arrays_batch([frame.image], args.threshold, args.nms_threshold, scales)
                found = batch[0]
            tracks = [t for t in tracker.update(frame.time_s, found, frame.image) if t.confirmed]
            report.append(_frame_entry(frame.index, frame.time_s, detect, tracks))
            if writer is not None:
                writer.write(_annotate(frame.image, tracks))
            progress.update(1)
    if args.json is not None:
        stats = tracker.stats
        document = {
            "source": str(args.source),
            "fps": frames.fps,
            "detect_every": args.detect_every,
            "tracks_created": stats.created,
            "frames": report,
        }
        write_atomically(args.json, json.dumps(document, indent=1).encode())
    ids = {face["id"] for entry in report for face in entry["faces"]}
    written = " and ".join(str(p) for p in (args.out, args.json) if p is not None)
    print(f"{len(report)} frames, {len(ids)} tracked face(s); wrote {written}")
    return 0


class _NoVideo:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def _video(path: Path | None, fps: float) -> Any:
    from retinaface_ros.io.video_writer import VideoWriter

    return VideoWriter(path, fps) if path is not None else _NoVideo()


def _frame_entry(index: int, time_s: float, detected: bool, tracks: list[Any]) -> dict[str, Any]:
    return {
        "index": index,
        "time_s": round(time_s, 6),
        "detected": detected,
        "faces": [
            {
                "id": track.track_id,
                "box": [round(float(v), 2) for v in track.box],
                "landmarks": [[round(float(x), 2), round(float(y), 2)] for x, y in track.landmarks],
                "score": round(track.score, 4),
                "class": CLASS_NAMES[track.class_id],
                "detected": track.detected,
            }
            for track in tracks
        ],
    }


def _annotate(image: Any, tracks: list[Any]) -> Any:
    from retinaface_ros.drawing import draw_bounding_boxes
    from retinaface_ros.tracking import tracks_to_detections
    from retinaface_ros.tracking.annotate import draw_track_ids

    detections, ids = tracks_to_detections(tracks)
    return draw_track_ids(draw_bounding_boxes(image, detections.to_bounding_boxes()), detections, ids)
