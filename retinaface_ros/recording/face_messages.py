"""Face detections as bag messages (rosbags): vision_msgs/Detection2DArray and
retinaface_interfaces/FaceArray, from a typestore that knows both packages from their .msg files, so an
output bag carries their full definitions (rviz, Foxglove and ``ros2 bag play`` read them without our
packages)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from retinaface_ros.detections import Detections

DETECTIONS_TYPE = "vision_msgs/msg/Detection2DArray"
FACES_TYPE = "retinaface_interfaces/msg/FaceArray"
CLASS_NAMES = ("face", "masked_face")  # as the detector node publishes them
_REPO = Path(__file__).resolve().parents[2]
_SOURCE_FOLDERS = {
    "vision_msgs": _REPO / "tools" / "vision_msgs" / "msg",
    "retinaface_interfaces": _REPO / "retinaface_interfaces" / "msg",
}


def msg_folder(package: str) -> Path:
    """The package's msg/ folder: installed (AMENT_PREFIX_PATH share/<package>/msg), else this source tree."""
    for prefix in filter(None, os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep)):
        folder = Path(prefix) / "share" / package / "msg"
        if folder.is_dir() and any(folder.glob("*.msg")):
            return folder
    folder = _SOURCE_FOLDERS[package]
    if folder.is_dir():
        return folder
    raise FileNotFoundError(
        f"message definitions of {package} not found: build the workspace (make setup / colcon build) and "
        "source install/setup.bash"
    )


def face_typestore() -> Any:
    """rosbags' latest ROS 2 typestore plus vision_msgs and retinaface_interfaces."""
    from rosbags.typesys import get_types_from_msg

    from retinaface_ros.recording.bag_rewriter import default_typestore

    typestore = default_typestore()
    types: dict = {}
    for package in ("vision_msgs", "retinaface_interfaces"):
        for file in sorted(msg_folder(package).glob("*.msg")):
            types.update(get_types_from_msg(file.read_text(), f"{package}/msg/{file.stem}"))
    typestore.register(types)
    return typestore


def face_messages(
    typestore: Any, header: Any, detections: Detections, ids: Sequence[str] | None = None
) -> tuple[Any, Any]:
    """(Detection2DArray, FaceArray) for one image, filled as the detector node fills them: same header,
    bbox centre/size in pixels, class ``face``/``masked_face``, faces[i] ↔ detections[i]."""
    t = typestore.types
    Pose2D, Point2D, BoundingBox2D = (
        t["vision_msgs/msg/Pose2D"],
        t["vision_msgs/msg/Point2D"],
        t["vision_msgs/msg/BoundingBox2D"],
    )
    Hypothesis, WithPose = (
        t["vision_msgs/msg/ObjectHypothesis"],
        t["vision_msgs/msg/ObjectHypothesisWithPose"],
    )
    PoseCov, Pose = t["geometry_msgs/msg/PoseWithCovariance"], t["geometry_msgs/msg/Pose"]
    Point, Quaternion = t["geometry_msgs/msg/Point"], t["geometry_msgs/msg/Quaternion"]
    Detection2D, FaceLandmarks = (
        t["vision_msgs/msg/Detection2D"],
        t["retinaface_interfaces/msg/FaceLandmarks"],
    )
    identity = Pose(position=Point(x=0.0, y=0.0, z=0.0), orientation=Quaternion(x=0.0, y=0.0, z=0.0, w=1.0))
    detected, faces = [], []
    rows = zip(
        detections.boxes.tolist(),
        detections.scores.tolist(),
        detections.classes.tolist(),
        detections.landmarks.tolist(),
        strict=True,
    )
    for index, ((x1, y1, x2, y2), score, cls, points) in enumerate(rows):
        score = min(max(float(score), 0.0), 1.0)
        track_id = ids[index] if ids is not None else ""
        hypothesis = WithPose(
            hypothesis=Hypothesis(class_id=CLASS_NAMES[int(cls)], score=score),
            pose=PoseCov(pose=identity, covariance=np.zeros(36, np.float64)),
        )
        bbox = BoundingBox2D(
            center=Pose2D(position=Point2D(x=(x1 + x2) / 2.0, y=(y1 + y2) / 2.0), theta=0.0),
            size_x=x2 - x1,
            size_y=y2 - y1,
        )
        detected.append(Detection2D(header=header, results=[hypothesis], bbox=bbox, id=track_id))
        landmarks = [Point(x=float(x), y=float(y), z=0.0) for x, y in points]
        fields = {"landmarks": landmarks, "score": score, "masked": int(cls) == 1, "detection_index": index}
        if "track_id" in FaceLandmarks.__dataclass_fields__:
            fields["track_id"] = track_id
        faces.append(FaceLandmarks(**fields))
    return t[DETECTIONS_TYPE](header=header, detections=detected), t[FACES_TYPE](header=header, faces=faces)
