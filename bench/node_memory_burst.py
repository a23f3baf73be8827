"""RSS of an in-process detector node over three bursts of very large and malformed frames (issue #16.9).

Each burst: 6 valid bgr8 frames of 3000×4000 to 2000×8000 (36-72 MB), 6 malformed 10 MB messages, then 20
frames of 640×480; the node's RSS after each burst, once it has processed them (and its heap bound has had
its second to trim). Prints one JSON object.

    python bench/node_memory_burst.py --model mobilenet0.25_Final.pth
"""

from __future__ import annotations

import argparse
import array
import json
import os
import threading
import time

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--bursts", type=int, default=3)
    args = parser.parse_args()

    import rclpy
    from rclpy.executors import MultiThreadedExecutor
    from rclpy.parameter import Parameter
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import Image

    from retinaface_ros.benchmark.runner import rss_mb
    from retinaface_ros.ros.detector_node import DetectorNode
    from retinaface_ros.ros.image_conversion import bgr8_to_imgmsg

    rclpy.init()
    namespace = f"/memory_burst_{os.getpid()}"
    settings = {
        "model_path": args.model,
        "device": "cpu",
        "qos_reliability": "reliable",
        "scales": [480, 640],
    }
    node = DetectorNode(
        namespace=namespace, parameter_overrides=[Parameter(k, value=v) for k, v in settings.items()]
    )
    probe = rclpy.create_node("memory_burst_probe", namespace=namespace)
    publisher = probe.create_publisher(
        Image, "image", QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE)
    )
    executor = MultiThreadedExecutor()
    executor.add_node(node)
    executor.add_node(probe)
    threading.Thread(target=executor.spin, daemon=True).start()
    node.trigger_configure()
    node.trigger_activate()
    while publisher.get_subscription_count() == 0:
        time.sleep(0.05)

    def send(msg: Image) -> None:
        before = node.stats.processed + node.stats.rejected
        publisher.publish(msg)
        while node.stats.processed + node.stats.rejected <= before:
            time.sleep(0.01)

    rng = np.random.default_rng(0)
    small = bgr8_to_imgmsg(rng.integers(0, 255, (480, 640, 3), np.uint8))
    for _ in range(20):
        send(small)
    time.sleep(2.0)
    report = {"before_mb": round(rss_mb())}
    sizes = [(3000, 4000), (3000, 4500), (2500, 6000), (2000, 7000), (2000, 7500), (2000, 8000)]
    for burst in range(1, args.bursts + 1):
        for height, width in sizes:
            send(bgr8_to_imgmsg(rng.integers(0, 255, (height, width, 3), np.uint8)))
            bad = Image(
                height=4000, width=4000, encoding="bgr8", step=12000, data=array.array("B", bytes(10 << 20))
            )
            send(bad)  # malformed: short data
        for _ in range(20):
            send(small)
        time.sleep(2.0)  # the heap bound trims at most once a second, from the diagnostics timer
        report[f"after_burst_{burst}_mb"] = round(rss_mb())
    report["trims"] = node.heap.trims
    print(json.dumps(report))
    executor.shutdown(timeout_sec=2.0)
    rclpy.try_shutdown()


if __name__ == "__main__":
    main()
