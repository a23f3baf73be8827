"""``retinaface view TOPIC [--save DIR]``: look at an Image / CompressedImage topic (e.g. image_annotated)
without rviz: an OpenCV window, or the frames written to a folder (over ssh, headless)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

IMAGE_TYPES = ("sensor_msgs/msg/Image", "sensor_msgs/msg/CompressedImage")
WINDOW = "retinaface view"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "view",
        help="show an Image/CompressedImage topic in a window, or write its frames (--save DIR)",
        description="Subscribe to a sensor_msgs/Image or CompressedImage topic (e.g. image_annotated) and "
        "show it in an OpenCV window (q or Esc closes it), or with --save write each frame as "
        "DIR/<stamp>_<n>.<format> (no display needed, e.g. over ssh). The QoS follows the publishers.",
    )
    parser.add_argument("topic", help="topic name, e.g. image_annotated")
    parser.add_argument("--save", metavar="DIR", help="write the frames into this folder instead of a window")
    parser.add_argument("--format", choices=("jpg", "png"), default="jpg", help="--save file format")
    parser.add_argument("--count", type=int, default=0, help="stop after this many frames (0 = until Ctrl-C)")
    parser.add_argument(
        "--wait", type=float, default=10.0, help="seconds to wait for a publisher (default 10)"
    )
    parser.set_defaults(func=handler)


def _save_folder(value: str) -> Path:
    from retinaface_ros.commands import UsageError

    folder = Path(value).expanduser()
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"--save {value!r} exists and is not a folder")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _have_display() -> bool:
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def handler(args: argparse.Namespace) -> int:
    import cv2

    from retinaface_ros.commands import UsageError
    from retinaface_ros.io.atomic_files import write_atomically
    from retinaface_ros.ros.detection_summary import stamp_seconds
    from retinaface_ros.ros.image_conversion import ImageConversionError, compressed_to_bgr8, imgmsg_to_bgr8
    from retinaface_ros.ros.topic_reader import TopicError, read_topic

    if args.count < 0:
        raise UsageError(f"--count must be >= 0, got {args.count}")
    folder = _save_folder(args.save) if args.save else None
    if folder is None and not _have_display():
        raise UsageError("no display (DISPLAY / WAYLAND_DISPLAY unset): use --save DIR to write the frames")
    shown = [0]

    def on_message(msg, type_name: str, node) -> bool:
        try:
            image = compressed_to_bgr8(msg) if type_name.endswith("CompressedImage") else imgmsg_to_bgr8(msg)
        except ImageConversionError as error:
            node.get_logger().warning(f"frame skipped: {error}", throttle_duration_sec=2.0)
            return False
        shown[0] += 1
        if folder is not None:
            ok, encoded = cv2.imencode(f".{args.format}", image)
            if not ok:
                raise OSError(f"OpenCV could not encode a {image.shape} frame as {args.format}")
            name = f"{stamp_seconds(msg.header):.6f}_{shown[0]:06d}.{args.format}"
            write_atomically(folder / name, encoded.tobytes())
            return False
        cv2.imshow(WINDOW, image)
        return cv2.waitKey(1) & 0xFF in (ord("q"), 27)  # q or Esc closes the window

    try:
        read_topic(
            args.topic, IMAGE_TYPES, on_message, args.wait, "retinaface_view", depth=1, count=args.count
        )
    except TopicError as error:
        print(f"retinaface: error: {error}", file=sys.stderr)
        return 2
    except cv2.error as error:  # an OpenCV built without GUI support (opencv-python-headless)
        first = str(error).strip().splitlines()[-1] if str(error).strip() else "no GUI support"
        raise UsageError(f"OpenCV cannot open a window ({first}): use --save DIR") from None
    finally:
        if folder is None and _have_display():
            cv2.destroyAllWindows()
    where = f" to {folder}" if folder is not None else ""
    print(f"{shown[0]} frame(s) from {args.topic}{where}")
    return 0
