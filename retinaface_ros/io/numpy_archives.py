"""Reading ``.npz`` archives from untrusted files: every member's ``.npy`` header is read and checked against
the bytes that are really there before anything is allocated, pickles are never loaded, and every problem
is one ValueError naming the file (and the member)."""

from __future__ import annotations

import os
import re
import zipfile
import zlib
from pathlib import Path

import numpy as np

from retinaface_ros.io.atomic_files import display_path

_HEADER_READERS = {(1, 0): "read_array_header_1_0", (2, 0): "read_array_header_2_0"}


def read_npz(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """name → array of every member of an ``.npz`` file (numeric arrays only)."""
    name = display_path(path)
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            for member in members:
                _check_member(archive, member, name)
            with np.load(Path(os.fsdecode(path)), allow_pickle=False) as data:
                return {key: data[key] for key in data.files}
    except zipfile.BadZipFile as error:
        raise ValueError(
            f"{name} is not a readable .npz (zip) archive ({error}): truncated or corrupt"
        ) from None
    except (zipfile.LargeZipFile, EOFError, OSError, zlib.error) as error:
        raise ValueError(f"{name}: cannot read the archive ({type(error).__name__}: {error})") from None
    except ValueError as error:
        if str(error).startswith(name):
            raise
        raise ValueError(f"{name}: {' '.join(str(error).split())}") from None


def _check_member(archive: zipfile.ZipFile, member: zipfile.ZipInfo, name: str) -> None:
    """Refuse a member that is not a numeric ``.npy`` or whose header declares more data than it holds."""
    where = f"{name} (member {member.filename!r})"
    if not member.filename.endswith(".npy"):
        raise ValueError(f"{where} is not an .npy array")
    with archive.open(member) as handle:
        try:
            version = np.lib.format.read_magic(handle)
            reader = _HEADER_READERS.get(version)
            if reader is None:
                raise ValueError(f"unsupported .npy format version {version}")
            shape, _, dtype = getattr(np.lib.format, reader)(handle, max_header_size=10_000)
        except (ValueError, SyntaxError, TypeError) as error:  # numpy parses the header as a literal only
            reason = re.sub(r" at 0x[0-9a-f]+", "", " ".join(str(error).split()))  # no object addresses
            raise ValueError(
                f"{where}: the .npy header is not a plain array description ({reason})"
            ) from None
        header_end = handle.tell()
    if dtype.hasobject:
        raise ValueError(f"{where} holds Python objects (pickles are never loaded)")
    declared = int(np.prod(shape, dtype=object)) * dtype.itemsize
    held = member.file_size - header_end
    if declared > held:
        raise ValueError(
            f"{where}: the header declares a {'x'.join(map(str, shape))} {dtype} array "
            f"({declared:,} bytes) but only {max(held, 0):,} bytes follow"
        )
