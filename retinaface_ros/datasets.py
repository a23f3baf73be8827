"""Face detection data sets: WIDER FACE (RetinaFace ``label.txt`` or the official ``bbx_gt`` files).

Every sample is ``(image_bgr uint8 H x W x 3, annotations float32 N x 15)``; an annotation row is
``x1, y1, x2, y2``, the five landmarks ``(x, y)`` (left eye, right eye, nose, left mouth corner, right mouth
corner) and a landmark flag (1 when present, -1 when absent: landmark coordinates then read -1).
Annotation files are parsed once at construction; images are read lazily (``io.image_files.read_image``).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ANNOTATION_COLUMNS = 15
_LANDMARK_COLUMNS = (4, 5, 7, 8, 10, 11, 13, 14, 16, 17)  # x, y of the five (x, y, flag) triples in label.txt
# A horizontal mirror swaps left and right: eyes and mouth corners trade places, the nose stays.
MIRROR_LANDMARK_ORDER = (1, 0, 2, 4, 3)


def mirror_boxes_and_landmarks(
    boxes: np.ndarray, landmarks: np.ndarray, width: int | float
) -> tuple[np.ndarray, np.ndarray]:
    """Boxes ``N x 4`` (x1, y1, x2, y2) and landmarks ``N x 5 x 2`` (new arrays) under a horizontal flip of
    an image ``width`` wide: x -> width - x, box corners re-ordered, left/right landmarks swapped."""
    mirrored = boxes.copy()
    mirrored[:, 0] = width - boxes[:, 2]
    mirrored[:, 2] = width - boxes[:, 0]
    points = landmarks[:, MIRROR_LANDMARK_ORDER].copy()
    points[..., 0] = width - points[..., 0]
    return mirrored, points


@dataclass(frozen=True)
class _Record:
    path: Path
    name: str
    annotations: np.ndarray


class DetectionDataset:
    """Base class: ``len(ds)``, ``ds[i] -> (image_bgr, annotations)``, ``ds.image_path(i)``, ``ds.name(i)``.

    Subclasses fill ``self._records`` (path, 'event/image_stem' name, N x 15 float32 annotations).
    """

    _records: list[_Record]

    def __len__(self) -> int:
        return len(self._records)

    def _record(self, index: int) -> _Record:
        if not isinstance(index, (int, np.integer)):
            raise TypeError(f"dataset index must be an integer, got {type(index).__name__}")
        if not -len(self._records) <= index < len(self._records):
            raise IndexError(f"index {index} out of range for a data set of {len(self._records)} images")
        return self._records[index]

    def image_path(self, index: int) -> Path:
        return self._record(index).path

    def name(self, index: int) -> str:
        """``event/image_stem``, the key the WIDER evaluation uses."""
        return self._record(index).name

    def annotations(self, index: int) -> np.ndarray:
        """A copy of the ``N x 15`` float32 annotations of one image (no image read)."""
        return self._record(index).annotations.copy()

    def load_image(self, index: int) -> np.ndarray:
        from retinaface_ros.io.image_files import read_image

        return read_image(self._record(index).path)

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        return self.load_image(index), self.annotations(index)


def _annotation_row(x: float, y: float, w: float, h: float, landmarks: Sequence[float] | None) -> np.ndarray:
    row = np.full(ANNOTATION_COLUMNS, -1.0, dtype=np.float32)
    row[:4] = (x, y, x + w, y + h)
    if landmarks is not None:
        row[4:14] = landmarks
        row[14] = -1.0 if landmarks[0] < 0 else 1.0
    return row


def _stack(rows: list[np.ndarray]) -> np.ndarray:
    return np.stack(rows) if rows else np.zeros((0, ANNOTATION_COLUMNS), dtype=np.float32)


def _floats(values: list[str], path: Path, line_number: int) -> list[float]:
    try:
        numbers = [float(v) for v in values]
    except ValueError:
        raise ValueError(f"{path}:{line_number}: expected numbers, got {' '.join(values)!r}") from None
    if not all(math.isfinite(v) for v in numbers):
        raise ValueError(f"{path}:{line_number}: expected finite numbers, got {' '.join(values)!r}")
    return numbers


def parse_label_txt(path: str | os.PathLike) -> list[tuple[str, np.ndarray]]:
    """Parse a RetinaFace ``label.txt``: ``# relpath`` lines, then per face ``x y w h`` optionally followed by
    five ``(x, y, flag)`` landmark triples and a final value. Boxes with width or height <= 0 are skipped."""
    path = Path(path)
    entries: list[tuple[str, list[np.ndarray]]] = []
    with open(path) as handle:
        for line_number, line in enumerate(handle, start=1):
            line = line.strip()
            if not line:
                continue
            if line.startswith("#"):
                relpath = line[1:].strip()
                if not relpath:
                    raise ValueError(f"{path}:{line_number}: '#' line without an image path")
                entries.append((relpath, []))
                continue
            if not entries:
                raise ValueError(f"{path}:{line_number}: annotation before the first '# image' line")
            values = _floats(line.split(), path, line_number)
            if len(values) == 4:
                landmarks = None
            elif len(values) >= 18:
                landmarks = [values[i] for i in _LANDMARK_COLUMNS]
            else:
                raise ValueError(
                    f"{path}:{line_number}: expected 'x y w h' or 'x y w h' + 5 landmark triples, "
                    f"got {len(values)} values"
                )
            x, y, w, h = values[:4]
            if w > 0 and h > 0:
                entries[-1][1].append(_annotation_row(x, y, w, h, landmarks))
    return [(relpath, _stack(rows)) for relpath, rows in entries]


def parse_bbx_gt(path: str | os.PathLike) -> list[tuple[str, np.ndarray]]:
    """Parse an official ``wider_face_<split>_bbx_gt.txt`` (name line, count line, ``x y w h blur expression
    illumination invalid occlusion pose`` lines; a count of 0 is followed by one line of zeros).
    Boxes with width or height <= 0, or flagged invalid, are skipped; landmarks are absent (-1)."""
    path = Path(path)
    with open(path) as handle:
        lines = [(n, line.strip()) for n, line in enumerate(handle, start=1) if line.strip()]
    entries: list[tuple[str, np.ndarray]] = []
    i = 0
    while i < len(lines):
        name_line, relpath = lines[i]
        if i + 1 >= len(lines):
            raise ValueError(f"{path}:{name_line}: image {relpath!r} has no face-count line")
        count_line, count_text = lines[i + 1]
        try:
            count = int(count_text)
        except ValueError:
            raise ValueError(f"{path}:{count_line}: expected a face count, got {count_text!r}") from None
        if count < 0:
            raise ValueError(f"{path}:{count_line}: negative face count {count}")
        box_lines = lines[i + 2 : i + 2 + max(count, 1)]
        if len(box_lines) < max(count, 1):
            raise ValueError(f"{path}:{count_line}: {relpath} announces {count} faces, file ends early")
        rows = []
        for line_number, text in box_lines if count > 0 else []:
            values = _floats(text.split(), path, line_number)
            if len(values) < 4:
                raise ValueError(f"{path}:{line_number}: expected 'x y w h ...', got {text!r}")
            invalid = len(values) >= 8 and values[7] != 0
            x, y, w, h = values[:4]
            if w > 0 and h > 0 and not invalid:
                rows.append(_annotation_row(x, y, w, h, None))
        entries.append((relpath, _stack(rows)))
        i += 2 + max(count, 1)
    return entries


class WiderFaceDataset(DetectionDataset):
    """WIDER FACE in its standard layout under ``root``::

        root/WIDER_<split>/images/<event>/*.jpg
        root/WIDER_<split>/label.txt                       (RetinaFace boxes + landmarks; preferred)
        root/wider_face_split/wider_face_<split>_bbx_gt.txt (official boxes; used when label.txt is absent)

    ``splits=['train', 'val']`` concatenates. All images are checked to exist at construction.
    ``ground_truth_dir`` is the folder holding the official ``wider_face_val.mat`` + ``wider_{easy,medium,
    hard}_val.mat`` when found (``root/wider_face_split`` or ``root/ground_truth``), else None.
    """

    def __init__(self, root: str | os.PathLike, splits: Sequence[str] | str = ("train",)) -> None:
        if isinstance(splits, str):
            splits = [splits]
        if not isinstance(root, (str, os.PathLike)):
            raise TypeError(f"root must be a path, got {type(root).__name__}")
        splits = list(splits)
        if not splits or not all(isinstance(s, str) and s for s in splits):
            raise ValueError(f"splits must be a non-empty list of split names, got {splits!r}")
        self.root = Path(root)
        self.splits = tuple(splits)
        if not self.root.is_dir():
            raise FileNotFoundError(f"WIDER FACE root not found: {self.root}")
        self._records = []
        for split in splits:
            self._records.extend(self._load_split(split))
        self.ground_truth_dir = self._find_ground_truth()

    def _load_split(self, split: str) -> list[_Record]:
        image_root = self.root / f"WIDER_{split}" / "images"
        label_txt = self.root / f"WIDER_{split}" / "label.txt"
        bbx_gt = self.root / "wider_face_split" / f"wider_face_{split}_bbx_gt.txt"
        if label_txt.is_file():
            entries = parse_label_txt(label_txt)
        elif bbx_gt.is_file():
            entries = parse_bbx_gt(bbx_gt)
        else:
            raise FileNotFoundError(f"no annotations for split {split!r}: neither {label_txt} nor {bbx_gt}")
        records = []
        missing = []
        for relpath, boxes in entries:
            path = image_root / relpath
            if not path.is_file():
                missing.append(str(path))
                continue
            records.append(_Record(path, Path(relpath).with_suffix("").as_posix(), boxes))
        if missing:
            shown = ", ".join(missing[:5]) + (f" (+{len(missing) - 5} more)" if len(missing) > 5 else "")
            raise FileNotFoundError(f"{len(missing)} annotated images missing for split {split!r}: {shown}")
        return records

    def _find_ground_truth(self) -> Path | None:
        needed = ("wider_face_val.mat", "wider_easy_val.mat", "wider_medium_val.mat", "wider_hard_val.mat")
        for folder in (self.root / "wider_face_split", self.root / "ground_truth"):
            if all((folder / f).is_file() for f in needed):
                return folder
        return None

    def __repr__(self) -> str:
        return f"WiderFaceDataset(root={str(self.root)!r}, splits={list(self.splits)!r}, images={len(self)})"
