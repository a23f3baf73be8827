"""Privacy benchmark (JSON on stdout, ``--out`` file too): how well anonymisation hides faces from the
detector, that nothing outside the covered regions changes, and bag throughput.

``python -m retinaface_ros.benchmark.privacy --model mnet.pth --images selfie.jpg bald_guys.jpg``

- ``redetection``: faces mnet finds at 0.5 on the anonymised image / on the original (matched at IoU ≥ 0.3),
  per image and method/shape; and over a synthetic panning sequence (a window sliding over an image) with
  temporal safety by the tracker, by holding, and off, where the detector is made to miss every
  ``--miss-every``-th frame (its detections dropped) to show what temporal safety buys.
- ``outside_changed``: pixels changed outside the enlarged boxes in raw (rgb8) bag images (must be 0).
- ``bag_throughput``: frames/s of ``anonymize`` on a raw rgb8 bag at 1280×720 and 1920×1080 (model's scales).
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from retinaface_ros.detections import Detections
from retinaface_ros.privacy import AnonymizeConfig, anonymize_image, cover_regions
from retinaface_ros.privacy.frame_anonymizer import FrameAnonymizer
from retinaface_ros.tracking.association import iou_matrix


def _found_again(original: Detections, after: Detections) -> int:
    if not len(original) or not len(after):
        return 0
    return int((iou_matrix(original.boxes, after.boxes).max(1) >= 0.3).sum())


def redetection_images(learner, images: list[Path]) -> list[dict]:  # noqa: ANN001
    rows = []
    for path in images:
        image = cv2.imread(str(path))
        original = learner.detect_arrays(image, threshold=0.5)
        for method in ("blur", "mosaic", "solid"):
            for shape in ("ellipse", "box"):
                config = AnonymizeConfig(method=method, shape=shape)
                covered = learner.detect_arrays(image, threshold=config.threshold)
                after = learner.detect_arrays(anonymize_image(image, covered.boxes, config), threshold=0.5)
                again = _found_again(original, after)
                rows.append(
                    {
                        "input": path.name,
                        "method": method,
                        "shape": shape,
                        "faces_original": len(original),
                        "found_again": again,
                        "found_again_pct": round(100 * again / max(len(original), 1), 2),
                    }
                )
                print(json.dumps(rows[-1]), flush=True)
    return rows


def panning_sequence(
    image_path: Path, count: int, width: int = 640, height: int = 480, pan: int = 12
) -> list:
    image = cv2.imread(str(image_path))
    scale = (width + pan * count) / image.shape[1]
    image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    top = max(0, (image.shape[0] - height) // 2)
    return [np.ascontiguousarray(image[top : top + height, i * pan : i * pan + width]) for i in range(count)]


class _MissingDetector:
    """The learner with every ``miss_every``-th frame's detections dropped (a detector miss)."""

    def __init__(self, learner, miss_every: int) -> None:  # noqa: ANN001
        self.learner, self.miss_every, self.frame = learner, miss_every, 0

    def detect_arrays_batch(self, images, **kwargs):  # noqa: ANN001, ANN201
        found = self.learner.detect_arrays_batch(images, **kwargs)
        out = []
        for detections in found:
            self.frame += 1
            out.append(
                Detections.empty() if self.miss_every and self.frame % self.miss_every == 0 else detections
            )
        return out


def redetection_sequence(learner, image_path: Path, frames: int, miss_every: int, scales) -> list[dict]:  # noqa: ANN001
    sequence = panning_sequence(image_path, frames)
    originals = learner.detect_arrays_batch(sequence, threshold=0.5, scales=scales)
    rows = []
    for temporal, max_age, tracking in (("tracker", 0.5, True), ("hold", 0.5, False), ("off", 0.0, False)):
        anonymizer = FrameAnonymizer(
            _MissingDetector(learner, miss_every), AnonymizeConfig(), max_age, tracking, scales=scales
        )
        covered = []
        for i in range(0, frames, 4):
            chunk = [("pan", (i + j) / 10.0, image) for j, image in enumerate(sequence[i : i + 4])]
            for (_, _, image), boxes in zip(chunk, anonymizer.boxes_to_cover(chunk), strict=True):
                covered.append(anonymize_image(image, boxes))
        after = learner.detect_arrays_batch(covered, threshold=0.5, scales=scales)
        total = sum(len(o) for o in originals)
        again = sum(_found_again(o, a) for o, a in zip(originals, after, strict=True))
        rows.append(
            {
                "input": f"panning {image_path.name} {frames} frames 640x480, miss every {miss_every}",
                "temporal": temporal,
                "faces_original": total,
                "found_again": again,
                "found_again_pct": round(100 * again / max(total, 1), 2),
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    return rows


def bag_throughput(learner, image_path: Path, sizes: list[tuple[int, int]], frames: int) -> list[dict]:  # noqa: ANN001
    from retinaface_ros.recording.bag_rewriter import default_typestore
    from retinaface_ros.recording.rewrite_jobs import RewriteOptions, rewrite_input

    rows = []
    source_image = cv2.imread(str(image_path))
    for width, height in sizes:
        work = Path(tempfile.mkdtemp(prefix="privacy_bench_"))
        try:
            bag = work / "in"
            sequence = [
                cv2.resize(f, (width, height)) for f in panning_sequence(image_path, frames, 960, 540, 8)
            ]
            _write_raw_bag(bag, sequence, default_typestore())
            anonymizer = FrameAnonymizer(learner, AnonymizeConfig(), 1.0, True)
            start = time.perf_counter()
            rewrite_input("bag", bag, work / "out", anonymizer, RewriteOptions(batch_size=4), lambda _: None)
            seconds = time.perf_counter() - start
            outside = _changed_outside(bag, work / "out", learner, sequence)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        rows.append(
            {
                "size": f"{width}x{height}",
                "frames": frames,
                "seconds": round(seconds, 2),
                "fps": round(frames / seconds, 2),
                "scales": list(learner.inference_params.scales),
                "outside_changed_pixels": outside,
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    del source_image
    return rows


def _write_raw_bag(path: Path, frames: list[np.ndarray], typestore) -> None:  # noqa: ANN001
    from rosbags.rosbag2 import Writer
    from rosbags.rosbag2.enums import StoragePlugin

    t = typestore.types
    Image, Header, Time = (
        t["sensor_msgs/msg/Image"],
        t["std_msgs/msg/Header"],
        t["builtin_interfaces/msg/Time"],
    )
    with Writer(path, version=9, storage_plugin=StoragePlugin.MCAP) as writer:
        conn = writer.add_connection("/cam/image_raw", Image.__msgtype__, typestore=typestore)
        for i, frame in enumerate(frames):
            rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
            msg = Image(
                header=Header(stamp=Time(sec=i // 30, nanosec=(i % 30) * 33_333_333), frame_id="cam"),
                height=frame.shape[0],
                width=frame.shape[1],
                encoding="rgb8",
                is_bigendian=0,
                step=frame.shape[1] * 3,
                data=rgb.reshape(-1),
            )
            writer.write(conn, i * 33_333_333, typestore.serialize_cdr(msg, Image.__msgtype__))


def _changed_outside(source: Path, out: Path, learner, frames: list[np.ndarray]) -> int:  # noqa: ANN001
    """Pixels changed outside every box the run could have covered (this frame's and the previous second's
    detections at the anonymiser's threshold, enlarged, 2 px slack)."""
    from rosbags.rosbag2 import Reader

    from retinaface_ros.recording.bag_rewriter import default_typestore

    typestore = default_typestore()
    detections = learner.detect_arrays_batch(frames, threshold=AnonymizeConfig().threshold)
    changed_outside = 0
    with Reader(out) as reader:
        for i, (conn, _, raw) in enumerate(reader.messages()):
            msg = typestore.deserialize_cdr(raw, conn.msgtype)
            image = cv2.cvtColor(msg.data.reshape(msg.height, msg.width, 3), cv2.COLOR_RGB2BGR)
            allowed = np.zeros(image.shape[:2], np.uint8)
            for d in detections[max(0, i - 30) : i + 1]:
                for x1, y1, x2, y2 in cover_regions(d.boxes, 1.6, image.shape[:2]):  # tracked boxes move
                    allowed[y1:y2, x1:x2] = 1
            changed = (image != frames[i]).any(-1) & ~allowed.astype(bool)
            changed_outside += int(changed.sum())
    return changed_outside


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", required=True, type=Path)
    parser.add_argument("--images", nargs="+", type=Path, required=True, help="still images (first: panning)")
    parser.add_argument("--frames", type=int, default=24, help="panning sequence length (24)")
    parser.add_argument("--miss-every", type=int, default=3, help="simulated detector miss period (3)")
    parser.add_argument("--bag-frames", type=int, default=8, help="frames per throughput bag (8)")
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    args = parser.parse_args(argv)
    import torch

    from retinaface_ros.learner import RetinaFaceLearner

    learner = RetinaFaceLearner(backbone="mnet", device="cpu")
    learner.load(args.model, verbose=False)
    result = {
        "machine": {
            "cpu": platform.processor() or platform.machine(),
            "torch_threads": torch.get_num_threads(),
        },
        "redetection_images": redetection_images(learner, args.images),
        "redetection_sequence": redetection_sequence(
            learner, args.images[-1], args.frames, args.miss_every, [480, 640]
        ),
        "bag_throughput": bag_throughput(
            learner, args.images[-1], [(1280, 720), (1920, 1080)], args.bag_frames
        ),
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        from retinaface_ros.io.atomic_files import write_atomically

        write_atomically(args.out, (text + "\n").encode())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
