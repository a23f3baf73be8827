"""``retinaface train DATASET``: a local ``fit`` with the Train goal's options, a progress bar, log lines and
TensorBoard event files; the model, its stats and the checkpoints go to ``--output-path``."""

from __future__ import annotations

import argparse
import json
import math
import signal
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from retinaface_ros.commands import UsageError
from retinaface_ros.training import goal_fields

EXIT_INTERRUPTED = 130
DEFAULT_WORKDIR = "runs"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train or fine-tune a model on a WIDER FACE folder (local fit, progress bar)",
        description="Train RetinaFace on DATASET (WIDER FACE layout) in this process, with the options of a "
        "Train goal (a --yaml goal file works for both `retinaface train` and `retinaface train-goal`). "
        "Ctrl-C stops at the next iteration and writes a checkpoint (resume with --checkpoint-load-iter "
        "and the same --output-path).",
    )
    parser.add_argument(
        "dataset", nargs="?", default=None, help="training set folder (the goal's dataset_root)"
    )
    parser.add_argument("--yaml", type=Path, default=None, help="goal file (YAML); options given here win")
    goal_fields.add_arguments(parser, skip=("dataset_root",))
    parser.add_argument(
        "--image-size",
        type=int,
        default=0,
        help="training image size, multiple of 32 (0 = 640 mnet, 840 resnet)",
    )
    parser.add_argument(
        "--log-after", type=int, default=20, help="a log line every N iterations (default 20)"
    )
    parser.add_argument(
        "--tensorboard-dir", default=None, help="TensorBoard event files (default OUTPUT_PATH/tensorboard)"
    )
    parser.add_argument("--seed", type=int, default=None, help="data order, augmentation and new-layer init")
    parser.add_argument("--quiet", action="store_true", help="no progress bar and log lines")
    parser.add_argument("--json", action="store_true", help="print the result as one JSON object")
    parser.set_defaults(func=handler)


def _job(args: argparse.Namespace) -> Any:
    from retinaface_ros.learner import cuda_available
    from retinaface_ros.training.goal import TrainerDefaults, goal_to_job

    values = goal_fields.defaults()
    if args.yaml is not None:
        values.update(goal_fields.load_yaml(args.yaml))
    values.update(goal_fields.from_arguments(args))
    if args.dataset is not None:
        values["dataset_root"] = goal_fields.convert("dataset_root", args.dataset, "DATASET")
    if args.log_after < 1:
        raise UsageError(f"--log-after must be ≥ 1, got {args.log_after}")
    defaults = TrainerDefaults(
        log_after=args.log_after, image_size=args.image_size, workdir=str(Path(DEFAULT_WORKDIR).absolute())
    )
    return goal_to_job(SimpleNamespace(**values), defaults, cuda_available())


class _StopOnCtrlC:
    """First Ctrl-C: ``fit`` stops at the next iteration (and writes its checkpoint); second: interrupt."""

    def __init__(self) -> None:
        self.requested = threading.Event()
        self.previous: Any = None

    def __enter__(self) -> _StopOnCtrlC:
        self.previous = signal.signal(signal.SIGINT, self._on_sigint)
        return self

    def __exit__(self, *exc: object) -> None:
        signal.signal(signal.SIGINT, self.previous)

    def _on_sigint(self, _signum: int, _frame: Any) -> None:
        if self.requested.is_set():
            raise KeyboardInterrupt
        self.requested.set()
        print("\nCtrl-C: stopping at the next iteration (Ctrl-C again to abort at once)", file=sys.stderr)


def handler(args: argparse.Namespace) -> int:
    from retinaface_ros.io.atomic_files import check_output_folder
    from retinaface_ros.training.job_setup import prepare_job
    from retinaface_ros.training.progress_bar import TrainingProgressBar
    from retinaface_ros.training.progress_log import ProgressLog
    from retinaface_ros.training.tensorboard_log import TensorBoardLog

    job = _job(args)
    for folder in (job.output_path, args.tensorboard_dir):
        if folder:
            check_output_folder(folder)  # a file or device named as the folder: refused before training
    prepared = prepare_job(job)
    learner = prepared.learner
    job.output_path.mkdir(parents=True, exist_ok=True)
    board_dir = Path(args.tensorboard_dir) if args.tensorboard_dir else job.output_path / "tensorboard"
    board = TensorBoardLog.create(board_dir, learner, prepared.val_dataset)
    bar = TrainingProgressBar(epochs=learner.epochs, disable=args.quiet)
    log = ProgressLog(bar.write)
    validating = f", validating on {prepared.val_dataset!r}" if prepared.val_dataset is not None else ""
    bar.write(
        f"training {learner.backbone} on {prepared.dataset!r}{validating} for {learner.epochs} epoch(s) on "
        f"{learner.device}; output {job.output_path}"
        + (f", TensorBoard {board_dir}" if board is not None else "")
    )

    def on_progress(info: dict) -> None:
        bar(info)
        if not args.quiet:
            log(info)
        if board is not None:
            board(info)

    extra = {} if args.seed is None else {"seed": args.seed}
    started = time.monotonic()
    try:
        with _StopOnCtrlC() as stop:
            history = prepared.fit(job, on_progress, stop.requested.is_set, **extra)
    except FloatingPointError as error:  # the loss diverged: a setting to change, not a crash
        print(f"retinaface: error: {error}", file=sys.stderr)
        return 1
    finally:
        bar.close()
        if board is not None:
            board.close()
    history["seconds"] = time.monotonic() - started
    return _finish(args, job, learner, history, board_dir if board is not None else None)


def _finish(args: argparse.Namespace, job: Any, learner: Any, history: dict, board_dir: Path | None) -> int:
    from retinaface_ros.io.atomic_files import write_atomically

    completed = int(history["epochs_completed"])
    summary: dict[str, Any] = {
        "success": not history["stopped"],
        "epochs_completed": completed,
        "final_loss": history["loss"][-1] if history["loss"] else None,
        "val_recall": history["val_recall"][-1] if history.get("val_recall") else None,
        "tensorboard_dir": str(board_dir) if board_dir is not None else None,
    }
    if history["stopped"]:
        checkpoint = history["last_checkpoint"] or ""
        summary["model_path"] = checkpoint
        summary["message"] = f"stopped after {completed} epoch(s); checkpoint {checkpoint}"
        if checkpoint and completed > 0:
            summary["message"] += (
                f"; resume with --checkpoint-load-iter {completed} --output-path {job.output_path}"
            )
    else:
        model_path = learner.save(job.output_path / f"retinaface_{learner.backbone}", verbose=False)
        summary["model_path"] = str(model_path)
        summary["message"] = f"trained {completed} epoch(s); model saved to {model_path}"
    stats = job.output_path / "stats.json"
    write_atomically(stats, (json.dumps(history, default=str, indent=1) + "\n").encode())
    summary["stats"] = str(stats)
    if args.json:
        print(json.dumps(summary))
    else:
        for key, value in summary.items():
            if isinstance(value, float) and not math.isnan(value):
                value = round(value, 6)
            print(f"{key}: {'n/a' if value is None else value}")
    return 0 if not history["stopped"] else EXIT_INTERRUPTED
