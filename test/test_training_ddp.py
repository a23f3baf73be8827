"""fit under torchrun: two gloo processes on the CPU, DistributedDataParallel, only rank 0 writes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from training_helpers import mini_wider_root

REPO_ROOT = Path(__file__).resolve().parents[1]

_SCRIPT = """
import json, os, sys
sys.path.insert(0, {test_dir!r})
import torch
from training_helpers import mini_wider
from retinaface_ros.learner import RetinaFaceLearner
from retinaface_ros.training import fit
torch.set_num_threads(1)
rank = int(os.environ["RANK"])
out = os.path.join({base!r}, f"rank{{rank}}")
learner = RetinaFaceLearner("mnet", device="cpu", epochs=2, batch_size=2, lr=0.01, checkpoint_after_iter=1,
                            temp_path=out, val_after=0)
history = fit(learner, mini_wider("train", 4), from_scratch=True, silent=True, verbose=False, image_size=128)
weights = learner.model.state_dict()["ClassHead.0.conv1x1.weight"].sum().item()
with open(os.path.join({base!r}, f"report{{rank}}.json"), "w") as handle:
    json.dump({{"history": history["loss"], "world": torch.distributed.is_available() and
               int(os.environ["WORLD_SIZE"]), "weights": weights,
               "initialized": torch.distributed.is_initialized()}}, handle)
"""


def test_ddp_two_gloo_processes_only_rank0_writes(tmp_path: Path) -> None:
    mini_wider_root()  # skips when shared data is missing
    script = tmp_path / "ddp_train.py"
    script.write_text(
        textwrap.dedent(_SCRIPT.format(test_dir=str(Path(__file__).parent), base=str(tmp_path)))
    )
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
        OMP_NUM_THREADS="1",
    )
    run = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", str(script)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    reports = [json.loads((tmp_path / f"report{rank}.json").read_text()) for rank in (0, 1)]
    assert all(r["world"] == 2 and not r["initialized"] for r in reports)
    assert len(reports[0]["history"]) == 2
    assert reports[0]["history"] == reports[1]["history"]  # epoch losses are averaged over the ranks
    assert abs(reports[0]["weights"] - reports[1]["weights"]) < 1e-5  # DDP kept the replicas in sync
    assert sorted(p.name for p in (tmp_path / "rank0").iterdir()) == [
        "checkpoint_epoch_1.pth",
        "checkpoint_epoch_2.pth",
    ]
    assert not (tmp_path / "rank1").exists()  # rank 1 wrote nothing
