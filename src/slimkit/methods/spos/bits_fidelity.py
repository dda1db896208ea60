"""spos_bits's side of the shared fidelity measurement (``slimkit.search.fidelity``): per-layer widths drawn
uniformly and redrawn until they fit the budget, scored as the search scores them (shared weights, their
exact codebooks, BN recalibrated, the held-out split) and fine-tuned from the shared weights at their fixed
widths as the chosen and the uniform network are."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from slimkit.methods.repeated_training import SeedAccuracies
from slimkit.search.fidelity import distinct_feasible

Bits = tuple[int, ...]


@dataclass
class BitsFidelity:
    """A ``FidelitySubject`` over widths per layer: ``cost`` and ``limit`` are the search's budget,
    ``score(bits)`` its held-out score, ``finetune(name, bits)`` the test accuracies after fine-tuning (one per
    seed of ``method.finetune_seeds``)."""

    widths: list[int]
    layers: int
    cost: Callable[[list[int]], int]
    limit: int
    score: Callable[[list[int]], float]
    finetune: Callable[[str, list[int]], SeedAccuracies]

    def sample(self, count: int, seed: int) -> list[Bits]:
        rng = random.Random(seed + 1)

        def draw() -> Bits:
            return tuple(rng.choice(self.widths) for _ in range(self.layers))

        allowed = lambda bits: self.cost(list(bits)) <= self.limit  # noqa: E731 - the budget check
        return distinct_feasible(draw, allowed, count, "raise method.budget_bits")

    def describe(self, architecture: Bits) -> dict[str, Any]:
        return {"bits": list(architecture), "cost": self.cost(list(architecture))}

    def proxy(self, architecture: Bits) -> float:
        return self.score(list(architecture))

    def trained(self, name: str, architecture: Bits) -> list[float]:
        return self.finetune(name, list(architecture)).values
