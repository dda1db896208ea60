"""LeNet-5 (LeCun et al. 1998) with ReLU and max pooling, sized from the input."""

from __future__ import annotations

import torch
from torch import nn


class LeNet5(nn.Module):
    """conv5(6) - pool - conv5(16) - pool - fc120 - fc84 - fc(num_classes)."""

    task = "classification"

    def __init__(self, in_channels: int, num_classes: int, input_size: int) -> None:
        super().__init__()
        side = ((input_size - 4) // 2 - 4) // 2
        if side < 1:
            raise ValueError(f"LeNet5 needs inputs of at least 16x16 pixels, got {input_size}x{input_size}")
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 6, 5),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(16 * side * side, 120),
            nn.ReLU(inplace=True),
            nn.Linear(120, 84),
            nn.ReLU(inplace=True),
            nn.Linear(84, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))
