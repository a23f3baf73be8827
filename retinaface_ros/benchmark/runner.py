"""Benchmark rows: pipelines (ours per runtime, and the reference port), inputs, interleaved timing, stats.

Every pipeline of one (backbone, device, input, batch) group is warmed up, then timed round-robin (stages
with a device sync between them; then the whole ``detect_batch`` with no extra syncs), so background load
hits all of them alike. Medians and 90th percentiles in milliseconds.
"""

from __future__ import annotations

import os
import platform
import resource
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from retinaface_ros.backends import registry
from retinaface_ros.benchmark.matrix import INPUTS, REFERENCE_THRESHOLD, THRESHOLD
from retinaface_ros.benchmark.reference import ReferencePipeline
from retinaface_ros.detections import InferenceParams
from retinaface_ros.inference.detector import Detector
from retinaface_ros.inference.options import DetectorOptions
from retinaface_ros.inference.postprocess.batch import PostprocessBatch
from retinaface_ros.inference.preprocess import resize_factor, resized_shape
from retinaface_ros.io.image_files import read_image
from retinaface_ros.model import RetinaFace, config_for

# Torch variants beside the default: options changed from the defaults; CUDA only.
TORCH_VARIANTS: dict[str, dict[str, Any]] = {
    "torch-fp16": {"fp16": True},
    "torch-fp16-exact": {"fp16": True, "packed": False},
    "torch-fp16-unfused": {"fp16": True, "fuse": False},
    "torch-fp16-compile": {"fp16": True, "torch_compile": True},
}


def shared_dir() -> Path:
    """``$RETINAFACE_SHARED`` or ``../shared`` beside the repository (as the tests find it)."""
    default = Path(__file__).resolve().parents[2].parent / "shared"
    return Path(os.environ.get("RETINAFACE_SHARED", default))


def test_frames(size: str, batch: int, image_path: Path | None = None) -> list[np.ndarray]:
    """``batch`` BGR frames of ``size`` cut from a real photo (selfie.jpg: many faces), shifted per frame."""
    height, width = INPUTS[size][0]
    path = image_path or shared_dir() / "images" / "selfie.jpg"
    photo = read_image(path) if path.exists() else None
    if photo is None:  # no photo: a fixed-seed noise frame (postprocess then sees few faces)
        rng = np.random.default_rng(0)
        photo = rng.integers(0, 256, (898, 1600, 3), dtype=np.uint8)
    ph, pw = photo.shape[:2]
    crop_w = min(pw, round(ph * width / height))
    crop_h = min(ph, round(crop_w * height / width))
    frames = []
    for index in range(batch):
        x0 = (pw - crop_w) * index // max(1, batch - 1) if batch > 1 else (pw - crop_w) // 2
        crop = photo[(ph - crop_h) // 2 : (ph - crop_h) // 2 + crop_h, x0 : x0 + crop_w]
        frames.append(np.ascontiguousarray(cv2.resize(crop, (width, height), interpolation=cv2.INTER_AREA)))
    return frames


def load_model(backbone: str, weights: Path | None) -> tuple[RetinaFace, str]:
    """The fp32 model: given/shared pretrained weights for mnet, else fixed-seed random weights."""
    torch.manual_seed(0)
    model = RetinaFace(backbone)
    if weights is None and backbone == "mnet":
        candidate = shared_dir() / "models" / "mobilenet0.25_Final.pth"
        weights = candidate if candidate.exists() else None
    if weights is not None:
        from retinaface_ros.io.state_dicts import read_state_dict

        model.load_state_dict(read_state_dict(weights), strict=True)
        return model.eval(), Path(weights).name
    return model.eval(), "random (seed 0)"


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@dataclass
class Pipeline:
    """Three timed stages and the whole call, on one batch of frames."""

    name: str
    device: torch.device
    prepare: Callable[[], Any]
    forward: Callable[[Any], Any]
    postprocess: Callable[[Any, Any], Any]
    total: Callable[[], Any]
    count: Callable[[Any], int]
    setup: Callable[[], None] = lambda: None
    info: dict[str, Any] = field(default_factory=dict)
    extra: Callable[[], dict[str, Any]] = dict  # read when the row is written (e.g. fallback counters)
    times: dict[str, list[float]] = field(default_factory=lambda: {k: [] for k in STAGES})
    faces: float = 0.0
    cuda_peak_mb: float | None = None
    rss_mb: float = 0.0


STAGES = ("preprocess", "forward", "postprocess", "total")


def ours(
    name: str, detector: Detector, frames: Sequence[np.ndarray], params: InferenceParams, **info: Any
) -> Pipeline:
    height, width = frames[0].shape[:2]
    factor = resize_factor(height, width, params.scales)
    input_hw = resized_shape(height, width, factor)

    image_hws = [(height, width)] * len(frames)

    def postprocess(prepared: Any, outputs: Any) -> list:
        return detector.postprocess_group(PostprocessBatch(outputs, input_hw, image_hws, factor, params))

    return Pipeline(
        name,
        torch.device(detector.device if str(detector.device).startswith("cuda") else "cpu"),
        prepare=lambda: detector.prepare(frames, factor),
        forward=detector.run,
        postprocess=postprocess,
        total=lambda: detector.detect_batch(frames, params),
        count=lambda result: sum(len(d) for d in result),
        info={"resized_hw": list(input_hw), "threshold": params.threshold, **info},
        extra=lambda: {
            **detector.counters,
            "graph_failures": list(detector.graph_failures),
            **{f"compile_failure_{part}": why for part, why in detector.compile_failures().items()},
        },
    )


def reference(
    net: torch.nn.Module, config: Any, device: torch.device, frames: Sequence[np.ndarray], scales: tuple
) -> Pipeline:
    pipe = ReferencePipeline(net, config, device, confidence_threshold=REFERENCE_THRESHOLD)
    height, width = frames[0].shape[:2]
    factor = resize_factor(height, width, scales)

    def prepare() -> list[torch.Tensor]:
        return [pipe.preprocess(f, factor) for f in frames]

    def postprocess(prepared: list[torch.Tensor], outputs: list) -> list[np.ndarray]:
        return [pipe.postprocess(o, p, factor) for o, p in zip(outputs, prepared, strict=True)]

    def setup() -> None:
        if device.type == "cuda":
            torch.backends.cudnn.benchmark = True  # as detect.py

    return Pipeline(
        "reference",
        device,
        prepare=prepare,
        forward=lambda prepared: [pipe.forward(p) for p in prepared],
        postprocess=postprocess,
        total=lambda: [pipe.detect(f, factor) for f in frames],
        count=lambda result: sum(int((r[:, 4] >= THRESHOLD).sum()) for r in result),
        setup=setup,
        info={
            "resized_hw": list(resized_shape(height, width, factor)),
            "threshold": REFERENCE_THRESHOLD,
            "note": "biubug6 detect.py port; faces counted at score >= 0.8",
        },
    )


def rss_mb() -> float:
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return float("nan")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def time_group(pipelines: Sequence[Pipeline], runs: int, warmup: int) -> None:
    """Warm each pipeline up, then time them round-robin: first the stages, then the whole call."""
    for pipe in pipelines:
        pipe.setup()
        if pipe.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(pipe.device)
        for _ in range(warmup):
            result = pipe.total()
            prepared = pipe.prepare()
            pipe.postprocess(prepared, pipe.forward(prepared))
        sync(pipe.device)
        pipe.faces = pipe.count(result)
        pipe.rss_mb = rss_mb()
        if pipe.device.type == "cuda":
            pipe.cuda_peak_mb = torch.cuda.max_memory_allocated(pipe.device) / 2**20
    for _ in range(runs):
        for pipe in pipelines:
            pipe.setup()
            sync(pipe.device)
            t0 = time.perf_counter()
            prepared = pipe.prepare()
            sync(pipe.device)
            t1 = time.perf_counter()
            outputs = pipe.forward(prepared)
            sync(pipe.device)
            t2 = time.perf_counter()
            pipe.postprocess(prepared, outputs)
            sync(pipe.device)
            t3 = time.perf_counter()
            for key, value in zip(STAGES[:3], (t1 - t0, t2 - t1, t3 - t2), strict=True):
                pipe.times[key].append(value * 1e3)
    for _ in range(runs):
        for pipe in pipelines:
            pipe.setup()
            sync(pipe.device)
            t0 = time.perf_counter()
            pipe.total()  # ends with the detections on the host: no extra sync needed
            sync(pipe.device)
            pipe.times["total"].append((time.perf_counter() - t0) * 1e3)


def stats(values: Sequence[float]) -> dict[str, float]:
    array = np.asarray(values)
    return {"median": round(float(np.median(array)), 3), "p90": round(float(np.percentile(array, 90)), 3)}


def row(pipe: Pipeline, batch: int, **keys: Any) -> dict[str, Any]:
    out: dict[str, Any] = {**keys, "runtime": pipe.name, "batch": batch}
    for stage in STAGES:
        out[f"{stage}_ms"] = stats(pipe.times[stage])
    total = out["total_ms"]["median"]
    out["fps"] = round(batch * 1e3 / total, 1) if total > 0 else None
    out["postprocess_share"] = round(out["postprocess_ms"]["median"] / max(total, 1e-9), 4)
    out["faces_per_image"] = round(pipe.faces / batch, 1)
    out["rss_mb"] = round(pipe.rss_mb, 1)
    out["peak_rss_mb"] = round(peak_rss_mb(), 1)
    out["cuda_max_allocated_mb"] = None if pipe.cuda_peak_mb is None else round(pipe.cuda_peak_mb, 1)
    out.update(pipe.info)
    out.update(pipe.extra())
    return out


def machine() -> dict[str, Any]:
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "opencv": cv2.__version__,
        "cpu": _cpu_name(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
    }
    try:
        import onnxruntime

        info["onnxruntime"] = onnxruntime.__version__
    except ImportError:
        pass
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
        info["cuda"] = torch.version.cuda
    return info


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def build_pipelines(
    backbone: str,
    model: torch.nn.Module,
    device: torch.device,
    runtimes: Sequence[str],
    frames: Sequence[np.ndarray],
    scales: tuple[int, int],
    batch: int,
) -> list[Pipeline]:
    config = config_for(backbone)
    params = InferenceParams(threshold=THRESHOLD, scales=scales)
    pipes: list[Pipeline] = []
    for runtime in runtimes:
        if runtime == "reference" and batch == 1:  # the reference handles one image at a time
            pipes.append(reference(model.to(device), config, device, frames, scales))
        elif runtime == "torch":
            pipes.append(ours("torch", torch_detector(model, config, device), frames, params))
        elif runtime in TORCH_VARIANTS and device.type == "cuda":
            options = DetectorOptions(**TORCH_VARIANTS[runtime])
            pipes.append(ours(runtime, torch_detector(model, config, device, options), frames, params))
        elif runtime in registry.RUNTIMES and registry.RUNTIMES[runtime].framework == "onnx":
            if device.type != "cpu":
                continue  # the ONNX runtimes' GPU providers are measured on their own machines
            from retinaface_ros.backends.onnxruntime import export_onnx

            backend = registry.onnx_backend(
                export_onnx(model, False, backbone), runtime, "cpu", "exported model"
            )
            info = (
                {"providers": backend.providers} if runtime == "onnxruntime" else {"device": backend.device}
            )
            pipes.append(ours(runtime, Detector(backend, config), frames, params, **info))
    return pipes


def torch_detector(
    model: torch.nn.Module, config: Any, device: torch.device, options: DetectorOptions | None = None
) -> Detector:
    """A detector on the torch runtime with ``options`` (default: the learner's defaults)."""
    options = options if options is not None else DetectorOptions()
    return Detector(registry.torch_backend(model, device, options), config, options)


def lever_pipelines(
    backbone: str, model: torch.nn.Module, device: torch.device, frames: Sequence[np.ndarray], scales: tuple
) -> list[Pipeline]:
    """One lever added at a time, from the repository's plain pipeline to the default fast path."""
    config = config_for(backbone)
    params = InferenceParams(threshold=THRESHOLD, scales=scales)
    pipes = [reference(model.to(device), config, device, frames, scales)]

    def add(name: str, detector: Detector, threads: int | None = None) -> None:
        pipe = ours(name, detector, frames, params)
        if threads is not None:
            default = torch.get_num_threads()
            pipe.setup = lambda: torch.set_num_threads(threads)
            pipe.info["threads"] = threads
            pipe.info["restore_threads"] = default
        pipes.append(pipe)

    def detector(**settings: Any) -> Detector:
        return torch_detector(model, config, device, DetectorOptions(**settings))

    unmerged = dict(merge=False, channels_last=False)
    slow = dict(fast_preprocess=False, fast_postprocess=False)
    if device.type == "cpu":
        add("plain (no fold, torch postprocess)", detector(fold=False, **unmerged, **slow))
        add("+ BN fold", detector(**unmerged, **slow))
        add("+ BN fold + one-pass blob preprocess", detector(**unmerged, fast_postprocess=False))
        add("+ numpy/OpenCV postprocess", detector(**unmerged))
        add("+ channels_last", detector(merge=False))
        add("+ merged heads (default)", detector())
        cores = torch.get_num_threads()
        if cores > 1:
            add("default, 1 thread", detector(), threads=1)
        return [_restoring(p) for p in pipes]
    add("eager fp32, no fold", detector(fold=False, cuda_graphs=False, **unmerged))
    add("+ BN fold", detector(cuda_graphs=False, **unmerged))
    add("+ channels_last", detector(merge=False, cuda_graphs=False))
    add("+ merged heads", detector(cuda_graphs=False))
    add("+ CUDA graph (default fp32)", detector())
    add("+ fp16", detector(fp16=True))
    # Alternatives to the defaults, for choosing them on the GPU at hand (each differs from "+ fp16" in one
    # setting), and the cost of the learner's BoundingBoxList on top of the arrays.
    add("fp16, NCHW (no channels_last)", detector(fp16=True, channels_last=False))
    add("fp32, NCHW (no channels_last)", detector(channels_last=False))
    add("fp16, 4 NMS rounds", detector(fp16=True, nms_rounds=4))
    add("fp16, first budget 128", detector(fp16=True, top_k=(128, *DetectorOptions().top_k)))
    boxes = ours("fp16 + BoundingBoxList (infer)", detector(fp16=True), frames, params)
    arrays = boxes.total
    boxes.total = lambda: [found.to_bounding_boxes() for found in arrays()]
    pipes.append(boxes)
    return pipes


def _restoring(pipe: Pipeline) -> Pipeline:
    """Thread-count levers set torch's threads; every other pipeline restores the default first."""
    if "threads" not in pipe.info:
        previous = pipe.setup
        default = torch.get_num_threads()

        def setup() -> None:
            torch.set_num_threads(default)
            previous()

        pipe.setup = setup
    pipe.info.pop("restore_threads", None)
    return pipe
