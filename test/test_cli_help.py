"""The ``retinaface`` command's help works everywhere, torch or not: every sub-command is listed and explains
itself, and building the parser imports neither torch nor rclpy (the torch-free deployment and the Jazzy lane
rely on it)."""

from __future__ import annotations

import json
import re
import subprocess

import pytest
from cli_helpers import run_retinaface
from ros_helpers import PYTHON, REPO_ROOT

from retinaface_ros.cli import build_parser

EXPECTED = {"detect", "evaluate-predictions", "export", "bench", "bench-node"}  # at least these


def sub_commands() -> list[str]:
    """The sub-commands this build registers, from the usage line (``{detect,export,...}``)."""
    return sorted(re.search(r"\{([\w,-]+)\}", build_parser().format_usage()).group(1).split(","))


SUB_COMMANDS = sub_commands()


def test_top_level_help_lists_every_sub_command():
    assert set(SUB_COMMANDS) >= EXPECTED
    result = run_retinaface("--help", timeout=120)
    assert result.returncode == 0, result.stderr
    for name in SUB_COMMANDS:
        assert name in result.stdout


@pytest.mark.parametrize("name", SUB_COMMANDS)
def test_sub_command_help(name):
    result = run_retinaface(name, "--help", timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: retinaface {name}")
    assert "Traceback" not in result.stderr


def test_parser_builds_without_importing_torch_or_rclpy():
    code = (
        "import json, sys\n"
        "from retinaface_ros.cli import build_parser\n"
        "build_parser()\n"
        "print(json.dumps(sorted(m for m in ('torch', 'rclpy', 'onnxruntime') if m in sys.modules)))\n"
    )
    result = subprocess.run([PYTHON, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []


def test_unknown_sub_command_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["no-such-command"])
    assert exit_info.value.code == 2
    assert "invalid choice" in capsys.readouterr().err
