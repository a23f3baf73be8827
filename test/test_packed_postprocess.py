"""The packed postprocess (the CUDA graph's, run here as plain tensor ops on the CPU): its budget ladder,
fallbacks and header against the exact path."""

from __future__ import annotations

import numpy as np
import torch
from detector_helpers import (
    PARAMS,
    assert_exact,
    packed_detector,
    selfie_frames,
)

from retinaface_ros.detections import InferenceParams
from retinaface_ros.inference.detector import fast_detector
from retinaface_ros.inference.postprocess.packed import PackedPostprocess
from retinaface_ros.model import RetinaFace, config_for


def test_packed_postprocess_matches_exact(model: RetinaFace, frame: np.ndarray) -> None:
    """The CUDA graph's postprocess as plain tensor ops on the CPU: same detections as the numpy path."""
    exact = fast_detector(model, config_for("mnet"))
    packed = packed_detector(model)
    images = selfie_frames(frame)
    for params in (PARAMS, InferenceParams(threshold=0.8, nms_threshold=0.3, scales=(480, 640))):
        assert_exact(packed.detect_batch(images, params), exact.detect_batch(images, params))
        assert_exact([packed.detect(frame, params)], [exact.detect(frame, params)])
    # threshold 0.5: 395 and 398 candidates (frame, mirrored: over the first budget, 256), 52 upside down;
    # threshold 0.8: 200, 216, 10 (all within it)
    assert packed.counters == {
        "packed": 8,
        "larger_top_k": 3,
        "fallback_overflow": 0,
        "fallback_not_converged": 0,
    }
    # one per batch shape and budget: the thresholds are inputs, not constants
    assert sorted(packed.cache_info()["eager_postprocess"]) == [
        (1, 480, 640, 256),
        (1, 480, 640, 1024),
        (3, 480, 640, 256),
        (3, 480, 640, 1024),
    ]


def test_packed_larger_budget_only_where_needed(model: RetinaFace, frame: np.ndarray) -> None:
    """A crowded frame beside a sparse one: the crowded one takes the next budget, the sparse one keeps the
    first result; both equal the exact path."""
    images = [frame, frame[::-1].copy()]  # at threshold 0.5: 395 candidates; upside down: 52
    detector = packed_detector(model)
    got = detector.detect_batch(images, PARAMS)
    want = fast_detector(model, config_for("mnet")).detect_batch(images, PARAMS)
    assert_exact(got, want)
    assert detector.counters == {
        "packed": 2,
        "larger_top_k": 1,
        "fallback_overflow": 0,
        "fallback_not_converged": 0,
    }


def test_packed_goes_straight_to_the_budget_holding_the_images(model: RetinaFace, frame: np.ndarray) -> None:
    """Counts come with the first result: 395 and 52 candidates over a budget of 16 skip 64 and take 1024."""
    images = [frame, frame[::-1].copy()]
    detector = packed_detector(model, top_k=(16, 64, 1024))
    got = detector.detect_batch(images, PARAMS)
    assert_exact(got, fast_detector(model, config_for("mnet")).detect_batch(images, PARAMS))
    assert sorted(detector.cache_info()["eager_postprocess"]) == [(2, 480, 640, 16), (2, 480, 640, 1024)]
    assert detector.counters["packed"] == detector.counters["larger_top_k"] == 2
    # 395 is over every budget: the exact path for it, while 52 still takes the budget of 64
    detector = packed_detector(model, top_k=(16, 64, 128))
    assert_exact(detector.detect_batch(images, PARAMS), got)
    assert sorted(detector.cache_info()["eager_postprocess"]) == [(2, 480, 640, 16), (2, 480, 640, 64)]
    assert detector.counters == {
        "packed": 1,
        "larger_top_k": 1,
        "fallback_overflow": 1,
        "fallback_not_converged": 0,
    }


def test_packed_budgets_respect_the_pair_limit(model: RetinaFace) -> None:
    detector = packed_detector(model)
    packed = PackedPostprocess(
        detector.priors, (0.1, 0.2), False, detector.options, detector.postprocess_image, lambda key: None, []
    )
    priors_1820x1024 = 2 * (228 * 128 + 114 * 64 + 57 * 32)
    assert packed.budgets(priors_1820x1024, 1) == [256, 1024, 4096]
    assert packed.budgets(priors_1820x1024, 8) == [256, 1024, 4096]  # 8 × 4096² = 2**27 pairs
    assert packed.budgets(priors_1820x1024, 32) == [256, 1024]  # the rest go the exact way
    assert packed.budgets(500, 1) == [256, 500]  # never more than there are priors


def test_packed_overflow_falls_back(model: RetinaFace, frame: np.ndarray) -> None:
    images = selfie_frames(frame)
    detector = packed_detector(model, top_k=(16,))  # far fewer than the selfie's candidates
    got = detector.detect_batch(images, PARAMS)
    assert detector.counters["fallback_overflow"] == 3 and detector.counters["packed"] == 0
    assert_exact(got, fast_detector(model, config_for("mnet")).detect_batch(images, PARAMS))


def test_packed_not_converged_falls_back(model: RetinaFace, frame: np.ndarray) -> None:
    images = selfie_frames(frame)
    detector = packed_detector(model, nms_rounds=0)  # one round is never enough with overlapping boxes
    got = detector.detect_batch(images, PARAMS)
    assert detector.counters["fallback_not_converged"] == 3 and detector.counters["packed"] == 0
    assert_exact(got, fast_detector(model, config_for("mnet")).detect_batch(images, PARAMS))


def test_packed_header_and_post_nms_cap(model: RetinaFace, frame: np.ndarray) -> None:
    from retinaface_ros.inference.postprocess.packed import packed_postprocess

    detector = fast_detector(model, config_for("mnet"))
    with torch.inference_mode():
        outputs = detector.run(detector.prepare([frame], 1.0))
        settings = torch.tensor([0.5, 0.4, 0.8, 640, 480, 640, 480, 0])
        priors = detector.priors(480, 640)
        out = packed_postprocess(outputs, priors, settings, detector.config.variances, 1024, 8, rows=10)
    assert out.shape == (1, 11, 16)
    kept, converged, count = out[0, 0, :3].tolist()
    assert kept == 10 and converged == 1 and count == int((outputs[1][0, :, 1] > 0.5).sum())
    want = detector.detect(frame, PARAMS)
    np.testing.assert_allclose(out[0, 1:, 14].numpy(), want.scores[:10], atol=1e-6)
