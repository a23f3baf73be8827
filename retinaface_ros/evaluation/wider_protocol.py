"""The official WIDER FACE evaluation (easy / medium / hard AP), vectorised.

Reproduces the widely used python port of the official MATLAB code (``widerface_evaluate/evaluation.py`` of
Pytorch_Retinaface) number for number on prediction files sorted by score, as that code expects them (it reads
them in file order; here each image's predictions are sorted by score first, so unsorted files score as their
sorted selves):

* scores are min-max normalised over the whole prediction set (the running max starts at 0, the min at 1);
* boxes are ``x, y, w, h``; both predictions and ground truth become ``x1, y1, x1 + w, y1 + h`` and the IoU is
  pixel-inclusive (``+1`` on widths and heights), as the ``bbox_overlaps`` Cython kernel computes it;
* in score order each prediction looks at its best ground-truth face: IoU >= 0.5 on a face outside the
  setting's keep list marks the prediction as ignored (neither TP nor FP); on a kept face it recalls that face
  (once);
* the per-image (proposals, recalled faces) pairs at 1000 score thresholds ``1 - (t + 1) / 1000`` are summed
  over the set, and the AP is the VOC all-point area under the enveloped PR curve.

The matching has no cross-prediction state except "which kept faces are already recalled", so it reduces to
"first prediction to hit each kept face"; the threshold sweep is a ``searchsorted`` over the sorted scores.
No torch, no rclpy.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from retinaface_ros.io.atomic_files import write_atomically

SETTINGS: tuple[str, ...] = ("easy", "medium", "hard")
THRESH_NUM = 1000
_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")


@dataclass(frozen=True)
class WiderGroundTruth:
    """WIDER FACE val ground truth: per image its name (``event/image``), ``K x 4`` boxes (x, y, w, h) and,
    per setting, the 0-based indices of the faces that count."""

    names: tuple[str, ...]
    boxes: tuple[np.ndarray, ...]
    keep: dict[str, tuple[np.ndarray, ...]]

    def __len__(self) -> int:
        return len(self.names)

    def subset(self, names: set[str] | frozenset[str]) -> WiderGroundTruth:
        """Only the images whose ``event/image`` name is in ``names`` (for evaluating part of the set)."""
        index = [i for i, name in enumerate(self.names) if name in names]
        return WiderGroundTruth(
            tuple(self.names[i] for i in index),
            tuple(self.boxes[i] for i in index),
            {s: tuple(keep[i] for i in index) for s, keep in self.keep.items()},
        )


def _strip_suffix(name: str) -> str:
    for suffix in _IMAGE_SUFFIXES:
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


def load_ground_truth(ground_truth_dir: str | os.PathLike) -> WiderGroundTruth:
    """Read ``wider_face_val.mat`` and ``wider_{easy,medium,hard}_val.mat`` from ``ground_truth_dir``."""
    from scipy.io import loadmat

    gt_dir = Path(ground_truth_dir)
    if not gt_dir.is_dir():
        raise FileNotFoundError(f"ground-truth directory not found: {gt_dir}")
    files = {"all": gt_dir / "wider_face_val.mat", **{s: gt_dir / f"wider_{s}_val.mat" for s in SETTINGS}}
    for path in files.values():
        if not path.is_file():
            raise FileNotFoundError(f"WIDER ground-truth file missing: {path}")
    from scipy.io.matlab import MatReadError

    names: list[str] = []
    boxes: list[np.ndarray] = []
    keep: dict[str, list[np.ndarray]] = {s: [] for s in SETTINGS}
    mats = {key: read_mat(path, loadmat) for key, path in files.items()}
    try:
        events = mats["all"]["event_list"]
        file_lists = mats["all"]["file_list"]
        box_lists = mats["all"]["face_bbx_list"]
        gt_lists = {s: mats[s]["gt_list"] for s in SETTINGS}
        for i in range(len(events)):
            event = str(events[i][0][0])
            image_list = file_lists[i][0]
            event_boxes = box_lists[i][0]
            for j in range(len(image_list)):
                names.append(f"{event}/{image_list[j][0][0]}")
                boxes.append(np.asarray(event_boxes[j][0], dtype=np.float64).reshape(-1, 4))
                for s in SETTINGS:
                    one_based = np.asarray(gt_lists[s][i][0][j][0], dtype=np.int64).reshape(-1)
                    keep[s].append(one_based - 1)
    except (KeyError, ValueError, OSError, IndexError, TypeError, MatReadError) as error:
        raise ValueError(f"malformed WIDER ground truth in {gt_dir}: {error}") from error
    return WiderGroundTruth(tuple(names), tuple(boxes), {s: tuple(v) for s, v in keep.items()})


def read_mat(path: Path, loadmat: Any) -> dict:
    """One MATLAB file via scipy's ``loadmat``; every way it can fail is one ValueError naming the file."""
    import zlib

    from scipy.io.matlab import MatReadError

    try:
        return loadmat(str(path))
    except NotImplementedError:  # scipy reads MATLAB files up to v7; v7.3 files are HDF5
        raise ValueError(
            f"{path} is a MATLAB v7.3 (HDF5) file, which cannot be read here: save it with "
            "save(..., '-v7') in MATLAB, or use the original WIDER FACE eval_tools files"
        ) from None
    except (MatReadError, ValueError, TypeError, OSError, EOFError, zlib.error, MemoryError) as error:
        reason = " ".join(str(error).split()) or type(error).__name__
        raise ValueError(f"{path} is not a readable MATLAB file ({type(error).__name__}: {reason})") from None


def bbox_overlaps_inclusive(boxes: np.ndarray, query_boxes: np.ndarray) -> np.ndarray:
    """Pixel-inclusive IoU (``+1`` on widths and heights) of ``N x 4`` against ``K x 4`` x1y1x2y2 boxes.

    Same operation order as the ``bbox_overlaps`` Cython kernel, so values match it bit for bit.
    """
    boxes = np.asarray(boxes, dtype=np.float64)
    query_boxes = np.asarray(query_boxes, dtype=np.float64)
    query_area = (query_boxes[:, 2] - query_boxes[:, 0] + 1) * (query_boxes[:, 3] - query_boxes[:, 1] + 1)
    box_area = (boxes[:, 2] - boxes[:, 0] + 1) * (boxes[:, 3] - boxes[:, 1] + 1)
    iw = (
        np.minimum(boxes[:, None, 2], query_boxes[None, :, 2])
        - np.maximum(boxes[:, None, 0], query_boxes[None, :, 0])
        + 1
    )
    ih = (
        np.minimum(boxes[:, None, 3], query_boxes[None, :, 3])
        - np.maximum(boxes[:, None, 1], query_boxes[None, :, 1])
        + 1
    )
    inter = iw * ih
    union = box_area[:, None] + query_area[None, :] - inter
    valid = (iw > 0) & (ih > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        overlaps = np.where(valid, inter / np.where(valid, union, 1.0), 0.0)
    return overlaps


def voc_ap(recall: np.ndarray, precision: np.ndarray) -> float:
    """VOC all-point AP: area under the precision envelope, summed where recall changes."""
    mrec = np.concatenate(([0.0], recall, [1.0]))
    mpre = np.concatenate(([0.0], precision, [0.0]))
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]
    i = np.where(mrec[1:] != mrec[:-1])[0]
    return float(np.sum((mrec[i + 1] - mrec[i]) * mpre[i + 1]))


def _validated(predictions: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Copy predictions to float64 ``N x 5`` arrays keyed ``event/image`` (image suffix dropped)."""
    if not isinstance(predictions, Mapping):
        raise TypeError(
            f"predictions must be a mapping 'event/image' -> N x 5 array, got {type(predictions).__name__}"
        )
    out: dict[str, np.ndarray] = {}
    for key, value in predictions.items():
        array = np.array(value, dtype=np.float64, copy=True)
        if array.size == 0:
            array = array.reshape(0, 5)
        if array.ndim != 2 or array.shape[1] < 5:
            raise ValueError(
                f"predictions for {key!r} must be N x 5 (x, y, w, h, score), got shape {array.shape}"
            )
        if not np.all(np.isfinite(array[:, :5])):
            raise ValueError(f"predictions for {key!r} contain NaN or infinite values")
        out[_strip_suffix(str(key).replace("\\", "/").strip("/"))] = array[:, :5]
    return out


def normalize_scores(predictions: dict[str, np.ndarray]) -> None:
    """Min-max normalise column 4 in place over the whole set, as the reference ``norm_score`` does.

    The running max starts at 0 and the min at 1; a degenerate range (all scores equal) maps every score to 1.
    """
    max_score, min_score = 0.0, 1.0
    for array in predictions.values():
        if len(array):
            max_score = max(float(array[:, 4].max()), max_score)
            min_score = min(float(array[:, 4].min()), min_score)
    diff = max_score - min_score
    for array in predictions.values():
        if len(array):
            array[:, 4] = (array[:, 4] - min_score) / diff if diff > 0 else 1.0


def _image_pr(
    pred: np.ndarray,
    best_iou: np.ndarray,
    best_idx: np.ndarray,
    keep: np.ndarray,
    num_gt: int,
    thresholds_ascending: np.ndarray,
    iou_threshold: float,
) -> np.ndarray:
    """``T x 2`` (proposals, recalled faces) of one image for one setting; predictions sorted by score."""
    kept = np.zeros(num_gt, dtype=bool)
    kept[keep] = True
    hit = best_iou >= iou_threshold
    ignored = hit & ~kept[best_idx]
    proposal_cum = np.cumsum(~ignored)
    # A kept face is recalled by the first prediction whose best match it is.
    recalls = hit & kept[best_idx]
    first = np.zeros(len(pred), dtype=bool)
    if recalls.any():
        candidates = np.flatnonzero(recalls)
        _, first_pos = np.unique(best_idx[candidates], return_index=True)
        first[candidates[first_pos]] = True
    recall_cum = np.cumsum(first)
    # Number of predictions with score >= each threshold (scores sorted descending).
    scores_ascending = pred[::-1, 4]
    n_above = len(pred) - np.searchsorted(scores_ascending, thresholds_ascending, side="left")
    n_above = n_above[::-1]  # back to threshold order t = 0 .. T-1 (thresholds decreasing)
    info = np.zeros((len(n_above), 2))
    nonzero = n_above > 0
    last = n_above[nonzero] - 1
    info[nonzero, 0] = proposal_cum[last]
    info[nonzero, 1] = recall_cum[last]
    return info


def match_images(
    predictions: Mapping[str, np.ndarray], ground_truth: WiderGroundTruth
) -> tuple[list[str | None], list[str]]:
    """For each ground-truth image the key of its predictions (``event/image``, else the same image name under
    another event folder; None when there is none), and the names of the images without predictions."""
    by_basename = {key.rsplit("/", 1)[-1]: key for key in predictions}
    keys: list[str | None] = []
    for name in ground_truth.names:
        keys.append(name if name in predictions else by_basename.get(name.rsplit("/", 1)[-1]))
    return keys, [name for name, key in zip(ground_truth.names, keys, strict=True) if key is None]


def evaluate_wider(
    predictions: Mapping[str, np.ndarray],
    ground_truth: str | os.PathLike | WiderGroundTruth,
    iou_threshold: float = 0.5,
    thresh_num: int = THRESH_NUM,
    strict: bool = False,
) -> dict[str, float]:
    """WIDER FACE easy / medium / hard AP of ``predictions`` ('event/image' -> ``N x 5`` x, y, w, h, score).

    Images of the ground truth without predictions count as images with no detections (``strict=True``
    raises instead). Predictions for images outside the ground truth are ignored. A setting none of whose
    faces is among the ground truth's images (a part of the set) has AP NaN.
    """
    curves = wider_pr_curves(predictions, ground_truth, iou_threshold, thresh_num, strict)
    return {s: math.nan if curve is None else voc_ap(*curve) for s, curve in curves.items()}


def wider_pr_curves(
    predictions: Mapping[str, np.ndarray],
    ground_truth: str | os.PathLike | WiderGroundTruth,
    iou_threshold: float = 0.5,
    thresh_num: int = THRESH_NUM,
    strict: bool = False,
) -> dict[str, tuple[np.ndarray, np.ndarray] | None]:
    """Per setting the official evaluation's (recall, precision) at its ``thresh_num`` score thresholds
    (None for a setting without faces); :func:`evaluate_wider`'s AP is the area under each."""
    gt = ground_truth if isinstance(ground_truth, WiderGroundTruth) else load_ground_truth(ground_truth)
    preds = _validated(predictions)
    normalize_scores(preds)  # over every prediction, as the reference does
    keys, missing = match_images(preds, gt)
    matched = [preds[key] if key is not None else None for key in keys]
    if len(missing) == len(gt.names):
        raise ValueError("no prediction matches any ground-truth image (keys must be 'event/image_name')")
    if strict and missing:
        raise ValueError(f"{len(missing)} ground-truth images have no predictions, e.g. {missing[0]}")

    thresholds = 1 - (np.arange(thresh_num) + 1) / thresh_num
    thresholds_ascending = thresholds[::-1]
    pr_curves = {s: np.zeros((thresh_num, 2)) for s in SETTINGS}
    face_counts = dict.fromkeys(SETTINGS, 0)
    for index, pred in enumerate(matched):
        gt_boxes = gt.boxes[index]
        for s in SETTINGS:
            face_counts[s] += len(gt.keep[s][index])
        if pred is None or len(gt_boxes) == 0 or len(pred) == 0:
            continue
        pred = pred[np.argsort(-pred[:, 4], kind="stable")]
        pred_xyxy = pred[:, :4].copy()
        pred_xyxy[:, 2:] += pred_xyxy[:, :2]
        gt_xyxy = gt_boxes.copy()
        gt_xyxy[:, 2:] += gt_xyxy[:, :2]
        overlaps = bbox_overlaps_inclusive(pred_xyxy, gt_xyxy)
        best_idx = overlaps.argmax(axis=1)
        best_iou = overlaps[np.arange(len(pred)), best_idx]
        for s in SETTINGS:
            pr_curves[s] += _image_pr(
                pred,
                best_iou,
                best_idx,
                gt.keep[s][index],
                len(gt_boxes),
                thresholds_ascending,
                iou_threshold,
            )

    curves: dict[str, tuple[np.ndarray, np.ndarray] | None] = {}
    for s in SETTINGS:
        if face_counts[s] == 0:
            curves[s] = None
            continue
        proposals, recalled = pr_curves[s][:, 0], pr_curves[s][:, 1]
        with np.errstate(divide="ignore", invalid="ignore"):
            precision = np.where(proposals > 0, recalled / np.where(proposals > 0, proposals, 1.0), 0.0)
        curves[s] = (recalled / face_counts[s], precision)
    return curves


def _read_prediction_txt(path: Path) -> tuple[str, np.ndarray]:
    lines = path.read_text().splitlines()
    if len(lines) < 2:
        raise ValueError(f"{path}: expected an image-name line and a count line")
    name = _strip_suffix(lines[0].strip().replace("\\", "/").rsplit("/", 1)[-1]) or path.stem
    try:
        count = int(float(lines[1].strip()))
    except ValueError:
        raise ValueError(f"{path}:2: expected the number of boxes, got {lines[1]!r}") from None
    rows = []
    for number, line in enumerate(lines[2:], start=3):
        if not line.strip():
            continue
        fields = line.split()
        try:
            rows.append([float(v) for v in fields[:5]])
        except ValueError:
            raise ValueError(f"{path}:{number}: expected 'x y w h score', got {line!r}") from None
        if len(fields) < 5:
            raise ValueError(f"{path}:{number}: expected 'x y w h score', got {line!r}")
    if len(rows) != count:
        raise ValueError(f"{path}: count line says {count} boxes but {len(rows)} follow")
    return name, np.asarray(rows, dtype=np.float64).reshape(-1, 5)


def load_predictions(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Predictions from a WIDER txt folder (``<event>/<image>.txt``) or an .npz ('event/image' -> N x 5)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"predictions not found: {path}")
    if path.is_file():
        if path.suffix != ".npz":
            raise ValueError(f"predictions must be a folder of WIDER txt files or an .npz file, got {path}")
        from retinaface_ros.io.numpy_archives import read_npz

        return _validated(read_npz(path))  # headers checked before reading: no pickles, no huge arrays
    predictions: dict[str, np.ndarray] = {}
    for txt in sorted(path.glob("*/*.txt")):
        name, boxes = _read_prediction_txt(txt)
        predictions[f"{txt.parent.name}/{name}"] = boxes
    if not predictions:
        raise ValueError(f"no <event>/<image>.txt prediction files under {path}")
    return predictions


def write_predictions(predictions: Mapping[str, np.ndarray], out_dir: str | os.PathLike) -> list[Path]:
    """Write ``<out_dir>/<event>/<image>.txt`` files (sorted by score, atomically); returns the paths."""
    out_dir = Path(out_dir)
    written = []
    for key, array in _validated(predictions).items():
        if "/" not in key:
            raise ValueError(f"prediction key {key!r} must be 'event/image_name'")
        event, image = key.rsplit("/", 1)
        array = array[np.argsort(-array[:, 4], kind="stable")]
        lines = [image, str(len(array))] + [" ".join(repr(float(v)) for v in row) for row in array]
        target = out_dir / event / f"{image}.txt"
        write_atomically(target, ("\n".join(lines) + "\n").encode())
        written.append(target)
    return written
