"""Read one topic from the command line: wait for it, learn its type from the graph, subscribe with the
publishers' reliability, hand each message to a callback until enough arrived or Ctrl-C.

Used by ``retinaface echo`` and ``retinaface view``; needs no ros2cli.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import rclpy
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.qos import HistoryPolicy, QoSProfile

from retinaface_ros.ros.qos_choice import choose_reliability, publisher_policies


class TopicError(ValueError):
    """The topic cannot be read as asked (no publisher, unsupported type): one line for the user."""


def _message_class(type_name: str) -> type:
    """``pkg/msg/Name`` → the message class."""
    package, _, name = type_name.split("/")
    module = __import__(f"{package}.msg", fromlist=[name])
    return getattr(module, name)


def read_topic(
    topic: str,
    types: Sequence[str],
    on_message: Callable[[Any, str, Any], bool | None],
    wait_s: float = 10.0,
    node_name: str = "retinaface_cli",
    depth: int = 10,
    count: int = 0,
) -> int:
    """Subscribe to ``topic`` (one of ``types``, e.g. ``sensor_msgs/msg/Image``) and call
    ``on_message(msg, type_name, node)`` for each message until ``count`` messages (0 = no limit), until it
    returns True, Ctrl-C, or the ROS context shuts down. Returns the number of messages handed over; raises
    TopicError when no publisher of a supported type appears within ``wait_s`` seconds."""
    rclpy.init()
    node = rclpy.create_node(node_name)
    handled = 0
    try:
        name = node.resolve_topic_name(topic)
        deadline = time.monotonic() + wait_s
        found: list[str] = []
        while rclpy.ok():
            found = [t for n, kinds in node.get_topic_names_and_types() if n == name for t in kinds]
            if found and node.count_publishers(name):
                break
            if time.monotonic() > deadline:
                what = f"of type {', '.join(found)} " if found else ""
                raise TopicError(f"no publisher {what}on {name} after {wait_s:.0f} s")
            time.sleep(0.1)
        supported = [kind for kind in found if kind in types]
        if not supported:
            raise TopicError(f"{name} has type {', '.join(found)}; supported: {', '.join(types)}")
        type_name = supported[0]
        choice = choose_reliability("auto", publisher_policies(node, name))
        qos = QoSProfile(depth=depth, history=HistoryPolicy.KEEP_LAST, reliability=choice.policy)
        done = False

        def callback(msg: Any) -> None:
            nonlocal handled, done
            if done:
                return
            handled += 1
            done = bool(on_message(msg, type_name, node)) or handled == count

        node.create_subscription(_message_class(type_name), name, callback, qos)
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        while rclpy.ok() and not done:
            executor.spin_once(timeout_sec=0.1)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    return handled
