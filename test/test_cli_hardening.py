"""Command-line hardening (#16 item 3, #20 item 9): every malformed input is one line naming the file and
what is wrong, exit code 2; and what ``detect`` does with folders, several images, --out and --scales."""

from __future__ import annotations

import io
import json
import os
import shutil
import stat
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


# ------------------------------------------------------------------------------- #20 item 9: detect UX
def _write_images(root: Path, *names: str) -> None:
    for name in names:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(cv2.imencode(".jpg", np.full((96, 128, 3), 90, np.uint8))[1].tobytes())


def test_detect_expands_folders_and_says_where_it_wrote(tmp_path, mnet_weights, capsys) -> None:
    """Before: a folder argument failed with "not found", and --out wrote silently."""
    photos = tmp_path / "photos"
    _write_images(photos, "a.jpg", "b.png", "trip/c.jpg", ".hidden.jpg")
    (photos / "notes.txt").write_text("not an image")
    out = tmp_path / "annotated"
    native = ["--scales", "96", "128"]  # the images' own size: quick
    assert main(["detect", str(photos), "--model", str(mnet_weights), "--out", str(out), *native]) == 0
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert lines == [f"{photos / 'a.jpg'}: 0 face(s) -> {out / 'a_faces.jpg'}",
                     f"{photos / 'b.png'}: 0 face(s) -> {out / 'b_faces.jpg'}"]  # fmt: skip
    assert f"created folder {out}" in captured.err and f"wrote 2 annotated image(s) to {out}" in captured.err
    args = ["detect", str(photos), "--recursive", "--model", str(mnet_weights), "--out", str(out), "--json"]
    args += native
    assert main(args) == 0
    report = json.loads(capsys.readouterr().out)
    assert [Path(entry["image"]).relative_to(photos).as_posix() for entry in report] == [
        "a.jpg",
        "b.png",
        "trip/c.jpg",
    ]
    assert (
        report[2]["annotated"] == str(out / "trip" / "c_faces.jpg")
        and (out / "trip" / "c_faces.jpg").is_file()
    )
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    assert main(["detect", str(tmp_path / "empty"), "--model", str(mnet_weights)]) == 2
    _one_line_error(capsys, "no image files in folder", "--recursive")


def test_detect_refuses_a_file_name_for_several_images(tmp_path, mnet_weights, capsys) -> None:
    """Before: --out x.jpg with two images silently made a folder named x.jpg."""
    _write_images(tmp_path, "a.jpg", "b.jpg", "other/a.jpg")
    images = [str(tmp_path / "a.jpg"), str(tmp_path / "b.jpg")]
    assert main(["detect", *images, "--model", str(mnet_weights), "--out", str(tmp_path / "x.jpg")]) == 2
    _one_line_error(capsys, "x.jpg names an image file but 2 images were given", "pass a folder")
    assert not (tmp_path / "x.jpg").exists()
    clash = [str(tmp_path / "a.jpg"), str(tmp_path / "other" / "a.jpg")]
    assert main(["detect", *clash, "--model", str(mnet_weights), "--out", str(tmp_path / "out")]) == 2
    _one_line_error(capsys, "same --out file")
    assert not (tmp_path / "out").exists()


def test_labels_follow_the_box_size_and_can_be_switched(tmp_path) -> None:
    """Before: every label had the image's font size, so labels of small faces covered their neighbours."""
    from retinaface_ros.drawing import draw_bounding_boxes
    from retinaface_ros.types import BoundingBox

    canvas = np.zeros((400, 600, 3), np.uint8)
    small = BoundingBox(0, 100, 200, 24, 30, 0.97)
    large = BoundingBox(0, 300, 150, 200, 220, 0.99)

    def label_extent(image: np.ndarray, box: BoundingBox) -> tuple[int, int]:
        """(width, height) of the drawn pixels above ``box`` (its label)."""
        top, left = round(box.top), round(box.left)
        region = image[: top - 1, left - 2 : left + 2 * round(box.width)].max(axis=2) > 0
        rows, cols = np.nonzero(region)
        return (int(cols.max() - cols.min() + 1), int(rows.max() - rows.min() + 1)) if rows.size else (0, 0)

    for labels in ("score", "id"):
        drawn = draw_bounding_boxes(canvas, [small, large], labels=labels)
        small_width, small_height = label_extent(drawn, small)
        large_width, large_height = label_extent(drawn, large)
        assert 0 < small_width <= small.width + 2 and 0 < small_height <= small.height / 3 + 2, labels
        assert large_height > 2 * small_height and large_width > small_width
    score_drawn = draw_bounding_boxes(canvas, [large], labels="score")
    id_drawn = draw_bounding_boxes(canvas, [large], labels="id")
    assert label_extent(score_drawn, large)[0] > label_extent(id_drawn, large)[0]  # "0.99" is wider than "1"
    assert label_extent(draw_bounding_boxes(canvas, [small, large], labels="none"), large) == (0, 0)
    tiny = BoundingBox(0, 50, 50, 6, 6, 0.9)  # too small for readable text: no label at all
    assert label_extent(draw_bounding_boxes(canvas, [tiny]), tiny) == (0, 0)
    with pytest.raises(ValueError, match="labels must be one of"):
        draw_bounding_boxes(canvas, [small], labels="names")


@pytest.mark.parametrize(
    ("command", "words"),
    [
        (["bench", "--runs", "1", "--out"], "exists and is a FIFO, not a regular file"),
        (["bench-node", "--model", "{model}", "--output"], "exists and is a FIFO, not a regular file"),
        (
            ["bench-hri", "--model", "{model}", "--image", "{model}", "--output"],
            "exists and is a FIFO, not a regular file",
        ),
        (["export", "--model", "{model}", "--backbone", "mnet", "--out"], "exists and is not a folder"),
    ],
)
def test_every_command_refuses_special_outputs_before_working(tmp_path, mnet_weights, capsys, command, words):
    """Before: the FIFO was replaced by a regular file once the work was done."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    args = [part.format(model=mnet_weights) for part in command]
    assert main([*args, str(fifo)]) == 2
    _one_line_error(capsys, words)
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
