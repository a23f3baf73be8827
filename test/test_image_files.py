"""Image files in and out (#16 items 1-3): any path reaches OpenCV as bytes, special files are never replaced,
header bombs are refused before decoding; and the ``detect`` command on such paths and outputs."""

from __future__ import annotations

import os
import socket
import stat
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from retinaface_ros.io.atomic_files import OutputPathError, atomic_output, check_output_file
from retinaface_ros.io.image_files import (
    check_image_format,
    decode_image,
    image_files_in,
    read_image,
    write_image,
)
from retinaface_ros.io.image_header import declared_size
from retinaface_ros.validation import ResourceError, check_fits_in_memory

NON_UTF8 = b"caf\xff\xfe"  # not valid UTF-8: Python shows it as surrogate escapes in a str


def _picture(height: int = 40, width: int = 56) -> np.ndarray:
    image = np.zeros((height, width, 3), np.uint8)
    image[:, : width // 2] = (10, 200, 30)
    image[height // 2 :, :] += 40
    return image


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_declaring(width: int, height: int) -> bytes:
    """A PNG header declaring ``width``×``height`` followed by a tiny IDAT: a decompression bomb's shape."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    body = _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(b"\0" * 64)) + _chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + body


def _run_cli(*args: bytes | str, cwd: Path) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "retinaface_ros", *args]
    return subprocess.run(command, capture_output=True, cwd=cwd, timeout=300)


@pytest.mark.parametrize("kind", ["bytes", "str", "pathlike"])
def test_read_and_write_non_utf8_names(tmp_path, kind) -> None:
    folder = os.fsencode(tmp_path)
    raw = folder + b"/" + NON_UTF8 + b".png"
    path = {"bytes": raw, "str": os.fsdecode(raw), "pathlike": Path(os.fsdecode(raw))}[kind]
    image = _picture()
    written = write_image(path, image)
    assert os.fsencode(written) == raw
    np.testing.assert_array_equal(read_image(path), image)  # PNG is lossless
    assert os.listdir(folder) == [NON_UTF8 + b".png"]  # no temp file left


def test_declared_size_of_every_header_format(tmp_path) -> None:
    image = _picture(37, 91)
    for extension in (".png", ".jpg", ".bmp", ".webp"):
        encoded = cv2.imencode(extension, image)[1]
        assert declared_size(encoded) == (91, 37), extension
        assert declared_size(encoded.tobytes()) == (91, 37), extension
    assert declared_size(b"GIF89a" + struct.pack("<HH", 91, 37) + b"\0" * 8) == (91, 37)
    assert declared_size(b"not an image at all") is None


def test_header_bombs_are_refused_before_decoding(tmp_path) -> None:
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(png_declaring(40000, 40000))
    with pytest.raises(ValueError) as caught:
        read_image(bomb)
    message = str(caught.value)
    assert "bomb.png" in message and "40000x40000" in message and "\n" not in message
    jpeg = bytearray(cv2.imencode(".jpg", _picture())[1].tobytes())
    sof = next(i for i in range(len(jpeg) - 1) if jpeg[i] == 0xFF and jpeg[i + 1] == 0xC0)
    jpeg[sof + 5 : sof + 9] = struct.pack(">HH", 65000, 65000)
    with pytest.raises(ValueError, match="65000x65000"):
        decode_image(bytes(jpeg), "jpeg bomb")


def test_a_size_beyond_free_memory_is_refused() -> None:
    check_fits_in_memory(10**6, "a small call", available=10**9)
    with pytest.raises(ResourceError, match=r"needs about 9\.3 GiB but only 0\.9 GiB is available"):
        check_fits_in_memory(10**10, "a huge call", available=10**9)


def test_corrupt_and_special_inputs_are_one_line_errors(tmp_path) -> None:
    truncated = tmp_path / "cut.jpg"
    truncated.write_bytes(cv2.imencode(".jpg", _picture())[1].tobytes()[:30])
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    for path, words in ((truncated, "cannot decode"), (empty, "is empty"), (fifo, "not a regular file")):
        with pytest.raises(ValueError) as caught:
            read_image(path)
        assert path.name in str(caught.value) and words in str(caught.value) and "\n" not in str(caught.value)
    with pytest.raises(FileNotFoundError, match="missing.png"):
        read_image(tmp_path / "missing.png")


def _special_files(tmp_path: Path) -> dict[str, Path]:
    fifo = tmp_path / "fifo.jpg"
    os.mkfifo(fifo)
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(tmp_path / "sock.jpg"))
    server.close()  # the socket file stays
    (tmp_path / "folder.jpg").mkdir()
    return {
        "a FIFO": fifo,
        "a socket": tmp_path / "sock.jpg",
        "a folder": tmp_path / "folder.jpg",
        "a character device": Path("/dev/null"),
    }


def test_special_outputs_are_never_replaced(tmp_path) -> None:
    for kind, path in _special_files(tmp_path).items():
        mode = os.stat(path).st_mode
        with pytest.raises(OutputPathError, match=f"is {kind}, not a regular file"):
            write_image(path, _picture())
        with pytest.raises(OutputPathError), atomic_output(path) as handle:
            handle.write(b"data")
        assert os.stat(path).st_mode == mode
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    check_output_file(tmp_path / "new.jpg")  # missing and regular files are fine
    write_image(tmp_path / "new.jpg", _picture())
    write_image(tmp_path / "new.jpg", _picture())


def test_a_fifo_created_during_the_write_is_not_replaced(tmp_path) -> None:
    target = tmp_path / "late.jpg"
    with pytest.raises(OutputPathError, match="FIFO"), atomic_output(target) as handle:
        handle.write(b"data")
        os.mkfifo(target)  # appears between the first check and the rename
    assert stat.S_ISFIFO(os.stat(target).st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["late.jpg"]  # the temp file is gone


def test_unwritable_format_and_folder_expansion(tmp_path) -> None:
    with pytest.raises(ValueError, match=r"cannot write '\.xyz'"):
        check_image_format(tmp_path / "x.xyz")
    assert check_image_format(tmp_path / "noext") == ".jpg"
    for name in ("b.jpg", "a.PNG", "sub/c.jpg", ".hidden.jpg", "notes.txt", "out/a_faces.jpg"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    assert [p.name for p in image_files_in(tmp_path)] == ["a.PNG", "b.jpg"]
    found = image_files_in(tmp_path, recursive=True, exclude=tmp_path / "out")
    assert [p.relative_to(tmp_path).as_posix() for p in found] == ["a.PNG", "b.jpg", "sub/c.jpg"]


def test_detect_cli_on_non_utf8_image_and_out_names(tmp_path, mnet_weights) -> None:
    """Before: SIGSEGV (exit -11) inside OpenCV's imread / haveImageWriter."""
    folder = os.fsencode(tmp_path)
    image = folder + b"/" + NON_UTF8 + b".jpg"
    out = folder + b"/out-" + NON_UTF8 + b".jpg"
    with open(image, "wb") as handle:
        handle.write(cv2.imencode(".jpg", _picture(96, 128))[1].tobytes())
    result = _run_cli(b"detect", image, b"--model", os.fsencode(mnet_weights), b"--out", out, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert b"caf\\xff\\xfe.jpg: 0 face(s) -> " in result.stdout
    assert b"wrote 1 annotated image(s) to " in result.stderr
    assert read_image(out).shape == (96, 128, 3)


def test_detect_cli_refuses_special_outputs_and_bombs(tmp_path, mnet_weights, capsys) -> None:
    """Before: the FIFO / device node was replaced by a JPEG file (exit 0); the bomb gave a traceback."""
    from retinaface_ros.cli import main

    image = tmp_path / "small.jpg"
    image.write_bytes(cv2.imencode(".jpg", _picture(96, 128))[1].tobytes())
    for kind, path in _special_files(tmp_path).items():
        if kind == "a folder":  # an existing folder is where the annotated images go
            continue
        mode = os.stat(path).st_mode
        assert main(["detect", str(image), "--model", str(mnet_weights), "--out", str(path)]) == 2, kind
        err = capsys.readouterr().err
        assert err.startswith("retinaface: error:") and err.count("\n") == 1 and f"is {kind}" in err
        assert os.stat(path).st_mode == mode
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(png_declaring(40000, 40000))
    assert main(["detect", str(bomb), "--model", str(mnet_weights)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "bomb.png is 40000x40000" in err


def test_video_names_that_opencv_cannot_take_are_refused(tmp_path) -> None:
    """Before: cv2.VideoCapture on a non-UTF-8 name crashed the image_publisher (SIGSEGV)."""
    from retinaface_ros.io.image_files import opencv_path
    from retinaface_ros.ros.image_publisher import frames

    video = os.fsencode(tmp_path) + b"/clip-" + NON_UTF8 + b".avi"
    with open(video, "wb") as handle:
        handle.write(b"not really a video")
    with pytest.raises(ValueError, match=r"clip-caf\\xff\\xfe\.avi: OpenCV cannot open a file whose name"):
        next(frames(Path(os.fsdecode(video)), loop=False))
    assert opencv_path(tmp_path / "plain.avi") == str(tmp_path / "plain.avi")
