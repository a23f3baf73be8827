"""The detector node's ``image_anonymized`` output: each processed frame again, with faces covered.

Per camera: ``image_anonymized`` (same header; the input's encoding for 8-bit raw encodings, covered in
their own layout, else bgr8) and, for compressed input, ``image_anonymized/compressed`` (same format,
``jpeg_quality``). Faces are those the detector finds at ``anonymize_threshold`` (recall-biased, below
``threshold``), kept covered through misses and between detector runs (``detect_rate_hz``) at their tracked
position for ``track_max_age_s`` (one :class:`~retinaface_ros.privacy.FaceCover` per camera).

Fail closed: a frame is published only after it was processed; a frame whose inference failed is dropped,
or with ``anonymize_on_failure: blur_all`` published entirely blurred; both are counted in diagnostics.
Wires parameters and messages to the core; no maths.
"""

from __future__ import annotations

import array
import threading
from typing import Any

import numpy as np
from sensor_msgs.msg import CompressedImage, Image

from retinaface_ros.detections import Detections
from retinaface_ros.privacy import AnonymizeConfig, FaceCover, anonymize_image
from retinaface_ros.recording.bag_images import covered_raw_data
from retinaface_ros.ros.image_conversion import ENCODINGS, bgr8_to_compressed, bgr8_to_imgmsg
from retinaface_ros.ros.params import DetectorParams

RAW_TOPIC = "image_anonymized"
COMPRESSED_TOPIC = "image_anonymized/compressed"


def _config(params: DetectorParams, whole_frame: bool = False) -> AnonymizeConfig:
    if whole_frame:  # a frame that could not be checked for faces
        return AnonymizeConfig("blur", "box", 1.0, params.anonymize_threshold)
    method = params.anonymize if params.anonymize != "off" else "blur"
    return AnonymizeConfig(method, params.anonymize_shape, params.anonymize_scale, params.anonymize_threshold)


class AnonymizedOutput:
    """Publishers, temporal safety and counters of ``image_anonymized``; called from the node's worker."""

    def __init__(self) -> None:
        self._covers: dict[int, FaceCover] = {}
        self._lock = threading.Lock()
        self.published = 0
        self.dropped_failed = 0
        self.blurred_failed = 0

    @staticmethod
    def enabled(params: DetectorParams | None) -> bool:
        return params is not None and params.anonymize != "off"

    def create_publishers(self, create: Any, params: DetectorParams, prefix: str, qos: Any) -> dict[str, Any]:
        """This camera's publishers (none when ``anonymize`` is off), to add to its outputs."""
        if not self.enabled(params):
            return {}
        out = {RAW_TOPIC: create(Image, f"{prefix}{RAW_TOPIC}", qos)}
        if params.use_compressed:
            out[COMPRESSED_TOPIC] = create(CompressedImage, f"{prefix}{COMPRESSED_TOPIC}", qos)
        return out

    @classmethod
    def detection_threshold(cls, params: DetectorParams) -> float:
        """The threshold to run the detector at: the lower of the two when anonymising."""
        return min(params.threshold, params.anonymize_threshold) if cls.enabled(params) else params.threshold

    @classmethod
    def published_detections(cls, params: DetectorParams, detections: Detections | None) -> Detections | None:
        """The detections for the detections/faces topics: those at ``threshold`` (the detector may have run
        lower for anonymising)."""
        if detections is None or not cls.enabled(params) or params.anonymize_threshold >= params.threshold:
            return detections
        return detections.select(np.flatnonzero(detections.scores >= params.threshold))

    def reset(self) -> None:
        with self._lock:
            self._covers.clear()

    def publish(
        self,
        frame: Any,
        image: np.ndarray,
        detections: Detections | None,
        stamp_s: float,
        params: DetectorParams,
        publishers: dict[str, Any],
    ) -> None:
        """Cover the frame's faces (``detections`` at the detection threshold; None: the detector skipped
        this frame) and publish it."""
        if not self.enabled(params) or RAW_TOPIC not in publishers:
            return
        with self._lock:
            cover = self._covers.get(frame.camera)
            if cover is None or cover.max_age_s != params.track_max_age_s:
                cover = self._covers[frame.camera] = FaceCover(params.track_max_age_s, tracking=True)
        if detections is not None and params.anonymize_threshold > params.threshold:
            detections = detections.select(np.flatnonzero(detections.scores >= params.anonymize_threshold))
        boxes = cover.update(stamp_s, detections, image)
        self._send(frame, image, boxes, _config(params), params, publishers)
        self.published += 1

    def publish_failed(
        self, frame: Any, image: np.ndarray, params: DetectorParams, publishers: dict[str, Any]
    ) -> None:
        """A frame whose inference failed: dropped, or published entirely blurred (``blur_all``)."""
        if not self.enabled(params) or RAW_TOPIC not in publishers:
            return
        if params.anonymize_on_failure != "blur_all":
            self.dropped_failed += 1
            return
        height, width = image.shape[:2]
        whole = np.array([[0, 0, width, height]], np.float32)
        self._send(frame, image, whole, _config(params, whole_frame=True), params, publishers)
        self.blurred_failed += 1

    @staticmethod
    def _send(
        frame: Any,
        image: np.ndarray,
        boxes: np.ndarray,
        config: AnonymizeConfig,
        params: DetectorParams,
        publishers: dict[str, Any],
    ) -> None:
        msg, header = frame.msg, frame.msg.header
        raw_pub = publishers[RAW_TOPIC]
        if frame.compressed:
            covered = anonymize_image(image, boxes, config)
            fmt = "png" if "png" in msg.format.lower() else "jpeg"
            publishers[COMPRESSED_TOPIC].publish(
                bgr8_to_compressed(covered, fmt, header, params.jpeg_quality)
            )
            if raw_pub.get_subscription_count() > 0:
                raw_pub.publish(bgr8_to_imgmsg(covered, "bgr8", header))
            return
        spec = ENCODINGS[msg.encoding]
        if np.dtype(spec.dtype).itemsize == 1:  # 8-bit: the input's own encoding and layout
            data = covered_raw_data(
                msg.encoding, msg.height, msg.width, msg.step, msg.is_bigendian, msg.data, boxes, config
            )
            out = Image(
                header=header,
                height=msg.height,
                width=msg.width,
                encoding=msg.encoding,
                is_bigendian=msg.is_bigendian,
                step=msg.step,
            )
            out.data = array.array("B", data.tobytes())
            raw_pub.publish(out)
        else:
            raw_pub.publish(bgr8_to_imgmsg(anonymize_image(image, boxes, config), "bgr8", header))

    def diagnostics(self) -> dict[str, str]:
        return {
            "anonymized_published": str(self.published),
            "anonymized_dropped_failed": str(self.dropped_failed),
            "anonymized_blurred_failed": str(self.blurred_failed),
        }
