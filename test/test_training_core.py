"""Training core: augmentation, loss matching, argument checks, overfitting, checkpoints, resume, kill -9."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from training_helpers import SubsetDataset, mini_wider, mini_wider_root

from retinaface_ros.datasets import DetectionDataset
from retinaface_ros.learner import RetinaFaceLearner
from retinaface_ros.model.box_coder import encode_boxes
from retinaface_ros.model.config import config_for
from retinaface_ros.model.priors import make_priors
from retinaface_ros.training import MultiBoxLoss, TrainTransform, checkpoint_path, load_checkpoint, match
from retinaface_ros.training.augment import mirror, random_crop
from retinaface_ros.training.batches import collate
from retinaface_ros.training.checkpoint import save_checkpoint
from retinaface_ros.types import BoundingBoxList

REPO_ROOT = Path(__file__).resolve().parents[1]


def _face(x1, y1, x2, y2, landmarks=True) -> np.ndarray:
    row = np.full(15, -1.0, dtype=np.float32)
    row[:4] = (x1, y1, x2, y2)
    if landmarks:
        w, h = x2 - x1, y2 - y1
        points = [(0.3, 0.35), (0.7, 0.35), (0.5, 0.55), (0.35, 0.75), (0.65, 0.75)]
        row[4:14] = [v for px, py in points for v in (x1 + px * w, y1 + py * h)]
        row[14] = 1.0
    return row


# ------------------------------------------------------------------------------------------- augmentation
def test_mirror_swaps_left_and_right_landmarks() -> None:
    image = np.zeros((60, 100, 3), dtype=np.uint8)
    faces = np.stack([_face(10, 10, 40, 50), _face(60, 5, 90, 30, landmarks=False)])
    flipped, out = mirror(image, faces)
    assert flipped.shape == image.shape
    np.testing.assert_allclose(out[0, :4], [60, 10, 90, 50])
    points, mirrored = faces[0, 4:14].reshape(5, 2), out[0, 4:14].reshape(5, 2)
    for new, old in zip(range(5), (1, 0, 2, 4, 3), strict=True):  # eyes and mouth corners swap, nose stays
        np.testing.assert_allclose(mirrored[new], [100 - points[old, 0], points[old, 1]])
    assert mirrored[0, 0] < mirrored[1, 0]  # the left eye is still left of the right eye
    np.testing.assert_array_equal(out[1, 4:], faces[1, 4:])  # absent landmarks stay absent
    twice = mirror(*mirror(image, faces))[1]
    np.testing.assert_allclose(twice, faces, atol=1e-5)


def test_random_crop_keeps_faces_whose_centre_is_inside() -> None:
    # every pixel holds its own coordinates, so the crop's first pixel tells where the crop was taken
    ys, xs = np.mgrid[0:200, 0:300]
    image = np.stack((xs % 256, ys, xs // 256), axis=-1).astype(np.uint8)
    faces = np.stack(
        [_face(10, 10, 40, 40), _face(150, 120, 190, 170), _face(260, 20, 295, 60), _face(100, 60, 160, 130)]
    )
    centres = (faces[:, :2] + faces[:, 2:4]) / 2
    dropped_some = False
    for seed in range(40):
        crop, kept, needs_pad = random_crop(image, faces, 160, np.random.default_rng(seed))
        assert crop.shape[0] == crop.shape[1] and not needs_pad and len(kept) >= 1
        side = crop.shape[0]
        left, top = int(crop[0, 0, 0]) + 256 * int(crop[0, 0, 2]), int(crop[0, 0, 1])
        np.testing.assert_array_equal(crop, image[top : top + side, left : left + side])
        inside = ((centres > (left, top)) & (centres < (left + side, top + side))).all(axis=1)
        assert len(kept) == inside.sum()
        dropped_some |= not inside.all()
        want = faces[inside].copy()
        want[:, 0:4:2] = np.clip(want[:, 0:4:2], left, left + side) - left
        want[:, 1:4:2] = np.clip(want[:, 1:4:2], top, top + side) - top
        np.testing.assert_allclose(kept[:, :4], want[:, :4])
        assert (kept[:, 4:14] >= 0).all() and (kept[:, 4:14] <= side).all()
    assert dropped_some


def test_transform_normalises_targets_and_is_seeded() -> None:
    image, annotations = mini_wider("train", 1)[0]
    transform = TrainTransform(160)
    a = transform(image, annotations, np.random.default_rng(3))
    b = transform(image, annotations, np.random.default_rng(3))
    assert a[0].shape == (3, 160, 160) and a[0].dtype == np.float32
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    targets = a[1]
    assert len(targets) >= 1 and ((targets[:, :4] >= 0) & (targets[:, :4] <= 1)).all()
    assert (targets[:, 2:4] > targets[:, :2]).all()
    plain = TrainTransform(160, augment=False)(image, annotations, np.random.default_rng(0))
    np.testing.assert_allclose(plain[1][:, :4], annotations[:, :4] / max(image.shape[:2]), rtol=1e-6)


# ------------------------------------------------------------------------------------------- loss
def test_match_is_vectorised_and_forces_each_face_onto_its_best_prior() -> None:
    cfg = config_for("mnet")
    priors = make_priors(64, 64, cfg.min_sizes, cfg.steps)
    cx, cy, w, h = priors[5].tolist()
    on_prior = _face(cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)
    tiny = _face(0.9, 0.9, 0.905, 0.905, landmarks=False)  # best IoU < 0.2: not forced
    small = _face(0.50, 0.50, 0.63, 0.63, landmarks=False)  # IoU < 0.35 everywhere: forced onto its best
    single = [torch.from_numpy(np.stack(rows)) for rows in ([on_prior, small], [tiny])]
    images = torch.zeros(2, 3, 64, 64)
    _, targets, valid = collate([(images[0], single[0]), (images[1], single[1])])
    assert valid.tolist() == [[True, True], [True, False]]
    result = match(targets, valid, priors, cfg.variances)
    assert result.positive[0, 5] and result.positive_landmarks[0, 5]
    np.testing.assert_allclose(
        result.loc[0, 5].numpy(), encode_boxes(targets[0, 0, :4], priors[5], cfg.variances), atol=1e-5
    )
    corners = torch.cat((priors[:, :2] - priors[:, 2:] / 2, priors[:, :2] + priors[:, 2:] / 2), dim=1)
    lo = torch.maximum(corners[:, :2], torch.tensor(small[:2]))
    hi = torch.minimum(corners[:, 2:], torch.tensor(small[2:4]))
    inter = (hi - lo).clamp(min=0).prod(1)
    areas = (corners[:, 2:] - corners[:, :2]).prod(1) + float(np.prod(small[2:4] - small[:2]))
    iou = inter / (areas - inter)
    best = int(iou.argmax())
    assert 0.2 <= float(iou[best]) < 0.35  # forced, not matched by the threshold
    assert result.positive[0, best]  # the small face got its best prior
    assert not result.positive_landmarks[0, best]  # ... but without landmarks: no landmark target there
    np.testing.assert_allclose(
        result.loc[0, best].numpy(), encode_boxes(targets[0, 1, :4], priors[best], cfg.variances), atol=1e-5
    )
    assert not result.positive_landmarks[0].logical_and(~result.positive[0]).any()
    assert not result.positive[1].any()  # as in the reference
    for i in range(2):  # batched matching equals matching each image alone
        alone = match(single[i][None], torch.ones(1, len(single[i]), dtype=torch.bool), priors, cfg.variances)
        assert torch.equal(alone.positive[0], result.positive[i])


def test_faces_sharing_a_best_prior_give_it_to_the_last_one() -> None:
    """As the reference's assignment loop, the later face wins. (On the CPU a plain indexed assignment happens
    to give the same; this pins the rule that the scatter keeps on CUDA, where that assignment does not.)"""
    cfg = config_for("mnet")
    priors = make_priors(64, 64, cfg.min_sizes, cfg.steps)
    cx, cy, w, h = priors[5].tolist()
    first = _face(cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)
    second = _face(cx - w / 2 + 0.01, cy - h / 2, cx + w / 2 + 0.01, cy + h / 2)
    targets = torch.from_numpy(np.stack([first, second]))[None]
    result = match(targets, torch.ones(1, 2, dtype=torch.bool), priors, cfg.variances)
    np.testing.assert_allclose(
        result.loc[0, 5].numpy(), encode_boxes(targets[0, 1, :4], priors[5], cfg.variances), atol=1e-5
    )


def test_faces_without_landmarks_add_no_landmark_loss() -> None:
    cfg = config_for("mnet")
    priors = make_priors(64, 64, cfg.min_sizes, cfg.steps)
    cx, cy, w, h = priors[5].tolist()
    box = (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)
    count = len(priors)
    outputs = (torch.zeros(1, count, 4), torch.zeros(1, count, 2), torch.full((1, count, 10), 5.0))
    valid = torch.ones(1, 1, dtype=torch.bool)
    loss = MultiBoxLoss(cfg.variances)
    without = loss(outputs, priors, torch.from_numpy(_face(*box, landmarks=False))[None, None], valid)[3]
    with_marks = loss(outputs, priors, torch.from_numpy(_face(*box))[None, None], valid)[3]
    assert float(without) == 0.0 and float(with_marks) > 1.0


def test_loss_uses_hard_negatives_seven_to_one() -> None:
    cfg = config_for("mnet")
    priors = make_priors(64, 64, cfg.min_sizes, cfg.steps)
    cx, cy, w, h = priors[5].tolist()
    targets = torch.from_numpy(_face(cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2))[None, None]
    valid = torch.ones(1, 1, dtype=torch.bool)
    count = len(priors)
    loc, landm = torch.zeros(1, count, 4), torch.zeros(1, count, 10)
    conf = torch.zeros(1, count, 2)
    conf[0, :, 1] = torch.linspace(-1, 1, count)  # negatives with growing face score = growing loss
    total, box, cls, lmk = MultiBoxLoss(cfg.variances)((loc, conf, landm), priors, targets, valid)
    num_pos = int(match(targets, valid, priors, cfg.variances).positive.sum())
    pos_mask = match(targets, valid, priors, cfg.variances).positive[0]
    neg_losses = torch.nn.functional.cross_entropy(
        conf[0], torch.zeros(count, dtype=torch.long), reduction="none"
    )
    neg_losses[pos_mask] = -1
    hardest = neg_losses.sort(descending=True).values[: 7 * num_pos].sum()
    pos_loss = torch.nn.functional.cross_entropy(
        conf[0][pos_mask], torch.ones(num_pos, dtype=torch.long), reduction="sum"
    )
    torch.testing.assert_close(cls, (hardest + pos_loss) / num_pos)
    torch.testing.assert_close(total, 2.0 * box + cls + lmk)


# ------------------------------------------------------------------------------------------- fit
def _learner(**kwargs) -> RetinaFaceLearner:
    settings = dict(backbone="mnet", device="cpu", epochs=1, batch_size=2, log_after=1, lr=0.01)
    settings.update(kwargs)
    return RetinaFaceLearner(**settings)


def test_bad_arguments_fail_before_any_work(tmp_path: Path) -> None:
    data = mini_wider("train", 2)
    with pytest.raises(TypeError, match="DetectionDataset"):
        _learner().fit([data[0]], from_scratch=True)
    with pytest.raises(ValueError, match="empty"):
        _learner().fit(SubsetDataset(data, 0), from_scratch=True)
    learner = _learner()
    learner.lr = 0.0
    with pytest.raises(ValueError, match="lr"):
        learner.fit(data, from_scratch=True)
    learner = _learner()
    learner.epochs = 0
    with pytest.raises(ValueError, match="epochs"):
        learner.fit(data, from_scratch=True)
    learner = _learner()
    learner.lr_steps = "3,x"
    with pytest.raises(ValueError, match="lr_steps"):
        learner.fit(data, from_scratch=True)
    with pytest.raises(FileNotFoundError, match="checkpoint"):
        _learner(epochs=3, checkpoint_load_iter=2, temp_path=str(tmp_path)).fit(data, from_scratch=True)
    for seed in (-1, 1.5, True, 2**32):
        with pytest.raises(ValueError, match="seed"):
            _learner().fit(data, from_scratch=True, seed=seed)
    for size in (100, 0, 32):  # 32: a 1×1 last feature map, which BatchNorm refuses in a batch of one
        with pytest.raises(ValueError, match="image_size"):
            _learner().fit(data, from_scratch=True, image_size=size)
    with pytest.raises(FileNotFoundError):
        _learner().fit(data, pretrained_backbone=str(tmp_path / "missing.tar"))
    assert not list(tmp_path.iterdir())


@pytest.mark.slow
def test_overfit_two_images_from_scratch() -> None:
    torch.manual_seed(0)
    learner = _learner(epochs=30, shuffle=False)  # 2 images, batch 2: one iteration per epoch
    history = learner.fit(
        mini_wider("train", 2),
        from_scratch=True,
        silent=True,
        verbose=False,
        image_size=160,
        augment=False,
    )
    losses = history["loss"]
    assert len(losses) == 30 and history["epochs_completed"] == 30
    assert losses[-1] <= 0.5 * losses[0], losses
    assert not learner.model.training  # left in eval mode for infer / save
    assert isinstance(learner.infer(np.zeros((64, 64, 3), dtype=np.uint8), scales=(64, 64)), BoundingBoxList)


def test_annotations_of_a_custom_dataset_must_be_n_by_15() -> None:
    class BoxesOnly(DetectionDataset):  # a user's data set returning N×4 boxes
        def __init__(self) -> None:
            self._records = mini_wider("train", 2)._records

        def __getitem__(self, index: int):
            image, annotations = super().__getitem__(index)
            return image, annotations[:, :4]

    with pytest.raises(ValueError, match=r"BoxesOnly\[0\]: annotations must be N x 15 .*\(\d+, 4\)"):
        _learner(shuffle=False).fit(BoxesOnly(), from_scratch=True, silent=True, image_size=64)


def test_the_seed_fixes_the_initial_weights() -> None:
    def first_weights(seed: int) -> torch.Tensor:
        learner = _learner(lr=1e-12)
        data = mini_wider("train", 2)
        learner.fit(data, from_scratch=True, silent=True, verbose=False, image_size=64, seed=seed)
        return learner.model.body.stage1[0][0].weight.detach().clone()

    torch.manual_seed(1)
    a = first_weights(7)
    torch.manual_seed(2)  # torch's global RNG plays no part
    assert torch.equal(a, first_weights(7)) and not torch.equal(a, first_weights(8))


def test_imagenet_backbone_is_the_default_start() -> None:
    path = mini_wider_root().parents[1] / "models" / "mobilenetV1X0.25_pretrain.tar"
    if not path.is_file():
        pytest.skip(f"missing {path}")
    learner = _learner(epochs=1, lr=1e-4)
    history = learner.fit(
        mini_wider("train", 2),
        silent=True,
        verbose=False,
        image_size=128,
        pretrained_backbone=str(path),
    )
    reference = torch.load(path, map_location="cpu", weights_only=True)["state_dict"][
        "module.stage1.0.0.weight"
    ]
    # one tiny SGD step away from the ImageNet weights, nowhere near a random init
    assert torch.allclose(learner.model.body.stage1[0][0].weight, reference, atol=1e-3)
    assert len(history["loss"]) == 1


def test_checkpoint_resume_matches_an_uninterrupted_run(tmp_path: Path) -> None:
    data = mini_wider("train", 4)
    common = dict(epochs=2, lr_steps="1", checkpoint_after_iter=1, temp_path=str(tmp_path), prefix="t_")
    straight = _learner(**common)
    h_straight = straight.fit(data, from_scratch=True, silent=True, verbose=False, image_size=128)
    assert h_straight["lr"] == pytest.approx([0.01, 0.001])
    first = checkpoint_path(tmp_path, "t_", 1)
    assert first.is_file() and checkpoint_path(tmp_path, "t_", 2).is_file()
    state = load_checkpoint(first)
    assert state["epoch"] == 1 and state["scheduler"]["last_epoch"] == 1

    resumed = _learner(checkpoint_load_iter=1, **common)
    h_resumed = resumed.fit(data, from_scratch=True, silent=True, verbose=False, image_size=128)
    assert h_resumed["lr"] == pytest.approx([0.01, 0.001])  # same lr schedule, continued at epoch 2
    assert h_resumed["epochs_completed"] == 2
    assert h_resumed["loss"][0] == h_straight["loss"][0]  # history carried over from the checkpoint
    assert h_resumed["loss"][1] == pytest.approx(h_straight["loss"][1], rel=1e-4)
    for (name, a), b in zip(
        straight.model.state_dict().items(), resumed.model.state_dict().values(), strict=True
    ):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4, msg=name)


_KILL_SCRIPT = """
import sys
sys.path.insert(0, {test_dir!r})
from training_helpers import mini_wider
from retinaface_ros.learner import RetinaFaceLearner
learner = RetinaFaceLearner("mnet", device="cpu", epochs=1000, batch_size=2, lr=0.001,
                            checkpoint_after_iter=1,
                            temp_path={temp!r})
learner.fit(mini_wider("train", 2), from_scratch=True, silent=True, verbose=False, image_size=128)
"""


def test_a_stopped_run_resumes_where_it_stopped(tmp_path: Path) -> None:
    """Stopped in the middle of epoch 1: checkpoint_load_iter=1 takes the stop (newer than the end of epoch 0)
    and finishes as an uninterrupted run would have."""
    data = mini_wider("train", 4)
    common = dict(epochs=2, batch_size=1, checkpoint_after_iter=1, temp_path=str(tmp_path))
    kwargs = dict(from_scratch=True, silent=True, verbose=False, image_size=64)
    straight = _learner(**common)
    h_straight = straight.fit(data, **kwargs)

    checks = iter(range(100))  # asked before each batch: 4 in epoch 0, then batches 0 and 1 of epoch 1 run
    stopped = _learner(**common)
    h_stopped = stopped.fit(data, should_stop=lambda: next(checks) == 6, **kwargs)
    assert h_stopped["stopped"] and h_stopped["epochs_completed"] == 1
    assert Path(h_stopped["last_checkpoint"]).name == "checkpoint_stopped_epoch_1_iter_2.pth"
    assert load_checkpoint(h_stopped["last_checkpoint"])["partial_epoch"]["count"] == 2

    other_batches = _learner(checkpoint_load_iter=1, **{**common, "batch_size": 2})
    with pytest.raises(ValueError, match="batches would cover other samples.*checkpoint_epoch_1.pth"):
        other_batches.fit(data, **kwargs)  # batch 2 of batch size 2 is not batch 2 of batch size 1
    resumed = _learner(checkpoint_load_iter=1, **common)
    h_resumed = resumed.fit(data, **kwargs)
    assert h_resumed["epochs_completed"] == 2 and not h_resumed["stopped"]
    assert h_resumed["loss"] == pytest.approx(h_straight["loss"], rel=1e-4)  # epoch 1's mean spans the stop
    for (name, a), b in zip(
        straight.model.state_dict().items(), resumed.model.state_dict().values(), strict=True
    ):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4, msg=name)


def test_kill_during_training_then_resume(tmp_path: Path) -> None:
    temp = tmp_path / "ckpt"
    script = tmp_path / "train.py"
    script.write_text(
        textwrap.dedent(_KILL_SCRIPT.format(test_dir=str(Path(__file__).parent), temp=str(temp)))
    )
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))
    )
    proc = subprocess.Popen(
        [sys.executable, str(script)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 150
        while not list(temp.glob("checkpoint_epoch_*.pth")):
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline, "no checkpoint appeared"
            time.sleep(0.05)
        time.sleep(0.3)  # land the kill somewhere in the following epochs (maybe mid-write)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    epochs = []
    for path in temp.glob("checkpoint_epoch_*.pth"):
        state = load_checkpoint(path)  # every visible checkpoint is complete
        epochs.append(state["epoch"])
    last = max(epochs)
    learner = _learner(
        epochs=last + 1, lr=0.001, checkpoint_after_iter=1, checkpoint_load_iter=last, temp_path=str(temp)
    )
    history = learner.fit(
        mini_wider("train", 2), from_scratch=True, silent=True, verbose=False, image_size=128
    )
    assert history["epochs_completed"] == last + 1
    assert load_checkpoint(checkpoint_path(temp, "", last + 1))["epoch"] == last + 1
    assert not [p for p in temp.iterdir() if ".tmp-" in p.name]  # stale temp files were cleaned up


def test_resnet_backbone_trains_too() -> None:
    learner = _learner(backbone="resnet", epochs=1, lr=1e-3)
    history = learner.fit(
        mini_wider("train", 2), from_scratch=True, silent=True, verbose=False, image_size=64
    )
    assert len(history["loss"]) == 1 and np.isfinite(history["loss"][0])
    assert learner.model.backbone_name == "resnet" and not learner.model.training


def test_flip_appends_a_mirrored_copy_of_each_image() -> None:
    from retinaface_ros.training.batches import TrainingSet

    data = mini_wider("train", 2)
    plain = TrainingSet(data, TrainTransform(160, augment=False), mirror=True)
    assert len(plain) == 4
    image, targets = plain[0]
    flipped, flipped_targets = plain[2]
    torch.testing.assert_close(flipped, image.flip(-1), atol=1e-3, rtol=0)  # square crops: exact mirror
    np.testing.assert_allclose(flipped_targets[:, 0].numpy(), 1 - targets[:, 2].numpy(), atol=1e-5)


# ------------------------------------------------------------------------------------------- failures
def test_fit_refuses_an_onnx_model(tmp_path: Path) -> None:
    exporter = _learner()
    exporter.init_model()
    exporter.optimize()
    learner = _learner()
    learner.load(exporter.save(tmp_path / "onnx_model", verbose=False), verbose=False)  # ONNX folder
    session = learner.ort_session
    assert learner.model is None and session is not None
    with pytest.raises(ValueError, match="ONNX and cannot be fine-tuned"):
        learner.fit(mini_wider("train", 2), silent=True, verbose=False, image_size=64)
    assert learner.ort_session is session and learner.model is None  # the loaded detector stays


def test_failed_fit_restores_the_loaded_model(mnet_weights, tmp_path: Path) -> None:
    learner = _learner(epochs=3, batch_size=1)  # lr=1e6 (the old way to diverge) is out of bounds now
    learner.load(mnet_weights, verbose=False)
    model = learner.model
    before = {key: value.clone() for key, value in model.state_dict().items()}

    def diverge(info: dict) -> None:  # after the first step the weights turn NaN: the next loss is NaN
        with torch.no_grad():
            model.body.stage1[0][0].weight.fill_(float("nan"))

    with pytest.raises(FloatingPointError, match="loss became"):
        learner.fit(
            mini_wider("train", 2), silent=True, verbose=False, image_size=64, augment=False, callback=diverge
        )
    assert learner.model is model and not model.training
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), key
    saved = RetinaFaceLearner(backbone="mnet", device="cpu")
    saved.load(learner.save(tmp_path / "after_failure", verbose=False), verbose=False)
    image = np.ascontiguousarray(mini_wider("train", 1)[0][0])
    assert len(saved.infer(image, threshold=0.5)) == len(learner.infer(image, threshold=0.5)) > 0


def test_resume_of_a_mask_head_run_needs_no_backbone(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("RETINAFACE_CACHE", str(tmp_path / "empty_cache"))  # no backbone to be found
    monkeypatch.setenv("RETINAFACE_DOWNLOAD_URL", (tmp_path / "no_mirror").as_uri())
    data = mini_wider("train", 2)
    common = dict(epochs=np.int64(2), batch_size=np.int64(2), temp_path=str(tmp_path / "ckpt"))
    first = _learner(checkpoint_after_iter=1, **common)
    first.init_model(with_mask_head=True)
    first.epochs = 1
    first.fit(data, silent=True, verbose=False, image_size=64, augment=False)
    fresh = _learner(checkpoint_load_iter=1, **common)  # no model, no pretrained_backbone
    history = fresh.fit(data, silent=True, verbose=False, image_size=64, augment=False)
    assert history["epochs_completed"] == 2 and fresh.model.with_mask_head
    assert not (tmp_path / "empty_cache").exists()  # nothing was downloaded

    path = checkpoint_path(tmp_path / "ckpt", "", 1)
    state = load_checkpoint(path)
    state["model"]["extra.weight"] = torch.zeros(1)
    save_checkpoint(path, state)
    broken = _learner(checkpoint_load_iter=1, **common)
    with pytest.raises(ValueError, match="checkpoint_epoch_1.pth does not fit") as caught:
        broken.fit(data, silent=True, verbose=False, image_size=64)
    assert "extra.weight" in str(caught.value) and broken.model is None
