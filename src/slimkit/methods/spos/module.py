"""Supernet training by uniform single-path sampling (SPOS): every training step draws one path uniformly,
optionally rejection-sampled into a FLOPs range as the official code does, and only that path's weights get
gradients (the others keep ``grad=None``, so SGD leaves them, momentum and weight decay included).

The path of step ``s`` is a function of (seed, s) only, so every DDP rank draws the same path without
communicating, and a resumed run draws the paths an uninterrupted one would have.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

from slimkit.methods.classification import ClassificationModule, OptimizerFactory
from slimkit.models.shufflenet_costs import CostTable
from slimkit.models.shufflenet_supernet import Path, ShuffleNetSupernet

MAX_DRAWS = 1000  # rejection sampling gives up (with a clear error) after this many draws of one step


def path_for_step(
    seed: int,
    step: int,
    search_blocks: bool = True,
    search_channels: bool = False,
    costs: CostTable | None = None,
    flops_range: tuple[float, float] | None = None,
) -> Path:
    """The path of training step ``step``: uniform, redrawn until its FLOPs fall in ``flops_range``."""
    rng = random.Random(seed * 1_000_003 + step)
    for _ in range(MAX_DRAWS):
        path = Path.sample(rng, search_channels=search_channels, search_blocks=search_blocks)
        if flops_range is None or costs is None or flops_range[0] <= costs.flops(path) <= flops_range[1]:
            return path
    raise ValueError(f"no path with FLOPs in {flops_range} after {MAX_DRAWS} draws: widen the range")


class LinearDecayModule(ClassificationModule):
    """The paper's recipe for the supernet and the retrained network: no weight decay on biases and BN, the
    learning rate decayed linearly to zero per step."""

    def configure_optimizers(self) -> dict:
        decayed = [p for p in self.parameters() if p.ndim > 1]
        plain = [p for p in self.parameters() if p.ndim <= 1]
        optimizer = self.optimizer_factory([{"params": decayed}, {"params": plain, "weight_decay": 0.0}])
        total = max(1, int(self.trainer.estimated_stepping_batches))
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: max(0.0, 1.0 - step / total))
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}


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


class SupernetModule(LinearDecayModule):
    """LinearDecayModule over a ShuffleNetSupernet that samples a path per step. Validation and test score a
    fixed path per batch index (the same ones every epoch, so epochs compare) with batch BN statistics."""

    def __init__(
        self,
        model: ShuffleNetSupernet,
        num_classes: int,
        optimizer: OptimizerFactory,
        label_smoothing: float = 0.1,
        seed: int = 0,
        search_blocks: bool = True,
        costs: CostTable | None = None,
        flops_range: tuple[float, float] | None = None,
    ) -> None:
        super().__init__(model, num_classes, optimizer, None, label_smoothing)
        self.seed, self.search_blocks, self.costs, self.flops_range = seed, search_blocks, costs, flops_range

    def path(self, step: int) -> Path:
        return path_for_step(
            self.seed, step, self.search_blocks, self.model.search_channels, self.costs, self.flops_range
        )

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        self.model.set_path(self.path(self.global_step))
        return super().training_step(batch, batch_idx)

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        self.model.set_path(self.path(-1 - batch_idx))
        with batch_statistics(self.model):
            super().validation_step(batch, batch_idx)

    def test_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        self.model.set_path(self.path(-1 - batch_idx))
        with batch_statistics(self.model):
            super().test_step(batch, batch_idx)
