"""Compute devices by name ('cpu', 'cuda', 'cuda:N'), with or without PyTorch installed.

With torch a device is a ``torch.device`` (checked against the visible GPUs); in the torch-free ONNX
deployment it is a :class:`DeviceName` with the same ``type`` / ``index`` / ``str()``, and CUDA is left to
the runtime's providers (onnxruntime-gpu on a Jetson).
"""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import dataclass
from typing import Any

from retinaface_ros.validation import check_device


@dataclass(frozen=True)
class DeviceName:
    """A device without torch: ``type`` 'cpu' or 'cuda', ``index`` for 'cuda:N'."""

    type: str
    index: int | None = None

    def __str__(self) -> str:
        return self.type if self.index is None else f"{self.type}:{self.index}"


def torch_installed() -> bool:
    """Whether torch can be imported (without importing it)."""
    if "torch" in sys.modules:  # imported already, or blocked (None)
        return sys.modules["torch"] is not None
    return importlib.util.find_spec("torch") is not None


def resolve_device(device: Any) -> Any:
    """'cpu', 'cuda', 'cuda:N' (or that torch.device) → torch.device (a :class:`DeviceName` without torch);
    CUDA without a GPU that PyTorch sees is an error."""
    if not isinstance(device, str) and type(device).__name__ in ("device", "DeviceName"):
        device = str(device)
    check_device(device)
    if not torch_installed():
        kind, _, index = device.partition(":")
        return DeviceName(kind, int(index) if index else None)
    import torch

    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ValueError(
                f"device={device!r} but PyTorch sees no CUDA GPU; pass device='cpu' (or install a CUDA build)"
            )
        index = int(device.split(":")[1]) if ":" in device else 0
        if index >= torch.cuda.device_count():
            raise ValueError(
                f"device={device!r} but only {torch.cuda.device_count()} CUDA device(s) are visible"
            )
    return torch.device(device)


def cuda_available() -> bool:
    """Whether PyTorch sees a CUDA GPU (the ROS nodes' ``device: auto`` falls back to the CPU without one)."""
    if not torch_installed():
        return False
    import torch

    return torch.cuda.is_available()


def free_cuda_memory() -> None:
    """Hand cached CUDA memory back to the driver (after dropping a model); no-op without CUDA or torch."""
    if cuda_available():
        import torch

        torch.cuda.empty_cache()
