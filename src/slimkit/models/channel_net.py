"""Plain networks of any channel widths built from a ``NetSpec``: MobileNetV1, MobileNetV2 and a CIFAR-size
ResNet at full width (``model=mobilenet_v2``) or at the widths of an encoding (a MetaPruning search's
``best.json``, or a uniform ratio), with normal affine BN, trained from scratch like any model."""

from __future__ import annotations

import json
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from slimkit.models.channel_spec import (
    Activation,
    ConvSpec,
    MobileNetV2Layout,
    NetSpec,
    layer_widths,
    mobilenet_v1_spec,
    mobilenet_v2_spec,
    resnet_spec,
)
from slimkit.models.resnet import _kaiming_init

Encoding = Sequence[float] | str | None


def activate(x: torch.Tensor, activation: Activation) -> torch.Tensor:
    if activation == "relu":
        return F.relu(x)
    if activation == "relu6":
        return F.relu6(x)
    return x


def resolve_encoding(spec: NetSpec, encoding: Encoding) -> tuple[float, ...]:
    """A ratio per gene from a list, JSON text, a search's ``best.json`` file (``{"encoding": [...]}``) or
    None (full width)."""
    if encoding is None:
        return spec.full_encoding()
    if isinstance(encoding, str):
        text = encoding
        if not encoding.lstrip().startswith(("{", "[")):
            try:
                text = open(encoding).read()  # noqa: SIM115 - a short read
            except OSError as error:
                raise ValueError(f"cannot read the encoding file {encoding}: {error.strerror}") from None
        data = json.loads(text)
        encoding = data["encoding"] if isinstance(data, dict) else data
    ratios = tuple(float(ratio) for ratio in encoding)
    layer_widths(spec, ratios)  # checks length and range
    return ratios


class ConvBN(nn.Module):
    def __init__(self, conv: ConvSpec, in_width: int, out_width: int) -> None:
        super().__init__()
        groups = out_width if conv.depthwise else 1
        self.conv = nn.Conv2d(
            in_width, out_width, conv.kernel, conv.stride, conv.kernel // 2, groups=groups, bias=False
        )
        self.bn = nn.BatchNorm2d(out_width)
        self.activation = conv.activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return activate(self.bn(self.conv(x)), self.activation)


class ChannelNet(nn.Module):
    """The network of ``spec`` at the widths of ``encoding`` (one ratio per gene; None = full width)."""

    task = "classification"

    def __init__(self, spec: NetSpec, encoding: Encoding = None) -> None:
        super().__init__()
        self.spec = spec
        self.encoding = resolve_encoding(spec, encoding)
        widths, features = layer_widths(spec, self.encoding)
        self.layers = nn.ModuleList(ConvBN(conv, *width) for conv, width in zip(spec.convs, widths, strict=True))
        self.classifier = nn.Linear(features, spec.num_classes)
        _kaiming_init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.spec.blocks:
            block_input = x
            for index in block.convs:
                x = self.layers[index](x)
            if block.shortcut == "identity":
                x = x + block_input
            elif block.shortcut != "none":
                x = x + self.layers[block.shortcut](block_input)
            x = activate(x, block.activation)
        return self.classifier(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


class MobileNetV1(ChannelNet):
    def __init__(
        self, in_channels: int, num_classes: int, input_size: int, width_mult: float = 1.0, encoding: Encoding = None
    ) -> None:
        super().__init__(mobilenet_v1_spec(in_channels, num_classes, input_size, width_mult), encoding)


class MobileNetV2(ChannelNet):
    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        input_size: int,
        width_mult: float = 1.0,
        last_width: int = 1280,
        encoding: Encoding = None,
        layout: MobileNetV2Layout = "metapruning",
    ) -> None:
        spec = mobilenet_v2_spec(in_channels, num_classes, input_size, width_mult, last_width, layout)
        super().__init__(spec, encoding)


class PrunableResNet(ChannelNet):
    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        input_size: int,
        depth: int = 20,
        base_width: int = 16,
        encoding: Encoding = None,
    ) -> None:
        super().__init__(resnet_spec(in_channels, num_classes, input_size, depth, base_width), encoding)
