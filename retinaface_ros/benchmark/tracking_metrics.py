"""Scores for the tracking benchmark: CLEAR-MOT / identity metrics through ``motmetrics`` (IDF1, ID
switches, MOTA) against a :class:`~retinaface_ros.benchmark.tracking_sequences.Sequence`'s ground truth, the
frame-to-frame jitter of a still face, and the lag of a moving one."""

from __future__ import annotations

from collections.abc import Sequence as Seq

import numpy as np

from retinaface_ros.benchmark.tracking_sequences import FRAME_SIZE, Sequence
from retinaface_ros.detections import Detections
from retinaface_ros.tracking.association import iou_matrix

MATCH_IOU = 0.5

Output = tuple[Detections, list[str]]  # one frame's published faces and their ids


def evaluated_faces(sequence: Sequence, detections: Seq[Detections]) -> np.ndarray:
    """The faces the detector finds in every frame where they are in view and not covered (F bool): the
    ones whose tracking is scored; the others' outputs are ignored (neither hits nor false positives)."""
    shown = sequence.visible & ~sequence.occluded
    found_everywhere = shown.any(axis=0)
    for index, found in enumerate(detections):
        faces = np.flatnonzero(shown[index])
        if not len(faces):
            continue
        hit = (
            iou_matrix(sequence.boxes[index, faces], found.boxes).max(axis=1) >= MATCH_IOU
            if len(found)
            else np.zeros(len(faces), bool)
        )
        found_everywhere[faces[~hit]] = False
    return found_everywhere


def _distances(truth: np.ndarray, hypotheses: np.ndarray) -> np.ndarray:
    """motmetrics' distance: 1 - IoU, NaN (no match) below MATCH_IOU. (``motmetrics.distances.iou_matrix``
    calls ``np.asfarray``, gone in NumPy 2.)"""
    if not len(truth) or not len(hypotheses):
        return np.empty((len(truth), len(hypotheses)))
    distance = 1.0 - iou_matrix(truth, hypotheses)
    distance[distance > 1.0 - MATCH_IOU] = np.nan
    return distance


def _on_faces(boxes: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Which boxes lie on one of ``faces``: IoU ≥ MATCH_IOU, or the box's centre inside the face's box."""
    centres = (boxes[:, None, :2] + boxes[:, None, 2:]) / 2.0
    inside = ((centres >= faces[None, :, :2]) & (centres <= faces[None, :, 2:])).all(axis=2)
    return (iou_matrix(boxes, faces) >= MATCH_IOU).any(axis=1) | inside.any(axis=1)


def mot_scores(sequence: Sequence, outputs: Seq[Output], evaluated: np.ndarray) -> dict[str, float]:
    """motmetrics IDF1, ID switches, MOTA, precision, recall over the evaluated faces (occluded frames
    included: a face behind a patch is still there). Outputs on the other faces (those the detector does not
    find every frame, and faces partly out of view) are left out, as in KITTI's "don't care" regions."""
    import motmetrics as mm

    accumulator = mm.MOTAccumulator(auto_id=True)
    numbers: dict[str, int] = {}
    for index, (found, ids) in enumerate(outputs):
        in_view = sequence.visible[index]
        truth = np.flatnonzero(in_view & evaluated)
        others = np.flatnonzero(sequence.present[index] & ~(in_view & evaluated))  # partly in view too
        boxes = np.asarray(found.boxes, np.float64).reshape(-1, 4)
        keep = np.ones(len(boxes), bool)
        if len(others) and len(boxes):  # outputs on faces not scored are ignored (a "don't care" region)
            on_other = _on_faces(boxes, sequence.boxes[index, others])
            on_truth = (
                iou_matrix(boxes, sequence.boxes[index, truth]).max(axis=1) >= MATCH_IOU
                if len(truth)
                else np.zeros(len(boxes), bool)
            )
            keep = ~on_other | on_truth
        # Ids as numbers: motmetrics' tables take no strings (hex ids), and only equality matters.
        hypotheses = [
            numbers.setdefault(track_id, len(numbers))
            for track_id, kept in zip(ids, keep, strict=True)
            if kept
        ]
        distances = _distances(sequence.boxes[index, truth], boxes[keep])
        accumulator.update(truth.tolist(), hypotheses, distances)
    summary = mm.metrics.create().compute(
        accumulator,
        metrics=["idf1", "num_switches", "mota", "precision", "recall", "num_objects", "num_unique_objects"],
    )
    row = summary.iloc[0]
    return {
        "idf1": round(float(row["idf1"]), 4),
        "id_switches": int(row["num_switches"]),
        "mota": round(float(row["mota"]), 4),
        "precision": round(float(row["precision"]), 4),
        "recall": round(float(row["recall"]), 4),
        "faces_scored": int(row["num_unique_objects"]),
        "face_frames": int(row["num_objects"]),
    }


def _matched(sequence: Sequence, found: Detections, index: int) -> dict[int, int]:
    """face → output row with the best IoU ≥ MATCH_IOU in frame ``index``."""
    faces = np.flatnonzero(sequence.visible[index] & ~sequence.occluded[index])
    if not len(faces) or not len(found):
        return {}
    iou = iou_matrix(sequence.boxes[index, faces], np.asarray(found.boxes, np.float64))
    best = iou.argmax(axis=1)
    return {
        int(face): int(row)
        for face, row, value in zip(faces, best, iou.max(axis=1), strict=True)
        if value >= MATCH_IOU
    }


def jitter(
    sequence: Sequence, found: Seq[Detections], evaluated: np.ndarray, skip: int = 10
) -> dict[str, float]:
    """Mean frame-to-frame movement (pixels) of the box centre and of the landmarks of faces that do not move,
    over frames ``skip``.. (the smoother's start-up excluded)."""
    centre_steps, landmark_steps = [], []
    previous: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for index in range(len(found)):
        current = {}
        for face, row in _matched(sequence, found[index], index).items():
            if not evaluated[face]:
                continue
            box = found[index].boxes[row].astype(np.float64)
            current[face] = ((box[:2] + box[2:]) / 2.0, found[index].landmarks[row].astype(np.float64))
            if index > skip and face in previous:
                centre_steps.append(np.linalg.norm(current[face][0] - previous[face][0]))
                landmark_steps.append(np.linalg.norm(current[face][1] - previous[face][1], axis=1).mean())
        previous = current
    return {
        "centre_px": round(float(np.mean(centre_steps)), 4) if centre_steps else float("nan"),
        "landmarks_px": round(float(np.mean(landmark_steps)), 4) if landmark_steps else float("nan"),
        "samples": len(centre_steps),
    }


def _touches_border(box: np.ndarray) -> bool:
    width, height = FRAME_SIZE
    return bool(box[0] <= 0 or box[1] <= 0 or box[2] >= width or box[3] >= height)


def lag_frames(sequence: Sequence, found: Seq[Detections], evaluated: np.ndarray, skip: int = 10) -> float:
    """How many frames the outputs trail the true motion: -(error along the motion) / (true speed), over
    all evaluated faces and frames ``skip``.. (0 = on time; 1 = one frame behind)."""
    along, speed = 0.0, 0.0
    for index in range(max(skip, 1), len(found)):
        for face, row in _matched(sequence, found[index], index).items():
            if not evaluated[face] or not sequence.visible[index - 1, face]:
                continue
            truth, before = sequence.boxes[index, face], sequence.boxes[index - 1, face]
            if _touches_border(truth) or _touches_border(before):  # clipped: its centre moves otherwise
                continue
            motion = (truth[:2] + truth[2:]) / 2.0 - (before[:2] + before[2:]) / 2.0
            step = np.linalg.norm(motion)
            if step < 1e-6:
                continue
            box = found[index].boxes[row].astype(np.float64)
            error = (box[:2] + box[2:]) / 2.0 - (truth[:2] + truth[2:]) / 2.0
            along += float(error @ (motion / step))
            speed += step
    return round(-along / speed, 3) if speed else float("nan")
