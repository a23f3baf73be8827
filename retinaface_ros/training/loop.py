"""``fit``: train a RetinaFaceLearner on a DetectionDataset (single process or torchrun + DDP).

Data order and augmentation are functions of ``(seed, epoch, index)``, so resuming from the checkpoint of
epoch N, or from one written when a run was stopped within it, replays exactly what an uninterrupted run would
have done from there on.
"""

from __future__ import annotations

import datetime
import itertools
import math
import numbers
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, Dataset, RandomSampler, Sampler, SequentialSampler
from torch.utils.data.distributed import DistributedSampler

from retinaface_ros.atomic_files import remove_stale_temp_files
from retinaface_ros.checkpoints import has_mask_head, read_state_dict
from retinaface_ros.datasets import ANNOTATION_COLUMNS
from retinaface_ros.model import RetinaFace
from retinaface_ros.model.priors import make_priors
from retinaface_ros.training.augment import TrainTransform
from retinaface_ros.training.checkpoint import (
    checkpoint_path,
    load_checkpoint,
    resume_checkpoint_path,
    save_checkpoint,
    stopped_checkpoint_path,
)
from retinaface_ros.training.loss import MultiBoxLoss

HISTORY_KEYS = ("loss", "loss_box", "loss_class", "loss_landmarks", "lr")
DEFAULT_SEED = 0
DISTRIBUTED_TIMEOUT = datetime.timedelta(hours=1)  # for the process group fit creates itself
MIN_IMAGE_SIZE = 64  # the deepest feature map (stride 32) keeps 2×2 cells: BatchNorm works on a batch of one


# ------------------------------------------------------------------------------------------------- data
class TrainingSet(Dataset):
    """A DetectionDataset seen through :class:`TrainTransform`; ``mirror=True`` appends a mirrored copy."""

    def __init__(
        self, dataset: Any, transform: TrainTransform, mirror: bool = False, seed: int = DEFAULT_SEED
    ):
        self.dataset = dataset
        self.transform = transform
        self.mirror = mirror
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.dataset) * (2 if self.mirror else 1)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        base = len(self.dataset)
        image, annotations = self.dataset[index % base]
        annotations = np.asarray(annotations)
        if annotations.ndim != 2 or annotations.shape[1] != ANNOTATION_COLUMNS:
            raise ValueError(
                f"{type(self.dataset).__name__}[{index % base}]: annotations must be N x "
                f"{ANNOTATION_COLUMNS} (box, 5 landmarks, landmark flag), got shape {annotations.shape}"
            )
        rng = np.random.default_rng([self.seed, self.epoch, index])
        image, targets = self.transform(image, annotations, rng, mirrored=index >= base)
        return torch.from_numpy(image), torch.from_numpy(targets)


class SkippingSampler(Sampler):
    """``sampler`` without its first ``skip`` indices (set for the epoch a stopped run resumes in)."""

    def __init__(self, sampler: Sampler) -> None:
        self.sampler = sampler
        self.skip = 0

    def __iter__(self) -> Iterator[int]:
        return itertools.islice(iter(self.sampler), self.skip, None)

    def __len__(self) -> int:
        return max(0, len(self.sampler) - self.skip)  # type: ignore[arg-type]


def collate(
    batch: list[tuple[torch.Tensor, torch.Tensor]],
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Stack images; pad targets to the most faces in the batch → (images, targets B×M×15, valid B×M)."""
    images = torch.stack([image for image, _ in batch])
    most = max(len(t) for _, t in batch)
    targets = torch.zeros((len(batch), most, 15), dtype=torch.float32)
    valid = torch.zeros((len(batch), most), dtype=torch.bool)
    for i, (_, t) in enumerate(batch):
        targets[i, : len(t)] = t
        valid[i, : len(t)] = True
    return images, targets, valid


# ------------------------------------------------------------------------------------------------- setup
def _distributed_env() -> tuple[int, int, int]:
    """(world_size, rank, local_rank) from torchrun's environment; (1, 0, 0) outside it."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    return world, int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))


def _check_arguments(learner: Any, dataset: Any, val_dataset: Any, image_size: int | None, seed: Any) -> int:
    from retinaface_ros.datasets import DetectionDataset
    from retinaface_ros.learner import parse_lr_steps

    if not isinstance(dataset, DetectionDataset):
        raise TypeError(
            f"dataset must be a retinaface_ros.datasets.DetectionDataset, got {type(dataset).__name__}"
        )
    if len(dataset) == 0:
        raise ValueError("dataset is empty: nothing to train on")
    if val_dataset is not None and not isinstance(val_dataset, DetectionDataset):
        raise TypeError(f"val_dataset must be a DetectionDataset or None, got {type(val_dataset).__name__}")
    if not (_is_real(learner.lr) and math.isfinite(learner.lr) and learner.lr > 0):
        raise ValueError(f"lr must be > 0, got {learner.lr}")
    if not _is_integer(learner.epochs) or learner.epochs < 1:
        raise ValueError(f"epochs must be an int ≥ 1, got {learner.epochs!r}")
    if not _is_integer(learner.batch_size) or learner.batch_size < 1:
        raise ValueError(f"batch_size must be an int ≥ 1, got {learner.batch_size!r}")
    if not _is_integer(seed) or seed < 0:
        raise ValueError(f"seed must be an int ≥ 0, got {seed!r}")
    learner.lr, learner.epochs, learner.batch_size = (
        float(learner.lr),
        int(learner.epochs),
        int(learner.batch_size),
    )
    learner.lr_steps_list = parse_lr_steps(learner.lr_steps)  # re-parse: the attribute may have been changed
    if (learner.checkpoint_after_iter > 0 or learner.checkpoint_load_iter > 0) and not learner.temp_path:
        raise ValueError(
            "checkpoint_after_iter / checkpoint_load_iter need temp_path (the checkpoint folder)"
        )
    if learner.checkpoint_load_iter >= learner.epochs:
        raise ValueError(
            f"checkpoint_load_iter={learner.checkpoint_load_iter} leaves nothing to train "
            f"with epochs={learner.epochs}"
        )
    if learner.checkpoint_load_iter > 0:
        folder, prefix, epoch = learner.temp_path, learner.prefix, learner.checkpoint_load_iter
        if resume_checkpoint_path(folder, prefix, epoch) is None:
            stopped = stopped_checkpoint_path(folder, prefix, epoch, 0).name.removesuffix("0.pth")
            raise FileNotFoundError(
                f"checkpoint_load_iter={epoch}: no checkpoint {checkpoint_path(folder, prefix, epoch)} "
                f"nor {stopped}*.pth of a run stopped in that epoch"
            )
    size = image_size if image_size is not None else getattr(learner, "image_size", None)
    if size is None:
        size = learner.config.train_image_size
    if not _is_integer(size) or size < MIN_IMAGE_SIZE or size % 32:
        raise ValueError(f"image_size must be a multiple of 32 of at least {MIN_IMAGE_SIZE}, got {size!r}")
    return int(size)


def _is_integer(value: Any) -> bool:
    """An int or numpy integer, not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def _is_real(value: Any) -> bool:
    """An int, float or numpy number, not a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def load_backbone_weights(model: RetinaFace, path: str | Path) -> None:
    """Load ImageNet backbone weights (``module.`` prefix and classifier ``fc.*`` keys tolerated)."""
    state = read_state_dict(path)
    body = model.body.state_dict()
    state = {key.removeprefix("body."): value for key, value in state.items()}
    picked = {key: value for key, value in state.items() if key in body}
    missing = sorted(set(body) - set(picked))
    if missing:
        raise ValueError(
            f"{path} is not a {model.backbone_name} ImageNet backbone: missing {missing[:4]}"
            + (f" (+{len(missing) - 4} more)" if len(missing) > 4 else "")
        )
    try:
        model.body.load_state_dict(picked, strict=True)
    except RuntimeError as error:
        raise ValueError(f"{path} does not fit the {model.backbone_name} backbone: {error}") from error


def _new_model(backbone: str, seed: int) -> RetinaFace:
    """A freshly initialised network, its random weights a function of ``seed`` (torch's global RNG is left
    as it was)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return RetinaFace(backbone)


def _initial_model(
    learner: Any,
    from_scratch: bool,
    pretrained_backbone: str | Path | None,
    verbose: bool,
    seed: int,
    checkpoint: dict[str, Any] | None = None,
) -> RetinaFace:
    """The network to train: built for the resumed checkpoint (its weights are loaded later), random, the
    learner's loaded model (fine-tune), or the ImageNet backbone (heads initialised from ``seed``)."""
    if checkpoint is not None:
        return RetinaFace(learner.backbone, with_mask_head=has_mask_head(checkpoint["model"]))
    if from_scratch:
        return _new_model(learner.backbone, seed)
    if learner.model is not None:
        if verbose:
            print("Fine-tuning the loaded model")
        return learner.model
    if learner.ort_session is not None:
        raise ValueError(
            "the loaded model is ONNX and cannot be fine-tuned; load the .pth/OpenDR folder or pass "
            "from_scratch=True"
        )
    model = _new_model(learner.backbone, seed)
    path = pretrained_backbone or getattr(learner, "pretrained_backbone", None)
    if not path:
        from retinaface_ros.download import download

        path = download(learner.backbone, mode="backbone", verbose=verbose)
    load_backbone_weights(model, path)
    if verbose:
        print(f"Starting from the ImageNet backbone {path}")
    return model


def _read_resume_checkpoint(learner: Any) -> tuple[Path, dict[str, Any]] | tuple[None, None]:
    """(path, state) of the checkpoint ``checkpoint_load_iter`` names (:func:`resume_checkpoint_path`), its
    backbone checked; (None, None) when not resuming."""
    if learner.checkpoint_load_iter <= 0:
        return None, None
    path = resume_checkpoint_path(learner.temp_path, learner.prefix, learner.checkpoint_load_iter)
    if path is None:
        raise FileNotFoundError(f"checkpoint_load_iter={learner.checkpoint_load_iter}: checkpoint gone")
    state = load_checkpoint(path)
    if not isinstance(state["model"], dict):
        raise ValueError(f"training checkpoint {path}: 'model' is not a state dict")
    if state["backbone"] != learner.backbone:
        raise ValueError(f"{path} holds a {state['backbone']!r} model, the learner is {learner.backbone!r}")
    return path, state


def _snapshot(learner: Any) -> tuple[Any, ...]:
    """What a failed ``fit`` puts back: model, ONNX session, detector, device and the weights (on the CPU)."""
    weights = None
    if learner.model is not None:
        weights = {
            key: value.detach().to("cpu", copy=True) for key, value in learner.model.state_dict().items()
        }
    return learner.model, learner.ort_session, learner._detector, learner.device, weights


def _restore(learner: Any, snapshot: tuple[Any, ...]) -> None:
    """Undo a failed ``fit``: the learner's model gets its pre-fit weights back, in eval mode."""
    model, session, detector, device, weights = snapshot
    if model is not None:
        model.load_state_dict(weights)
        model.eval()
    learner.model, learner.ort_session, learner._detector, learner.device = model, session, detector, device


def _learning_rate(optimizer: torch.optim.Optimizer) -> float:
    return float(optimizer.param_groups[0]["lr"])


# ------------------------------------------------------------------------------------------------- fit
def fit(
    learner: Any,
    dataset: Any,
    val_dataset: Any = None,
    from_scratch: bool = False,
    silent: bool = False,
    verbose: bool = True,
    image_size: int | None = None,
    pretrained_backbone: str | Path | None = None,
    callback: Callable[[dict], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    augment: bool = True,
    num_workers: int | None = None,
    seed: int = DEFAULT_SEED,
) -> dict:
    """Train ``learner`` on ``dataset``; returns per-epoch lists (loss, loss_box, loss_class, loss_landmarks,
    lr and, when validation ran, val_recall / val_epoch) plus ``epochs_completed``, ``stopped`` and
    ``last_checkpoint``.

    Starting point: the checkpoint ``checkpoint_load_iter`` names (network, mask head and all weights);
    else random init if ``from_scratch``; else the learner's loaded model (fine-tune; an ONNX-only learner is
    refused); else the ImageNet backbone at ``pretrained_backbone`` (or ``learner.pretrained_backbone``, or
    ``download``). On any error the learner keeps its pre-fit model and weights (in eval mode).
    ``callback(info)`` runs every ``log_after`` iterations and at each epoch end (rank 0 only);
    ``should_stop()`` is checked every iteration: training then stops, saves a checkpoint (when
    ``temp_path`` is set) and returns with ``stopped=True``. Under torchrun (WORLD_SIZE > 1) it trains with
    DistributedDataParallel; only rank 0 logs, validates and writes files.
    """
    size = _check_arguments(learner, dataset, val_dataset, image_size, seed)
    world, rank, local_rank = _distributed_env()
    distributed = world > 1
    own_group = False
    device = learner.device
    if distributed:
        if device.type == "cuda":
            device = torch.device("cuda", local_rank)
            torch.cuda.set_device(device)
        if not dist.is_initialized():
            # ranks > 0 wait in a barrier while rank 0 validates: allow longer than NCCL's 10 minutes
            backend = "nccl" if device.type == "cuda" else "gloo"
            dist.init_process_group(backend, timeout=DISTRIBUTED_TIMEOUT)
            own_group = True
    main = rank == 0
    verbose = verbose and main
    before = _snapshot(learner)
    try:
        return _train(
            learner,
            dataset,
            val_dataset,
            from_scratch,
            silent or not main,
            verbose,
            size,
            pretrained_backbone,
            callback if main else None,
            should_stop,
            augment,
            num_workers,
            seed,
            device,
            distributed,
            world,
            rank,
        )
    except BaseException:
        _restore(learner, before)
        raise
    finally:
        if own_group:
            dist.destroy_process_group()


def _train(
    learner: Any,
    dataset: Any,
    val_dataset: Any,
    from_scratch: bool,
    silent: bool,
    verbose: bool,
    size: int,
    pretrained_backbone: str | Path | None,
    callback: Callable[[dict], None] | None,
    should_stop: Callable[[], bool] | None,
    augment: bool,
    num_workers: int | None,
    seed: int,
    device: torch.device,
    distributed: bool,
    world: int,
    rank: int,
) -> dict:
    from tqdm import tqdm

    main = rank == 0
    cfg = learner.config
    resume_path, resume = _read_resume_checkpoint(learner)
    model = _initial_model(learner, from_scratch, pretrained_backbone, verbose, seed, resume)
    model = model.to(device).train()
    optimizer = torch.optim.SGD(
        model.parameters(), lr=learner.lr, momentum=learner.momentum, weight_decay=learner.weight_decay
    )
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=learner.lr_steps_list, gamma=0.1)
    history: dict[str, list] = {key: [] for key in HISTORY_KEYS}
    start_epoch = 0
    resume_batches = 0  # batches of start_epoch already run (a stopped run's checkpoint)
    resume_sums, resume_count = [0.0] * 4, 0
    temp_path = Path(learner.temp_path) if learner.temp_path else None
    if main and temp_path is not None:
        temp_path.mkdir(parents=True, exist_ok=True)
        remove_stale_temp_files(temp_path)
    if resume is not None:
        path, state = resume_path, resume
        try:
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
        except (RuntimeError, ValueError, KeyError) as error:
            raise ValueError(
                f"training checkpoint {path} does not fit the {learner.backbone} RetinaFace: {error}"
            ) from error
        torch.set_rng_state(state["torch_rng"])
        seed = int(state["seed"])
        start_epoch = int(state["epoch"])
        resume_batches = int(state.get("iteration", 0))
        partial = state.get("partial_epoch") or {"sums": [0.0] * 4, "count": 0}
        resume_sums, resume_count = [float(v) for v in partial["sums"]], int(partial["count"])
        history = {key: list(value) for key, value in state["history"].items()}
        if verbose:
            within = f", after batch {resume_batches}" if resume_batches else ""
            print(f"Resumed from {path}: epoch {start_epoch}{within}, lr {_learning_rate(optimizer):g}")

    train_set = TrainingSet(
        dataset, TrainTransform(size, cfg.mean_bgr, augment), mirror=learner.flip, seed=seed
    )
    if distributed:
        sampler = DistributedSampler(
            train_set, num_replicas=world, rank=rank, shuffle=learner.shuffle, seed=seed
        )
    elif learner.shuffle:
        sampler = RandomSampler(train_set, generator=torch.Generator())
    else:
        sampler = SequentialSampler(train_set)
    if num_workers is None:
        num_workers = min(4, os.cpu_count() or 1) if device.type == "cuda" else 0
    skipping = SkippingSampler(sampler)
    loader = DataLoader(
        train_set,
        batch_size=learner.batch_size,
        sampler=skipping,
        num_workers=num_workers,
        collate_fn=collate,
        pin_memory=device.type == "cuda",
        drop_last=False,
    )
    net: torch.nn.Module = model
    if distributed:
        net = torch.nn.parallel.DistributedDataParallel(
            model,
            device_ids=[device.index] if device.type == "cuda" else None,
            find_unused_parameters=model.with_mask_head,
        )
    criterion = MultiBoxLoss(cfg.variances)
    priors = make_priors(size, size, cfg.min_sizes, cfg.steps).to(device)
    iterations_per_epoch = len(loader)
    total_iterations = (learner.epochs - start_epoch) * iterations_per_epoch
    done_iterations = 0
    started = time.monotonic()
    val_recall = history["val_recall"][-1] if history.get("val_recall") else -1.0
    stopped = False
    last_checkpoint: str | None = None

    def save(epoch: int, iteration: int = 0, partial: dict[str, Any] | None = None) -> str | None:
        """Checkpoint the state at batch ``iteration`` of epoch ``epoch`` (0: the epoch's start, named after
        the ``epoch`` completed ones; else a stopped run, with the epoch's running loss sums)."""
        if not main or temp_path is None:
            return None
        if iteration:
            path = stopped_checkpoint_path(temp_path, learner.prefix, epoch, iteration)
        else:
            path = checkpoint_path(temp_path, learner.prefix, epoch)
        save_checkpoint(
            path,
            {
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "epoch": epoch,
                "iteration": iteration,
                "partial_epoch": partial,
                "seed": seed,
                "torch_rng": torch.get_rng_state(),
                "history": history,
                "backbone": learner.backbone,
                "image_size": size,
            },
        )
        return str(path)

    def report(event: str, epoch: int, iteration: int, losses: list[float]) -> None:
        if callback is None:
            return
        elapsed = time.monotonic() - started
        eta = elapsed / done_iterations * (total_iterations - done_iterations) if done_iterations else -1.0
        callback(
            {
                "event": event,
                "epoch": epoch,
                "iteration": iteration,
                "iterations_per_epoch": iterations_per_epoch,
                "loss": losses[0],
                "loss_box": losses[1],
                "loss_class": losses[2],
                "loss_landmarks": losses[3],
                "lr": _learning_rate(optimizer),
                "eta_sec": eta,
                "val_recall": val_recall,
            }
        )

    def all_finite(losses: list[float]) -> bool:
        finite = all(math.isfinite(v) for v in losses)
        if distributed:  # every rank stops together (none left waiting in the gradient all-reduce)
            flag = torch.tensor([int(not finite)], device=device)
            dist.all_reduce(flag, op=dist.ReduceOp.MAX)
            finite = not flag.item()
        return finite

    def stop_requested() -> bool:
        flag = bool(should_stop()) if should_stop is not None else False
        if distributed and should_stop is not None:
            tensor = torch.tensor([int(flag)], device=device)
            dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
            flag = bool(tensor.item())
        return flag

    epoch = start_epoch
    for epoch in range(start_epoch, learner.epochs):
        train_set.set_epoch(epoch)
        if isinstance(sampler, DistributedSampler):
            sampler.set_epoch(epoch)
        elif isinstance(sampler, RandomSampler):
            sampler.generator.manual_seed(seed * 1_000_003 + epoch)
        sums = torch.zeros(4, dtype=torch.float64)
        count = 0
        skipping.skip = 0
        if epoch == start_epoch and resume_batches:
            skipping.skip = resume_batches * learner.batch_size
            sums += torch.tensor(resume_sums, dtype=torch.float64)
            count = resume_count
        first = skipping.skip // learner.batch_size
        lr = _learning_rate(optimizer)
        progress = tqdm(loader, desc=f"epoch {epoch + 1}/{learner.epochs}", disable=silent, leave=False)
        iteration = first - 1
        for iteration, (images, targets, valid) in enumerate(progress, start=first):
            if stop_requested():
                stopped = True
                break
            images, targets, valid = images.to(device), targets.to(device), valid.to(device)
            outputs = net(images)
            loss, loss_box, loss_class, loss_landm = criterion(outputs, priors, targets, valid)
            losses = [float(v.detach()) for v in (loss, loss_box, loss_class, loss_landm)]
            if not all_finite(losses):  # before the step: non-finite gradients never reach the weights
                here = all(math.isfinite(v) for v in losses)
                raise FloatingPointError(
                    f"loss became {'non-finite on another rank' if here else losses[0]} at epoch {epoch}, "
                    f"iteration {iteration}: lower lr (or check the annotations)"
                )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            sums += torch.tensor(losses, dtype=torch.float64)
            count += 1
            done_iterations += 1
            if (iteration + 1) % learner.log_after == 0:
                progress.set_postfix(loss=f"{losses[0]:.3f}", lr=f"{lr:.2e}")
                report("iteration", epoch, iteration, losses)
        progress.close()
        if stopped:
            partial = {"sums": sums.tolist(), "count": count}
            last_checkpoint = save(epoch, iteration, partial) or last_checkpoint
            if verbose:
                print(
                    f"Training stopped at epoch {epoch}, iteration {iteration}; checkpoint {last_checkpoint}"
                )
            break
        means = (sums / max(count, 1)).tolist()
        if distributed:
            reduced = torch.tensor(means, dtype=torch.float64, device=device)
            dist.all_reduce(reduced)
            means = (reduced / world).tolist()
        for key, value in zip(HISTORY_KEYS, [*means, lr], strict=True):
            history[key].append(value)
        scheduler.step()
        if learner.val_after and val_dataset is not None and (epoch + 1) % learner.val_after == 0:
            if main:
                learner.set_model(model)  # eval mode, fresh inference detector
                metrics = learner.eval(val_dataset, verbose=False, pyramid=False, flip=False)
                val_recall = float(metrics["recall"])
                history.setdefault("val_recall", []).append(val_recall)
                history.setdefault("val_epoch", []).append(epoch + 1)
                model.train()
            if distributed:
                dist.barrier()
        if verbose:
            extra = (
                f", val recall {val_recall:.3f}" if history.get("val_epoch", [None])[-1] == epoch + 1 else ""
            )
            print(
                f"epoch {epoch + 1}/{learner.epochs}: loss {means[0]:.4f} (box {means[1]:.4f}, class "
                f"{means[2]:.4f}, landmarks {means[3]:.4f}), lr {lr:g}{extra}"
            )
        report("epoch_end", epoch, max(iteration, 0), means)
        if learner.checkpoint_after_iter and (epoch + 1) % learner.checkpoint_after_iter == 0:
            last_checkpoint = save(epoch + 1) or last_checkpoint
    learner.device = device  # under DDP each rank keeps its own GPU
    learner.set_model(model)
    history["epochs_completed"] = len(history["loss"])
    history["stopped"] = stopped
    history["last_checkpoint"] = last_checkpoint
    history["image_size"] = size
    return history
