"""What weight-sharing searches (SPOS, MetaPruning) share: their search settings, the fixed batches every
candidate is scored on, BN recalibration per candidate, accuracy, and batch-statistics evaluation during
training. Imports torch: not re-exported from ``slimkit.search`` (which stays torch-free)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from slimkit.accelerator.network_cost import AcceleratorCost, CycleLimits
from slimkit.errors import ConfigError
from slimkit.search import EvolutionSearch, EvolutionSettings, SearchSpace
from slimkit.search.evolution import Repair
from slimkit.settings import PositiveInt

Batches = Sequence[tuple[torch.Tensor, torch.Tensor]]


@dataclass(frozen=True, kw_only=True)
class WeightSharingSearchSettings(EvolutionSettings):
    """``method.search`` of SPOS, spos_bits and MetaPruning (conf/search/evolution.yaml): the evolution's
    hyper-parameters and what every candidate is scored on; SPOS adds its caps (SposSearchSettings)."""

    calibration_batches: PositiveInt  # training batches for each candidate's BN recalibration (none: BN at reset)
    holdout_batches: PositiveInt | None  # batches of the held-out split; None = all
    top: PositiveInt  # candidates in the search's top.json
    progress: bool  # a progress bar per generation
    # the accelerator a candidate must run on: a build of slimkit.accelerator.builds or ArrayConfig's fields;
    # checked before a candidate is evaluated, like the FLOPs cap (None: no accelerator constraint)
    accelerator: str | dict | None
    max_cycles: PositiveInt | None  # per inference (one sample)
    must_fit: bool  # every layer within the build's index memory, column tiles and shape ports

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.accelerator is None and (self.max_cycles is not None or self.must_fit):
            raise ConfigError("method.search.max_cycles and must_fit need method.search.accelerator (a build)")
        if self.accelerator is not None:
            self.cycle_limits()  # an unknown build or a bad field: one line now, before anything runs

    def cycle_limits(self) -> CycleLimits | None:
        """The accelerator constraint of these settings (None without ``accelerator``)."""
        if self.accelerator is None:
            return None
        return CycleLimits(AcceleratorCost(self.accelerator), self.max_cycles, self.must_fit)

    def refuse_accelerator(self, why: str) -> None:
        """One line when a method whose search cannot cost its candidates on the accelerator is given one."""
        if self.accelerator is not None:
            raise ConfigError(f"method.search.accelerator: {why}; method=metapruning and spos_bits search under it")


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


def candidate_batches(
    datamodule: Any, settings: WeightSharingSearchSettings, device: torch.device | str
) -> tuple[list[tuple[torch.Tensor, torch.Tensor]], list[tuple[torch.Tensor, torch.Tensor]]]:
    """What every candidate of a search (or a fidelity draw) is scored on: ``calibration_batches`` training
    batches for its BN recalibration and ``holdout_batches`` of the held-out (validation) split."""
    datamodule.setup("fit")
    calibration = batches_of(datamodule.train_dataloader(), settings.calibration_batches, device)
    return calibration, batches_of(datamodule.val_dataloader(), settings.holdout_batches, device)


@torch.no_grad()
def accuracy(forward: Callable[[torch.Tensor], torch.Tensor], batches: Batches) -> float:
    correct = total = 0
    for inputs, labels in batches:
        correct += int((forward(inputs).argmax(dim=1) == labels).sum())
        total += len(labels)
    return correct / max(total, 1)


@contextmanager
def batch_statistics(model: nn.Module) -> Iterator[None]:
    """Normalize with each batch's own statistics and leave the running ones as they are: a supernet's running
    BN statistics average over every path sampled in training and fit none of them (the search recalibrates
    them per candidate instead)."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved = [(m.training, m.momentum, m.num_batches_tracked.clone()) for m in norms]
    for norm in norms:
        norm.train()
        norm.momentum = 0.0  # running = 1 * running + 0 * batch
    try:
        yield
    finally:
        for norm, (training, momentum, tracked) in zip(norms, saved, strict=True):
            norm.train(training)
            norm.momentum = momentum
            norm.num_batches_tracked.copy_(tracked)


def run_evolution(
    space: SearchSpace,
    evaluate: Callable[[dict[str, Any]], float],
    feasible: Callable[[dict[str, Any]], bool],
    state_file: str | Path,
    on_generation: Callable[[EvolutionSearch], None] | None = None,
    progress: bool = False,
    repair: Repair | None = None,
    **settings: Any,
) -> EvolutionSearch:
    """An in-process evolutionary search: resumed from ``state_file`` when it exists and saved after every
    generation (a killed search resumes to the same result). ``feasible`` is checked before any evaluation;
    ``repair`` (optional) makes an infeasible draw feasible; ``settings`` are EvolutionSearch's
    (population_size, generations, ..., seed); ``progress``: a progress bar per generation."""
    state_file = Path(state_file)
    if state_file.exists():
        search = EvolutionSearch.load(state_file, constraint=feasible, repair=repair)
    else:
        search = EvolutionSearch(space, constraint=feasible, repair=repair, **settings)
    while not search.finished:
        title = f"generation {search.generation + 1}/{search.settings.generations}"
        bar = tqdm(search.ask(), desc=title, disable=not progress, leave=False, dynamic_ncols=True)
        for candidate in bar:
            search.tell(candidate, evaluate(candidate.values))
            best = search.best(1)
            if best:
                bar.set_postfix(best=f"{best[0][1]:.4f}")
        search.save(state_file)
        if on_generation is not None:
            on_generation(search)
    return search
