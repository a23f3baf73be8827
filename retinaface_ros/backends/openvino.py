"""The OpenVINO runtime (PyPI ``openvino``): an ONNX RetinaFace graph compiled for an Intel CPU, iGPU or NPU.

numpy in, numpy out: no torch needed. The model folder's ``.onnx`` file is read as it is (OpenVINO converts
it in memory), so ``save`` writes the same ONNX file back.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from retinaface_ros.backends.base import ArrayBackend
from retinaface_ros.backends.onnxruntime import physical_cores
from retinaface_ros.model.config import MEAN_BGR

DEVICES = {"cpu": "CPU", "gpu": "GPU", "npu": "NPU", "auto": "AUTO"}


def _openvino():
    try:
        import openvino
    except ImportError as error:
        raise ImportError(
            "runtime 'openvino' needs OpenVINO: pip install 'retinaface_ros[openvino]'"
        ) from error
    return openvino


class OpenVinoBackend(ArrayBackend):
    """An ONNX RetinaFace graph compiled by OpenVINO for ``device`` ('cpu', 'gpu', 'npu', 'auto' or an
    OpenVINO device name such as 'GPU.1'), tuned for latency (one frame at a time)."""

    name = "openvino"
    framework = "onnx"

    def __init__(
        self,
        model_bytes: bytes,
        device: str = "cpu",
        source: str = "ONNX model",
        mean_bgr: tuple[float, float, float] = MEAN_BGR,
    ) -> None:
        super().__init__(mean_bgr)
        ov = _openvino()
        core = ov.Core()
        target = DEVICES.get(str(device).lower(), str(device))
        if target.split(".")[0] not in ("AUTO", *(d.split(".")[0] for d in core.available_devices)):
            raise ValueError(
                f"OpenVINO device {device!r} is not available here (available: "
                f"{', '.join(core.available_devices)})"
            )
        try:
            model = core.read_model(model_bytes, b"")
        except Exception as error:  # OpenVINO raises its own exception types for bad graphs
            raise ValueError(f"cannot load {source} with OpenVINO: {error}") from error
        if len(model.inputs) != 1 or len(model.outputs) not in (3, 4):
            raise ValueError(f"{source} is not a RetinaFace graph (1 NCHW input and 3 or 4 outputs expected)")
        config: dict[str, Any] = {"PERFORMANCE_HINT": "LATENCY"}
        if target == "CPU":
            config["INFERENCE_NUM_THREADS"] = physical_cores()
            config["INFERENCE_PRECISION_HINT"] = "f32"  # not bf16 where the CPU has it: same faces as torch
        self.compiled = core.compile_model(model, target, config)
        self.request = self.compiled.create_infer_request()
        self.model_bytes = model_bytes
        self.has_mask_head = len(model.outputs) == 4
        self.device = target
        self.metadata: dict[str, str] = {}
        if model.has_rt_info(["framework", "backbone"]):
            self.metadata["backbone"] = model.get_rt_info(["framework", "backbone"]).astype(str)
        self.info: dict[str, Any] = {}  # optimizer_info for the model JSON
        self.version = ov.__version__

    def run(self, batch: np.ndarray) -> list[np.ndarray]:
        self.request.infer({0: np.ascontiguousarray(batch, dtype=np.float32)})
        return [self.request.get_output_tensor(i).data.copy() for i in range(len(self.compiled.outputs))]

    def model_file(self) -> tuple[str, bytes]:
        return self.framework, self.model_bytes

    def cache_info(self) -> dict[str, Any]:
        return {"device": self.device}
