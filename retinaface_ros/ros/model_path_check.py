"""Is a ``model_path`` value usable? Checked when the value is set (in every lifecycle state) and at load."""

from __future__ import annotations

import os
import stat
from pathlib import Path


def check_model_path(value: str) -> Path:
    """The expanded path when it names a regular file or a folder (an OpenDR model folder).

    Raises FileNotFoundError ("not found"), ValueError ("not a regular file": a device such as /dev/zero, a
    FIFO, a socket), or the OSError of a path the system refuses (e.g. a name too long)."""
    path = Path(value).expanduser()
    try:
        mode = os.stat(path).st_mode  # follows symlinks: a link to the trainer's output is fine
    except (FileNotFoundError, NotADirectoryError):
        raise FileNotFoundError(f"model_path {str(path)!r} not found (it does not exist)") from None
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        raise ValueError(
            f"model_path {str(path)!r} is not a regular file (nor a model folder): a device, FIFO or socket"
        )
    return path
