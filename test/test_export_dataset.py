"""``retinaface export-dataset``: frames sampled from a real bag and video, detected with mnet, written as a
WIDER FACE data set that WiderFaceDataset reads back with the same boxes and landmarks."""

from __future__ import annotations

import numpy as np
from recording_helpers import SCALES, panning_frames, write_bag, write_video

from retinaface_ros.cli import main
from retinaface_ros.datasets import WiderFaceDataset


def test_export_bag_and_video_read_back(tmp_path, bald_guys_path, mnet_weights, mnet_learner):
    frames = panning_frames(bald_guys_path, 4)
    bag, video = tmp_path / "walk", tmp_path / "clip.mp4"
    write_bag(bag, frames, "mcap")
    write_video(video, frames, fps=10, audio=False)
    out = tmp_path / "data"
    model = ["--model", str(mnet_weights), "--scales", *map(str, SCALES)]
    # --interval 0.25: the bag's header stamps are 1 s apart (all kept), the video's 0.1 s (0 and 3 kept)
    assert (
        main(["export-dataset", str(bag), str(video), "--out", str(out), "--interval", "0.25", *model]) == 0
    )
    dataset = WiderFaceDataset(out, splits=["train"])
    names = [dataset.name(i) for i in range(len(dataset))]
    assert len(names) == 4 + 4 + 2  # raw + compressed topics every frame; video every 3rd (0.3 s ≥ 0.25)
    assert names[:2] == ["walk/cam_image_raw/000000", "walk/cam_image_raw_compressed/000000"]
    assert [n for n in names if n.startswith("clip/")] == ["clip/000000", "clip/000003"]
    raw = [i for i, n in enumerate(names) if n.startswith("walk/cam_image_raw/")]
    expected = mnet_learner.detect_arrays_batch(frames, threshold=0.8, scales=SCALES)
    for frame_index, i in enumerate(raw):
        image, annotations = dataset[i]
        assert image.shape == frames[frame_index].shape
        np.testing.assert_allclose(annotations[:, :4], expected[frame_index].boxes, atol=0.01)
        np.testing.assert_allclose(
            annotations[:, 4:14], expected[frame_index].landmarks.reshape(-1, 10), atol=0.01
        )
        assert (annotations[:, 14] == 1).all()  # landmarks present
    # every-N sampling; an existing output is refused
    assert main(["export-dataset", str(bag), "--out", str(out), *model]) == 2
    out2 = tmp_path / "every"
    assert (
        main(
            [
                "export-dataset",
                str(bag),
                "--out",
                str(out2),
                "--every",
                "3",
                "--topics",
                "/cam/image_raw",
                *model,
            ]
        )
        == 0
    )
    dataset = WiderFaceDataset(out2, splits=["train"])
    assert [dataset.name(i) for i in range(len(dataset))] == [
        "walk/cam_image_raw/000000",
        "walk/cam_image_raw/000003",
    ]
