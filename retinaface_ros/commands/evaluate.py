"""``retinaface evaluate``: the learner's ``eval`` on a WIDER FACE folder from the command line: recall, AP,
the official easy / medium / hard AP (with the .mat ground truth) and a precision–recall figure."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

from retinaface_ros.commands import UsageError
from retinaface_ros.model.config import BACKBONES


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "evaluate",
        help="evaluate a model on a WIDER FACE folder (recall, AP, easy/medium/hard AP, PR curves)",
        description="Run a model over a WIDER FACE split with the public RetinaFace test-time augmentation "
        "(image pyramid + flip; --single-pass for one pass at the original size) and score it: recall, AP "
        "at IoU 0.5 and, with --ground-truth (wider_face_val.mat, wider_{easy,medium,hard}_val.mat), the "
        "official easy / medium / hard AP. --plot draws the precision-recall curves.",
    )
    parser.add_argument("--model", required=True, help=".pth file or OpenDR model folder")
    parser.add_argument(
        "--backbone", choices=BACKBONES, default="mnet", help="network backbone (default mnet)"
    )
    parser.add_argument("--dataset", required=True, type=Path, help="WIDER FACE folder (WIDER_<split>/...)")
    parser.add_argument("--split", default="val", help="split to evaluate (default val)")
    parser.add_argument(
        "--ground-truth", type=Path, default=None, help="folder with the WIDER val .mat files"
    )
    parser.add_argument("--plot", type=Path, default=None, help="write the precision-recall curves (PNG)")
    parser.add_argument("--predictions-dir", type=Path, default=None, help="also write WIDER txt predictions")
    parser.add_argument(
        "--single-pass", action="store_true", help="no pyramid, no flip: one pass, original size"
    )
    parser.add_argument("--subset", type=int, default=None, help="evaluate N images drawn at random (seeded)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default cpu)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=handler)


def handler(args: argparse.Namespace) -> int:
    from retinaface_ros.datasets import WiderFaceDataset
    from retinaface_ros.learner import RetinaFaceLearner

    if args.subset is not None and args.subset < 1:
        raise UsageError(f"--subset must be ≥ 1, got {args.subset}")
    if args.plot is not None:
        import matplotlib  # noqa: F401 - missing: one line before the work, not a traceback after it

        from retinaface_ros.io.atomic_files import check_output_file

        if args.plot.suffix.lower() != ".png":
            raise UsageError(f"--plot writes a PNG: give a .png path, got {args.plot}")
        check_output_file(args.plot)  # a folder, device or FIFO: refused before evaluating
    if not args.dataset.is_dir():
        raise FileNotFoundError(f"--dataset not found: {args.dataset}")
    dataset = WiderFaceDataset(args.dataset, [args.split])
    learner = RetinaFaceLearner(backbone=args.backbone, device=args.device)
    learner.load(args.model, verbose=False)
    results = learner.eval(
        dataset,
        verbose=not args.quiet,
        use_subset=args.subset is not None,
        subset_size=args.subset or 1,
        pyramid=not args.single_pass,
        flip=not args.single_pass,
        predictions_dir=args.predictions_dir,
        ground_truth_dir=args.ground_truth,
        return_curves=args.plot is not None,
    )
    curves = results.pop("pr_curves", {})
    if args.plot is not None:
        from retinaface_ros.evaluation.pr_plot import plot_pr_curves

        aps = {
            "all": results["ap"],
            **{s: results.get(f"ap_{s}", math.nan) for s in ("easy", "medium", "hard")},
        }
        passes = "single pass" if args.single_pass else "pyramid + flip"
        title = f"{Path(args.model).name} on {args.dataset.name} {args.split} ({passes})"
        results["plot"] = str(plot_pr_curves(curves, aps, args.plot, title))
    _print(results, args.json)
    return 0


def _print(results: dict[str, Any], as_json: bool) -> None:
    if as_json:  # NaN (a WIDER setting without faces among the images) is null
        print(
            json.dumps({k: None if isinstance(v, float) and math.isnan(v) else v for k, v in results.items()})
        )
        return
    for key, value in results.items():
        if isinstance(value, float):
            value = "n/a" if math.isnan(value) else f"{value:.4f}"
        print(f"{key:<10} {value}")
