"""Import the message packages the nodes need, failing with an actionable message when they are missing.

``vision_msgs`` comes from the ROS distribution (``ros-$ROS_DISTRO-vision-msgs``) or, where the distribution
lacks it (the PyPI ROS 2 wheels), from the copy bundled in ``tools/vision_msgs``. ``retinaface_interfaces`` is
nested in this repository; colcon does not descend into the root package, so it must be named explicitly.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType
from typing import Any


def _repo_hint() -> str:
    """The source checkout's path when this module runs from it (symlink install), else ``<repo>``."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "retinaface_interfaces" / "package.xml").is_file() and (
            parent / "package.xml"
        ).is_file():
            return str(parent)
    return "<repo>"


def _check_type_support(*msg_types: Any) -> None:
    # The Python classes import fine even when the C type support libraries cannot be loaded (e.g. the
    # workspace was not sourced); force the load now so the failure names the package, not a publisher.
    for msg_type in msg_types:
        importer = getattr(msg_type, "__import_type_support__", None)
        if importer is not None:
            importer()
        for part in ("Goal", "Result", "Feedback"):
            sub = getattr(msg_type, part, None)
            if sub is not None and hasattr(sub, "__import_type_support__"):
                sub.__import_type_support__()


def interfaces_missing_message(error: BaseException | None = None) -> str:
    repo = _repo_hint()
    text = (
        "retinaface_interfaces is not built: run "
        f"`colcon build --base-paths {repo} {repo}/retinaface_interfaces` (or `make setup`) "
        "and source install/setup.bash"
    )
    return f"{text} ({error})" if error else text


def vision_msgs_missing_message(error: BaseException | None = None) -> str:
    repo = _repo_hint()
    text = (
        "vision_msgs is not available: install ros-$ROS_DISTRO-vision-msgs, or build the copy bundled with "
        f"retinaface_ros: `colcon build --base-paths {repo}/tools/vision_msgs` (or `make setup`) "
        "and source install/setup.bash"
    )
    return f"{text} ({error})" if error else text


def import_interfaces() -> tuple[type, type, type]:
    """Return ``(FaceArray, FaceLandmarks, Train)`` from retinaface_interfaces, or raise RuntimeError."""
    try:
        msg = importlib.import_module("retinaface_interfaces.msg")
        action = importlib.import_module("retinaface_interfaces.action")
        face_array, face_landmarks, train = msg.FaceArray, msg.FaceLandmarks, action.Train
        _check_type_support(face_array, face_landmarks, train)
    except Exception as error:  # ImportError, or rosidl's own errors when type support fails to load
        raise RuntimeError(interfaces_missing_message(error)) from error
    return face_array, face_landmarks, train


def import_vision_msgs() -> ModuleType:
    """Return the ``vision_msgs.msg`` module (Detection2DArray, ObjectHypothesisWithPose, ...)."""
    try:
        module = importlib.import_module("vision_msgs.msg")
        _check_type_support(module.Detection2DArray, module.Detection2D, module.ObjectHypothesisWithPose)
    except Exception as error:
        raise RuntimeError(vision_msgs_missing_message(error)) from error
    return module
