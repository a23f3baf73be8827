"""Smoke demo (`make demo`): publish one vision_msgs/Detection2DArray and receive it back over DDS.

Placeholder until the detector node demo replaces it; it proves the environment (rclpy + the bundled or
system vision_msgs + retinaface_interfaces) works end to end.
"""

from __future__ import annotations

import sys
import time

import rclpy
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

from retinaface_ros.ros.interfaces import import_interfaces, import_vision_msgs


def main() -> int:
    vm = import_vision_msgs()
    import_interfaces()
    qos = QoSProfile(
        depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL
    )
    rclpy.init()
    node = rclpy.create_node("retinaface_demo_smoke")
    received = []
    node.create_subscription(vm.Detection2DArray, "demo/detections", received.append, qos)
    pub = node.create_publisher(vm.Detection2DArray, "demo/detections", qos)
    msg = vm.Detection2DArray()
    msg.header.frame_id = "camera"
    det = vm.Detection2D()
    det.bbox.center.position.x, det.bbox.center.position.y = 64.0, 48.0
    det.bbox.size_x, det.bbox.size_y = 32.0, 40.0
    hyp = vm.ObjectHypothesisWithPose()
    hyp.hypothesis.class_id, hyp.hypothesis.score = "face", 0.9
    det.results.append(hyp)
    msg.detections.append(det)
    pub.publish(msg)
    deadline = time.monotonic() + 10.0
    while not received and time.monotonic() < deadline:
        rclpy.spin_once(node, timeout_sec=0.1)
    node.destroy_node()
    rclpy.try_shutdown()
    if not received:
        print("demo: FAILED: no Detection2DArray received within 10 s", file=sys.stderr)
        return 1
    got = received[0].detections[0]
    print(
        f"demo: received {got.results[0].hypothesis.class_id} score={got.results[0].hypothesis.score:.2f} "
        f"box=({got.bbox.center.position.x:.0f},{got.bbox.center.position.y:.0f},{got.bbox.size_x:.0f}x"
        f"{got.bbox.size_y:.0f})"
    )
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
