"""PruningNet training (MetaPruning): a uniformly random structure every step, a ratio index per gene, so
every generator learns to make weights for every width. The structure of step ``s`` is a function of
(seed, s) only: every DDP rank draws the same one, and a resumed run draws what an uninterrupted one would."""

from __future__ import annotations

import random
from collections.abc import Sequence

from slimkit.methods.classification import OptimizerFactory, WeightSharingModule
from slimkit.methods.metapruning.pruningnet import PruningNet

# the structures a PruningNet is validated and tested on, the same for every run seed so that runs compare: its
# structures span ten times in FLOPs, and the draw alone moved one trained PruningNet's test top-1 (ResNet-56,
# shifted digits) between 0.761 and 0.881 over eight draws
EVALUATION_SEED = 0


def choice_for_step(seed: int, step: int, gene_choices: Sequence[range]) -> tuple[int, ...]:
    """A ratio index per gene, uniform over the gene's allowed ones (``PruningNet.gene_choices``)."""
    rng = random.Random(seed * 1_000_003 + step)
    return tuple(rng.randrange(allowed.start, allowed.stop) for allowed in gene_choices)


class PruningNetModule(WeightSharingModule):
    def __init__(
        self,
        model: PruningNet,
        num_classes: int,
        optimizer: OptimizerFactory,
        label_smoothing: float,
        seed: int = 0,
    ) -> None:
        super().__init__(model, num_classes, optimizer, None, label_smoothing)
        self.seed = seed

    def structure(self, step: int) -> tuple[int, ...]:
        return choice_for_step(self.seed, step, self.model.gene_choices)

    def use(self, structure: tuple[int, ...]) -> None:
        self.model.set_choice(structure)

    def evaluation_structure(self, batch_idx: int) -> tuple[int, ...]:
        return choice_for_step(EVALUATION_SEED, -1 - batch_idx, self.model.gene_choices)
