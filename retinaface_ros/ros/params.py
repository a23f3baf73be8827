"""The detector node's parameters: one table, one typed and validated object, one live-update rule.

``PARAMETERS`` is the single source of truth: the node declares from it (with descriptors and ranges), the
launch-file test and ``config/detector.yaml`` are checked against it, and :meth:`DetectorParams.from_values`
validates a full set (at configure) while :meth:`DetectorParams.updated` validates a live change (from the
``add_on_set_parameters_callback``). ROS-free apart from building descriptors, so it is testable anywhere.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

from retinaface_ros.backends.registry import CHOICES as RUNTIMES
from retinaface_ros.detections import InferenceParams
from retinaface_ros.model.config import BACKBONES
from retinaface_ros.validation import check_scales

RELIABILITIES = ("auto", "best_effort", "reliable")
ANONYMIZE_METHODS = ("off", "blur", "mosaic", "solid")  # image_anonymized (retinaface_ros.privacy)
ANONYMIZE_SHAPES = ("ellipse", "box")
ANONYMIZE_ON_FAILURE = ("drop", "blur_all")
FP16_MODES = ("auto", "true", "false")
HRI_ALIGNED_STYLES = ("face", "arcface")
_DEVICE = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")
MAX_RATE_HZ = 1000.0
MAX_QOS_DEPTH = 100
MAX_CAMERAS = 16
_CAMERA_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(/[A-Za-z][A-Za-z0-9_]*)*$")  # a relative ROS namespace


@dataclass(frozen=True)
class ParamSpec:
    """One declared parameter: default, description, range, and whether it may change while configured."""

    name: str
    default: Any
    description: str
    live: bool = False
    float_range: tuple[float, float] | None = None
    int_range: tuple[int, int] | None = None
    dynamic_typing: bool = False


PARAMETERS: tuple[ParamSpec, ...] = (
    ParamSpec("backbone", "mnet", "Network backbone: 'mnet' (MobileNet0.25) or 'resnet' (ResNet-50)"),
    ParamSpec(
        "model_path",
        "",
        "Local .pth file or OpenDR model folder; changing it while running reloads the "
        "model (swapped only when the new one loads)",
        live=True,
    ),
    ParamSpec(
        "model_url",
        "",
        "When model_path is empty: mirror base URL, or 'default' (the public weights), downloaded once "
        "into model_cache_dir",
    ),
    ParamSpec("model_cache_dir", "", "Download cache for model_url ('' = ~/.cache/retinaface_ros)"),
    ParamSpec("device", "auto", "'auto' (cuda if available, else cpu), 'cpu', 'cuda' or 'cuda:N'"),
    ParamSpec("threshold", 0.8, "Face score threshold", live=True, float_range=(0.0, 1.0)),
    ParamSpec("nms_threshold", 0.4, "NMS IoU threshold", live=True, float_range=(0.0, 1.0)),
    ParamSpec(
        "scales",
        [1024, 1980],
        "[target short side, max long side] in pixels the image is resized to",
        live=True,
    ),
    ParamSpec(
        "mask_thresh",
        0.8,
        "Mask score threshold (models with a mask head)",
        live=True,
        float_range=(0.0, 1.0),
    ),
    ParamSpec(
        "fp16",
        "auto",
        "Half precision: 'auto' (on when the device is CUDA), 'true'/'false' or a bool",
        dynamic_typing=True,
    ),
    ParamSpec(
        "torch_compile",
        False,
        "CUDA only: torch.compile (inductor) the network and postprocess; fastest, but the first frame of "
        "each input size compiles for 5-15 s (ignored on the CPU)",
    ),
    ParamSpec(
        "runtime",
        "auto",
        "Inference runtime: 'auto' (torch for .pth, onnxruntime for ONNX folders), 'torch', 'onnxruntime' or "
        "'openvino' (a .pth is exported to ONNX for the last two)",
    ),
    ParamSpec(
        "providers",
        [],
        "onnxruntime execution providers in order of preference, e.g. [TensorRT, CUDA, CPU] ([] = "
        "TensorRT/CUDA when installed and the device is CUDA, then CPU)",
        dynamic_typing=True,  # an empty list has no ROS type
    ),
    ParamSpec(
        "publish_annotated", True, "Publish image_annotated (drawn only while it has subscribers)", live=True
    ),
    ParamSpec("use_compressed", False, "Subscribe to image/compressed (jpeg/png) instead of image"),
    ParamSpec(
        "cameras",
        [],
        "Camera namespaces served together ([] = one input, 'image'): camera C reads C/image and publishes "
        "C/detections, C/faces, C/image_annotated; frames waiting from several cameras run as one batch",
        dynamic_typing=True,  # an empty list has no ROS type ('cameras: []' in YAML reads as unset)
    ),
    ParamSpec(
        "qos_reliability",
        "auto",
        "Input QoS reliability: 'auto' (reliable when every publisher of the input is reliable, else "
        "best_effort; follows publishers as they come and go), 'best_effort' or 'reliable'",
    ),
    ParamSpec("qos_depth", 1, "Input QoS history depth", int_range=(1, MAX_QOS_DEPTH)),
    ParamSpec(
        "max_rate_hz",
        0.0,
        "Most frames processed per second (0 = unlimited), on the node's clock (sim time with use_sim_time)",
        live=True,
        float_range=(0.0, MAX_RATE_HZ),
    ),
    ParamSpec(
        "tracking",
        True,
        "Track faces: stable ids in Detection2D.id / FaceLandmarks.track_id, smoothed boxes and landmarks, "
        "only confirmed tracks published (false: every frame on its own, no ids)",
        live=True,
    ),
    ParamSpec(
        "track_min_hits",
        3,
        "Detections before a track is published (tracks seen in a stream's first frames: at once)",
        live=True,
        int_range=(1, 100),
    ),
    ParamSpec(
        "track_max_age_s",
        1.0,
        "Seconds a track is kept (and published, predicted) without a detection",
        live=True,
        float_range=(0.01, 60.0),
    ),
    ParamSpec("smoothing", True, "One-Euro smoothing of tracked boxes and landmarks", live=True),
    ParamSpec(
        "smoothing_min_cutoff",
        1.0,
        "One-Euro cut-off (Hz) of a still face: lower = less jitter",
        live=True,
        float_range=(0.001, 100.0),
    ),
    ParamSpec(
        "smoothing_beta",
        0.05,
        "One-Euro speed coefficient (per pixel/s): higher = less lag when moving",
        live=True,
        float_range=(0.0, 100.0),
    ),
    ParamSpec(
        "smoothing_d_cutoff",
        1.0,
        "One-Euro cut-off (Hz) of the speed estimate",
        live=True,
        float_range=(0.001, 100.0),
    ),
    ParamSpec(
        "detect_rate_hz",
        0.0,
        "With tracking: run the detector at most this often per camera (by stamps) and move tracks on the "
        "frames between (motion model, optical flow); every frame is still published (0 = every frame)",
        live=True,
        float_range=(0.0, MAX_RATE_HZ),
    ),
    ParamSpec(
        "optical_flow",
        True,
        "With detect_rate_hz: move tracks between detector runs by Lucas-Kanade optical flow",
        live=True,
    ),
    ParamSpec(
        "anonymize",
        "off",
        "Publish image_anonymized (and image_anonymized/compressed for compressed input) with faces "
        "covered: off | blur | mosaic | solid",
    ),
    ParamSpec("anonymize_shape", "ellipse", "Covered shape: ellipse | box", live=True),
    ParamSpec("anonymize_scale", 1.3, "Box enlargement about its centre", live=True, float_range=(1.0, 4.0)),
    ParamSpec(
        "anonymize_threshold",
        0.3,
        "Score threshold for covering faces (recall-biased; the detector runs at the lower of this and "
        "threshold, detections/faces still use threshold)",
        live=True,
        float_range=(0.01, 1.0),
    ),
    ParamSpec(
        "anonymize_on_failure",
        "drop",
        "A frame whose inference failed: drop (not published) | blur_all (published entirely blurred)",
        live=True,
    ),
    ParamSpec(
        "jpeg_quality", 90, "JPEG quality of image_anonymized/compressed", live=True, int_range=(1, 100)
    ),
    ParamSpec("diagnostics_period", 1.0, "Seconds between /diagnostics messages", float_range=(0.05, 60.0)),
    ParamSpec(
        "autostart", True, "main() configures and activates the node itself (no lifecycle manager needed)"
    ),
    ParamSpec(
        "hri",
        False,
        "REP 155 (ROS4HRI) face outputs: /humans/faces/tracked, /humans/faces/<id>/{roi,cropped,aligned,"
        "landmarks}, face_<id>/gaze_<id> on /tf and detections_3d (3D needs camera_info beside the image)",
    ),
    ParamSpec("hri_crop_width", 128, "REP 155 /cropped width in pixels", int_range=(16, 1024)),
    ParamSpec("hri_crop_height", 128, "REP 155 /cropped height in pixels", int_range=(16, 1024)),
    ParamSpec(
        "hri_aligned",
        "face",
        "REP 155 /aligned: 'face' (eyes levelled, the /cropped size) or 'arcface' (112x112 on the ArcFace "
        "template, for recognition models)",
    ),
    ParamSpec(
        "hri_depth_topic",
        "",
        "Depth image aligned with the colour image (16UC1 mm or 32FC1 m), beside the image topic, e.g. "
        "'aligned_depth_image'; paired by stamp, it replaces the model-based face distance ('' = none)",
    ),
    ParamSpec(
        "hri_face_linger_s",
        1.0,
        "REP 155: a lost face's topics are removed this many seconds after its track ends",
        float_range=(0.0, 3600.0),
    ),
    ParamSpec(
        "debug_delay_ms",
        0.0,
        "Test/benchmark only: extra milliseconds added after each inference to emulate a slow model",
        live=True,
        float_range=(0.0, 60000.0),
    ),
)
PARAMETER_NAMES: tuple[str, ...] = tuple(spec.name for spec in PARAMETERS)
SPECS: dict[str, ParamSpec] = {spec.name: spec for spec in PARAMETERS}


class ParameterError(ValueError):
    """A parameter value that cannot be used; the message is the reason given back to the caller."""


def with_defaults(values: Mapping[str, Any], specs: Sequence[ParamSpec]) -> dict[str, Any]:
    """``values`` with every parameter of ``specs`` it does not name at its default; ParameterError for a
    name that is not in ``specs``."""
    unknown = set(values) - {spec.name for spec in specs}
    if unknown:
        raise ParameterError(f"unknown parameter(s): {sorted(unknown)}")
    return {spec.name: values.get(spec.name, spec.default) for spec in specs}


def _as_float(name: str, value: Any, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ParameterError(f"{name} must be a number, got {type(value).__name__}")
    if not math.isfinite(value) or not low <= value <= high:
        raise ParameterError(f"{name} must be a finite number in [{low}, {high}], got {value}")
    return float(value)


def _as_int(name: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ParameterError(f"{name} must be an int in {[low, high]}, got {value!r}")
    return int(value)


def _as_str(name: str, value: Any, choices: Sequence[str] | None = None) -> str:
    if not isinstance(value, str):
        raise ParameterError(f"{name} must be a string, got {type(value).__name__}")
    if choices is not None and value not in choices:
        raise ParameterError(f"{name} must be one of {list(choices)}, got {value!r}")
    return value


def _as_bool(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ParameterError(f"{name} must be a bool, got {type(value).__name__}")
    return value


def _as_fp16(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str) and value.lower() in FP16_MODES:
        return value.lower()
    raise ParameterError(f"fp16 must be 'auto', 'true', 'false' or a bool, got {value!r}")


def _as_cameras(value: Any) -> tuple[str, ...]:
    if value is None or (isinstance(value, (list, tuple, bytes)) and len(value) == 0):
        return ()  # unset, or the empty default (declared as an empty byte array)
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        raise ParameterError(f"cameras must be a list of namespaces, e.g. [front, rear], got {value!r}")
    names = [item.strip("/") if isinstance(item, str) else item for item in value]
    bad = [name for name in names if not isinstance(name, str) or not _CAMERA_NAME.match(name)]
    if bad:
        raise ParameterError(f"cameras must be relative ROS namespaces ('front', 'cam/left'), got {bad}")
    if len(set(names)) != len(names) or len(names) > MAX_CAMERAS:
        raise ParameterError(f"cameras must be at most {MAX_CAMERAS} different names, got {names}")
    return tuple(names)


def _as_providers(value: Any) -> tuple[str, ...]:
    if value is None or (isinstance(value, (list, tuple, bytes)) and len(value) == 0):
        return ()  # unset, or the empty default (declared as an empty byte array)
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        raise ParameterError(f"providers must be a list of names, e.g. [CUDA, CPU], got {value!r}")
    if not all(isinstance(item, str) and item for item in value):
        raise ParameterError(f"providers must be non-empty strings, got {list(value)!r}")
    return tuple(value)


def _as_scales(value: Any) -> tuple[int, int]:
    try:  # the core's bounds (retinaface_ros.validation): the same for the learner, commands and node
        return check_scales(value)
    except (TypeError, ValueError) as error:
        raise ParameterError(str(error)) from None


@dataclass(frozen=True)
class DetectorParams:
    """All detector settings, validated. Build with :meth:`from_values` (the defaults are ``PARAMETERS``');
    change with :meth:`updated`."""

    backbone: str
    model_path: str
    model_url: str
    model_cache_dir: str
    device: str
    threshold: float
    nms_threshold: float
    scales: tuple[int, int]
    mask_thresh: float
    fp16: str
    torch_compile: bool
    runtime: str
    providers: tuple[str, ...]
    publish_annotated: bool
    use_compressed: bool
    cameras: tuple[str, ...]
    qos_reliability: str
    qos_depth: int
    max_rate_hz: float
    tracking: bool
    track_min_hits: int
    track_max_age_s: float
    smoothing: bool
    smoothing_min_cutoff: float
    smoothing_beta: float
    smoothing_d_cutoff: float
    detect_rate_hz: float
    optical_flow: bool
    anonymize: str
    anonymize_shape: str
    anonymize_scale: float
    anonymize_threshold: float
    anonymize_on_failure: str
    jpeg_quality: int
    diagnostics_period: float
    autostart: bool
    hri: bool
    hri_crop_width: int
    hri_crop_height: int
    hri_aligned: str
    hri_depth_topic: str
    hri_face_linger_s: float
    debug_delay_ms: float

    @classmethod
    def from_values(cls, values: Mapping[str, Any]) -> DetectorParams:
        """Validate a full set of values (missing names take their defaults); raise ParameterError."""
        merged = with_defaults(values, PARAMETERS)
        out: dict[str, Any] = {}
        for name, value in merged.items():
            spec = SPECS[name]
            if spec.float_range is not None:
                out[name] = _as_float(name, value, *spec.float_range)
            elif spec.int_range is not None:
                out[name] = _as_int(name, value, *spec.int_range)
            elif name == "scales":
                out[name] = _as_scales(value)
            elif name == "fp16":
                out[name] = _as_fp16(value)
            elif name == "cameras":
                out[name] = _as_cameras(value)
            elif name == "providers":
                out[name] = _as_providers(value)
            elif isinstance(spec.default, bool):
                out[name] = _as_bool(name, value)
            else:
                out[name] = _as_str(name, value)
        _as_str("backbone", out["backbone"], BACKBONES)
        _as_str("qos_reliability", out["qos_reliability"], RELIABILITIES)
        _as_str("runtime", out["runtime"], RUNTIMES)
        if out["providers"] and out["runtime"] not in ("auto", "onnxruntime"):
            runtime = out["runtime"]
            raise ParameterError(f"providers are an onnxruntime option, not one of runtime {runtime!r}")
        _as_str("anonymize", out["anonymize"], ANONYMIZE_METHODS)
        _as_str("anonymize_shape", out["anonymize_shape"], ANONYMIZE_SHAPES)
        _as_str("anonymize_on_failure", out["anonymize_on_failure"], ANONYMIZE_ON_FAILURE)
        _as_str("hri_aligned", out["hri_aligned"], HRI_ALIGNED_STYLES)
        if not _DEVICE.match(out["device"]):
            raise ParameterError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {out['device']!r}")
        params = cls(**out)
        params.inference  # noqa: B018 - the core's own validation of the detection settings
        return params

    def updated(self, changes: Mapping[str, Any], configured: bool = True) -> DetectorParams:
        """A copy with ``changes`` applied, validated; while configured only live parameters may change."""
        current = self.as_values()
        if configured:
            frozen = sorted(
                name
                for name in changes
                if name in SPECS and not SPECS[name].live and changes[name] != current[name]
            )
            if frozen:
                raise ParameterError(
                    f"{', '.join(frozen)} cannot change while the node is configured; "
                    "deactivate and clean it up, set the parameter, then configure again"
                )
        return DetectorParams.from_values({**current, **changes})

    def as_values(self) -> dict[str, Any]:
        """Plain parameter values (lists for arrays), e.g. for ``--ros-args -p`` or YAML."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values["scales"] = list(self.scales)
        values["cameras"] = list(self.cameras)
        values["providers"] = list(self.providers)
        return values

    @property
    def topic_prefixes(self) -> tuple[str, ...]:
        """One relative topic prefix per input: ('',) for the single 'image' input, else 'C/' per camera."""
        return tuple(f"{name}/" for name in self.cameras) or ("",)

    @property
    def inference(self) -> InferenceParams:
        """The core's detection settings."""
        try:
            return InferenceParams(self.threshold, self.nms_threshold, self.scales, self.mask_thresh)
        except (TypeError, ValueError) as error:
            raise ParameterError(str(error)) from error


def parameter_descriptors(specs: Sequence[ParamSpec] = PARAMETERS) -> dict[str, Any]:
    """name → rcl_interfaces/ParameterDescriptor (type, description, ranges, dynamic typing) of a table of
    specs (the detector's by default; the trainer node passes its own)."""
    from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, ParameterType

    descriptors = {}
    for spec in specs:
        descriptor = ParameterDescriptor(name=spec.name, description=spec.description)
        if spec.dynamic_typing:
            descriptor.dynamic_typing = True
        elif isinstance(spec.default, bool):
            descriptor.type = ParameterType.PARAMETER_BOOL
        elif isinstance(spec.default, int):
            descriptor.type = ParameterType.PARAMETER_INTEGER
        elif isinstance(spec.default, float):
            descriptor.type = ParameterType.PARAMETER_DOUBLE
        elif isinstance(spec.default, list):
            descriptor.type = ParameterType.PARAMETER_INTEGER_ARRAY
        else:
            descriptor.type = ParameterType.PARAMETER_STRING
        if spec.float_range is not None:
            descriptor.floating_point_range = [
                FloatingPointRange(from_value=spec.float_range[0], to_value=spec.float_range[1], step=0.0)
            ]
        if spec.int_range is not None:
            descriptor.integer_range = [
                IntegerRange(from_value=spec.int_range[0], to_value=spec.int_range[1], step=1)
            ]
        if not spec.live:
            descriptor.additional_constraints = "applied at configure"
        descriptors[spec.name] = descriptor
    return descriptors
