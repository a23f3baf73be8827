"""`make demo`: the detector node on the shared pretrained mnet, fed a sample image by image_publisher.

Starts ``detector_node`` and ``image_publisher`` as separate processes (namespace /demo, localhost-only DDS),
prints the detections it receives, writes the annotated frame to demo_out/annotated.jpg (and the detections
to demo_out/detections.json), then stops both processes. No network needed.

    python tools/demo.py [--image PATH] [--model PATH] [--timeout 90]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("RETINAFACE_SHARED", REPO.parent / "shared")).resolve()
NAMESPACE = "/demo"


def start(module: str, *ros_args: str, env: dict[str, str]) -> subprocess.Popen:
    command = [sys.executable, "-m", module, "--ros-args", "-r", f"__ns:={NAMESPACE}", *ros_args]
    print("+", " ".join(command), flush=True)
    return subprocess.Popen(command, cwd=REPO, env=env)


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def receive(timeout: float, out_dir: Path) -> int:
    """Wait for one Detection2DArray and the matching annotated image; print and save them."""
    import rclpy
    from sensor_msgs.msg import Image

    from retinaface_ros.io.image_files import write_image
    from retinaface_ros.ros.image_conversion import imgmsg_to_bgr8
    from retinaface_ros.ros.interfaces import import_vision_msgs

    vision_msgs = import_vision_msgs()
    rclpy.init()
    node = rclpy.create_node("demo_receiver", namespace=NAMESPACE)
    detections: dict[tuple[int, int], object] = {}
    annotated: dict[tuple[int, int], object] = {}

    def key(msg) -> tuple[int, int]:
        return msg.header.stamp.sec, msg.header.stamp.nanosec

    node.create_subscription(
        vision_msgs.Detection2DArray, "detections", lambda m: detections.__setitem__(key(m), m), 5
    )
    node.create_subscription(Image, "image_annotated", lambda m: annotated.__setitem__(key(m), m), 5)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            rclpy.spin_once(node, timeout_sec=0.1)
            both = sorted(set(detections) & set(annotated))
            if both:
                msg, image_msg = detections[both[0]], annotated[both[0]]
                break
        else:
            print(f"demo: no detections within {timeout:.0f} s", file=sys.stderr)
            return 1
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    rows = [
        {
            "class_id": det.results[0].hypothesis.class_id,
            "score": round(det.results[0].hypothesis.score, 3),
            "center": [round(det.bbox.center.position.x, 1), round(det.bbox.center.position.y, 1)],
            "size": [round(det.bbox.size_x, 1), round(det.bbox.size_y, 1)],
        }
        for det in msg.detections
    ]
    print(f"received {len(rows)} faces on {NAMESPACE}/detections (frame_id {msg.header.frame_id!r}):")
    for row in rows[:10]:
        print(f"  {row['class_id']:<12} score {row['score']:.3f}  center {row['center']}  size {row['size']}")
    if len(rows) > 10:
        print(f"  ... {len(rows) - 10} more")
    out_dir.mkdir(parents=True, exist_ok=True)
    image = np.ascontiguousarray(imgmsg_to_bgr8(image_msg))
    write_image(out_dir / "annotated.jpg", image)
    (out_dir / "detections.json").write_text(json.dumps(rows, indent=1) + "\n")
    print(f"wrote {out_dir / 'annotated.jpg'} ({image.shape[1]}x{image.shape[0]}) and detections.json")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", default=str(SHARED / "images" / "selfie.jpg"))
    parser.add_argument("--model", default=str(SHARED / "models" / "mobilenet0.25_Final.pth"))
    parser.add_argument("--timeout", type=float, default=90.0)
    parser.add_argument("--out", default=str(REPO / "demo_out"))
    args = parser.parse_args()
    for path in (args.image, args.model):
        if not Path(path).is_file():
            print(
                f"demo: {path} not found (set RETINAFACE_SHARED to the shared data folder)", file=sys.stderr
            )
            return 1
    # The receiver (this process) and both nodes share the setting.
    os.environ.setdefault("ROS_DOMAIN_ID", str(40 + os.getpid() % 50))  # stay off a live graph on domain 0
    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    os.environ.pop("ROS_LOCALHOST_ONLY", None)
    env = dict(os.environ)
    processes = [
        start(
            "retinaface_ros.ros.detector_node",
            "--params-file",
            "config/detector.yaml",
            "-p",
            f"model_path:={args.model}",
            "-p",
            "device:=auto",
            "-p",
            "scales:=[640,1080]",
            "-p",
            "qos_reliability:=reliable",
            env=env,
        ),
        start(
            "retinaface_ros.ros.image_publisher",
            "-p",
            f"path:={args.image}",
            "-p",
            "rate:=2.0",
            "-p",
            "frame_id:=camera",
            env=env,
        ),
    ]
    watcher_error: list[str] = []

    def watch() -> None:  # a node dying early ends the demo with its exit code
        while all(p.poll() is None for p in processes):
            time.sleep(0.2)
        watcher_error.extend(f"process exited with {p.returncode}" for p in processes if p.poll())

    threading.Thread(target=watch, daemon=True).start()
    try:
        code = receive(args.timeout, Path(args.out))
    except KeyboardInterrupt:
        code = 130
    finally:
        for process in reversed(processes):
            stop(process)
    if code and watcher_error:
        print("demo: " + "; ".join(watcher_error), file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
