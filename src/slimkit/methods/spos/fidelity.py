"""SPOS's side of the shared fidelity measurement (``slimkit.search.fidelity``): paths drawn uniformly under
the search's caps, scored as the search scores them (supernet weights, BN recalibrated on the same training
batches, the same held-out split) and retrained from scratch as the searched path is."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from slimkit.errors import ConfigError
from slimkit.methods.spos.search import Caps, evaluate_path
from slimkit.models.shufflenet_costs import CostTable
from slimkit.models.shufflenet_supernet import Path, ShuffleNetSupernet
from slimkit.search.weight_sharing import Batches

MAX_DRAWS_PER_PATH = 10_000


def feasible_random_paths(
    rng: random.Random, count: int, caps: Caps, costs: CostTable, search_blocks: bool, search_channels: bool
) -> list[Path]:
    """``count`` distinct paths, each drawn uniformly and redrawn until the caps allow it (rejection sampling:
    uniform over the feasible paths), with one clear line when the caps leave too few."""
    paths: list[Path] = []
    for _ in range(MAX_DRAWS_PER_PATH * count):
        path = Path.sample(rng, len(costs.block_flops), search_channels=search_channels, search_blocks=search_blocks)
        if path not in paths and caps.allows(costs, path):
            paths.append(path)
            if len(paths) == count:
                return paths
    raise ConfigError(
        f"only {len(paths)} distinct architectures within the caps after {MAX_DRAWS_PER_PATH * count} draws, "
        f"{count} wanted: loosen method.search.max_* or lower method.fidelity_samples"
    )


@dataclass
class SposFidelity:
    """A ``FidelitySubject`` over a trained supernet; ``retrain(name, path)`` trains a path from scratch as
    stage ``name`` and returns its test accuracy."""

    supernet: ShuffleNetSupernet
    costs: CostTable
    caps: Caps
    calibration: Batches
    holdout: Batches
    retrain: Callable[[str, Path], float]
    search_blocks: bool
    search_channels: bool

    def sample(self, count: int, seed: int) -> list[Path]:
        rng = random.Random(seed + 1)
        return feasible_random_paths(rng, count, self.caps, self.costs, self.search_blocks, self.search_channels)

    def describe(self, architecture: Path) -> dict[str, Any]:
        return {
            "architecture": json.loads(architecture.to_json()),
            "flops": self.costs.flops(architecture),
            "params": self.costs.params(architecture),
        }

    def proxy(self, architecture: Path) -> float:
        return evaluate_path(self.supernet, architecture, self.calibration, self.holdout)

    def trained(self, name: str, architecture: Path) -> float:
        return self.retrain(name, architecture)
