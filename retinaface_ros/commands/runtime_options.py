"""Options of the commands that run a model: ``--runtime`` and ``--providers``, and the detection settings
``--threshold``, ``--nms-threshold`` and ``--scales`` (no torch at import)."""

from __future__ import annotations

import argparse
from typing import Any

from retinaface_ros.backends.registry import CHOICES


def add_runtime_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--runtime",
        choices=CHOICES,
        default="auto",
        help="auto (torch for .pth, onnxruntime for ONNX folders), torch, onnxruntime or openvino "
        "(.pth models are exported to ONNX for the last two)",
    )
    parser.add_argument(
        "--providers",
        type=lambda text: [p.strip() for p in text.split(",") if p.strip()],
        default=[],
        metavar="LIST",
        help="onnxruntime execution providers in order of preference, e.g. TensorRT,CUDA,CPU "
        "(default: TensorRT/CUDA when installed and --device is CUDA, then CPU)",
    )


def runtime_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """The learner's ``runtime`` and ``providers`` from the parsed options."""
    return {"runtime": args.runtime, "providers": tuple(args.providers)}


def add_detection_arguments(parser: argparse.ArgumentParser) -> None:
    """``--threshold``, ``--nms-threshold``, ``--scales``; None when not given (the model's own settings)."""
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
