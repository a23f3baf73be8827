"""Run the per-input rewrite jobs as Ray tasks: one task per input file, on an existing cluster
(``address``) or a local one, a GPU per task where the cluster has GPUs; a bag with more than
``part_frames`` images is split by receive time into parts rewritten by separate tasks (each warmed up on
the ``max_age_s`` before its start) and joined in order. Outputs are written by the tasks straight into
the staged output (so the output folder must be on storage the workers share, as on a local cluster)."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from retinaface_ros.privacy.coverage import StreamCoverage
from retinaface_ros.recording.image_files import UnreadableInputError
from retinaface_ros.recording.rewrite_jobs import RewriteOptions

_LEARNERS: dict[tuple, Any] = {}  # per worker process: models stay loaded between tasks


@dataclass(frozen=True)
class DetectorSpec:
    """What a task needs to build its own detector and temporal safety."""

    model: str
    backbone: str
    device: str
    nms_threshold: float | None
    scales: tuple[int, int] | None
    max_age_s: float
    tracking: bool


def _learner(spec: DetectorSpec, device: str) -> Any:
    key = (spec.model, spec.backbone, device)
    if key not in _LEARNERS:
        from retinaface_ros.learner import RetinaFaceLearner

        learner = RetinaFaceLearner(backbone=spec.backbone, device=device)
        learner.load(spec.model, verbose=False)
        _LEARNERS[key] = learner
    return _LEARNERS[key]


def rewrite_task(
    kind: str, source: str, target: str, spec: DetectorSpec, options: RewriteOptions, use_gpu: bool
) -> tuple[dict, dict[str, StreamCoverage]]:
    """One input rewritten in a Ray worker; returns its details and coverage streams."""
    from retinaface_ros.privacy.frame_anonymizer import FrameAnonymizer
    from retinaface_ros.recording.rewrite_jobs import rewrite_input

    device = "cuda" if use_gpu else spec.device
    anonymizer = FrameAnonymizer(
        _learner(spec, device), options.config, spec.max_age_s, spec.tracking, spec.nms_threshold, spec.scales
    )
    details = rewrite_input(kind, Path(source), Path(target), anonymizer, options, lambda _: None)
    return details, anonymizer.report.streams


def rewrite_part_task(
    source: str,
    target: str,
    spec: DetectorSpec,
    options: RewriteOptions,
    use_gpu: bool,
    time_range: tuple[int, int],
) -> tuple[dict, dict[str, StreamCoverage]]:
    """One time part of a bag rewritten in a Ray worker."""
    from retinaface_ros.privacy.frame_anonymizer import FrameAnonymizer
    from retinaface_ros.recording.rewrite_jobs import rewrite_bag_part

    device = "cuda" if use_gpu else spec.device
    anonymizer = FrameAnonymizer(
        _learner(spec, device), options.config, spec.max_age_s, spec.tracking, spec.nms_threshold, spec.scales
    )
    details = rewrite_bag_part(Path(source), Path(target), anonymizer, options, time_range)
    return details, anonymizer.report.streams


def bag_parts(source: Path, part_frames: int) -> list[tuple[int, int]]:
    """Receive-time ranges [start, stop) splitting ``source`` into parts of about ``part_frames`` images
    (equal durations); one range when it is small enough."""
    from rosbags.rosbag2 import Reader

    from retinaface_ros.recording.bag_images import IMAGE_TYPES

    try:
        with Reader(source) as reader:
            images = sum(c.msgcount for c in reader.connections if c.msgtype in IMAGE_TYPES)
            start, stop = reader.start_time, reader.end_time + 1
    except Exception as error:  # noqa: BLE001 - rosbags raises many kinds on a damaged bag
        raise UnreadableInputError(f"{source}: not a readable rosbag2 ({error})") from None
    count = max(1, -(-images // max(part_frames, 1)))
    edges = [start + (stop - start) * i // count for i in range(count)] + [stop]
    return list(zip(edges[:-1], edges[1:], strict=True))


def connect(address: str | None) -> Any:
    """``ray`` connected to ``address`` (an existing cluster), or to a new local instance when None."""
    try:
        import ray
    except ModuleNotFoundError:
        raise ModuleNotFoundError(
            "--ray needs Ray: pip install 'retinaface_ros[ray]' (or pip install ray)", name="ray"
        ) from None
    if not ray.is_initialized():
        ray.init(
            address=address or None, include_dashboard=False, log_to_driver=False, configure_logging=False
        )
    return ray


def run_on_ray(
    address: str | None,
    jobs: Sequence[tuple[str, Path, Path]],
    spec: DetectorSpec,
    options: RewriteOptions,
    on_done: Callable[[str, dict, dict[str, StreamCoverage]], None],
    part_frames: int = 0,
) -> None:
    """Run (kind, source, target) jobs as tasks (bags with more than ``part_frames`` images, when > 0, as
    several); ``on_done`` gets each result in the jobs' order. Ctrl-C cancels the tasks still running."""
    from retinaface_ros.recording.bag_join import join_bags
    from retinaface_ros.recording.bag_rewriter import bag_storage

    ray = connect(address)
    use_gpu = ray.cluster_resources().get("GPU", 0) >= 1
    resources = {"num_cpus": 1, "num_gpus": 1 if use_gpu else 0, "max_retries": 0}
    whole, part = ray.remote(**resources)(rewrite_task), ray.remote(**resources)(rewrite_part_task)
    submitted: list[tuple[list, list[Path]]] = []  # per job: task refs, part folders (none: whole input)
    for kind, source, target in jobs:
        ranges = bag_parts(source, part_frames) if kind == "bag" and part_frames > 0 else []
        if len(ranges) > 1:
            folders = [target.parent / f".{target.name}.part{i}" for i in range(len(ranges))]
            refs = [
                part.remote(str(source), str(folder), spec, options, use_gpu, time_range)
                for folder, time_range in zip(folders, ranges, strict=True)
            ]
            submitted.append((refs, folders))
        else:
            submitted.append(([whole.remote(kind, str(source), str(target), spec, options, use_gpu)], []))
    try:
        for (_, source, target), (refs, folders) in zip(jobs, submitted, strict=True):
            results = [_get(ray, ref) for ref in refs]
            details, streams = results[0]
            for _, later in results[1:]:
                for name, coverage in later.items():
                    if name in streams:
                        streams[name].merge(coverage)
                    else:
                        streams[name] = coverage
            if folders:
                storage = options.storage or bag_storage(source)
                messages = join_bags(folders, target, storage)
                details = {"messages": messages, "storage": storage, "parts": len(folders)}
                for folder in folders:
                    shutil.rmtree(folder, ignore_errors=True)
            on_done(str(source), details, streams)
    except BaseException:
        for refs, _ in submitted:
            for ref in refs:
                ray.cancel(ref, force=True)
        raise


def _get(ray: Any, ref: Any) -> Any:
    """A task's result; its own error re-raised as it is (one line at the command)."""
    try:
        return ray.get(ref)
    except ray.exceptions.RayTaskError as error:
        cause = getattr(error, "cause", None)
        raise cause if isinstance(cause, Exception) else error from None
