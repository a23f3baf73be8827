"""REP 155 (ROS4HRI) face publishing for the detector node: ``/humans/faces/tracked`` every processed frame,
per face ``/humans/faces/<id>/{roi,cropped,aligned,landmarks}``, ``face_<id>`` / ``gaze_<id>`` on /tf and
``detections_3d`` (while subscribed) when the camera's intrinsics are known.

The ids are the face tracker's (one tracker per camera, ids unique across cameras). A face's publishers are
made when its track is confirmed and removed ``linger_s`` after the track ends (REP 155: a face id is
meaningless once the face is lost). Crops and aligned faces are only computed while someone subscribes.
Everything 3D needs the camera's CameraInfo; without it the 2D outputs go on, and the node says why once
(missing) or now and then (unusable intrinsics, unpaired depth).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import cv2
import numpy as np
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, Image

from retinaface_ros.detections import Detections
from retinaface_ros.hri import DepthError, estimate_face_pose
from retinaface_ros.hri.depth import check_depth, depth_at
from retinaface_ros.hri.face_crops import alignment_matrices, face_images
from retinaface_ros.ros import face_tf, hri_messages
from retinaface_ros.ros.hri_camera_inputs import CameraInputs, depth_array, sibling_topic, stamp_ns
from retinaface_ros.tracking import FaceTracker, Track, TrackerConfig

TRACKED_TOPIC = "/humans/faces/tracked"
FACE_TOPIC = "/humans/faces/{}/{}"
CLASS_NAMES = ("face", "masked_face")
WARN_THROTTLE_S = 5.0
FACE_QOS = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST)
TRACKED_QOS = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST)
TF_QOS = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST)
SENSOR_QOS = QoSProfile(depth=5, reliability=ReliabilityPolicy.BEST_EFFORT, history=HistoryPolicy.KEEP_LAST)


class FaceObservation(NamedTuple):
    """One face to publish: a confirmed track's smoothed box and landmarks, from the node's tracker."""

    box: np.ndarray  # (4,) x1, y1, x2, y2 pixels
    landmarks: np.ndarray  # (5, 2) pixels
    score: float
    class_id: int


@dataclass(frozen=True)
class HriSettings:
    """The node's ``hri_*`` parameters."""

    crop_size: tuple[int, int] = (128, 128)  # width, height of /cropped (and of /aligned in 'face' style)
    aligned_style: str = "face"  # 'face': the crop size; 'arcface': 112×112 on the ArcFace template
    depth_topic: str = ""  # aligned depth image beside the image topic ('' = none)
    linger_s: float = 1.0  # a lost face's publishers are removed this long after its track ends

    @property
    def aligned_size(self) -> tuple[int, int]:
        return (112, 112) if self.aligned_style == "arcface" else self.crop_size


def hri_settings(params: Any) -> HriSettings:
    """The REP 155 settings of validated DetectorParams."""
    return HriSettings(
        (params.hri_crop_width, params.hri_crop_height),
        params.hri_aligned,
        params.hri_depth_topic,
        params.hri_face_linger_s,
    )


@dataclass
class FaceTopics:
    """The publishers of one face id."""

    camera: int
    roi: Any
    cropped: Any
    aligned: Any
    landmarks: Any
    lost_at: float | None = None

    def publishers(self) -> list[Any]:
        return [self.roi, self.cropped, self.aligned, self.landmarks]


@dataclass
class HriCamera:
    """One camera: its tracker, CameraInfo/depth inputs, detections_3d publisher and current face ids."""

    tracker: FaceTracker
    detections_3d: Any
    inputs: CameraInputs = field(default_factory=CameraInputs)
    subscriptions: list[Any] = field(default_factory=list)
    camera_info_topic: str = ""
    ids: list[str] = field(default_factory=list)
    warned_no_camera_info: bool = False
    problem_3d: str = "no frame processed yet"  # why the latest frame had no 3D outputs ('' = it had them)


class HriPublishers:
    """REP 155 outputs of one node for all its cameras; see the module docstring."""

    def __init__(
        self, node: Any, settings: HriSettings, camera_names: Sequence[str], topic_prefixes: Sequence[str]
    ) -> None:
        self._node = node
        self._settings = settings
        self._hri, tf_type = hri_messages.import_hri_msgs()
        from retinaface_ros.ros.interfaces import import_vision_msgs

        self._vision_msgs = import_vision_msgs()
        self._tracked_pub = node.create_publisher(self._hri.IdsList, TRACKED_TOPIC, TRACKED_QOS)
        self._tf_pub = node.create_publisher(tf_type, "/tf", TF_QOS)
        names = list(camera_names) or [""]
        self._cameras = [
            HriCamera(
                FaceTracker(TrackerConfig(id_prefix=name.replace("/", "_"))),
                node.create_publisher(
                    self._vision_msgs.Detection3DArray, f"{prefix}detections_3d", TRACKED_QOS
                ),
            )
            for name, prefix in zip(names, topic_prefixes, strict=True)
        ]
        self._faces: dict[str, FaceTopics] = {}
        self.counts = dict.fromkeys(
            (
                "frames",
                "frames_3d",
                "frames_2d_only",
                "depth_paired",
                "depth_refused",
                "depth_unpaired",
                "faces_created",
                "faces_removed",
            ),
            0,
        )

    # ------------------------------------------------------------------------------------------ inputs
    def subscribe(self, image_topics: Sequence[str], compressed: bool) -> None:
        """CameraInfo (and depth) subscriptions beside each camera's resolved image topic."""
        for camera, topic in zip(self._cameras, image_topics, strict=True):
            camera.camera_info_topic = sibling_topic(topic, "camera_info", compressed)
            camera.subscriptions = [
                self._node.create_subscription(
                    CameraInfo, camera.camera_info_topic, camera.inputs.on_camera_info, SENSOR_QOS
                )
            ]
            if self._settings.depth_topic:
                depth_topic = sibling_topic(topic, self._settings.depth_topic, compressed)
                camera.subscriptions.append(
                    self._node.create_subscription(Image, depth_topic, camera.inputs.on_depth, SENSOR_QOS)
                )

    def unsubscribe(self) -> None:
        """Stop (deactivate): drop the input subscriptions and every face, publish an empty tracked list."""
        for camera in self._cameras:
            for subscription in camera.subscriptions:
                self._node.destroy_subscription(subscription)
            camera.subscriptions = []
            camera.tracker.reset()
            camera.ids = []
        for face in list(self._faces):
            self._remove(face)
        header = self._hri.IdsList().header
        header.stamp = self._node.get_clock().now().to_msg()
        self._tracked_pub.publish(hri_messages.ids_list(header, []))

    def destroy(self) -> None:
        """Cleanup: everything this object made."""
        self.unsubscribe()
        for publisher in [self._tracked_pub, self._tf_pub] + [c.detections_3d for c in self._cameras]:
            self._node.destroy_publisher(publisher)
        self._cameras = []

    # ------------------------------------------------------------------------------------------ frames
    def on_frame(
        self,
        camera_index: int,
        header: Any,
        image: np.ndarray,
        detections: Detections | None,
        ids: Sequence[str] | None = None,
        tracks: Sequence[Track] | None = None,
    ) -> None:
        """One processed frame of one camera. The faces are the node's confirmed tracks when it tracks
        (``detections`` with their track ``ids``), or ``tracks`` as given, else this object's own tracker
        follows ``detections`` (the node's ``tracking`` off)."""
        if camera_index >= len(self._cameras):
            return
        camera = self._cameras[camera_index]
        stamp = stamp_ns(header)
        if ids is not None and detections is not None:
            track_ids = list(ids)
            faces: list[Any] = [
                FaceObservation(box, points, float(score), int(class_id))
                for box, points, score, class_id in zip(
                    detections.boxes, detections.landmarks, detections.scores, detections.classes, strict=True
                )
            ]
        else:
            if tracks is None:
                stamp_s = stamp / 1e9 if stamp > 0 else time.monotonic()
                tracks = camera.tracker.update(stamp_s, detections, image)
            faces = [track for track in tracks if track.confirmed]
            track_ids = [track.track_id for track in faces]
        face_ids = [hri_messages.face_id(track_id) for track_id in track_ids]
        camera.ids = face_ids
        self.counts["frames"] += 1
        messages = hri_messages.FrameMessages(header)
        self._tracked_pub.publish(messages.ids_list(self._all_ids()))
        topics = [self._face_topics(face, camera_index) for face in face_ids]
        self._publish_2d(messages, image.shape[:2], topics, faces)
        self._publish_images(messages, image, topics, faces)
        self._publish_3d(camera, header, image.shape[:2], stamp, face_ids, faces)
        self._expire(camera_index, set(face_ids))

    def _all_ids(self) -> list[str]:
        return [face for camera in self._cameras for face in camera.ids]

    def _face_topics(self, face: str, camera_index: int) -> FaceTopics:
        topics = self._faces.get(face)
        if topics is None:
            make = self._node.create_publisher
            topics = FaceTopics(
                camera_index,
                make(self._hri.NormalizedRegionOfInterest2D, FACE_TOPIC.format(face, "roi"), FACE_QOS),
                make(Image, FACE_TOPIC.format(face, "cropped"), FACE_QOS),
                make(Image, FACE_TOPIC.format(face, "aligned"), FACE_QOS),
                make(self._hri.FacialLandmarks, FACE_TOPIC.format(face, "landmarks"), FACE_QOS),
            )
            self._faces[face] = topics
            self.counts["faces_created"] += 1
        topics.lost_at = None
        return topics

    def _publish_2d(
        self,
        messages: hri_messages.FrameMessages,
        image_hw: tuple[int, int],
        topics: Sequence[FaceTopics],
        faces: Sequence[Track | FaceObservation],
    ) -> None:
        if not faces:
            return
        boxes = np.array([face.box for face in faces], np.float64)
        points = np.array([face.landmarks for face in faces], np.float64)
        scores = np.array([face.score for face in faces], np.float64)
        rois = messages.rois(boxes, image_hw, scores)
        landmarks = messages.landmarks(points, image_hw, scores)
        for face, roi, face_landmarks in zip(topics, rois, landmarks, strict=True):
            face.roi.publish(roi)
            face.landmarks.publish(face_landmarks)

    def _publish_images(
        self,
        messages: hri_messages.FrameMessages,
        image: np.ndarray,
        topics: Sequence[FaceTopics],
        faces: Sequence[Track | FaceObservation],
    ) -> None:
        """Cropped and aligned faces, each only while someone subscribes to it."""
        wanted = [
            (
                face,
                topic,
                topic.cropped.get_subscription_count() > 0,
                topic.aligned.get_subscription_count() > 0,
            )
            for topic, face in zip(topics, faces, strict=True)
        ]
        wanted = [job for job in wanted if job[2] or job[3]]
        if not wanted:
            return
        size = self._settings.aligned_size
        matrices = alignment_matrices(np.array([face.landmarks for face, *_ in wanted], np.float64), size)
        for (face, topic, want_cropped, want_aligned), matrix in zip(wanted, matrices, strict=True):
            cropped, aligned = face_images(
                image,
                face.box if want_cropped else None,
                matrix if want_aligned else None,
                self._settings.crop_size,
                size,
            )
            if cropped is not None:
                topic.cropped.publish(messages.image(cropped))
            if aligned is not None:
                topic.aligned.publish(messages.image(aligned))

    def _publish_3d(
        self,
        camera: HriCamera,
        header: Any,
        image_hw: tuple[int, int],
        stamp: int,
        ids: Sequence[str],
        tracks: Sequence[Track | FaceObservation],
    ) -> None:
        intrinsics, problem = camera.inputs.camera(image_hw)
        camera.problem_3d = problem
        if intrinsics is None:
            self.counts["frames_2d_only"] += 1
            self._warn_no_3d(camera, problem)
            return
        depth, encoding = self._depth(camera, stamp, image_hw)
        transforms, detections = [], []
        want_3d_detections = camera.detections_3d.get_subscription_count() > 0  # TF always, this on demand
        for face, track in zip(ids, tracks, strict=True):
            depth_m = None
            if depth is not None:
                sellion = tuple(np.asarray(track.landmarks, np.float64)[:2].mean(axis=0))
                try:
                    depth_m = depth_at(depth, encoding, image_hw, sellion, radius=self._depth_radius(track))
                except DepthError as error:
                    self.counts["depth_refused"] += 1
                    self._warn(f"REP 155 depth ignored: {error}")
                    depth = None
            try:
                pose = estimate_face_pose(track.landmarks, intrinsics, depth_m)
            except (cv2.error, ValueError, np.linalg.LinAlgError) as error:  # e.g. non-finite landmarks
                self._warn(f"REP 155: no 3D pose for face {face}: {error}")
                continue
            transforms += face_tf.face_transforms(face, pose)
            if not want_3d_detections:
                continue
            class_name = CLASS_NAMES[track.class_id] if 0 <= track.class_id < len(CLASS_NAMES) else "face"
            detections.append(
                face_tf.detection_3d(
                    self._vision_msgs, header, face, pose, track.box, intrinsics, class_name, track.score
                )
            )
        if transforms:
            self._tf_pub.publish(face_tf.tf_message_bytes(header, transforms))
        if want_3d_detections:
            array = self._vision_msgs.Detection3DArray(header=header, detections=detections)
            camera.detections_3d.publish(array)
        self.counts["frames_3d"] += 1

    @staticmethod
    def _depth_radius(track: Track | FaceObservation) -> float:
        """Half a fifth of the eye distance: the patch between the eyes, on the nose bridge."""
        eyes = np.asarray(track.landmarks, np.float64)[:2]
        return max(1.0, 0.1 * float(np.linalg.norm(eyes[1] - eyes[0])))

    def _depth(
        self, camera: HriCamera, stamp: int, image_hw: tuple[int, int]
    ) -> tuple[np.ndarray | None, str]:
        if not self._settings.depth_topic:
            return None, ""
        msg, problem = camera.inputs.depth(stamp)
        if msg is None:
            self.counts["depth_unpaired"] += 1
            self._warn(f"REP 155 depth not used on {camera.camera_info_topic.rsplit('/', 1)[0]}: {problem}")
            return None, ""
        try:
            array = depth_array(msg)
            check_depth(array, msg.encoding, image_hw)
        except ValueError as error:  # DepthError included
            self.counts["depth_refused"] += 1
            self._warn(f"REP 155 depth ignored: {error}")
            return None, ""
        self.counts["depth_paired"] += 1
        return array, msg.encoding

    def _warn_no_3d(self, camera: HriCamera, problem: str) -> None:
        text = f"REP 155: no face_/gaze_ TF and no detections_3d for {camera.camera_info_topic}: {problem}"
        if camera.inputs.camera_info_count == 0:
            if not camera.warned_no_camera_info:  # missing: said once (2D outputs are complete without it)
                camera.warned_no_camera_info = True
                self._node.get_logger().warning(text)
        else:
            self._warn(text)

    def _warn(self, text: str) -> None:
        self._node.get_logger().warning(text, throttle_duration_sec=WARN_THROTTLE_S)

    def _expire(self, camera_index: int, current: set[str]) -> None:
        now = time.monotonic()
        for face, topics in list(self._faces.items()):
            if topics.camera != camera_index or face in current:
                continue
            if topics.lost_at is None:
                topics.lost_at = now
            if now - topics.lost_at >= self._settings.linger_s:
                self._remove(face)

    def _remove(self, face: str) -> None:
        topics = self._faces.pop(face)
        for publisher in topics.publishers():
            self._node.destroy_publisher(publisher)
        self.counts["faces_removed"] += 1

    # ------------------------------------------------------------------------------------------ status
    def diagnostics(self) -> dict[str, str]:
        """Key values for the node's /diagnostics."""
        values = {f"hri_{name}": str(count) for name, count in self.counts.items()}
        values["hri_faces"] = str(len(self._all_ids()))
        values["hri_face_topics"] = str(len(self._faces))
        problems = [f"{c.camera_info_topic}: {c.problem_3d}" for c in self._cameras if c.problem_3d]
        values["hri_3d"] = "; ".join(problems) or "ok"
        return values

    @property
    def face_ids(self) -> list[str]:
        return self._all_ids()

    def image_subscribers(self) -> int:
        """The fewest subscribers any face's cropped or aligned topic has (0 without faces)."""
        counts = [p.get_subscription_count() for t in self._faces.values() for p in (t.cropped, t.aligned)]
        return min(counts, default=0)

    def has_camera(self, camera_index: int, image_hw: tuple[int, int]) -> bool:
        """True when this camera's intrinsics are known and fit images of this size."""
        return self._cameras[camera_index].inputs.camera(image_hw)[0] is not None

    def depth_received(self, camera_index: int) -> int:
        return self._cameras[camera_index].inputs.depth_count
