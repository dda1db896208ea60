"""What the accelerator sees of a Linear or Conv2d layer: one matrix-vector product per input vector, a conv
unfolded into its im2col windows. ``layer_geometry`` checks that a layer can run at all (plain convs with zero
padding: no groups, so no depthwise convs) and ``matrix_shape`` gives the (rows, columns, vectors) that the
export writes and the cycle model counts."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from torch import nn


def layer_geometry(module: nn.Module, input_shape: Sequence[int]) -> tuple[str, dict[str, Any]]:
    """The layer kind (``fc`` or ``conv``) and, for a conv, its geometry on inputs of ``input_shape``
    ((N, features) or (N, C, H, W)); ValueError, in one line, for what the accelerator cannot run."""
    input_shape = tuple(input_shape)
    if isinstance(module, nn.Linear):
        if len(input_shape) != 2 or input_shape[1] != module.in_features:
            raise ValueError(f"a Linear layer needs inputs (N, {module.in_features}), got {input_shape}")
        return "fc", {}
    if not isinstance(module, nn.Conv2d):
        raise ValueError(f"only nn.Linear and nn.Conv2d layers can be exported, got {type(module).__name__}")
    if module.groups != 1:
        raise ValueError(f"grouped/depthwise convs (groups={module.groups}) are not supported: groups must be 1")
    if module.padding_mode != "zeros":
        raise ValueError(f"only zero padding is supported, got padding_mode={module.padding_mode!r}")
    if len(input_shape) != 4 or input_shape[1] != module.in_channels:
        raise ValueError(f"a Conv2d layer needs inputs (N, {module.in_channels}, H, W), got {input_shape}")
    kernel, stride, dilation = list(module.kernel_size), list(module.stride), list(module.dilation)
    padding = _explicit_padding(module.padding, kernel, dilation)
    height, width = input_shape[2], input_shape[3]
    out_size = [
        (size + 2 * p - d * (k - 1) - 1) // s + 1
        for size, p, d, k, s in zip((height, width), padding, dilation, kernel, stride, strict=True)
    ]
    if min(out_size) < 1:
        raise ValueError(f"input {height}x{width} is smaller than the conv's receptive field")
    geometry = {
        "in_channels": module.in_channels,
        "out_channels": module.out_channels,
        "kernel": kernel,
        "stride": stride,
        "padding": padding,
        "dilation": dilation,
        "input_size": [height, width],
        "output_size": out_size,
    }
    return "conv", geometry


def matrix_shape(module: nn.Module, input_shape: Sequence[int]) -> tuple[int, int, int]:
    """(rows, columns, vectors) of the layer's product on a batch of ``input_shape``: output channels or
    features, weights per output (in_channels x kernel area for a conv), and one vector per sample and output
    position."""
    kind, geometry = layer_geometry(module, input_shape)
    rows, columns = module.weight.shape[0], math.prod(module.weight.shape[1:])
    positions = 1 if kind == "fc" else math.prod(geometry["output_size"])
    return rows, columns, input_shape[0] * positions


def _explicit_padding(padding: str | tuple[int, ...], kernel: list[int], dilation: list[int]) -> list[int]:
    if not isinstance(padding, str):
        return list(padding)
    if padding == "valid":
        return [0, 0]
    total = [d * (k - 1) for k, d in zip(kernel, dilation, strict=True)]
    if any(t % 2 for t in total):  # torch pads 'same' asymmetrically then; the accelerator pads symmetrically
        raise ValueError("padding='same' with an even receptive field pads asymmetrically: not supported")
    return [t // 2 for t in total]
