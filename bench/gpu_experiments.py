"""GPU experiments for choosing the CUDA defaults in one device run (not part of the package).

Each experiment prints one JSON line and is independent (a failure is recorded, the next one runs):

* ``mnet_b1``: where the 640×480 batch-1 time goes: whole ``detect`` (host wall clock), the network graph's
  and the postprocess graph's GPU time (CUDA events), and the same with ``torch.compile`` (inductor) of the
  network and/or of the packed postprocess, captured in the same CUDA graphs.
* ``staging_b32``: the 640×480 batch-32 upload split into filling the pinned buffer (host threads) and the
  host→device copy.
* ``r50``: the R50 1820×1024 network graph (fp16, channels_last): as is, with cuDNN trying every algorithm
  (``benchmark_limit=0``), with cuDNN's fused conv+bias+ReLU / conv+bias+add+ReLU, with inductor; b1 and b8.

Usage (repository root, CUDA machine): ``python3 bench/gpu_experiments.py OUT.json [deadline_s]``.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

import retinaface_ros.inference.postprocess.packed as inference_module
from retinaface_ros.benchmark.runner import load_model, test_frames
from retinaface_ros.detections import InferenceParams
from retinaface_ros.inference.detector import fast_detector
from retinaface_ros.inference.options import DetectorOptions
from retinaface_ros.inference.postprocess.packed import packed_postprocess
from retinaface_ros.inference.staging import WORKERS, stage_frames
from retinaface_ros.model import RetinaFace, config_for
from retinaface_ros.model.backbones import Bottleneck

RESULTS: list[dict[str, Any]] = []
START = time.monotonic()


def report(name: str, **values: Any) -> None:
    entry = {"experiment": name, "t_s": round(time.monotonic() - START, 1), **values}
    RESULTS.append(entry)
    print(json.dumps(entry), flush=True)


def median_ms(fn: Callable[[], Any], runs: int, clock: str) -> float:
    """Median of ``runs`` calls of ``fn`` after 3 warm-ups: host wall clock to a device sync (``wall``) or
    the GPU time between CUDA events around it (``gpu``)."""
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(runs):
        if clock == "gpu":
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            end.synchronize()
            times.append(start.elapsed_time(end))
        else:
            t0 = time.perf_counter()
            fn()
            torch.cuda.synchronize()
            times.append((time.perf_counter() - t0) * 1e3)
    return round(float(np.median(times)), 4)


def wall_ms(fn: Callable[[], Any], runs: int = 50) -> float:
    return median_ms(fn, runs, "wall")


def gpu_ms(fn: Callable[[], Any], runs: int = 50) -> float:
    return median_ms(fn, runs, "gpu")


def boxes_of(found: Any) -> np.ndarray:
    return np.asarray(found.boxes, dtype=np.float64).reshape(-1, 4)


def mnet_variant(compile_net: bool, compile_post: bool) -> tuple[dict[str, Any], np.ndarray]:
    model, _ = load_model("mnet", None)
    frame = test_frames("640x480", 1)[0]
    params = InferenceParams(scales=(480, 640))
    torch._dynamo.reset()
    inference_module.packed_postprocess = (
        torch.compile(packed_postprocess, dynamic=False) if compile_post else packed_postprocess
    )
    det = fast_detector(model, config_for("mnet"), "cuda", DetectorOptions(fp16=True))
    if compile_net:
        det.backend.forward = torch.compile(det.backend.forward, dynamic=False)
    t0 = time.monotonic()
    with torch.inference_mode():
        det.detect(frame, params)
        found = det.detect(frame, params)  # the second run captures the graphs
        setup_s = time.monotonic() - t0
        detect = wall_ms(lambda: det.detect(frame, params), 200)
        graph = det.backend.graph((1, 480, 640))
        post = graph.posts[min(det.options.top_k)]
        values = post.values
        result = {
            "setup_s": round(setup_s, 1),
            "detect_ms": detect,
            "fps": round(1e3 / detect, 1),
            "net_graph_gpu_ms": gpu_ms(graph.replay, 100),
            "post_replay_and_copy_ms": gpu_ms(lambda: post(values, graph.static_outputs), 100),
            "prepare_ms": wall_ms(lambda: det.prepare([frame], 1.0), 100),
            "counters": dict(det.counters),
            "graph_failures": det.graph_failures,
        }
    return result, boxes_of(found)


def mnet_b1() -> None:
    reference = None
    for compile_net, compile_post in ((False, False), (True, False), (False, True), (True, True)):
        name = f"mnet_b1 compile_net={compile_net} compile_post={compile_post}"
        try:
            result, boxes = mnet_variant(compile_net, compile_post)
            reference = boxes if reference is None else reference
            same = boxes.shape == reference.shape and bool(np.allclose(boxes, reference, atol=1.0))
            report(name, faces=len(boxes), same_boxes_as_first=same, **result)
        except Exception as error:  # an experiment, not the product: record and go on
            report(name, error=f"{type(error).__name__}: {error}"[:500])
        finally:
            inference_module.packed_postprocess = packed_postprocess


def staging_b32() -> None:
    frames = test_frames("640x480", 32)
    pinned = torch.empty((32, 480, 640, 3), dtype=torch.uint8, pin_memory=True)
    device_buffer = torch.empty_like(pinned, device="cuda")
    pageable = np.stack(frames)

    def fill() -> None:
        for _ in stage_frames(pinned.numpy(), frames, 1.0):
            pass

    def h2d() -> None:
        device_buffer.copy_(pinned, non_blocking=True)

    def h2d_pageable() -> None:
        device_buffer.copy_(torch.from_numpy(pageable))

    fill_ms = wall_ms(fill, 30)
    report(
        "staging_b32",
        workers=WORKERS,
        fill_pinned_ms=fill_ms,
        h2d_pinned_ms=wall_ms(h2d, 30),
        h2d_pageable_ms=wall_ms(h2d_pageable, 30),
        numpy_copy_one_thread_ms=wall_ms(lambda: np.copyto(pinned.numpy(), pageable), 30),
        mb=round(pinned.numel() / 2**20, 1),
    )


class ConvReLU(nn.Module):
    """A folded conv followed by ReLU as one cuDNN fused call."""

    def __init__(self, conv: nn.Conv2d) -> None:
        super().__init__()
        self.conv = conv

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = self.conv
        return torch.cudnn_convolution_relu(x, c.weight, c.bias, c.stride, c.padding, c.dilation, c.groups)


def fused_bottleneck(self: Bottleneck, x: torch.Tensor) -> torch.Tensor:
    identity = x if self.downsample is None else self.downsample(x)
    out = self.fused1(x)
    out = self.fused2(out)
    c = self.conv3
    return torch.cudnn_convolution_add_relu(
        out, c.weight, identity, 1.0, c.bias, c.stride, c.padding, c.dilation, c.groups
    )


def fuse_relu(net: nn.Module) -> int:
    """cuDNN conv+ReLU fusions in a BN-folded R50 RetinaFace; how many convs were fused."""
    fused = 0
    for module in list(net.modules()):
        if isinstance(module, Bottleneck):
            module.fused1, module.fused2 = ConvReLU(module.conv1), ConvReLU(module.conv2)
            module.forward = fused_bottleneck.__get__(module)
            fused += 3
        elif isinstance(module, nn.Sequential):
            items = list(module)
            if (
                len(items) == 2
                and isinstance(items[0], nn.Conv2d)
                and isinstance(items[1], nn.LeakyReLU)
                and items[1].negative_slope == 0.0
            ):
                module._modules.clear()
                module.add_module("0", ConvReLU(items[0]))
                fused += 1
    body = net.model.body
    body.conv1, body.relu = ConvReLU(body.conv1), nn.Identity()
    return fused + 1


def r50() -> None:
    model = RetinaFace("resnet").eval()
    config = config_for("resnet")
    reference = None
    for batch in (1, 8):
        frames = [np.ascontiguousarray(f) for f in test_frames("1280x720", batch)]
        for variant in ("as is", "benchmark_limit=0", "cudnn fused relu", "inductor"):
            name = f"r50 1820x1024 b{batch} {variant}"
            try:
                torch._dynamo.reset()
                det = fast_detector(model, config, "cuda", DetectorOptions(fp16=True))
                fused = 0
                if variant == "cudnn fused relu":
                    fused = fuse_relu(det.backend.forward)
                if variant == "inductor":
                    det.backend.forward = torch.compile(det.backend.forward, dynamic=False)
                saved_limit = torch.backends.cudnn.benchmark_limit
                if variant == "benchmark_limit=0":
                    torch.backends.cudnn.benchmark_limit = 0
                t0 = time.monotonic()
                with torch.inference_mode():
                    prepared = det.prepare(frames, 1024 / 720)
                    det.run(prepared)
                    outputs = det.run(prepared)  # captured
                    setup_s = time.monotonic() - t0
                    graph = det.backend.graph(tuple(prepared.shape[:3]))
                    net_gpu = gpu_ms(graph.replay, 30)
                    conf = outputs[1].float().cpu().numpy()
                torch.backends.cudnn.benchmark_limit = saved_limit
                if batch == 1 and reference is None:
                    reference = conf
                diff = float(np.abs(conf - reference).max()) if batch == 1 else None
                report(
                    name,
                    setup_s=round(setup_s, 1),
                    net_graph_gpu_ms=net_gpu,
                    img_per_s=round(batch * 1e3 / net_gpu, 1),
                    fused_convs=fused,
                    max_conf_diff_vs_as_is=diff,
                    graph_failures=det.graph_failures,
                )
            except Exception as error:
                torch.backends.cudnn.benchmark_limit = 10
                report(name, error=f"{type(error).__name__}: {error}"[:500])


def main() -> None:
    out = sys.argv[1]
    deadline = float(sys.argv[2]) if len(sys.argv) > 2 else 1e9
    report("machine", gpu=torch.cuda.get_device_name(0), torch=torch.__version__)
    for experiment in (staging_b32, mnet_b1, r50):
        if time.monotonic() - START > deadline:
            report(experiment.__name__, error="skipped: deadline")
            continue
        try:
            experiment()
        except Exception as error:
            report(experiment.__name__, error=f"{type(error).__name__}: {error}"[:500])
        with open(out, "w") as file:
            json.dump(RESULTS, file, indent=1)


if __name__ == "__main__":
    main()
