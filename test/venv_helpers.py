"""Fresh virtual environments for the install tests: the checkout copied out and pip-installed, isolated from
this workspace's venv and ROS set-up."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from ros_helpers import REPO_ROOT


def base_python() -> str:
    """A Python 3 outside this project's venv (the venv's base interpreter)."""
    candidate = Path(sys.base_prefix) / "bin" / f"python{sys.version_info.major}.{sys.version_info.minor}"
    return str(candidate) if candidate.is_file() else sys.executable


def clean_env() -> dict[str, str]:
    """The environment minus everything that would leak this workspace's ROS set-up into the child."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ROS_", "AMENT_", "COLCON_", "CMAKE_"))}
    for key in ("PYTHONPATH", "VIRTUAL_ENV", "LD_LIBRARY_PATH", "PYTHONHOME"):
        env.pop(key, None)
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def copy_checkout(dest: Path) -> Path:
    """Copy the files git would ship (tracked + untracked, not ignored), so pip builds outside the repo."""
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"],
        cwd=REPO_ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for raw in filter(None, listed):
        rel = raw.decode()
        src = REPO_ROOT / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    return dest


def install_checkout(folder: Path, requirement: str, env: dict[str, str], timeout: float) -> Path:
    """A fresh venv ``folder/venv`` with ``pip install requirement`` (".", ".[onnx]") run in a copy of the
    checkout (``folder/src``); returns the venv. A failed install fails the test with pip's output."""
    src = copy_checkout(folder / "src")
    venv = folder / "venv"
    subprocess.run([base_python(), "-m", "venv", str(venv)], env=env, check=True, timeout=120)
    install = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", requirement],
        cwd=src,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert install.returncode == 0, f"pip install {requirement} failed:\n{install.stdout}\n{install.stderr}"
    return venv
