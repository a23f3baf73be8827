"""Atomic file writing: a crash never leaves a half-written file in place.

Everything the package writes (model folders, checkpoints, downloads, predictions, annotated images) goes
through :func:`atomic_output`: a temp file beside the target, fsynced, then renamed over it.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

TEMP_MARKER = ".tmp-"  # temp files are named ".<target name>.tmp-<random>"


@contextlib.contextmanager
def atomic_output(path: str | Path) -> Iterator[BinaryIO]:
    """A binary file to write ``path`` through; ``handle.name`` is the temp path (to check before the rename).

    On success the file is fsynced and renamed over ``path`` (and the folder fsynced); on any error the
    temp file is removed and ``path`` is untouched. An existing ``path`` that is not a regular file (a
    folder, device, FIFO or socket) is refused before writing and again just before the rename.
    """
    path = Path(path)
    check_output_file(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}{TEMP_MARKER}")
    os.close(fd)
    try:
        os.chmod(temp, 0o666 & ~current_umask())  # mkstemp makes 0600 files; give the usual permissions
        with open(temp, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        check_output_file(path)  # the rename must never land on a device or FIFO created meanwhile
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


_SPECIAL_KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISSOCK, "a socket"),
)


class OutputPathError(ValueError):
    """An output path that must not be written (it names a folder, device, FIFO or socket)."""


def display_path(path: str | bytes | os.PathLike) -> str:
    """``path`` as printable text: bytes that are not UTF-8 shown as ``\\xff`` escapes."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def check_output_file(path: str | bytes | os.PathLike) -> None:
    """Refuse an output file path that exists and is not a regular file (after following links): writing
    it would replace a folder, device, FIFO or socket. A missing path or a regular file is fine."""
    try:
        mode = os.stat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return
    for is_kind, kind in _SPECIAL_KINDS:
        if is_kind(mode):
            raise OutputPathError(
                f"output {display_path(path)} exists and is {kind}, not a regular file: not replacing it"
            )


def check_output_folder(path: str | bytes | os.PathLike) -> None:
    """Refuse an output folder path that exists and is not a folder."""
    if os.path.exists(path) and not os.path.isdir(path):
        raise OutputPathError(f"output folder {display_path(path)} exists and is not a folder")


def write_atomically(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically."""
    with atomic_output(path) as handle:
        handle.write(data)
    return Path(path)


def remove_stale_temp_files(folder: str | Path) -> list[Path]:
    """Delete temp files left by a process killed mid-write; returns what was removed."""
    removed = []
    for temp in Path(folder).glob(f".*{TEMP_MARKER}*"):
        if temp.is_file():
            temp.unlink(missing_ok=True)
            removed.append(temp)
    return removed


def fsync_dir(path: str | Path) -> None:
    """Make a rename in ``path`` durable (ignored where folders cannot be fsynced)."""
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def current_umask() -> int:
    """The process umask: read from /proc/self/status where it is there (setting it to read it back would
    briefly change it for every thread), else via os.umask."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0)
    os.umask(mask)
    return mask
