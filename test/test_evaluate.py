"""evaluate_learner and test-time augmentation: with stand-in learners (no model) and the pretrained mnet."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from conftest import shared_path

from retinaface_ros.datasets import DetectionDataset, WiderFaceDataset
from retinaface_ros.detections import Detections
from retinaface_ros.evaluation import detect_tta, evaluate_learner, load_ground_truth, pyramid_factors
from retinaface_ros.evaluation.metrics import bbox_overlaps_inclusive
from retinaface_ros.evaluation.wider_protocol import evaluate_wider, load_predictions
from retinaface_ros.inference.preprocess import resize_factor, resized_shape


class RectangleLearner:
    """Finds bright red rectangles at the resolution ``scales`` asks for. Landmarks are placed by geometry in
    the image it is given (left eye = smaller x), and the score grows with x, so that flipped passes win."""

    def __init__(self) -> None:
        self.calls: list[tuple[tuple[int, int], float | None]] = []

    def detect_arrays(self, img, threshold, nms_threshold, scales):
        self.calls.append((tuple(scales), nms_threshold))
        height, width = img.shape[:2]
        factor = resize_factor(height, width, scales)
        rh, rw = resized_shape(height, width, factor)
        small = cv2.resize(img, (rw, rh), interpolation=cv2.INTER_NEAREST)
        count, _, stats, _ = cv2.connectedComponentsWithStats((small[..., 2] > 200).astype(np.uint8))
        if count <= 1:
            return Detections.empty()
        x, y, w, h = stats[1:, :4].T.astype(np.float32)
        boxes = np.stack([x, y, x + w, y + h], axis=1) / factor
        bw, bh = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
        rel = np.array([[0.3, 0.4], [0.7, 0.4], [0.5, 0.6], [0.35, 0.8], [0.65, 0.8]], np.float32)
        landmarks = boxes[:, None, :2] + rel[None] * np.stack([bw, bh], axis=1)[:, None]
        scores = (0.5 + 0.4 * (boxes[:, 0] + boxes[:, 2]) / (2 * width)).astype(np.float32)
        return Detections(boxes, scores, landmarks, np.zeros(len(boxes), np.int64))


class OracleLearner:
    """Returns the annotations of the image whose index is written in pixel (0, 0)."""

    def __init__(self, dataset) -> None:
        self.dataset = dataset

    def detect_arrays(self, img, threshold, nms_threshold, scales):
        boxes = self.dataset.boxes[int(img[0, 0, 0])].astype(np.float32)
        n = len(boxes)
        return Detections(
            boxes, np.ones(n, np.float32), np.zeros((n, 5, 2), np.float32), np.zeros(n, np.int64)
        )


class SyntheticDataset(DetectionDataset):
    """Images with red rectangles where the faces are; names can be WIDER image names."""

    def __init__(self, boxes: list[np.ndarray], names: list[str] | None = None, size=(240, 320)) -> None:
        self.boxes = [np.asarray(b, np.float32).reshape(-1, 4) for b in boxes]
        self.names = names or [f"0--Synthetic/img_{i}" for i in range(len(boxes))]
        self.size = size

    def __len__(self) -> int:
        return len(self.boxes)

    def name(self, index: int) -> str:
        return self.names[index]

    def __getitem__(self, index: int):
        image = np.zeros((*self.size, 3), np.uint8)
        for x1, y1, x2, y2 in self.boxes[index].astype(int):
            image[y1:y2, x1:x2, 2] = 255
        image[0, 0, 0] = index
        annotations = np.full((len(self.boxes[index]), 15), -1, np.float32)
        annotations[:, :4] = self.boxes[index]
        return image, annotations


def test_pyramid_factors():
    assert pyramid_factors(300, 400, pyramid=False) == [1.0]
    factors = pyramid_factors(600, 800)
    assert len(factors) == 5 and factors == sorted(factors)
    # base resize: short side 600 -> 800 (long side 1067 <= 1200); the pyramid's 800 is the base
    assert factors[1] == pytest.approx(800 / 600)
    assert pyramid_factors(400, 1600)[1] == pytest.approx(1200 / 1600)  # long-side cap
    assert max(factors) * 800 <= 2550 + 1e-6


def test_flip_and_pyramid_map_back_to_original_pixels():
    image = np.zeros((240, 320, 3), np.uint8)
    image[60:120, 40:90, 2] = 255  # x 40..90, y 60..120: off-centre, on the left
    learner = RectangleLearner()
    dets = detect_tta(learner, image, pyramid=True, flip=True)
    assert len(learner.calls) == 10 and all(nms is None for _, nms in learner.calls)
    assert len(dets) == 1
    np.testing.assert_allclose(dets.boxes[0], [40, 60, 90, 120], atol=1.0)
    assert dets.scores[0] > 0.8  # the flipped pass (rectangle on the right) won the NMS
    left_eye, right_eye = dets.landmarks[0, 0], dets.landmarks[0, 1]
    np.testing.assert_allclose(left_eye, [40 + 0.3 * 50, 60 + 0.4 * 60], atol=1.0)
    np.testing.assert_allclose(right_eye, [40 + 0.7 * 50, 60 + 0.4 * 60], atol=1.0)
    assert dets.landmarks[0, 3, 0] < dets.landmarks[0, 4, 0]


def test_single_pass_runs_once_at_original_size():
    image = np.zeros((240, 320, 3), np.uint8)
    image[60:120, 40:90, 2] = 255
    learner = RectangleLearner()
    dets = detect_tta(learner, image, pyramid=False, flip=False)
    assert learner.calls == [((240, 321), 0.4)]
    assert resize_factor(240, 320, (240, 321)) == 1.0
    np.testing.assert_allclose(dets.boxes[0], [40, 60, 90, 120])


def test_evaluate_learner_on_synthetic_faces(tmp_path):
    boxes = [
        [[10, 10, 50, 60], [100, 100, 150, 160]],
        [[200, 30, 260, 90]],
        np.zeros((0, 4)),
        [[5, 150, 45, 200]],
    ]
    dataset = SyntheticDataset(boxes)
    result = evaluate_learner(
        RectangleLearner(), dataset, verbose=False, pyramid=False, flip=True, predictions_dir=tmp_path / "p"
    )
    assert result["recall"] == 1.0 and result["ap"] == pytest.approx(1.0)
    assert result["num_images"] == 4 and result["num_faces"] == 4 and result["seconds"] > 0
    assert "ap_easy" not in result
    files = sorted((tmp_path / "p" / "0--Synthetic").glob("*.txt"))
    assert [f.stem for f in files] == ["img_0", "img_1", "img_2", "img_3"]
    assert files[2].read_text().splitlines()[1] == "0"


def test_subset_is_seeded_and_distinct():
    dataset = SyntheticDataset([[[10, 10, 50, 60]]] * 20)
    seen = []

    class Recorder(OracleLearner):
        def detect_arrays(self, img, *args):
            seen.append(int(img[0, 0, 0]))
            return super().detect_arrays(img, *args)

    result = evaluate_learner(
        Recorder(dataset), dataset, verbose=False, use_subset=True, subset_size=7, pyramid=False, flip=False
    )
    assert result["num_images"] == 7 and len(set(seen)) == 7
    first = list(seen)
    seen.clear()
    evaluate_learner(
        Recorder(dataset), dataset, verbose=False, use_subset=True, subset_size=7, pyramid=False, flip=False
    )
    assert seen == first
    seen.clear()
    assert (
        evaluate_learner(
            Recorder(dataset),
            dataset,
            verbose=False,
            use_subset=True,
            subset_size=50,
            pyramid=False,
            flip=False,
        )["num_images"]
        == 20
    )


def _official_images(gt, count: int, settings=("easy", "medium", "hard")) -> SyntheticDataset:
    chosen = [i for i in range(len(gt)) if all(len(gt.keep[s][i]) for s in settings)][:count]
    boxes = []
    for i in chosen:
        b = gt.boxes[i].copy()
        b[:, 2:] += b[:, :2]
        boxes.append(b)
    return SyntheticDataset(boxes, [gt.names[i] for i in chosen])


class RankedOracleLearner(OracleLearner):
    """The annotations with falling scores, and one confident false positive first."""

    def detect_arrays(self, img, threshold, nms_threshold, scales):
        found = super().detect_arrays(img, threshold, nms_threshold, scales)
        n = len(found)
        boxes = np.vstack([[[0, 0, 3, 3]], found.boxes]).astype(np.float32)
        scores = np.concatenate([[0.99], np.linspace(0.95, 0.5, n)]).astype(np.float32)
        return Detections(boxes, scores, np.zeros((n + 1, 5, 2), np.float32), np.zeros(n + 1, np.int64))


def _evaluate_official(learner, dataset, predictions_dir) -> dict:
    """Single-pass evaluation against the official ground truth, writing the predictions."""
    gt_dir = shared_path("golden", "wider_eval")
    return evaluate_learner(
        learner,
        dataset,
        verbose=False,
        pyramid=False,
        flip=False,
        ground_truth_dir=gt_dir,
        predictions_dir=predictions_dir,
    )


def test_wider_ap_with_official_ground_truth(tmp_path):
    gt_dir = shared_path("golden", "wider_eval")
    gt = load_ground_truth(gt_dir)
    dataset = _official_images(gt, 3)
    result = evaluate_learner(
        OracleLearner(dataset), dataset, verbose=False, pyramid=False, flip=False, ground_truth_dir=gt_dir
    )
    for setting in ("easy", "medium", "hard"):
        assert result[f"ap_{setting}"] == pytest.approx(1.0)
    # a false positive and ranked faces: the settings' keep lists now tell them apart, and the learner's
    # figures are the protocol's on the predictions it wrote
    ranked = _evaluate_official(RankedOracleLearner(dataset), dataset, tmp_path / "predictions")
    direct = evaluate_wider(load_predictions(tmp_path / "predictions"), gt.subset(set(dataset.names)))
    aps = [ranked[f"ap_{setting}"] for setting in ("easy", "medium", "hard")]
    assert aps == pytest.approx([direct[setting] for setting in ("easy", "medium", "hard")])
    assert all(ap < 1 for ap in aps) and len({round(ap, 6) for ap in aps}) == 3
    other = SyntheticDataset([[[10, 10, 50, 60]]])
    with pytest.raises(ValueError, match="none of the evaluated images"):
        evaluate_learner(
            OracleLearner(other), other, verbose=False, pyramid=False, flip=False, ground_truth_dir=gt_dir
        )


def test_images_without_a_settings_faces_give_nan_and_keep_the_predictions(tmp_path):
    gt_dir = shared_path("golden", "wider_eval")
    gt = load_ground_truth(gt_dir)
    hard_only = [i for i in range(len(gt)) if len(gt.keep["hard"][i]) and not len(gt.keep["easy"][i])][:2]
    dataset = _official_images(gt.subset({gt.names[i] for i in hard_only}), 2, settings=("hard",))
    result = _evaluate_official(OracleLearner(dataset), dataset, tmp_path / "predictions")
    assert np.isnan(result["ap_easy"]) and result["ap_hard"] == pytest.approx(1.0)
    assert len(list((tmp_path / "predictions").glob("*/*.txt"))) == 2


def test_bad_inputs():
    dataset = SyntheticDataset([[[10, 10, 50, 60]]])
    with pytest.raises(TypeError, match="detect_arrays"):
        evaluate_learner(object(), dataset)
    with pytest.raises(TypeError, match="dataset"):
        evaluate_learner(RectangleLearner(), 42)
    with pytest.raises(ValueError, match="empty"):
        evaluate_learner(RectangleLearner(), SyntheticDataset([]))
    with pytest.raises(ValueError, match="subset_size"):
        evaluate_learner(RectangleLearner(), dataset, use_subset=True, subset_size=0)
    with pytest.raises(ValueError, match="threshold"):
        evaluate_learner(RectangleLearner(), dataset, threshold=2.0)
    with pytest.raises(FileNotFoundError):
        evaluate_learner(RectangleLearner(), dataset, ground_truth_dir="/nonexistent/gt")


# ------------------------------------------------------------------ the pretrained RetinaFace-MobileNet0.25


@pytest.fixture(scope="module")
def mini_val():
    return WiderFaceDataset(shared_path("data", "mini_wider"), splits=["val"])


def test_mnet_recall_on_mini_wider_val(mnet_learner, mini_val):
    result = mnet_learner.eval(mini_val, verbose=False, pyramid=False, flip=False)
    print(f"mini_wider val, single pass: {result}")
    assert result["num_images"] == 8 and result["num_faces"] == 151
    assert result["recall"] >= 0.9
    assert result["ap"] >= 0.9


def test_mnet_tta_boxes_in_original_pixels(mnet_learner, mini_val):
    image, annotations = mini_val[0]
    height, width = image.shape[:2]
    plain = detect_tta(mnet_learner, image, threshold=0.5, pyramid=False, flip=False)
    flipped = detect_tta(mnet_learner, image, threshold=0.5, pyramid=False, flip=True)
    full = detect_tta(mnet_learner, image, threshold=0.5, pyramid=True, flip=True)
    for dets in (flipped, full):
        assert len(dets) >= 0.9 * len(plain)
        assert (
            np.all(dets.boxes >= 0)
            and np.all(dets.boxes[:, 2] <= width)
            and np.all(dets.boxes[:, 3] <= height)
        )
        # every confident single-pass face is found again at (nearly) the same place
        confident = plain.boxes[plain.scores > 0.8]
        assert bbox_overlaps_inclusive(confident, dets.boxes).max(axis=1).min() > 0.6
        # left eye left of right eye, on the face
        assert np.mean(dets.landmarks[:, 0, 0] < dets.landmarks[:, 1, 0]) > 0.95
    faces = annotations[:, :4]
    assert (bbox_overlaps_inclusive(faces, full.boxes).max(axis=1) > 0.5).mean() >= 0.9


@pytest.mark.slow
def test_mnet_pyramid_flip_eval_on_mini_wider_val(mnet_learner, mini_val):
    result = mnet_learner.eval(mini_val, verbose=False, pyramid=True, flip=True)
    print(f"mini_wider val, pyramid + flip: {result}")
    assert result["recall"] >= 0.9
