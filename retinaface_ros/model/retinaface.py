"""The RetinaFace network: backbone → FPN → SSH → class / box / landmark (/ mask) heads."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from retinaface_ros.model.backbones import build_backbone
from retinaface_ros.model.config import ModelConfig, config_for
from retinaface_ros.model.heads import head_per_level
from retinaface_ros.model.necks import FPN, SSH


class RetinaFace(nn.Module):
    """RetinaFace with the public checkpoints' module names (``body``, ``fpn``, ``ssh1..3``, ``*Head``).

    Input: N×3×H×W float, BGR minus the channel mean. Output ``(loc, conf, landmarks[, mask])`` with shapes
    (N, P, 4), (N, P, 2), (N, P, 10) and (N, P, 2) for P priors. In eval mode ``conf`` and ``mask`` are
    softmax probabilities; in training mode they are logits.
    """

    def __init__(self, backbone: str = "mnet", with_mask_head: bool = False) -> None:
        super().__init__()
        self.config: ModelConfig = config_for(backbone)
        self.backbone_name = backbone
        self.with_mask_head = with_mask_head
        cfg = self.config
        anchors = cfg.anchors_per_location
        self.body = build_backbone(backbone)
        self.fpn = FPN(cfg.in_channels_list, cfg.out_channels)
        self.ssh1 = SSH(cfg.out_channels, cfg.out_channels)
        self.ssh2 = SSH(cfg.out_channels, cfg.out_channels)
        self.ssh3 = SSH(cfg.out_channels, cfg.out_channels)
        self.ClassHead = head_per_level(cfg.out_channels, anchors, 2)
        self.BboxHead = head_per_level(cfg.out_channels, anchors, 4)
        self.LandmarkHead = head_per_level(cfg.out_channels, anchors, 10)
        self.MaskHead = head_per_level(cfg.out_channels, anchors, 2) if with_mask_head else None

    def features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The three SSH outputs the heads read (strides 8, 16, 32)."""
        pyramid = self.fpn(self.body(x))
        return self.ssh1(pyramid[0]), self.ssh2(pyramid[1]), self.ssh3(pyramid[2])

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        features = self.features(x)
        loc = torch.cat([head(f) for head, f in zip(self.BboxHead, features, strict=True)], dim=1)
        conf = torch.cat([head(f) for head, f in zip(self.ClassHead, features, strict=True)], dim=1)
        landmarks = torch.cat([head(f) for head, f in zip(self.LandmarkHead, features, strict=True)], dim=1)
        outputs = [loc, conf, landmarks]
        if self.MaskHead is not None:
            outputs.append(
                torch.cat([head(f) for head, f in zip(self.MaskHead, features, strict=True)], dim=1)
            )
        if not self.training:
            outputs[1] = F.softmax(outputs[1], dim=-1)
            if self.MaskHead is not None:
                outputs[3] = F.softmax(outputs[3], dim=-1)
        return tuple(outputs)
