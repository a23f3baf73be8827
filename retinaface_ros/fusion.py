"""Inference-only model rewrites: fold BatchNorm into the preceding convolution.

The learner keeps its trainable, un-fused model (training, saving) and gives the detector a folded copy.
"""

from __future__ import annotations

import copy

from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval


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
