"""Shared fixtures: the one place tests learn where ``shared/`` (models, images, golden data) lives."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def shared_dir() -> Path:
    """``$RETINAFACE_SHARED`` or ``../shared`` next to the repository."""
    return Path(os.environ.get("RETINAFACE_SHARED", REPO_ROOT.parent / "shared")).resolve()


def shared_path(*parts: str) -> Path:
    """A file under shared/; skips the test with a reason when it is absent."""
    path = shared_dir().joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared data missing: {path} (set RETINAFACE_SHARED)")
    return path


@pytest.fixture(scope="session")
def mnet_weights() -> Path:
    return shared_path("models", "mobilenet0.25_Final.pth")


@pytest.fixture(scope="session")
def selfie_path() -> Path:
    return shared_path("images", "selfie.jpg")


@pytest.fixture(scope="session")
def bald_guys_path() -> Path:
    return shared_path("images", "bald_guys.jpg")


@pytest.fixture(scope="session")
def mnet_learner(mnet_weights):
    """The pretrained mnet on the CPU, shared by tests that only run inference (do not change it)."""
    from retinaface_ros import RetinaFaceLearner

    learner = RetinaFaceLearner(backbone="mnet", device="cpu")
    learner.load(mnet_weights, verbose=False)
    return learner


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU (len(a) × len(b)) of x1, y1, x2, y2 boxes."""
    top_left = np.maximum(a[:, None, :2], b[None, :, :2])
    bottom_right = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(bottom_right - top_left, 0, None).prod(-1)
    area_a = (a[:, 2:] - a[:, :2]).prod(-1)
    area_b = (b[:, 2:] - b[:, :2]).prod(-1)
    return inter / (area_a[:, None] + area_b[None] - inter)


# --- ROS 2 isolation ---------------------------------------------------------------------------------------
# Set before any test creates an rclpy context (rclpy reads these at init): this run's own ROS_DOMAIN_ID and
# localhost-only discovery, so concurrent runs and a developer's live ROS graph do not see each other.
from ros_helpers import configure_ros_env  # noqa: E402

configure_ros_env()

# The detector tests' fixtures (pretrained mnet model, crowded VGA frame, the plain path's detections).
from detector_helpers import frame, model, plain  # noqa: E402, F401
