"""``retinaface detect``: run the detector on image files, print or write detections and annotated images."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from retinaface_ros.commands import UsageError
from retinaface_ros.commands.runtime_options import (
    add_detection_arguments,
    add_runtime_arguments,
    runtime_kwargs,
)
from retinaface_ros.model.config import BACKBONES

LABELS = ("score", "id", "none")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "detect",
        help="detect faces in image files",
        description="Detect faces in image files (a folder stands for the images in it). With --out, "
        "annotated images are written: to that file for one image, else into that folder as "
        "<name>_faces.jpg (created when missing; a file name with several images is refused).",
    )
    parser.add_argument("images", nargs="+", type=Path, help="image files or folders of images")
    parser.add_argument("--recursive", action="store_true", help="folders: include the images in subfolders")
    parser.add_argument("--model", required=True, type=Path, help=".pth state dict or OpenDR model folder")
    parser.add_argument("--backbone", default="mnet", choices=BACKBONES)
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    add_runtime_arguments(parser)
    add_detection_arguments(parser)
    parser.add_argument(
        "--out",
        type=Path,
        help="annotated image file (one image), or folder (several images, or an existing folder)",
    )
    parser.add_argument(
        "--labels",
        choices=LABELS,
        default="score",
        help="text on each box in --out images: the score, the face's number in the printed list, or none "
        "(default score; the text size follows the box)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    parser.set_defaults(func=run)


def image_paths(arguments: list[Path], recursive: bool, exclude: Path | None) -> list[Path]:
    """The image files named on the command line, each folder expanded to the images in it."""
    from retinaface_ros.io.image_files import display_path, image_files_in

    missing = [display_path(p) for p in arguments if not p.exists()]
    if missing:
        raise UsageError(f"image file(s) not found: {', '.join(missing)}")
    paths: list[Path] = []
    for argument in arguments:
        if not argument.is_dir():
            paths.append(argument)
            continue
        found = image_files_in(argument, recursive=recursive, exclude=exclude)
        if not found:
            more = "" if recursive else " (--recursive to include subfolders)"
            raise UsageError(f"no image files in folder {display_path(argument)}{more}")
        paths.extend(found)
    return paths


def output_targets(out: Path, images: list[Path], arguments: list[Path]) -> tuple[list[Path], bool]:
    """(annotated image path per image, whether ``out`` is a folder); refuses ambiguous or clashing names.

    ``out`` is a folder when it is one already, or when several images are given (then it must not look
    like an image file name). Images found in a folder argument keep their path below it.
    """
    from retinaface_ros.io.atomic_files import check_output_folder
    from retinaface_ros.io.image_files import IMAGE_SUFFIXES, display_path

    several = len(images) > 1 or any(argument.is_dir() for argument in arguments)
    if not (out.is_dir() or several):
        return [out], False
    if not out.is_dir() and out.suffix.lower() in (*IMAGE_SUFFIXES, ".jpe"):
        raise UsageError(
            f"--out {display_path(out)} names an image file but {len(images)} images were given: "
            "pass a folder (e.g. --out annotated/)"
        )
    check_output_folder(out)
    targets = []
    for image in images:
        folder = next((a for a in arguments if a.is_dir() and image.is_relative_to(a)), None)
        below = image.relative_to(folder).parent if folder is not None else Path()
        targets.append(out / below / f"{image.stem}_faces.jpg")
    clashes = {t for t in targets if targets.count(t) > 1}
    if clashes:
        raise UsageError(
            f"several images would be written to the same --out file {display_path(sorted(clashes)[0])} "
            "(images with the same name): run them separately"
        )
    return targets, True


def run(args: argparse.Namespace) -> int:
    from retinaface_ros.drawing import draw_bounding_boxes
    from retinaface_ros.io.atomic_files import check_output_file
    from retinaface_ros.io.image_files import check_image_format, display_path, read_image, write_image
    from retinaface_ros.learner import RetinaFaceLearner
    from retinaface_ros.validation import check_scales, scales_note

    if args.scales is not None:
        scales = check_scales(args.scales)
        if scales_note(scales) is not None:
            raise UsageError(f"--scales {scales[0]} {scales[1]}: {scales_note(scales)}")
    exclude = args.out if args.out is not None and args.out.is_dir() else None
    images = image_paths(args.images, args.recursive, exclude)
    targets: list[Path] = []
    is_folder = False
    if args.out is not None:
        targets, is_folder = output_targets(args.out, images, args.images)
        for target in targets:  # refused before the model loads: a device, FIFO, folder, unknown format
            check_output_file(target)
            check_image_format(target)
    learner = RetinaFaceLearner(backbone=args.backbone, device=args.device, **runtime_kwargs(args))
    learner.load(args.model, verbose=False)
    if args.out is not None and is_folder and not args.out.is_dir():
        args.out.mkdir(parents=True)
        print(f"retinaface: created folder {display_path(args.out)}", file=sys.stderr)
    report = []
    for index, image_path in enumerate(images):
        image = read_image(image_path)
        boxes = learner.infer(
            image,
            threshold=args.threshold,
            nms_threshold=args.nms_threshold,
            scales=None if args.scales is None else list(args.scales),
        )
        entry = {"image": os.fsdecode(image_path), "detections": [box.to_dict() for box in boxes]}
        if targets:
            annotated = draw_bounding_boxes(image, boxes, labels=args.labels)
            entry["annotated"] = os.fsdecode(write_image(targets[index], annotated))
        report.append(entry)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for entry in report:
            wrote = f" -> {display_path(entry['annotated'])}" if "annotated" in entry else ""
            print(f"{display_path(entry['image'])}: {len(entry['detections'])} face(s){wrote}")
            for number, det in enumerate(entry["detections"], start=1):
                x, y, w, h = det["box_xywh"]
                print(f"  #{number:<3} {det['score']:.3f}  x={x:.1f} y={y:.1f} w={w:.1f} h={h:.1f}")
    if targets:
        where = display_path(args.out) if len(targets) > 1 else display_path(targets[0])
        print(f"retinaface: wrote {len(targets)} annotated image(s) to {where}", file=sys.stderr)
    return 0
