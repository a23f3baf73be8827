"""``retinaface export``: a model (``.pth`` or OpenDR folder) → an optimized (ONNX) OpenDR folder."""

from __future__ import annotations

import argparse

from retinaface_ros.model.config import BACKBONES


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "export",
        help="export a model to an ONNX OpenDR folder",
        description="Load a RetinaFace model (public .pth state dict or OpenDR folder), export it to ONNX "
        "(dynamic batch / height / width, checked with onnxruntime) and save it as an OpenDR folder "
        "<out>/<out name>.json + .onnx.",
    )
    parser.add_argument("--model", required=True, help=".pth file or OpenDR model folder")
    parser.add_argument(
        "--backbone", choices=BACKBONES, default="mnet", help="network backbone (default mnet)"
    )
    parser.add_argument("--out", required=True, help="output folder; its name becomes the model name")
    parser.add_argument("--constant-folding", action="store_true", help="fold constants during export")
    parser.add_argument(
        "--device", default="cpu", help="cpu, cuda or cuda:N (picks the onnxruntime provider)"
    )
    parser.add_argument(
        "--runtime",
        choices=("onnxruntime", "openvino"),
        default="onnxruntime",
        help="the runtime that loads the exported graph as a check (default onnxruntime)",
    )
    parser.set_defaults(func=handler)


def handler(args: argparse.Namespace) -> int:
    from retinaface_ros.io.atomic_files import check_output_folder
    from retinaface_ros.learner import RetinaFaceLearner

    check_output_folder(args.out)  # a file, device or FIFO named as the folder: refused before exporting

    learner = RetinaFaceLearner(backbone=args.backbone, device=args.device)
    learner.load(args.model, verbose=False)
    learner.runtime = args.runtime
    learner.optimize(do_constant_folding=args.constant_folding)
    folder = learner.save(args.out, verbose=False)
    backend = learner.onnx_backend
    where = f"providers: {', '.join(backend.providers)}" if args.runtime == "onnxruntime" else backend.device
    print(f"exported {args.backbone} RetinaFace to {folder} (checked with {args.runtime}, {where})")
    return 0
