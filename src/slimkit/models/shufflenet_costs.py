"""FLOPs and parameter lookup tables of the SPOS search space, so the evolutionary search checks a constraint
before it evaluates a candidate (REFERENCE.md section 2) without building the network.

Each (block, op, channel scale) is measured once, alone, on an input of the shape it sees in the network,
with ``torch.utils.flop_counter.FlopCounterMode`` (which counts convolutions and matmuls, as for the whole
network), and the stem, last conv and classifier are measured once: a path's FLOPs and parameters are then
sums of table entries, equal to FlopCounterMode and ``numel`` on the retrained network (tested).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from slimkit.models.shufflenet_supernet import (
    BLOCK_CHOICES,
    CHANNEL_SCALES,
    DEFAULT_SCALE,
    ChoiceOp,
    Path,
    ShuffleNetOneShot,
    block_layout,
    mid_channels,
)


@dataclass(frozen=True)
class CostTable:
    """FLOPs (FlopCounterMode's count: 2 per multiply-accumulate) and parameters of the retrained network."""

    base_flops: int  # stem, last conv and classifier
    base_params: int
    block_flops: tuple[dict[tuple[int, int], int], ...]  # per block: (op, scale) -> FLOPs
    block_params: tuple[dict[tuple[int, int], int], ...]

    def flops(self, path: Path) -> int:
        return self.base_flops + sum(t[key] for t, key in zip(self.block_flops, _keys(path), strict=True))

    def params(self, path: Path) -> int:
        return self.base_params + sum(t[key] for t, key in zip(self.block_params, _keys(path), strict=True))


def _keys(path: Path) -> list[tuple[int, int]]:
    return list(zip(path.blocks, path.scales, strict=True))


def _measure(module: nn.Module, inputs: torch.Tensor) -> tuple[int, torch.Tensor]:
    module.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        output = module(inputs)
    return counter.get_total_flops(), output


def _count_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def build_cost_table(in_channels: int, num_classes: int, input_size: int, search_channels: bool) -> CostTable:
    """Measure every op of the space for inputs of ``in_channels`` x ``input_size`` x ``input_size``."""
    reference = ShuffleNetOneShot(in_channels, num_classes, input_size)  # any path: stem and head are shared
    stem_flops, features = _measure(reference.stem, torch.zeros(1, in_channels, input_size, input_size))
    scales = range(len(CHANNEL_SCALES)) if search_channels else (DEFAULT_SCALE,)
    block_flops, block_params = [], []
    for cin, cout, stride in block_layout(input_size):
        flops: dict[tuple[int, int], int] = {}
        params: dict[tuple[int, int], int] = {}
        for op_index, kind in enumerate(BLOCK_CHOICES):
            for scale in scales:
                mid = mid_channels(cout, scale)
                op = ChoiceOp(cin, cout, stride, kind, mid, affine=True)
                flops[(op_index, scale)], output = _measure(_Fixed(op, mid), features)
                params[(op_index, scale)] = _count_params(op)
        features = output  # every op of a block has the same output shape
        block_flops.append(flops)
        block_params.append(params)
    head_flops, pooled = _measure(reference.head, features)
    classifier_flops, _ = _measure(reference.classifier, pooled)
    base_params = _count_params(reference.stem) + _count_params(reference.head) + _count_params(reference.classifier)
    return CostTable(stem_flops + head_flops + classifier_flops, base_params, tuple(block_flops), tuple(block_params))


class _Fixed(nn.Module):
    def __init__(self, op: ChoiceOp, mid: int) -> None:
        super().__init__()
        self.op, self.mid = op, mid

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x, self.mid)
