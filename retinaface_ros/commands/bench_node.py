"""``retinaface bench-node``: the detector node end to end over real DDS, next to ``learner.infer`` alone.

Publishes N frames of a given size at a given rate to an in-process detector node and reports end-to-end
latency (header stamp → Detection2DArray received; p50/p95), processed fps, dropped / rejected frames, and the
same frames through ``learner.infer`` alone, as one JSON object. ``--soak`` sends 10,000 frames with bad
frames mixed in and reports the process RSS at start and end (growth must stay < 5 %) and whether the node
survived; the exit code is 1 when it did not or memory grew too much.
"""

from __future__ import annotations

import argparse
import array
import json
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from retinaface_ros.io.atomic_files import check_output_file, write_atomically
from retinaface_ros.model.config import BACKBONES

SOAK_FRAMES = 10_000
RSS_GROWTH_LIMIT = 0.05


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "bench-node",
        help="benchmark the ROS 2 detector node end to end (latency, fps, drops; --soak: memory)",
        description="Publish frames to an in-process detector node over DDS and measure what comes back.",
    )
    parser.add_argument("--model", required=True, help=".pth file or OpenDR model folder")
    parser.add_argument("--backbone", default="mnet", choices=BACKBONES)
    parser.add_argument("--device", default="cpu", help="cpu | cuda | cuda:N | auto (default cpu)")
    parser.add_argument("--image", help="image to publish (resized to --width x --height); default: noise")
    parser.add_argument(
        "--frames", type=int, default=None, help=f"frames to publish (default 200; {SOAK_FRAMES} with --soak)"
    )
    parser.add_argument("--rate", type=float, default=30.0, help="publish rate in Hz (default 30)")
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument(
        "--scales", type=int, nargs=2, default=None, help="node/learner scales (default: the size)"
    )
    parser.add_argument("--threshold", type=float, default=0.8)
    parser.add_argument("--reliable", action="store_true", help="reliable input QoS (default best_effort)")
    parser.add_argument(
        "--processes",
        action="store_true",
        help="camera (image_publisher), detector node and subscriber as three processes, as on a robot; "
        "latency next to detect_arrays alone, with the node's per-stage breakdown",
    )
    parser.add_argument(
        "--detector-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="--processes: an environment variable for the detector process only (repeatable), e.g. "
        "OMP_NUM_THREADS=1",
    )
    parser.add_argument(
        "--dds",
        choices=("default", "large_data"),
        default="default",
        help="--processes: Fast DDS transports of all three processes: default (shared memory + UDP; a frame "
        "over 64 kB travels in fragments) or large_data (FASTDDS_BUILTIN_TRANSPORTS=LARGE_DATA: whole frames "
        "through shared memory; see docs/node_transport.md)",
    )
    parser.add_argument(
        "--qos",
        choices=("auto", "reliable", "best_effort"),
        default="auto",
        help="--processes: the detector's qos_reliability (default auto; --reliable = reliable)",
    )
    parser.add_argument(
        "--soak", action="store_true", help=f"{SOAK_FRAMES} frames with bad ones mixed in + RSS"
    )
    parser.add_argument("--bad-every", type=int, default=10, help="soak: every Nth frame is malformed")
    parser.add_argument("--learner-frames", type=int, default=50, help="frames timed through learner.infer")
    parser.add_argument("--output", help="also write the JSON here")
    parser.set_defaults(func=handler)


def _rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def _frame(args: argparse.Namespace) -> np.ndarray:
    import cv2

    if args.image:
        from retinaface_ros.io.image_files import read_image

        image = read_image(args.image)
        return cv2.resize(image, (args.width, args.height), interpolation=cv2.INTER_AREA)
    rng = np.random.default_rng(0)
    return cv2.GaussianBlur(rng.integers(0, 256, (args.height, args.width, 3), dtype=np.uint8), (9, 9), 0)


def _bad_frames() -> list:
    from sensor_msgs.msg import Image

    def bad(**fields) -> Image:
        base = dict(height=4, width=4, encoding="bgr8", step=12, data=array.array("B", bytes(48)))
        base.update(fields)
        return Image(**base)

    return [
        bad(encoding="bogus"),
        bad(data=array.array("B", bytes(10))),
        bad(width=0, step=0),
        bad(step=3),
        bad(height=10000, width=4),
    ]


def _percentiles(values_s: list[float]) -> dict[str, float]:
    if not values_s:
        return {"p50_ms": float("nan"), "p95_ms": float("nan"), "mean_ms": float("nan")}
    ms = np.array(values_s) * 1000.0
    return {
        "p50_ms": round(float(np.percentile(ms, 50)), 2),
        "p95_ms": round(float(np.percentile(ms, 95)), 2),
        "mean_ms": round(float(ms.mean()), 2),
    }


def handler(args: argparse.Namespace) -> int:
    if args.output:
        check_output_file(args.output)  # refused before the run, not after it
    frames = args.frames if args.frames is not None else SOAK_FRAMES if args.soak else 200
    if frames <= 0 or args.rate <= 0 or args.width <= 0 or args.height <= 0:
        raise ValueError("--frames, --rate, --width and --height must be positive")
    if not Path(args.model).exists():
        raise FileNotFoundError(f"--model {args.model} does not exist")
    scales = (
        tuple(args.scales) if args.scales else (min(args.height, args.width), max(args.height, args.width))
    )
    image = _frame(args)
    if args.processes:
        if args.soak:
            raise ValueError("--soak runs in one process; leave out --processes")
        from retinaface_ros.commands.bench_node_processes import run

        report = run(args, frames, scales, image)
        text = json.dumps(report, indent=2)
        print(text)
        if args.output:
            write_atomically(args.output, (text + "\n").encode())
        return 0 if report["node"]["results"] > 0 else 1

    import rclpy

    context = rclpy.Context()
    rclpy.init(context=context)  # ROS_DOMAIN_ID as every node reads it
    try:
        return _run(args, frames, scales, image, context)
    finally:
        context.try_shutdown()


def _run(args: argparse.Namespace, frames: int, scales: tuple, image: np.ndarray, context: Any) -> int:
    """Publish ``frames`` to a detector node in ``context`` and print (and write) the report."""
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.lifecycle import TransitionCallbackReturn
    from rclpy.parameter import Parameter
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import Image

    from retinaface_ros.ros.detector_node import DetectorNode
    from retinaface_ros.ros.image_conversion import bgr8_to_imgmsg
    from retinaface_ros.ros.interfaces import import_vision_msgs

    vision_msgs = import_vision_msgs()
    node = DetectorNode(
        context=context,
        parameter_overrides=[
            Parameter("model_path", value=str(args.model)),
            Parameter("backbone", value=args.backbone),
            Parameter("device", value=args.device),
            Parameter("scales", value=list(scales)),
            Parameter("threshold", value=args.threshold),
            Parameter("qos_reliability", value="reliable" if args.reliable else "best_effort"),
        ],
    )
    if (
        node.trigger_configure() != TransitionCallbackReturn.SUCCESS
        or node.trigger_activate() != TransitionCallbackReturn.SUCCESS
    ):
        raise ValueError("the detector node did not configure/activate (see the log above)")
    device = node.model.device if node.model else args.device
    client = rclpy.create_node("bench_node_client", context=context)
    arrivals: dict[str, float] = {}
    counts: dict[str, int] = {}

    def on_detections(msg) -> None:
        arrivals[msg.header.frame_id] = time.monotonic()
        counts[msg.header.frame_id] = len(msg.detections)

    client.create_subscription(vision_msgs.Detection2DArray, "detections", on_detections, 50)
    publisher = client.create_publisher(
        Image, "image", QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE)
    )
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    executor.add_node(client)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    deadline = time.monotonic() + 10
    while publisher.get_subscription_count() == 0 and time.monotonic() < deadline:
        time.sleep(0.05)

    good = bgr8_to_imgmsg(image, "bgr8")
    bad_frames = _bad_frames() if args.soak else []
    sent_at: dict[str, float] = {}
    bad_sent = 0
    rss_start = rss_peak = None
    warmup = min(200, frames // 10) if args.soak else 0
    period = 1.0 / args.rate
    start = time.monotonic()
    for index in range(frames):
        target = start + index * period
        delay = target - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        if bad_frames and args.bad_every > 0 and index % args.bad_every == args.bad_every - 1:
            msg = bad_frames[bad_sent % len(bad_frames)]
            bad_sent += 1
        else:
            msg = good
        msg.header.frame_id = str(index)
        msg.header.stamp = client.get_clock().now().to_msg()
        sent_at[str(index)] = time.monotonic()
        publisher.publish(msg)
        if index == warmup and args.soak:
            rss_start = _rss_mb()
        if args.soak and index % 500 == 0:
            rss_peak = max(rss_peak or 0.0, _rss_mb())
    publish_s = time.monotonic() - start
    quiet_since, last_count = time.monotonic(), -1
    while time.monotonic() - quiet_since < 1.5:  # until no result for 1.5 s
        if len(arrivals) != last_count:
            last_count, quiet_since = len(arrivals), time.monotonic()
        time.sleep(0.05)
    rss_end = _rss_mb()
    alive = spinner.is_alive() and node.active and bool(node._worker and node._worker.is_alive())
    stats = node.stats.snapshot()
    latencies = [arrivals[f] - sent_at[f] for f in arrivals if f in sent_at]
    times = sorted(arrivals.values())
    node_result = {
        "sent": frames,
        "bad_sent": bad_sent,
        "results": len(arrivals),
        "received_by_node": stats.received,
        "dropped": stats.dropped,
        "rejected": stats.rejected,
        "lost_in_transport": max(0, frames - stats.received),
        "processed_fps": round((len(times) - 1) / (times[-1] - times[0]), 2) if len(times) > 1 else 0.0,
        "publish_rate_hz": round(frames / publish_s, 1),
        "latency": _percentiles(latencies),
        "faces_per_frame": round(float(np.mean(list(counts.values()))), 2) if counts else 0.0,
    }
    executor.shutdown(timeout_sec=2.0)
    learner = node.model.learner if node.model else None
    learner_result = {}
    if learner is not None and not args.soak:
        learner_times = []
        for _ in range(min(args.learner_frames, frames)):
            t0 = time.perf_counter()
            learner.infer(image, args.threshold, 0.4, scales, 0.8)
            learner_times.append(time.perf_counter() - t0)
        learner_result = {
            "frames": len(learner_times),
            "fps": round(len(learner_times) / sum(learner_times), 2),
            "latency": _percentiles(learner_times),
        }
    node.destroy_node()
    client.destroy_node()
    report = {
        "config": {
            "frames": frames,
            "rate_hz": args.rate,
            "size": [args.width, args.height],
            "scales": list(scales),
            "device": device,
            "backbone": args.backbone,
            "soak": args.soak,
            "qos": "reliable" if args.reliable else "best_effort",
        },
        "node": node_result,
        "learner_infer": learner_result,
    }
    ok = alive
    if args.soak:
        growth = (rss_end - rss_start) / rss_start if rss_start else float("nan")
        report["soak"] = {
            "rss_start_mb": round(rss_start or 0.0, 1),
            "rss_end_mb": round(rss_end, 1),
            "rss_peak_mb": round(max(rss_peak or 0.0, rss_end), 1),
            "rss_growth_pct": round(growth * 100, 2),
            "node_alive": alive,
            "crashes": 0 if alive else 1,
        }
        ok = alive and growth < RSS_GROWTH_LIMIT
    text = json.dumps(report, indent=2)
    print(text)
    if args.output:
        write_atomically(args.output, (text + "\n").encode())
    return 0 if ok else 1
