"""issue #16.9: very large frames' memory goes back to the system: the node trims the heap after large
messages (at most once a second, from its diagnostics timer), and keeps processing. RSS before/after is
measured by bench/node_memory_burst.py (docs/node_transport.md: 395 → 594 MB before any bound, 399 → 522
MB now)."""

from __future__ import annotations

import array
import os

import numpy as np
import pytest
from ros_helpers import BackgroundSpin, cpu_detector_node, require_rclpy, wait_for

pytestmark = pytest.mark.ros
rclpy = require_rclpy()

from rclpy.lifecycle import TransitionCallbackReturn  # noqa: E402
from rclpy.qos import QoSProfile, ReliabilityPolicy  # noqa: E402
from sensor_msgs.msg import Image  # noqa: E402

from retinaface_ros.ros.heap_bound import LARGE_MESSAGE_BYTES, HeapBound  # noqa: E402
from retinaface_ros.ros.image_conversion import bgr8_to_imgmsg  # noqa: E402

SUCCESS = TransitionCallbackReturn.SUCCESS


def test_heap_bound_trims_once_per_large_message():
    heap = HeapBound()
    if not heap.available:
        pytest.skip("not glibc: nothing to trim")
    assert not heap.maybe_trim()  # nothing large seen
    heap.note(LARGE_MESSAGE_BYTES - 1)
    assert not heap.maybe_trim()
    heap.note(LARGE_MESSAGE_BYTES)
    assert heap.maybe_trim() and heap.trims == 1
    assert not heap.maybe_trim()  # nothing new since


def test_node_trims_after_large_and_malformed_frames(mnet_weights):
    spinner = BackgroundSpin()
    namespace = f"/heap{os.getpid()}"
    node = cpu_detector_node(
        spinner.context, namespace, mnet_weights, scales=[240, 320], diagnostics_period=0.2
    )
    probe = rclpy.create_node("heap_probe", namespace=namespace, context=spinner.context)
    publisher = probe.create_publisher(
        Image, "image", QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE)
    )
    spinner.add(node, probe)
    try:
        assert node.trigger_configure() == SUCCESS and node.trigger_activate() == SUCCESS
        if not node.heap.available:
            pytest.skip("not glibc: nothing to trim")
        assert wait_for(lambda: publisher.get_subscription_count() > 0)
        big = bgr8_to_imgmsg(np.random.default_rng(0).integers(0, 255, (2000, 3000, 3), np.uint8))  # 18 MB
        publisher.publish(big)
        assert wait_for(lambda: node.stats.processed >= 1, 60)
        assert wait_for(lambda: node.heap.trims >= 1, 30)
        trims = node.heap.trims
        bad = Image(
            height=4000, width=4000, encoding="bgr8", step=12000, data=array.array("B", bytes(9 << 20))
        )
        publisher.publish(bad)  # malformed (short data): rejected, its buffer still given back
        assert wait_for(lambda: node.stats.rejected >= 1, 30)
        assert wait_for(lambda: node.heap.trims > trims, 30)
        small = bgr8_to_imgmsg(np.zeros((240, 320, 3), np.uint8))
        processed = node.stats.processed
        publisher.publish(small)
        assert wait_for(lambda: node.stats.processed > processed, 30)  # still running
    finally:
        spinner.close()
