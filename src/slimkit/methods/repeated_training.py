"""One network trained from several seeds alike (``method.retrain_seeds`` of spos and metapruning): repeat r
seeds every generator with the run's seed + r (the initial weights) and moves the data's shuffle seed by
r * ``SHUFFLE_STRIDE`` (the batch order), so every network of a run is trained from the same seeds and
comparisons pair seed with seed. The first repeat is stage ``name``, the others ``name_seed<N>``."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterator
from contextlib import contextmanager

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


def accuracy_over_seeds(
    context: RunContext, name: str, repeats: int, train: Callable[[str, int], float]
) -> dict[str, float]:
    """``train(stage, repeat)`` (which trains inside ``seeded_repeat``) once per seed: ``test/acc`` is the
    mean of the test accuracies it returns, ``test/acc_std`` their spread, ``test/acc_seed<N>`` each one."""
    accuracies = {}
    for repeat, seed in enumerate(training_seeds(context, repeats)):
        accuracies[seed] = train(name if repeat == 0 else f"{name}_seed{seed}", repeat)
    values = list(accuracies.values())
    return {
        "test/acc": statistics.fmean(values),
        "test/acc_std": statistics.stdev(values) if len(values) > 1 else 0.0,
        **{f"test/acc_seed{seed}": value for seed, value in accuracies.items()},
    }


def seed_accuracies(metrics: dict[str, float]) -> list[float]:
    """Each seed's test accuracy from ``accuracy_over_seeds``' metrics, in seed order."""
    seeds = sorted(int(name.removeprefix("test/acc_seed")) for name in metrics if name.startswith("test/acc_seed"))
    return [metrics[f"test/acc_seed{seed}"] for seed in seeds]


def describe_accuracy(metrics: dict[str, float]) -> str:
    seeds = len(seed_accuracies(metrics))
    if seeds == 1:
        return f"{metrics['test/acc']:.4f}"
    return f"{metrics['test/acc']:.4f} +- {metrics['test/acc_std']:.4f} ({seeds} seeds)"


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
