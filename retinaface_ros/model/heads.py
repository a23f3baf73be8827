"""Per-anchor prediction heads: a 1×1 conv per pyramid level, flattened to (N, anchors, values)."""

from __future__ import annotations

import torch
from torch import nn


class AnchorHead(nn.Module):
    """1×1 conv predicting ``values`` numbers for each of ``num_anchors`` anchors at every location."""

    def __init__(self, in_channels: int, num_anchors: int, values: int) -> None:
        super().__init__()
        self.values = values
        self.conv1x1 = nn.Conv2d(in_channels, num_anchors * values, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv1x1(x).permute(0, 2, 3, 1)
        return out.reshape(out.shape[0], -1, self.values)


def head_per_level(in_channels: int, num_anchors: int, values: int, levels: int = 3) -> nn.ModuleList:
    """One head for each pyramid level (keys ``<Name>Head.<level>.conv1x1.*``)."""
    return nn.ModuleList(AnchorHead(in_channels, num_anchors, values) for _ in range(levels))
