"""``image_publisher``: an image file, a folder of images or a video → sensor_msgs/Image at a fixed rate.

Parameters: ``path`` (file / folder / video), ``rate`` (Hz), ``encoding`` (bgr8, rgb8, bgra8, rgba8, mono8,
mono16), ``loop`` (start over at the end), ``count`` (stop after this many frames, 0 = never), ``frame_id``,
``compressed`` (publish jpeg on ``image/compressed`` instead), ``reliable`` (QoS), ``wait_for_subscribers``
(start only once this many subscriptions matched; 0 = at once). Publishes on the relative topic ``image``, so
``-r image:=/camera/image_raw`` and namespaces work.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CompressedImage, Image

from retinaface_ros.io.image_files import opencv_path, read_image
from retinaface_ros.ros.image_conversion import bgr8_to_compressed, bgr8_to_imgmsg
from retinaface_ros.ros.node_runner import run_node
from retinaface_ros.ros.parameter_overrides import promote_integer_overrides

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".pgm", ".ppm"}


def frames(path: Path, loop: bool) -> Iterator[np.ndarray]:
    """BGR frames from an image, a folder of images (sorted) or a video; forever when ``loop``."""
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise FileNotFoundError(f"no images in folder {path}")
    elif path.is_file():
        files = [path]
    else:
        raise FileNotFoundError(f"path {str(path)!r} does not exist")
    is_video = len(files) == 1 and files[0].suffix.lower() not in IMAGE_SUFFIXES
    return _generate(files, is_video, loop)


def _generate(files: list[Path], is_video: bool, loop: bool) -> Iterator[np.ndarray]:
    cache: dict[Path, np.ndarray] = {}
    while True:
        if is_video:
            capture = cv2.VideoCapture(opencv_path(files[0]))
            if not capture.isOpened():
                raise ValueError(f"OpenCV cannot open {files[0]} as a video")
            ok, frame = capture.read()
            while ok:
                yield frame
                ok, frame = capture.read()
            capture.release()
        else:
            for file in files:
                image = cache.get(file)
                if image is None:
                    image = read_image(file)
                    if len(files) <= 16:  # a small set is kept decoded
                        cache[file] = image
                yield image
        if not loop:
            return


class ImagePublisher(Node):
    """Publishes frames from ``path`` at ``rate`` Hz."""

    def __init__(self, **kwargs) -> None:
        super().__init__("image_publisher", **kwargs)
        promote_integer_overrides(self, ["rate"])
        self.path = Path(self.declare_parameter("path", "").value).expanduser()
        rate = float(self.declare_parameter("rate", 10.0).value)
        self.encoding = str(self.declare_parameter("encoding", "bgr8").value)
        self.loop = bool(self.declare_parameter("loop", True).value)
        self.count = int(self.declare_parameter("count", 0).value)
        self.frame_id = str(self.declare_parameter("frame_id", "camera").value)
        self.compressed = bool(self.declare_parameter("compressed", False).value)
        reliable = bool(self.declare_parameter("reliable", True).value)
        self.wait_for_subscribers = int(self.declare_parameter("wait_for_subscribers", 0).value)
        if rate <= 0:
            raise ValueError(f"rate must be > 0 Hz, got {rate}")
        qos = QoSProfile(
            depth=1, reliability=ReliabilityPolicy.RELIABLE if reliable else ReliabilityPolicy.BEST_EFFORT
        )
        if self.compressed:
            self.publisher = self.create_publisher(CompressedImage, "image/compressed", qos)
        else:
            self.publisher = self.create_publisher(Image, "image", qos)
        bgr8_to_imgmsg(np.zeros((2, 2, 3), np.uint8), self.encoding)  # reject a bad encoding now
        self._frames = frames(self.path, self.loop)
        self.sent = 0
        self.done = False
        self.create_timer(1.0 / rate, self._tick)
        self.get_logger().info(f"publishing {self.path} at {rate} Hz on {self.publisher.topic_name}")

    def _tick(self) -> None:
        if self.done or self.publisher.get_subscription_count() < self.wait_for_subscribers:
            return
        frame = next(self._frames, None)
        if frame is None or (self.count and self.sent >= self.count):
            self.done = True
            return
        header = Image().header
        header.frame_id = self.frame_id
        if self.compressed:
            msg = bgr8_to_compressed(frame, "jpeg", header)
        else:
            msg = bgr8_to_imgmsg(frame, self.encoding, header)
        msg.header.stamp = self.get_clock().now().to_msg()  # when handed over (a file has no capture time)
        self.publisher.publish(msg)
        self.sent += 1


def main(args: list[str] | None = None) -> int:
    """Publish until the file/folder/video is done (or forever with ``loop``); 1 on a bad source."""
    return run_node("image_publisher", ImagePublisher, until=lambda node: node.done, args=args)


if __name__ == "__main__":
    sys.exit(main())
