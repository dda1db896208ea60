"""SPOS's side of the shared fidelity measurement (``slimkit.search.fidelity``): paths drawn uniformly under
the search's caps, scored as the search scores them (supernet weights, BN recalibrated on the same training
batches, the same held-out split) and retrained from scratch as the searched path is."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from slimkit.methods.spos.search import Caps, evaluate_path
from slimkit.models.shufflenet_costs import CostTable
from slimkit.models.shufflenet_supernet import Path, ShuffleNetSupernet
from slimkit.search.fidelity import distinct_feasible
from slimkit.search.weight_sharing import Batches


@dataclass
class SposFidelity:
    """A ``FidelitySubject`` over a trained supernet; ``retrain(name, path)`` trains a path from scratch as
    stage ``name`` and returns its test accuracy."""

    supernet: ShuffleNetSupernet
    costs: CostTable
    caps: Caps
    calibration: Batches
    holdout: Batches
    retrain: Callable[[str, Path], list[float]]  # one test accuracy per training seed
    search_blocks: bool
    search_channels: bool

    def sample(self, count: int, seed: int) -> list[Path]:
        rng, blocks = random.Random(seed + 1), len(self.costs.block_flops)

        def draw() -> Path:
            return Path.sample(rng, blocks, search_channels=self.search_channels, search_blocks=self.search_blocks)

        allowed = partial(self.caps.allows, self.costs)
        return distinct_feasible(draw, allowed, count, "loosen method.search.max_*")

    def describe(self, architecture: Path) -> dict[str, Any]:
        return {
            "architecture": json.loads(architecture.to_json()),
            "flops": self.costs.flops(architecture),
            "params": self.costs.params(architecture),
        }

    def proxy(self, architecture: Path) -> float:
        return evaluate_path(self.supernet, architecture, self.calibration, self.holdout)

    def trained(self, name: str, architecture: Path) -> list[float]:
        return self.retrain(name, architecture)
