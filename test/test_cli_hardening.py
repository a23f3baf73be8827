"""Command-line hardening (#16 item 3, #20 item 9): every malformed input is one line naming the file and
what is wrong, exit code 2; and what ``detect`` does with folders, several images, --out and --scales."""

from __future__ import annotations

import io
import shutil
import struct
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import shared_path

from retinaface_ros.cli import main


@pytest.fixture(scope="module")
def golden_dir() -> Path:
    return shared_path("golden")


GROUND_TRUTH = ("wider_face_val.mat", "wider_easy_val.mat", "wider_medium_val.mat", "wider_hard_val.mat")


def _one_line_error(capsys, *words: str) -> str:
    err = capsys.readouterr().err
    assert err.startswith("retinaface: error:") and err.count("\n") == 1, err
    assert "Traceback" not in err
    for word in words:
        assert word in err, (word, err)
    return err


def _npy_with_header(header: bytes) -> bytes:
    header = header.ljust(118) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header


def _npz_member(path: Path, data: bytes) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("event/image.npy", data)
    return path


def _ground_truth_copy(golden_dir: Path, folder: Path) -> Path:
    folder.mkdir()
    for name in GROUND_TRUTH:
        shutil.copy(golden_dir / "wider_eval" / name, folder / name)
    return folder


def _bad_prediction_files(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    """name → (file, words its error must hold)."""
    good = io.BytesIO()
    np.savez(good, **{"event/image": np.zeros((3, 5))})
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(good.getvalue()[: len(good.getvalue()) // 2])
    cut = tmp_path / "cut_short.npz"  # a valid zip whose .npy member stops inside its data
    array = io.BytesIO()
    np.save(array, np.zeros((1000, 5)))
    _npz_member(cut, array.getvalue()[:500])
    huge = _npz_member(
        tmp_path / "huge.npz",
        _npy_with_header(b"{'descr': '<f8', 'fortran_order': False, 'shape': (1000000000000, 5), }"),
    )
    expression = _npz_member(
        tmp_path / "expression.npz",
        _npy_with_header(b"{'descr': '<f8', 'fortran_order': False, 'shape': (2**40, 5), }"),
    )
    return {
        "truncated zip": (truncated, "truncated.npz is not a readable .npz"),
        "npz cut short": (cut, "cut_short.npz (member 'event/image.npy'): the header declares a 1000x5"),
        "huge header": (huge, "huge.npz (member 'event/image.npy'): the header declares a 1000000000000x5"),
        "expression header": (
            expression,
            "expression.npz (member 'event/image.npy'): the .npy header is not",
        ),
    }


@pytest.mark.parametrize("case", ["truncated zip", "npz cut short", "huge header", "expression header"])
def test_evaluate_predictions_bad_npz_is_one_line(tmp_path, golden_dir, capsys, case) -> None:
    """Before: BadZipFile / EOFError / a 36 TiB allocation failure as tracebacks."""
    path, words = _bad_prediction_files(tmp_path)[case]
    args = [
        "evaluate-predictions",
        "--predictions",
        str(path),
        "--ground-truth",
        str(golden_dir / "wider_eval"),
    ]
    assert main(args) == 2
    _one_line_error(capsys, words)


def test_evaluate_predictions_bad_mat_files_are_one_line(tmp_path, golden_dir, capsys) -> None:
    """Before: NotImplementedError (v7.3) and zlib.error (corrupt element) tracebacks."""
    predictions = str(golden_dir / "wider_eval" / "synthetic_predictions.npz")
    hdf5 = _ground_truth_copy(golden_dir, tmp_path / "v73")
    header = (
        b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Mon Jan  1 00:00:00 2024 HDF5 schema 1.00 ."
    )
    (hdf5 / "wider_easy_val.mat").write_bytes(
        header.ljust(116) + bytes(8) + b"\x00\x02IM" + b"\x89HDF\r\n\x1a\n"
    )
    assert main(["evaluate-predictions", "--predictions", predictions, "--ground-truth", str(hdf5)]) == 2
    _one_line_error(capsys, "wider_easy_val.mat is a MATLAB v7.3 (HDF5) file")
    corrupt = _ground_truth_copy(golden_dir, tmp_path / "corrupt")
    data = bytearray((corrupt / "wider_face_val.mat").read_bytes())
    data[200:2000] = bytes(b ^ 0x5A for b in data[200:2000])  # inside the first compressed element
    (corrupt / "wider_face_val.mat").write_bytes(bytes(data))
    assert main(["evaluate-predictions", "--predictions", predictions, "--ground-truth", str(corrupt)]) == 2
    _one_line_error(capsys, "wider_face_val.mat is not a readable MATLAB file")


def test_deeply_nested_model_json_is_one_line(tmp_path, capsys) -> None:
    """Before: RecursionError traceback."""
    folder = tmp_path / "deep"
    folder.mkdir()
    (folder / "deep.json").write_text("[" * 200_000 + "]" * 200_000)
    image = tmp_path / "x.png"
    image.write_bytes(cv2.imencode(".png", np.zeros((32, 32, 3), np.uint8))[1].tobytes())
    assert main(["detect", str(image), "--model", str(folder)]) == 2
    _one_line_error(capsys, "deep.json nests its JSON too deeply")
    (folder / "deep.json").write_bytes(b" " * (2 << 20))
    assert main(["detect", str(image), "--model", str(folder)]) == 2
    _one_line_error(capsys, "too large for model metadata")
