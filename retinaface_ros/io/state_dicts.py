"""Reading RetinaFace state dicts safely (``weights_only``) and recognising their backbone."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch

_WRAPPER_KEYS = ("state_dict", "model", "model_state_dict", "net")
_ZIP_MAGIC = b"PK\x03\x04"  # torch.save's default format
_PICKLE_MAGIC = b"\x80"  # the legacy format: a pickle (protocol 2+) comes first


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """A plain state dict from a ``.pth``/``.tar`` file: wrappers unwrapped, ``module.`` prefixes removed.

    Refuses pickles that carry code (``torch.load(weights_only=True)``), empty or truncated files, files
    that hold no tensors, and tensors holding NaN or infinite values (a model that would detect nothing),
    with a ValueError that names the file (and the tensor).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model file not found: {path}")
    if path.stat().st_size == 0:
        raise ValueError(f"model file is empty: {path}")
    with open(path, "rb") as handle:
        magic = handle.read(4)
    if not (magic.startswith(_ZIP_MAGIC) or magic.startswith(_PICKLE_MAGIC)):
        raise ValueError(f"model file {path} is not a PyTorch checkpoint (not a zip archive nor a pickle)")
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many types for bad pickles / zip archives
        raise ValueError(
            f"cannot read model file {path} as a weights-only PyTorch checkpoint: {load_failure(error)}"
        ) from error
    for key in _WRAPPER_KEYS:
        if isinstance(loaded, Mapping) and isinstance(loaded.get(key), Mapping):
            loaded = loaded[key]
            break
    if not isinstance(loaded, Mapping) or not loaded:
        raise ValueError(f"model file {path} holds no state dict")
    state = {}
    for key, value in loaded.items():
        if not isinstance(value, torch.Tensor):
            raise ValueError(f"model file {path}: entry {key!r} is not a tensor")
        state[key.removeprefix("module.")] = value
    bad = first_non_finite(state)
    if bad is not None:
        raise ValueError(
            f"model file {path}: tensor {bad!r} holds NaN or infinite values (a corrupt or diverged model)"
        )
    return state


def first_non_finite(state_dict: Mapping[str, torch.Tensor]) -> str | None:
    """The name of the first floating-point tensor holding NaN or ±inf; None when all are finite."""
    for key, value in state_dict.items():
        if (value.is_floating_point() or value.is_complex()) and not bool(torch.isfinite(value).all()):
            return key
    return None


def load_failure(error: BaseException) -> str:
    """One line on why ``torch.load(weights_only=True)`` failed (torch's message runs over several lines and
    suggests loading without ``weights_only``, which this package never does)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    for line in lines:
        if line.startswith("WeightsUnpickler error:"):
            return "it holds objects other than tensors and plain values (" + line + ")"
    return lines[0] if lines else type(error).__name__


def detector_backbone(state_dict: Mapping[str, torch.Tensor]) -> str | None:
    """'mnet' or 'resnet' for a RetinaFace state dict, recognised from its backbone's key names; None for
    anything else (e.g. ImageNet backbone weights, whose keys have no ``body.`` prefix)."""
    if any(key.startswith("body.stage1.") for key in state_dict):
        return "mnet"
    if any(key.startswith("body.layer1.") for key in state_dict):
        return "resnet"
    return None


def backbone_of(state_dict: Mapping[str, torch.Tensor]) -> str:
    """'mnet' or 'resnet', recognised from the backbone's key names; ValueError for other state dicts."""
    backbone = detector_backbone(state_dict)
    if backbone is None:
        raise ValueError("state dict is not a RetinaFace model (no body.stage1.* or body.layer1.* keys)")
    return backbone


def has_mask_head(state_dict: Mapping[str, torch.Tensor]) -> bool:
    return any(key.startswith("MaskHead.") for key in state_dict)
