"""``retinaface anonymize INPUT... --out OUT``: cover faces in images, image folders, videos and rosbag2 bags.

One input: OUT is its output (same kind). Several: OUT is a folder holding one output per input, by name.
Outputs appear only when complete (temporary name, then rename), the inputs are never modified, an existing
OUT is refused without ``--overwrite``, and Ctrl-C leaves nothing behind. A coverage report (JSON) is written
beside OUT and summarised on stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from retinaface_ros.commands import UsageError
from retinaface_ros.model.config import BACKBONES
from retinaface_ros.privacy.anonymizer import METHODS, SHAPES, AnonymizeConfig


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "anonymize", help="cover faces in images, folders, videos and rosbag2 bags", description=__doc__
    )
    parser.add_argument("inputs", nargs="+", type=Path, help="image, folder, video, bag folder or .mcap/.db3")
    parser.add_argument("--out", required=True, type=Path, help="output (a folder when several inputs)")
    add_model_arguments(parser)
    add_ray_argument(parser)
    parser.add_argument("--method", default="blur", choices=METHODS, help="how faces are covered (blur)")
    parser.add_argument("--shape", default="ellipse", choices=SHAPES, help="covered shape (ellipse)")
    parser.add_argument("--scale", type=float, default=1.3, help="box enlargement about its centre (1.3)")
    parser.add_argument("--threshold", type=float, default=0.3, help="recall-biased score threshold (0.3)")
    parser.add_argument(
        "--max-age",
        type=float,
        default=1.0,
        metavar="S",
        help="a face missed by the detector stays covered this long, in stream time (1.0; 0 = off)",
    )
    parser.add_argument(
        "--tracking",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="carry missed faces at their predicted position with the face tracker (default); "
        "--no-tracking holds them where last seen",
    )
    parser.add_argument(
        "--topics", nargs="+", help="bag image topics to rewrite (default: every image topic)"
    )
    parser.add_argument(
        "--storage", choices=("mcap", "sqlite3"), help="output bag storage (default: input's)"
    )
    parser.add_argument(
        "--add-detections",
        action="store_true",
        help="bags: also write <image topic>/detections (Detection2DArray) and <image topic>/faces "
        "(FaceArray)",
    )
    parser.add_argument("--jpeg-quality", type=int, default=95, help="re-encoded JPEG quality (95)")
    parser.add_argument("--report", type=Path, help="coverage report JSON (default: OUT.coverage.json)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing OUT")
    parser.add_argument("--json", action="store_true", help="print the coverage report as JSON on stdout")
    parser.set_defaults(func=run)


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """--model, --backbone, --device, --nms-threshold, --scales, --batch (the recorded-data commands)."""
    parser.add_argument("--model", required=True, type=Path, help=".pth state dict or OpenDR model folder")
    parser.add_argument("--backbone", default="mnet", choices=BACKBONES)
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    parser.add_argument("--nms-threshold", type=float, default=None, help="NMS IoU (default: the model's)")
    parser.add_argument(
        "--scales",
        type=int,
        nargs=2,
        default=None,
        metavar=("SHORT", "MAX_LONG"),
        help="resize (default: model's)",
    )
    parser.add_argument("--batch", type=int, default=8, help="frames per detector call (8)")


def add_ray_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--ray",
        nargs="?",
        const="",
        default=None,
        metavar="ADDRESS",
        help="run one Ray task per input on the cluster at ADDRESS (a new local one without ADDRESS); "
        "pip install 'retinaface_ros[ray]'",
    )
    parser.add_argument(
        "--ray-part-frames",
        type=int,
        default=2000,
        metavar="N",
        help="with --ray: a bag with more images is split by time into parts of about N images, one task "
        "each, joined in order (2000; 0 = never split)",
    )


def load_learner(args: argparse.Namespace):  # noqa: ANN201 - RetinaFaceLearner
    from retinaface_ros.learner import RetinaFaceLearner

    learner = RetinaFaceLearner(backbone=args.backbone, device=args.device)
    learner.load(args.model, verbose=False)
    return learner


def output_for(source: Path, out: Path, several: bool) -> Path:
    return out / source.name if several else out


def run(args: argparse.Namespace) -> int:
    from retinaface_ros.recording.rewrite_jobs import RewriteOptions

    config = AnonymizeConfig(args.method, args.shape, args.scale, args.threshold)
    if not 1 <= args.jpeg_quality <= 100:
        raise UsageError("--jpeg-quality must be in [1, 100]")
    options = RewriteOptions(
        config=config,
        topics=args.topics,
        storage=args.storage,
        batch_size=args.batch,
        jpeg_quality=args.jpeg_quality,
        add_detections=args.add_detections,
    )
    return rewrite_inputs(args, options, load_learner(args), "coverage")


def check_inputs(args: argparse.Namespace) -> list[str]:
    """The inputs' kinds, after refusing bad combinations and an existing output (exit 2)."""
    from retinaface_ros.recording.input_kinds import input_kind
    from retinaface_ros.recording.output_target import check_output

    if args.batch < 1:
        raise UsageError("--batch must be >= 1")
    kinds = [input_kind(source) for source in args.inputs]
    several = len(args.inputs) > 1
    names = [source.name for source in args.inputs]
    if several and len(set(names)) != len(names):
        raise UsageError("several inputs share a name; give them separately (each writes OUT/<name>)")
    if (
        not several
        and kinds[0] in ("image", "video")
        and args.out.suffix.lower() != args.inputs[0].suffix.lower()
    ):
        raise UsageError(f"--out {args.out}: must keep the input's suffix {args.inputs[0].suffix}")
    try:
        check_output(args.out, args.overwrite, list(args.inputs))
    except FileExistsError as error:
        raise UsageError(str(error)) from None
    return kinds


def rewrite_inputs(args: argparse.Namespace, options, learner, report_name: str) -> int:  # noqa: ANN001
    """Rewrite every input into the staged OUT, then write the report ``OUT.<report_name>.json``."""
    from retinaface_ros.io.atomic_files import write_atomically
    from retinaface_ros.privacy.frame_anonymizer import FrameAnonymizer
    from retinaface_ros.recording.output_target import staged_output
    from retinaface_ros.recording.progress import frame_progress
    from retinaface_ros.recording.rewrite_jobs import rewrite_input

    kinds = check_inputs(args)
    several = len(args.inputs) > 1
    report_path = args.report or args.out.with_name(f"{args.out.name}.{report_name}.json")
    anonymizer = FrameAnonymizer(
        learner, options.config, args.max_age, args.tracking, args.nms_threshold, args.scales
    )
    details = {}
    try:
        # a bag is written by rosbags into a path that must not exist: staged as a "file"
        with (
            frame_progress(args.inputs, kinds) as progress,
            staged_output(args.out, args.overwrite, is_dir=several or kinds[0] == "folder") as staged,
        ):
            jobs = [
                (kind, source, output_for(source, staged, several))
                for source, kind in zip(args.inputs, kinds, strict=True)
            ]
            if args.ray is not None:
                _run_on_ray(args, jobs, options, anonymizer, details, progress)
            else:
                for kind, source, target in jobs:
                    details[str(source)] = rewrite_input(
                        kind, source, target, anonymizer, options, progress.update
                    )
    except KeyboardInterrupt:
        print("retinaface: interrupted: no output written", file=sys.stderr)
        return 130
    report = {"inputs": details, "output": str(args.out), **anonymizer.report.to_dict()}
    write_atomically(report_path, (json.dumps(report, indent=2) + "\n").encode())
    print(anonymizer.report.summary(), file=sys.stderr)
    print(f"wrote {args.out} and {report_path}", file=sys.stderr)
    if args.json:
        print(json.dumps(report, indent=2))
    return 0


def _run_on_ray(args, jobs, options, anonymizer, details, progress) -> None:  # noqa: ANN001
    """The jobs as Ray tasks; their details and coverage merged in input order."""
    from retinaface_ros.recording.ray_jobs import DetectorSpec, run_on_ray

    spec = DetectorSpec(
        str(args.model.resolve()),
        args.backbone,
        args.device,
        args.nms_threshold,
        None if args.scales is None else tuple(args.scales),
        args.max_age,
        args.tracking,
    )

    def done(source: str, result: dict, streams: dict) -> None:
        details[source] = result
        anonymizer.report.streams.update(streams)
        progress.update(sum(s.frames for s in streams.values()))

    run_on_ray(args.ray or None, jobs, spec, options, done, args.ray_part_frames)
