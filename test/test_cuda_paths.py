"""CUDA fast paths (skipped without a GPU): graphs, fp16, device resize, fused ReLU, compile, the packed
in-graph postprocess, a second device; and the process-wide cuDNN autotuning switch."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from conftest import box_iou
from detector_helpers import (
    PARAMS,
    assert_same_faces,
    needs_cuda,
    packed_detector,
    selfie_frames,
)

from retinaface_ros import RetinaFaceLearner
from retinaface_ros.backends.torch import TorchBackend
from retinaface_ros.detections import Detections, InferenceParams
from retinaface_ros.inference.compile import CompiledOrEager
from retinaface_ros.inference.detector import Detector, fast_detector
from retinaface_ros.inference.options import DetectorOptions
from retinaface_ros.inference.postprocess.batch import PostprocessBatch
from retinaface_ros.inference.postprocess.numpy import postprocess_numpy
from retinaface_ros.model import RetinaFace, config_for
from retinaface_ros.model.fusion import (
    ConvReLU,
)


@needs_cuda
@pytest.mark.parametrize("graphs", [True, False], ids=["cuda_graph", "cuda_eager"])
def test_cuda_fp32_matches_plain(
    model: RetinaFace, frame: np.ndarray, plain: Detections, graphs: bool
) -> None:
    detector = fast_detector(model, config_for("mnet"), "cuda", DetectorOptions(cuda_graphs=graphs))
    for _ in range(3):  # eager, then captured (the shape came again), then replayed
        got = detector.detect(frame, PARAMS)
    assert (
        not detector.graph_failures
        and ((1, 480, 640) in detector.cache_info()["backend"]["graphs"]) == graphs
    )
    assert_same_faces(got, plain, 0.99, score_atol=5e-3)  # cuDNN may use TF32 for fp32 convolutions


@needs_cuda
def test_cuda_fp16_matches_plain(model: RetinaFace, frame: np.ndarray, plain: Detections) -> None:
    detector = fast_detector(model, config_for("mnet"), "cuda", DetectorOptions(fp16=True))
    for _ in range(2):
        got = detector.detect(frame, PARAMS)
    assert_same_faces(got, plain, 0.95, score_atol=0.03, min_share=0.95, count_tol=0.04, all_confident=False)


@needs_cuda
def test_cuda_batch_equals_single(model: RetinaFace, frame: np.ndarray) -> None:
    detector = fast_detector(model, config_for("mnet"), "cuda")
    images = [frame, np.ascontiguousarray(frame[:, ::-1]), cv2.resize(frame, (480, 360)), frame]
    for _ in range(2):
        batched = detector.detect_batch(images, PARAMS)
    for image, got in zip(images, batched, strict=True):
        want = detector.detect(image, PARAMS)
        # Equal scores may come out in either order (seen on an H200): compare matched sets, not rows.
        # Batch 4 and batch 1 run different cuDNN algorithms (TF32 by default): on an H200 scores moved by
        # up to 3.7e-4.
        assert len(got) == len(want)
        assert_same_faces(got, want, 0.99, score_atol=2e-3)


@needs_cuda
def test_cuda_resizes_on_device(model: RetinaFace, frame: np.ndarray) -> None:
    """At the default scales the CUDA path uploads the 640×480 frame and resizes it on the GPU."""
    params = InferenceParams(threshold=0.5, scales=(1024, 1980))
    want = fast_detector(model, config_for("mnet")).detect(frame, params)
    detector = fast_detector(model, config_for("mnet"), "cuda")
    for _ in range(2):
        got = detector.detect(frame, params)
    staging = detector.cache_info()["backend"]["staging"]
    assert (1, 480, 640) in staging and (1, 1024, 1365) not in staging
    # The GPU's bilinear resize (float) and TF32 convolutions vs OpenCV's fixed-point resize and fp32 on the
    # CPU: every face scoring ≥ 0.8 matches at IoU ≥ 0.99; on an H200, 5 of 313 weaker ones at 0.989-0.994.
    assert_same_faces(got, want, 0.99, score_atol=0.02, min_share=0.97)


@needs_cuda
@pytest.mark.parametrize("fp16", [False, True], ids=["fp32", "fp16"])
def test_cuda_fused_relu_matches_unfused(fp16: bool) -> None:
    """cuDNN's conv+ReLU and conv+add+ReLU calls (the CUDA default for R50) give the unfused outputs."""
    torch.manual_seed(0)
    model = RetinaFace("resnet").eval()
    fused = fast_detector(model, config_for("resnet"), "cuda", DetectorOptions(fp16=fp16, cuda_graphs=False))
    plain = fast_detector(
        model, config_for("resnet"), "cuda", DetectorOptions(fp16=fp16, cuda_graphs=False, fuse=False)
    )
    assert sum(isinstance(m, ConvReLU) for m in fused.backend.forward.modules()) == 44
    assert not any(isinstance(m, ConvReLU) for m in plain.backend.forward.modules())
    frame = np.random.default_rng(0).integers(0, 256, (256, 320, 3), dtype=np.uint8)
    with torch.inference_mode():
        got = fused.run(fused.prepare([frame], 1.0))
        want = plain.run(plain.prepare([frame], 1.0))
    for g, w in zip(got, want, strict=True):  # random weights: tolerances relative to each output's scale
        g, w = g.float(), w.float()
        assert torch.isfinite(w).all()
        assert (g - w).abs().max() <= (1e-2 if fp16 else 2e-3) * w.abs().max().clamp_min(1.0)


@needs_cuda
def test_cuda_torch_compile_matches_plain(mnet_weights, frame: np.ndarray, plain: Detections) -> None:
    """torch_compile=True: inductor compiles the network and the packed postprocess (then both are
    captured as CUDA graphs); the detections are the plain path's within the fp16 tolerance."""
    learner = RetinaFaceLearner(backbone="mnet", device="cuda", fp16=True, torch_compile=True)
    learner.load(mnet_weights, verbose=False)
    detector = learner.detector
    for _ in range(3):  # compile (eager run), capture, replay
        got = learner.detect_arrays(frame, threshold=PARAMS.threshold, scales=[480, 640])
    assert isinstance(detector.backend.forward, CompiledOrEager)
    assert detector.compile_failures() == {"network": None, "postprocess": None}
    graph = detector.backend.graph((1, 480, 640))
    assert graph is not None and graph.posts and not detector.graph_failures
    assert_same_faces(got, plain, 0.95, score_atol=0.03, min_share=0.95, count_tol=0.04, all_confident=False)


@needs_cuda
def test_cuda_learner_fp16_and_graph_fallback(mnet_weights, frame: np.ndarray, plain: Detections) -> None:
    learner = RetinaFaceLearner(backbone="mnet", device="cuda", fp16=True)
    learner.load(mnet_weights, verbose=False)
    got = learner.detect_arrays(frame, threshold=PARAMS.threshold, scales=[480, 640])
    assert_same_faces(got, plain, 0.95, score_atol=0.03, min_share=0.95, count_tol=0.04, all_confident=False)
    backend = learner.detector.backend

    def broken(x: torch.Tensor):  # capture fails → eager, with a warning, same answer
        if torch.cuda.is_current_stream_capturing():
            raise RuntimeError("no capture")
        return forward(x)

    forward = backend.forward
    broken_backend = TorchBackend(broken, backend.device, False, backend.mean_bgr, backend.options)
    detector = Detector(broken_backend, config_for("mnet"))
    with pytest.warns(RuntimeWarning, match="CUDA graph capture failed"):
        again = detector.detect(frame, PARAMS)
    assert detector.graph_failures
    assert torch.cuda.current_stream() == torch.cuda.default_stream()  # no capture stream left current
    assert_same_faces(
        again, plain, 0.95, score_atol=0.03, min_share=0.95, count_tol=0.04, all_confident=False
    )


@needs_cuda
@pytest.mark.parametrize("fp16", [False, True], ids=["fp32", "fp16"])
def test_cuda_packed_graph_matches_exact(model: RetinaFace, frame: np.ndarray, fp16: bool) -> None:
    """In-graph postprocess (CUDA graph) against the exact GPU path on the same network outputs."""
    detector = fast_detector(model, config_for("mnet"), "cuda", DetectorOptions(fp16=fp16))
    images = selfie_frames(frame)
    for params in (PARAMS, InferenceParams(threshold=0.7, nms_threshold=0.3, scales=(480, 640))):
        for batch in (images[:1], images):
            for _ in range(2):
                got = detector.detect_batch(batch, params)
            with torch.inference_mode():
                outputs = detector.run(detector.prepare(batch, 1.0))
                hws = [(480, 640)] * len(batch)
                again = detector.postprocess_group(PostprocessBatch(outputs, (480, 640), hws, 1.0, params))
                # numpy path, same outputs: same stable tie order
                host = PostprocessBatch([o.cpu() for o in outputs], (480, 640), hws, 1.0, params)
                priors = detector.priors(480, 640, "numpy")
                want = [postprocess_numpy(host, r, priors, (0.1, 0.2), False) for r in range(len(batch))]
            for g, w, a in zip(got, want, again, strict=True):
                if fp16:  # fp16 heads: one borderline NMS decision flipped between GPU and numpy maths (H200)
                    assert_same_faces(a, w, 0.99, score_atol=1e-5, min_share=0.99)
                else:
                    assert len(a) == len(w) > 0 and box_iou(w.boxes, a.boxes).max(1).min() >= 0.99
                    np.testing.assert_allclose(a.scores, w.scores, atol=1e-5)
                assert (
                    abs(len(g) - len(w)) <= 1
                )  # got: its own network run (cuDNN may differ in the last bit)
    assert not detector.graph_failures
    assert detector.counters["packed"] > 0
    assert detector.counters["fallback_overflow"] == detector.counters["fallback_not_converged"] == 0
    graphs = [detector.backend.graph(key) for key in detector.cache_info()["backend"]["graphs"]]
    posts = [post for g in graphs for post in g.posts.values()]
    # batch 1 and 3, each with budgets 256 and 1024 (threshold 0.5: 395 candidates in the frame)
    assert len(posts) == 4 and all(p.graph is not None for p in posts)  # captured once, no recapture


@needs_cuda
def test_cuda_packed_fallbacks(model: RetinaFace, frame: np.ndarray) -> None:
    images = selfie_frames(frame)
    want = fast_detector(model, config_for("mnet"), "cuda").detect_batch(images, PARAMS)
    for settings, counter in (
        ({"top_k": (16,)}, "fallback_overflow"),
        ({"nms_rounds": 0}, "fallback_not_converged"),
    ):
        detector = packed_detector(model, "cuda", **settings)
        got = detector.detect_batch(images, PARAMS)
        assert detector.counters[counter] == 3
        for g, w in zip(got, want, strict=True):
            assert abs(len(g) - len(w)) <= 1 and box_iou(w.boxes, g.boxes).max(1).min() >= 0.99


@needs_cuda
def test_cuda_graphs_are_kept_for_the_shapes_in_use(model: RetinaFace, frame: np.ndarray) -> None:
    """A shape is captured when it comes a second time (one-off shapes stay eager), and the least recently
    used graph goes first: a shape in use keeps its graph (no re-capture)."""
    detector = fast_detector(model, config_for("mnet"), "cuda", DetectorOptions(max_graphs=2))
    captures: list[tuple[int, ...]] = []
    a, b, c, once = (640, 480), (320, 240), (400, 300), (200, 160)
    for width, height in [a, a, once, b, b, a, c, c, a]:
        before = set(detector.cache_info()["backend"]["graphs"])
        image = cv2.resize(frame, (width, height))
        detector.detect(image, InferenceParams(threshold=0.8, scales=(height, width)))
        captures += [key for key in detector.cache_info()["backend"]["graphs"] if key not in before]
    assert captures == [(1, 480, 640), (1, 240, 320), (1, 300, 400)]  # 640×480 once; 160×200 never
    assert detector.cache_info()["backend"]["graphs"] == [(1, 300, 400), (1, 480, 640)]


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs two CUDA GPUs")
def test_cuda_second_device(model: RetinaFace, frame: np.ndarray, plain: Detections) -> None:
    """A detector on cuda:1 while cuda:0 is current: uploads, graphs and events on its own device."""
    detector = fast_detector(model, config_for("mnet"), "cuda:1")
    for _ in range(3):
        got = detector.detect(frame, PARAMS)
    assert_same_faces(got, plain, 0.99)
    assert not detector.graph_failures and torch.cuda.current_device() == 0


def test_cudnn_benchmark_scope_is_counted_across_blocks() -> None:
    """The autotuning flag is process-wide: on inside any block that asks for it, restored after the last."""
    from retinaface_ros.inference.cuda_graphs import cudnn_benchmark

    before = torch.backends.cudnn.benchmark
    try:
        torch.backends.cudnn.benchmark = False
        with cudnn_benchmark(True):
            with cudnn_benchmark(True), cudnn_benchmark(False):
                assert torch.backends.cudnn.benchmark
            assert torch.backends.cudnn.benchmark  # the inner block did not switch it off
        assert not torch.backends.cudnn.benchmark
        torch.backends.cudnn.benchmark = True  # a user's own setting stays
        with cudnn_benchmark(True):
            pass
        assert torch.backends.cudnn.benchmark
    finally:
        torch.backends.cudnn.benchmark = before
