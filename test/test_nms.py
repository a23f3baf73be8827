"""NMS: OpenCV and the loop-free torch version against the reference, grouped NMS."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from detector_helpers import (
    needs_cuda,
    random_boxes,
)

from retinaface_ros.benchmark.reference import py_cpu_nms
from retinaface_ros.inference.nms import nms, nms_torch


@pytest.mark.parametrize("seed", range(5))
def test_nms_matches_numpy_reference(seed: int) -> None:
    boxes, scores = random_boxes(np.random.default_rng(seed), 300)
    want = py_cpu_nms(np.hstack((boxes, scores[:, None])), 0.4)
    np.testing.assert_array_equal(nms(boxes, scores, 0.4), want)
    np.testing.assert_array_equal(nms(torch.from_numpy(boxes), torch.from_numpy(scores), 0.4), want)


@pytest.mark.parametrize("seed", range(5))
def test_nms_torch_matches_opencv(seed: int) -> None:
    boxes, scores = random_boxes(np.random.default_rng(100 + seed), 400)
    got = nms_torch(torch.from_numpy(boxes), torch.from_numpy(scores), 0.3).numpy()
    np.testing.assert_array_equal(got, nms(boxes, scores, 0.3))


def test_nms_empty() -> None:
    assert nms(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), 0.4).shape == (0,)
    assert nms_torch(torch.zeros(0, 4), torch.zeros(0), 0.4).shape == (0,)


def test_nms_torch_groups_equal_separate_calls() -> None:
    rng = np.random.default_rng(3)
    parts = [random_boxes(rng, 120) for _ in range(3)]
    boxes = torch.from_numpy(np.concatenate([p[0] for p in parts]))
    scores = torch.from_numpy(np.concatenate([p[1] for p in parts]))
    groups = torch.arange(3).repeat_interleave(120)
    got = torch.sort(nms_torch(boxes, scores, 0.4, groups=groups)).values.numpy()
    want = np.concatenate([np.sort(nms(b, s, 0.4)) + 120 * i for i, (b, s) in enumerate(parts)])
    np.testing.assert_array_equal(got, want)


@needs_cuda
def test_nms_torch_cuda_matches_opencv() -> None:
    boxes, scores = random_boxes(np.random.default_rng(7), 500)
    got = nms_torch(torch.from_numpy(boxes).cuda(), torch.from_numpy(scores).cuda(), 0.4).cpu().numpy()
    np.testing.assert_array_equal(got, nms(boxes, scores, 0.4))
