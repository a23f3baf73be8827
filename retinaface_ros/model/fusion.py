"""Inference-only model rewrites: fold BatchNorm into the preceding convolution; merge the heads; on CUDA,
give each ReLU to the convolution before it (one cuDNN call).

The learner keeps its trainable, un-fused model (training, saving) and gives the detector a rewritten copy.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from retinaface_ros.model.backbones import Bottleneck, ResNet50
from retinaface_ros.model.retinaface import RetinaFace


def fold_batchnorm(model: nn.Module) -> nn.Module:
    """An eval-mode deep copy of ``model`` with every Conv2d → BatchNorm2d pair folded into one Conv2d.

    Pairs are found as consecutive children of an ``nn.Sequential`` (the BN is dropped) and as ``convN`` /
    ``bnN`` attributes of one module (the BN becomes ``nn.Identity``), which covers RetinaFace's MobileNet,
    ResNet-50, FPN and SSH blocks. ``model`` itself is left untouched.
    """
    folded = copy.deepcopy(model).eval()
    _fold(folded)
    return folded


def count_batchnorm(model: nn.Module) -> int:
    """How many BatchNorm2d modules are left in ``model``."""
    return sum(isinstance(m, nn.BatchNorm2d) for m in model.modules())


def _fold(module: nn.Module) -> None:
    children = module._modules
    if isinstance(module, nn.Sequential):
        names = list(children)
        for first, second in zip(names, names[1:], strict=False):
            conv, bn = children.get(first), children.get(second)
            if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d):
                children[first] = fuse_conv_bn_eval(conv, bn)
                del children[second]
    for name in list(children):
        conv = children[name]
        if name.startswith("conv") and isinstance(conv, nn.Conv2d):
            bn_name = "bn" + name[len("conv") :]
            bn = children.get(bn_name)
            if isinstance(bn, nn.BatchNorm2d):
                children[name] = fuse_conv_bn_eval(conv, bn)
                children[bn_name] = nn.Identity()
    for child in module.children():
        _fold(child)


class MergedHeadsRetinaFace(nn.Module):
    """A RetinaFace in eval mode whose box, class, landmark (and mask) heads are one 1×1 conv per level.

    Same outputs as the model's eval forward (a level's merged conv computes the heads' own dot products;
    identical on the CPU). Its channels are ordered anchor by anchor (box, class, landmarks[, mask]), so
    one permute + reshape per level and one concatenation give N×P×(4+2+10[+2]), and the outputs are views
    of it: 3 convs and 1 concatenation where the heads had 9 (12 with the mask head) and 3 (4), and in
    NCHW layout 3 reshape copies instead of 9 (12). The backbone, FPN and SSH are ``model``'s own modules.
    """

    def __init__(self, model: RetinaFace) -> None:
        super().__init__()
        self.model = model
        groups = [model.BboxHead, model.ClassHead, model.LandmarkHead]
        if model.MaskHead is not None:
            groups.append(model.MaskHead)
        self.with_mask_head = model.MaskHead is not None
        self.splits = [group[0].values for group in groups]
        self.heads = nn.ModuleList(
            _merge_convs([group[level].conv1x1 for group in groups], self.splits) for level in range(3)
        )

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        levels = []
        for head, feature in zip(self.heads, self.model.features(x), strict=True):
            out = head(feature).permute(0, 2, 3, 1)
            levels.append(out.reshape(out.shape[0], -1, sum(self.splits)))
        outputs = list(torch.cat(levels, dim=1).split(self.splits, dim=-1))
        outputs[1] = F.softmax(outputs[1], dim=-1)
        if self.with_mask_head:
            outputs[3] = F.softmax(outputs[3], dim=-1)
        return tuple(outputs)


def merge_heads(model: RetinaFace) -> MergedHeadsRetinaFace:
    """:class:`MergedHeadsRetinaFace` (eval mode) over ``model``'s modules; ``model`` is not changed."""
    return MergedHeadsRetinaFace(model).eval()


def _merge_convs(convs: list[nn.Conv2d], values: list[int]) -> nn.Conv2d:
    """One 1×1 conv with, for each anchor in turn, its ``values[i]`` output channels of each ``convs[i]``."""
    anchors = convs[0].out_channels // values[0]
    weight = torch.cat([c.weight.reshape(anchors, v, -1) for c, v in zip(convs, values, strict=True)], 1)
    bias = torch.cat([c.bias.reshape(anchors, v) for c, v in zip(convs, values, strict=True)], 1)
    merged = nn.Conv2d(convs[0].in_channels, bias.numel(), kernel_size=1).to(weight.device, weight.dtype)
    with torch.no_grad():
        merged.weight.copy_(weight.reshape(merged.weight.shape))
        merged.bias.copy_(bias.reshape(-1))
    return merged


class ConvReLU(nn.Module):
    """``relu(conv(x))``; on CUDA one cuDNN call (convolution, bias and ReLU fused: no extra pass over the
    output)."""

    def __init__(self, conv: nn.Conv2d) -> None:
        super().__init__()
        self.conv = conv

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = self.conv
        if x.is_cuda:
            return torch.cudnn_convolution_relu(
                x, c.weight, c.bias, c.stride, c.padding, c.dilation, c.groups
            )
        return F.relu(c(x))


class FusedBottleneck(nn.Module):
    """A BN-folded :class:`Bottleneck` as three cuDNN calls on CUDA: conv+ReLU, conv+ReLU and
    conv + residual add + ReLU (torchvision's block did 3 convs, 2 ReLUs, 1 add and 1 ReLU)."""

    def __init__(self, block: Bottleneck) -> None:
        super().__init__()
        self.conv1, self.conv2 = ConvReLU(block.conv1), ConvReLU(block.conv2)
        self.conv3 = block.conv3
        self.downsample = block.downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.conv2(self.conv1(x))
        c = self.conv3
        if x.is_cuda:
            return torch.cudnn_convolution_add_relu(
                out, c.weight, identity, 1.0, c.bias, c.stride, c.padding, c.dilation, c.groups
            )
        return F.relu(c(out) + identity)


def fuse_relu(model: nn.Module) -> int:
    """Rewrite a BN-folded model in place so that each convolution followed by a plain ReLU is a
    :class:`ConvReLU` (R50's bottlenecks become :class:`FusedBottleneck`); returns how many convolutions now
    carry their ReLU. LeakyReLU with a slope (MobileNet's 0.1) has no cuDNN fusion and is left alone.

    On an H200 this took R50's 1820×1024 fp16 network from 3.32 to 1.87 ms (README, Benchmarks). Blocks whose
    BatchNorm is not folded are left alone.
    """
    fused = 0
    for module in list(model.modules()):
        children = module._modules
        for name, child in list(children.items()):
            if isinstance(child, Bottleneck) and _folded(child, "bn1", "bn2", "bn3"):
                children[name] = FusedBottleneck(child)
                fused += 3
        if isinstance(module, nn.Sequential) and len(module) == 2:
            conv, act = module[0], module[1]
            if isinstance(conv, nn.Conv2d) and _plain_relu(act):
                children.clear()
                module.add_module("0", ConvReLU(conv))
                fused += 1
        if isinstance(module, ResNet50) and _folded(module, "bn1") and _plain_relu(module.relu):
            module.conv1, module.relu = ConvReLU(module.conv1), nn.Identity()  # the stem: relu(conv1(x))
            fused += 1
    return fused


def _folded(module: nn.Module, *names: str) -> bool:
    return all(isinstance(getattr(module, name), nn.Identity) for name in names)


def _plain_relu(module: nn.Module) -> bool:
    return isinstance(module, nn.ReLU) or (isinstance(module, nn.LeakyReLU) and module.negative_slope == 0.0)
