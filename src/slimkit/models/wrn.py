"""Wide ResNet WRN-d-k (Zagoruyko & Komodakis 2016): pre-activation basic blocks, widths
16, 16k, 32k, 64k, depth 6n+4, dropout between the two convolutions of a block."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from slimkit.models.resnet import _kaiming_init


class WideBlock(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, stride: int, dropout: float) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_channels)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        needs_projection = stride != 1 or in_channels != out_channels
        self.shortcut = nn.Conv2d(in_channels, out_channels, 1, stride, bias=False) if needs_projection else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pre = F.relu(self.bn1(x))
        # the projection shortcut sees the pre-activated input, as in the reference implementation
        shortcut = x if self.shortcut is None else self.shortcut(pre)
        out = self.conv1(pre)
        out = self.conv2(self.dropout(F.relu(self.bn2(out))))
        return out + shortcut


class WideResNet(nn.Module):
    """WRN-depth-widen_factor; WRN-16-4 has 2.75M parameters, WRN-28-10 36.5M (10 classes)."""

    task = "classification"

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        input_size: int,
        depth: int = 16,
        widen_factor: int = 4,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if depth < 10 or (depth - 4) % 6:
            raise ValueError(f"WideResNet depth must be 6n+4 (10, 16, 22, 28, 40), got {depth}")
        if widen_factor < 1:
            raise ValueError(f"WideResNet widen_factor must be >= 1, got {widen_factor}")
        if input_size < 4:
            raise ValueError(f"WideResNet needs inputs of at least 4x4 pixels, got {input_size}x{input_size}")
        blocks_per_stage = (depth - 4) // 6
        widths = [16 * widen_factor, 32 * widen_factor, 64 * widen_factor]
        self.stem = nn.Conv2d(in_channels, 16, 3, 1, 1, bias=False)
        layers: list[nn.Module] = []
        in_width = 16
        for stage, width in enumerate(widths):
            for block in range(blocks_per_stage):
                stride = 2 if stage > 0 and block == 0 else 1
                layers.append(WideBlock(in_width, width, stride, dropout))
                in_width = width
        self.stages = nn.Sequential(*layers)
        self.head = nn.Sequential(
            nn.BatchNorm2d(in_width),
            nn.ReLU(inplace=True),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(in_width, num_classes),
        )
        _kaiming_init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.stages(self.stem(x)))
