"""CUDA execution helpers of the torch backend and the packed postprocess: the scoped cuDNN autotuning switch
and the CUDA graphs of the network and of the packed postprocess."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch


class CudnnBenchmark:
    """cuDNN autotuning switched on while any thread is inside a block that asks for it (the flag is
    process-wide: a count under a lock, so overlapping blocks of two detectors restore it once, last)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._depth = 0
        self._saved = False

    @contextlib.contextmanager
    def __call__(self, on: bool) -> Any:
        if not on:
            yield
            return
        with self._lock:
            if self._depth == 0:
                self._saved = torch.backends.cudnn.benchmark
                torch.backends.cudnn.benchmark = True
            self._depth += 1
        try:
            yield
        finally:
            with self._lock:
                self._depth -= 1
                if self._depth == 0:
                    torch.backends.cudnn.benchmark = self._saved


cudnn_benchmark = CudnnBenchmark()


class CudaGraphForward:
    """``fn`` (normalise + network) as a CUDA graph for one input shape, replayed on a static input."""

    def __init__(self, fn: Callable[[torch.Tensor], Sequence[torch.Tensor]], example: torch.Tensor) -> None:
        self.static_input = example.clone()
        current = torch.cuda.current_stream(example.device)
        stream = torch.cuda.Stream(device=example.device)
        stream.wait_stream(current)
        with torch.cuda.stream(stream):  # warm-up (cuDNN algorithm choice, allocator) off the capture
            for _ in range(3):
                fn(self.static_input)
        current.wait_stream(stream)
        self.graph = torch.cuda.CUDAGraph()
        # Captured on our own stream of the input's device (torch's shared default capture stream belongs
        # to whichever device was current first); thread_local: other threads' CUDA work (a ROS worker
        # still running the previous model) does not invalidate the capture.
        with torch.cuda.graph(self.graph, stream=stream, capture_error_mode="thread_local"):
            self.static_outputs = tuple(fn(self.static_input))
        self.posts: dict[int, PackedPostprocessRunner] = {}  # postprocess graphs on static_outputs, by top-k

    def replay(self) -> tuple[torch.Tensor, ...]:
        self.graph.replay()
        return self.static_outputs


class PackedPostprocessRunner:
    """:func:`packed_postprocess` for one (batch, height, width): device settings, optional CUDA graph over
    static network outputs, pinned host buffer."""

    def __init__(
        self, fn: Callable[[Sequence[torch.Tensor], torch.Tensor], torch.Tensor], device: torch.device
    ) -> None:
        self.fn = fn
        self.settings = torch.zeros(8, dtype=torch.float32, device=device)
        self.values: tuple[float, ...] | None = None
        self.outputs: Sequence[torch.Tensor] | None = None
        self.graph: torch.cuda.CUDAGraph | None = None
        self.static_out: torch.Tensor | None = None
        self.host: torch.Tensor | None = None

    def capture(self, outputs: Sequence[torch.Tensor]) -> None:
        """Capture ``fn`` over the (static) ``outputs``."""
        current = torch.cuda.current_stream(self.settings.device)
        stream = torch.cuda.Stream(device=self.settings.device)
        stream.wait_stream(current)
        with torch.cuda.stream(stream):
            for _ in range(2):
                self.fn(outputs, self.settings)
        current.wait_stream(stream)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph, stream=stream, capture_error_mode="thread_local"):
            static_out = self.fn(outputs, self.settings)
        self.graph, self.static_out, self.outputs = graph, static_out, outputs

    def __call__(self, values: tuple[float, ...], outputs: Sequence[torch.Tensor]) -> np.ndarray:
        """The packed result on the host; ``outputs`` are the captured ones when there is a graph."""
        if values != self.values:  # live parameter changes: a small copy, no recapture
            self.settings.copy_(torch.tensor(values, dtype=torch.float32))
            self.values = values
        if self.graph is not None and self.static_out is not None:
            self.graph.replay()
            out = self.static_out
        else:
            out = self.fn(outputs, self.settings)
        if not out.is_cuda:
            return out.numpy()
        if self.host is None or self.host.shape != out.shape:
            self.host = torch.empty(out.shape, dtype=out.dtype, pin_memory=True)
        self.host.copy_(out, non_blocking=True)
        torch.cuda.current_stream(out.device).synchronize()
        return self.host.numpy()
