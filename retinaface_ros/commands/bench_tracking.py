"""``retinaface bench-tracking``: the tracking benchmark (:mod:`retinaface_ros.benchmark.tracking`), JSON."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "bench-tracking",
        help="benchmark face tracking on synthetic sequences (IDF1, ID switches, jitter, lag, cost; JSON)",
        description="Synthetic VGA sequences with known ground truth built from the shared photos (pans, "
        "zoom, shake, occlusion, faces entering and leaving), the real detector and the tracker, scored "
        "with motmetrics; jitter, lag, tracker cost and detection every third frame at 30 Hz.",
    )
    parser.add_argument("--weights", type=Path, default=None, help="mnet .pth (default: shared pretrained)")
    parser.add_argument("--frames", type=int, default=45, help="frames per sequence (default 45: 1.5 s)")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON to this file")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from retinaface_ros.benchmark.tracking import write_results

    write_results(args.weights, args.frames, args.threads, args.out)
    return 0
