"""ONNX export of RetinaFace and inference with onnxruntime (CPU, CUDA or TensorRT execution providers).

Exported with the TorchScript-based ``torch.onnx.export(..., dynamo=False)``: the torch.export-based exporter
needs ``onnxscript``, which is not part of this environment. Batch, height and width are dynamic.
"""

from __future__ import annotations

import copy
import io
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
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


def choose_providers(device: torch.device | str = "cpu") -> list[Any]:
    """TensorRT / CUDA (when present and the learner is on CUDA), then CPU, from the available providers."""
    device = torch.device(device)
    available = set(_ort().get_available_providers())
    providers: list[Any] = []
    if device.type == "cuda":
        options = {"device_id": device.index or 0}
        if "TensorrtExecutionProvider" in available:
            providers.append(("TensorrtExecutionProvider", options))
        if "CUDAExecutionProvider" in available:
            providers.append(("CUDAExecutionProvider", options))
    providers.append("CPUExecutionProvider")
    return providers


def _ort():
    import onnxruntime

    return onnxruntime


class OnnxSession:
    """An onnxruntime session plus the serialized model it runs (kept so that ``save`` can write it)."""

    def __init__(
        self, model_bytes: bytes, device: torch.device | str = "cpu", source: str = "ONNX model"
    ) -> None:
        ort = _ort()
        options = ort.SessionOptions()
        options.intra_op_num_threads = physical_cores()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # No busy-waiting between parallel sections: ~1 ms slower per VGA frame on 2 cores, but the CPU is
        # left to the other nodes of a robot (and to torch, in the benchmark's round-robin groups).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self.session = ort.InferenceSession(
                model_bytes, sess_options=options, providers=choose_providers(device)
            )
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
        self.metadata: dict[str, str] = dict(self.session.get_modelmeta().custom_metadata_map)
        self.info: dict[str, Any] = {}  # optimizer_info for the model JSON

    @property
    def providers(self) -> list[str]:
        return self.session.get_providers()

    def run(self, batch: np.ndarray) -> list[np.ndarray]:
        return self.session.run(self.output_names, {self.input_name: batch})


class OnnxForward:
    """The torch model's eval-mode interface: N×3×H×W float32 tensor → (loc, conf, landmarks[, mask])."""

    def __init__(self, session: OnnxSession) -> None:
        self.session = session
        self.has_mask_head = session.has_mask_head

    def __call__(self, batch: torch.Tensor) -> tuple[torch.Tensor, ...]:
        array = np.ascontiguousarray(batch.detach().to("cpu", torch.float32).numpy())
        return tuple(torch.from_numpy(out) for out in self.session.run(array))


def export_onnx(model: torch.nn.Module, do_constant_folding: bool = False, backbone: str = "") -> bytes:
    """The eval-mode model as ONNX bytes (opset 17; dynamic batch, height, width; metadata: backbone)."""
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


def optimizer_info(session: OnnxSession, do_constant_folding: bool | None = None) -> dict[str, Any]:
    """What goes into the model JSON's ``optimizer_info``."""
    info: dict[str, Any] = {
        "exporter": EXPORTER,
        "opset": OPSET,
        "onnxruntime": _ort().__version__,
        "providers": session.providers,
    }
    if do_constant_folding is not None:
        info["do_constant_folding"] = do_constant_folding
    return info


def optimize_learner(learner: Any, do_constant_folding: bool = False) -> None:
    """Export ``learner.model`` to ONNX and make ``infer`` use onnxruntime; the torch model is kept."""
    if learner.model is None:
        if learner.ort_session is not None:
            return  # loaded from an ONNX folder: already optimized, nothing to export
        raise ValueError("no model loaded: call load(path) or init_model() before optimize()")
    model_bytes = export_onnx(learner.model, do_constant_folding, learner.backbone)
    session = OnnxSession(model_bytes, learner.device, "exported model")
    session.info = optimizer_info(session, do_constant_folding)
    learner.set_onnx_session(session, keep_model=True)
