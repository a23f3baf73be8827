"""What the library calls behind REP 155's outputs cost on this machine, alone (issue #19).

The REP 155 outputs of a face are built from a few library calls that no Python arrangement makes cheaper:
``cv2.solvePnP`` (SQPnP, and EPnP for comparison) for the 3D pose, OpenCV's bilinear resampling for the
cropped and aligned images (``face_images``: the region's BGRA copy, the resize and the warp), and the DDS
publish of a 128×128 bgr8 image to a subscriber in another process. Each is timed here by itself, on the
faces ``retinaface bench-hri`` uses (the first 10 of bald_guys.jpg resized to 1280 wide), hot in the cache
and with no other work on the machine: the least the outputs of 10 faces can cost here (also with the
images' OpenCV calls alone, none of our Python around them). Prints one JSON object.

    python bench/hri_cost_floor.py --model mobilenet0.25_Final.pth --image bald_guys.jpg
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

FACES = 10
# A subscriber of every face's images that decodes nothing (as bench-hri's consumer).
_CONSUMER = """
import sys, rclpy
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image
rclpy.init()
node = rclpy.create_node("hri_cost_floor_consumer")
for index in range(int(sys.argv[1])):
    node.create_subscription(Image, f"/hri_cost_floor/image_{index}", lambda m: None,
                             QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE), raw=True)
try:
    rclpy.spin(node)
except BaseException:
    pass
"""


def median_us(call: Callable[[], object], repeats: int = 300) -> float:
    """Median wall time of ``call`` in µs, after a warm-up."""
    for _ in range(20):
        call()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return float(np.median(times) * 1e6)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--image", required=True)
    parser.add_argument("--width", type=int, default=1280)
    args = parser.parse_args()

    import cv2

    from retinaface_ros.hri import CameraIntrinsics
    from retinaface_ros.hri.face_crops import alignment_matrices, face_images
    from retinaface_ros.hri.face_pose import FACE_MODEL_MM
    from retinaface_ros.learner import RetinaFaceLearner

    image = cv2.imread(args.image, cv2.IMREAD_COLOR)
    if image is None:
        raise SystemExit(f"cannot read --image {args.image}")
    height = round(image.shape[0] * args.width / image.shape[1])
    image = cv2.resize(image, (args.width, height), interpolation=cv2.INTER_AREA)
    learner = RetinaFaceLearner(backbone="mnet", device="cpu")
    learner.load(args.model, verbose=False)
    found = learner.detect_arrays(image, 0.8, 0.4, (min(image.shape[:2]), max(image.shape[:2])))
    if len(found) < FACES:
        raise SystemExit(f"--image has {len(found)} faces at threshold 0.8, fewer than {FACES}")
    boxes, landmarks = found.boxes[:FACES], np.asarray(found.landmarks[:FACES], np.float64)
    focal = args.width / 2 / np.tan(np.radians(30))  # bench-hri's camera: 60° horizontal field of view
    camera = CameraIntrinsics(focal, focal, args.width / 2, height / 2)
    matrices = alignment_matrices(landmarks, (128, 128))

    def per_face(call: Callable[[int], object]) -> float:
        return float(np.mean([median_us(lambda i=i: call(i)) for i in range(FACES)]))

    pieces = {
        "solvepnp_sqpnp_us": per_face(
            lambda i: cv2.solvePnP(FACE_MODEL_MM, landmarks[i], camera.matrix, None, flags=cv2.SOLVEPNP_SQPNP)
        ),
        "solvepnp_epnp_us": per_face(
            lambda i: cv2.solvePnP(FACE_MODEL_MM, landmarks[i], camera.matrix, None, flags=cv2.SOLVEPNP_EPNP)
        ),
        "face_images_both_us": per_face(lambda i: face_images(image, boxes[i], matrices[i])),
        "opencv_calls_both_images_us": per_face(_opencv_calls(image, boxes, matrices)),
        "publish_image_49kB_us": _publish_us(),
    }
    publish = 2 * pieces["publish_image_49kB_us"]
    images = FACES * (pieces["face_images_both_us"] + publish)
    opencv_images = FACES * (pieces["opencv_calls_both_images_us"] + publish)
    pose = FACES * pieces["solvepnp_sqpnp_us"]
    report = {
        "image": f"{Path(args.image).name} resized to {image.shape[1]}x{image.shape[0]}",
        "faces": FACES,
        "pieces": {name: round(value, 1) for name, value in pieces.items()},
        "floor_10_faces_ms": {
            "3d_solvepnp": round(pose / 1000, 2),
            "images_pixels_and_publish": round(images / 1000, 2),
            "both": round((pose + images) / 1000, 2),
            "both_opencv_calls_only": round((pose + opencv_images) / 1000, 2),
        },
    }
    print(json.dumps(report, indent=2))


def _opencv_calls(image: np.ndarray, boxes: np.ndarray, matrices: np.ndarray) -> Callable[[int], object]:
    """Face ``i``'s two images made by the OpenCV calls of ``face_images`` alone (the region, sizes and
    shifted matrix worked out beforehand): what is left without any of our Python around them."""
    import cv2

    from retinaface_ros.hri.face_crops import _pixel_box, _warp_source

    rows, cols = image.shape[:2]
    plans = []
    for box, matrix in zip(boxes, matrices, strict=True):
        crop, warp = _pixel_box(box, rows, cols), _warp_source(matrix, (128, 128), rows, cols)
        x0, y0 = min(crop[0], warp[0]), min(crop[1], warp[1])
        x1, y1 = max(crop[2], warp[2]), max(crop[3], warp[3])
        scale = min(128 / (crop[2] - crop[0]), 128 / (crop[3] - crop[1]))
        size = (round((crop[2] - crop[0]) * scale), round((crop[3] - crop[1]) * scale))
        shifted = np.array(matrix, np.float64)
        shifted[:, 2] += shifted[:, :2] @ (x0, y0)
        inner = (slice(crop[1] - y0, crop[3] - y0), slice(crop[0] - x0, crop[2] - x0))
        plans.append((image[y0:y1, x0:x1], inner, size, shifted))

    def call(i: int) -> object:
        region, inner, size, shifted = plans[i]
        bgra = cv2.cvtColor(region, cv2.COLOR_BGR2BGRA)
        cropped = cv2.cvtColor(cv2.resize(bgra[inner], size), cv2.COLOR_BGRA2BGR)
        return cropped, cv2.cvtColor(cv2.warpAffine(bgra, shifted, (128, 128)), cv2.COLOR_BGRA2BGR)

    return call


def _publish_us() -> float:
    """Median µs of one reliable publish of a 128×128 bgr8 image (serialized, 49 kB) to a subscriber in
    another process, 20 topics a round as 10 faces' cropped and aligned images."""
    import rclpy
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import Image

    from retinaface_ros.ros import hri_messages

    rclpy.init()
    node = rclpy.create_node("hri_cost_floor")
    qos = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE)
    publishers = [node.create_publisher(Image, f"/hri_cost_floor/image_{i}", qos) for i in range(2 * FACES)]
    consumer = subprocess.Popen([sys.executable, "-c", _CONSUMER, str(2 * FACES)])
    try:
        deadline = time.monotonic() + 30
        while min(p.get_subscription_count() for p in publishers) == 0:
            if time.monotonic() > deadline:
                raise SystemExit("the image consumer did not connect in 30 s")
            time.sleep(0.05)
        data = hri_messages.image(Image().header, np.zeros((128, 128, 3), np.uint8))
        times = []
        for round_index in range(220):
            for publisher in publishers:
                start = time.perf_counter()
                publisher.publish(data)
                if round_index >= 20:
                    times.append(time.perf_counter() - start)
            time.sleep(0.02)  # the consumer takes them in between, as between camera frames
        return float(np.median(times) * 1e6)
    finally:
        consumer.kill()
        consumer.wait()
        node.destroy_node()
        rclpy.shutdown()


if __name__ == "__main__":
    main()
