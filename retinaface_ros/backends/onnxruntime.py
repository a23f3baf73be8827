"""The onnxruntime runtime (CPU, CUDA or TensorRT execution providers, in the order given) and the ONNX
export of RetinaFace.

Running needs numpy and onnxruntime only (the torch-free deployment); exporting needs torch and onnx.
Exported with the TorchScript-based ``torch.onnx.export(..., dynamo=False)``: the torch.export-based exporter
needs ``onnxscript``, which is not part of this environment. Batch, height and width are dynamic.
"""

from __future__ import annotations

import copy
import io
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from retinaface_ros.backends.base import ArrayBackend
from retinaface_ros.model.config import MEAN_BGR

if TYPE_CHECKING:
    import torch

OPSET = 17
INPUT_NAME = "input"
OUTPUT_NAMES = ("loc", "conf", "landmarks", "mask")
EXPORTER = "torch.onnx.export (TorchScript, dynamo=False)"


def physical_cores() -> int:
    """Physical cores available to this process (hyper-threads counted once); falls back to os.cpu_count()."""
    try:
        cpus = os.sched_getaffinity(0)
    except AttributeError:  # not Linux
        return os.cpu_count() or 1
    cores = set()
    for cpu in cpus:
        topology = Path(f"/sys/devices/system/cpu/cpu{cpu}/topology")
        try:
            cores.add(
                (
                    (topology / "physical_package_id").read_text().strip(),
                    (topology / "core_id").read_text().strip(),
                )
            )
        except OSError:
            cores.add(("cpu", str(cpu)))
    return max(1, len(cores))


PROVIDER_ALIASES = {
    "tensorrt": "TensorrtExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "cpu": "CPUExecutionProvider",
    "openvino": "OpenVINOExecutionProvider",
    "dml": "DmlExecutionProvider",
    "coreml": "CoreMLExecutionProvider",
}


def cuda_index(device: str) -> int | None:
    """N of 'cuda:N' (0 for 'cuda'); None for the CPU."""
    device = str(device)
    if not device.startswith("cuda"):
        return None
    return int(device.split(":")[1]) if ":" in device else 0


def choose_providers(device: str = "cpu") -> list[Any]:
    """TensorRT / CUDA (when present and ``device`` is CUDA), then CPU, from the available providers."""
    available = set(_ort().get_available_providers())
    providers: list[Any] = []
    index = cuda_index(device)
    if index is not None:
        options = {"device_id": index}
        if "TensorrtExecutionProvider" in available:
            providers.append(("TensorrtExecutionProvider", options))
        if "CUDAExecutionProvider" in available:
            providers.append(("CUDAExecutionProvider", options))
    providers.append("CPUExecutionProvider")
    return providers


def resolve_providers(providers: Sequence[str], device: str = "cpu") -> list[Any]:
    """An ordered provider list ('TensorRT', 'CUDA', 'CPU' or full onnxruntime names) → what the session
    takes; a provider this onnxruntime lacks is left out with one warning line (an error if none is left).
    Empty: :func:`choose_providers`."""
    if not providers:
        return choose_providers(device)
    available = _ort().get_available_providers()
    index = cuda_index(device)
    chosen: list[Any] = []
    for given in providers:
        name = PROVIDER_ALIASES.get(str(given).lower(), str(given))
        if name not in available:
            warnings.warn(
                f"onnxruntime provider {given!r} ({name}) is not installed, skipped (available: "
                f"{', '.join(available)}; CUDA/TensorRT need onnxruntime-gpu)",
                RuntimeWarning,
                stacklevel=2,
            )
            continue
        if index is not None and name in ("TensorrtExecutionProvider", "CUDAExecutionProvider"):
            chosen.append((name, {"device_id": index}))
        else:
            chosen.append(name)
    if not chosen:
        raise ValueError(
            f"none of the onnxruntime providers {list(providers)} is installed (available: "
            f"{', '.join(available)})"
        )
    return chosen


def _ort():
    try:
        import onnxruntime
    except ModuleNotFoundError as error:
        raise ModuleNotFoundError(
            "runtime 'onnxruntime' needs onnxruntime: pip install 'retinaface_ros[onnx]' "
            "(or onnxruntime-gpu on CUDA / Jetson)",
            name="onnxruntime",
        ) from error
    return onnxruntime


class OnnxRuntimeBackend(ArrayBackend):
    """An ONNX RetinaFace graph in an onnxruntime session (numpy in, numpy out: no torch needed), plus the
    serialized model it runs (kept so that ``save`` can write it)."""

    name = "onnxruntime"
    framework = "onnx"

    def __init__(
        self,
        model_bytes: bytes,
        device: str = "cpu",
        source: str = "ONNX model",
        providers: Sequence[str] = (),
        mean_bgr: tuple[float, float, float] = MEAN_BGR,
    ) -> None:
        super().__init__(mean_bgr)
        ort = _ort()
        options = ort.SessionOptions()
        options.intra_op_num_threads = physical_cores()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # No busy-waiting between parallel sections: ~1 ms slower per VGA frame on 2 cores, but the CPU is
        # left to the other nodes of a robot (and to torch, in the benchmark's round-robin groups).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        chosen = resolve_providers(providers, device)
        try:
            self.session = ort.InferenceSession(model_bytes, sess_options=options, providers=chosen)
        except Exception as error:  # onnxruntime raises its own exception types for bad graphs
            raise ValueError(f"cannot load {source} with onnxruntime: {error}") from error
        self.model_bytes = model_bytes
        inputs = self.session.get_inputs()
        outputs = [o.name for o in self.session.get_outputs()]
        if len(inputs) != 1 or len(inputs[0].shape) != 4 or len(outputs) not in (3, 4):
            raise ValueError(f"{source} is not a RetinaFace graph (1 NCHW input and 3 or 4 outputs expected)")
        self.input_name = inputs[0].name
        self.output_names = outputs
        self.has_mask_head = len(outputs) == 4
        self.device = "cuda" if any("CUDA" in p or "Tensorrt" in p for p in self.providers) else "cpu"
        self.metadata: dict[str, str] = dict(self.session.get_modelmeta().custom_metadata_map)
        self.info: dict[str, Any] = {}  # optimizer_info for the model JSON

    @property
    def providers(self) -> list[str]:
        return self.session.get_providers()

    def run(self, batch: np.ndarray) -> list[np.ndarray]:
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        return self.session.run(self.output_names, {self.input_name: batch})

    def model_file(self) -> tuple[str, bytes]:
        return self.framework, self.model_bytes

    def cache_info(self) -> dict[str, Any]:
        return {"providers": self.providers}


def export_onnx(model: torch.nn.Module, do_constant_folding: bool = False, backbone: str = "") -> bytes:
    """The eval-mode model as ONNX bytes (opset 17; dynamic batch, height, width; metadata: backbone)."""
    import torch

    model = copy.deepcopy(model).float().cpu().eval()
    has_mask = bool(getattr(model, "with_mask_head", False))
    outputs = list(OUTPUT_NAMES[: 4 if has_mask else 3])
    dynamic = {INPUT_NAME: {0: "batch", 2: "height", 3: "width"}}
    dynamic.update({name: {0: "batch", 1: "priors"} for name in outputs})
    buffer = io.BytesIO()
    example = torch.zeros(1, 3, 64, 64)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notices
        torch.onnx.export(
            model,
            (example,),
            buffer,
            dynamo=False,
            opset_version=OPSET,
            input_names=[INPUT_NAME],
            output_names=outputs,
            dynamic_axes=dynamic,
            do_constant_folding=do_constant_folding,
        )
    import onnx

    graph = onnx.load_model_from_string(buffer.getvalue())
    for key, value in (
        ("backbone", backbone),
        ("has_mask_head", str(has_mask).lower()),
        ("producer", "retinaface_ros"),
    ):
        entry = graph.metadata_props.add()
        entry.key, entry.value = key, value
    return graph.SerializeToString()


def optimizer_info(
    backend: OnnxRuntimeBackend | Any, do_constant_folding: bool | None = None
) -> dict[str, Any]:
    """What goes into the model JSON's ``optimizer_info``."""
    info: dict[str, Any] = {"exporter": EXPORTER, "opset": OPSET, "runtime": backend.name}
    if isinstance(backend, OnnxRuntimeBackend):
        info.update(onnxruntime=_ort().__version__, providers=backend.providers)
    if do_constant_folding is not None:
        info["do_constant_folding"] = do_constant_folding
    return info
