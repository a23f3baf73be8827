"""Feature pyramid (FPN) and SSH context modules of RetinaFace."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from retinaface_ros.model.layers import conv_bn, conv_bn_1x1, conv_bn_no_relu


class FPN(nn.Module):
    """Top-down pyramid over three backbone levels (strides 8, 16, 32)."""

    def __init__(self, in_channels_list: tuple[int, int, int], out_channels: int) -> None:
        super().__init__()
        leaky = 0.1 if out_channels <= 64 else 0.0
        self.output1 = conv_bn_1x1(in_channels_list[0], out_channels, leaky=leaky)
        self.output2 = conv_bn_1x1(in_channels_list[1], out_channels, leaky=leaky)
        self.output3 = conv_bn_1x1(in_channels_list[2], out_channels, leaky=leaky)
        self.merge1 = conv_bn(out_channels, out_channels, leaky=leaky)
        self.merge2 = conv_bn(out_channels, out_channels, leaky=leaky)

    def forward(
        self, features: tuple[torch.Tensor, torch.Tensor, torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        out1 = self.output1(features[0])
        out2 = self.output2(features[1])
        out3 = self.output3(features[2])
        out2 = self.merge2(out2 + F.interpolate(out3, size=out2.shape[-2:], mode="nearest"))
        out1 = self.merge1(out1 + F.interpolate(out2, size=out1.shape[-2:], mode="nearest"))
        return out1, out2, out3


class SSH(nn.Module):
    """Single-stage headless context module: parallel 3×3, 5×5 and 7×7 receptive fields."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        if out_channels % 4:
            raise ValueError(f"SSH out_channels must be divisible by 4, got {out_channels}")
        leaky = 0.1 if out_channels <= 64 else 0.0
        self.conv3X3 = conv_bn_no_relu(in_channels, out_channels // 2)
        self.conv5X5_1 = conv_bn(in_channels, out_channels // 4, leaky=leaky)
        self.conv5X5_2 = conv_bn_no_relu(out_channels // 4, out_channels // 4)
        self.conv7X7_2 = conv_bn(out_channels // 4, out_channels // 4, leaky=leaky)
        self.conv7x7_3 = conv_bn_no_relu(out_channels // 4, out_channels // 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branch3 = self.conv3X3(x)
        branch5_1 = self.conv5X5_1(x)
        branch5 = self.conv5X5_2(branch5_1)
        branch7 = self.conv7x7_3(self.conv7X7_2(branch5_1))
        return F.relu(torch.cat([branch3, branch5, branch7], dim=1))
