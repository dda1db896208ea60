"""spos_bits's side of the shared fidelity measurement (``slimkit.search.fidelity``): per-layer widths drawn
uniformly and redrawn until they fit the budget, scored as the search scores them (shared weights, their
exact codebooks, BN recalibrated, the held-out split) and fine-tuned from the shared weights at their fixed
widths as the chosen and the uniform network are."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from slimkit.errors import ConfigError

Bits = tuple[int, ...]
MAX_DRAWS_PER_ARCHITECTURE = 10_000


@dataclass
class BitsFidelity:
    """A ``FidelitySubject`` over widths per layer: ``cost`` and ``limit`` are the search's budget,
    ``score(bits)`` its held-out score, ``finetune(name, bits)`` the test accuracy after fine-tuning."""

    widths: list[int]
    layers: int
    cost: Callable[[list[int]], int]
    limit: int
    score: Callable[[list[int]], float]
    finetune: Callable[[str, list[int]], float]

    def sample(self, count: int, seed: int) -> list[Bits]:
        rng = random.Random(seed + 1)
        drawn: list[Bits] = []
        for _ in range(MAX_DRAWS_PER_ARCHITECTURE * count):
            bits = tuple(rng.choice(self.widths) for _ in range(self.layers))
            if bits not in drawn and self.cost(list(bits)) <= self.limit:
                drawn.append(bits)
                if len(drawn) == count:
                    return drawn
        raise ConfigError(
            f"only {len(drawn)} distinct width choices within the budget after {MAX_DRAWS_PER_ARCHITECTURE * count} "
            f"draws, {count} wanted: raise method.budget_bits or lower method.fidelity_samples"
        )

    def describe(self, architecture: Bits) -> dict[str, Any]:
        return {"bits": list(architecture), "cost": self.cost(list(architecture))}

    def proxy(self, architecture: Bits) -> float:
        return self.score(list(architecture))

    def trained(self, name: str, architecture: Bits) -> float:
        return self.finetune(name, list(architecture))
