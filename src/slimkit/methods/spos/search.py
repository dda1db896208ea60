"""SPOS evolutionary architecture search over a trained supernet (REFERENCE.md section 2), in process.

Every candidate path is checked against the FLOPs / parameter caps from the lookup table before it is
evaluated (``EvolutionSearch``'s constraint); an evaluation resets the supernet's BN statistics, recalibrates
them on the same training batches for every candidate and scores top-1 accuracy on the same held-out batches
(the official code's validation iterator was never reset, so its candidates saw different slices). The search
state is saved after every generation, so a killed search resumes where it stopped, with the same result.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path as FilePath
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from slimkit.errors import ConfigError
from slimkit.models.shufflenet_costs import CostTable, LatencyTable
from slimkit.models.shufflenet_supernet import BLOCK_CHOICES, CHANNEL_SCALES, DEFAULT_SCALE, NUM_BLOCKS, Path
from slimkit.search import EvolutionSearch, SearchSpace

Batches = Sequence[tuple[torch.Tensor, torch.Tensor]]
# the paper's search (population 50, 20 generations, top 10, 25 mutations with p=0.1, 25 crossovers) and what
# every candidate is scored on; each runner adds its own settings
SEARCH_DEFAULTS: dict[str, Any] = {
    "population_size": 50,
    "generations": 20,
    "top_k": 10,
    "mutation_count": 25,
    "mutation_prob": 0.1,
    "crossover_count": 25,
    "calibration_batches": 200,
    "holdout_batches": None,
    "top": 10,
}
EVOLUTION_KEYS = ("population_size", "generations", "top_k", "mutation_count", "mutation_prob", "crossover_count")


def search_settings(given: dict[str, Any] | None, defaults: dict[str, Any]) -> dict[str, Any]:
    """``method.search`` over its defaults; an unknown key is a ConfigError (a typo would be ignored)."""
    unknown = set(given or {}) - set(defaults)
    if unknown:
        raise ConfigError(f"method.search has unknown keys {sorted(unknown)}; known: {sorted(defaults)}")
    return {**defaults, **(given or {})}


def path_space(search_blocks: bool = True, search_channels: bool = False) -> SearchSpace:
    """Genes ``block0..block19`` (op indices) and ``scale0..scale19`` (channel-scale indices); a gene that is
    not searched has its one default value."""
    genes: dict[str, list[int]] = {}
    for block in range(NUM_BLOCKS):
        genes[f"block{block}"] = list(range(len(BLOCK_CHOICES))) if search_blocks else [0]
    for block in range(NUM_BLOCKS):
        genes[f"scale{block}"] = list(range(len(CHANNEL_SCALES))) if search_channels else [DEFAULT_SCALE]
    return SearchSpace(genes)


def candidate_path(values: dict[str, Any]) -> Path:
    return Path(
        tuple(values[f"block{b}"] for b in range(NUM_BLOCKS)), tuple(values[f"scale{b}"] for b in range(NUM_BLOCKS))
    )


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

    def allows(self, costs: CostTable, path: Path) -> bool:
        return (
            (self.max_flops is None or costs.flops(path) <= self.max_flops)
            and (self.max_params is None or costs.params(path) <= self.max_params)
            and (self.max_latency_ms is None or self.latency.latency_ms(path) <= self.max_latency_ms)
        )


@torch.no_grad()
def recalibrate_bn(model: nn.Module, batches: Batches, forward: Callable[[torch.Tensor], torch.Tensor]) -> None:
    """Reset every BN's running statistics and re-estimate them as a plain average over ``batches`` in train
    mode (momentum None), as the official search does before scoring a candidate."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    momenta = [m.momentum for m in norms]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None
    model.train()
    for inputs, _ in batches:
        forward(inputs)
    for norm, momentum in zip(norms, momenta, strict=True):
        norm.momentum = momentum
    model.eval()


def batches_of(loader: Any, limit: int | None, device: torch.device | str) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The first ``limit`` batches (all when None), kept: every candidate sees the very same ones."""
    batches = []
    for inputs, labels in loader:
        if limit is not None and len(batches) >= limit:
            break
        batches.append((inputs.to(device), labels.to(device)))
    return batches


@torch.no_grad()
def accuracy(forward: Callable[[torch.Tensor], torch.Tensor], batches: Batches) -> float:
    correct = total = 0
    for inputs, labels in batches:
        correct += int((forward(inputs).argmax(dim=1) == labels).sum())
        total += len(labels)
    return correct / max(total, 1)


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

    state_file = FilePath(state_file)
    if state_file.exists():
        search = EvolutionSearch.load(state_file, constraint=feasible)
    else:
        search = EvolutionSearch(path_space(search_blocks, search_channels), constraint=feasible, **settings)
    while not search.finished:
        title = f"generation {search.generation + 1}/{search.settings.generations}"
        bar = tqdm(search.ask(), desc=title, disable=not progress, leave=False, dynamic_ncols=True)
        for candidate in bar:
            search.tell(candidate, evaluate(candidate_path(candidate.values)))
            best = search.best(1)
            if best:
                bar.set_postfix(best=f"{best[0][1]:.4f}")
        search.save(state_file)
        if on_generation is not None:
            on_generation(search)
    return search
