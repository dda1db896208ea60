"""PGD of robust compression (``method.adversarial=pgd``), configured in pixel units.

eps and step size are given for images in [0, 1] (what papers quote, e.g. 8/255 on CIFAR); the
model sees normalised inputs, so slimkit.attacks scales them by the data's per-channel std and keeps
the attack inside the normalised image of [0, 1].
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Annotated

import lightning as L
import torch
from annotated_types import Ge
from torch import nn

from slimkit.attacks import adversarial_accuracy, normalized_pgd_settings, pgd_attack
from slimkit.attacks.pgd import PgdSettings
from slimkit.errors import ConfigError
from slimkit.methods.dp_quant.module import Attack
from slimkit.settings import Positive, PositiveInt, check_fields


@dataclass(frozen=True, kw_only=True)
class PgdConfig:
    """``method.pgd`` (values: conf/method/dp_quant.yaml): eps and step size in pixel units, the attack's steps in
    training and in the accuracy measured after it."""

    eps: Annotated[float, Ge(0)]
    step_size: Positive
    steps: PositiveInt
    eval_steps: PositiveInt

    def __post_init__(self) -> None:
        check_fields(self)

    def settings_for(self, datamodule: L.LightningDataModule) -> PgdSettings:
        """The training attack on this data's normalised inputs."""
        if getattr(datamodule, "normalization", None) is None:
            datamodule.setup("fit")  # some datamodules learn their normalization from the data
        normalization = getattr(datamodule, "normalization", None)
        if normalization is None:
            raise ConfigError("method.adversarial=pgd needs image data with a known normalization (not synthetic)")
        mean, std = normalization
        return normalized_pgd_settings(self.eps, self.step_size, self.steps, mean, std)

    def attack_for(self, datamodule: L.LightningDataModule) -> Attack:
        settings = self.settings_for(datamodule)

        def attack(model: nn.Module, inputs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
            bounds = {
                name: getattr(settings, name).to(inputs.device) for name in ("eps", "step_size", "lower", "upper")
            }
            return pgd_attack(model, inputs, labels, steps=settings.steps, **bounds)

        return attack

    def accuracy(self, model: nn.Module, datamodule: L.LightningDataModule) -> float:
        """Top-1 accuracy on the test split under PGD with ``eval_steps`` steps."""
        settings = dataclasses.replace(self.settings_for(datamodule), steps=self.eval_steps)
        datamodule.setup("test")
        return adversarial_accuracy(model, datamodule.test_dataloader(), settings)
