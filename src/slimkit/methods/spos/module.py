"""Supernet training by uniform single-path sampling (SPOS): every training step draws one path uniformly,
optionally rejection-sampled into a FLOPs range as the official code does, and only that path's weights get
gradients (the others keep ``grad=None``, so SGD leaves them, momentum and weight decay included).

The path of step ``s`` is a function of (seed, s) only, so every DDP rank draws the same path without
communicating, and a resumed run draws the paths an uninterrupted one would have.
"""

from __future__ import annotations

import random

from slimkit.methods.classification import OptimizerFactory, WeightSharingModule
from slimkit.models.shufflenet_costs import CostTable
from slimkit.models.shufflenet_supernet import Path, ShuffleNetSupernet

MAX_DRAWS = 1000  # rejection sampling gives up (with a clear error) after this many draws of one step


def path_for_step(
    seed: int,
    step: int,
    num_blocks: int,
    search_blocks: bool = True,
    search_channels: bool = False,
    costs: CostTable | None = None,
    flops_range: tuple[float, float] | None = None,
) -> Path:
    """The path of training step ``step``: uniform, redrawn until its FLOPs fall in ``flops_range``."""
    rng = random.Random(seed * 1_000_003 + step)
    for _ in range(MAX_DRAWS):
        path = Path.sample(rng, num_blocks, search_channels=search_channels, search_blocks=search_blocks)
        if flops_range is None or costs is None or flops_range[0] <= costs.flops(path) <= flops_range[1]:
            return path
    raise ValueError(f"no path with FLOPs in {flops_range} after {MAX_DRAWS} draws: widen the range")


class SupernetModule(WeightSharingModule):
    """LinearDecayModule over a ShuffleNetSupernet that samples a path per step. Validation and test score a
    fixed path per batch index (the same ones every epoch, so epochs compare) with batch BN statistics."""

    def __init__(
        self,
        model: ShuffleNetSupernet,
        num_classes: int,
        optimizer: OptimizerFactory,
        label_smoothing: float,
        seed: int = 0,
        search_blocks: bool = True,
        costs: CostTable | None = None,
        flops_range: tuple[float, float] | None = None,
    ) -> None:
        super().__init__(model, num_classes, optimizer, None, label_smoothing)
        self.seed, self.search_blocks, self.costs, self.flops_range = seed, search_blocks, costs, flops_range

    def structure(self, step: int) -> Path:
        return path_for_step(
            self.seed,
            step,
            self.model.space.num_blocks,
            self.search_blocks,
            self.model.search_channels,
            self.costs,
            self.flops_range,
        )

    def use(self, structure: Path) -> None:
        self.model.set_path(structure)
