"""``retinaface echo TOPIC``: one line per Detection2DArray / FaceArray message (faces, ids, scores,
latency), without ros2cli."""

from __future__ import annotations

import argparse
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "echo",
        help="print one line per detections / faces message (faces, ids, scores, latency)",
        description="Subscribe to a vision_msgs/Detection2DArray or retinaface_interfaces/FaceArray topic "
        "(e.g. detections, faces) and print one line per message: stamp, frame, number of faces, ids, "
        "scores and latency (header stamp to now). The QoS follows the publishers.",
    )
    parser.add_argument("topic", help="topic name, e.g. detections or /camera/detections")
    parser.add_argument(
        "--count", type=int, default=0, help="stop after this many messages (0 = until Ctrl-C)"
    )
    parser.add_argument(
        "--wait", type=float, default=10.0, help="seconds to wait for a publisher (default 10)"
    )
    parser.set_defaults(func=handler)


def handler(args: argparse.Namespace) -> int:
    from retinaface_ros.commands import UsageError
    from retinaface_ros.ros.detection_summary import DETECTION_TYPES, summary
    from retinaface_ros.ros.topic_reader import TopicError, read_topic

    if args.count < 0:
        raise UsageError(f"--count must be >= 0, got {args.count}")

    def on_message(msg, type_name: str, node) -> None:
        now = node.get_clock().now().nanoseconds * 1e-9
        print(summary(msg, type_name, now), flush=True)

    try:
        read_topic(args.topic, DETECTION_TYPES, on_message, args.wait, "retinaface_echo", count=args.count)
    except TopicError as error:
        print(f"retinaface: error: {error}", file=sys.stderr)
        return 2
    return 0
