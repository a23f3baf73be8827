"""Run the per-input rewrite jobs as Ray tasks: one task per input file, on an existing cluster (``address``)
or a local one, a GPU per task where the cluster has GPUs. Outputs are written by the tasks straight into the
staged output (so the output folder must be on storage the workers share, as it is on a local cluster)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from retinaface_ros.privacy.coverage import StreamCoverage
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
) -> None:
    """Run (kind, source, target) jobs as tasks; ``on_done`` gets each result in the jobs' order. Ctrl-C
    cancels the tasks still running."""
    ray = connect(address)
    use_gpu = ray.cluster_resources().get("GPU", 0) >= 1
    task = ray.remote(num_cpus=1, num_gpus=1 if use_gpu else 0, max_retries=0)(rewrite_task)
    refs = [
        task.remote(kind, str(source), str(target), spec, options, use_gpu) for kind, source, target in jobs
    ]
    try:
        for (_, source, _), ref in zip(jobs, refs, strict=True):
            try:
                details, streams = ray.get(ref)
            except ray.exceptions.RayTaskError as error:  # the task's own error, as one line
                cause = getattr(error, "cause", None)
                raise cause if isinstance(cause, Exception) else error from None
            on_done(str(source), details, streams)
    except BaseException:
        for ref in refs:
            ray.cancel(ref, force=True)
        raise
