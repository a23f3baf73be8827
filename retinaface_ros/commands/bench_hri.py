"""``retinaface bench-hri``: what the REP 155 (ROS4HRI) outputs cost per frame, beyond detection and tracking.

The image's faces are detected once and followed by a face tracker until confirmed; then the same frame and
tracks are handed to the node's REP 155 publisher (``HriPublishers.on_frame`` with the tracks given, so
neither detection nor tracking is in the timing) N times, over real DDS, in five set-ups: 2D topics only
(tracked, roi, landmarks); 2D + 3D (camera_info: PnP pose, face_/gaze_ TF; detections_3d is built only
while subscribed, and is not here); 2D + cropped and
aligned images with a consumer (another process) on every face; + 3D; + an aligned depth image paired by
stamp. Frames come back to back, or at a camera's rate (``--rate``). Wall-clock and CPU time are
reported: ``cpu_mean_ms`` of the whole process during the call (the publishing thread and the DDS threads it
keeps busy), ``thread_cpu_mean_ms`` of the publishing thread alone (what the REP 155 code itself costs; the
image consumer's process competes for the same cores, which the wall clock also counts: its CPU time a frame
is ``consumer_cpu_mean_ms``); the tracking row: its thread's. Detection and tracking of the same frame are
timed too, for scale. Prints one JSON object (``--output``: also written there).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from retinaface_ros.io.atomic_files import check_output_file, write_atomically
from retinaface_ros.model.config import BACKBONES

SETUPS = ("2d", "2d+3d", "2d+images", "2d+images+3d", "2d+images+3d+depth")
# The image consumer: subscribes to every face's cropped and aligned topics (serialized, nothing decoded).
_CONSUMER = """
import sys, rclpy
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image
rclpy.init()
node = rclpy.create_node("bench_hri_consumer")
qos = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE)
for face in sys.argv[1:]:
    for topic in ("cropped", "aligned"):
        node.create_subscription(Image, f"/humans/faces/{face}/{topic}", lambda m: None, qos, raw=True)
try:
    rclpy.spin(node)
except BaseException:
    pass
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "bench-hri",
        help="benchmark the REP 155 (ROS4HRI) outputs per frame, beyond detection and tracking",
        description="Time the detector node's REP 155 publishing for a frame's faces over real DDS.",
    )
    parser.add_argument("--model", required=True, help=".pth file or OpenDR model folder")
    parser.add_argument("--image", required=True, help="an image with at least --faces faces")
    parser.add_argument("--backbone", default="mnet", choices=BACKBONES)
    parser.add_argument("--faces", type=int, default=10, help="faces published per frame (default 10)")
    parser.add_argument("--width", type=int, default=1280, help="the image is resized to this width")
    parser.add_argument("--frames", type=int, default=200, help="timed frames per set-up (default 200)")
    parser.add_argument(
        "--rate",
        type=float,
        default=0.0,
        help="frames per second, as a camera sends them (default 0: back to back, the steady-state cost; "
        "at a camera's rate an idle VM adds its wake-up cost to every frame)",
    )
    parser.add_argument("--output", help="also write the JSON here")
    parser.set_defaults(func=handler)


def _stats(values_s: list[float], cpu_s: list[float] | None = None) -> dict[str, float]:
    """Wall-clock mean / p50 / p95 in ms, and the CPU time (mean) when given: on a busy machine the wall
    clock also counts the time spent waiting for a core."""
    ms = np.array(values_s) * 1000.0
    out = {
        "mean_ms": round(float(ms.mean()), 3),
        "p50_ms": round(float(np.percentile(ms, 50)), 3),
        "p95_ms": round(float(np.percentile(ms, 95)), 3),
    }
    if cpu_s:
        out["cpu_mean_ms"] = round(float(np.mean(cpu_s)) * 1000.0, 3)
    return out


def handler(args: argparse.Namespace) -> int:
    import cv2

    if args.faces <= 0 or args.frames <= 0 or args.width < 64 or not 0 <= args.rate <= 1000:
        raise ValueError("--faces and --frames must be positive, --width at least 64, --rate 0 to 1000")
    for name in ("model", "image"):
        if not Path(getattr(args, name)).exists():
            raise FileNotFoundError(f"--{name} {getattr(args, name)} does not exist")
    if args.output:
        check_output_file(args.output)  # refused before the run, not after it
    image = cv2.imread(args.image, cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError(f"cannot read --image {args.image}")
    height = round(image.shape[0] * args.width / image.shape[1])
    image = cv2.resize(image, (args.width, height), interpolation=cv2.INTER_AREA)

    from retinaface_ros.learner import RetinaFaceLearner
    from retinaface_ros.tracking import FaceTracker, TrackerConfig

    learner = RetinaFaceLearner(backbone=args.backbone, device="cpu")
    learner.load(args.model, verbose=False)
    scales = (min(image.shape[:2]), max(image.shape[:2]))
    learner.detect_arrays(image, 0.8, 0.4, scales)  # warm-up
    start = time.perf_counter()
    runs = 5
    for _ in range(runs):
        found = learner.detect_arrays(image, 0.8, 0.4, scales)
    detect_s = (time.perf_counter() - start) / runs
    if len(found) < args.faces:
        raise ValueError(f"--image has {len(found)} faces at threshold 0.8, fewer than --faces {args.faces}")
    found = found.select(np.arange(args.faces))
    tracker = FaceTracker(TrackerConfig(deterministic_ids=True))
    track_times, track_cpu, tracks = [], [], []
    for index in range(30):
        start, cpu = time.perf_counter(), time.thread_time()
        tracks = tracker.update(index / 30.0, found, image)
        track_times.append(time.perf_counter() - start)
        track_cpu.append(time.thread_time() - cpu)
    tracks = [track for track in tracks if track.confirmed]
    if len(tracks) != args.faces:
        raise ValueError(f"the tracker confirmed {len(tracks)} of {args.faces} faces")

    import rclpy

    context = rclpy.Context()
    rclpy.init(context=context)
    try:
        setups = {name: _time_setup(name, args, image, tracks, context) for name in SETUPS}
    finally:
        context.try_shutdown()
    report = {
        "image": f"{Path(args.image).name} resized to {image.shape[1]}x{image.shape[0]}",
        "faces": args.faces,
        "frames": args.frames,
        "rate_hz": args.rate,
        "detection_ms": round(detect_s * 1000.0, 1),
        "tracking": _stats(track_times[5:], track_cpu[5:]),
        "rep155": setups,
    }
    text = json.dumps(report, indent=2)
    print(text)
    if args.output:
        write_atomically(Path(args.output), (text + "\n").encode())
    return 0


def _process_cpu_s(pid: int) -> float:
    """CPU time (user + system) of process ``pid`` so far, from /proc (0 where there is none)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _time_setup(
    name: str, args: argparse.Namespace, image: np.ndarray, tracks: list, context: Any
) -> dict[str, float]:
    """Time ``args.frames`` calls of on_frame in one set-up (a fresh node and HriPublishers), one every
    1 / ``args.rate`` s as a camera's frames come (the consumer and DDS catch up in between)."""
    frames = args.frames
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.node import Node
    from sensor_msgs.msg import CameraInfo, Image

    from retinaface_ros.ros.hri_publishers import HriPublishers, HriSettings
    from retinaface_ros.ros.image_conversion import array_to_imgmsg

    with_depth = name.endswith("depth")
    node = Node(f"bench_hri_{name.replace('+', '_')}", context=context)
    client = Node(f"bench_hri_client_{name.replace('+', '_')}", context=context)
    hri = HriPublishers(node, HriSettings(depth_topic="depth" if with_depth else ""), [], ("",))
    hri.subscribe(["/bench_hri/image"], compressed=False)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    executor.add_node(client)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    height, width = image.shape[:2]
    header = Image().header
    header.frame_id = "bench_optical"

    def frame(index: int) -> None:
        header.stamp.sec, header.stamp.nanosec = 1000 + index // 30, (index % 30) * 33_000_000
        hri.on_frame(0, header, image, None, tracks=tracks)

    frame(0)  # makes every face's publishers
    consumer = None
    if "images" in name:  # a consumer of every face's images, in its own process as a real one would be
        consumer = subprocess.Popen(
            [sys.executable, "-c", _CONSUMER, *hri.face_ids],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    if "3d" in name:
        info = CameraInfo(width=width, height=height)
        focal = width / 2 / np.tan(np.radians(30))
        info.k = [focal, 0.0, width / 2, 0.0, focal, height / 2, 0.0, 0.0, 1.0]
        info_pub = client.create_publisher(CameraInfo, "/bench_hri/camera_info", 5)
    depth_pub = client.create_publisher(Image, "/bench_hri/depth", 5) if with_depth else None
    depth_msg = array_to_imgmsg(np.full((height, width), 1500, np.uint16), "16UC1") if with_depth else None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if "3d" in name:
            info_pub.publish(info)
        images_ready = "images" not in name or hri.image_subscribers() > 0
        if images_ready and ("3d" not in name or hri.has_camera(0, (height, width))):
            break
        time.sleep(0.05)
    else:
        raise RuntimeError(f"bench-hri {name}: the image consumer or camera_info did not connect in 30 s")
    times, cpu_times, thread_times = [], [], []
    consumer_cpu = _process_cpu_s(consumer.pid) if consumer is not None else 0.0
    period = 1.0 / args.rate if args.rate > 0 else 0.0
    next_frame = time.monotonic()
    for index in range(1, frames + 21):
        next_frame += period
        time.sleep(max(0.0, next_frame - time.monotonic()))
        if depth_pub is not None:  # the depth image of this frame's stamp arrives first
            depth_msg.header.stamp.sec, depth_msg.header.stamp.nanosec = (
                1000 + index // 30,
                (index % 30) * 33_000_000,
            )
            depth_pub.publish(depth_msg)
            wait_until = time.monotonic() + 2
            while hri.depth_received(0) < index and time.monotonic() < wait_until:
                time.sleep(0.0005)
        start, cpu, thread_cpu = time.perf_counter(), time.process_time(), time.thread_time()
        frame(index)
        if index > 20:  # after warm-up
            times.append(time.perf_counter() - start)
            cpu_times.append(time.process_time() - cpu)
            thread_times.append(time.thread_time() - thread_cpu)
    result = _stats(times, cpu_times)
    result["thread_cpu_mean_ms"] = round(float(np.mean(thread_times)) * 1000.0, 3)
    result["frames_3d"] = hri.counts["frames_3d"]
    result["depth_paired"] = hri.counts["depth_paired"]
    if consumer is not None:
        time.sleep(0.2)  # the last frames' images reach the consumer
        per_frame = (_process_cpu_s(consumer.pid) - consumer_cpu) / (frames + 20)
        result["consumer_cpu_mean_ms"] = round(per_frame * 1000.0, 3)
        consumer.terminate()
        try:
            consumer.wait(timeout=5)
        except subprocess.TimeoutExpired:  # rclpy in the child may not leave its spin on SIGTERM
            consumer.kill()
            consumer.wait(timeout=5)
    executor.shutdown(timeout_sec=2.0)
    hri.destroy()
    node.destroy_node()
    client.destroy_node()
    spinner.join(5.0)
    return result
