"""The ``retinaface`` command run as users run it: a child process, output captured."""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from pathlib import Path

from ros_helpers import PYTHON, REPO_ROOT


def run_retinaface(
    *args: str, timeout: float = 300, env: Mapping[str, str] | None = None, cwd: Path = REPO_ROOT
) -> subprocess.CompletedProcess:
    """``python -m retinaface_ros ARGS`` in a child process (this environment unless ``env``), stdout and
    stderr captured as text."""
    return subprocess.run(
        [PYTHON, "-m", "retinaface_ros", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
