"""Meta-SR networks: a feature backbone (RDN or EDSR) followed by Meta-Upscale, one model for every scale.

``forward(lr, scale)`` maps [B, 3, h, w] images in [0, 1] to [B, 3, floor(r h), floor(r w)] for any r > 1,
integer or not. As the official code, inputs are shifted by the DIV2K mean and shifted back after upscaling.
A scale outside the trained range (``trained_scales``, set by the training method) works but warns once.
"""

from __future__ import annotations

import warnings

import torch
from torch import nn

from slimkit.models.edsr import EDSR
from slimkit.models.meta_upscale import MetaUpscale
from slimkit.models.rdn import RDN

DIV2K_MEAN = (0.4488, 0.4371, 0.4040)


class MetaSR(nn.Module):
    task = "super_resolution"

    def __init__(self, backbone: nn.Module, in_channels: int = 3, default_scale: float = 2.0) -> None:
        super().__init__()
        if in_channels != 3:
            raise ValueError(f"Meta-SR networks take RGB images (3 channels), got {in_channels}")
        self.backbone = backbone
        self.upscale = MetaUpscale(backbone.out_channels, in_channels)
        self.register_buffer("mean", torch.tensor(DIV2K_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("trained_scales", torch.tensor([1.1, 4.0]))
        self.default_scale = default_scale
        self._warned: set[float] = set()

    def forward(self, x: torch.Tensor, scale: float | None = None) -> torch.Tensor:
        scale = self.default_scale if scale is None else float(scale)
        if scale <= 1.0:
            raise ValueError(f"Meta-SR upscales: the scale must be > 1, got {scale}")
        self._warn_outside_training(scale)
        features = self.backbone(x - self.mean)
        return self.upscale(features, scale) + self.mean

    def _warn_outside_training(self, scale: float) -> None:
        if self.trained_scales.device.type == "meta" or scale in self._warned:
            return
        low, high = (float(value) for value in self.trained_scales)
        if not low - 1e-6 <= scale <= high + 1e-6:
            self._warned.add(scale)
            warnings.warn(f"scale {scale} is outside the trained range {low}..{high}", stacklevel=3)


class MetaRDN(MetaSR):
    """Meta-RDN (``model=rdn``): config B as the paper, ``small`` for CPU runs."""

    def __init__(self, in_channels: int = 3, input_size: int | None = None, config: str = "B") -> None:
        super().__init__(RDN(in_channels, config), in_channels)


class MetaEDSR(MetaSR):
    """Meta-EDSR (``model=edsr``): EDSR-baseline features (16 blocks x 64)."""

    def __init__(
        self, in_channels: int = 3, input_size: int | None = None, blocks: int = 16, features: int = 64
    ) -> None:
        super().__init__(EDSR(in_channels, blocks, features), in_channels)
