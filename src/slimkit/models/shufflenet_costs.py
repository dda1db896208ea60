"""FLOPs, parameter and latency lookup tables of the SPOS search space, so the evolutionary search checks a
constraint before it evaluates a candidate (docs/methods/spos.md) without building the network.

Each (block, op, channel scale) is measured once, alone, on an input of the shape it sees in the network,
with ``torch.utils.flop_counter.FlopCounterMode`` (which counts convolutions and matmuls, as for the whole
network), and the stem, last conv and classifier are measured once: a path's FLOPs and parameters are then
sums of table entries, equal to FlopCounterMode and ``numel`` on the retrained network (tested). Latency is
measured the same way, per op, on the device the search runs on (the median of timed forward passes); a
path's latency is the sum, which ignores what a fused whole network would save.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

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
    ShuffleNetSpace,
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


def _measure(module: nn.Module, inputs: torch.Tensor) -> int:
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        module(inputs)
    return counter.get_total_flops()


def _count_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _ops_of_space(
    in_channels: int,
    num_classes: int,
    input_size: int,
    search_channels: bool,
    space: ShuffleNetSpace,
    device: str = "cpu",
) -> Iterator[tuple[int, tuple[int, int], nn.Module, torch.Tensor]]:
    """Every op of the space as (block, (op, scale), module, its input); block -1 is the stem, head and
    classifier, key (0, 0) for each of them. Inputs are single images of the shape the op sees."""
    shape = vars(space)
    reference = ShuffleNetOneShot(in_channels, num_classes, input_size, **shape).to(device).eval()  # same ends
    features = torch.zeros(1, in_channels, input_size, input_size, device=device)
    yield -1, (0, 0), reference.stem, features
    with torch.no_grad():
        features = reference.stem(features)
    scales = range(len(CHANNEL_SCALES)) if search_channels else (DEFAULT_SCALE,)
    for block, (cin, cout, stride) in enumerate(space.layout(input_size)):
        for op_index, kind in enumerate(BLOCK_CHOICES):
            for scale in scales:
                mid = mid_channels(cout, scale)
                op = _Fixed(ChoiceOp(cin, cout, stride, kind, mid, affine=True), mid).to(device).eval()
                yield block, (op_index, scale), op, features
        with torch.no_grad():
            features = op(features)  # every op of a block has the same output shape
    yield -1, (0, 0), reference.head, features
    with torch.no_grad():
        features = reference.head(features)
    yield -1, (0, 0), reference.classifier, features


def build_cost_table(
    in_channels: int, num_classes: int, input_size: int, search_channels: bool, space: ShuffleNetSpace
) -> CostTable:
    """Measure every op of the space for inputs of ``in_channels`` x ``input_size`` x ``input_size``."""
    base_flops = base_params = 0
    block_flops: list[dict[tuple[int, int], int]] = [{} for _ in range(space.num_blocks)]
    block_params: list[dict[tuple[int, int], int]] = [{} for _ in range(space.num_blocks)]
    for block, key, module, inputs in _ops_of_space(in_channels, num_classes, input_size, search_channels, space):
        flops, params = _measure(module, inputs), _count_params(module)
        if block < 0:
            base_flops, base_params = base_flops + flops, base_params + params
        else:
            block_flops[block][key], block_params[block][key] = flops, params
    return CostTable(base_flops, base_params, tuple(block_flops), tuple(block_params))


@dataclass(frozen=True)
class LatencyTable:
    """Milliseconds per forward pass of ``batch_size`` images on ``device``, per op (see the module docstring)."""

    device: str
    batch_size: int
    base_ms: float
    block_ms: tuple[dict[tuple[int, int], float], ...]

    def latency_ms(self, path: Path) -> float:
        return self.base_ms + sum(t[key] for t, key in zip(self.block_ms, _keys(path), strict=True))

    def to_json(self) -> dict[str, Any]:
        blocks = [
            [{"op": op, "scale": scale, "ms": ms} for (op, scale), ms in table.items()] for table in self.block_ms
        ]
        return {"device": self.device, "batch_size": self.batch_size, "base_ms": self.base_ms, "block_ms": blocks}

    @classmethod
    def from_json(cls, data: dict[str, Any], costs: CostTable) -> LatencyTable:
        """A table written by ``to_json`` (e.g. measured on the target device), checked to cover every op of the
        space ``costs`` was built for."""
        try:
            blocks = tuple({(e["op"], e["scale"]): float(e["ms"]) for e in table} for table in data["block_ms"])
            table = cls(str(data["device"]), int(data["batch_size"]), float(data["base_ms"]), blocks)
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"not a latency table (device, batch_size, base_ms, block_ms): {error!r}") from None
        if len(blocks) != len(costs.block_flops) or any(
            not set(flops) <= set(ms) for flops, ms in zip(costs.block_flops, blocks, strict=True)
        ):
            raise ValueError(f"the latency table has {len(blocks)} blocks or misses ops of this space and search")
        return table


def build_latency_table(
    in_channels: int,
    num_classes: int,
    input_size: int,
    search_channels: bool,
    space: ShuffleNetSpace,
    device: str = "cpu",
    batch_size: int = 1,
    repeats: int = 10,
) -> LatencyTable:
    """Time every op of the space on ``device`` (median of ``repeats`` passes after two warm-up passes)."""
    base_ms = 0.0
    block_ms: list[dict[tuple[int, int], float]] = [{} for _ in range(space.num_blocks)]
    ops = _ops_of_space(in_channels, num_classes, input_size, search_channels, space, device)
    for block, key, module, single in ops:
        milliseconds = _time_ms(module, single.expand(batch_size, *single.shape[1:]).contiguous(), repeats)
        if block < 0:
            base_ms += milliseconds
        else:
            block_ms[block][key] = milliseconds
    return LatencyTable(str(device), batch_size, base_ms, tuple(block_ms))


@torch.no_grad()
def _time_ms(module: nn.Module, inputs: torch.Tensor, repeats: int) -> float:
    synchronize = torch.cuda.synchronize if inputs.is_cuda else (lambda: None)
    times = []
    for run in range(repeats + 2):
        synchronize()
        start = time.perf_counter()
        module(inputs)
        synchronize()
        if run >= 2:
            times.append((time.perf_counter() - start) * 1000.0)
    return statistics.median(times)


class _Fixed(nn.Module):
    def __init__(self, op: ChoiceOp, mid: int) -> None:
        super().__init__()
        self.op, self.mid = op, mid

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x, self.mid)
