"""``retinaface export-dataset BAG|VIDEO|FOLDER... --out DIR``: sample frames from recordings, detect faces
(optionally with the flip/pyramid test-time augmentation of ``evaluate``) and write a WIDER FACE data set
(``DIR/WIDER_<split>/images`` + ``label.txt`` with boxes and 5 landmarks) for review and fine-tuning with the
Train action. DIR appears only when complete."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from retinaface_ros.commands import UsageError
from retinaface_ros.commands.anonymize import add_model_arguments, load_learner


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "export-dataset", help="recordings → WIDER FACE data set (pseudo-labels)", description=__doc__
    )
    parser.add_argument("inputs", nargs="+", type=Path, help="bag, video, image folder or image")
    parser.add_argument("--out", required=True, type=Path, help="data set root (created)")
    add_model_arguments(parser)
    parser.add_argument(
        "--threshold", type=float, default=None, help="score threshold (default: the model's)"
    )
    parser.add_argument("--every", type=int, default=1, help="keep every N-th frame of a stream (1)")
    parser.add_argument("--interval", type=float, default=0.0, metavar="S", help="at least S s apart (0)")
    parser.add_argument("--tta", action="store_true", help="flip + pyramid test-time augmentation (slower)")
    parser.add_argument("--keep-empty", action="store_true", help="also export frames without a face")
    parser.add_argument("--split", default="train", help="WIDER_<split> folder name (train)")
    parser.add_argument("--topics", nargs="+", help="bag image topics (default: every image topic)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing DIR")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from retinaface_ros.recording.frame_sampler import FrameSampler
    from retinaface_ros.recording.frame_sources import frames_of
    from retinaface_ros.recording.input_kinds import input_kind
    from retinaface_ros.recording.output_target import check_output, staged_output
    from retinaface_ros.recording.wider_export import WiderExporter

    if not args.split.replace("_", "").isalnum():
        raise UsageError(f"--split must be a plain name, got {args.split!r}")
    sampler = FrameSampler(args.every, args.interval)
    for source in args.inputs:
        input_kind(source)
    try:
        check_output(args.out, args.overwrite, list(args.inputs))
    except FileExistsError as error:
        raise UsageError(str(error)) from None
    learner = load_learner(args)
    threshold = learner.inference_params.threshold if args.threshold is None else args.threshold
    detect = _detector(learner, threshold, args)
    try:
        with staged_output(args.out, args.overwrite, is_dir=True) as staged, tqdm(unit="frame") as bar:
            exporter = WiderExporter(staged, args.split)
            try:
                batch = []
                for source in args.inputs:
                    for frame in frames_of(source, args.topics):
                        bar.update(1)
                        if sampler.keep(frame.stream, frame.index, frame.stamp_s):
                            batch.append(frame)
                        if len(batch) >= args.batch:
                            _export(batch, detect, exporter, args.keep_empty)
                _export(batch, detect, exporter, args.keep_empty)
            finally:
                exporter.close()
            summary = {"images": exporter.images, "faces": exporter.faces, "split": args.split}
            (staged / "export.json").write_text(
                json.dumps({**summary, "threshold": threshold}, indent=2) + "\n"
            )
    except KeyboardInterrupt:
        print("retinaface: interrupted: no output written", file=sys.stderr)
        return 130
    print(f"wrote {args.out}: {summary['images']} images, {summary['faces']} faces (WIDER_{args.split})")
    return 0


def _detector(learner, threshold: float, args: argparse.Namespace):  # noqa: ANN001, ANN202
    """frames → Detections per frame: batched, or per frame with test-time augmentation."""
    scales = None if args.scales is None else list(args.scales)
    if not args.tta:
        return lambda images: learner.detect_arrays_batch(images, threshold, args.nms_threshold, scales)
    from retinaface_ros.evaluation.evaluate import TTA_NMS_THRESHOLD, detect_tta

    nms = TTA_NMS_THRESHOLD if args.nms_threshold is None else args.nms_threshold
    return lambda images: [detect_tta(learner, image, threshold, nms) for image in images]


def _export(batch: list, detect, exporter, keep_empty: bool) -> None:  # noqa: ANN001
    if not batch:
        return
    for frame, detections in zip(batch, detect([f.image for f in batch]), strict=True):
        if len(detections) or keep_empty:
            exporter.add(frame.name, frame.image, detections)
    batch.clear()
