"""Shared fixtures: the one place tests learn where ``shared/`` (models, images, golden data) lives."""

from __future__ import annotations

import os
from pathlib import Path

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
