"""OpenDR model folders: ``name/name.json`` + ``name/name.pth`` (PyTorch) or ``name/name.onnx`` (optimized).

Saving is atomic: everything is written and fsynced in a temporary folder next to the target, which is then
renamed into place. Loading validates everything before it touches the learner, so a refused folder leaves
the learner exactly as it was.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

import numpy as np

from retinaface_ros.backends.registry import FILE_EXTENSIONS as FORMATS
from retinaface_ros.detections import InferenceParams
from retinaface_ros.io.atomic_files import current_umask, fsync_dir, write_atomically

MAX_META_BYTES = 1 << 20  # a model folder's JSON is a few hundred bytes


def save_folder(learner: Any, path: str | Path, verbose: bool = True) -> Path:
    """Write the learner's model as an OpenDR folder: the file its backend says (the ONNX graph when
    optimized or loaded from ONNX, else the PyTorch state dict)."""
    folder = Path(path)
    if folder.suffix == ".json":  # <folder>/<folder>.json, the metadata file of the folder
        if folder.stem != folder.parent.name:
            raise ValueError(
                f"cannot save to {path!r}: the metadata of a model folder is <folder>/<folder>.json"
            )
        folder = folder.parent
    name = folder.name
    if not name or name in (".", ".."):
        raise ValueError(f"cannot save to {path!r}: the folder name is the model name and must not be empty")
    if learner.model is None and learner.onnx_backend is None:
        raise ValueError("no model to save: call load(path), init_model() or fit() first")
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"cannot save to {folder}: it exists and is not a folder")
    if folder.is_dir() and any(folder.iterdir()) and not (folder / f"{name}.json").is_file():
        raise ValueError(f"cannot save to {folder}: it is a non-empty folder that is not a model folder")

    backend = learner.detector.backend
    framework, payload = backend.model_file()
    mask, info = bool(backend.has_mask_head), dict(getattr(backend, "info", {}))
    file_name = f"{name}.{FORMATS[framework]}"
    meta = {
        "model_paths": [file_name],
        "framework": framework,
        "format": FORMATS[framework],
        "has_data": False,
        "inference_params": dataclasses.asdict(learner.inference_params),
        "optimized": framework == "onnx",
        "optimizer_info": info,
        "backbone": learner.backbone,
        "has_mask_head": mask,
    }
    meta["inference_params"]["scales"] = list(meta["inference_params"]["scales"])

    folder.parent.mkdir(parents=True, exist_ok=True)
    temp = Path(tempfile.mkdtemp(prefix=f".{name}.tmp-", dir=folder.parent))
    os.chmod(temp, 0o777 & ~current_umask())  # mkdtemp makes it 0700; give the usual permissions
    old: Path | None = None
    try:
        write_atomically(temp / file_name, payload)  # each file fsynced (and the folder) before the swap
        write_atomically(temp / f"{name}.json", (json.dumps(meta, indent=2) + "\n").encode())
        if folder.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{name}.old-", dir=folder.parent))
            os.rmdir(old)
            os.rename(folder, old)
        os.rename(temp, folder)
        fsync_dir(folder.parent)
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        if old is not None and old.exists() and not folder.exists():
            os.rename(old, folder)  # put the previous model back
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    if verbose:
        print(f"Saved {learner.backbone} RetinaFace ({framework}) to {folder}")
    return folder


def _model_file(folder: Path, entry: Any, json_path: Path) -> Path:
    """``folder/entry``, refusing absolute paths, ``..`` and anything that resolves outside the folder."""
    if not isinstance(entry, str) or not entry:
        raise ValueError(f"{json_path}: model_paths entries must be non-empty strings, got {entry!r}")
    for pure in (PurePosixPath(entry), PureWindowsPath(entry)):
        if pure.is_absolute() or pure.drive or ".." in pure.parts:
            raise ValueError(f"{json_path}: model path {entry!r} escapes the model folder")
    file = folder / entry
    if not file.resolve().is_relative_to(folder.resolve()):
        raise ValueError(f"{json_path}: model path {entry!r} escapes the model folder (via a link)")
    if not file.is_file():
        raise FileNotFoundError(f"{json_path}: model file {file} not found")
    return file


def read_meta(path: str | Path) -> tuple[Path, dict[str, Any]]:
    """(model file, validated metadata) of a model folder or its ``.json``."""
    path = Path(path)
    json_path = path if path.suffix == ".json" else path / f"{path.name}.json"
    folder = json_path.parent
    if not json_path.is_file():
        raise FileNotFoundError(
            f"model metadata not found: {json_path} (an OpenDR folder holds <name>/<name>.json)"
        )
    if json_path.stat().st_size > MAX_META_BYTES:
        size = json_path.stat().st_size
        raise ValueError(f"{json_path} is {size:,} bytes: too large for model metadata (at most 1 MiB)")
    try:
        meta = json.loads(json_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{json_path} is not valid JSON: {error}") from error
    except RecursionError:  # nesting deeper than Python's recursion limit
        raise ValueError(f"{json_path} nests its JSON too deeply to be model metadata") from None
    if not isinstance(meta, dict):
        raise ValueError(f"{json_path} must hold a JSON object")
    framework = meta.get("framework")
    if framework not in FORMATS:
        raise ValueError(f"{json_path}: framework must be one of {sorted(FORMATS)}, got {framework!r}")
    if meta.get("format", FORMATS[framework]) != FORMATS[framework]:
        raise ValueError(f"{json_path}: format {meta.get('format')!r} does not match framework {framework!r}")
    paths = meta.get("model_paths")
    if not isinstance(paths, list) or len(paths) != 1:
        raise ValueError(f"{json_path}: model_paths must be a list with one file name, got {paths!r}")
    params = meta.get("inference_params", {})
    if not isinstance(params, dict):
        raise ValueError(f"{json_path}: inference_params must be an object, got {params!r}")
    try:
        meta["inference_params"] = InferenceParams(**params)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{json_path}: bad inference_params: {error}") from error
    mask = meta.get("has_mask_head")
    if mask is not None and not isinstance(mask, bool):
        raise ValueError(f"{json_path}: has_mask_head must be true or false, got {mask!r}")
    return _model_file(folder, paths[0], json_path), meta


def load_folder(learner: Any, path: str | Path, verbose: bool = True) -> None:
    """Load an OpenDR folder (PyTorch or ONNX) into ``learner``; on any error the learner is unchanged."""
    file, meta = read_meta(path)
    backbone = meta.get("backbone")
    if backbone is not None and backbone != learner.backbone:
        raise ValueError(
            f"{path} holds a {backbone!r} model but the learner was created with "
            f"backbone={learner.backbone!r}"
        )
    mask = meta.get("has_mask_head")
    if meta["framework"] == "pytorch":
        from retinaface_ros.io.state_dicts import backbone_of, has_mask_head, read_state_dict

        state = read_state_dict(file)
        found = backbone_of(state)
        if found != learner.backbone:
            raise ValueError(
                f"{file} holds a {found!r} model but the learner was created with "
                f"backbone={learner.backbone!r}"
            )
        if mask is not None and mask != has_mask_head(state):
            raise ValueError(
                f"{file}: has_mask_head={mask} in the JSON but the weights say {has_mask_head(state)}"
            )
        learner.load_state_dict(state, source=str(file))  # strict; changes the learner only on success
    else:
        if file.stat().st_size == 0:
            raise ValueError(f"model file is empty: {file}")
        model_bytes = file.read_bytes()
        bad = first_non_finite_initializer(model_bytes)
        if bad is not None:
            raise ValueError(f"model file {file}: initializer {bad!r} holds NaN or infinite values")
        backend = learner.onnx_backend_for(model_bytes, str(file))
        found = backend.metadata.get("backbone")
        if found and found != learner.backbone:
            raise ValueError(
                f"{file} holds a {found!r} model but the learner was created with "
                f"backbone={learner.backbone!r}"
            )
        if mask is not None and mask != backend.has_mask_head:
            raise ValueError(
                f"{file}: has_mask_head={mask} in the JSON but the graph says {backend.has_mask_head}"
            )
        info = meta.get("optimizer_info")
        backend.info = dict(info) if isinstance(info, dict) else {}
        learner.set_onnx_backend(backend, keep_model=False)  # the ONNX graph is the model now
    learner.inference_params = meta["inference_params"]
    if verbose:
        print(f"Loaded {learner.backbone} RetinaFace ({meta['framework']}) from {file.parent}")


def first_non_finite_initializer(model_bytes: bytes) -> str | None:
    """The name of the first floating-point initializer (weight) of an ONNX graph holding NaN or ±inf;
    None when all are finite, or when the ``onnx`` package is not installed to read them."""
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError:
        return None
    try:
        graph = onnx.load_model_from_string(model_bytes).graph
    except Exception:  # noqa: BLE001 - a broken graph is onnxruntime's error to report, with its reason
        return None
    for initializer in graph.initializer:
        values = numpy_helper.to_array(initializer)
        if values.dtype.kind in "fc" and not np.isfinite(values).all():
            return initializer.name
    return None
