"""What `pip install .` leaves out, and the one line that says how to get it.

``require("onnx")`` fails early with a ``MissingDependency`` (a ModuleNotFoundError) when a module is not
installed; ``missing_dependency_line`` turns such an error (or a plain ModuleNotFoundError of a module named
here) into the line the ``retinaface`` command and the node entry points print instead of a traceback.
"""

from __future__ import annotations

import importlib.util

INSTALL_HINTS = {
    "torch": (
        "PyTorch: pip install torch --index-url https://download.pytorch.org/whl/cpu (CPU build; CUDA:"
        " the index of your CUDA version, see pytorch.org; Jetson: NVIDIA's wheel for your JetPack)"
    ),
    "onnx": "onnx (to export ONNX models): pip install onnx, or pip install .[export]",
    "onnxruntime": (
        "onnxruntime: pip install onnxruntime, or pip install .[onnx] (onnxruntime-gpu on CUDA / Jetson)"
    ),
    "openvino": "OpenVINO: pip install openvino, or pip install .[openvino]",
    "av": "PyAV (video files): pip install av",
    "rosbags": "rosbags (bags): pip install rosbags (or pip install .[recording])",
    "ray": "Ray (--ray): pip install ray (or pip install .[ray])",
    "motmetrics": "motmetrics (tracking benchmark): pip install motmetrics",
    "matplotlib": "matplotlib for --plot: pip install matplotlib (or pip install .[train])",
    "yaml": "PyYAML for --yaml: pip install pyyaml (or pip install .[train])",
    "rclpy": (
        "ROS 2 (rclpy): source a ROS 2 installation (source /opt/ros/$ROS_DISTRO/setup.bash) or tools/env.sh"
    ),
}
# ROS message packages: the node needs them built and sourced.
_ROS_MESSAGES = (
    "sensor_msgs",
    "std_msgs",
    "geometry_msgs",
    "diagnostic_msgs",
    "lifecycle_msgs",
    "rcl_interfaces",
    "visualization_msgs",
    "builtin_interfaces",
    "vision_msgs",
    "retinaface_interfaces",
)


class MissingDependency(ModuleNotFoundError):
    """An optional module is not installed; the message says how to install it."""


def hint_for(module: str) -> str | None:
    """How to install the top-level package of ``module``; None for a module this project does not know."""
    top = module.split(".")[0]
    if top in INSTALL_HINTS:
        return INSTALL_HINTS[top]
    if top in _ROS_MESSAGES:
        apt = f"ros-$ROS_DISTRO-{top.replace('_', '-')}"
        return f"the ROS 2 messages {top}: {apt}, or this repository's make setup && source tools/env.sh"
    return None


def require(*modules: str) -> None:
    """Raise MissingDependency for the first of ``modules`` that is not installed."""
    for module in modules:
        if importlib.util.find_spec(module) is None:
            raise MissingDependency(f"needs {hint_for(module) or module}", name=module)


def missing_dependency_line(error: ImportError, what: str) -> str | None:
    """The one line for ``error`` raised while ``what`` (e.g. ``retinaface: error: detect``) ran: what is
    missing and how to install it; None when the error is not a missing dependency (a bug: let it raise)."""
    if isinstance(error, MissingDependency):
        return f"{what} {error}"
    hint = hint_for(error.name or "") if isinstance(error, ModuleNotFoundError) else None
    if hint is not None:
        return f"{what} needs {hint}"
    if type(error) is ImportError and error.name is None:  # raised on purpose, with its own one-line message
        return f"{what}: {error}"
    return None
