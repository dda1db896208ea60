"""SPOS evolutionary architecture search over a trained supernet (docs/methods/spos.md), in process.

Every candidate path is checked against the FLOPs / parameter caps from the lookup table before it is
evaluated (``EvolutionSearch``'s constraint); an evaluation resets the supernet's BN statistics, recalibrates
them on the same training batches for every candidate and scores top-1 accuracy on the same held-out batches
(the official code's validation iterator was never reset, so its candidates saw different slices). The search
state is saved after every generation, so a killed search resumes where it stopped, with the same result.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path as FilePath
from typing import Any

import torch
from torch import nn

from slimkit.errors import ConfigError
from slimkit.models.shufflenet_costs import CostTable, LatencyTable
from slimkit.models.shufflenet_supernet import BLOCK_CHOICES, CHANNEL_SCALES, DEFAULT_SCALE, Path
from slimkit.search import EvolutionSearch, SearchSpace
from slimkit.search.weight_sharing import (
    Batches,
    WeightSharingSearchSettings,
    accuracy,
    recalibrate_bn,
    run_evolution,
)
from slimkit.settings import Positive, PositiveInt


def path_space(num_blocks: int, search_blocks: bool = True, search_channels: bool = False) -> SearchSpace:
    """Genes ``block0..block<n-1>`` (op indices) and ``scale0..scale<n-1>`` (channel-scale indices); a gene
    that is not searched has its one default value."""
    genes: dict[str, list[int]] = {}
    for block in range(num_blocks):
        genes[f"block{block}"] = list(range(len(BLOCK_CHOICES))) if search_blocks else [0]
    for block in range(num_blocks):
        genes[f"scale{block}"] = list(range(len(CHANNEL_SCALES))) if search_channels else [DEFAULT_SCALE]
    return SearchSpace(genes)


def candidate_path(values: dict[str, Any]) -> Path:
    blocks = range(sum(name.startswith("block") for name in values))
    return Path(tuple(values[f"block{b}"] for b in blocks), tuple(values[f"scale{b}"] for b in blocks))


@dataclass(frozen=True, kw_only=True)
class SposSearchSettings(WeightSharingSearchSettings):
    """SPOS's ``method.search``: the shared weight-sharing search settings and the caps checked before a candidate
    is evaluated (None: no cap; FLOPs as FlopCounterMode counts them, 2 per MAC; latency measured per op on this
    machine's device at ``latency_batch_size``)."""

    max_flops: Positive | None
    max_params: Positive | None
    max_latency_ms: Positive | None
    latency_batch_size: PositiveInt
    latency_table: str | None  # a table saved by an earlier search (search/latency_table.json) instead of timing


@dataclass(frozen=True)
class Caps:
    """Constraints checked before evaluation (None: no cap); a latency cap needs the device's latency table."""

    max_flops: float | None = None
    max_params: float | None = None
    max_latency_ms: float | None = None
    latency: LatencyTable | None = None

    def __post_init__(self) -> None:
        if self.max_latency_ms is not None and self.latency is None:
            raise ValueError("a latency cap needs a latency table")

    def check_reachable(self, costs: CostTable) -> None:
        """One clear line when a cap is below the cheapest architecture of the space (each cap alone: the
        cheapest path by FLOPs need not be the cheapest by parameters or latency)."""
        tables = {
            "max_flops": (costs.base_flops, costs.block_flops),
            "max_params": (costs.base_params, costs.block_params),
        }
        if self.latency is not None:
            tables["max_latency_ms"] = (self.latency.base_ms, self.latency.block_ms)
        for name, (base, blocks) in tables.items():
            cap = getattr(self, name)
            # the searched (op, scale) keys of each block are the cost table's
            cheapest = base + sum(
                min(t[key] for key in keys) for t, keys in zip(blocks, costs.block_flops, strict=True)
            )
            if cap is not None and cap < cheapest:
                raise ConfigError(
                    f"method.search.{name}={cap:.6g} is below the cheapest architecture of this space "
                    f"({cheapest:.6g}): no architecture meets it"
                )

    def allows(self, costs: CostTable, path: Path) -> bool:
        return (
            (self.max_flops is None or costs.flops(path) <= self.max_flops)
            and (self.max_params is None or costs.params(path) <= self.max_params)
            and (self.max_latency_ms is None or self.latency.latency_ms(path) <= self.max_latency_ms)
        )


def evaluate_path(supernet: nn.Module, path: Path, calibration: Batches, holdout: Batches) -> float:
    """Held-out top-1 accuracy of one path after BN recalibration."""

    def forward(inputs: torch.Tensor) -> torch.Tensor:
        return supernet(inputs, path)

    recalibrate_bn(supernet, calibration, forward)
    return accuracy(forward, holdout)


def run_search(
    evaluate: Callable[[Path], float],
    costs: CostTable,
    caps: Caps,
    state_file: str | FilePath,
    search_blocks: bool = True,
    search_channels: bool = False,
    on_generation: Callable[[EvolutionSearch], None] | None = None,
    progress: bool = False,
    **settings: Any,
) -> EvolutionSearch:
    """The evolutionary search, resumed from ``state_file`` when it exists and saved after every generation.
    ``settings`` are EvolutionSearch's (population_size, generations, top_k, ..., seed); ``progress`` shows a
    progress bar per generation."""

    def feasible(values: dict[str, Any]) -> bool:
        return caps.allows(costs, candidate_path(values))

    def score(values: dict[str, Any]) -> float:
        return evaluate(candidate_path(values))

    space = path_space(len(costs.block_flops), search_blocks, search_channels)
    return run_evolution(space, score, feasible, state_file, on_generation, progress, **settings)
