"""One network trained from several seeds alike (``method.retrain_seeds`` of spos and metapruning,
``method.finetune_seeds`` of spos_bits): repeat r
seeds every generator with the run's seed + r (the initial weights) and moves the data's shuffle seed by
r * ``SHUFFLE_STRIDE`` (the batch order), so every network of a run is trained from the same seeds and
comparisons pair seed with seed. The first repeat is stage ``name``, the others ``name_seed<N>``."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import lightning as L

from slimkit.run_context import RunContext

# The sampler shuffles epoch e with (shuffle seed + e); repeats of a training this far apart in shuffle seed
# never see one another's epoch orders (seed and seed + 1 would: shifted by one epoch).
SHUFFLE_STRIDE = 1_000_003


def training_seeds(context: RunContext, repeats: int) -> list[int]:
    """The run's seed and the ``repeats - 1`` after it."""
    first = int(context.cfg.seed)
    return list(range(first, first + repeats))


@contextmanager
def seeded_repeat(context: RunContext, repeat: int) -> Iterator[None]:
    """Repeat ``repeat`` of a training: seeded with the run's seed + ``repeat``, its data shuffled apart."""
    L.seed_everything(int(context.cfg.seed) + repeat, workers=True)
    with shuffle_offset_by(context.datamodule, repeat * SHUFFLE_STRIDE):
        yield


@dataclass(frozen=True)
class SeedAccuracies:
    """One network's test accuracy from each training seed (``accuracy_over_seeds``)."""

    by_seed: dict[int, float]

    @property
    def values(self) -> list[float]:
        """The accuracies in seed order (every network of a run has the same seeds: pair them by position)."""
        return [self.by_seed[seed] for seed in sorted(self.by_seed)]

    @property
    def mean(self) -> float:
        return statistics.fmean(self.by_seed.values())

    @property
    def std(self) -> float:
        return statistics.stdev(self.by_seed.values()) if len(self.by_seed) > 1 else 0.0

    def metrics(self, name: str = "test/acc") -> dict[str, float]:
        """``<name>`` (the mean), ``<name>_std`` (the spread) and ``<name>_seed<N>`` (each)."""
        each = {f"{name}_seed{seed}": value for seed, value in sorted(self.by_seed.items())}
        return {name: self.mean, f"{name}_std": self.std, **each}

    def describe(self) -> str:
        if len(self.by_seed) == 1:
            return f"{self.mean:.4f}"
        return f"{self.mean:.4f} +- {self.std:.4f} ({len(self.by_seed)} seeds)"


def accuracy_over_seeds(
    context: RunContext, name: str, repeats: int, train: Callable[[str, int], float]
) -> SeedAccuracies:
    """``train(stage, repeat)`` (which trains inside ``seeded_repeat``) once per seed; the test accuracies it
    returns."""
    accuracies = {}
    for repeat, seed in enumerate(training_seeds(context, repeats)):
        accuracies[seed] = train(name if repeat == 0 else f"{name}_seed{seed}", repeat)
    return SeedAccuracies(accuracies)


@contextmanager
def shuffle_offset_by(datamodule: L.LightningDataModule, offset: int) -> Iterator[None]:
    """The datamodule's ``shuffle_seed`` (when it has one) moved by ``offset`` for a while, so repeated
    trainings of one network differ in batch order as well as in initial weights."""
    if not hasattr(datamodule, "shuffle_seed"):
        yield
        return
    kept = datamodule.shuffle_seed
    datamodule.shuffle_seed = kept + offset
    try:
        yield
    finally:
        datamodule.shuffle_seed = kept
