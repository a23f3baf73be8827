"""WIDER FACE data set: label.txt / bbx_gt parsing, layout, errors."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import shared_path

from retinaface_ros.datasets import DetectionDataset, WiderFaceDataset, parse_bbx_gt, parse_label_txt

LANDMARKS = "10.0 12.0 0.0 20.0 12.0 0.0 15.0 16.0 0.0 11.0 20.0 0.0 19.0 20.0 0.0 0.9"
NO_LANDMARKS = " ".join(["-1.0"] * 15) + " -1.0"


@pytest.fixture(scope="module")
def mini_wider() -> Path:
    return shared_path("data", "mini_wider")


def _make_root(
    tmp_path: Path, label: str | None = None, bbx: str | None = None, images=("0--Ev/a.jpg",)
) -> Path:
    root = tmp_path / "wider"
    for relpath in images:
        path = root / "WIDER_val" / "images" / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(path), np.full((40, 50, 3), 128, np.uint8))
    (root / "WIDER_val").mkdir(parents=True, exist_ok=True)
    if label is not None:
        (root / "WIDER_val" / "label.txt").write_text(label)
    if bbx is not None:
        (root / "wider_face_split").mkdir(parents=True, exist_ok=True)
        (root / "wider_face_split" / "wider_face_val_bbx_gt.txt").write_text(bbx)
    return root


def test_mini_wider_val(mini_wider):
    ds = WiderFaceDataset(mini_wider, splits=["val"])
    assert isinstance(ds, DetectionDataset)
    assert len(ds) == 8
    image, annotations = ds[0]
    assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
    assert annotations.dtype == np.float32 and annotations.shape[1] == 15 and len(annotations) > 0
    assert ds.name(0) == "0--Parade/0_Parade_mini_val_0"
    assert ds.image_path(0).is_file()
    # first face of label.txt: 156 330 25 30, landmarks present
    np.testing.assert_allclose(annotations[0, :4], [156, 330, 181, 360])
    assert annotations[0, 14] == 1
    assert np.all(annotations[:, 2] > annotations[:, 0]) and np.all(annotations[:, 3] > annotations[:, 1])
    assert ds[-1][1].shape[1] == 15


def test_splits_concatenate(mini_wider):
    train = WiderFaceDataset(mini_wider)
    both = WiderFaceDataset(mini_wider, splits=["train", "val"])
    assert len(train) == 16 and len(both) == 24
    assert both.name(16) == WiderFaceDataset(mini_wider, "val").name(0)


def test_label_txt_parsing(tmp_path):
    path = tmp_path / "label.txt"
    path.write_text(
        f"# 0--Ev/a.jpg\n5 6 20 10 {LANDMARKS}\n1 2 0 10 {LANDMARKS}\n3 4 8 9 {NO_LANDMARKS}\n"
        "# 0--Ev/b.jpg\n# 0--Ev/c.jpg\n7 8 9 10\n"
    )
    entries = parse_label_txt(path)
    assert [e[0] for e in entries] == ["0--Ev/a.jpg", "0--Ev/b.jpg", "0--Ev/c.jpg"]
    a = entries[0][1]
    assert a.shape == (2, 15)  # the zero-width box is skipped
    np.testing.assert_allclose(a[0, :4], [5, 6, 25, 16])
    np.testing.assert_allclose(a[0, 4:14], [10, 12, 20, 12, 15, 16, 11, 20, 19, 20])
    assert a[0, 14] == 1 and a[1, 14] == -1
    assert entries[1][1].shape == (0, 15)
    np.testing.assert_allclose(entries[2][1][0], [7, 8, 16, 18] + [-1] * 11)


@pytest.mark.parametrize(
    ("content", "line"),
    [
        ("1 2 3 4\n", 1),
        ("# a.jpg\n1 2 3 x\n", 2),
        ("# a.jpg\n1 2 3 4\n1 2 3 4 5 6\n", 3),
        ("# a.jpg\n#\n", 2),
        ("# a.jpg\n1 2 3 4\n1 2 nan 4\n", 3),
        ("# a.jpg\n1 2 3 inf\n", 2),
    ],
)
def test_label_txt_malformed(tmp_path, content, line):
    path = tmp_path / "label.txt"
    path.write_text(content)
    with pytest.raises(ValueError, match=rf"label\.txt:{line}:"):
        parse_label_txt(path)


def test_bbx_gt_parsing(tmp_path):
    path = tmp_path / "gt.txt"
    path.write_text(
        "0--Ev/a.jpg\n3\n1 2 10 12 0 0 0 0 0 0\n5 5 0 3 0 0 0 0 0 0\n8 8 4 4 0 0 0 1 0 0\n"
        "0--Ev/b.jpg\n0\n0 0 0 0 0 0 0 0 0 0\n"
        "0--Ev/c.jpg\n1\n3 4 5 6 2 0 0 0 1 0\n"
    )
    entries = parse_bbx_gt(path)
    assert [e[0] for e in entries] == ["0--Ev/a.jpg", "0--Ev/b.jpg", "0--Ev/c.jpg"]
    np.testing.assert_allclose(entries[0][1], [[1, 2, 11, 14] + [-1] * 11])  # zero width, invalid skipped
    assert entries[1][1].shape == (0, 15)
    np.testing.assert_allclose(entries[2][1][0, :4], [3, 4, 8, 10])


@pytest.mark.parametrize(
    ("content", "line"),
    [
        ("a.jpg\nmany\n", 2),
        ("a.jpg\n2\n1 2 3 4 0 0 0 0 0 0\n", 2),
        ("a.jpg\n1\n1 2 3\n", 3),
        ("a.jpg\n1\n1 2 3 q 0 0 0 0 0 0\n", 3),
        ("a.jpg\n", 1),
        ("a.jpg\n-1\n", 2),
    ],
)
def test_bbx_gt_malformed(tmp_path, content, line):
    path = tmp_path / "gt.txt"
    path.write_text(content)
    with pytest.raises(ValueError, match=rf"gt\.txt:{line}:"):
        parse_bbx_gt(path)


def test_falls_back_to_bbx_gt(tmp_path):
    root = _make_root(tmp_path, bbx="0--Ev/a.jpg\n1\n1 2 10 12 0 0 0 0 0 0\n")
    ds = WiderFaceDataset(root, "val")
    image, annotations = ds[0]
    assert image.shape == (40, 50, 3)
    np.testing.assert_allclose(annotations[0, :4], [1, 2, 11, 14])
    assert annotations[0, 14] == -1


def test_label_txt_preferred(tmp_path):
    root = _make_root(
        tmp_path, label=f"# 0--Ev/a.jpg\n5 6 20 10 {LANDMARKS}\n", bbx="0--Ev/a.jpg\n0\n0 0 0 0\n"
    )
    assert len(WiderFaceDataset(root, "val").annotations(0)) == 1


def test_annotations_are_copies(tmp_path):
    root = _make_root(tmp_path, label=f"# 0--Ev/a.jpg\n5 6 20 10 {LANDMARKS}\n")
    ds = WiderFaceDataset(root, "val")
    ds[0][1][:] = 0
    assert ds.annotations(0)[0, 2] == 25


def test_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        WiderFaceDataset(tmp_path / "nowhere")
    root = _make_root(tmp_path, label="# 0--Ev/a.jpg\n# 0--Ev/missing.jpg\n1 1 5 5\n")
    with pytest.raises(FileNotFoundError, match="missing.jpg"):
        WiderFaceDataset(root, "val")
    with pytest.raises(FileNotFoundError, match="no annotations"):
        WiderFaceDataset(root, "train")
    with pytest.raises(ValueError):
        WiderFaceDataset(root, [])
    with pytest.raises(TypeError):
        WiderFaceDataset(42)
    ok = _make_root(tmp_path / "ok", label="# 0--Ev/a.jpg\n")
    ds = WiderFaceDataset(ok, "val")
    with pytest.raises(IndexError):
        ds[1]
    with pytest.raises(TypeError):
        ds["0"]


def test_unreadable_image_names_the_file_and_the_reason(tmp_path):
    root = _make_root(tmp_path, label="# 0--Ev/a.jpg\n1 1 5 5\n")
    image = root / "WIDER_val" / "images" / "0--Ev" / "a.jpg"
    image.write_bytes(b"\xff\xd8 not really a jpeg")
    ds = WiderFaceDataset(root, "val")
    with pytest.raises(ValueError, match=r"cannot decode image .*a\.jpg"):
        ds[0]
    image.unlink()
    with pytest.raises(FileNotFoundError, match=r"image file not found: .*a\.jpg"):
        ds.load_image(0)
