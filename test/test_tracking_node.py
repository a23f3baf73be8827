"""Face tracking in the detector node over real rclpy + DDS, fed a panning sequence built from
bald_guys.jpg (face patches moving over a textured background, a face appearing, vanishing and coming
back): ids stable across messages, a new face gets a new id, a lost face's id is never reused,
``detect_rate_hz`` still publishes every frame, ``tracking: false`` gives the per-frame output."""

from __future__ import annotations

import os

import cv2
import numpy as np
import pytest
from conftest import box_iou
from ros_helpers import BackgroundSpin, cpu_detector_node, require_rclpy, wait_for

pytestmark = pytest.mark.ros
rclpy = require_rclpy()

from rclpy.lifecycle import TransitionCallbackReturn  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from rclpy.qos import QoSProfile, ReliabilityPolicy  # noqa: E402
from sensor_msgs.msg import Image  # noqa: E402

from retinaface_ros.ros.image_conversion import bgr8_to_imgmsg  # noqa: E402
from retinaface_ros.ros.interfaces import import_interfaces, import_vision_msgs  # noqa: E402

VM = import_vision_msgs()
FACE_ARRAY = import_interfaces()[0]
RELIABLE = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
NS = f"/trk{os.getpid()}"
CANVAS = (320, 480)  # height, width
SCALES = [320, 480]
FPS = 30.0
T0 = 1000.0  # stamps: a 30 Hz camera, independent of how fast the test runs
SCENE_SCALE = 0.35
# Faces in bald_guys.jpg (full-size pixels) and where they start on the canvas (top-left of the patch).
FACES = {
    "a": ((564, 386, 726, 620), (20, 60)),
    "b": ((876, 368, 1044, 592), (170, 60)),
    "c": ((60, 340, 222, 564), (320, 60)),
    "d": ((1058, 706, 1238, 948), (170, 190)),
}
PAN = 2  # pixels per frame, to the right
MARGIN = 12


@pytest.fixture(scope="module")
def patches(bald_guys_path) -> dict[str, np.ndarray]:
    image = cv2.imread(str(bald_guys_path))
    small = cv2.resize(image, None, fx=SCENE_SCALE, fy=SCENE_SCALE, interpolation=cv2.INTER_AREA)
    out = {}
    for name, (box, _) in FACES.items():
        x1, y1, x2, y2 = (round(v * SCENE_SCALE) for v in box)
        out[name] = small[y1 - MARGIN : y2 + MARGIN, x1 - MARGIN : x2 + MARGIN].copy()
    return out


def render(patches: dict[str, np.ndarray], frame: int, visible: set[str]) -> np.ndarray:
    """The canvas at ``frame``: a fixed texture, the visible faces moved PAN pixels per frame."""
    rng = np.random.default_rng(7)
    canvas = cv2.GaussianBlur(rng.integers(60, 200, (*CANVAS, 3), dtype=np.uint8), (9, 9), 0)
    for name in sorted(visible):
        patch = patches[name]
        x, y = FACES[name][1]
        x += PAN * frame
        canvas[y : y + patch.shape[0], x : x + patch.shape[1]] = patch
    return canvas


class Probe:
    def __init__(self, context) -> None:
        self.node = rclpy.create_node("trk_probe", namespace=NS, context=context)
        self.detections: dict[str, object] = {}
        self.faces: dict[str, object] = {}
        self.diagnostics: dict[str, str] = {}
        self.image_pub = self.node.create_publisher(Image, "image", RELIABLE)
        self.node.create_subscription(
            VM.Detection2DArray,
            "detections",
            lambda m: self.detections.__setitem__(m.header.frame_id, m),
            RELIABLE,
        )
        self.node.create_subscription(
            FACE_ARRAY, "faces", lambda m: self.faces.__setitem__(m.header.frame_id, m), RELIABLE
        )
        from diagnostic_msgs.msg import DiagnosticArray

        self.node.create_subscription(DiagnosticArray, "/diagnostics", self._on_diagnostics, 10)

    def _on_diagnostics(self, msg) -> None:
        for status in msg.status:
            if status.name.startswith(NS):
                self.diagnostics = {kv.key: kv.value for kv in status.values}

    def send(self, image: np.ndarray, frame_id: str, stamp_s: float) -> object:
        """Publish one frame and wait for its detections (and faces) message."""
        msg = bgr8_to_imgmsg(image)
        msg.header.frame_id = frame_id
        msg.header.stamp.sec, msg.header.stamp.nanosec = int(stamp_s), round((stamp_s % 1) * 1e9)
        self.image_pub.publish(msg)
        assert wait_for(lambda: frame_id in self.detections and frame_id in self.faces, timeout=30), frame_id
        out = self.detections[frame_id]
        assert out.header == msg.header
        faces = self.faces[frame_id]
        assert [f.track_id for f in faces.faces] == [d.id for d in out.detections]
        return out


def ids_of(msg) -> list[str]:
    return [det.id for det in msg.detections]


def centres(msg) -> np.ndarray:
    return np.array([[d.bbox.center.position.x, d.bbox.center.position.y] for d in msg.detections]).reshape(
        -1, 2
    )


def id_at(msg, x: float, y: float) -> str:
    """The id of the face whose centre is nearest (x, y)."""
    return msg.detections[int(np.argmin(np.linalg.norm(centres(msg) - [x, y], axis=1)))].id


def face_centre(patches, name: str, frame: int) -> tuple[float, float]:
    x, y = FACES[name][1]
    height, width = patches[name].shape[:2]
    return x + PAN * frame + width / 2, y + height / 2


@pytest.fixture(scope="module")
def ros(mnet_weights):
    with BackgroundSpin() as spinner:
        node = cpu_detector_node(
            spinner.context, NS, mnet_weights, scales=SCALES, diagnostics_period=0.2, track_max_age_s=0.2
        )
        assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
        assert node.trigger_activate() == TransitionCallbackReturn.SUCCESS
        probe = Probe(spinner.context)
        spinner.add(node, probe.node)
        assert wait_for(lambda: probe.image_pub.get_subscription_count() > 0)
        yield node, probe


def test_ids_stable_new_face_new_id_lost_id_never_reused(ros, patches, mnet_learner):
    node, probe = ros
    assert node.params.tracking  # the default
    seen: set[str] = set()
    frame = 0

    def step(visible: set[str], tag: str):
        nonlocal frame
        msg = probe.send(render(patches, frame, visible), f"{tag}-{frame}", T0 + frame / FPS)
        seen.update(ids_of(msg))
        frame += 1
        return msg

    first = step({"a", "b", "c"}, "pan")
    assert len(first.detections) == 3 and all(ids_of(first))  # published at once: the stream's first frame
    people = {name: id_at(first, *face_centre(patches, name, 0)) for name in "abc"}
    assert len(set(people.values())) == 3
    for _ in range(9):
        msg = step({"a", "b", "c"}, "pan")
        at = frame - 1
        assert {name: id_at(msg, *face_centre(patches, name, at)) for name in "abc"} == people
        assert len(msg.detections) == 3
    # d appears: published once confirmed (3 detections), with an id nobody had
    counts = [len(step({"a", "b", "c", "d"}, "new").detections) for _ in range(4)]
    assert counts == [3, 3, 4, 4]
    newcomer = id_at(probe.detections[f"new-{frame - 1}"], *face_centre(patches, "d", frame - 1))
    assert newcomer not in people.values()
    # d leaves for longer than track_max_age_s (0.2 s = 6 frames), then comes back: a new id
    for _ in range(10):
        msg = step({"a", "b", "c"}, "gone")
    assert sorted(ids_of(msg)) == sorted(people.values())
    for _ in range(3):
        msg = step({"a", "b", "c", "d"}, "back")
    returned = id_at(msg, *face_centre(patches, "d", frame - 1))
    assert len(msg.detections) == 4 and returned not in people.values() and returned != newcomer
    assert {name: id_at(msg, *face_centre(patches, name, frame - 1)) for name in "abc"} == people
    assert len(seen) == 5  # a, b, c, d and d again: no id ever reused
    assert wait_for(  # a message sent after the last frame (an earlier one may still be on its way)
        lambda: (
            probe.diagnostics.get("tracks_created") == "5"
            and probe.diagnostics.get("tracks_confirmed") == "4"
        ),
        timeout=10,
    )
    assert probe.diagnostics["tracking"] == "True"

    # tracking off (live): the detector's own per-frame output, without ids
    assert node.set_parameters([Parameter("tracking", value=False)])[0].successful
    image = render(patches, frame, {"a", "b", "c", "d"})
    msg = probe.send(image, "untracked", T0 + frame / FPS)
    expected = mnet_learner.detect_arrays(image, 0.8, 0.4, SCALES)
    assert len(msg.detections) == len(expected) == 4 and ids_of(msg) == [""] * 4
    got = np.array(
        [
            [
                d.bbox.center.position.x - d.bbox.size_x / 2,
                d.bbox.center.position.y - d.bbox.size_y / 2,
                d.bbox.center.position.x + d.bbox.size_x / 2,
                d.bbox.center.position.y + d.bbox.size_y / 2,
            ]
            for d in msg.detections
        ]
    )
    assert np.diag(box_iou(got, expected.boxes)).min() > 0.999
    assert node.set_parameters([Parameter("tracking", value=True)])[0].successful


def test_detect_rate_publishes_every_frame_and_propagates_between(ros, patches):
    node, probe = ros
    assert node.set_parameters([Parameter("detect_rate_hz", value=10.0)])[0].successful
    assert wait_for(lambda: "frames_propagated" in probe.diagnostics, timeout=10)
    before = node.tracking.diagnostics()
    start = 100  # a new stream: stamps far ahead of the last test's (tracks aged out)
    messages = []
    for index in range(9):
        frame = index  # the pan restarts at the left
        messages.append(
            probe.send(render(patches, frame, {"a", "b", "c"}), f"rate-{index}", T0 + (start + index) / FPS)
        )
    after = node.tracking.diagnostics()
    detected = int(after["frames_detected"]) - int(before["frames_detected"])
    propagated = int(after["frames_propagated"]) - int(before["frames_propagated"])
    assert (detected, propagated) == (3, 6)  # every third frame at 30 Hz
    ids = [sorted(ids_of(msg)) for msg in messages]
    assert all(len(i) == 3 for i in ids) and all(i == ids[0] for i in ids)
    for index, msg in enumerate(messages):  # propagated boxes stay on the moving faces
        for name in "abc":
            centre = face_centre(patches, name, index)
            assert np.linalg.norm(centres(msg) - centre, axis=1).min() < 4.0, (index, name)
    assert wait_for(
        lambda: int(probe.diagnostics.get("frames_propagated", 0)) >= int(after["frames_propagated"])
    )
    assert node.set_parameters([Parameter("detect_rate_hz", value=0.0)])[0].successful


def test_tracking_parameters_are_validated_live(ros):
    node, _ = ros
    for name, value in (
        ("track_min_hits", 0),
        ("track_max_age_s", -1.0),
        ("smoothing_min_cutoff", 0.0),
        ("detect_rate_hz", -5.0),
        ("tracking", "yes"),
    ):
        result = node.set_parameters([Parameter(name, value=value)])[0]
        assert not result.successful and result.reason, name
    assert node.set_parameters([Parameter("smoothing_beta", value=0.2)])[0].successful
    assert node.tracking.tracker("").config.smoothing.beta == 0.2
