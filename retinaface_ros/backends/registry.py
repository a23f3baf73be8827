"""Which runtime runs a model: one table, used by the learner, the model folders, the bench and the node.

Adding a runtime is one file in this package (a :class:`~.base.Backend`) and one :class:`Runtime` entry here.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from retinaface_ros.model.config import MEAN_BGR

AUTO = "auto"


@dataclass(frozen=True)
class Runtime:
    """A runtime: the module and class of its backend, the model-file framework it reads, and what to
    install for it."""

    name: str
    module: str
    cls: str
    framework: str  # "pytorch" (a torch module) or "onnx" (ONNX bytes)
    install: str

    def backend_class(self) -> Any:
        """The backend class (importing its module; a missing runtime raises ModuleNotFoundError)."""
        return getattr(importlib.import_module(self.module), self.cls)

    def available(self) -> bool:
        """Whether the runtime's package is installed (the backend module is named after it)."""
        return importlib.util.find_spec(self.module.rsplit(".", 1)[-1]) is not None


RUNTIMES: dict[str, Runtime] = {
    runtime.name: runtime
    for runtime in (
        Runtime("torch", "retinaface_ros.backends.torch", "TorchBackend", "pytorch", "pip install torch"),
        Runtime(
            "onnxruntime",
            "retinaface_ros.backends.onnxruntime",
            "OnnxRuntimeBackend",
            "onnx",
            "pip install 'retinaface_ros[onnx]' (onnxruntime-gpu for CUDA / TensorRT)",
        ),
        Runtime(
            "openvino",
            "retinaface_ros.backends.openvino",
            "OpenVinoBackend",
            "onnx",
            "pip install 'retinaface_ros[openvino]'",
        ),
    )
}
CHOICES = (AUTO, *RUNTIMES)
FILE_EXTENSIONS = {"pytorch": "pth", "onnx": "onnx"}  # model-folder framework → file extension


def check_runtime(runtime: str) -> str:
    """``runtime`` if it is 'auto' or a registered runtime, else a ValueError naming the choices."""
    if runtime not in CHOICES:
        raise ValueError(f"runtime must be one of {', '.join(CHOICES)}, got {runtime!r}")
    return runtime


def runtime_for(framework: str, runtime: str = AUTO) -> Runtime:
    """The runtime for a model of ``framework``: ``runtime`` itself, or with 'auto' torch for PyTorch
    models and onnxruntime for ONNX graphs (OpenVINO when only that is installed)."""
    check_runtime(runtime)
    if runtime != AUTO:
        return RUNTIMES[runtime]
    if framework == "pytorch":
        return RUNTIMES["torch"]
    onnx = [r for r in RUNTIMES.values() if r.framework == "onnx"]
    return next((r for r in onnx if r.available()), onnx[0])


def onnx_backend(
    model_bytes: bytes,
    runtime: str = AUTO,
    device: str = "cpu",
    source: str = "ONNX model",
    providers: Sequence[str] = (),
    mean_bgr: tuple[float, float, float] = MEAN_BGR,
) -> Any:
    """A backend running the ONNX graph ``model_bytes`` (``runtime``: auto, onnxruntime or openvino)."""
    chosen = runtime_for("onnx", runtime)
    if chosen.framework != "onnx":
        raise ValueError(f"runtime {chosen.name!r} cannot run an ONNX graph; use onnxruntime or openvino")
    cls = chosen.backend_class()
    if chosen.name == "onnxruntime":
        return cls(model_bytes, device, source, providers=providers, mean_bgr=mean_bgr)
    if providers:
        raise ValueError(f"providers are an onnxruntime option; runtime {chosen.name!r} takes none")
    return cls(model_bytes, device, source, mean_bgr=mean_bgr)


def torch_backend(model: Any, device: Any, options: Any = None) -> Any:
    """A torch backend over an inference copy of ``model``."""
    cls = RUNTIMES["torch"].backend_class()
    return cls.from_model(model, device) if options is None else cls.from_model(model, device, options)
