"""MetaPruning's side of the shared fidelity measurement (``slimkit.search.fidelity``): random structures under
one FLOPs cap, drawn as the search draws them (uniform, then narrowed to the cap), scored as the search scores
them (generated weights, recalibrated BN, held-out top-1) and trained as the pruned networks are."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from slimkit.accelerator.network_cost import CycleLimits
from slimkit.methods.metapruning.pruningnet import PruningNet
from slimkit.methods.metapruning.search import choice_of, choice_space, narrow_to_fit, within_caps
from slimkit.models.channel_spec import network_flops

Choice = tuple[int, ...]


def sample_structures(
    net: PruningNet, max_flops: float, count: int, seed: int, limits: CycleLimits | None = None
) -> list[Choice]:
    """``count`` distinct structures (ratio indices) within ``max_flops`` and the accelerator's ``limits``, drawn
    like the search's random ones."""
    spec = net.spec
    feasible = within_caps(net, max_flops, limits)
    space = choice_space(net)
    rng = random.Random(seed)
    structures: list[Choice] = []
    for _ in range(100 * count):
        if len(structures) == count:
            break
        drawn = space.values(space.random_indices(rng))
        narrowed = narrow_to_fit(drawn, feasible, rng, net.lowest_choices)
        choice = choice_of(spec, narrowed)
        if feasible(narrowed) and choice not in structures:
            structures.append(choice)
    return structures


@dataclass
class PruningNetFidelity:
    """A ``FidelitySubject`` over a trained PruningNet under ``max_flops``: ``proxy`` scores a structure as the
    search does, ``train(name, choice)`` trains its network as the compared ones are (test accuracy per seed)."""

    net: PruningNet
    max_flops: float
    score: Callable[[Choice], float]
    train: Callable[[str, Choice], list[float]]
    limits: CycleLimits | None = None

    def sample(self, count: int, seed: int) -> list[Choice]:
        return sample_structures(self.net, self.max_flops, count, seed, self.limits)

    def describe(self, architecture: Choice) -> dict[str, Any]:
        encoding = self.net.encoding(architecture)
        described = {
            "choice": list(architecture),
            "encoding": list(encoding),
            "flops": network_flops(self.net.spec, encoding),
        }
        if self.limits is not None:
            described["accel_cycles"] = self.limits.cost.of_spec(self.net.spec, encoding).cycles
        return described

    def proxy(self, architecture: Choice) -> float:
        return self.score(architecture)

    def trained(self, name: str, architecture: Choice) -> list[float]:
        return self.train(name, architecture)
