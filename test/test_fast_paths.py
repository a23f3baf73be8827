"""Every inference fast path against the plain path: BN folding, one-pass preprocessing, numpy postprocess,
batching, NMS implementations, CUDA graphs / fp16 (skipped without a GPU), and the ``bench`` command."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stderr, redirect_stdout

import cv2
import numpy as np
import pytest
import torch
from conftest import box_iou

from retinaface_ros import RetinaFaceLearner
from retinaface_ros.benchmark.reference import ReferencePipeline, py_cpu_nms
from retinaface_ros.detections import Detections, InferenceParams
from retinaface_ros.inference.compile import CompiledOrEager
from retinaface_ros.inference.detector import Detector, fast_detector, resize_on_device
from retinaface_ros.inference.nms import nms, nms_torch
from retinaface_ros.inference.staging import resize_image
from retinaface_ros.model import RetinaFace, config_for
from retinaface_ros.model.fusion import (
    ConvReLU,
    FusedBottleneck,
    count_batchnorm,
    fold_batchnorm,
    fuse_relu,
    merge_heads,
)

CUDA = torch.cuda.is_available()
needs_cuda = pytest.mark.skipif(not CUDA, reason="no CUDA GPU visible to PyTorch: CUDA fast paths not run")
PARAMS = InferenceParams(threshold=0.5, nms_threshold=0.4, scales=(480, 640))


def assert_same_faces(
    got: Detections,
    want: Detections,
    min_iou: float,
    score_atol: float = 1e-3,
    min_share: float = 1.0,
    count_tol: float = 0.02,
    all_confident: bool = True,
) -> None:
    """Same detections (up to borderline ones at the threshold): reference boxes matched at ``min_iou``
    (``min_share`` of them; with ``all_confident`` every box scoring ≥ 0.8). fp16 on an H200 moved one
    confident selfie box to IoU 0.906, hence ``all_confident=False`` there."""
    assert len(want) > 0
    assert abs(len(got) - len(want)) <= max(1, round(count_tol * len(want))), (len(got), len(want))
    strong = want.scores >= PARAMS.threshold + 0.05  # away from the threshold, where rounding may flip one
    iou = box_iou(want.boxes[strong], got.boxes)
    best = iou.max(1)
    if all_confident:
        assert best[want.scores[strong] >= 0.8].min() >= min_iou
    assert (best >= min_iou).mean() >= min_share, np.sort(best)[:5]
    match = iou.argmax(1)
    good = best >= min_iou
    np.testing.assert_allclose(got.scores[match][good], want.scores[strong][good], atol=score_atol)


@pytest.fixture(scope="module")
def model(mnet_weights) -> RetinaFace:
    learner = RetinaFaceLearner(backbone="mnet", device="cpu")
    learner.load(mnet_weights, verbose=False)
    return learner.model


@pytest.fixture(scope="module")
def frame(selfie_path) -> np.ndarray:
    photo = cv2.imread(str(selfie_path))
    return cv2.resize(photo[:, 200:1397], (640, 480), interpolation=cv2.INTER_AREA)


def plain_detector(model: RetinaFace, device: str = "cpu") -> Detector:
    """The un-optimised path: un-fused fp32 model, torch preprocess and postprocess, no graphs."""
    return Detector(
        model.to(device),
        config_for("mnet"),
        device,
        cuda_graphs=False,
        fast_preprocess=False,
        fast_postprocess=False,
    )


@pytest.fixture(scope="module")
def plain(model: RetinaFace, frame: np.ndarray) -> Detections:
    return plain_detector(model).detect(frame, PARAMS)


# --------------------------------------------------------------------------------------------- BN folding
@pytest.mark.parametrize("backbone", ["mnet", "resnet"])
def test_folded_model_matches_unfolded(backbone: str) -> None:
    torch.manual_seed(0)
    model = RetinaFace(backbone).eval()
    for module in model.modules():  # non-trivial BN statistics, so that folding really has work to do
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.2, 0.2)
    folded = fold_batchnorm(model)
    assert count_batchnorm(folded) == 0 and count_batchnorm(model) > 0  # the original is untouched
    x = torch.rand(2, 3, 96, 128) * 255 - 117
    with torch.inference_mode():
        for got, want in zip(folded(x), model(x), strict=True):
            torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-4)


def test_fused_relu_rewrite_keeps_the_outputs() -> None:
    """R50: the 16 bottlenecks (3 convs each), the stem, FPN (5) and SSH (2 per level) convs carry their
    ReLU; on the CPU the fused modules compute conv then ReLU: the outputs are the folded model's."""
    torch.manual_seed(0)
    folded = fold_batchnorm(RetinaFace("resnet").eval())
    fused = fold_batchnorm(RetinaFace("resnet").eval())
    fused.load_state_dict(folded.state_dict())
    assert fuse_relu(fused) == 16 * 3 + 1 + 5 + 3 * 2
    assert sum(isinstance(m, FusedBottleneck) for m in fused.modules()) == 16
    assert sum(isinstance(m, ConvReLU) for m in fused.modules()) == 16 * 2 + 1 + 5 + 3 * 2
    assert not any(isinstance(m, (torch.nn.ReLU, torch.nn.LeakyReLU)) for m in fused.modules())
    x = torch.rand(1, 3, 96, 128) * 255 - 117
    with torch.inference_mode():
        for got, want in zip(fused(x), folded(x), strict=True):
            torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


def test_fused_relu_leaves_leaky_and_unfolded_models_alone() -> None:
    mnet = fold_batchnorm(RetinaFace("mnet").eval())  # LeakyReLU(0.1) everywhere: no cuDNN fusion
    assert fuse_relu(mnet) == 0
    assert fuse_relu(RetinaFace("resnet").eval()) == 0  # BatchNorm still between conv and ReLU
    cpu = fast_detector(RetinaFace("resnet").eval(), config_for("resnet"))
    assert not any(isinstance(m, ConvReLU) for m in cpu.forward.modules())  # a CUDA-only default


def test_compile_failure_falls_back_to_eager() -> None:
    """A compiler that fails (as without Triton) → one warning, then the eager function; the call's own
    errors are raised, not swallowed."""

    def broken_backend(graph, example_inputs):
        raise RuntimeError("no working Triton installation")

    def double(x: torch.Tensor) -> torch.Tensor:
        if (x < 0).any():
            raise ValueError("negative input")
        return x * 2

    compiled = CompiledOrEager(double, "test function", backend=broken_backend)
    with pytest.warns(RuntimeWarning, match="torch.compile of the test function failed") as warned:
        torch.testing.assert_close(compiled(torch.ones(3)), torch.full((3,), 2.0))
    assert compiled.failure == (
        "BackendCompilerFailed: backend='broken_backend' raised: RuntimeError: no working Triton installation"
    )
    assert compiled.failure in str(warned[0].message)
    torch.testing.assert_close(compiled(torch.ones(2)), torch.full((2,), 2.0))  # eager from now on, quietly
    with pytest.raises(ValueError, match="negative input"):
        CompiledOrEager(double, "test function", backend="eager")(-torch.ones(3))


def test_torch_compile_needs_cuda() -> None:
    with pytest.raises(ValueError, match="torch_compile=True needs a CUDA device"):
        RetinaFaceLearner(backbone="mnet", device="cpu", torch_compile=True)
    with pytest.raises(TypeError, match="torch_compile must be a bool"):
        RetinaFaceLearner(backbone="mnet", device="cpu", torch_compile="yes")
    detector = fast_detector(RetinaFace("mnet").eval(), config_for("mnet"), "cpu", torch_compile=True)
    assert not detector.torch_compile and detector.compile_failures() == {}  # a CUDA-only option


@pytest.mark.parametrize("backbone", ["mnet", "resnet"])
@pytest.mark.parametrize("mask", [False, True], ids=["no_mask", "mask"])
def test_merged_heads_match_model(backbone: str, mask: bool) -> None:
    torch.manual_seed(0)
    model = RetinaFace(backbone, with_mask_head=mask).eval()
    merged = merge_heads(model)
    assert sum(isinstance(m, torch.nn.Conv2d) for m in merged.heads.modules()) == 3
    x = torch.rand(2, 3, 96, 128) * 255 - 117
    with torch.inference_mode():
        got, want = merged(x), model(x)
    assert len(got) == len(want) == (4 if mask else 3)
    for g, w in zip(got, want, strict=True):
        assert g.shape == w.shape
        torch.testing.assert_close(g, w, atol=0, rtol=0)  # the same dot products, the same order


def test_folded_pretrained_raw_heads(model: RetinaFace, frame: np.ndarray) -> None:
    detector = fast_detector(model, config_for("mnet"))
    batch = detector.preprocess([frame], 1.0)
    with torch.inference_mode():
        for got, want in zip(detector.forward(batch), model(batch.contiguous()), strict=True):
            torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-4)


def test_learner_keeps_unfused_trainable_model(mnet_weights) -> None:
    learner = RetinaFaceLearner(backbone="mnet", device="cpu")
    learner.load(mnet_weights, verbose=False)
    assert count_batchnorm(learner.model) > 0
    assert count_batchnorm(learner._require_detector().forward) == 0
    assert next(learner.model.parameters()).dtype == torch.float32


# --------------------------------------------------------------------------------------------- CPU paths
def test_one_pass_preprocess_matches_plain(model: RetinaFace, frame: np.ndarray) -> None:
    fast = fast_detector(model, config_for("mnet"))
    slow = plain_detector(model)
    for factor in (1.0, 0.73):
        np.testing.assert_allclose(
            fast.preprocess([frame], factor).numpy(), slow.preprocess([frame], factor).numpy(), atol=1e-4
        )


def test_cpu_fast_path_matches_plain(model: RetinaFace, frame: np.ndarray, plain: Detections) -> None:
    got = fast_detector(model, config_for("mnet")).detect(frame, PARAMS)
    assert_same_faces(got, plain, 0.99)
    assert got.boxes.dtype == np.float32 and got.classes.dtype == np.int64


def test_cpu_defaults_scales_path(model: RetinaFace, frame: np.ndarray) -> None:
    params = InferenceParams(threshold=0.5, scales=(1024, 1980))  # a resize (480 → 1024)
    want = plain_detector(model).detect(frame, params)
    got = fast_detector(model, config_for("mnet")).detect(frame, params)
    assert_same_faces(got, want, 0.99)
    assert got.boxes[:, 2].max() <= 640 and got.boxes[:, 3].max() <= 480


def test_device_resize_gives_the_same_faces(model: RetinaFace, frame: np.ndarray) -> None:
    """CUDA resizes on the device (:func:`resize_on_device`); run here on CPU tensors, its 1365×1024 input
    gives the faces that OpenCV's resize (as the reference calls it) gives."""
    detector = fast_detector(model, config_for("mnet"))
    params = InferenceParams(threshold=0.5, scales=(1024, 1980))  # 1365×1024 is already at these scales
    resized = torch.empty((1, 1024, 1365, 3), dtype=torch.uint8)
    resize_on_device(torch.from_numpy(frame)[None], resized, 1024 / 480)
    want = detector.detect(resize_image(frame, 1024 / 480), params)
    # inputs one level apart on ~12 % of pixels: small faces' scores move by up to ~0.01
    assert_same_faces(detector.detect(resized[0].numpy(), params), want, 0.99, score_atol=0.02)


def test_reference_port_agrees(model: RetinaFace, frame: np.ndarray, plain: Detections) -> None:
    ref = ReferencePipeline(model, config_for("mnet")).detect(frame)
    ref = ref[ref[:, 4] > PARAMS.threshold]
    assert abs(len(ref) - len(plain)) <= 1
    strong = np.clip(ref[ref[:, 4] > 0.55, :4], 0, [640, 480, 640, 480])  # the reference does not clip
    assert box_iou(strong, plain.boxes).max(1).min() >= 0.99


def test_batch_equals_single(model: RetinaFace, frame: np.ndarray) -> None:
    detector = fast_detector(model, config_for("mnet"))
    images = [frame, np.ascontiguousarray(frame[:, ::-1]), cv2.resize(frame, (480, 360)), frame]
    params = InferenceParams(threshold=0.5, scales=(480, 640))
    batched = detector.detect_batch(images, params)
    for image, got in zip(images, batched, strict=True):
        want = detector.detect(image, params)
        np.testing.assert_allclose(got.boxes, want.boxes, atol=1e-3)
        np.testing.assert_allclose(got.scores, want.scores, atol=1e-5)


def test_learner_infer_batch_mixed_sizes(mnet_weights, frame: np.ndarray) -> None:
    learner = RetinaFaceLearner(backbone="mnet", device="cpu")
    learner.load(mnet_weights, verbose=False)
    images = [frame, cv2.resize(frame, (320, 240)), frame]
    batched = learner.infer_batch(images, threshold=0.5)
    for image, boxes in zip(images, batched, strict=True):
        single = learner.infer(image, threshold=0.5)
        assert len(single) == len(boxes) > 0
        np.testing.assert_allclose([b.xyxy() for b in boxes], [b.xyxy() for b in single], atol=1e-2)


# --------------------------------------------------------------------------------------------- NMS
def random_boxes(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    centers = rng.uniform(0, 200, (n, 2))
    sizes = rng.uniform(5, 60, (n, 2))
    boxes = np.concatenate((centers - sizes / 2, centers + sizes / 2), 1).astype(np.float32)
    return boxes, rng.permutation(n).astype(np.float32) / n  # distinct scores: one greedy answer


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


# --------------------------------------------------------------------------------------------- CUDA paths
@needs_cuda
@pytest.mark.parametrize("graphs", [True, False], ids=["cuda_graph", "cuda_eager"])
def test_cuda_fp32_matches_plain(
    model: RetinaFace, frame: np.ndarray, plain: Detections, graphs: bool
) -> None:
    detector = fast_detector(model, config_for("mnet"), "cuda", cuda_graphs=graphs)
    for _ in range(3):  # eager, then captured (the shape came again), then replayed
        got = detector.detect(frame, PARAMS)
    assert not detector.graph_failures and ((1, 480, 640) in detector._graphs) == graphs
    assert_same_faces(got, plain, 0.99, score_atol=5e-3)  # cuDNN may use TF32 for fp32 convolutions


@needs_cuda
def test_cuda_fp16_matches_plain(model: RetinaFace, frame: np.ndarray, plain: Detections) -> None:
    detector = fast_detector(model, config_for("mnet"), "cuda", fp16=True)
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
    assert (1, 480, 640) in detector._staging and (1, 1024, 1365) not in detector._staging
    # The GPU's bilinear resize (float) and TF32 convolutions vs OpenCV's fixed-point resize and fp32 on the
    # CPU: every face scoring ≥ 0.8 matches at IoU ≥ 0.99; on an H200, 5 of 313 weaker ones at 0.989-0.994.
    assert_same_faces(got, want, 0.99, score_atol=0.02, min_share=0.97)


@needs_cuda
@pytest.mark.parametrize("fp16", [False, True], ids=["fp32", "fp16"])
def test_cuda_fused_relu_matches_unfused(fp16: bool) -> None:
    """cuDNN's conv+ReLU and conv+add+ReLU calls (the CUDA default for R50) give the unfused outputs."""
    torch.manual_seed(0)
    model = RetinaFace("resnet").eval()
    fused = fast_detector(model, config_for("resnet"), "cuda", fp16=fp16, cuda_graphs=False)
    plain = fast_detector(model, config_for("resnet"), "cuda", fp16=fp16, cuda_graphs=False, fuse=False)
    assert sum(isinstance(m, ConvReLU) for m in fused.forward.modules()) == 44
    assert not any(isinstance(m, ConvReLU) for m in plain.forward.modules())
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
    detector = learner._require_detector()
    for _ in range(3):  # compile (eager run), capture, replay
        got = learner.detect_arrays(frame, threshold=PARAMS.threshold, scales=[480, 640])
    assert isinstance(detector.forward, CompiledOrEager)
    assert detector.compile_failures() == {"network": None, "postprocess": None}
    graph = detector._graphs[(1, 480, 640)]
    assert graph is not None and graph.posts and not detector.graph_failures
    assert_same_faces(got, plain, 0.95, score_atol=0.03, min_share=0.95, count_tol=0.04, all_confident=False)


@needs_cuda
def test_cuda_learner_fp16_and_graph_fallback(mnet_weights, frame: np.ndarray, plain: Detections) -> None:
    learner = RetinaFaceLearner(backbone="mnet", device="cuda", fp16=True)
    learner.load(mnet_weights, verbose=False)
    got = learner.detect_arrays(frame, threshold=PARAMS.threshold, scales=[480, 640])
    assert_same_faces(got, plain, 0.95, score_atol=0.03, min_share=0.95, count_tol=0.04, all_confident=False)
    detector = learner._require_detector()

    def broken(x: torch.Tensor):  # capture fails → eager, with a warning, same answer
        if torch.cuda.is_current_stream_capturing():
            raise RuntimeError("no capture")
        return forward(x)

    forward = detector.forward
    detector.forward = broken
    detector._graphs.clear()
    with pytest.warns(RuntimeWarning, match="CUDA graph capture failed"):
        again = detector.detect(frame, PARAMS)
    assert detector.graph_failures
    assert torch.cuda.current_stream() == torch.cuda.default_stream()  # no capture stream left current
    assert_same_faces(
        again, plain, 0.95, score_atol=0.03, min_share=0.95, count_tol=0.04, all_confident=False
    )


@needs_cuda
def test_nms_torch_cuda_matches_opencv() -> None:
    boxes, scores = random_boxes(np.random.default_rng(7), 500)
    got = nms_torch(torch.from_numpy(boxes).cuda(), torch.from_numpy(scores).cuda(), 0.4).cpu().numpy()
    np.testing.assert_array_equal(got, nms(boxes, scores, 0.4))


# --------------------------------------------------------------------------------------------- bench CLI
def test_bench_command_prints_json(mnet_weights) -> None:
    from retinaface_ros.cli import main

    out, err = io.StringIO(), io.StringIO()
    argv = ["bench", "--runs", "2", "--warmup", "1", "--backbones", "mnet", "--devices", "cpu"]
    argv += ["--inputs", "640x480", "--runtimes", "reference,torch", "--json"]
    with redirect_stdout(out), redirect_stderr(err):
        assert main(argv) == 0
    report = json.loads(out.getvalue())
    assert {"machine", "settings", "rows"} <= set(report)
    assert [r["runtime"] for r in report["rows"]] == ["reference", "torch"]
    for r in report["rows"]:
        for key in ("preprocess_ms", "forward_ms", "postprocess_ms", "total_ms"):
            assert set(r[key]) == {"median", "p90"} and r[key]["median"] > 0
        for key in ("fps", "peak_rss_mb", "backbone", "device", "input", "batch", "speedup_vs_reference"):
            assert key in r
        assert r["faces_per_image"] > 0


def test_bench_rejects_unknown_filter() -> None:
    from retinaface_ros.cli import main

    with redirect_stderr(io.StringIO()):
        assert main(["bench", "--backbones", "vgg"]) == 2
        assert main(["bench", "--warmup", "0"]) == 2  # the warm-up counts the faces


def test_batched_torch_postprocess_matches_per_image(model: RetinaFace, frame: np.ndarray) -> None:
    """The CUDA batch postprocess (one grouped NMS, one copy back), run here on CPU tensors."""
    detector = fast_detector(model, config_for("mnet"))
    images = [frame, np.ascontiguousarray(frame[:, ::-1]), frame[::-1].copy()]
    with torch.inference_mode():
        outputs = detector.run(detector.prepare(images, 1.0))
        batched = detector._postprocess_batch_torch(outputs, (480, 640), [(480, 640)] * 3, 1.0, PARAMS, True)
        assert batched is not None
        for row, got in enumerate(batched):
            want = detector.postprocess([o[row] for o in outputs], (480, 640), (480, 640), 1.0, PARAMS)
            assert len(got) == len(want) > 0
            np.testing.assert_allclose(got.boxes, want.boxes, atol=1e-3)
            np.testing.assert_allclose(got.scores, want.scores, atol=1e-6)


def test_nms_torch_groups_equal_separate_calls() -> None:
    rng = np.random.default_rng(3)
    parts = [random_boxes(rng, 120) for _ in range(3)]
    boxes = torch.from_numpy(np.concatenate([p[0] for p in parts]))
    scores = torch.from_numpy(np.concatenate([p[1] for p in parts]))
    groups = torch.arange(3).repeat_interleave(120)
    got = torch.sort(nms_torch(boxes, scores, 0.4, groups=groups)).values.numpy()
    want = np.concatenate([np.sort(nms(b, s, 0.4)) + 120 * i for i, (b, s) in enumerate(parts)])
    np.testing.assert_array_equal(got, want)


# ----------------------------------------------------------------------------------------- packed postprocess
def packed_detector(model: RetinaFace, device: str = "cpu", **settings) -> Detector:
    """The fast detector with the packed (in-graph on CUDA) postprocess forced on, also on the CPU."""
    detector = fast_detector(model, config_for("mnet"), device, fp16=settings.pop("fp16", False))
    detector.packed = True
    for name, value in settings.items():
        setattr(detector, name, value)
    return detector


def selfie_frames(frame: np.ndarray) -> list[np.ndarray]:
    return [frame, np.ascontiguousarray(frame[:, ::-1]), frame[::-1].copy()]


def assert_exact(got: list[Detections], want: list[Detections]) -> None:
    for g, w in zip(got, want, strict=True):
        assert len(g) == len(w) > 0
        assert box_iou(w.boxes, g.boxes).max(1).min() >= 0.99
        np.testing.assert_allclose(g.boxes, w.boxes, atol=1e-2)
        np.testing.assert_allclose(g.scores, w.scores, atol=1e-5)
        np.testing.assert_allclose(g.landmarks, w.landmarks, atol=1e-2)
        np.testing.assert_array_equal(g.classes, w.classes)


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
    assert sorted(packed._eager_posts) == [
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
    assert sorted(detector._eager_posts) == [(2, 480, 640, 16), (2, 480, 640, 1024)]
    assert detector.counters["packed"] == detector.counters["larger_top_k"] == 2
    # 395 is over every budget: the exact path for it, while 52 still takes the budget of 64
    detector = packed_detector(model, top_k=(16, 64, 128))
    assert_exact(detector.detect_batch(images, PARAMS), got)
    assert sorted(detector._eager_posts) == [(2, 480, 640, 16), (2, 480, 640, 64)]
    assert detector.counters == {
        "packed": 1,
        "larger_top_k": 1,
        "fallback_overflow": 1,
        "fallback_not_converged": 0,
    }


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


def test_packed_budgets_respect_the_pair_limit(model: RetinaFace) -> None:
    detector = packed_detector(model)
    priors_1820x1024 = 2 * (228 * 128 + 114 * 64 + 57 * 32)
    assert detector._top_ks(priors_1820x1024, 1) == [256, 1024, 4096]
    assert detector._top_ks(priors_1820x1024, 8) == [256, 1024, 4096]  # 8 × 4096² = 2**27 pairs
    assert detector._top_ks(priors_1820x1024, 32) == [256, 1024]  # the rest go the exact way
    assert detector._top_ks(500, 1) == [256, 500]  # never more than there are priors


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


@needs_cuda
@pytest.mark.parametrize("fp16", [False, True], ids=["fp32", "fp16"])
def test_cuda_packed_graph_matches_exact(model: RetinaFace, frame: np.ndarray, fp16: bool) -> None:
    """In-graph postprocess (CUDA graph) against the exact GPU path on the same network outputs."""
    detector = fast_detector(model, config_for("mnet"), "cuda", fp16=fp16)
    images = selfie_frames(frame)
    for params in (PARAMS, InferenceParams(threshold=0.7, nms_threshold=0.3, scales=(480, 640))):
        for batch in (images[:1], images):
            for _ in range(2):
                got = detector.detect_batch(batch, params)
            with torch.inference_mode():
                outputs = detector.run(detector.prepare(batch, 1.0))
                detector.packed = True
                again = detector.postprocess_group(
                    outputs, (480, 640), [(480, 640)] * len(batch), 1.0, params
                )
                host = [o.cpu() for o in outputs]  # numpy path, same outputs: same stable tie order
                want = [
                    detector._postprocess_numpy(
                        [o[r] for o in host], (480, 640), (480, 640), 1.0, params, True
                    )
                    for r in range(len(batch))
                ]
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
    posts = [post for g in detector._graphs.values() for post in g.posts.values()]
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
    detector = fast_detector(model, config_for("mnet"), "cuda")
    detector.max_graphs = 2
    captures, capture = [], detector._capture
    detector._capture = lambda example: captures.append(tuple(example.shape[:3])) or capture(example)
    a, b, c, once = (640, 480), (320, 240), (400, 300), (200, 160)
    for width, height in [a, a, once, b, b, a, c, c, a]:
        image = cv2.resize(frame, (width, height))
        detector.detect(image, InferenceParams(threshold=0.8, scales=(height, width)))
    assert captures == [(1, 480, 640), (1, 240, 320), (1, 300, 400)]  # 640×480 once; 160×200 never
    assert list(detector._graphs) == [(1, 300, 400), (1, 480, 640)]


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs two CUDA GPUs")
def test_cuda_second_device(model: RetinaFace, frame: np.ndarray, plain: Detections) -> None:
    """A detector on cuda:1 while cuda:0 is current: uploads, graphs and events on its own device."""
    detector = fast_detector(model, config_for("mnet"), "cuda:1")
    for _ in range(3):
        got = detector.detect(frame, PARAMS)
    assert_same_faces(got, plain, 0.99)
    assert not detector.graph_failures and torch.cuda.current_device() == 0
