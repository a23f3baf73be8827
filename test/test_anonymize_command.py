"""``retinaface anonymize`` on real bags (rosbags, MCAP and sqlite3), a real video (PyAV) and image folders,
with the pretrained mnet: faces covered, everything else kept, outputs atomic, bad input one line + exit 2."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import box_iou
from recording_helpers import (
    COMPRESSED_TOPIC,
    OTHER_TOPIC,
    RAW_TOPIC,
    SCALES,
    bag_connections,
    panning_frames,
    read_bag,
    write_bag,
    write_video,
)

from retinaface_ros.cli import main
from retinaface_ros.privacy import cover_regions
from retinaface_ros.privacy.frame_anonymizer import FrameAnonymizer
from retinaface_ros.recording.bag_rewriter import default_typestore

FRAMES = 4


@pytest.fixture(scope="module")
def frames(bald_guys_path) -> list[np.ndarray]:
    return panning_frames(bald_guys_path, FRAMES)


def _run(*args: str | Path, model: Path) -> int:
    return main(["anonymize", *map(str, args), "--model", str(model), "--scales", *map(str, SCALES)])


def _tree_digest(path: Path) -> str:
    digest = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]:
        digest.update(str(file.relative_to(path) if path.is_dir() else file.name).encode())
        digest.update(file.read_bytes())
    return digest.hexdigest()


def _no_temp_files(folder: Path) -> bool:
    return not [p for p in folder.iterdir() if ".tmp-" in p.name]


def _faces_found_again(learner, originals, anonymised) -> tuple[int, int]:
    before = learner.detect_arrays_batch(originals, threshold=0.5, scales=SCALES)
    after = learner.detect_arrays_batch(anonymised, threshold=0.5, scales=SCALES)
    again = sum(
        int((box_iou(b.boxes, a.boxes).max(1) >= 0.3).sum()) if len(a) and len(b) else 0
        for b, a in zip(before, after, strict=True)
    )
    return again, sum(len(b) for b in before)


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_bag_images_covered_everything_else_kept(tmp_path, frames, mnet_weights, mnet_learner, storage):
    source = tmp_path / "in_bag"
    write_bag(source, frames, storage)
    digest = _tree_digest(source)
    out = tmp_path / "out_bag"
    assert _run(source, "--out", out, "--max-age", "0", model=mnet_weights) == 0
    assert _tree_digest(source) == digest  # input untouched
    assert _no_temp_files(tmp_path)
    before, after = read_bag(source), read_bag(out)
    # same messages, order, receive timestamps and types; the other topic byte-identical; QoS metadata kept
    assert [(t, ty, ts) for t, ty, ts, _ in before] == [(t, ty, ts) for t, ty, ts, _ in after]
    assert [raw for t, _, _, raw in before if t == OTHER_TOPIC] == [
        raw for t, _, _, raw in after if t == OTHER_TOPIC
    ]
    assert bag_connections(source) == bag_connections(out)
    assert "storage_identifier: " + storage in (out / "metadata.yaml").read_text()
    typestore = default_typestore()
    raw_out, detections = [], mnet_learner.detect_arrays_batch(frames, threshold=0.3, scales=SCALES)
    for (topic, msgtype, _, raw_in), (_, _, _, raw_new), i in zip(
        before, after, [i // 3 for i in range(len(before))], strict=True
    ):
        if topic == OTHER_TOPIC:
            continue
        old, new = typestore.deserialize_cdr(raw_in, msgtype), typestore.deserialize_cdr(raw_new, msgtype)
        assert (new.header.stamp.sec, new.header.stamp.nanosec, new.header.frame_id) == (
            old.header.stamp.sec,
            old.header.stamp.nanosec,
            old.header.frame_id,
        )
        if topic == COMPRESSED_TOPIC:
            assert new.format == old.format
            assert cv2.imdecode(new.data, cv2.IMREAD_COLOR).shape == frames[i].shape
            continue
        assert (new.encoding, new.height, new.width, new.step) == (
            old.encoding,
            old.height,
            old.width,
            old.step,
        )
        image = cv2.cvtColor(new.data.reshape(new.height, new.width, 3), cv2.COLOR_RGB2BGR)
        raw_out.append(image)
        # pixels outside the enlarged boxes are the input's (2 px slack: batch vs single rounding)
        allowed = np.zeros(image.shape[:2], np.uint8)
        for x1, y1, x2, y2 in cover_regions(detections[i].boxes, 1.3, image.shape[:2]):
            allowed[y1:y2, x1:x2] = 1
        allowed = cv2.dilate(allowed, np.ones((5, 5), np.uint8)).astype(bool)
        changed = (image != frames[i]).any(-1)
        assert changed.any() and not (changed & ~allowed).any()
    again, total = _faces_found_again(mnet_learner, frames, raw_out)
    assert total >= 80 and again <= 0.02 * total, (again, total)
    report = json.loads((tmp_path / "out_bag.coverage.json").read_text())
    stream = report["streams"][f"{source}:{RAW_TOPIC}"]
    assert stream["frames"] == FRAMES and stream["frames_with_faces"] == FRAMES
    assert stream["faces_covered"] == sum(len(d) for d in detections)


def test_bare_mcap_and_storage_conversion(tmp_path, frames, mnet_weights):
    source = tmp_path / "in_bag"
    write_bag(source, frames[:2], "mcap")
    bare = source / "in_bag.mcap"
    assert _run(bare, "--out", tmp_path / "out.mcap", "--topics", RAW_TOPIC, model=mnet_weights) == 0
    assert (tmp_path / "out.mcap").is_file()
    before, after = read_bag(bare), read_bag(tmp_path / "out.mcap")
    assert [m[:3] for m in before] == [m[:3] for m in after]
    # --topics: the compressed topic is not rewritten, byte for byte
    assert [m[3] for m in before if m[0] == COMPRESSED_TOPIC] == [
        m[3] for m in after if m[0] == COMPRESSED_TOPIC
    ]
    out = tmp_path / "as_sqlite"
    assert _run(source, "--out", out, "--storage", "sqlite3", model=mnet_weights) == 0
    assert "storage_identifier: sqlite3" in (out / "metadata.yaml").read_text()
    assert [m[:3] for m in read_bag(out)] == [m[:3] for m in before]


def test_video_codec_rate_audio_kept_faces_gone(tmp_path, frames, mnet_weights, mnet_learner):
    import av

    source = tmp_path / "clip.mp4"
    write_video(source, frames, fps=10)
    out = tmp_path / "clip_anon.mp4"
    assert _run(source, "--out", out, model=mnet_weights) == 0
    with av.open(str(source)) as a, av.open(str(out)) as b:
        assert [s.type for s in b.streams] == [s.type for s in a.streams]
        va, vb = a.streams.video[0], b.streams.video[0]
        assert vb.codec_context.name == va.codec_context.name == "h264"
        assert vb.average_rate == va.average_rate == 10
        audio_packets = [[bytes(p) for p in c.demux(c.streams.audio[0]) if p.size] for c in (a, b)]
    assert audio_packets[0] and audio_packets[0] == audio_packets[1]  # audio copied packet for packet
    with av.open(str(source)) as a, av.open(str(out)) as b:
        decoded = [f.to_ndarray(format="bgr24") for f in a.decode(video=0)]
        images = [f.to_ndarray(format="bgr24") for f in b.decode(video=0)]
    assert len(images) == len(decoded) == FRAMES
    again, total = _faces_found_again(mnet_learner, decoded, images)
    assert total >= 80 and again <= 0.02 * total, (again, total)


def test_folder_tree_kept_and_existing_output_refused(tmp_path, frames, mnet_weights, capsys):
    source = tmp_path / "photos"
    (source / "day1" / "morning").mkdir(parents=True)
    cv2.imwrite(str(source / "a.jpg"), frames[0])
    cv2.imwrite(str(source / "day1" / "morning" / "b.png"), frames[1][:, :, 0])  # grey PNG stays grey PNG
    (source / "day1" / "notes.txt").write_text("kept as is")
    digest = _tree_digest(source)
    out = tmp_path / "photos_anon"
    assert _run(source, "--out", out, model=mnet_weights) == 0
    assert _tree_digest(source) == digest
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()) == [
        "a.jpg",
        "day1/morning/b.png",
        "day1/notes.txt",
    ]
    grey = cv2.imread(str(out / "day1" / "morning" / "b.png"), cv2.IMREAD_UNCHANGED)
    assert grey.shape == frames[1].shape[:2] and not np.array_equal(grey, frames[1][:, :, 0])
    assert (out / "day1" / "notes.txt").read_text() == "kept as is"
    before = _tree_digest(out)
    capsys.readouterr()
    assert _run(source, "--out", out, model=mnet_weights) == 2
    assert "exists (use --overwrite" in capsys.readouterr().err
    assert _tree_digest(out) == before
    shutil.rmtree(source / "day1")
    assert _run(source, "--out", out, "--overwrite", model=mnet_weights) == 0
    assert [p.name for p in out.rglob("*") if p.is_file()] == ["a.jpg"]
    assert _no_temp_files(tmp_path)


def test_a_bag_file_in_a_folder_is_anonymized_not_copied(tmp_path, frames, mnet_weights):
    """Before: a bare .mcap / .db3 inside an input folder was copied as it was, faces and all."""
    write_bag(tmp_path / "bag", frames[:2], "mcap")
    source = tmp_path / "recordings"
    source.mkdir()
    shutil.copy2(tmp_path / "bag" / "bag.mcap", source / "walk.mcap")
    assert _run(source, "--out", tmp_path / "out", model=mnet_weights) == 0
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["walk.mcap"]
    assert _run(source / "walk.mcap", "--out", tmp_path / "alone.mcap", model=mnet_weights) == 0
    in_folder, alone = read_bag(tmp_path / "out" / "walk.mcap"), read_bag(tmp_path / "alone.mcap")
    assert in_folder == alone and in_folder != read_bag(source / "walk.mcap")
    assert _no_temp_files(tmp_path / "out")


def test_ctrl_c_leaves_no_output(tmp_path, frames, mnet_weights, monkeypatch, capsys):
    source = tmp_path / "in_bag"
    write_bag(source, frames[:3], "mcap")
    calls = []

    def interrupted(self, batch):
        calls.append(len(batch))
        raise KeyboardInterrupt

    monkeypatch.setattr(FrameAnonymizer, "process", interrupted)
    out = tmp_path / "out_bag"
    assert (
        main(["anonymize", str(source), "--out", str(out), "--model", str(mnet_weights), "--batch", "2"])
        == 130
    )
    assert calls and not out.exists() and _no_temp_files(tmp_path)
    assert "no output written" in capsys.readouterr().err


def _error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    return err[-1]


def test_corrupt_inputs_one_line_exit_2(tmp_path, frames, mnet_weights, capsys):
    # truncated MCAP
    source = tmp_path / "in_bag"
    write_bag(source, frames[:3], "mcap")
    mcap = source / "in_bag.mcap"
    data = mcap.read_bytes()
    truncated = tmp_path / "truncated.mcap"
    truncated.write_bytes(data[: len(data) * 2 // 3])
    capsys.readouterr()
    assert _run(truncated, "--out", tmp_path / "t_out.mcap", model=mnet_weights) == 2
    line = _error_line(capsys)
    assert "truncated.mcap" in line and "retinaface: error:" in line
    # an image with an unknown encoding: file, topic and message index named
    weird = tmp_path / "weird_bag"
    write_bag(weird, [frames[0][:, :, 0].copy()] * 2, "sqlite3", raw_encoding="32FC1")
    assert _run(weird, "--out", tmp_path / "w_out", model=mnet_weights) == 2
    line = _error_line(capsys)
    assert "weird_bag" in line and RAW_TOPIC in line and "message 0" in line and "32FC1" in line
    # an unreadable video
    video = tmp_path / "broken.mp4"
    video.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 20)
    assert _run(video, "--out", tmp_path / "b_out.mp4", model=mnet_weights) == 2
    assert "broken.mp4" in _error_line(capsys)
    for name in ("t_out.mcap", "w_out", "b_out.mp4"):
        assert not (tmp_path / name).exists()
    assert _no_temp_files(tmp_path)
