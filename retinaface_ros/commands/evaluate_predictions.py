"""``retinaface evaluate-predictions``: official WIDER FACE easy/medium/hard AP of saved predictions."""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

from retinaface_ros.evaluation.wider_protocol import (
    SETTINGS,
    evaluate_wider,
    load_ground_truth,
    load_predictions,
    match_images,
    wider_pr_curves,
)
from retinaface_ros.validation import check_number


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "evaluate-predictions",
        help="WIDER FACE easy/medium/hard AP of saved predictions",
        description="Official WIDER FACE evaluation (easy / medium / hard AP at IoU 0.5) of predictions "
        "saved as a WIDER txt folder (<event>/<image>.txt) or an .npz "
        "('event/image' -> N x 5 x, y, w, h, score).",
    )
    parser.add_argument("--predictions", required=True, help="txt folder or .npz file")
    parser.add_argument(
        "--ground-truth",
        required=True,
        help="folder with wider_face_val.mat and wider_{easy,medium,hard}_val.mat",
    )
    parser.add_argument("--iou-threshold", type=float, default=0.5, help="IoU for a match (default 0.5)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    parser.add_argument("--plot", default=None, help="also draw the easy/medium/hard PR curves (PNG)")
    parser.set_defaults(func=handler)


def handler(args: argparse.Namespace) -> int:
    if args.plot is not None:
        import matplotlib  # noqa: F401 - missing: one line before the work, not a traceback after it

        from retinaface_ros.io.atomic_files import check_output_file

        if not str(args.plot).lower().endswith(".png"):
            raise ValueError(f"--plot writes a PNG: give a .png path, got {args.plot}")
        check_output_file(args.plot)  # a folder, device or FIFO: refused before evaluating
    check_number("--iou-threshold", args.iou_threshold, 0.0, 1.0, low_inclusive=False)
    start = time.perf_counter()
    predictions = load_predictions(args.predictions)
    ground_truth = load_ground_truth(args.ground_truth)
    missing = match_images(predictions, ground_truth)[1]
    if missing and len(missing) < len(ground_truth):
        print(
            f"retinaface: note: {len(missing)} of {len(ground_truth)} ground-truth images have no "
            f"predictions and count as images without detections (e.g. {missing[0]})",
            file=sys.stderr,
        )
    aps = evaluate_wider(predictions, ground_truth, iou_threshold=args.iou_threshold)
    if args.plot is not None:
        from retinaface_ros.evaluation.pr_plot import plot_pr_curves

        curves = wider_pr_curves(predictions, ground_truth, iou_threshold=args.iou_threshold)
        drawn = {setting: curve for setting, curve in curves.items() if curve is not None}
        plot_pr_curves(drawn, aps, args.plot, title=f"{Path(args.predictions).name}: WIDER FACE val")
    seconds = time.perf_counter() - start
    if args.json:  # a setting without faces (NaN) is null
        values = {s: None if math.isnan(ap) else ap for s, ap in aps.items()}
        print(json.dumps({**values, "seconds": round(seconds, 3)}))
    else:
        print("setting   AP")
        for setting in SETTINGS:
            print(f"{setting:<8} {aps[setting]:.4f}" if not math.isnan(aps[setting]) else f"{setting:<8} n/a")
        print(f"({len(predictions)} images, {seconds:.2f} s)")
    return 0
