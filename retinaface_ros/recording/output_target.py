"""Outputs that appear only when complete: a file or folder is written under a temporary name beside its
target and renamed into place at the end; an error or Ctrl-C removes the temporary output."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from retinaface_ros.io.atomic_files import TEMP_MARKER, fsync_dir


class OutputExistsError(FileExistsError):
    """The output exists and ``--overwrite`` was not given."""


def check_output(output: Path, overwrite: bool, inputs: list[Path] = ()) -> None:
    """Refuse an existing output (unless ``overwrite``) and an output that is, or is inside, an input."""
    resolved = output.resolve()
    for source in inputs:
        source = source.resolve()
        if resolved == source or source in resolved.parents:
            raise ValueError(f"output {output} is (inside) input {source}: the input is never modified")
    if (output.exists() or output.is_symlink()) and not overwrite:
        raise OutputExistsError(f"output {output} exists (use --overwrite to replace it)")


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


@contextlib.contextmanager
def staged_output(output: Path, overwrite: bool = False, is_dir: bool = False) -> Iterator[Path]:
    """A temporary path beside ``output`` to write to (a fresh empty folder when ``is_dir``; for a file, a
    name that does not exist yet). Renamed to ``output`` when the block completes; removed on any error,
    KeyboardInterrupt included. An existing ``output`` is replaced only with ``overwrite``."""
    output = Path(output)
    check_output(output, overwrite)
    output.parent.mkdir(parents=True, exist_ok=True)
    temp = Path(tempfile.mkdtemp(dir=output.parent, prefix=f".{output.name}{TEMP_MARKER}"))
    target = temp if is_dir else temp / output.name
    try:
        yield target
        old = temp.with_name(temp.name + "-replaced")
        if output.exists() or output.is_symlink():
            check_output(output, overwrite)
            os.replace(output, old)  # kept until the new output is in place
        os.replace(target, output)
        _remove(old)
    finally:
        _remove(temp)
    fsync_dir(output.parent)
