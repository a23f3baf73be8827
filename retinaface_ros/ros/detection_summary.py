"""One line per Detection2DArray / FaceArray message, for ``retinaface echo``: stamp, frame, faces, ids,
scores and latency (header stamp → now)."""

from __future__ import annotations

from typing import Any

DETECTION_TYPES = ("vision_msgs/msg/Detection2DArray", "retinaface_interfaces/msg/FaceArray")
MAX_LISTED = 8  # faces listed by id/score; more are counted as "+N"


def _listed(values: list[str]) -> str:
    shown = " ".join(values[:MAX_LISTED])
    return f"{shown} +{len(values) - MAX_LISTED}" if len(values) > MAX_LISTED else shown


def stamp_seconds(header: Any) -> float:
    return header.stamp.sec + header.stamp.nanosec * 1e-9


def summary(msg: Any, type_name: str, now_s: float) -> str:
    """``<stamp> <frame_id> faces=N ids=[...] scores=[...] latency=X ms`` ('-' when the stamp is 0)."""
    if type_name.endswith("/Detection2DArray"):
        items = msg.detections
        ids = [det.id or "-" for det in items]
        scores = [max((r.hypothesis.score for r in det.results), default=0.0) for det in items]
        classes = [det.results[0].hypothesis.class_id if det.results else "" for det in items]
        masked = sum(1 for name in classes if name == "masked_face")
    else:
        items = msg.faces
        ids = [str(face.detection_index) for face in items]
        scores = [face.score for face in items]
        masked = sum(1 for face in items if face.masked)
    stamp = stamp_seconds(msg.header)
    latency = f"{(now_s - stamp) * 1000.0:.1f} ms" if stamp > 0 else "-"
    parts = [
        f"{stamp:.3f}",
        msg.header.frame_id or "-",
        f"faces={len(items)}",
        f"ids=[{_listed(ids)}]",
        f"scores=[{_listed([f'{score:.2f}' for score in scores])}]",
    ]
    if masked:
        parts.append(f"masked={masked}")
    parts.append(f"latency={latency}")
    return " ".join(parts)
