"""Residual Dense Network (Zhang et al. 2018) as a feature extractor for Meta-SR: shallow features, D residual
dense blocks of C densely connected 3x3 convs (growth G) with local fusion and residual, global fusion and
the global residual; no upsampler (Meta-Upscale follows). Config B (Meta-SR's): D 16, C 8, G 64, G0 64."""

from __future__ import annotations

import torch
from torch import nn

RDN_CONFIGS = {"A": (20, 6, 32, 64), "B": (16, 8, 64, 64), "small": (4, 3, 16, 32)}  # (D, C, G, G0)


class ResidualDenseBlock(nn.Module):
    def __init__(self, features: int, growth: int, layers: int) -> None:
        super().__init__()
        self.convs = nn.ModuleList(
            nn.Sequential(nn.Conv2d(features + index * growth, growth, 3, padding=1), nn.ReLU(inplace=True))
            for index in range(layers)
        )
        self.fuse = nn.Conv2d(features + layers * growth, features, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        states = [x]
        for conv in self.convs:
            states.append(conv(torch.cat(states, dim=1)))
        return x + self.fuse(torch.cat(states, dim=1))


class RDN(nn.Module):
    def __init__(self, in_channels: int = 3, config: str = "B") -> None:
        super().__init__()
        if config not in RDN_CONFIGS:
            raise ValueError(f"RDN config must be one of {sorted(RDN_CONFIGS)}, got {config!r}")
        blocks, layers, growth, features = RDN_CONFIGS[config]
        self.out_channels = features
        self.shallow1 = nn.Conv2d(in_channels, features, 3, padding=1)
        self.shallow2 = nn.Conv2d(features, features, 3, padding=1)
        self.blocks = nn.ModuleList(ResidualDenseBlock(features, growth, layers) for _ in range(blocks))
        self.fuse = nn.Sequential(
            nn.Conv2d(blocks * features, features, 1), nn.Conv2d(features, features, 3, padding=1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        first = self.shallow1(x)
        x = self.shallow2(first)
        outputs = []
        for block in self.blocks:
            x = block(x)
            outputs.append(x)
        return first + self.fuse(torch.cat(outputs, dim=1))
