"""EDSR-baseline (Lim et al. 2017) as a feature extractor for Meta-SR: a 3x3 head, residual blocks
(conv-ReLU-conv, no BN, residual scaling) and a 3x3 tail with the global residual; no upsampler."""

from __future__ import annotations

import torch
from torch import nn


class ResBlock(nn.Module):
    def __init__(self, features: int, res_scale: float) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(features, features, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(features, features, 3, padding=1),
        )
        self.res_scale = res_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.res_scale * self.body(x)


class EDSR(nn.Module):
    """EDSR-baseline by default: 16 blocks of 64 features, residual scale 1."""

    def __init__(self, in_channels: int = 3, blocks: int = 16, features: int = 64, res_scale: float = 1.0) -> None:
        super().__init__()
        self.out_channels = features
        self.head = nn.Conv2d(in_channels, features, 3, padding=1)
        self.body = nn.Sequential(*(ResBlock(features, res_scale) for _ in range(blocks)))
        self.tail = nn.Conv2d(features, features, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.head(x)
        return x + self.tail(self.body(x))
