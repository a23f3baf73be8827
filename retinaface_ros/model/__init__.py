"""RetinaFace network, anchors and box coding (pure PyTorch, no ROS)."""

from retinaface_ros.model.box_coder import decode_boxes, decode_landmarks, encode_boxes, encode_landmarks
from retinaface_ros.model.config import BACKBONES, ModelConfig, config_for
from retinaface_ros.model.priors import PriorBoxes
from retinaface_ros.model.retinaface import RetinaFace

__all__ = [
    "BACKBONES",
    "ModelConfig",
    "PriorBoxes",
    "RetinaFace",
    "config_for",
    "decode_boxes",
    "decode_landmarks",
    "encode_boxes",
    "encode_landmarks",
]
