"""The ``retinaface`` command: one sub-command per job, each registered by its own module."""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from retinaface_ros.commands import UsageError

# (sub-command module, function that adds its parser). Each module owns its arguments and handler:
# ``register(subparsers)`` adds a parser whose ``func(args) -> int`` runs it.
_COMMAND_MODULES = (
    "retinaface_ros.commands.detect",
    "retinaface_ros.commands.evaluate",
    "retinaface_ros.commands.evaluate_predictions",
    "retinaface_ros.commands.export",
    "retinaface_ros.commands.bench",
    "retinaface_ros.commands.bench_node",
    "retinaface_ros.commands.track",
    "retinaface_ros.commands.bench_tracking",
    "retinaface_ros.commands.bench_hri",
    "retinaface_ros.commands.anonymize",
    "retinaface_ros.commands.detect_bag",
    "retinaface_ros.commands.export_dataset",
    "retinaface_ros.commands.train",
    "retinaface_ros.commands.train_goal",
    "retinaface_ros.commands.echo",
    "retinaface_ros.commands.view",
)


# Dependencies that `pip install .` leaves to the user, and how to get them.
_OPTIONAL = {
    "torch": "PyTorch: pip install torch (or pip install .[torch]); Jetson: NVIDIA's wheel",
    "onnxruntime": "onnxruntime: pip install onnxruntime (or pip install .[onnx]; onnxruntime-gpu on CUDA)",
    "openvino": "OpenVINO: pip install openvino (or pip install .[openvino])",
    "rclpy": "ROS 2 (rclpy): source a ROS 2 installation, or this project's tools/env.sh",
    "rosbags": "rosbags (bags): pip install rosbags (or pip install .[recording])",
    "ray": "Ray (--ray): pip install ray (or pip install .[ray])",
    "av": "PyAV (video files): pip install av",
    "motmetrics": "motmetrics (tracking benchmark): pip install motmetrics",
    "matplotlib": "matplotlib for --plot: pip install matplotlib (or pip install .[train])",
    "yaml": "PyYAML for --yaml: pip install pyyaml (or pip install .[train])",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="retinaface", description="RetinaFace face detection tools.")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for module_name in _COMMAND_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            if error.name == module_name:  # sub-command not part of this build
                continue
            raise
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (UsageError, ValueError, TypeError, FileNotFoundError) as error:  # UsageError is a ValueError
        print(f"retinaface: error: {error}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as error:
        if error.name not in _OPTIONAL:
            raise
        print(f"retinaface: error: {args.command} needs {_OPTIONAL[error.name]}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # Ctrl-C outside a command's own handling: no traceback
        print(f"retinaface: {args.command} interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `retinaface detect ... | head`: the reader left; no traceback, no error line
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except OSError as error:  # unwritable --out, full disk, ...: one line, not a traceback
        print(f"retinaface: error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
