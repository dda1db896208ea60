"""VGG-16 with batch norm, the common CIFAR variant: 13 conv layers, five 2x2 max pools,
one linear classifier on the 512 pooled features (14.7M parameters for 10 classes)."""

from __future__ import annotations

import torch
from torch import nn

from slimkit.models.resnet import _kaiming_init

VGG16_LAYOUT: list[int | str] = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]


class VGG16(nn.Module):
    task = "classification"

    def __init__(self, in_channels: int, num_classes: int, input_size: int, dropout: float = 0.0) -> None:
        super().__init__()
        if input_size < 32:
            raise ValueError(
                f"VGG16 halves the input five times and needs at least 32x32, got {input_size}x{input_size}"
            )
        layers: list[nn.Module] = []
        width = in_channels
        for item in VGG16_LAYOUT:
            if item == "M":
                layers.append(nn.MaxPool2d(2))
            else:
                layers += [
                    nn.Conv2d(width, int(item), 3, padding=1, bias=False),
                    nn.BatchNorm2d(int(item)),
                    nn.ReLU(True),
                ]
                width = int(item)
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout), nn.Linear(width, num_classes)
        )
        _kaiming_init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))
