"""``retinaface detect-bag`` and ``anonymize --add-detections``: detections and faces added to real bags,
stamped like their images, readable from the bag's own message definitions."""

from __future__ import annotations

import numpy as np
import pytest
from recording_helpers import COMPRESSED_TOPIC, RAW_TOPIC, SCALES, panning_frames, read_bag, write_bag

from retinaface_ros.cli import main

FRAMES = 2


def _read_with_bag_definitions(path):
    """Every message deserialised with types learnt from the bag itself (as Foxglove / ros2 bag play do)."""
    from rosbags.highlevel import AnyReader
    from rosbags.typesys import Stores, get_typestore

    with AnyReader([path], default_typestore=get_typestore(Stores.EMPTY)) as reader:
        return [(c.topic, t, reader.deserialize(raw, c.msgtype)) for c, t, raw in reader.messages()]


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_detect_bag_adds_detections_and_faces(tmp_path, bald_guys_path, mnet_weights, mnet_learner, storage):
    frames = panning_frames(bald_guys_path, FRAMES)
    source = tmp_path / "in"
    write_bag(source, frames, storage)
    out = tmp_path / "out"
    args = [
        "detect-bag",
        str(source),
        "--out",
        str(out),
        "--model",
        str(mnet_weights),
        "--scales",
        *map(str, SCALES),
    ]
    assert main(args) == 0
    before, after = read_bag(source), read_bag(out)
    originals = [m for m in after if not m[0].endswith(("/detections", "/faces"))]
    assert originals == before  # every input message kept byte for byte, images included
    messages = _read_with_bag_definitions(out)
    expected = mnet_learner.detect_arrays_batch(frames, threshold=0.8, scales=SCALES)
    for topic in (RAW_TOPIC, COMPRESSED_TOPIC):
        images = [(t, m) for top, t, m in messages if top == topic]
        detections = [(t, m) for top, t, m in messages if top == f"{topic}/detections"]
        faces = [(t, m) for top, t, m in messages if top == f"{topic}/faces"]
        assert len(images) == len(detections) == len(faces) == FRAMES
        for i, ((t_img, img), (t_det, det), (t_face, face)) in enumerate(
            zip(images, detections, faces, strict=True)
        ):
            assert t_img == t_det == t_face  # same receive time
            assert det.header == img.header and face.header == img.header  # same stamp and frame
            assert len(det.detections) == len(face.faces) > 10
            if topic == RAW_TOPIC:  # the JPEG copy finds nearly the same faces
                assert len(det.detections) == len(expected[i])
                centres = np.array(
                    [[d.bbox.center.position.x, d.bbox.center.position.y] for d in det.detections]
                )
                np.testing.assert_allclose(
                    centres, (expected[i].boxes[:, :2] + expected[i].boxes[:, 2:]) / 2, atol=0.5
                )
            d0, f0 = det.detections[0], face.faces[0]
            assert d0.results[0].hypothesis.class_id == "face" and 0.8 <= d0.results[0].hypothesis.score <= 1
            assert f0.detection_index == 0 and len(f0.landmarks) == 5
            x = d0.bbox.center.position.x
            assert abs(f0.landmarks[2].x - x) < d0.bbox.size_x / 2  # the nose inside its box


def test_anonymize_add_detections(tmp_path, bald_guys_path, mnet_weights):
    frames = panning_frames(bald_guys_path, 1)
    source = tmp_path / "in"
    write_bag(source, frames, "mcap")
    out = tmp_path / "out"
    args = ["anonymize", str(source), "--out", str(out), "--model", str(mnet_weights), "--add-detections"]
    assert main([*args, "--scales", *map(str, SCALES), "--topics", RAW_TOPIC]) == 0
    topics = [m[0] for m in read_bag(out)]
    assert topics.count(f"{RAW_TOPIC}/detections") == topics.count(f"{RAW_TOPIC}/faces") == 1
    assert f"{COMPRESSED_TOPIC}/detections" not in topics
    raw_index = topics.index(RAW_TOPIC)
    assert topics[raw_index + 1 : raw_index + 3] == [f"{RAW_TOPIC}/detections", f"{RAW_TOPIC}/faces"]
