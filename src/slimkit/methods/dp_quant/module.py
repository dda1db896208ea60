"""The LightningModule of every DP-Net stage: classification plus the stage's compression terms."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from slimkit.methods.classification import ClassificationModule, OptimizerFactory, SchedulerFactory
from slimkit.quant.quantized_weight import compressed_weights, original_weight

# (model, inputs, labels) -> adversarial inputs; None trains on natural inputs only
Attack = Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]


class CompressionModule(ClassificationModule):
    """Cross-entropy training of a model whose layers carry ``CompressedWeight`` parametrizations.

    ``recompute_every`` > 0 re-solves the exact DP clustering of every layer each that many steps
    (DPQ and DPR). ``clustering_weight`` > 0 adds DPR's regulariser, lambda * sum over layers of the
    clustering cost per weight (SSE / kept weights, so lambda does not depend on layer sizes).
    ``attack`` makes it adversarial training (PGD, Madry et al.): the loss is on attacked inputs.
    """

    def __init__(
        self,
        model: nn.Module,
        num_classes: int,
        optimizer: OptimizerFactory,
        scheduler: SchedulerFactory | None = None,
        label_smoothing: float = 0.0,
        recompute_every: int = 0,
        clustering_weight: float = 0.0,
        attack: Attack | None = None,
    ) -> None:
        super().__init__(model, num_classes, optimizer, scheduler, label_smoothing)
        self.recompute_every = recompute_every
        self.clustering_weight = clustering_weight
        self.attack = attack

    def recompute_clusters(self) -> None:
        for layer, compressed in compressed_weights(self.model).values():
            compressed.recompute_dp(original_weight(layer))

    def clustering_cost(self) -> torch.Tensor:
        terms = [
            compressed.sse(original_weight(layer)) / compressed.mask.sum().clamp_min(1)
            for layer, compressed in compressed_weights(self.model).values()
        ]
        return torch.stack(terms).sum()

    def on_validation_epoch_start(self) -> None:
        # validate what hard quantization would give now: the DP re-solved on the current weights
        if self.recompute_every:
            self.recompute_clusters()

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        if self.recompute_every and self.global_step % self.recompute_every == 0:
            self.recompute_clusters()
        inputs, labels = batch
        if self.attack is not None:
            inputs = self.attack(self.model, inputs, labels)
        loss = self._step((inputs, labels), "train")
        if self.clustering_weight:
            cost = self.clustering_cost()
            self.log("train/clustering_cost", cost, on_step=True, on_epoch=True, batch_size=len(labels))
            loss = loss + self.clustering_weight * cost
        return loss
