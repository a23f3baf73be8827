"""The console scripts of the ROS layer (``detector_node``, ``trainer_node``, ``image_publisher``).

Each imports its node module only when run, so that a missing ROS 2 set-up (rclpy, a message package) or a
missing runtime (torch, onnxruntime) ends in one line that says what to install, with exit code 2, instead
of a traceback from the module's imports.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable

from retinaface_ros.optional_dependencies import missing_dependency_line, require


def _run(script: str, module: str) -> Callable[[], int]:
    def main() -> int:
        try:
            require("rclpy")  # first: without ROS 2 sourced, every message package is missing too
            node_main = importlib.import_module(module).main
        except ImportError as error:
            line = missing_dependency_line(error, f"{script}: error:")
            if line is None:
                raise
            print(line, file=sys.stderr)
            return 2
        return node_main()

    main.__doc__ = f"Run ``{script}`` ({module}.main)."
    return main


detector_node = _run("detector_node", "retinaface_ros.ros.detector_node")
trainer_node = _run("trainer_node", "retinaface_ros.ros.trainer_node")
image_publisher = _run("image_publisher", "retinaface_ros.ros.image_publisher")
