"""Meta-SR training (docs/methods/meta_sr.md): L1 loss on batches that share one scale drawn from the training
range, Adam with the learning rate halved every ``halve_every`` epochs; validation and test report PSNR on the
Y channel (border shave ceil(r)) of whole held-out images at fixed scales, per scale and on average."""

from __future__ import annotations

import math

import lightning as L
import torch
import torch.nn.functional as F

from slimkit.methods.classification import OptimizerFactory
from slimkit.models.meta_sr import MetaSR
from slimkit.sr.metrics import psnr_y_torch

Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor]


class MetaSRModule(L.LightningModule):
    def __init__(self, model: MetaSR, optimizer: OptimizerFactory, halve_every: int) -> None:
        super().__init__()
        self.model = model
        self.optimizer_factory = optimizer
        self.halve_every = halve_every

    def forward(self, lr: torch.Tensor, scale: float) -> torch.Tensor:
        return self.model(lr, scale)

    def training_step(self, batch: Batch, batch_idx: int) -> torch.Tensor:
        lr, hr, scale = batch
        loss = F.l1_loss(self.model(lr, float(scale[0])), hr)
        self.log("train/loss", loss, on_step=True, on_epoch=True, prog_bar=True, batch_size=len(lr))
        return loss

    def _evaluate(self, batch: Batch, split: str) -> None:
        lr, hr, scale = batch
        value = float(scale[0])
        sr = self.model(lr, value).clamp(0, 1)
        psnr = psnr_y_torch(sr, hr, math.ceil(value))
        self.log(f"{split}/psnr", psnr.mean(), on_epoch=True, prog_bar=True, batch_size=len(lr))
        self.log(f"{split}/psnr_x{value:g}", psnr.mean(), on_epoch=True, batch_size=len(lr))

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        self._evaluate(batch, "val")

    def test_step(self, batch: Batch, batch_idx: int) -> None:
        self._evaluate(batch, "test")

    def configure_optimizers(self) -> dict:
        optimizer = self.optimizer_factory(self.parameters())
        scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=self.halve_every, gamma=0.5)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "epoch"}}
