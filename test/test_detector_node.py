"""The detector node over real rclpy + DDS: parity with the learner, headers, outputs, bad input, drops,
live parameters, model reload, lifecycle, and one run as a separate process."""

from __future__ import annotations

import array
import os
import signal
import subprocess
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import box_iou
from ros_helpers import (
    REPO_ROOT,
    BackgroundSpin,
    cpu_detector_node,
    kill_if_running,
    node_process,
    require_rclpy,
    wait_for,
)

pytestmark = pytest.mark.ros
rclpy = require_rclpy()

from builtin_interfaces.msg import Time as RosTime  # noqa: E402
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus  # noqa: E402
from lifecycle_msgs.srv import GetState  # noqa: E402
from rclpy.lifecycle import TransitionCallbackReturn  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy  # noqa: E402
from rosgraph_msgs.msg import Clock  # noqa: E402
from sensor_msgs.msg import CompressedImage, Image  # noqa: E402

from retinaface_ros.learner import RetinaFaceLearner  # noqa: E402
from retinaface_ros.ros import messages  # noqa: E402
from retinaface_ros.ros.detector_node import DetectorNode, load_model, release_model  # noqa: E402
from retinaface_ros.ros.image_conversion import bgr8_to_compressed, bgr8_to_imgmsg, compressed_to_bgr8  # noqa: E402
from retinaface_ros.ros.interfaces import import_interfaces, import_vision_msgs  # noqa: E402
from retinaface_ros.ros.params import DetectorParams, ParameterError  # noqa: E402

VM = import_vision_msgs()
FACE_ARRAY = import_interfaces()[0]
SCALES = [480, 860]
SUCCESS = TransitionCallbackReturn.SUCCESS
RELIABLE = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
NS = f"/t{os.getpid()}"  # this session's own namespace: no crosstalk even if another run shares the domain


class Probe:
    """Test-side node: publishes frames, records every output keyed by frame_id."""

    def __init__(self, context, namespace: str = "") -> None:
        self.node = rclpy.create_node("probe", namespace=namespace, context=context)
        self.detections: dict[str, object] = {}
        self.faces: dict[str, object] = {}
        self.annotated: dict[str, object] = {}
        self.arrivals: dict[str, float] = {}
        self.diagnostics: dict[str, dict[str, str]] = {}
        self.levels: dict[str, int] = {}
        self.messages: dict[str, str] = {}
        self.image_pub = self.node.create_publisher(Image, "image", RELIABLE)
        self.compressed_pub = self.node.create_publisher(CompressedImage, "image/compressed", RELIABLE)
        self.node.create_subscription(VM.Detection2DArray, "detections", self._on_detections, RELIABLE)
        self.node.create_subscription(
            FACE_ARRAY, "faces", lambda m: self.faces.__setitem__(m.header.frame_id, m), RELIABLE
        )
        self.node.create_subscription(
            Image, "image_annotated", lambda m: self.annotated.__setitem__(m.header.frame_id, m), RELIABLE
        )
        self.node.create_subscription(DiagnosticArray, "/diagnostics", self._on_diagnostics, 10)

    def _on_detections(self, msg) -> None:
        self.arrivals[msg.header.frame_id] = self.node.get_clock().now().nanoseconds / 1e9
        self.detections[msg.header.frame_id] = msg

    def _on_diagnostics(self, msg) -> None:
        for status in msg.status:
            self.diagnostics[status.name] = {kv.key: kv.value for kv in status.values}
            self.levels[status.name] = status.level
            self.messages[status.name] = status.message

    def stamp(self, msg, frame_id: str):
        msg.header.frame_id = frame_id
        msg.header.stamp = self.node.get_clock().now().to_msg()
        return msg

    def counter(self, node_name: str, key: str) -> int:
        return int(self.diagnostics.get(node_name, {}).get(key, -1))


@pytest.fixture(scope="module")
def selfie(selfie_path) -> np.ndarray:
    return cv2.imread(str(selfie_path))


@pytest.fixture(scope="module")
def reference(mnet_weights) -> RetinaFaceLearner:
    learner = RetinaFaceLearner("mnet", device="cpu")
    learner.load(mnet_weights, verbose=False)
    return learner


def cpu_detector(context, namespace: str, weights, **overrides) -> DetectorNode:
    """A detector on the CPU at the test scales with reliable input, plus ``overrides`` (name=value)."""
    return cpu_detector_node(context, namespace, weights, **{"scales": SCALES, **overrides})


@pytest.fixture(scope="module")
def ros(mnet_weights):
    """One context: the detector (reliable input, fast diagnostics), the probe, a background executor."""
    with BackgroundSpin() as spinner:
        node = cpu_detector(spinner.context, NS, mnet_weights, diagnostics_period=0.2)
        assert node.trigger_configure() == SUCCESS
        assert node.trigger_activate() == SUCCESS
        probe = Probe(spinner.context, namespace=NS)
        spinner.add(node, probe.node)
        assert wait_for(
            lambda: annotated_subscribers(node) > 0 and probe.image_pub.get_subscription_count() > 0
        )
        yield node, probe, spinner.executor


def annotated_subscribers(node) -> int:
    """Subscriptions matched by the node's image_annotated publisher (it draws only while there are some)."""
    topic = f"{node.get_namespace()}/image_annotated"
    return sum(pub.get_subscription_count() for pub in node.publishers if pub.topic_name == topic)


def boxes_of(msg) -> np.ndarray:
    out = []
    for det in msg.detections:
        cx, cy = det.bbox.center.position.x, det.bbox.center.position.y
        out.append(
            [
                cx - det.bbox.size_x / 2,
                cy - det.bbox.size_y / 2,
                cx + det.bbox.size_x / 2,
                cy + det.bbox.size_y / 2,
            ]
        )
    return np.array(out, np.float64).reshape(-1, 4)


def assert_matches_reference(probe: Probe, frame_id: str, sent_header, image: np.ndarray, reference) -> None:
    assert wait_for(
        lambda: frame_id in probe.detections and frame_id in probe.faces and frame_id in probe.annotated
    ), f"no output for {frame_id}"
    msg = probe.detections[frame_id]
    assert msg.header == sent_header
    expected = reference.infer(image, threshold=0.8, nms_threshold=0.4, scales=SCALES, mask_thresh=0.8)
    assert len(expected) > 20 and len(msg.detections) == len(expected)
    assert np.all(np.diag(box_iou(boxes_of(msg), np.array([box.xyxy() for box in expected]))) >= 0.99)
    for det, score in zip(msg.detections, [box.confidence for box in expected], strict=True):
        assert det.header == sent_header and det.id  # tracking (the default): every face has its track id
        assert det.results[0].hypothesis.class_id == "face"
        assert det.results[0].hypothesis.score == pytest.approx(float(score), abs=1e-4)
        assert 0.0 <= det.results[0].hypothesis.score <= 1.0 and det.bbox.center.theta == 0.0
    faces = probe.faces[frame_id]
    assert faces.header == sent_header and len(faces.faces) == len(expected)
    for index, face in enumerate(faces.faces):
        assert face.detection_index == index and face.masked is False
        assert face.track_id == msg.detections[index].id
        points = np.array([[p.x, p.y] for p in face.landmarks])
        np.testing.assert_allclose(points, expected[index].landmarks, atol=0.05)
    annotated = probe.annotated[frame_id]
    assert annotated.header == sent_header and annotated.encoding == "bgr8"
    assert (annotated.height, annotated.width) == image.shape[:2]


@pytest.mark.parametrize("encoding", ["bgr8", "rgb8"])
def test_raw_image_matches_learner(ros, selfie, reference, encoding):
    node, probe, _ = ros
    msg = probe.stamp(bgr8_to_imgmsg(selfie, encoding), f"raw-{encoding}")
    probe.image_pub.publish(msg)
    assert_matches_reference(probe, f"raw-{encoding}", msg.header, selfie, reference)


def test_label_info_reaches_a_late_joiner(ros):
    node, probe, _ = ros
    received = []
    latched = QoSProfile(
        depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL
    )
    sub = probe.node.create_subscription(VM.LabelInfo, "label_info", received.append, latched)
    try:
        assert wait_for(lambda: received, timeout=10)
        info = received[-1]
        assert [(c.class_id, c.class_name) for c in info.class_map] == [(0, "face"), (1, "masked_face")]
        assert info.threshold == pytest.approx(node.params.threshold)
    finally:
        probe.node.destroy_subscription(sub)


def _bad(**fields) -> Image:
    base = dict(height=4, width=4, encoding="bgr8", step=12, data=array.array("B", bytes(48)))
    base.update(fields)
    return Image(**base)


BAD_IMAGES = [
    _bad(encoding="weird16"),
    _bad(encoding=""),
    _bad(width=0, step=0, data=array.array("B")),
    _bad(height=0, data=array.array("B")),
    _bad(height=9000, width=4, data=array.array("B", bytes(48))),
    _bad(data=array.array("B", bytes(40))),
    _bad(step=5),
]


def test_bad_input_is_rejected_and_counted(ros, selfie):
    node, probe, _ = ros
    name = node.get_fully_qualified_name()
    assert wait_for(lambda: probe.counter(name, "rejected") >= 0)
    before = node.stats.rejected
    for index, msg in enumerate(BAD_IMAGES):
        probe.image_pub.publish(probe.stamp(msg, f"bad-{index}"))
        assert wait_for(lambda n=index: node.stats.rejected == before + n + 1, timeout=5), f"bad-{index}"

    class NoneFields:  # what a broken in-process publisher could hand over
        header = encoding = height = width = step = data = None

    (image_subscription,) = [sub for sub in node.subscriptions if sub.topic_name == f"{NS}/image"]
    image_subscription.callback(NoneFields())  # as the executor would hand it over
    total = before + len(BAD_IMAGES) + 1
    assert wait_for(lambda: probe.counter(name, "rejected") == total, timeout=5)
    assert not any(f"bad-{i}" in probe.detections for i in range(len(BAD_IMAGES)))
    assert probe.diagnostics[name]["worker_alive"] == "True"
    assert probe.diagnostics[name]["last_reject_reason"]
    assert probe.levels[name] == DiagnosticStatus.WARN  # most recent input was rejected
    good = probe.stamp(bgr8_to_imgmsg(selfie[:240, :320].copy()), "after-bad")
    probe.image_pub.publish(good)
    assert wait_for(lambda: "after-bad" in probe.detections)


def test_burst_with_slow_model_drops_and_keeps_latency_bounded(ros, selfie):
    node, probe, _ = ros
    name = node.get_fully_qualified_name()
    delay_s = 0.3
    assert node.set_parameters([Parameter("debug_delay_ms", value=delay_s * 1000)])[0].successful
    try:
        dropped_before, processed_before = node.stats.dropped, node.stats.processed
        frame = selfie[300:540, 600:920].copy()
        stamps = {}
        for index in range(50):
            msg = probe.stamp(bgr8_to_imgmsg(frame), f"burst-{index}")
            stamps[f"burst-{index}"] = msg.header.stamp.sec + msg.header.stamp.nanosec / 1e9
            probe.image_pub.publish(msg)
            time.sleep(0.01)
        assert wait_for(lambda: "burst-49" in probe.detections, timeout=10), "newest frame never processed"
        time.sleep(delay_s * 2)
        processed = node.stats.processed - processed_before
        assert node.stats.dropped - dropped_before > 0
        assert processed < 10, f"{processed} of 50 frames processed: frames are queueing"
        latencies = [probe.arrivals[f] - stamps[f] for f in stamps if f in probe.detections]
        assert max(latencies) < 2.0, latencies
        assert wait_for(lambda: probe.counter(name, "dropped") == node.stats.dropped, timeout=3)
    finally:
        assert node.set_parameters([Parameter("debug_delay_ms", value=0.0)])[0].successful


def test_max_rate_hz_throttles_processing(mnet_weights, selfie):
    """On an injected clock (use_sim_time, /clock published here): while the clock stands still after a
    frame, newer frames wait in the slot and replace each other (skipped, not dropped); one step of the
    clock past 1 / max_rate_hz releases the newest. Counters and events only: no wall-clock margin."""
    spinner = BackgroundSpin()
    namespace = f"{NS}_rate"
    node = cpu_detector(spinner.context, namespace, mnet_weights, use_sim_time=True, max_rate_hz=4.0)
    probe = Probe(spinner.context, namespace=namespace)
    clock_pub = probe.node.create_publisher(Clock, "/clock", RELIABLE)
    spinner.add(node, probe.node)

    def set_clock(seconds: float) -> None:
        stamp = Clock(clock=RosTime(sec=int(seconds), nanosec=round(seconds % 1 * 1e9)))

        def arrived() -> bool:  # published until it arrives: the first may precede the reader's discovery
            if node.get_clock().now().nanoseconds == round(seconds * 1e9):
                return True
            clock_pub.publish(stamp)
            return False

        assert wait_for(arrived), seconds

    def send(frame_id: str) -> None:
        received = node.stats.received
        probe.image_pub.publish(probe.stamp(bgr8_to_imgmsg(frame), frame_id))
        assert wait_for(lambda: node.stats.received == received + 1), frame_id

    try:
        assert node.trigger_configure() == SUCCESS and node.trigger_activate() == SUCCESS
        assert wait_for(
            lambda: probe.image_pub.get_subscription_count() > 0 < clock_pub.get_subscription_count()
        )
        frame = selfie[300:540, 600:920].copy()
        set_clock(100.0)
        send("first")
        assert wait_for(lambda: "first" in probe.detections and node.stats.processed == 1)
        for frame_id in ("second", "third", "fourth"):  # the clock stands at 100.0 s: the worker waits
            send(frame_id)
        assert node.stats.processed == 1
        assert (node.stats.skipped, node.stats.dropped) == (2, 0)  # third and fourth replaced waiting frames
        set_clock(100.1)  # still inside the 0.25 s period
        assert node.stats.processed == 1
        set_clock(100.3)
        assert wait_for(lambda: "fourth" in probe.detections and node.stats.processed == 2)  # the newest only
        assert not {"second", "third"} & probe.detections.keys()
        set_clock(102.0)  # diagnostics run on the node's clock too
        assert wait_for(lambda: probe.counter(node.get_fully_qualified_name(), "skipped_rate_limit") == 2)
    finally:
        spinner.close()


def test_live_parameters(ros):
    node, _, _ = ros
    accepted = node.set_parameters(
        [
            Parameter("threshold", value=0.9),
            Parameter("scales", value=[400, 700]),
            Parameter("max_rate_hz", value=20.0),
        ]
    )
    assert all(r.successful for r in accepted)
    assert (node.params.threshold, node.params.scales, node.params.max_rate_hz) == (0.9, (400, 700), 20.0)
    rejected = {
        "threshold": Parameter("threshold", value=1.5),
        "nms_threshold": Parameter("nms_threshold", value=-0.1),
        "scales": Parameter("scales", value=[0, 10]),
        "qos_depth": Parameter("qos_depth", value=5),
        "device": Parameter("device", value="tpu"),
        "max_rate_hz": Parameter("max_rate_hz", value=-1.0),
    }
    for name, parameter in rejected.items():
        result = node.set_parameters([parameter])[0]
        assert not result.successful and result.reason, name
    assert "configured" in node.set_parameters([Parameter("qos_depth", value=5)])[0].reason
    assert "scales" in node.set_parameters([Parameter("scales", value=[0, 10])])[0].reason
    assert node.params.threshold == 0.9 and node.get_parameter("threshold").value == 0.9
    assert node.set_parameters([Parameter("use_sim_time", value=False)])[0].successful  # rclpy's own
    # integers for doubles, as `ros2 param set /node max_rate_hz 20` sends them
    integers = [Parameter("max_rate_hz", value=20), Parameter("threshold", value=1)]
    assert all(result.successful for result in node.set_parameters(integers))
    assert node.get_parameter("max_rate_hz").value == 20.0 and node.params.threshold == 1.0
    assert node.get_parameter("threshold").type_ == Parameter.Type.DOUBLE
    assert all(
        r.successful
        for r in node.set_parameters(
            [
                Parameter("threshold", value=0.8),
                Parameter("scales", value=SCALES),
                Parameter("max_rate_hz", value=0.0),
            ]
        )
    )


def test_model_path_reload(ros, selfie, mnet_weights, tmp_path):
    node, probe, _ = ros
    old = node.model
    result = node.set_parameters([Parameter("model_path", value=str(tmp_path / "missing.pth"))])[0]
    assert not result.successful and "does not exist" in result.reason
    too_long = node.set_parameters([Parameter("model_path", value=str(tmp_path / ("a" * 300)))])[0]
    assert not too_long.successful and "too long" in too_long.reason  # an OSError is refused, not raised
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a checkpoint")
    assert not node.set_parameters([Parameter("model_path", value=str(garbage))])[0].successful
    assert node.model is old and node.get_parameter("model_path").value == str(mnet_weights)
    deployed = tmp_path / "deployed.pth"
    deployed.symlink_to(mnet_weights)  # e.g. the trainer's fresh output
    assert node.set_parameters([Parameter("model_path", value=str(deployed))])[0].successful
    assert node.model is not old and node.model.source == str(deployed)
    first = node.model
    assert node.set_parameters([Parameter("model_path", value=str(deployed))])[0].successful
    assert node.model is not first  # the same path again re-reads it (the trainer re-deployed there)
    probe.image_pub.publish(probe.stamp(bgr8_to_imgmsg(selfie), "after-reload"))
    assert wait_for(lambda: "after-reload" in probe.detections)
    assert len(probe.detections["after-reload"].detections) > 20


def test_compressed_input_and_lifecycle_reconfigure(ros, selfie, reference):
    node, probe, _ = ros
    assert node.trigger_deactivate() == SUCCESS and node.model is None and not node.active
    assert not node.set_parameters([Parameter("use_compressed", value=True)])[
        0
    ].successful  # still configured
    assert node.trigger_cleanup() == SUCCESS and node.params is None
    assert node.set_parameters([Parameter("use_compressed", value=True)])[0].successful
    assert node.trigger_configure() == SUCCESS and node.trigger_activate() == SUCCESS
    try:
        assert wait_for(
            lambda: probe.compressed_pub.get_subscription_count() > 0 and annotated_subscribers(node) > 0
        )
        msg = probe.stamp(bgr8_to_compressed(selfie, "jpeg"), "jpeg")
        probe.compressed_pub.publish(msg)
        assert_matches_reference(probe, "jpeg", msg.header, compressed_to_bgr8(msg), reference)
        before = node.stats.rejected
        probe.compressed_pub.publish(
            probe.stamp(
                CompressedImage(format="jpeg", data=array.array("B", b"\xff\xd8\xff\xe0corrupt")), "corrupt"
            )
        )
        assert wait_for(lambda: node.stats.rejected == before + 1)
    finally:
        assert node.trigger_deactivate() == SUCCESS and node.trigger_cleanup() == SUCCESS
        node.set_parameters([Parameter("use_compressed", value=False)])
        assert node.trigger_configure() == SUCCESS and node.trigger_activate() == SUCCESS


def test_lifecycle_services_and_failed_configure(ros, mnet_weights):
    _, probe, executor = ros
    node = cpu_detector(probe.node.context, f"{NS}/lc", "/nonexistent/model.pth")
    executor.add_node(node)
    try:
        client = probe.node.create_client(GetState, f"{NS}/lc/retinaface_detector/get_state")
        assert client.wait_for_service(timeout_sec=10)

        def state() -> str:
            future = client.call_async(GetState.Request())
            assert wait_for(future.done, timeout=5)
            return future.result().current_state.label

        assert node.trigger_configure() == TransitionCallbackReturn.FAILURE
        assert state() == "unconfigured" and node.model is None
        assert node.set_parameters([Parameter("model_path", value=str(mnet_weights))])[0].successful
        assert node.trigger_configure() == SUCCESS and state() == "inactive" and node.model is not None
        assert node.trigger_activate() == SUCCESS and state() == "active"
        assert wait_for(lambda: probe.node.count_subscribers(f"{NS}/lc/image") == 1)
        assert node.trigger_deactivate() == SUCCESS and state() == "inactive" and node.model is None
        assert wait_for(lambda: probe.node.count_subscribers(f"{NS}/lc/image") == 0)
        assert node.trigger_cleanup() == SUCCESS and state() == "unconfigured"
    finally:
        executor.remove_node(node)
        node.destroy_node()


def test_params_file_applies_in_any_namespace(tmp_path):
    source = (REPO_ROOT / "config" / "detector.yaml").read_text()
    params_file = tmp_path / "detector.yaml"
    params_file.write_text(source.replace("threshold: 0.8 ", "threshold: 0.65"))
    context = rclpy.Context()
    rclpy.init(context=context)
    try:
        node = DetectorNode(
            namespace="/robot1/vision",
            context=context,
            cli_args=["--ros-args", "--params-file", str(params_file)],
        )
        assert node.read_parameters().threshold == 0.65
        node.destroy_node()
        node = DetectorNode(  # an integer given for a double parameter is taken, as with `-p max_rate_hz:=10`
            context=context,
            parameter_overrides=[Parameter("max_rate_hz", value=10), Parameter("threshold", value=1)],
        )
        assert (node.read_parameters().max_rate_hz, node.read_parameters().threshold) == (10.0, 1.0)
        node.destroy_node()
    finally:
        context.try_shutdown()


def _detector_process(log: Path, *ros_args: str) -> subprocess.Popen:
    params_file = REPO_ROOT / "config" / "detector.yaml"
    return node_process("retinaface_ros.ros.detector_node", log, "--params-file", str(params_file), *ros_args)


def test_separate_process_namespaced_remapped_and_clean_exit(mnet_weights, selfie, tmp_path):
    failing_log, log = tmp_path / "failing.log", tmp_path / "detector.log"
    failing = _detector_process(failing_log, "-p", "model_path:=/nonexistent/model.pth", "-p", "device:=cpu")
    out_of_range_log = tmp_path / "out_of_range.log"
    out_of_range = _detector_process(out_of_range_log, "-p", "threshold:=1.5")
    process = _detector_process(
        log,
        "-r",
        f"__ns:={NS}_sub",
        "-r",
        f"image:={NS}_cam/image",
        "-p",
        f"model_path:={mnet_weights}",
        "-p",
        "device:=cpu",
        "-p",
        f"scales:={SCALES}",
        "-p",
        "diagnostics_period:=2",  # an integer for a double parameter
    )
    spinner = BackgroundSpin()
    probe = Probe(spinner.context, namespace=f"{NS}_sub")
    publisher = probe.node.create_publisher(Image, f"{NS}_cam/image", RELIABLE)
    spinner.add(probe.node)
    try:
        # 320x240 (230 kB) fits a Fast DDS shared-memory segment; bigger best-effort frames go over UDP
        # fragments, which the default socket buffers lose (use qos_reliability: reliable for those).
        frame = bgr8_to_imgmsg(selfie[300:540, 600:920].copy())
        deadline = time.monotonic() + 60
        while "proc" not in probe.detections and time.monotonic() < deadline and process.poll() is None:
            publisher.publish(probe.stamp(frame, "proc"))  # best-effort input: resend until one is processed
            time.sleep(0.5)
        if "proc" not in probe.detections:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
                process.wait(timeout=15)
            pytest.fail(
                f"no detections from the detector process (rc {process.returncode}):\n{log.read_text()}"
            )
        assert probe.detections["proc"].header.frame_id == "proc"
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=15) == 0, log.read_text()
        assert failing.wait(timeout=60) == 1
        assert "does not exist" in failing_log.read_text(), failing_log.read_text()
        assert out_of_range.wait(timeout=60) == 1
        text = out_of_range_log.read_text()
        assert "threshold" in text and "Traceback" not in text, text  # the reason, not a crash
    finally:
        kill_if_running(process, failing, out_of_range)
        spinner.close()


def test_model_url_is_downloaded_once_into_the_cache(mnet_weights, tmp_path):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "detection_mobilenet0.25_Final.pth").symlink_to(mnet_weights)  # a file:// mirror, no network
    params = DetectorParams.from_values(
        {"model_url": mirror.as_uri(), "model_cache_dir": str(tmp_path / "cache"), "device": "cpu"}
    )
    first = load_model(params)
    cached = Path(first.source)
    assert cached.parent == tmp_path / "cache" and cached.is_file()
    mtime = cached.stat().st_mtime_ns
    (mirror / "detection_mobilenet0.25_Final.pth").unlink()  # gone from the mirror: the cache must serve it
    second = load_model(params)
    assert second.source == first.source and cached.stat().st_mtime_ns == mtime
    for model in (first, second):
        release_model(model)


def test_torch_compile_is_ignored_on_the_cpu(mnet_weights):
    warnings = []

    class Log:
        def warning(self, message: str, **kwargs) -> None:
            warnings.append(message)

    params = DetectorParams.from_values(
        {"model_path": str(mnet_weights), "device": "cpu", "torch_compile": True}
    )
    loaded = load_model(params, Log())
    assert loaded.learner.torch_compile is False
    assert warnings == ["torch_compile is ignored on the CPU"]
    release_model(loaded)


def test_image_publisher_feeds_the_detector(ros, selfie_path):
    from retinaface_ros.ros.image_publisher import ImagePublisher

    node, probe, executor = ros
    publisher = ImagePublisher(
        namespace=NS,
        context=probe.node.context,
        parameter_overrides=[
            Parameter("path", value=str(selfie_path)),
            Parameter("rate", value=20.0),
            Parameter("encoding", value="rgb8"),
            Parameter("count", value=3),
            Parameter("frame_id", value="from-image-publisher"),
        ],
    )
    executor.add_node(publisher)
    try:
        assert wait_for(lambda: publisher.done, timeout=10) and publisher.sent == 3
        assert wait_for(lambda: "from-image-publisher" in probe.detections)
        assert len(probe.detections["from-image-publisher"].detections) > 20
    finally:
        executor.remove_node(publisher)
        publisher.destroy_node()


def test_cameras_get_their_own_topics_and_share_a_batch(mnet_weights, selfie, reference):
    """cameras: [left, right]: each camera's frames come back on its own topics, and frames of both cameras
    that wait together (here behind a slow inference) run as one batch."""
    for bad in (["a b"], ["front", "front"], "front", [1]):
        with pytest.raises(ParameterError, match="cameras"):
            DetectorParams.from_values({"cameras": bad})
    assert DetectorParams.from_values({"cameras": None}).topic_prefixes == ("",)  # 'cameras: []' in YAML
    assert DetectorParams.from_values({"cameras": ["/front/", "cam/rear"]}).cameras == ("front", "cam/rear")
    namespace = f"{NS}_cams"
    spinner = BackgroundSpin()
    node = cpu_detector(spinner.context, namespace, mnet_weights, qos_depth=5, cameras=["left", "right"])
    probe = rclpy.create_node("cams_probe", namespace=namespace, context=spinner.context)
    received: dict[str, dict[str, object]] = {"left": {}, "right": {}}
    publishers = {}
    for camera in received:
        publishers[camera] = probe.create_publisher(Image, f"{camera}/image", RELIABLE)
        probe.create_subscription(
            VM.Detection2DArray,
            f"{camera}/detections",
            lambda msg, camera=camera: received[camera].__setitem__(msg.header.frame_id, msg),
            RELIABLE,
        )
    spinner.add(node, probe)
    try:
        assert node.trigger_configure() == SUCCESS and node.trigger_activate() == SUCCESS
        assert wait_for(lambda: all(pub.get_subscription_count() > 0 for pub in publishers.values()))
        crops = {"left": selfie[300:540, 600:920].copy(), "right": selfie[100:340, 200:520].copy()}
        assert node.set_parameters([Parameter("debug_delay_ms", value=1000.0)])[0].successful

        def send(camera: str, frame_id: str) -> None:
            msg = bgr8_to_imgmsg(crops[camera])
            msg.header.frame_id, msg.header.stamp = frame_id, probe.get_clock().now().to_msg()
            publishers[camera].publish(msg)

        send("left", "busy")  # the worker takes it, runs it and is held by the delay ...
        assert wait_for(lambda: node.stats.batches == 1, timeout=10)
        send("left", "left-2")  # ... while one frame of each camera arrives
        send("right", "right-1")
        assert wait_for(lambda: "left-2" in received["left"] and "right-1" in received["right"], timeout=20)
        assert node.stats.largest_batch == 2 and "right-1" not in received["left"]
        for camera, frame_id in (("left", "left-2"), ("right", "right-1")):
            msg = received[camera][frame_id]
            want = reference.infer(crops[camera], threshold=0.8, scales=SCALES)
            assert msg.header.frame_id == frame_id and len(msg.detections) == len(want) > 0
            assert box_iou(boxes_of(msg), np.array([b.xyxy() for b in want])).max(1).min() >= 0.99
    finally:
        spinner.close()


def test_publishers_that_deliver_nothing_raise_a_diagnostics_warning(mnet_weights, monkeypatch):
    """A reliable input and a best_effort camera never match: the node names that input and the likely cause
    instead of just waiting, even while another camera delivers."""
    monkeypatch.setattr(messages, "STARVED_AFTER_S", 0.5)
    namespace = f"{NS}_starved"
    spinner = BackgroundSpin()
    node = cpu_detector(
        spinner.context, namespace, mnet_weights, diagnostics_period=0.2, cameras=["front", "rear"]
    )
    probe = Probe(spinner.context, namespace=namespace)
    front = probe.node.create_publisher(Image, "front/image", RELIABLE)
    rear = probe.node.create_publisher(
        Image, "rear/image", QoSProfile(depth=1, reliability=ReliabilityPolicy.BEST_EFFORT)
    )
    spinner.add(node, probe.node)
    name = node.get_fully_qualified_name()
    try:
        assert node.trigger_configure() == SUCCESS and node.trigger_activate() == SUCCESS
        assert wait_for(lambda: front.get_subscription_count() > 0)
        frame = bgr8_to_imgmsg(np.zeros((48, 64, 3), np.uint8))
        front.publish(frame)
        rear.publish(frame)
        assert wait_for(lambda: node.stats.received >= 1)
        assert wait_for(lambda: probe.levels.get(name) == DiagnosticStatus.WARN, timeout=10)
        message = probe.messages[name]
        assert message.startswith("no frame in ") and f"on {namespace}/rear/image (1 publisher);" in message
        assert "front" not in message and "does not match best_effort publishers" in message
        assert probe.diagnostics[name]["input_publishers"] == "2"
    finally:
        spinner.close()
