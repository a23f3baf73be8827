"""``retinaface track`` on an image folder and on a video built from bald_guys.jpg (a slow pan): the
annotated video and the JSON come out, ids stay put, the detector runs every Nth frame; bad input gives
one line and exit code 2, leaves no output behind and never touches the input."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from retinaface_ros.cli import main

FRAMES = 8
ORIGIN = (250, 170)  # in bald_guys.jpg at half size: a 320×240 window with two whole faces
SIZE = (320, 240)
PAN = 2  # pixels per frame


@pytest.fixture(scope="module")
def pan_frames(bald_guys_path) -> list[np.ndarray]:
    image = cv2.imread(str(bald_guys_path))
    half = cv2.resize(image, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
    x, y = ORIGIN
    return [half[y : y + SIZE[1], x + PAN * i : x + PAN * i + SIZE[0]].copy() for i in range(FRAMES)]


@pytest.fixture()
def folder(tmp_path, pan_frames) -> Path:
    out = tmp_path / "frames"
    out.mkdir()
    for index, frame in enumerate(pan_frames):  # natural order: frame_2 before frame_10
        cv2.imwrite(str(out / f"frame_{index * 5}.png"), frame)
    return out


def track(source: Path, tmp_path: Path, mnet_weights: Path, *extra: str) -> int:
    return main(["track", str(source), "--model", str(mnet_weights), "--scales", "240", "320", *extra])


def digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def read_video(path: Path) -> list[np.ndarray]:
    import av

    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="bgr24") for frame in container.decode(video=0)]


def test_folder_to_annotated_video_and_json(folder, tmp_path, mnet_weights, capsys):
    before = digest(folder)
    out, tracks = tmp_path / "out" / "annotated.mp4", tmp_path / "tracks.json"
    assert (
        track(folder, tmp_path, mnet_weights, "--out", str(out), "--json", str(tracks), "--detect-every", "2")
        == 0
    )
    assert digest(folder) == before  # the input is never modified
    document = json.loads(tracks.read_text())
    frames = document["frames"]
    assert [f["index"] for f in frames] == list(range(FRAMES))
    assert [f["detected"] for f in frames] == [i % 2 == 0 for i in range(FRAMES)]
    assert frames[1]["time_s"] == pytest.approx(1 / 30, abs=1e-6)
    ids = [sorted(face["id"] for face in f["faces"]) for f in frames]
    assert ids[0] == ["1", "2"] and all(i == ids[0] for i in ids)  # two faces, the same ids all along
    first = {face["id"]: face for face in frames[0]["faces"]}
    last = {face["id"]: face for face in frames[-1]["faces"]}
    for track_id in first:  # the pan moves the content left by PAN per frame: boxes follow
        shift = np.array(last[track_id]["box"]) - np.array(first[track_id]["box"])
        assert shift[0] == pytest.approx(-PAN * (FRAMES - 1), abs=3.0) and abs(shift[1]) < 3.0
        assert len(first[track_id]["landmarks"]) == 5 and 0.8 <= first[track_id]["score"] <= 1.0
    assert document["tracks_created"] == 2
    video = read_video(out)
    assert len(video) == FRAMES and video[0].shape == (SIZE[1], SIZE[0], 3)
    assert "8 frames, 2 tracked face(s)" in capsys.readouterr().out
    assert not [p for p in out.parent.iterdir() if p.name != "annotated.mp4"]  # no temp file left


def test_video_input(tmp_path, pan_frames, mnet_weights):
    import av

    video = tmp_path / "pan.mkv"
    with av.open(str(video), "w") as container:
        stream = container.add_stream("ffv1", rate=25)  # lossless: the frames the test made
        stream.width, stream.height, stream.pix_fmt = SIZE[0], SIZE[1], "bgr0"
        for frame in pan_frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="bgr24")))
        container.mux(stream.encode())
    tracks = tmp_path / "tracks.json"
    assert track(video, tmp_path, mnet_weights, "--json", str(tracks)) == 0
    frames = json.loads(tracks.read_text())["frames"]
    assert len(frames) == FRAMES and all(f["detected"] for f in frames)
    assert [f["time_s"] for f in frames] == pytest.approx(
        [i / 25 for i in range(FRAMES)], abs=1e-6
    )  # from the pts
    assert all(sorted(face["id"] for face in f["faces"]) == ["1", "2"] for f in frames)


def test_bad_input_one_line_exit_2_nothing_left(folder, tmp_path, mnet_weights, capsys):
    out = tmp_path / "result" / "annotated.mp4"
    out.parent.mkdir()
    assert track(tmp_path / "missing.mp4", tmp_path, mnet_weights, "--out", str(out)) == 2
    assert "missing.mp4" in capsys.readouterr().err
    assert track(folder, tmp_path, mnet_weights) == 2
    assert "--out" in capsys.readouterr().err
    assert track(folder, tmp_path, mnet_weights, "--out", str(tmp_path / "a.txt")) == 2
    assert "a.txt" in capsys.readouterr().err
    (folder / "frame_12.png").write_bytes(b"not a png")  # a broken file in the middle of the sequence
    assert track(folder, tmp_path, mnet_weights, "--out", str(out), "--json", str(tmp_path / "t.json")) == 2
    error = capsys.readouterr().err  # after the progress bar: one line naming the file
    last = error.strip().splitlines()[-1]
    assert last.startswith("retinaface: error: ") and last.endswith("frame_12.png: not a readable image")
    assert error.count("retinaface: error") == 1 and "Traceback" not in error
    assert list(out.parent.iterdir()) == [] and not (tmp_path / "t.json").exists()
    not_video = tmp_path / "clip.mp4"
    not_video.write_bytes(b"\x00" * 100)
    assert track(not_video, tmp_path, mnet_weights, "--json", str(tmp_path / "t.json")) == 2
    assert "clip.mp4" in capsys.readouterr().err
