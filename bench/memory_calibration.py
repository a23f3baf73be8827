"""Measure the peak memory of one detection call, to calibrate ``validation.DETECTION_BYTES_PER_PIXEL``.

Each (backbone, size) runs in a fresh process: the growth of its peak RSS (``ru_maxrss``) from one warm-up
call on a 64×64 image to one call at the given network input size, divided by the input pixels and the
batch. Prints a JSON table. ``python bench/memory_calibration.py [--sizes 640x480 1280x960] [--batch 2]``;
results: ``bench/results/memory_calibration_cpu.json``.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys

SIZES = ("640x480", "1280x960", "1980x1024")


def measure(backbone: str, width: int, height: int, batch: int, threads: int) -> dict:
    """Peak RSS growth of one ``detect_arrays_batch`` call at width×height (no resize), in this process."""
    import numpy as np
    import torch

    from retinaface_ros.learner import RetinaFaceLearner

    torch.set_num_threads(threads)
    learner = RetinaFaceLearner(backbone=backbone, device="cpu")
    learner.init_model()
    learner.detect_arrays(np.zeros((64, 64, 3), np.uint8), scales=[64, 64])
    images = [np.random.default_rng(0).integers(0, 255, (height, width, 3), np.uint8) for _ in range(batch)]
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    learner.detect_arrays_batch(images, threshold=0.99, scales=[min(height, width), max(height, width)])
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    pixels = width * height * batch
    return {
        "backbone": backbone,
        "size": f"{width}x{height}",
        "batch": batch,
        "threads": threads,
        "peak_growth_mb": round((peak - before) / 2**20, 1),
        "bytes_per_pixel": round((peak - before) / pixels, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbones", nargs="+", default=["mnet", "resnet"])
    parser.add_argument("--sizes", nargs="+", default=list(SIZES))
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--one", nargs=5, help=argparse.SUPPRESS)  # backbone width height batch threads
    args = parser.parse_args()
    if args.one:
        backbone, width, height, batch, threads = args.one
        print(json.dumps(measure(backbone, int(width), int(height), int(batch), int(threads))))
        return
    rows = []
    for backbone in args.backbones:
        for size in args.sizes:
            width, height = size.split("x")
            one = [backbone, width, height, str(args.batch), str(args.threads)]
            child = [sys.executable, __file__, "--one", *one]
            out = subprocess.run(child, check=True, capture_output=True, text=True).stdout
            rows.append(json.loads(out.strip().splitlines()[-1]))
            print(json.dumps(rows[-1]), file=sys.stderr)
    print(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
