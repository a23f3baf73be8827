"""RetinaFaceLearner: the OpenDR-style facade over model, inference, training, evaluation and model files.

It validates arguments, holds the model and its settings, and delegates the work to one module per job.
"""

from __future__ import annotations

import enum
import numbers
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from retinaface_ros.backends import registry
from retinaface_ros.detections import Detections, InferenceParams
from retinaface_ros.devices import cuda_available, free_cuda_memory, resolve_device
from retinaface_ros.inference.detector import Detector, as_bgr_image
from retinaface_ros.inference.options import DetectorOptions
from retinaface_ros.model.config import BACKBONES, ModelConfig, config_for
from retinaface_ros.types import BoundingBoxList, Image
from retinaface_ros.validation import (
    check_batch_size,
    check_fits_in_memory,
    check_fp16,
    check_training_value,
    detection_cost,
    parse_lr_steps,
)

if TYPE_CHECKING:
    import torch

    from retinaface_ros.model.retinaface import RetinaFace

CLASSES = ["face", "masked_face"]
__all__ = ["CLASSES", "RetinaFaceLearner", "cuda_available", "free_cuda_memory", "resolve_device"]


class _Default(enum.Enum):
    """Marks an argument left to ``learner.inference_params`` where None means something else."""

    PARAMS = "learner.inference_params"


def _plain_number(value: Any) -> Any:
    """A numpy scalar (np.float32, np.int64, ...) as the Python number; anything else unchanged."""
    if isinstance(value, np.generic) and isinstance(value, numbers.Real) and not isinstance(value, np.bool_):
        return value.item()
    return value


class RetinaFaceLearner:
    """Face detector with 5 landmarks (RetinaFace), MobileNet0.25 ('mnet') or ResNet-50 ('resnet')."""

    def __init__(
        self,
        backbone: str = "resnet",
        lr: float = 0.001,
        batch_size: int = 2,
        checkpoint_after_iter: int = 0,
        checkpoint_load_iter: int = 0,
        lr_steps: str = "0",
        epochs: int = 100,
        momentum: float = 0.9,
        weight_decay: float = 5e-4,
        log_after: int = 20,
        prefix: str = "",
        shuffle: bool = True,
        flip: bool = False,
        val_after: int = 5,
        temp_path: str = "",
        device: str | torch.device = "cuda",
        fp16: bool = False,
        torch_compile: bool = False,
        runtime: str = "auto",
        providers: Sequence[str] = (),
    ) -> None:
        if backbone not in BACKBONES:
            raise ValueError(f"backbone must be one of {BACKBONES}, got {backbone!r}")
        lr = check_training_value("lr", lr)
        batch_size = check_training_value("batch_size", batch_size)
        checkpoint_after_iter = check_training_value("checkpoint_after_iter", checkpoint_after_iter)
        checkpoint_load_iter = check_training_value("checkpoint_load_iter", checkpoint_load_iter)
        self.lr_steps_list = parse_lr_steps(lr_steps)
        epochs = check_training_value("epochs", epochs)
        momentum = check_training_value("momentum", momentum)
        weight_decay = check_training_value("weight_decay", weight_decay)
        log_after = check_training_value("log_after", log_after)
        val_after = check_training_value("val_after", val_after)
        for name, value in (("prefix", prefix), ("temp_path", temp_path)):
            if not isinstance(value, str):
                raise TypeError(f"{name} must be a string, got {type(value).__name__}")
        flags = (("shuffle", shuffle), ("flip", flip), ("fp16", fp16), ("torch_compile", torch_compile))
        for name, value in flags:
            if not isinstance(value, bool):
                raise TypeError(f"{name} must be a bool, got {type(value).__name__}")
        self.device = resolve_device(device)
        check_fp16(fp16, self.device.type)
        if torch_compile and self.device.type != "cuda":
            raise ValueError("torch_compile=True needs a CUDA device; use torch_compile=False on the CPU")
        self.runtime = registry.check_runtime(runtime)
        if isinstance(providers, str) or not all(isinstance(p, str) for p in providers):
            raise TypeError(f"providers must be a list of provider names, got {providers!r}")
        if providers and runtime not in ("auto", "onnxruntime"):
            raise ValueError(f"providers are an onnxruntime option, not one of runtime={runtime!r}")
        self.providers = tuple(providers)

        self.backbone = backbone
        self.lr = lr
        self.batch_size = batch_size
        self.checkpoint_after_iter = checkpoint_after_iter
        self.checkpoint_load_iter = checkpoint_load_iter
        self.lr_steps = lr_steps
        self.epochs = epochs
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.log_after = log_after
        self.prefix = prefix
        self.shuffle = shuffle
        self.flip = flip
        self.val_after = val_after
        self.temp_path = temp_path
        self.fp16 = fp16
        self.torch_compile = torch_compile
        self.classes = list(CLASSES)
        self.inference_params = InferenceParams()
        self.model: RetinaFace | None = None
        self.onnx_backend: Any = None  # the ONNX graph's backend: set by optimize() / loading an ONNX folder
        self._detector: Detector | None = None

    @property
    def ort_session(self) -> Any:
        """The ONNX graph's backend (onnxruntime or OpenVINO), None for a torch model (older name of
        ``onnx_backend``)."""
        return self.onnx_backend

    @ort_session.setter
    def ort_session(self, backend: Any) -> None:
        self.onnx_backend = backend

    # ----------------------------------------------------------------------------------------- model state
    @property
    def config(self) -> ModelConfig:
        """The backbone's network and training settings (anchors, variances, image size, ...)."""
        return config_for(self.backbone)

    def init_model(self, with_mask_head: bool = False) -> RetinaFace:
        """Build a freshly initialised network for ``self.backbone`` and make it the learner's model."""
        from retinaface_ros.model.retinaface import RetinaFace

        self.set_model(RetinaFace(self.backbone, with_mask_head=with_mask_head))
        return self.model  # type: ignore[return-value]

    def set_model(self, model: RetinaFace) -> None:
        """Adopt ``model`` (moved to the device, eval mode) for inference; drops any ONNX graph."""
        from retinaface_ros.model.retinaface import RetinaFace

        if not isinstance(model, RetinaFace):
            raise TypeError(f"model must be a retinaface_ros.model.RetinaFace, got {type(model).__name__}")
        if model.backbone_name != self.backbone:
            raise ValueError(
                f"model backbone {model.backbone_name!r} does not match learner backbone {self.backbone!r}"
            )
        self.model = model.to(self.device).eval()
        self.onnx_backend = None
        self._refresh_detector()

    def set_onnx_backend(self, backend: Any, keep_model: bool) -> None:
        """Run inference with ``backend`` (an ONNX graph on onnxruntime or OpenVINO, from
        :func:`~.backends.registry.onnx_backend`); ``keep_model=False`` drops the torch model (the ONNX
        graph is the model now, as after loading one)."""
        if not keep_model:
            self.model = None
        self.onnx_backend = backend
        self._refresh_detector()

    def detector_options(self) -> DetectorOptions:
        """The torch detector's options: fp16 and torch_compile from the learner, the rest default."""
        return DetectorOptions(fp16=self.fp16, torch_compile=self.torch_compile)

    def _refresh_detector(self) -> None:
        """Build the detector over the backend ``runtime`` chooses: the ONNX graph's, or a torch inference
        copy of ``self.model`` (BatchNorm folded, fp16 when ``fp16``, channels_last, compiled with
        ``torch_compile``; ``self.model`` stays the trainable fp32 module that ``save`` and ``fit`` use),
        or with ``runtime`` onnxruntime / openvino an ONNX export of it."""
        exported = self.runtime in ("onnxruntime", "openvino")
        if self.onnx_backend is None and self.model is not None and exported:
            from retinaface_ros.backends.onnxruntime import export_onnx, optimizer_info

            backend = self.onnx_backend_for(export_onnx(self.model, False, self.backbone), "exported model")
            backend.info = optimizer_info(backend, False)
            self.onnx_backend = backend
        if self.onnx_backend is not None:
            self._detector = Detector(self.onnx_backend, self.config)
            return
        assert self.model is not None
        if self.runtime not in ("auto", "torch"):
            raise ValueError(f"runtime={self.runtime!r} cannot run a PyTorch model")
        options = self.detector_options()
        backend = registry.torch_backend(self.model, self.device, options)
        self._detector = Detector(backend, self.config, options)

    def onnx_backend_for(self, model_bytes: bytes, source: str) -> Any:
        """A backend for ``model_bytes`` (an ONNX graph) on the learner's ``runtime`` (auto or torch:
        onnxruntime, OpenVINO when only that is installed), ``providers`` and device."""
        runtime = "auto" if self.runtime == "torch" else self.runtime
        return registry.onnx_backend(
            model_bytes, runtime, str(self.device), source, self.providers, self.config.mean_bgr
        )

    def load(self, path: str | Path, verbose: bool = True) -> None:
        """Load a model: an OpenDR model folder (PyTorch or ONNX) or a public ``.pth`` state dict.

        On any error the learner is left as it was.
        """
        path = Path(path)
        if path.is_dir() or path.suffix == ".json":
            from retinaface_ros.io.model_folder import load_folder

            load_folder(self, path, verbose=verbose)
            return
        from retinaface_ros.io.state_dicts import read_state_dict

        state = read_state_dict(path)
        self.load_state_dict(state, source=str(path))
        if verbose:
            print(f"Loaded {self.backbone} RetinaFace from {path}")

    def load_state_dict(self, state: dict[str, torch.Tensor], source: str = "state dict") -> None:
        """Build the network for the state dict (backbone checked, mask head found) and load it strictly."""
        from retinaface_ros.io.state_dicts import backbone_of, first_non_finite, has_mask_head
        from retinaface_ros.model.retinaface import RetinaFace

        found = backbone_of(state)
        if found != self.backbone:
            raise ValueError(
                f"{source} holds a {found!r} model but the learner has backbone={self.backbone!r}"
            )
        bad = first_non_finite(state)
        if bad is not None:
            raise ValueError(
                f"{source}: tensor {bad!r} holds NaN or infinite values (a corrupt or diverged model)"
            )
        model = RetinaFace(self.backbone, with_mask_head=has_mask_head(state))
        try:
            model.load_state_dict(state, strict=True)
        except RuntimeError as error:
            raise ValueError(f"{source} does not fit the {self.backbone} RetinaFace: {error}") from error
        self.set_model(model)

    # ----------------------------------------------------------------------------------------- inference
    @property
    def detector(self) -> Detector:
        """The inference pipeline of the loaded model (its backend, options, counters, caches)."""
        if self._detector is None:
            raise ValueError("no model loaded: call load(path) (or download() then load) before infer")
        return self._detector

    def _params(
        self,
        threshold: float | None,
        nms_threshold: float | None,
        scales: Sequence[int] | None,
        mask_thresh: float | None,
    ) -> InferenceParams:
        """The given settings, each None taken from ``self.inference_params`` (saved with the model)."""
        base = self.inference_params
        return InferenceParams(
            base.threshold if threshold is None else _plain_number(threshold),
            base.nms_threshold if nms_threshold is None else _plain_number(nms_threshold),
            base.scales if scales is None else tuple(scales) if isinstance(scales, list) else scales,
            base.mask_thresh if mask_thresh is None else _plain_number(mask_thresh),
        )

    def infer(
        self,
        img: Image | np.ndarray,
        threshold: float | None = None,
        nms_threshold: float | None = None,
        scales: Sequence[int] | None = None,
        mask_thresh: float | None = None,
    ) -> BoundingBoxList:
        """Detect faces; boxes and landmarks in the original image's pixels, clipped to the image.

        Settings left None come from ``self.inference_params`` (default 0.8, 0.4, (1024, 1980), 0.8;
        ``load`` restores those saved with an OpenDR folder).
        """
        params = self._params(threshold, nms_threshold, scales, mask_thresh)
        image = as_bgr_image(img)
        detector = self.detector
        self.check_memory([image], params)
        return detector.detect(image, params).to_bounding_boxes()

    def infer_batch(
        self,
        images: Sequence[Image | np.ndarray],
        threshold: float | None = None,
        nms_threshold: float | None = None,
        scales: Sequence[int] | None = None,
        mask_thresh: float | None = None,
    ) -> list[BoundingBoxList]:
        """``infer`` on several images (mixed sizes allowed); equal-size images share a forward pass."""
        found = self.detect_arrays_batch(images, threshold, nms_threshold, scales, mask_thresh)
        return [detections.to_bounding_boxes() for detections in found]

    def detect_arrays_batch(
        self,
        images: Sequence[Image | np.ndarray],
        threshold: float | None = None,
        nms_threshold: float | None = None,
        scales: Sequence[int] | None = None,
        mask_thresh: float | None = None,
    ) -> list[Detections]:
        """``infer_batch`` returning numpy arrays (one :class:`Detections` per image), e.g. for the ROS node's
        batch of cameras."""
        if isinstance(images, (np.ndarray, Image)) or not isinstance(images, Sequence):
            raise TypeError("images must be a list of Image / HWC BGR uint8 arrays")
        params = self._params(threshold, nms_threshold, scales, mask_thresh)
        arrays = [as_bgr_image(img) for img in images]
        check_batch_size(len(arrays))
        detector = self.detector
        self.check_memory(arrays, params)
        return detector.detect_batch(arrays, params) if arrays else []

    def detect_arrays(
        self,
        img: Image | np.ndarray,
        threshold: float | None = None,
        nms_threshold: float | None | Literal[_Default.PARAMS] = _Default.PARAMS,
        scales: Sequence[int] | None = None,
        mask_thresh: float | None = None,
    ) -> Detections:
        """Like ``infer`` but returns numpy arrays; ``nms_threshold=None`` skips NMS (for TTA merging), and
        leaving it out takes ``self.inference_params.nms_threshold``."""
        skip_nms = nms_threshold is None
        params = self._params(
            threshold, None if nms_threshold is _Default.PARAMS else nms_threshold, scales, mask_thresh
        )
        image = as_bgr_image(img)
        detector = self.detector
        self.check_memory([image], params)
        return detector.detect_batch([image], params, apply_nms=not skip_nms)[0]

    def check_memory(self, images: Sequence[np.ndarray], params: InferenceParams) -> None:
        """Refuse (:class:`~retinaface_ros.validation.ResourceError`) a detection call whose estimated peak
        memory (:func:`~retinaface_ros.validation.detection_cost`) exceeds what is available now: the RAM
        on the CPU, the GPU's free plus cached memory on CUDA."""
        if not images:
            return
        cost = detection_cost([image.shape[:2] for image in images], params.scales, self.backbone)
        what = f"{len(images)} image(s) at scales {list(params.scales)} ({cost.network_pixels:,} px)"
        device = self._detector.device if self._detector is not None else None
        if self._detector is not None and self._detector.backend.name == "torch" and device.type == "cuda":
            import torch

            free = torch.cuda.mem_get_info(device)[0]
            cached = torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)
            check_fits_in_memory(cost.bytes, f"{what} on {device}", available=free + cached)
        else:
            check_fits_in_memory(cost.bytes, what)

    # ----------------------------------------------------------------------------------------- other jobs
    def fit(
        self,
        dataset,
        val_dataset=None,
        from_scratch: bool = False,
        silent: bool = False,
        verbose: bool = True,
        **kwargs: Any,
    ) -> dict:
        """Train on a DetectionDataset; returns per-epoch loss lists (and val metrics when computed).

        The learner's settings (and ``image_size``, ``augment``, ``num_workers``, ``seed`` given here) make
        the :class:`~retinaface_ros.training.config.TrainingConfig`; :func:`retinaface_ros.training.loop.fit`
        trains the loaded model (fine-tune; an ONNX-only learner is refused), random weights
        (``from_scratch``), the ImageNet backbone (``pretrained_backbone`` or downloaded) or the checkpoint
        ``checkpoint_load_iter`` names; ``callback`` and ``should_stop`` go to it too. The learner then
        holds the trained model; on any error it keeps its pre-fit model and weights.
        """
        from retinaface_ros.training.config import TrainingConfig
        from retinaface_ros.training.loop import fit

        run_options = {
            name: kwargs.pop(name)
            for name in ("pretrained_backbone", "callback", "should_stop")
            if name in kwargs
        }
        unknown = set(kwargs) - {"image_size", "augment", "num_workers", "seed"}
        if unknown:
            raise TypeError(f"fit() got unexpected keyword argument(s) {sorted(unknown)}")
        config = TrainingConfig.from_learner(self, from_scratch=from_scratch, **kwargs)
        self.lr_steps_list = list(config.lr_steps)
        if not (from_scratch or config.resuming or self.model is not None or self.ort_session is None):
            raise ValueError(
                "the loaded model is ONNX and cannot be fine-tuned; load the .pth/OpenDR folder or pass "
                "from_scratch=True"
            )
        before = (self.model, self.ort_session, self._detector, self.device)
        try:
            result = fit(
                self.model,
                config,
                dataset,
                val_dataset,
                device=self.device,
                validate=self._validate_during_fit,
                silent=silent,
                verbose=verbose,
                **run_options,
            )
            self.device = result.device  # under torchrun each rank keeps its own GPU
            self.set_model(result.model)
        except BaseException:
            self.model, self.ort_session, self._detector, self.device = before
            raise
        return result.history

    def _validate_during_fit(self, model: RetinaFace, dataset: Any) -> dict:
        """``fit``'s validation: the learner adopts the epoch's weights (so progress callbacks, e.g. the
        TensorBoard pictures, see them), then a quick ``eval`` (one scale, no flip)."""
        self.set_model(model)
        return self.eval(dataset, verbose=False, pyramid=False, flip=False)

    def eval(
        self,
        dataset,
        verbose: bool = True,
        use_subset: bool = False,
        subset_size: int = 250,
        pyramid: bool = True,
        flip: bool = True,
        predictions_dir: str | Path | None = None,
        **kwargs: Any,
    ) -> dict:
        """Recall and AP (+ WIDER easy/medium/hard AP when the .mat ground truth is available).

        ``predictions_dir`` also writes WIDER txt predictions; further keywords (``ground_truth_dir``,
        ``threshold``, ``nms_threshold``, ``seed``) go to
        :func:`retinaface_ros.evaluation.evaluate.evaluate_learner`.
        """
        from retinaface_ros.evaluation.evaluate import evaluate_learner

        return evaluate_learner(
            self,
            dataset,
            verbose=verbose,
            use_subset=use_subset,
            subset_size=subset_size,
            pyramid=pyramid,
            flip=flip,
            predictions_dir=predictions_dir,
            **kwargs,
        )

    def save(self, path: str | Path, verbose: bool = True) -> Path:
        """Write the model as an OpenDR folder; see :func:`retinaface_ros.io.model_folder.save_folder`."""
        from retinaface_ros.io.model_folder import save_folder

        return save_folder(self, path, verbose=verbose)

    def download(
        self,
        path: str | Path | None = None,
        mode: str = "pretrained",
        verbose: bool = True,
        url: str | None = None,
    ) -> Path:
        """Fetch weights, backbones, sample images or test data (the file, or the folder for
        'annotations' / 'test_data'); see :mod:`retinaface_ros.io.download`."""
        from retinaface_ros.io.download import download

        return download(self.backbone, path=path, mode=mode, verbose=verbose, url=url)

    def optimize(self, do_constant_folding: bool = False) -> None:
        """Export to ONNX and run inference with it from now on (onnxruntime, or the ``runtime`` given);
        the torch model is kept for ``fit``."""
        if self.model is None:
            if self.onnx_backend is not None:
                return  # loaded from an ONNX folder: already optimized, nothing to export
            raise ValueError("no model loaded: call load(path) or init_model() before optimize()")
        from retinaface_ros.backends.onnxruntime import export_onnx, optimizer_info

        graph = export_onnx(self.model, do_constant_folding, self.backbone)
        backend = self.onnx_backend_for(graph, "exported model")
        backend.info = optimizer_info(backend, do_constant_folding)
        self.set_onnx_backend(backend, keep_model=True)

    def reset(self) -> None:
        """Forget the loaded model and give its GPU memory back."""
        self.model = None
        self.onnx_backend = None
        self._detector = None
        if self.device.type == "cuda":
            free_cuda_memory()
