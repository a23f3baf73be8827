"""``detector_node``: the RetinaFace lifecycle node. sensor_msgs/Image in; Detection2DArray, FaceArray, an
annotated image, LabelInfo and /diagnostics out.

Lifecycle: configure reads and validates the parameters (one :class:`DetectorParams`), loads the model and
makes the (lifecycle) publishers; activate subscribes and starts the inference worker; deactivate stops both
and drops the model (emptying the CUDA cache); activate loads it again. With ``autostart`` (default)
``main()`` configures and activates the node itself, so a plain ``ros2 run`` / launch works without a
lifecycle manager.

The subscription callback only checks the message metadata (O(1)) and drops it into its input's one-frame
slot; a worker thread converts and runs inference on the newest frame of every input that has one, as one
batch, so the executor never blocks and frames never queue up behind a slow model: a frame replaced in the
slot is counted as dropped. With ``cameras: [front, rear]`` the node serves several cameras this way, each
with its own topics under its namespace (``front/image`` → ``front/detections``, ...).
"""

from __future__ import annotations

import array
import math
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray
from rcl_interfaces.msg import SetParametersResult
from rclpy.executors import SingleThreadedExecutor
from rclpy.lifecycle import Node as LifecycleNode
from rclpy.lifecycle import State, TransitionCallbackReturn
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CompressedImage, Image

from retinaface_ros.ros import messages
from retinaface_ros.ros.anonymized_output import AnonymizedOutput
from retinaface_ros.ros.frame_slot import FrameSlot, Worker
from retinaface_ros.ros.heap_bound import HeapBound
from retinaface_ros.ros.hri_publishers import HriPublishers, hri_settings
from retinaface_ros.ros.image_conversion import (
    ImageConversionError,
    bgr8_to_imgmsg,
    check_image,
    compressed_to_bgr8,
    imgmsg_to_bgr8,
)
from retinaface_ros.ros.interfaces import import_interfaces, import_vision_msgs
from retinaface_ros.ros.model_path_check import check_model_path
from retinaface_ros.ros.node_runner import run_node
from retinaface_ros.ros.parameter_overrides import promote_integer_overrides
from retinaface_ros.ros.params import (
    PARAMETER_NAMES,
    PARAMETERS,
    DetectorParams,
    ParameterError,
    parameter_descriptors,
)
from retinaface_ros.ros.qos_choice import AUTO, RECHECK_PERIOD_S, choose_reliability, publisher_policies
from retinaface_ros.ros.stage_timing import StageTimes
from retinaface_ros.ros.stats import Stats
from retinaface_ros.ros.tracking_stage import TrackingStage, stamp_seconds
from retinaface_ros.ros.transport_events import TransportLosses, loss_warning

NODE_NAME = "retinaface_detector"
WARN_THROTTLE_S = 2.0
STARVED_WARN_THROTTLE_S = 30.0  # "publishers but no frames" repeats this seldom in the log
OUTPUT_QOS = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST)
LATCHED_QOS = QoSProfile(
    depth=1,
    reliability=ReliabilityPolicy.RELIABLE,
    history=HistoryPolicy.KEEP_LAST,
    durability=DurabilityPolicy.TRANSIENT_LOCAL,
)


@dataclass
class Frame:
    """A message waiting for the worker, with when it arrived."""

    msg: Any
    received: float  # time.monotonic()
    compressed: bool
    camera: int = 0  # index into params.cameras (0 for the single input)


@dataclass
class LoadedModel:
    """A ready learner and how it was made."""

    learner: Any
    device: str
    fp16: bool
    source: str


def _ros_value(value: Any) -> Any:
    return list(value) if isinstance(value, array.array) else value


def load_model(params: DetectorParams, log: Any = None) -> LoadedModel:
    """Resolve device / fp16 / weights from ``params`` and return a loaded, warmed-up learner (or raise).

    With ``torch_compile`` the warm-up compiles the network for the warm-up frame's input size."""
    from retinaface_ros.learner import RetinaFaceLearner, cuda_available

    local = check_model_path(params.model_path) if params.model_path else None
    if local is None and not params.model_url:
        raise ParameterError("no model: set model_path (a .pth file or OpenDR folder) or model_url")
    device = params.device
    if device == "auto":
        device = "cuda" if cuda_available() else "cpu"
    fp16 = params.fp16 == "true" or (params.fp16 == "auto" and device.startswith("cuda"))
    if fp16 and not device.startswith("cuda"):
        raise ParameterError("fp16=true needs a CUDA device; use fp16 'auto' or 'false' on the CPU")
    if local is not None:
        source = local
    else:
        from retinaface_ros.io.download import default_dir, download

        cache = Path(params.model_cache_dir).expanduser() if params.model_cache_dir else default_dir()
        base = None if params.model_url in ("default", "public") else params.model_url
        source = download(params.backbone, path=cache, mode="pretrained", verbose=False, url=base)
    if params.device == "auto" and device == "cpu" and log is not None:
        log.warning("device 'auto': no CUDA GPU visible to PyTorch, running on the CPU", once=True)
    torch_compile = params.torch_compile and device.startswith("cuda")
    if params.torch_compile and not torch_compile and log is not None:
        log.warning("torch_compile is ignored on the CPU", once=True)
    learner = RetinaFaceLearner(
        backbone=params.backbone,
        device=device,
        fp16=fp16,
        torch_compile=torch_compile,
        runtime=params.runtime,
        providers=params.providers,
    )
    learner.load(source, verbose=False)
    learner.detect_arrays(np.zeros((240, 320, 3), np.uint8), 0.99, 0.4, params.scales)  # warm-up
    return LoadedModel(learner, device, fp16, str(source))


def release_model(model: LoadedModel | None) -> None:
    """Drop a learner and give its GPU memory back."""
    if model is not None:
        model.learner.reset()


class DetectorNode(LifecycleNode):
    """RetinaFace face detector as a managed node; see the module docstring."""

    def __init__(self, node_name: str = NODE_NAME, **kwargs: Any) -> None:
        super().__init__(node_name, **kwargs)
        # Everything destroy_node() touches exists before anything below can raise.
        self.params: DetectorParams | None = None
        self.model: LoadedModel | None = None
        self.stats = Stats()
        self.tracking = TrackingStage()  # one tracker per camera, kept for the node's lifetime (ids)
        self.anonymized = AnonymizedOutput()  # image_anonymized (parameter anonymize)
        self._slot: FrameSlot[Frame] = FrameSlot()
        self._worker: Worker | None = None
        self._model_lock = threading.Lock()
        self._last_start = 0.0
        self._rate_waiting = False
        self._active = False
        self._finalized = False  # the lifecycle shutdown transition ran: main() exits (code 0)
        self._activated_at = 0.0
        self._frames_in: list[int] = []  # messages received per input since activation
        self._input_subscriptions: list[Any] = []
        self._reliability: list[Any] = []  # per input: the ReliabilityPolicy subscribed with
        self._qos_timer = None  # qos_reliability auto: re-checks the publishers
        self._inputs_lock = threading.Lock()  # the subscriptions: the re-check timer vs. transitions
        self._losses = TransportLosses()  # frames the middleware reported lost, per input
        self._stages = StageTimes()  # where the latency goes: transport, wait, convert, infer, publish
        self.heap = HeapBound()  # large frames' memory goes back to the system (see heap_bound)
        self._outputs: list[dict[str, Any]] = []  # per input: detections, faces, image_annotated
        self._label_info_pub = None
        self._diagnostics_pub = None
        self._diagnostics_timer = None
        self._hri: HriPublishers | None = None  # REP 155 outputs (parameter hri)
        promote_integer_overrides(self, [spec.name for spec in PARAMETERS if isinstance(spec.default, float)])
        descriptors = parameter_descriptors()
        for spec in PARAMETERS:
            self.declare_parameter(spec.name, spec.default, descriptors[spec.name])
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self._vision_msgs = import_vision_msgs()
        self._face_array_type, _, _ = import_interfaces()

    # ------------------------------------------------------------------------------------------ parameters
    def _parameter_values(self) -> dict[str, Any]:
        return {n: _ros_value(self.get_parameter(n).value) for n in PARAMETER_NAMES}

    def read_parameters(self) -> DetectorParams:
        """All declared parameters, validated into one object (raises ParameterError)."""
        return DetectorParams.from_values(self._parameter_values())

    def _on_set_parameters(self, parameters: list[Any]) -> SetParametersResult:
        # Only this node's own settings; built-ins such as use_sim_time are rclpy's business.
        changes = {p.name: _ros_value(p.value) for p in parameters if p.name in PARAMETER_NAMES}
        if not changes:
            return SetParametersResult(successful=True)
        try:
            if changes.get("model_path"):  # checked in every state, not only at the next configure
                check_model_path(changes["model_path"])
            if self.params is None:  # unconfigured: anything valid goes, applied at configure
                DetectorParams.from_values({**self._parameter_values(), **changes})
                return SetParametersResult(successful=True)
            new = self.params.updated(changes, configured=True)
            if "model_path" in changes:  # the same path too: the file may have been re-written (re-deploy)
                self._swap_model(new)
        except (ParameterError, OSError, ValueError, TypeError, RuntimeError) as error:  # OSError: model file
            return SetParametersResult(successful=False, reason=str(error))
        old, self.params = self.params, new
        self.tracking.configure(new)
        if new.threshold != old.threshold and self._active:
            self._publish_label_info()
        return SetParametersResult(successful=True)

    def _swap_model(self, params: DetectorParams) -> None:
        """Load the model ``params`` names; swap it in only when that worked (else raise, keep the old)."""
        if not params.model_path:
            raise ParameterError("model_path cannot be emptied while the node is configured")
        if self.model is None:  # inactive: the model is loaded at activate
            return
        # Loaded and warmed up while the worker waits: inference pauses for the load instead of competing.
        with self._model_lock:
            loaded = load_model(params, self.get_logger())
            old, self.model = self.model, loaded
        self.get_logger().info(f"model reloaded from {loaded.source}")
        release_model(old)

    # ------------------------------------------------------------------------------------------ lifecycle
    def on_configure(self, state: State) -> TransitionCallbackReturn:
        try:
            self.params = self.read_parameters()
            self.tracking.configure(self.params)
            self.model = load_model(self.params, self.get_logger())
        except Exception as error:
            self.get_logger().error(f"configure failed: {error}")
            self.params = None
            self.model = None
            return TransitionCallbackReturn.FAILURE
        vm = self._vision_msgs
        publisher = self.create_lifecycle_publisher
        self._outputs = [
            {
                "detections": publisher(vm.Detection2DArray, f"{prefix}detections", OUTPUT_QOS),
                "faces": publisher(self._face_array_type, f"{prefix}faces", OUTPUT_QOS),
                "image_annotated": publisher(Image, f"{prefix}image_annotated", OUTPUT_QOS),
                **self.anonymized.create_publishers(publisher, self.params, prefix, OUTPUT_QOS),
            }
            for prefix in self.params.topic_prefixes
        ]
        self._label_info_pub = publisher(vm.LabelInfo, "label_info", LATCHED_QOS)
        self._diagnostics_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        if self.params.hri:
            try:
                self._hri = HriPublishers(
                    self, hri_settings(self.params), self.params.cameras, self.params.topic_prefixes
                )
            except RuntimeError as error:  # hri_msgs / tf2_msgs missing
                self.get_logger().error(f"configure failed: {error}")
                self._destroy_outputs()
                self._drop_model()
                self.params = None
                return TransitionCallbackReturn.FAILURE
        self._diagnostics_timer = self.create_timer(self.params.diagnostics_period, self._publish_diagnostics)
        self.get_logger().info(
            f"configured: {self.params.backbone} on {self.model.device}{' fp16' if self.model.fp16 else ''}"
            f"{' torch.compile' if self.model.learner.torch_compile else ''} from {self.model.source}"
        )
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: State) -> TransitionCallbackReturn:
        assert self.params is not None
        if self.model is None:
            try:
                self.model = load_model(self.params, self.get_logger())
            except Exception as error:
                self.get_logger().error(f"activate failed: model did not load: {error}")
                return TransitionCallbackReturn.FAILURE
        result = super().on_activate(state)
        self.stats.reset()
        self._stages.reset()
        self.tracking.reset()
        self.anonymized.reset()
        self._slot = FrameSlot()
        self._worker = Worker(self._slot, self._process, wait=self._rate_wait)
        self._worker.start()
        inputs = len(self.params.topic_prefixes)
        self._losses.reset(inputs)
        self._reliability = [None] * inputs
        self._input_subscriptions = [None] * inputs
        for camera in range(inputs):
            self._subscribe(camera)
        if self.params.qos_reliability == AUTO:
            self._qos_timer = self.create_timer(RECHECK_PERIOD_S, self._recheck_reliability)
        self._frames_in = [0] * len(self._input_subscriptions)
        if self._hri is not None:
            self._hri.subscribe(
                [sub.topic_name for sub in self._input_subscriptions], self.params.use_compressed
            )
        self._active = True
        self._activated_at = time.monotonic()
        self._publish_label_info()
        topics = ", ".join(subscription.topic_name for subscription in self._input_subscriptions)
        self.get_logger().info(f"active: listening on {topics}")
        return result

    def _input_topic(self, camera: int) -> str:
        assert self.params is not None
        prefix = self.params.topic_prefixes[camera]
        relative = f"{prefix}image/compressed" if self.params.use_compressed else f"{prefix}image"
        return self.resolve_topic_name(relative)

    def _subscribe(self, camera: int) -> None:
        """(Re-)create input ``camera``'s subscription with the reliability its setting and publishers call
        for; log the choice when it changed."""
        assert self.params is not None
        topic = self._input_topic(camera)
        choice = choose_reliability(self.params.qos_reliability, publisher_policies(self, topic))
        if self._input_subscriptions[camera] is not None:
            if choice.policy == self._reliability[camera]:
                return
            self.destroy_subscription(self._input_subscriptions[camera])
        qos = QoSProfile(
            depth=self.params.qos_depth, history=HistoryPolicy.KEEP_LAST, reliability=choice.policy
        )
        if self.params.use_compressed:
            callback, kind = (lambda msg: self._on_compressed(msg, camera)), CompressedImage
        else:
            callback, kind = (lambda msg: self._on_image(msg, camera)), Image
        self._input_subscriptions[camera] = self.create_subscription(
            kind, topic, callback, qos, event_callbacks=self._losses.callbacks(camera)
        )
        self._reliability[camera] = choice.policy
        self.get_logger().info(f"input {topic}: subscribing {choice.name} ({choice.reason})")

    def _recheck_reliability(self) -> None:
        """Timer (qos_reliability auto): follow the publishers as they come and go."""
        with self._inputs_lock:  # not while a transition (maybe from another thread) tears the inputs down
            if self._active and self.params is not None:
                for camera in range(len(self._input_subscriptions)):
                    self._subscribe(camera)

    @property
    def input_reliability(self) -> list[str]:
        """Per input: the reliability its subscription uses now ('reliable' / 'best_effort')."""
        return [
            "reliable" if policy == ReliabilityPolicy.RELIABLE else "best_effort"
            for policy in self._reliability
        ]

    def on_deactivate(self, state: State) -> TransitionCallbackReturn:
        self._stop_processing()
        result = super().on_deactivate(state)
        self._drop_model()
        return result

    def on_cleanup(self, state: State) -> TransitionCallbackReturn:
        self._stop_processing()
        self._destroy_outputs()
        self._drop_model()
        self.params = None
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: State) -> TransitionCallbackReturn:
        result = self.on_cleanup(state)
        self._finalized = True
        return result

    def on_error(self, state: State) -> TransitionCallbackReturn:
        self.get_logger().error("error processing: cleaning up")
        return self.on_cleanup(state)

    def _stop_processing(self) -> None:
        with self._inputs_lock:
            self._active = False
            if self._qos_timer is not None:
                self.destroy_timer(self._qos_timer)
                self._qos_timer = None
            for subscription in self._input_subscriptions:
                if subscription is not None:
                    self.destroy_subscription(subscription)
            self._input_subscriptions = []
        if self._worker is not None:
            if not self._worker.stop():
                self.get_logger().warning("inference worker still busy after 10 s; leaving it to finish")
            self._worker = None
        if self._hri is not None:
            self._hri.unsubscribe()

    def _destroy_outputs(self) -> None:
        for publisher in [p for outputs in self._outputs for p in outputs.values()] + [self._label_info_pub]:
            if publisher is not None:
                self.destroy_lifecycle_publisher(publisher)
        self._outputs, self._label_info_pub = [], None
        if self._hri is not None:
            self._hri.destroy()
            self._hri = None
        if self._diagnostics_timer is not None:
            self.destroy_timer(self._diagnostics_timer)
            self._diagnostics_timer = None
        if self._diagnostics_pub is not None:
            self.destroy_publisher(self._diagnostics_pub)
            self._diagnostics_pub = None

    def _drop_model(self) -> None:
        """Release the model (after an inference still in progress, which holds the lock)."""
        with self._model_lock:
            model, self.model = self.model, None
        release_model(model)

    def destroy_node(self) -> None:
        self._stop_processing()
        self._drop_model()
        super().destroy_node()

    # ------------------------------------------------------------------------------------------ input
    def _reject(self, reason: str, frames: int = 1) -> None:
        for _ in range(frames):
            self.stats.on_reject(reason)
        self.get_logger().warning(f"frame rejected: {reason}", throttle_duration_sec=WARN_THROTTLE_S)

    def _on_image(self, msg: Image, camera: int = 0) -> None:
        self.stats.on_input()
        self.heap.note(len(getattr(msg, "data", b"") or b""))
        self._count_frame(camera)
        try:
            check_image(msg)
        except ImageConversionError as error:
            self._reject(str(error))
            return
        except Exception as error:  # anything else odd about the message
            self._reject(f"malformed Image: {error!r}")
            return
        self._enqueue(Frame(msg, time.monotonic(), compressed=False, camera=camera))

    def _on_compressed(self, msg: CompressedImage, camera: int = 0) -> None:
        self.stats.on_input()
        self.heap.note(len(getattr(msg, "data", b"") or b""))
        self._count_frame(camera)
        self._enqueue(Frame(msg, time.monotonic(), compressed=True, camera=camera))

    def _count_frame(self, camera: int) -> None:
        if camera < len(self._frames_in):
            self._frames_in[camera] += 1

    def _enqueue(self, frame: Frame) -> None:
        if self._slot.put(frame, key=frame.camera):
            if self._rate_waiting:  # the worker is idle on purpose (max_rate_hz): the frame is skipped
                self.stats.on_skip()
            else:
                self.stats.on_drop()

    # ------------------------------------------------------------------------------------------ worker
    def _now(self) -> float:
        """The node's clock in seconds: system time, or /clock with use_sim_time (bag playback, tests)."""
        return self.get_clock().now().nanoseconds / 1e9

    def _rate_wait(self, stop: threading.Event) -> None:
        """Wait until 1 / max_rate_hz after the last start on the node's clock; a stop ends the wait, so
        does a clock that jumps back (the remaining time would exceed one period)."""
        params = self.params
        if params is None or params.max_rate_hz <= 0:
            return
        period = 1.0 / params.max_rate_hz
        next_start = self._last_start + period
        remaining = next_start - self._now()
        if not 0 < remaining <= period:
            return
        self._rate_waiting = True
        try:
            while not stop.is_set() and 0 < remaining <= period:
                stop.wait(min(remaining, 0.1))  # then re-read the clock: sim time may advance in steps
                remaining = next_start - self._now()
        finally:
            self._rate_waiting = False

    def _convert(self, frame: Frame) -> np.ndarray | None:
        """The frame as BGR uint8; None (counted as rejected, logged) when it cannot be converted."""
        try:
            return compressed_to_bgr8(frame.msg) if frame.compressed else imgmsg_to_bgr8(frame.msg)
        except ImageConversionError as error:
            self._reject(str(error))
        except Exception as error:
            self._reject(f"could not convert the image: {error!r}")
        return None

    def _process(self, frames: list[Frame]) -> None:
        """Worker thread: convert, detect (the frames of all cameras waiting, as one batch), publish. Never
        raises."""
        self._last_start = self._now()  # max_rate_hz: on the node's clock (sim time with use_sim_time)
        taken = time.monotonic()
        converted = [(frame, self._convert(frame)) for frame in frames]
        convert_s = (time.monotonic() - taken) / max(len(frames), 1)
        batch = [(frame, image) for frame, image in converted if image is not None]
        params = self.params
        if not batch or params is None:
            return
        # With tracking and detect_rate_hz, frames between detector runs skip the model (tracks move on them).
        detect = [self.tracking.wants_detection(frame.camera, _stamp_s(frame)) for frame, _ in batch]
        images = [image for (_, image), wanted in zip(batch, detect, strict=True) if wanted]
        # Under the lock: a model swap or drop waits for this inference instead of resetting the learner
        # in the middle of it.
        with self._model_lock:
            model = self.model
            if model is None:
                return
            start = time.perf_counter()
            try:
                threshold = self.anonymized.detection_threshold(params)  # lower when anonymising
                found = (
                    model.learner.detect_arrays_batch(
                        images, threshold, params.nms_threshold, params.scales, params.mask_thresh
                    )
                    if images
                    else []
                )
            except Exception as error:
                shapes = ", ".join(str(image.shape) for image in images)
                self._reject(f"inference failed on {shapes}: {error!r}", frames=len(images))
                for (frame, image), wanted in zip(batch, detect, strict=True):  # fail closed
                    if wanted and frame.camera < len(self._outputs):
                        self.anonymized.publish_failed(frame, image, params, self._outputs[frame.camera])
                return
            inference_s = time.perf_counter() - start
        if images:
            self.stats.on_batch(len(images))
        if params.debug_delay_ms > 0:
            time.sleep(params.debug_delay_ms / 1000.0)
        results = iter(found)
        found = [next(results) if wanted else None for wanted in detect]
        for (frame, image), detections in zip(batch, found, strict=True):
            publish_start = time.perf_counter()
            try:
                self._publish(frame, image, detections, params)
            except Exception as error:  # e.g. the context shut down under us
                self.get_logger().error(
                    f"publishing failed: {error!r}", throttle_duration_sec=WARN_THROTTLE_S
                )
                return
            self.stats.on_processed(self._latency(frame), inference_s if detections is not None else 0.0)
            infer_s = inference_s if detections is not None else math.nan  # nan: tracked, not detected
            self._record_stages(frame, taken, convert_s, infer_s, time.perf_counter() - publish_start)

    def _publish(self, frame: Frame, image: np.ndarray, detections: Any, params: DetectorParams) -> None:
        header = frame.msg.header
        outputs = self._outputs
        if frame.camera >= len(outputs) or not self._active:
            return
        pubs = outputs[frame.camera]
        self.anonymized.publish(frame, image, detections, _stamp_s(frame), params, pubs)
        detections = self.anonymized.published_detections(params, detections)
        detections, ids = self.tracking.follow(frame.camera, _stamp_s(frame), detections, image)
        pubs["detections"].publish(messages.detection_array(detections, header, ids=ids))
        pubs["faces"].publish(messages.face_array(detections, header, ids))
        annotated = pubs["image_annotated"]
        if params.publish_annotated and annotated.get_subscription_count() > 0:
            from retinaface_ros.drawing import draw_bounding_boxes
            from retinaface_ros.tracking.annotate import draw_track_ids

            canvas = draw_bounding_boxes(image, detections.to_bounding_boxes())
            if ids is not None:
                draw_track_ids(canvas, detections, ids)
            annotated.publish(bgr8_to_imgmsg(canvas, "bgr8", header))
        if self._hri is not None:
            self._hri.on_frame(
                frame.camera, header, image, detections, tracks=self.tracking.published_tracks(frame.camera)
            )

    def _record_stages(
        self, frame: Frame, taken: float, convert_s: float, inference_s: float, publish_s: float
    ) -> None:
        """Per-stage timing for diagnostics (see :mod:`.stage_timing`); transport only with a valid stamp."""
        stamp = frame.msg.header.stamp
        stamp_ns = stamp.sec * 1_000_000_000 + stamp.nanosec
        in_node = time.monotonic() - frame.received
        transport = math.nan
        if stamp_ns > 0:
            age = (self.get_clock().now().nanoseconds - stamp_ns) / 1e9  # stamp → now
            transport = age - in_node if 0.0 <= age - in_node < 3600.0 else math.nan
        self._stages.add(
            transport=transport,
            wait=taken - frame.received,
            convert=convert_s,
            infer=inference_s,
            publish=publish_s,
        )

    def _latency(self, frame: Frame) -> float:
        """Header stamp → now (ROS clock) when the stamp is set and plausible, else arrival → now."""
        stamp = frame.msg.header.stamp
        stamp_ns = stamp.sec * 1_000_000_000 + stamp.nanosec
        if stamp_ns > 0:
            latency = (self.get_clock().now().nanoseconds - stamp_ns) / 1e9
            if 0.0 <= latency < 3600.0:
                return latency
        return time.monotonic() - frame.received

    # ------------------------------------------------------------------------------------------ outputs
    def output_publisher(self, name: str, camera: int = 0) -> Any:
        """The publisher of output ``name`` ('detections', 'faces', 'image_annotated', 'image_anonymized', …)
        of camera ``camera`` while the node is configured (e.g. to see who subscribes)."""
        return self._outputs[camera][name]

    def _publish_label_info(self) -> None:
        publisher = self._label_info_pub
        if publisher is None or self.params is None:
            return
        header = self._vision_msgs.Detection2DArray().header
        header.stamp = self.get_clock().now().to_msg()
        publisher.publish(messages.label_info(header, self.params.threshold, self._vision_msgs))

    def _publish_diagnostics(self) -> None:
        self.heap.maybe_trim()
        if self._diagnostics_pub is None:
            return
        model = self.model
        extra = {
            "state": "active" if self._active else "inactive",
            "device": model.device if model else "",
            "fp16": str(model.fp16) if model else "",
            "torch_compile": str(model.learner.torch_compile) if model else "",
            "model": model.source if model else "",
            "backbone": self.params.backbone if self.params else "",
            "worker_alive": str(bool(self._worker and self._worker.is_alive())),
            "inputs": ", ".join(subscription.topic_name for subscription in self._input_subscriptions),
            **self.tracking.diagnostics(),
            **(self.anonymized.diagnostics() if self.anonymized.enabled(self.params) else {}),
        }
        if self._hri is not None:
            extra.update(self._hri.diagnostics())
        snapshot = self.stats.snapshot()
        publishers = [self.count_publishers(sub.topic_name) for sub in self._input_subscriptions]
        extra["input_publishers"] = str(sum(publishers))
        extra.update(self._transport_values())
        extra.update(self._stages.diagnostics_values())
        starved = self._starved(publishers)
        if starved:
            self.get_logger().warning(starved, throttle_duration_sec=STARVED_WARN_THROTTLE_S)
        else:
            starved = self._loss_warning(snapshot.window_received)
            if starved:
                self.get_logger().warning(starved, throttle_duration_sec=WARN_THROTTLE_S)
        self._diagnostics_pub.publish(
            messages.diagnostics(
                snapshot,
                self.get_fully_qualified_name(),
                extra["device"],
                self.get_clock().now().to_msg(),
                self._active,
                extra,
                starved,
            )
        )

    def _transport_values(self) -> dict[str, str]:
        """Diagnostics values: each input's reliability and the frames the middleware lost on it."""
        topics = [subscription.topic_name for subscription in self._input_subscriptions]
        losses = self._losses.snapshot()
        return {
            "input_reliability": ", ".join(
                f"{topic}: {name}" for topic, name in zip(topics, self.input_reliability, strict=False)
            ),
            "transport_lost": str(sum(item.lost for item in losses)),
            "transport_lost_by_input": ", ".join(
                f"{topic}: {item.lost}" for topic, item in zip(topics, losses, strict=False)
            ),
            "incompatible_qos": str(sum(item.incompatible_qos for item in losses)),
        }

    def _loss_warning(self, window_received: int) -> str:
        if not self._active or self.params is None:
            return ""
        return loss_warning(
            [subscription.topic_name for subscription in self._input_subscriptions],
            self._losses.snapshot(),
            window_received,
            self.input_reliability,
            self.params.qos_depth,
            self._losses.window_s,
        )

    def _starved(self, publishers: list[int]) -> str:
        """Why inputs that have publishers got no message since activation (once that is ``STARVED_AFTER_S``
        ago), or ''."""
        waited = time.monotonic() - self._activated_at
        if not self._active or self.params is None or waited < messages.STARVED_AFTER_S:
            return ""
        silent = [
            (sub.topic_name, count)
            for sub, count, frames in zip(
                self._input_subscriptions, publishers, self._frames_in, strict=False
            )
            if count and not frames
        ]
        reliability = self.params.qos_reliability
        if reliability == AUTO:  # what it chose for the silent inputs
            reliability = "reliable" if "reliable" in self.input_reliability else "best_effort"
        return messages.starved_message(silent, waited, reliability) if silent else ""

    @property
    def active(self) -> bool:
        return self._active

    @property
    def finalized(self) -> bool:
        """The lifecycle ``shutdown`` transition ran; ``main()`` then exits with code 0."""
        return self._finalized


def _stamp_s(frame: Frame) -> float:
    """The frame's header stamp in seconds (its arrival time when unset): the tracker's clock."""
    stamp = frame.msg.header.stamp
    return stamp_seconds(stamp.sec, stamp.nanosec, frame.received)


def _autostart(node: DetectorNode) -> str | None:
    """With ``autostart``, configure + activate; the reason to exit when either fails."""
    if not node.get_parameter("autostart").value:
        return None
    if node.trigger_configure() != TransitionCallbackReturn.SUCCESS:
        return "configure failed (see the error above); exiting"
    if node.trigger_activate() != TransitionCallbackReturn.SUCCESS:
        return "activate failed (see the error above); exiting"
    return None


def main(args: list[str] | None = None) -> int:
    """Run the node: configure + activate when ``autostart``; exit 0 on Ctrl-C, on the lifecycle ``shutdown``
    transition or an external shutdown, 1 on failure."""
    return run_node(
        NODE_NAME,
        DetectorNode,
        SingleThreadedExecutor,
        start=_autostart,
        until=lambda node: node.finalized,
        args=args,
    )


if __name__ == "__main__":
    sys.exit(main())
