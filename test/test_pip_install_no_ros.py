"""`pip install .` works on a machine without ROS: fresh venv, no rclpy, no torch pulled in."""

from __future__ import annotations

import json
import subprocess
import textwrap

import pytest
from ros_helpers import REPO_ROOT
from venv_helpers import clean_env, install_checkout

from retinaface_ros.optional_dependencies import INSTALL_HINTS


@pytest.mark.slow
def test_pip_install_without_ros(tmp_path):
    env = clean_env()
    venv = install_checkout(tmp_path, ".", env, timeout=600)
    py = venv / "bin" / "python"

    probe = textwrap.dedent(
        """
        import importlib.util, json
        import retinaface_ros
        print(json.dumps({
            "file": retinaface_ros.__file__,
            "version": retinaface_ros.__version__,
            "missing": [m for m in ("rclpy", "torch", "vision_msgs", "retinaface_interfaces")
                        if importlib.util.find_spec(m) is None],
            "present": [m for m in ("numpy", "cv2", "scipy", "tqdm") if importlib.util.find_spec(m)],
        }))
        """
    )
    # -I: ignore PYTHONPATH and the current folder, so only the venv's installed copy can be imported.
    out = subprocess.run(
        [str(py), "-I", "-c", probe], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    info = json.loads(out.stdout)
    assert info["file"].startswith(str(venv)), info
    assert info["version"] == "0.1.0"
    assert info["missing"] == ["rclpy", "torch", "vision_msgs", "retinaface_interfaces"]
    assert info["present"] == ["numpy", "cv2", "scipy", "tqdm"]

    # Console scripts from the wheel land in the venv's bin/ (setup.cfg's lib/ paths are for colcon only),
    # and the ROS data files under the prefix's share/.
    for script in ("retinaface", "detector_node", "trainer_node", "image_publisher"):
        assert (venv / "bin" / script).is_file(), script
    assert (venv / "share" / "retinaface_ros" / "package.xml").is_file()

    # Without torch the command still explains itself, and a command that needs torch says so in one line.
    retinaface = str(venv / "bin" / "retinaface")
    usage = subprocess.run([retinaface, "--help"], env=env, capture_output=True, text=True, timeout=120)
    assert usage.returncode == 0 and "detect" in usage.stdout, usage.stderr
    image, model = REPO_ROOT / "docs" / "selfie_annotated.jpg", REPO_ROOT / "package.xml"
    detect = subprocess.run(
        [retinaface, "detect", str(image), "--model", str(model)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert detect.returncode == 2 and detect.stderr.strip() == (
        f"retinaface: error: detect needs {INSTALL_HINTS['torch']}"
    ), detect.stderr
    assert (venv / "share" / "ament_index" / "resource_index" / "packages" / "retinaface_ros").is_file()
