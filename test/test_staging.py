"""Batch staging: chunked (threaded for plain copies) filling of the uint8 upload buffer."""

from __future__ import annotations

import os
import signal
import time

import cv2
import numpy as np
import pytest
import torch

from retinaface_ros.inference.preprocess import DeviceUploader, resize_factor, resize_on_device, resized_shape
from retinaface_ros.inference.staging import resize_image, resizes_by_factor, row_chunks, stage_frames


@pytest.mark.parametrize(("count", "parts"), [(32, 8), (8, 8), (3, 3), (1, 1), (13, 8)])
def test_row_chunks_cover_rows_in_order(count: int, parts: int) -> None:
    chunks = row_chunks(count)
    assert len(chunks) == parts
    assert [row for rows in chunks for row in range(rows.start, rows.stop)] == list(range(count))
    sizes = [rows.stop - rows.start for rows in chunks]
    assert max(sizes) - min(sizes) <= 1


def frames(count: int, height: int = 48, width: int = 64) -> list[np.ndarray]:
    rng = np.random.default_rng(count)
    return [rng.integers(0, 256, (height, width, 3), dtype=np.uint8) for _ in range(count)]


def test_copies_fill_every_row_and_yield_in_order() -> None:
    images = frames(32)
    images[5] = np.ascontiguousarray(images[5][:, ::-1])[:, ::-1]  # a non-contiguous view is copied too
    array = np.zeros((32, 48, 64, 3), np.uint8)
    done = list(stage_frames(array, images, 1.0))
    assert done == row_chunks(32)
    np.testing.assert_array_equal(array, np.stack(images))


def test_resizes_fill_every_row_as_the_reference_resizes() -> None:
    images = frames(5, 49, 65)
    factor = 0.6  # 49×65 → 29×39: the size ratio (49/29) is not 1/factor
    array = np.zeros((5, 29, 39, 3), np.uint8)
    assert list(stage_frames(array, images, factor)) == row_chunks(5)
    want = [cv2.resize(image, None, fx=factor, fy=factor, interpolation=cv2.INTER_LINEAR) for image in images]
    np.testing.assert_array_equal(array, np.stack(want))
    by_size = cv2.resize(images[0], (39, 29), interpolation=cv2.INTER_LINEAR)
    assert not np.array_equal(by_size, want[0])  # what resizing to the target size would have given


def test_resize_image_of_a_sliver() -> None:
    """A frame so thin that factor × height rounds to 0 still gives one row (OpenCV refuses fx there)."""
    sliver = frames(1, 1, 4000)[0]
    out = resize_image(sliver, 0.3)
    assert out.shape == (1, 1200, 3)
    assert not resizes_by_factor(1, 4000, 0.3) and resizes_by_factor(2, 4000, 0.3)  # CUDA: host resize
    with pytest.raises(ValueError, match="dst has shape"):
        resize_image(sliver, 0.3, dst=np.zeros((2, 1200, 3), np.uint8))


def test_detector_upload_reuses_the_staging_buffer() -> None:
    """The plain (uint8 upload) preprocess: each call's batch is its own frames, also after buffer reuse."""
    uploader = DeviceUploader(torch.device("cpu"), max_buffers=8)
    first, second = frames(12), frames(11) + frames(1)
    got_first = uploader.upload(first, 1.0, None)
    got_second = uploader.upload(second, 1.0, None)
    assert torch.equal(got_first, torch.from_numpy(np.stack(first)))
    assert torch.equal(got_second, torch.from_numpy(np.stack(second)))
    assert len(uploader.cache_info()["staging"]) == 1  # one buffer for both batches


@pytest.mark.parametrize("source_hw", [(480, 640), (720, 1280), (1080, 1920), (898, 1600), (96, 64)], ids=str)
def test_resize_on_device_matches_opencv(selfie_path, source_hw: tuple[int, int]) -> None:
    """The CUDA path's resize (here on CPU tensors) at the default scales' factor against the reference's
    cv2.resize(fx=fy=factor): off by at most one grey level."""
    factor = 0.5 if source_hw == (96, 64) else resize_factor(*source_hw, (1024, 1980))
    photo = cv2.imread(str(selfie_path))
    images = [cv2.resize(photo, source_hw[::-1], interpolation=cv2.INTER_AREA), frames(1, *source_hw)[0]]
    out = torch.empty((2, *resized_shape(*source_hw, factor), 3), dtype=torch.uint8)
    resize_on_device(torch.from_numpy(np.stack(images)), out, factor)
    for got, image in zip(out.numpy(), images, strict=True):
        diff = np.abs(got.astype(np.int16) - resize_image(image, factor))
        assert diff.max() <= 1 and (diff > 0).mean() < 0.2  # OpenCV's 11-bit fixed-point weights


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no os.fork on this platform")
def test_forked_child_gets_its_own_pool() -> None:
    """A child forked after the pool started (e.g. a data-loader worker) stages with new threads."""
    images = frames(16)
    array = np.zeros((16, 48, 64, 3), np.uint8)
    list(stage_frames(array, images, 1.0))  # the parent's pool exists now
    pid = os.fork()
    if pid == 0:  # child: a hang here would be the parent's dead threads
        child = np.zeros_like(array)
        ok = len(list(stage_frames(child, images, 1.0))) == len(row_chunks(16)) and (child == array).all()
        os._exit(0 if ok else 1)
    deadline = time.monotonic() + 30
    while (done := os.waitpid(pid, os.WNOHANG))[0] == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    if done[0] == 0:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        pytest.fail("the forked child hung staging frames (it used the parent's pool)")
    assert os.waitstatus_to_exitcode(done[1]) == 0
