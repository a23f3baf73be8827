"""``retinaface detect-bag BAG... --out OUT``: a copy of each bag with ``<image topic>/detections``
(vision_msgs/Detection2DArray) and ``<image topic>/faces`` (retinaface_interfaces/FaceArray) added after
every image, stamped like it (same header, same receive time); everything else is kept as ``anonymize``
keeps it, images included. The output registers both message definitions, so rviz, Foxglove and
``ros2 bag play`` read the new topics."""

from __future__ import annotations

import argparse
from pathlib import Path

from retinaface_ros.commands import UsageError
from retinaface_ros.commands.anonymize import (
    add_model_arguments,
    add_ray_argument,
    load_learner,
    rewrite_inputs,
)
from retinaface_ros.recording.input_kinds import is_bag


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "detect-bag", help="add face detections to rosbag2 bags", description=__doc__
    )
    parser.add_argument("inputs", nargs="+", type=Path, help="bag folder or .mcap/.db3 file")
    parser.add_argument("--out", required=True, type=Path, help="output bag (a folder when several inputs)")
    add_model_arguments(parser)
    add_ray_argument(parser)
    parser.add_argument(
        "--threshold", type=float, default=None, help="score threshold (default: the model's)"
    )
    parser.add_argument(
        "--topics", nargs="+", help="image topics (default: every Image/CompressedImage topic)"
    )
    parser.add_argument("--storage", choices=("mcap", "sqlite3"), help="output storage (default: input's)")
    parser.add_argument("--report", type=Path, help="detection report JSON (default: OUT.detections.json)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing OUT")
    parser.add_argument("--json", action="store_true", help="print the report as JSON on stdout")
    parser.set_defaults(func=run, max_age=0.0, tracking=False)


def run(args: argparse.Namespace) -> int:
    from retinaface_ros.privacy.anonymizer import AnonymizeConfig
    from retinaface_ros.recording.rewrite_jobs import RewriteOptions

    not_bags = [str(p) for p in args.inputs if p.exists() and not is_bag(p)]
    if not_bags:
        raise UsageError(f"not a rosbag2 (folder with metadata.yaml, or .mcap/.db3): {', '.join(not_bags)}")
    learner = load_learner(args)
    threshold = learner.inference_params.threshold if args.threshold is None else args.threshold
    options = RewriteOptions(
        config=AnonymizeConfig(threshold=threshold),
        topics=args.topics,
        storage=args.storage,
        batch_size=args.batch,
        cover=False,
        add_detections=True,
    )
    return rewrite_inputs(args, options, learner, "detections")
