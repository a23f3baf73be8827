"""The PyTorch runtime: an inference copy of the model (BatchNorm folded, heads merged; fp16, channels_last
and cuDNN conv+ReLU on CUDA), eager on the CPU, CUDA graphs per input shape and optional ``torch.compile``
on CUDA."""

from __future__ import annotations

import contextlib
import copy
import io
import warnings
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch

from retinaface_ros.inference.cuda_graphs import CudaGraphForward, cudnn_benchmark
from retinaface_ros.inference.options import DetectorOptions
from retinaface_ros.inference.preprocess import DeviceUploader, cpu_blob, resized_shape
from retinaface_ros.model.fusion import fold_batchnorm, fuse_relu, merge_heads

DEFAULTS = DetectorOptions()


class TorchBackend:
    """``net`` (a torch module taking N×3×h×w mean-subtracted BGR) on ``device``.

    On CUDA an input shape seen a second time is captured as a graph (kept for the ``max_graphs`` most
    recently used shapes) and gets cuDNN's autotuned convolutions; a shape seen once (an evaluation pyramid, a
    one-off frame size) runs eagerly with cuDNN's heuristics, without capture or tuning costs. A graph's
    outputs are static buffers, overwritten by the next run of the same shape. Frames are uploaded as uint8
    (:class:`~retinaface_ros.inference.preprocess.DeviceUploader`); mean subtraction and the fp16 /
    channels_last cast run on the device, inside the graph.
    """

    name = "torch"
    framework = "pytorch"

    def __init__(
        self,
        net: Any,
        device: torch.device | str,
        has_mask_head: bool,
        mean_bgr: tuple[float, float, float],
        options: DetectorOptions = DEFAULTS,
        model: torch.nn.Module | None = None,
    ) -> None:
        self.device = torch.device(device)
        self.has_mask_head = has_mask_head
        self.options = options
        self.model = model  # the trainable module that ``save`` writes (None: save the network itself)
        on_cuda = self.device.type == "cuda"
        self.cuda_graphs = on_cuda if options.cuda_graphs is None else options.cuda_graphs and on_cuda
        self.torch_compile = options.torch_compile and on_cuda
        self.input_dtype = torch.float16 if options.fp16 else torch.float32
        self.mean_bgr = tuple(float(m) for m in mean_bgr)
        self._mean = torch.tensor(self.mean_bgr, dtype=torch.float32, device=self.device).view(1, 3, 1, 1)
        self.forward = net
        if self.torch_compile:
            from retinaface_ros.inference.compile import CompiledOrEager

            self.forward = CompiledOrEager(net, "network")
        self.uploader = DeviceUploader(self.device, options.max_graphs)
        self.graph_failures: list[str] = []
        self._graphs: dict[tuple[int, ...], CudaGraphForward | None] = {}  # least recently used first
        self._sightings: dict[tuple[int, ...], int] = {}  # input shapes run on CUDA, how often

    @classmethod
    def from_model(
        cls, model: torch.nn.Module, device: torch.device | str, options: DetectorOptions = DEFAULTS
    ) -> TorchBackend:
        """An inference copy of ``model`` (``model`` itself is not modified) prepared as ``options`` say:
        BN folded, heads merged; fp16, channels_last, and ReLUs fused into their convolutions on CUDA with
        cuDNN (unless ``torch_compile``: inductor does its own fusing)."""
        device = torch.device(device)
        net = fold_batchnorm(model) if options.fold else copy.deepcopy(model).eval()
        fuse = options.fuse
        if fuse is None:
            cudnn = torch.backends.cudnn.is_available() and torch.backends.cudnn.enabled
            fuse = device.type == "cuda" and cudnn and options.fold and not options.torch_compile
        if fuse:
            fuse_relu(net)
        if options.merge:
            net = merge_heads(net)
        net = net.to(device)
        if options.fp16:
            net = net.half()
        if options.channels_last:
            net = net.to(memory_format=torch.channels_last)
        for parameter in net.parameters():
            parameter.requires_grad_(False)
        has_mask = bool(getattr(model, "with_mask_head", False))
        return cls(net, device, has_mask, model.config.mean_bgr, options, model)

    # ------------------------------------------------------------------------------------------ the seam
    @contextlib.contextmanager
    def scope(self) -> Iterator[None]:
        """Inference mode, with this backend's CUDA device current (a ``cuda:N`` that is not the current
        device gets its kernels, streams, events and graph captures on that device)."""
        device = torch.cuda.device(self.device) if self.device.type == "cuda" else contextlib.nullcontext()
        with torch.inference_mode(), device:
            yield

    def prepare(self, images: Sequence[np.ndarray], factor: float) -> torch.Tensor:
        """What :meth:`run` takes: the model input on the CPU, the uploaded uint8 N×h×w×3 batch on CUDA."""
        if self.device.type == "cuda":
            height, width = resized_shape(*images[0].shape[:2], factor)
            graph = self._graphs.get((len(images), height, width))
            return self.uploader.upload(images, factor, graph.static_input if graph is not None else None)
        return self.preprocess(images, factor)

    def run(self, prepared: torch.Tensor) -> Sequence[torch.Tensor]:
        """The network on :meth:`prepare`'s output (a replayed CUDA graph where possible)."""
        if self.device.type != "cuda":
            return self.forward(prepared)
        key = tuple(prepared.shape[:3])
        repeated = key in self._graphs or self._count_sighting(key) >= 2
        if self.cuda_graphs and repeated:
            graph = self._graph_for(key, prepared)
            if graph is not None:
                if prepared.data_ptr() != graph.static_input.data_ptr():
                    graph.static_input.copy_(prepared, non_blocking=True)
                return graph.replay()
        with cudnn_benchmark(repeated):
            return self.forward(self.normalise(prepared))

    def model_file(self) -> tuple[str, bytes]:
        """The fp32 state dict of the trainable model (``torch.save`` format, CPU tensors)."""
        module = self.model if self.model is not None else self.forward
        state = {
            key: (value.detach().float() if value.is_floating_point() else value.detach()).cpu()
            for key, value in module.state_dict().items()
        }
        buffer = io.BytesIO()
        torch.save(state, buffer)
        return self.framework, buffer.getvalue()

    def cache_info(self) -> dict[str, Any]:
        """Captured graphs (None: capture failed) and seen input shapes, least recently used first, and the
        staging buffers."""
        return {
            "graphs": list(self._graphs),
            "failed_graphs": [key for key, graph in self._graphs.items() if graph is None],
            "sightings": dict(self._sightings),
            **self.uploader.cache_info(),
        }

    # ------------------------------------------------------------------------------------------ helpers
    def preprocess(self, images: Sequence[np.ndarray], factor: float) -> torch.Tensor:
        """Resize and subtract the mean → N×3×h×w model input (``input_dtype``) on the device."""
        if self.device.type == "cpu" and self.options.fast_preprocess:
            batch = torch.from_numpy(cpu_blob(images, factor, self.mean_bgr))
            if self.options.channels_last:
                batch = batch.contiguous(memory_format=torch.channels_last)
            return batch if self.input_dtype == torch.float32 else batch.to(self.input_dtype)
        return self.normalise(self.uploader.upload(images, factor, None))

    def normalise(self, batch: torch.Tensor) -> torch.Tensor:
        """uint8 N×h×w×3 BGR → N×3×h×w ``input_dtype`` minus the mean (channels_last if so configured)."""
        x = batch.permute(0, 3, 1, 2).float() - self._mean  # keeps the NHWC (= channels_last) strides
        x = x.to(self.input_dtype)
        return x if self.options.channels_last else x.contiguous()

    def graph(self, key: tuple[int, ...]) -> CudaGraphForward | None:
        """The captured graph of (batch, height, width), if any (its use order unchanged)."""
        return self._graphs.get(key)

    def compile_failures(self) -> dict[str, str | None]:
        """With ``torch_compile``: why compiling the network fell back to eager (None where it did not)."""
        return {"network": getattr(self.forward, "failure", None)} if self.torch_compile else {}

    def _count_sighting(self, key: tuple[int, ...]) -> int:
        count = self._sightings[key] = self._sightings.pop(key, 0) + 1
        while len(self._sightings) > 8 * self.options.max_graphs:
            self._sightings.pop(next(iter(self._sightings)))
        return count

    def _graph_for(self, key: tuple[int, ...], prepared: torch.Tensor) -> CudaGraphForward | None:
        """The graph of ``key`` (captured now if new; None if capture failed), most recently used last."""
        if key in self._graphs:
            graph = self._graphs[key] = self._graphs.pop(key)
        else:
            graph = self._graphs[key] = self._capture(prepared)
            while len(self._graphs) > self.options.max_graphs:  # the least recently used shape goes
                self._graphs.pop(next(iter(self._graphs)))
        return graph

    def _capture(self, example: torch.Tensor) -> CudaGraphForward | None:
        stream = torch.cuda.current_stream(self.device)
        try:
            with cudnn_benchmark(True):  # the graph keeps the convolutions its warm-up picked
                return CudaGraphForward(lambda x: self.forward(self.normalise(x)), example)
        except Exception as error:  # capture is an optimisation: any failure means eager execution
            torch.cuda.set_stream(stream)  # a failed capture_end leaves its capture stream current
            self.graph_failures.append(f"{tuple(example.shape)}: {type(error).__name__}: {error}")
            warnings.warn(
                f"CUDA graph capture failed, running eagerly: {error}", RuntimeWarning, stacklevel=2
            )
            return None
