"""A missing optional dependency ends in one line that names it and how to install it (exit code 2), never
in a traceback: ``retinaface export`` without onnx, ``retinaface bench`` without onnxruntime, ``retinaface
detect`` without torch, and the node scripts without rclpy or their message packages. The modules are made
really unimportable in a child process (a finder that refuses them), as on a machine without them."""

from __future__ import annotations

import subprocess

import pytest
from ros_helpers import PYTHON, REPO_ROOT, python_subprocess_env

from retinaface_ros.optional_dependencies import MissingDependency, missing_dependency_line, require

WITHOUT = """
import runpy, sys
blocked = set(sys.argv[1].split(","))

class Refuse:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in blocked:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)

sys.meta_path.insert(0, Refuse())
if sys.argv[2] == "--entry-point":
    from retinaface_ros.ros import entry_points
    sys.exit(getattr(entry_points, sys.argv[3])())
sys.argv = ["retinaface", *sys.argv[2:]]
sys.exit(runpy.run_module("retinaface_ros", run_name="__main__"))
"""


def run_without(modules: str, *argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [PYTHON, "-c", WITHOUT, modules, *argv],
        cwd=REPO_ROOT,
        env=python_subprocess_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )


def assert_one_line(result: subprocess.CompletedProcess, *expected: str) -> None:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    for text in expected:
        assert text in lines[0], lines[0]


def test_export_without_onnx(mnet_weights, tmp_path):
    out = tmp_path / "mnet_onnx"
    result = run_without("onnx", "export", "--model", str(mnet_weights), "--out", str(out))
    assert_one_line(result, "retinaface: error: export needs onnx", "pip install onnx", ".[export]")
    assert not out.exists()


def test_bench_without_onnxruntime():
    result = run_without("onnxruntime", "bench", "--runtimes", "onnxruntime", "--runs", "1", "--warmup", "1")
    assert_one_line(result, "retinaface: error: bench", "needs onnxruntime", "pip install")


def test_detect_without_torch(mnet_weights, bald_guys_path):
    result = run_without("torch", "detect", str(bald_guys_path), "--model", str(mnet_weights))
    assert_one_line(
        result, "retinaface: error: detect needs PyTorch", "download.pytorch.org/whl/cpu", "Jetson"
    )


@pytest.mark.parametrize("script", ["detector_node", "trainer_node", "image_publisher"])
def test_node_scripts_without_ros(script):
    result = run_without("rclpy", "--entry-point", script)
    assert_one_line(result, f"{script}: error: needs ROS 2 (rclpy)", "setup.bash")


def test_detector_node_without_its_messages():
    result = run_without("diagnostic_msgs", "--entry-point", "detector_node")
    assert_one_line(result, "detector_node: error: needs the ROS 2 messages diagnostic_msgs")


def test_require_names_the_first_missing_module():
    require("json", "os")  # present: nothing happens
    with pytest.raises(MissingDependency) as raised:
        require("json", "no_such_module_xyz", "another_missing_xyz")
    assert raised.value.name == "no_such_module_xyz"


def test_other_import_errors_still_raise():
    # A module this project does not know, or an ImportError of a broken install, is a bug: no hint line.
    assert missing_dependency_line(ModuleNotFoundError("x", name="no_such_module_xyz"), "cmd") is None
    assert missing_dependency_line(ImportError("cannot import name 'y'", name="numpy"), "cmd") is None
    assert missing_dependency_line(ModuleNotFoundError("x", name="torch.nn"), "cmd").startswith(
        "cmd needs PyTorch"
    )
