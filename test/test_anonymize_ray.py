"""``retinaface anonymize --ray``: a real local Ray instance with two workers, one task per bag; the output
(bags byte for byte, coverage counts) equals the single-process run's."""

from __future__ import annotations

import json

import pytest
from recording_helpers import SCALES, panning_frames, read_bag, write_bag

from retinaface_ros.cli import main

ray = pytest.importorskip("ray")


@pytest.fixture
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()


@pytest.mark.slow
def test_ray_output_equals_single_process(tmp_path, bald_guys_path, mnet_weights, local_ray):
    frames = panning_frames(bald_guys_path, 6)
    bags = []
    for i, storage in enumerate(["mcap", "sqlite3", "mcap"]):
        bags.append(tmp_path / f"bag{i}")
        write_bag(bags[-1], frames[2 * i : 2 * i + 2], storage)
    common = ["--model", str(mnet_weights), "--scales", *map(str, SCALES), "--batch", "2"]
    assert main(["anonymize", *map(str, bags), "--out", str(tmp_path / "single"), *common]) == 0
    assert main(["anonymize", *map(str, bags), "--out", str(tmp_path / "ray"), "--ray", *common]) == 0
    for bag in bags:
        single, distributed = read_bag(tmp_path / "single" / bag.name), read_bag(tmp_path / "ray" / bag.name)
        assert len(single) == 6 and single == distributed
    reports = [json.loads((tmp_path / f"{name}.coverage.json").read_text()) for name in ("single", "ray")]
    without_fps = [
        {n: {k: v for k, v in c.items() if k != "fps"} for n, c in r["streams"].items()} for r in reports
    ]
    assert without_fps[0] == without_fps[1] and len(without_fps[0]) == 6  # 3 bags × 2 image topics
    assert list(reports[0]["streams"]) == list(reports[1]["streams"])
    # a bag split by time into three parts (12 images, about 4 each), joined in order: the same bag as in one
    # process (batch 1 and no temporal state, so each frame is computed exactly as there)
    exact = ["--batch", "1", "--max-age", "0"]
    long_bag = tmp_path / "long"
    write_bag(long_bag, frames, "mcap")
    common = ["--model", str(mnet_weights), "--scales", *map(str, SCALES)]
    assert main(["anonymize", str(long_bag), "--out", str(tmp_path / "long_single"), *common, *exact]) == 0
    split = ["--ray", "--ray-part-frames", "4"]
    assert (
        main(["anonymize", str(long_bag), "--out", str(tmp_path / "long_ray"), *split, *common, *exact]) == 0
    )
    assert read_bag(tmp_path / "long_ray") == read_bag(tmp_path / "long_single")
    report = json.loads((tmp_path / "long_ray.coverage.json").read_text())
    assert report["inputs"][str(long_bag)]["parts"] == 3
    assert [s["frames"] for s in report["streams"].values()] == [6, 6]
    assert not [p for p in tmp_path.rglob("*") if ".part" in p.name or ".tmp-" in p.name]
    # a task's error comes back as the one-line error of a single-process run
    broken = tmp_path / "broken.mcap"
    broken.write_bytes(b"\x89MCAP0\r\n" + b"\x00" * 64)
    assert (
        main(["anonymize", str(broken), str(bags[0]), "--out", str(tmp_path / "bad"), "--ray", *common]) == 2
    )
    assert not (tmp_path / "bad").exists()
