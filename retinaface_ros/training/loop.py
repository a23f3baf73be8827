"""``fit(model, config, dataset)``: train a RetinaFace network on a DetectionDataset (single process or
torchrun + DDP) as a :class:`~retinaface_ros.training.config.TrainingConfig` says; returns the trained model
and its history. Knows nothing of the learner (which builds the config and adopts the result).

Data order and augmentation are functions of ``(seed, epoch, index)``, so resuming from the checkpoint of
epoch N, or from one written when a run was stopped within it, replays exactly what an uninterrupted run would
have done from there on.
"""

from __future__ import annotations

import datetime
import math
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, RandomSampler, Sampler, SequentialSampler
from torch.utils.data.distributed import DistributedSampler

from retinaface_ros.io.atomic_files import remove_stale_temp_files
from retinaface_ros.io.state_dicts import has_mask_head, read_state_dict
from retinaface_ros.model import RetinaFace
from retinaface_ros.model.priors import make_priors
from retinaface_ros.training.augment import TrainTransform
from retinaface_ros.training.batches import SkippingSampler, TrainingSet, collate
from retinaface_ros.training.checkpoint import (
    checkpoint_path,
    load_checkpoint,
    resume_checkpoint_path,
    save_checkpoint,
    stopped_checkpoint_path,
)
from retinaface_ros.training.config import TrainingConfig
from retinaface_ros.training.loss import MultiBoxLoss

HISTORY_KEYS = ("loss", "loss_box", "loss_class", "loss_landmarks", "lr")
DISTRIBUTED_TIMEOUT = datetime.timedelta(hours=1)  # for the process group fit creates itself


# ------------------------------------------------------------------------------------------------- setup
def _distributed_env() -> tuple[int, int, int]:
    """(world_size, rank, local_rank) from torchrun's environment; (1, 0, 0) outside it."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    return world, int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))


def _check_arguments(model: Any, config: Any, dataset: Any, val_dataset: Any, validate: Any) -> None:
    from retinaface_ros.datasets import DetectionDataset

    if not isinstance(config, TrainingConfig):
        raise TypeError(f"config must be a TrainingConfig, got {type(config).__name__}")
    if not isinstance(dataset, DetectionDataset):
        raise TypeError(
            f"dataset must be a retinaface_ros.datasets.DetectionDataset, got {type(dataset).__name__}"
        )
    if len(dataset) == 0:
        raise ValueError("dataset is empty: nothing to train on")
    if val_dataset is not None and not isinstance(val_dataset, DetectionDataset):
        raise TypeError(f"val_dataset must be a DetectionDataset or None, got {type(val_dataset).__name__}")
    if validate is not None and not callable(validate):
        raise TypeError(f"validate must be a function (model, dataset) -> metrics, got {validate!r}")
    if model is not None:
        if not isinstance(model, RetinaFace):
            raise TypeError(
                f"model must be a retinaface_ros.model.RetinaFace or None, got {type(model).__name__}"
            )
        if model.backbone_name != config.backbone:
            raise ValueError(
                f"model backbone {model.backbone_name!r} does not match config backbone {config.backbone!r}"
            )


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
    model: RetinaFace | None,
    config: TrainingConfig,
    pretrained_backbone: str | Path | None,
    verbose: bool,
    checkpoint: dict[str, Any] | None = None,
) -> RetinaFace:
    """The network to train: built for the resumed checkpoint (its weights are loaded later), random
    (``from_scratch``), ``model`` (fine-tune), or the ImageNet backbone (heads initialised from the seed)."""
    if checkpoint is not None:
        return RetinaFace(config.backbone, with_mask_head=has_mask_head(checkpoint["model"]))
    if config.from_scratch:
        return _new_model(config.backbone, config.seed)
    if model is not None:
        if verbose:
            print("Fine-tuning the loaded model")
        return model
    model = _new_model(config.backbone, config.seed)
    path = pretrained_backbone
    if not path:
        from retinaface_ros.io.download import download

        path = download(config.backbone, mode="backbone", verbose=verbose)
    load_backbone_weights(model, path)
    if verbose:
        print(f"Starting from the ImageNet backbone {path}")
    return model


def _read_resume_checkpoint(config: TrainingConfig) -> tuple[Path, dict[str, Any]] | tuple[None, None]:
    """(path, state) of the checkpoint ``checkpoint_load_iter`` names (:func:`resume_checkpoint_path`), its
    backbone checked; (None, None) when not resuming."""
    if not config.resuming:
        return None, None
    path = resume_checkpoint_path(config.checkpoint_dir, config.prefix, config.checkpoint_load_iter)
    if path is None:
        raise FileNotFoundError(f"checkpoint_load_iter={config.checkpoint_load_iter}: checkpoint gone")
    state = load_checkpoint(path)
    if not isinstance(state["model"], dict):
        raise ValueError(f"training checkpoint {path}: 'model' is not a state dict")
    if state["backbone"] != config.backbone:
        raise ValueError(f"{path} holds a {state['backbone']!r} model, the config is {config.backbone!r}")
    return path, state


def _weights(model: RetinaFace | None) -> dict[str, torch.Tensor] | None:
    """A CPU copy of ``model``'s weights (what a failed ``fit`` puts back); None without a model."""
    if model is None:
        return None
    return {key: value.detach().to("cpu", copy=True) for key, value in model.state_dict().items()}


def _learning_rate(optimizer: torch.optim.Optimizer) -> float:
    return float(optimizer.param_groups[0]["lr"])


# ------------------------------------------------------------------------------------------------- fit
Validate = Callable[[RetinaFace, Any], Mapping[str, float]]


@dataclass(frozen=True)
class TrainingResult:
    """What ``fit`` returns: the trained network (eval mode, on ``device``) and its history."""

    model: RetinaFace
    history: dict[str, Any]
    device: torch.device  # where the model is (under torchrun each rank's own GPU)

    @property
    def epochs_completed(self) -> int:
        return int(self.history["epochs_completed"])

    @property
    def stopped(self) -> bool:
        return bool(self.history["stopped"])

    @property
    def last_checkpoint(self) -> str | None:
        return self.history["last_checkpoint"]


def fit(
    model: RetinaFace | None,
    config: TrainingConfig,
    dataset: Any,
    val_dataset: Any = None,
    *,
    device: str | torch.device = "cpu",
    pretrained_backbone: str | Path | None = None,
    validate: Validate | None = None,
    callback: Callable[[dict], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    silent: bool = False,
    verbose: bool = True,
) -> TrainingResult:
    """Train on ``dataset`` as ``config`` says; returns a :class:`TrainingResult` whose ``history`` holds
    per-epoch lists (loss, loss_box, loss_class, loss_landmarks, lr and, when validation ran, val_recall /
    val_ap / val_epoch) plus ``epochs_completed``, ``stopped``, ``last_checkpoint`` and ``image_size``.

    Starting point: the checkpoint ``config.checkpoint_load_iter`` names (network, mask head and all weights;
    ``model`` is then ignored); else random init if ``config.from_scratch``; else ``model`` (fine-tuned in
    place); else the ImageNet backbone at ``pretrained_backbone`` (or from ``download``). On any error a given
    ``model`` gets its pre-fit weights back (in eval mode).
    ``validate(model, val_dataset)`` → {'recall', 'ap'} runs every ``config.val_after`` epochs when a
    ``val_dataset`` is given (default: :func:`retinaface_ros.training.evaluate_model.validate_model`).
    ``callback(info)`` runs every ``log_after`` iterations and at each epoch end (rank 0 only);
    ``should_stop()`` is checked every iteration: training then stops, saves a checkpoint (when
    ``checkpoint_dir`` is set) and returns with ``stopped``. Under torchrun (WORLD_SIZE > 1) it trains with
    DistributedDataParallel; only rank 0 logs, validates and writes files.
    """
    _check_arguments(model, config, dataset, val_dataset, validate)
    device = torch.device(device)
    if val_dataset is not None and validate is None:
        from retinaface_ros.training.evaluate_model import validate_model as validate
    world, rank, local_rank = _distributed_env()
    distributed = world > 1
    own_group = False
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
    before = _weights(model)
    options = _Options(
        silent=silent or not main,
        verbose=verbose,
        pretrained_backbone=pretrained_backbone,
        validate=validate,
        callback=callback if main else None,
        should_stop=should_stop,
    )
    try:
        run = _TrainingRun(model, config, dataset, val_dataset, options, _Ranks(device, world, rank))
        return run.run()
    except BaseException:
        if model is not None:
            model.load_state_dict(before)
            model.eval()
        raise
    finally:
        if own_group:
            dist.destroy_process_group()


@dataclass(frozen=True)
class _Options:
    """How ``fit`` reports and validates, resolved (rank 0 alone logs and reports)."""

    silent: bool
    verbose: bool
    pretrained_backbone: str | Path | None
    validate: Validate | None
    callback: Callable[[dict], None] | None
    should_stop: Callable[[], bool] | None


@dataclass(frozen=True)
class _Ranks:
    """Where this process trains: its device, and its place among the torchrun ranks (1 rank without)."""

    device: torch.device
    world: int = 1
    rank: int = 0

    @property
    def distributed(self) -> bool:
        return self.world > 1

    @property
    def main(self) -> bool:
        return self.rank == 0

    def any(self, flag: bool) -> bool:
        """``flag`` of any rank (every rank learns it, so that they stop together)."""
        if not self.distributed:
            return flag
        tensor = torch.tensor([int(flag)], device=self.device)
        dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
        return bool(tensor.item())

    def mean(self, values: list[float]) -> list[float]:
        """``values`` averaged over the ranks."""
        if not self.distributed:
            return values
        tensor = torch.tensor(values, dtype=torch.float64, device=self.device)
        dist.all_reduce(tensor)
        return (tensor / self.world).tolist()


class _TrainingRun:
    """One ``fit``: the network, optimiser, schedule and data, set up (or resumed), then :meth:`run`."""

    def __init__(
        self,
        model: RetinaFace | None,
        config: TrainingConfig,
        dataset: Any,
        val_dataset: Any,
        options: _Options,
        ranks: _Ranks,
    ):
        self.config, self.val_dataset, self.options, self.ranks = config, val_dataset, options, ranks
        device, cfg = ranks.device, config.model_config
        resume_path, resume = _read_resume_checkpoint(config)
        seed = config.seed
        model = _initial_model(model, config, options.pretrained_backbone, options.verbose, resume)
        self.model = model.to(device).train()
        self.optimizer = torch.optim.SGD(
            model.parameters(), lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay
        )
        self.scheduler = torch.optim.lr_scheduler.MultiStepLR(
            self.optimizer, milestones=list(config.lr_steps), gamma=0.1
        )
        self.history: dict[str, list] = {key: [] for key in HISTORY_KEYS}
        self.start_epoch = 0
        self.resume_batches = 0  # batches of start_epoch already run (a stopped run's checkpoint)
        self.resume_sums, self.resume_count = [0.0] * 4, 0
        self.temp_path = Path(config.checkpoint_dir) if config.checkpoint_dir else None
        if ranks.main and self.temp_path is not None:
            self.temp_path.mkdir(parents=True, exist_ok=True)
            remove_stale_temp_files(self.temp_path)
        if resume is not None:
            seed = self._resume(resume_path, resume)
        self.seed = seed

        train_set = TrainingSet(
            dataset, TrainTransform(config.image_size, cfg.mean_bgr, config.augment), config.flip, seed
        )
        if ranks.distributed:
            self.sampler: Sampler = DistributedSampler(
                train_set, num_replicas=ranks.world, rank=ranks.rank, shuffle=config.shuffle, seed=seed
            )
        elif config.shuffle:
            self.sampler = RandomSampler(train_set, generator=torch.Generator())
        else:
            self.sampler = SequentialSampler(train_set)
        workers = config.num_workers
        if workers is None:
            workers = min(4, os.cpu_count() or 1) if device.type == "cuda" else 0
        self.train_set, self.skipping = train_set, SkippingSampler(self.sampler)
        if self.resume_batches:
            self._check_same_data(resume_path, resume)
        self.loader = DataLoader(
            train_set,
            batch_size=config.batch_size,
            sampler=self.skipping,
            num_workers=workers,
            collate_fn=collate,
            pin_memory=device.type == "cuda",
            drop_last=False,
        )
        self.net: torch.nn.Module = self.model
        if ranks.distributed:
            self.net = torch.nn.parallel.DistributedDataParallel(
                self.model,
                device_ids=[device.index] if device.type == "cuda" else None,
                find_unused_parameters=self.model.with_mask_head,
            )
        self.criterion = MultiBoxLoss(cfg.variances)
        self.priors = make_priors(config.image_size, config.image_size, cfg.min_sizes, cfg.steps).to(device)
        self.iterations_per_epoch = len(self.loader)
        self.total_iterations = (config.epochs - self.start_epoch) * self.iterations_per_epoch
        self.total_iterations -= self.resume_batches
        self.done_iterations = 0
        self.started = time.monotonic()
        history = self.history
        self.val_recall = history["val_recall"][-1] if history.get("val_recall") else -1.0
        self.last_checkpoint: str | None = None

    def _data_layout(self) -> dict[str, Any]:
        """What decides which samples a batch index covers; a mid-epoch resume needs it unchanged."""
        return {
            "batch_size": self.config.batch_size,
            "samples": len(self.train_set),
            "shuffle": self.config.shuffle,
            "world": self.ranks.world,
        }

    def _check_same_data(self, path: Path | None, state: dict[str, Any]) -> None:
        """Refuse to resume a stopped run within its epoch when the batches would cover other samples."""
        saved, now = state.get("data_layout"), self._data_layout()
        if saved != now:
            epoch = self.start_epoch
            raise ValueError(
                f"{path} stopped within epoch {epoch} with {saved}, this run has {now}: the batches would "
                f"cover other samples; use the same settings, or resume from checkpoint_epoch_{epoch}.pth"
            )

    def _resume(self, path: Path | None, state: dict[str, Any]) -> int:
        """Load a training checkpoint's weights, optimiser, schedule, RNG, history and place in the data;
        returns its seed."""
        try:
            self.model.load_state_dict(state["model"])
            self.optimizer.load_state_dict(state["optimizer"])
            self.scheduler.load_state_dict(state["scheduler"])
        except (RuntimeError, ValueError, KeyError) as error:
            raise ValueError(
                f"training checkpoint {path} does not fit the {self.config.backbone} RetinaFace: {error}"
            ) from error
        torch.set_rng_state(state["torch_rng"])
        self.start_epoch = int(state["epoch"])
        self.resume_batches = int(state.get("iteration", 0))
        partial = state.get("partial_epoch") or {"sums": [0.0] * 4, "count": 0}
        self.resume_sums, self.resume_count = [float(v) for v in partial["sums"]], int(partial["count"])
        self.history = {key: list(value) for key, value in state["history"].items()}
        if self.options.verbose:
            within = f", after batch {self.resume_batches}" if self.resume_batches else ""
            lr = _learning_rate(self.optimizer)
            print(f"Resumed from {path}: epoch {self.start_epoch}{within}, lr {lr:g}")
        return int(state["seed"])

    # -------------------------------------------------------------------------------------------- the run
    def run(self) -> TrainingResult:
        """Train the remaining epochs (or until stopped); the trained model in eval mode, and its history."""
        stopped = False
        for epoch in range(self.start_epoch, self.config.epochs):
            stopped = self._epoch(epoch)
            if stopped:
                break
        history = self.history
        history["epochs_completed"] = len(history["loss"])
        history["stopped"] = stopped
        history["last_checkpoint"] = self.last_checkpoint
        history["image_size"] = self.config.image_size
        return TrainingResult(self.model.eval(), history, self.ranks.device)

    def _epoch(self, epoch: int) -> bool:
        """One epoch (from the resumed batch on, for a stopped run's epoch); True when it was stopped."""
        from tqdm import tqdm

        config, options = self.config, self.options
        self.train_set.set_epoch(epoch)
        if isinstance(self.sampler, DistributedSampler):
            self.sampler.set_epoch(epoch)
        elif isinstance(self.sampler, RandomSampler):
            self.sampler.generator.manual_seed(self.seed * 1_000_003 + epoch)
        sums = torch.zeros(4, dtype=torch.float64)
        count = 0
        self.skipping.skip = 0
        if epoch == self.start_epoch and self.resume_batches:
            self.skipping.skip = self.resume_batches * config.batch_size
            sums += torch.tensor(self.resume_sums, dtype=torch.float64)
            count = self.resume_count
        first = self.skipping.skip // config.batch_size
        lr = _learning_rate(self.optimizer)
        progress = tqdm(
            self.loader, desc=f"epoch {epoch + 1}/{config.epochs}", disable=options.silent, leave=False
        )
        iteration = first - 1
        stopped = False
        for iteration, batch in enumerate(progress, start=first):
            if options.should_stop is not None and self.ranks.any(bool(options.should_stop())):
                stopped = True
                break
            losses = self._step(batch, epoch, iteration)
            sums += torch.tensor(losses, dtype=torch.float64)
            count += 1
            self.done_iterations += 1
            if (iteration + 1) % config.log_after == 0:
                progress.set_postfix(loss=f"{losses[0]:.3f}", lr=f"{lr:.2e}")
                self._report("iteration", epoch, iteration, losses)
        progress.close()
        if stopped:
            # the running loss sums averaged over the ranks (each resumed rank starts from them)
            partial = {"sums": self.ranks.mean(sums.tolist()), "count": count}
            self.last_checkpoint = self._save(epoch, iteration, partial) or self.last_checkpoint
            if options.verbose:
                where = f"epoch {epoch}, iteration {iteration}"
                print(f"Training stopped at {where}; checkpoint {self.last_checkpoint}")
            return True
        means = self.ranks.mean((sums / max(count, 1)).tolist())
        for key, value in zip(HISTORY_KEYS, [*means, lr], strict=True):
            self.history[key].append(value)
        self.scheduler.step()
        if config.val_after and self.val_dataset is not None and (epoch + 1) % config.val_after == 0:
            self._validate(epoch)
        validated = self.history.get("val_epoch", [None])[-1] == epoch + 1
        if options.verbose:
            extra = f", val recall {self.val_recall:.3f}" if validated else ""
            print(
                f"epoch {epoch + 1}/{config.epochs}: loss {means[0]:.4f} (box {means[1]:.4f}, class "
                f"{means[2]:.4f}, landmarks {means[3]:.4f}), lr {lr:g}{extra}"
            )
        self._report("epoch_end", epoch, max(iteration, 0), means, validated=validated)
        if config.checkpoint_after_iter and (epoch + 1) % config.checkpoint_after_iter == 0:
            self.last_checkpoint = self._save(epoch + 1) or self.last_checkpoint
        return False

    def _step(self, batch: tuple[torch.Tensor, ...], epoch: int, iteration: int) -> list[float]:
        """One optimiser step on ``batch``; its four losses. A non-finite loss (on any rank) stops the run
        before the step, so the weights never see it."""
        device = self.ranks.device
        images, targets, valid = (tensor.to(device) for tensor in batch)
        loss, loss_box, loss_class, loss_landm = self.criterion(self.net(images), self.priors, targets, valid)
        losses = [float(v.detach()) for v in (loss, loss_box, loss_class, loss_landm)]
        here = all(math.isfinite(v) for v in losses)
        if self.ranks.any(not here):
            raise FloatingPointError(
                f"loss became {losses[0] if not here else 'non-finite on another rank'} at epoch {epoch}, "
                f"iteration {iteration}: lower lr (or check the annotations)"
            )
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return losses

    def _validate(self, epoch: int) -> None:
        """Recall on the validation set (rank 0; the others wait)."""
        if self.ranks.main:
            assert self.options.validate is not None  # fit's default when a val_dataset is given
            self.model.eval()
            metrics = self.options.validate(self.model, self.val_dataset)
            self.val_recall = float(metrics["recall"])
            self.history.setdefault("val_recall", []).append(self.val_recall)
            self.history.setdefault("val_ap", []).append(float(metrics["ap"]))
            self.history.setdefault("val_epoch", []).append(epoch + 1)
            self.model.train()
        if self.ranks.distributed:
            dist.barrier()

    def _save(self, epoch: int, iteration: int = 0, partial: dict[str, Any] | None = None) -> str | None:
        """Checkpoint the state at batch ``iteration`` of epoch ``epoch`` (0: the epoch's start, named after
        the ``epoch`` completed ones; else a stopped run, with the epoch's running loss sums)."""
        if not self.ranks.main or self.temp_path is None:
            return None
        prefix = self.config.prefix
        if iteration:
            path = stopped_checkpoint_path(self.temp_path, prefix, epoch, iteration)
        else:
            path = checkpoint_path(self.temp_path, prefix, epoch)
        save_checkpoint(
            path,
            {
                "model": self.model.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(),
                "epoch": epoch,
                "iteration": iteration,
                "partial_epoch": partial,
                "seed": self.seed,
                "torch_rng": torch.get_rng_state(),
                "history": self.history,
                "backbone": self.config.backbone,
                "image_size": self.config.image_size,
                "data_layout": self._data_layout(),
            },
        )
        return str(path)

    def _report(
        self, event: str, epoch: int, iteration: int, losses: list[float], validated: bool = False
    ) -> None:
        """``callback(info)``: 'iteration' (every ``log_after``) or 'epoch_end' (epoch mean losses;
        ``validated`` when validation ran after it: ``validate`` saw the weights of that epoch)."""
        callback = self.options.callback
        if callback is None:
            return
        done, total = self.done_iterations, self.total_iterations
        eta = (time.monotonic() - self.started) / done * (total - done) if done else -1.0
        callback(
            {
                "event": event,
                "epoch": epoch,
                "epochs": self.config.epochs,
                "iteration": iteration,
                "iterations_per_epoch": self.iterations_per_epoch,
                "loss": losses[0],
                "loss_box": losses[1],
                "loss_class": losses[2],
                "loss_landmarks": losses[3],
                "lr": _learning_rate(self.optimizer),
                "eta_sec": eta,
                "val_recall": self.val_recall,
                "val_ap": self.history["val_ap"][-1] if self.history.get("val_ap") else -1.0,
                "validated": validated,
            }
        )
