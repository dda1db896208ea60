"""The LightningModules that train classifiers with cross-entropy, shared by methods: plain, with the SPOS /
MetaPruning recipe (linear decay), and over weight-sharing networks."""

from __future__ import annotations

import logging
from collections.abc import Callable

import lightning as L
import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics.classification import MulticlassAccuracy

from slimkit.search.weight_sharing import batch_statistics

log = logging.getLogger(__name__)

OptimizerFactory = Callable[..., torch.optim.Optimizer]
SchedulerFactory = Callable[..., torch.optim.lr_scheduler.LRScheduler]


class ClassificationModule(L.LightningModule):
    """Logs ``<split>/loss`` and ``<split>/acc`` (top-1) for train, val and test."""

    def __init__(
        self,
        model: nn.Module,
        num_classes: int,
        optimizer: OptimizerFactory,
        scheduler: SchedulerFactory | None = None,
        label_smoothing: float = 0.0,
    ) -> None:
        super().__init__()
        self.model = model
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        self.label_smoothing = label_smoothing
        self.accuracy = nn.ModuleDict(
            {f"{split}_acc": MulticlassAccuracy(num_classes, average="micro") for split in ("train", "val", "test")}
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    def _step(self, batch: tuple[torch.Tensor, torch.Tensor], split: str) -> torch.Tensor:
        inputs, labels = batch
        logits = self(inputs)
        loss = F.cross_entropy(logits, labels, label_smoothing=self.label_smoothing if split == "train" else 0.0)
        accuracy = self.accuracy[f"{split}_acc"]
        accuracy(logits, labels)
        on_step = split == "train"
        self.log(f"{split}/loss", loss, on_step=on_step, on_epoch=True, prog_bar=True, batch_size=len(labels))
        self.log(f"{split}/acc", accuracy, on_step=False, on_epoch=True, prog_bar=True)
        return loss

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        return self._step(batch, "train")

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        self._step(batch, "val")

    def test_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        self._step(batch, "test")

    def configure_optimizers(self) -> dict:
        optimizer = self.optimizer_factory(self.parameters())
        if self.scheduler_factory is None:
            return {"optimizer": optimizer}
        scheduler = self.scheduler_factory(optimizer)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "epoch"}}


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


class WeightSharingModule(LinearDecayModule):
    """A network of many sub-networks sharing weights (SPOS supernet, MetaPruning PruningNet): training step
    ``s`` runs sub-network ``structure(s)``; validation and test run a fixed one per batch index with batch BN
    statistics (the running ones average over every structure trained and fit none; a search recalibrates
    them per candidate). Subclasses say what a structure is (``structure``) and how to select it (``use``)."""

    def structure(self, step: int) -> object:
        raise NotImplementedError

    def use(self, structure: object) -> None:
        raise NotImplementedError

    def evaluation_structure(self, batch_idx: int) -> object:
        """The sub-network validation and test batch ``batch_idx`` runs."""
        return self.structure(-1 - batch_idx)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        self.use(self.structure(self.global_step))
        return super().training_step(batch, batch_idx)

    def on_train_epoch_end(self) -> None:
        """The sampled structures' training accuracy per epoch in the log: whether a weight-sharing network
        trains at all (with no progress bar, ProgressLog's epoch line says it already)."""
        trainer = self.trainer
        accuracy = trainer.callback_metrics.get("train/acc")
        if accuracy is not None and trainer.progress_bar_callback is not None and trainer.is_global_zero:
            log.info(
                "epoch %d/%d: sampled structures' train/acc %.4f", self.current_epoch + 1, trainer.max_epochs, accuracy
            )

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        self.use(self.evaluation_structure(batch_idx))
        with batch_statistics(self.model):
            super().validation_step(batch, batch_idx)

    def test_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        self.use(self.evaluation_structure(batch_idx))
        with batch_statistics(self.model):
            super().test_step(batch, batch_idx)
