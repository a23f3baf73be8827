"""Per-backbone hyper-parameters of RetinaFace (those of the public reference implementation)."""

from __future__ import annotations

from dataclasses import dataclass

BACKBONES = ("mnet", "resnet")
MEAN_BGR = (104.0, 117.0, 123.0)  # subtracted from BGR pixels (the reference's ImageNet means)


@dataclass(frozen=True)
class ModelConfig:
    """Architecture and anchor settings for one backbone."""

    backbone: str
    in_channels_list: tuple[int, int, int]  # backbone channels at strides 8, 16, 32
    out_channels: int  # FPN / SSH width
    train_image_size: int  # square training crop
    min_sizes: tuple[tuple[int, int], ...] = ((16, 32), (64, 128), (256, 512))
    steps: tuple[int, int, int] = (8, 16, 32)
    variances: tuple[float, float] = (0.1, 0.2)
    mean_bgr: tuple[float, float, float] = MEAN_BGR

    @property
    def anchors_per_location(self) -> int:
        return len(self.min_sizes[0])


_CONFIGS = {
    "mnet": ModelConfig("mnet", (64, 128, 256), 64, 640),
    "resnet": ModelConfig("resnet", (512, 1024, 2048), 256, 840),
}


def config_for(backbone: str) -> ModelConfig:
    """The configuration of ``backbone`` ('mnet' or 'resnet')."""
    if backbone not in _CONFIGS:
        raise ValueError(f"backbone must be one of {BACKBONES}, got {backbone!r}")
    return _CONFIGS[backbone]
