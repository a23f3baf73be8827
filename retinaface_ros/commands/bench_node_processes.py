"""``retinaface bench-node --processes``: camera, detector node and subscriber in three processes, as on a
robot. The camera is ``image_publisher`` (reliable, like most camera drivers), the detector the real
``detector_node`` process, and this process subscribes to ``detections`` and ``/diagnostics``: latency is
header stamp → Detection2DArray received (one system clock; the message is taken serialized, so a Python
subscriber's parsing is not counted), next to ``learner.detect_arrays`` alone on the same frame (timed
afterwards, with the other processes gone), plus the node's per-stage breakdown."""

from __future__ import annotations

import argparse
import os
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

STARTUP_TIMEOUT_S = 180.0


def _percentiles(values_s: list[float]) -> dict[str, float]:
    if not values_s:
        return {"p50_ms": float("nan"), "p95_ms": float("nan"), "mean_ms": float("nan")}
    ms = np.array(values_s) * 1000.0
    return {
        "p50_ms": round(float(np.percentile(ms, 50)), 2),
        "p95_ms": round(float(np.percentile(ms, 95)), 2),
        "mean_ms": round(float(ms.mean()), 2),
    }


def _spawn(args: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen:
    with log.open("w") as out:  # a file, not a pipe: a full pipe would block the child
        return subprocess.Popen([sys.executable, "-m", *args], stdout=out, stderr=subprocess.STDOUT, env=env)


def _detector_env(args: argparse.Namespace) -> dict[str, str]:
    """``--detector-env NAME=VALUE`` pairs as a dict (ValueError on a malformed one)."""
    pairs = {}
    for item in args.detector_env:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise ValueError(f"--detector-env expects NAME=VALUE, got {item!r}")
        pairs[name] = value
    return pairs


def detection_array_stamp_and_count(data: bytes) -> tuple[int, int]:
    """Header stamp (ns) and number of detections of a serialized (little-endian CDR) Detection2DArray."""
    sec, nanosec, frame_id_length = struct.unpack_from("<iII", data, 4)
    count_at = 16 + frame_id_length
    count_at += -(count_at - 4) % 4  # CDR aligns from the end of the 4-byte encapsulation header
    return sec * 1_000_000_000 + nanosec, struct.unpack_from("<I", data, count_at)[0]


def _stop(process: subprocess.Popen) -> int | None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


def run(args: argparse.Namespace, frames: int, scales: tuple[int, int], image: np.ndarray) -> dict[str, Any]:
    """Run the three-process benchmark; the report as a dict (raises ValueError when a process fails)."""
    import cv2
    import rclpy
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import QoSProfile, ReliabilityPolicy

    from retinaface_ros.ros.interfaces import import_vision_msgs

    vision_msgs = import_vision_msgs()
    namespace = f"/bench_node_{os.getpid()}"
    reliability = "reliable" if args.reliable else args.qos
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    dds_env = {"FASTDDS_BUILTIN_TRANSPORTS": "LARGE_DATA"} if args.dds == "large_data" else {}
    env.update(dds_env)
    saved_env = {name: os.environ.get(name) for name in dds_env}
    os.environ.update(dds_env)  # this process's subscriber too: both ends of a transport must agree
    with tempfile.TemporaryDirectory(prefix="retinaface_bench_node_") as tmp:
        folder = Path(tmp)
        frame_file = folder / "frame.png"
        cv2.imwrite(str(frame_file), image)
        detector_args = ["retinaface_ros.ros.detector_node", "--ros-args", "-r", f"__ns:={namespace}"]
        for name, value in (
            ("model_path", args.model),
            ("backbone", args.backbone),
            ("device", args.device),
            ("scales", f"[{scales[0]}, {scales[1]}]"),
            ("threshold", args.threshold),
            ("qos_reliability", reliability),
            ("publish_annotated", "false"),
            ("diagnostics_period", 0.5),
        ):
            detector_args += ["-p", f"{name}:={value}"]
        detector = _spawn(detector_args, folder / "detector.log", {**env, **_detector_env(args)})
        camera = None
        context = rclpy.Context()
        rclpy.init(context=context)
        node = rclpy.create_node("bench_node_subscriber", namespace=namespace, context=context)
        latencies: list[float] = []
        faces: list[int] = []
        last_status: dict[str, str] = {}
        detector_name = f"{namespace}/retinaface_detector"

        def on_detections(data: bytes) -> None:  # serialized: delivery counts, Python's parsing does not
            now_ns = node.get_clock().now().nanoseconds
            stamp, count = detection_array_stamp_and_count(data)
            latencies.append((now_ns - stamp) / 1e9)
            faces.append(count)

        def on_diagnostics(msg: Any) -> None:
            for status in msg.status:
                if status.name == detector_name:
                    last_status.clear()
                    last_status.update({kv.key: kv.value for kv in status.values})

        reliable = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)
        detections_type = vision_msgs.Detection2DArray
        node.create_subscription(detections_type, "detections", on_detections, reliable, raw=True)
        node.create_subscription(DiagnosticArray, "/diagnostics", on_diagnostics, 10)
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(node)
        try:
            deadline = time.monotonic() + STARTUP_TIMEOUT_S
            while node.count_subscribers(f"{namespace}/image") == 0:
                executor.spin_once(timeout_sec=0.1)
                if detector.poll() is not None or time.monotonic() > deadline:
                    log = (folder / "detector.log").read_text()[-2000:]
                    raise ValueError(f"the detector process did not start (rc {detector.returncode}):\n{log}")
            camera_args = ["retinaface_ros.ros.image_publisher", "--ros-args", "-r", f"__ns:={namespace}"]
            for name, value in (
                ("path", frame_file),
                ("rate", float(args.rate)),
                ("count", frames),
                ("reliable", str(reliability != "best_effort").lower()),
                ("frame_id", "bench"),
                ("wait_for_subscribers", 1),  # the detector: no frame is sent before it matched
            ):
                camera_args += ["-p", f"{name}:={value}"]
            camera = _spawn(camera_args, folder / "camera.log", env)
            while camera.poll() is None:
                executor.spin_once(timeout_sec=0.1)
            quiet_since, seen = time.monotonic(), -1
            while time.monotonic() - quiet_since < 2.0:  # until no result for 2 s (diagnostics catch up)
                executor.spin_once(timeout_sec=0.1)
                if len(latencies) != seen:
                    seen, quiet_since = len(latencies), time.monotonic()
            if camera.returncode != 0:
                log = (folder / "camera.log").read_text()[-2000:]
                raise ValueError(f"the camera process failed (rc {camera.returncode}):\n{log}")
        finally:
            if camera is not None:
                _stop(camera)
            detector_rc = _stop(detector)
            executor.shutdown(timeout_sec=2.0)
            node.destroy_node()
            context.try_shutdown()
            for name, value in saved_env.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
    stages = {
        key[len("stage_") : -len("_p50_ms")]: float(value)
        for key, value in last_status.items()
        if key.startswith("stage_") and key.endswith("_p50_ms")
    }
    baseline = _detect_arrays_alone(args, image, scales)
    node_p50 = _percentiles(latencies)["p50_ms"]
    return {
        "config": {
            "mode": "processes (camera, detector, subscriber)",
            "frames": frames,
            "rate_hz": args.rate,
            "size": [int(image.shape[1]), int(image.shape[0])],
            "scales": list(scales),
            "device": args.device,
            "backbone": args.backbone,
            "qos": reliability,
            "dds": args.dds,
            "cpus": os.cpu_count(),
            "load_average_1min": round(os.getloadavg()[0], 2),
            "detector_env": _detector_env(args),
        },
        "node": {
            "sent": frames,
            "results": len(latencies),
            "received_by_node": int(last_status.get("received", -1)),
            "dropped": int(last_status.get("dropped", -1)),
            "transport_lost": int(last_status.get("transport_lost", -1)),
            "latency": _percentiles(latencies),
            "stages_p50_ms": stages,
            "faces_per_frame": round(float(np.mean(faces)), 2) if faces else 0.0,
            "detector_exit_code": detector_rc,
        },
        "detect_arrays": baseline,
        "ratio_p50": round(node_p50 / baseline["latency"]["p50_ms"], 2),  # against the worker thread
        "ratio_p50_at_camera_rate": round(node_p50 / baseline["at_camera_rate_latency"]["p50_ms"], 2),
        # against the node's own inference of the same frames (the same detect call, timed at the same time:
        # immune to the drift of a VM's speed between runs, which moves detect_arrays alone by ±20 %)
        "ratio_p50_to_node_infer": round(node_p50 / stages["infer"], 2) if stages.get("infer") else None,
    }


def _detect_arrays_alone(args: argparse.Namespace, image: np.ndarray, scales: tuple[int, int]) -> dict:
    """``learner.detect_arrays`` timed on a worker thread, as the node runs it: back to back, at the camera's
    rate (as the node sees frames: on a VM an idle core wakes up slower, so each call costs more), and on the
    main thread.

    On a 2-core machine under load the worker and main thread differ by up to 15x (torch's OpenMP team of the
    main thread stalls, measured 1000 ms against 62 ms on a worker thread), so the ratio uses the worker."""
    from retinaface_ros.learner import RetinaFaceLearner

    learner = RetinaFaceLearner(backbone=args.backbone, device=args.device)
    learner.load(args.model, verbose=False)

    def timed(period_s: float = 0.0) -> list[float]:
        learner.detect_arrays(image, args.threshold, 0.4, scales)  # warm-up
        times = []
        next_call = time.monotonic()
        for _ in range(max(args.learner_frames, 1)):
            next_call += period_s
            time.sleep(max(0.0, next_call - time.monotonic()))
            start = time.perf_counter()
            learner.detect_arrays(image, args.threshold, 0.4, scales)
            times.append(time.perf_counter() - start)
        return times

    worker: list[float] = []
    paced: list[float] = []
    for out, period in ((worker, 0.0), (paced, 1.0 / args.rate if args.rate > 0 else 0.0)):
        thread = threading.Thread(target=lambda o=out, p=period: o.extend(timed(p)), name="detect_arrays")
        thread.start()
        thread.join()
    main = timed()
    return {
        "frames": len(worker),
        "latency": _percentiles(worker),
        "at_camera_rate_latency": _percentiles(paced),
        "main_thread_latency": _percentiles(main),
    }
