"""BatchNorm folding, merged heads, cuDNN conv+ReLU fusion and torch.compile of the torch backend against
the unmodified model."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from retinaface_ros import RetinaFaceLearner
from retinaface_ros.inference.compile import CompiledOrEager
from retinaface_ros.inference.detector import fast_detector
from retinaface_ros.inference.options import DetectorOptions
from retinaface_ros.model import RetinaFace, config_for
from retinaface_ros.model.fusion import (
    ConvReLU,
    FusedBottleneck,
    count_batchnorm,
    fold_batchnorm,
    fuse_relu,
    merge_heads,
)


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
    assert not any(isinstance(m, ConvReLU) for m in cpu.backend.forward.modules())  # a CUDA-only default


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
    detector = fast_detector(
        RetinaFace("mnet").eval(), config_for("mnet"), "cpu", DetectorOptions(torch_compile=True)
    )
    assert not detector.backend.torch_compile and detector.compile_failures() == {}  # a CUDA-only option


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
    batch = detector.prepare([frame], 1.0)
    with torch.inference_mode():
        for got, want in zip(detector.run(batch), model(batch.contiguous()), strict=True):
            torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-4)


def test_learner_keeps_unfused_trainable_model(mnet_weights) -> None:
    learner = RetinaFaceLearner(backbone="mnet", device="cpu")
    learner.load(mnet_weights, verbose=False)
    assert count_batchnorm(learner.model) > 0
    assert count_batchnorm(learner.detector.backend.forward) == 0
    assert next(learner.model.parameters()).dtype == torch.float32
