"""fit under torchrun: two gloo processes on the CPU, DistributedDataParallel, only rank 0 writes; a run
stopped within an epoch and resumed by a second launch ends as an uninterrupted one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from training_helpers import mini_wider_root

REPO_ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow  # torchrun with two processes: heavy on 2 cores (make test-all runs it)

_SCRIPT = """
import json, os, sys
sys.path.insert(0, {test_dir!r})
import torch
from training_helpers import mini_wider
from retinaface_ros.learner import RetinaFaceLearner
torch.set_num_threads(1)
rank, phase = int(os.environ["RANK"]), os.environ["PHASE"]
checks = iter(range(1000))  # should_stop is asked before each batch: 2 per epoch and rank in the stop phases
if phase == "basic":
    temp, settings = os.path.join({base!r}, f"rank{{rank}}"), dict(batch_size=2, checkpoint_load_iter=0)
    fit_args = dict(image_size=128)
else:  # straight | stop | resume: one checkpoint folder for all ranks, as on a shared disk
    temp = os.path.join({base!r}, "straight" if phase == "straight" else "stopped")
    settings = dict(batch_size=1, checkpoint_load_iter=1 if phase == "resume" else 0)
    fit_args = dict(image_size=64, should_stop=(lambda: next(checks) == 3) if phase == "stop" else None)
learner = RetinaFaceLearner("mnet", device="cpu", epochs=2, lr=0.01, checkpoint_after_iter=1, temp_path=temp,
                            val_after=0, **settings)
history = learner.fit(mini_wider("train", 4), from_scratch=True, silent=True, verbose=False, **fit_args)
weights = learner.model.state_dict()["ClassHead.0.conv1x1.weight"].sum().item()
with open(os.path.join({base!r}, f"{{phase}}{{rank}}.json"), "w") as handle:
    json.dump({{"history": history["loss"], "world": torch.distributed.is_available() and
               int(os.environ["WORLD_SIZE"]), "weights": weights, "stopped": history["stopped"],
               "initialized": torch.distributed.is_initialized()}}, handle)
"""


def _torchrun(tmp_path: Path, phase: str) -> list[dict]:
    script = tmp_path / "ddp_train.py"
    script.write_text(
        textwrap.dedent(_SCRIPT.format(test_dir=str(Path(__file__).parent), base=str(tmp_path)))
    )
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
        OMP_NUM_THREADS="1",
        PHASE=phase,
    )
    run = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", str(script)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    return [json.loads((tmp_path / f"{phase}{rank}.json").read_text()) for rank in (0, 1)]


def test_ddp_two_gloo_processes_only_rank0_writes(tmp_path: Path) -> None:
    mini_wider_root()  # skips when shared data is missing
    reports = _torchrun(tmp_path, "basic")
    assert all(r["world"] == 2 and not r["initialized"] for r in reports)
    assert len(reports[0]["history"]) == 2
    assert reports[0]["history"] == reports[1]["history"]  # epoch losses are averaged over the ranks
    assert abs(reports[0]["weights"] - reports[1]["weights"]) < 1e-5  # DDP kept the replicas in sync
    assert sorted(p.name for p in (tmp_path / "rank0").iterdir()) == [
        "checkpoint_epoch_1.pth",
        "checkpoint_epoch_2.pth",
    ]
    assert not (tmp_path / "rank1").exists()  # rank 1 wrote nothing


def test_ddp_run_stopped_within_an_epoch_resumes_as_if_uninterrupted(tmp_path: Path) -> None:
    mini_wider_root()
    straight = _torchrun(tmp_path, "straight")
    stopped = _torchrun(tmp_path, "stop")  # stops before the second batch of epoch 1, on both ranks
    assert all(r["stopped"] for r in stopped)
    assert (tmp_path / "stopped" / "checkpoint_stopped_epoch_1_iter_1.pth").is_file()
    resumed = _torchrun(tmp_path, "resume")
    for want, got in zip(straight, resumed, strict=True):
        assert not got["stopped"] and got["history"] == pytest.approx(want["history"], rel=1e-4)
        assert got["weights"] == pytest.approx(want["weights"], abs=1e-5)
