"""``retinaface detect``: run the detector on image files, print or write detections and annotated images."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from retinaface_ros.commands import UsageError
from retinaface_ros.model.config import BACKBONES


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("detect", help="detect faces in image files")
    parser.add_argument("images", nargs="+", type=Path, help="image files")
    parser.add_argument("--model", required=True, type=Path, help=".pth state dict or OpenDR model folder")
    parser.add_argument("--backbone", default="mnet", choices=BACKBONES)
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    settings = "default: the model folder's saved setting, else"
    parser.add_argument("--threshold", type=float, default=None, help=f"score threshold ({settings} 0.8)")
    parser.add_argument("--nms-threshold", type=float, default=None, help=f"NMS IoU ({settings} 0.4)")
    parser.add_argument(
        "--scales",
        type=int,
        nargs=2,
        default=None,
        metavar=("SHORT", "MAX_LONG"),
        help=f"resize target short side and max long side ({settings} 1024 1980)",
    )
    parser.add_argument("--out", type=Path, help="annotated image (a folder when several images are given)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    parser.set_defaults(func=run)


def output_path(out: Path, image: Path, several: bool) -> Path:
    if several or out.is_dir():
        return out / f"{image.stem}_faces.jpg"
    return out


def run(args: argparse.Namespace) -> int:
    import cv2

    from retinaface_ros.drawing import draw_bounding_boxes
    from retinaface_ros.io.atomic_files import write_atomically
    from retinaface_ros.learner import RetinaFaceLearner
    from retinaface_ros.types import Image

    missing = [str(p) for p in args.images if not p.is_file()]
    if missing:
        raise UsageError(f"image file(s) not found: {', '.join(missing)}")
    several = len(args.images) > 1
    if args.out is not None:
        suffix = output_path(args.out, args.images[0], several).suffix or ".jpg"  # no suffix: JPEG
        if not cv2.haveImageWriter(f"x{suffix}"):
            raise UsageError(f"--out {args.out}: OpenCV cannot write {suffix!r} images (use .jpg or .png)")
    learner = RetinaFaceLearner(backbone=args.backbone, device=args.device)
    learner.load(args.model, verbose=False)
    if args.out is not None and several:
        args.out.mkdir(parents=True, exist_ok=True)
    report = []
    for image_path in args.images:
        image = Image.open(image_path)
        boxes = learner.infer(
            image,
            threshold=args.threshold,
            nms_threshold=args.nms_threshold,
            scales=None if args.scales is None else list(args.scales),
        )
        report.append({"image": str(image_path), "detections": [box.to_dict() for box in boxes]})
        if args.out is not None:
            annotated = draw_bounding_boxes(image, boxes)
            target = output_path(args.out, image_path, several)
            ok, encoded = cv2.imencode(target.suffix or ".jpg", annotated)
            if not ok:
                raise UsageError(f"cannot encode annotated image as {target.suffix!r}")
            write_atomically(target, encoded.tobytes())
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for entry in report:
            print(f"{entry['image']}: {len(entry['detections'])} face(s)")
            for det in entry["detections"]:
                x, y, w, h = det["box_xywh"]
                print(f"  {det['score']:.3f}  x={x:.1f} y={y:.1f} w={w:.1f} h={h:.1f}")
    return 0
