"""Detections (numpy arrays from the learner) → Detection2DArray and FaceArray (as CDR bytes), LabelInfo,
diagnostics.

Pure message building: no tensor maths, no node; the message modules come from :mod:`.interfaces`.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Any

import numpy as np

from retinaface_ros.detections import Detections
from retinaface_ros.ros import cdr
from retinaface_ros.ros.stats import StatsSnapshot

CLASS_NAMES: tuple[str, ...] = ("face", "masked_face")


def detection_array(
    detections: Detections,
    header: Any,
    class_names: Sequence[str] = CLASS_NAMES,
    ids: Sequence[str] | None = None,
) -> bytes:
    """vision_msgs/Detection2DArray as the CDR bytes a publisher sends (see :mod:`.cdr`): one Detection2D per
    face (same header), bbox centre/size in image pixels, one hypothesis (class name, score; the pose left
    at its defaults).

    ``id`` is the face's track id (``ids[i]``, kept across messages) when faces are tracked, else empty
    (``FaceArray.faces[i].detection_index`` pairs landmarks with ``detections[i]`` within one message).
    """
    out = cdr.CdrWriter()
    head = cdr.header(header)
    out.raw(head, align=4)
    out.raw(cdr.uint32(len(detections)), align=4)
    one_result = [cdr.uint32(1) + cdr.string(name) for name in class_names]  # results: 1 hypothesis
    for index, ((x1, y1, x2, y2), score, cls) in enumerate(
        zip(detections.boxes.tolist(), detections.scores.tolist(), detections.classes.tolist(), strict=True)
    ):
        out.raw(head, align=4)
        out.raw(one_result[cls], align=4)
        score = min(max(score, 0.0), 1.0)
        bbox = ((x1 + x2) / 2.0, (y1 + y2) / 2.0, 0.0, x2 - x1, y2 - y1)  # centre x, y, theta; size x, y
        out.pack(_SCORE_POSE_BBOX, score, *_DEFAULT_POSE_WITH_COVARIANCE, *bbox, align=8)
        out.raw(cdr.string(ids[index] if ids is not None else ""), align=4)
    return out.to_bytes()


# The hypothesis' score, its geometry_msgs/PoseWithCovariance at the defaults (position 0, orientation
# (0, 0, 0, 1), covariance 0) and the BoundingBox2D: 49 float64 in a row.
_SCORE_POSE_BBOX = struct.Struct("<d7d36d5d")
_DEFAULT_POSE_WITH_COVARIANCE = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0) + (0.0,) * 36
_FACE = struct.Struct("<15d")  # geometry_msgs/Point[5]
_SCORE_MASKED = struct.Struct("<f?")


def face_array(detections: Detections, header: Any, ids: Sequence[str] | None = None) -> bytes:
    """retinaface_interfaces/FaceArray as CDR bytes, aligned with :func:`detection_array` (faces[i] ↔
    detections[i]); ``track_id`` from ``ids`` when faces are tracked."""
    out = cdr.CdrWriter()
    out.raw(cdr.header(header), align=4)
    out.raw(cdr.uint32(len(detections)), align=4)
    points_xyz = np.zeros((len(detections), 5, 3))
    points_xyz[:, :, :2] = detections.landmarks
    for index, (points, score, cls) in enumerate(
        zip(
            points_xyz.reshape(len(detections), 15).tolist(),
            detections.scores.tolist(),
            detections.classes.tolist(),
            strict=True,
        )
    ):
        out.pack(_FACE, *points, align=8)
        out.pack(_SCORE_MASKED, min(max(score, 0.0), 1.0), cls == 1, align=4)
        out.raw(cdr.uint32(index) + cdr.string(ids[index] if ids is not None else ""), align=4)
    return out.to_bytes()


def label_info(
    header: Any, threshold: float, vision_msgs: Any, class_names: Sequence[str] = CLASS_NAMES
) -> Any:
    """vision_msgs/LabelInfo: class map (0 face, 1 masked_face) and the score threshold."""
    out = vision_msgs.LabelInfo(header=header, threshold=float(threshold))
    out.class_map = [
        vision_msgs.VisionClass(class_id=i, class_name=name) for i, name in enumerate(class_names)
    ]
    return out


STARVED_AFTER_S = 5.0  # an input with publishers and not a single frame this long after activation: WARN


def starved_message(silent: Sequence[tuple[str, int]], waited_s: float, reliability: str) -> str:
    """Why the inputs ``silent`` ((topic, publisher count) pairs) may get no frame although they have
    publishers, and what to try."""
    if reliability == "reliable":
        hint = "a reliable input does not match best_effort publishers: try qos_reliability best_effort"
    else:
        hint = (
            "best_effort loses large raw frames between processes (Fast DDS sends what exceeds its shared "
            "memory as UDP fragments): try qos_reliability reliable, image/compressed or larger socket "
            "buffers"
        )
    inputs = ", ".join(f"{topic} ({count} publisher{'s' if count > 1 else ''})" for topic, count in silent)
    return f"no frame in {waited_s:.0f} s on {inputs}; {hint}"


def diagnostic_level(
    snapshot: StatsSnapshot, active: bool, warn_fraction: float = 0.3, starved: str = ""
) -> tuple[int, str]:
    """(DiagnosticStatus level, message): WARN when a large share of recent input is dropped or rejected, or
    when the input has publishers but no frame arrived (``starved``, see :func:`starved_message`)."""
    from diagnostic_msgs.msg import DiagnosticStatus

    if not active:
        return DiagnosticStatus.OK, "inactive"
    if starved:
        return DiagnosticStatus.WARN, starved
    received = max(snapshot.window_received, 1)
    if snapshot.window_rejected and snapshot.window_rejected / received >= warn_fraction:
        return DiagnosticStatus.WARN, f"rejecting input: {snapshot.last_reject_reason}"
    if snapshot.window_dropped / received >= max(warn_fraction, 0.5):
        return DiagnosticStatus.WARN, "dropping frames: inference slower than the input rate"
    if snapshot.window_received == 0:
        return DiagnosticStatus.OK, "waiting for images"
    return DiagnosticStatus.OK, "running"


def diagnostics(
    snapshot: StatsSnapshot,
    name: str,
    hardware_id: str,
    stamp: Any,
    active: bool,
    extra: dict[str, str] | None = None,
    starved: str = "",
) -> Any:
    """A diagnostic_msgs/DiagnosticArray with one status summarising ``snapshot``."""
    from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue

    level, message = diagnostic_level(snapshot, active, starved=starved)
    values = {
        "input_fps": f"{snapshot.input_fps:.2f}",
        "processed_fps": f"{snapshot.processed_fps:.2f}",
        "latency_mean_ms": f"{snapshot.latency_mean_ms:.1f}",
        "latency_p95_ms": f"{snapshot.latency_p95_ms:.1f}",
        "inference_mean_ms": f"{snapshot.inference_mean_ms:.1f}",
        "received": str(snapshot.received),
        "processed": str(snapshot.processed),
        "dropped": str(snapshot.dropped),
        "skipped_rate_limit": str(snapshot.skipped),
        "batches": str(snapshot.batches),
        "largest_batch": str(snapshot.largest_batch),
        "rejected": str(snapshot.rejected),
        "last_reject_reason": snapshot.last_reject_reason,
        **(extra or {}),
    }
    status = DiagnosticStatus(level=level, name=name, message=message, hardware_id=hardware_id)
    status.values = [KeyValue(key=key, value=value) for key, value in values.items()]
    out = DiagnosticArray()
    out.header.stamp = stamp
    out.status = [status]
    return out
