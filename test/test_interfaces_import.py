"""retinaface_ros.ros.interfaces returns the message types, or fails with the command that fixes it."""

from __future__ import annotations

import os
import subprocess

import pytest
from ros_helpers import PYTHON, REPO_ROOT, require_rclpy


def _import_without_workspace(function: str) -> subprocess.CompletedProcess:
    """Call ``retinaface_ros.ros.interfaces.<function>()`` with this repo importable but no colcon workspace
    (install/) on the Python path; it prints the RuntimeError's message, or IMPORTED."""
    code = (
        f"from retinaface_ros.ros.interfaces import {function}\n"
        "try:\n"
        f"    {function}()\n"
        "except RuntimeError as e:\n"
        "    print(e)\n"
        "else:\n"
        "    print('IMPORTED')\n"
    )
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO_ROOT)
    return subprocess.run(
        [PYTHON, "-c", code], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=60
    )


@pytest.mark.ros
def test_import_interfaces_in_built_environment():
    require_rclpy()
    from retinaface_ros.ros.interfaces import import_interfaces, import_vision_msgs

    face_array, face_landmarks, train = import_interfaces()
    assert (face_array.__name__, face_landmarks.__name__, train.__name__) == (
        "FaceArray",
        "FaceLandmarks",
        "Train",
    )
    assert face_landmarks().landmarks.__len__() == 5
    assert {"Goal", "Result", "Feedback"} <= set(dir(train))
    vm = import_vision_msgs()
    assert vm.Detection2DArray.__name__ == "Detection2DArray"
    assert vm.ObjectHypothesis().class_id == ""


def test_missing_interfaces_message():
    result = _import_without_workspace("import_interfaces")
    assert result.returncode == 0, result.stderr
    if "IMPORTED" in result.stdout:
        pytest.skip("retinaface_interfaces is importable without the workspace (installed system-wide)")
    message = result.stdout
    assert message.startswith("retinaface_interfaces is not built: run `colcon build --base-paths ")
    assert f"{REPO_ROOT} {REPO_ROOT}/retinaface_interfaces`" in message
    assert "(or `make setup`) and source install/setup.bash" in message


def test_missing_vision_msgs_message():
    result = _import_without_workspace("import_vision_msgs")
    assert result.returncode == 0, result.stderr
    if "IMPORTED" in result.stdout:
        pytest.skip("vision_msgs is installed in this environment (e.g. a ROS 2 distribution)")
    assert result.stdout.startswith("vision_msgs is not available: install ros-$ROS_DISTRO-vision-msgs")
    assert f"colcon build --base-paths {REPO_ROOT}/tools/vision_msgs" in result.stdout
