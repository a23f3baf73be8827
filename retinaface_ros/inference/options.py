"""How a :class:`~retinaface_ros.inference.detector.Detector` runs: one validated, immutable set of options.

Variants (the benchmark's levers, the tests' plain path) are new options (``dataclasses.replace``) and a new
detector, never changes to a built one.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass


@dataclass(frozen=True)
class DetectorOptions:
    """Inference settings; the defaults are the fast paths measured in README's Benchmarks.

    Network preparation (torch): ``fold`` BatchNorm into the convolutions, ``merge`` the heads per level,
    ``fuse`` ReLUs into cuDNN's conv+ReLU calls (None: on for CUDA with cuDNN, a folded model and no
    ``torch_compile``), ``fp16`` weights and inputs (CUDA), ``channels_last`` memory layout.
    Execution (torch): ``cuda_graphs`` (None: on for CUDA) for the ``max_graphs`` most recently used input
    shapes, ``torch_compile`` (CUDA: inductor on the network and the packed postprocess).
    Pre- and postprocess: ``fast_preprocess`` (one-pass OpenCV blob on the CPU), ``fast_postprocess``
    (numpy + OpenCV NMS on the CPU, the batched and packed paths on CUDA), ``packed`` (None: on for CUDA)
    with its candidate budgets ``top_k`` and ``nms_rounds`` fixed-point NMS rounds.
    """

    fold: bool = True
    merge: bool = True
    fuse: bool | None = None
    fp16: bool = False
    channels_last: bool = True
    cuda_graphs: bool | None = None
    max_graphs: int = 8
    torch_compile: bool = False
    fast_preprocess: bool = True
    fast_postprocess: bool = True
    packed: bool | None = None
    top_k: tuple[int, ...] = (256, 1024, 4096)
    nms_rounds: int = 8

    def __post_init__(self) -> None:
        for name in ("fold", "merge", "fp16", "channels_last", "torch_compile", "fast_preprocess"):
            _check_bool(name, getattr(self, name))
        _check_bool("fast_postprocess", self.fast_postprocess)
        for name in ("fuse", "cuda_graphs", "packed"):
            if getattr(self, name) is not None:
                _check_bool(name, getattr(self, name))
        _check_int("max_graphs", self.max_graphs, 1)
        _check_int("nms_rounds", self.nms_rounds, 0)
        if isinstance(self.top_k, (str, bytes)) or not hasattr(self.top_k, "__iter__"):
            raise TypeError(f"top_k must be a sequence of ints, got {type(self.top_k).__name__}")
        top_k = tuple(self.top_k)
        if not top_k:
            raise ValueError("top_k must hold at least one candidate budget")
        for k in top_k:
            _check_int("top_k entries", k, 1)
        object.__setattr__(self, "top_k", top_k)

    def replace(self, **changes: object) -> DetectorOptions:
        """A copy with ``changes`` (validated again)."""
        return dataclasses.replace(self, **changes)


def _check_bool(name: str, value: object) -> None:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool, got {type(value).__name__}")


def _check_int(name: str, value: object, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < low:
        raise ValueError(f"{name} must be ≥ {low}, got {value}")


PLAIN = DetectorOptions(
    fold=False,
    merge=False,
    fuse=False,
    channels_last=False,
    cuda_graphs=False,
    fast_preprocess=False,
    fast_postprocess=False,
)
"""The un-optimised path (torch preprocess and postprocess, the model as given): the parity oracle."""
