"""What a method's runner gets from the pipeline: the config, the data, and factories for
models and trainers wired to the run's loggers, callbacks and output directory."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import lightning as L
from hydra.utils import get_class, instantiate
from lightning.pytorch.callbacks import ProgressBar
from lightning.pytorch.loggers import Logger
from omegaconf import DictConfig, OmegaConf
from torch import nn

from slimkit.accelerator.network_cost import AcceleratorCost
from slimkit.loggers import build_loggers


@dataclass
class RunContext:
    cfg: DictConfig
    output_dir: Path
    datamodule: L.LightningDataModule
    resume_from: str | None = None
    _loggers: list[Logger] | None = field(default=None, repr=False)

    def build_model(self, **overrides: object) -> nn.Module:
        """A fresh model from ``cfg.model``, sized from the datamodule's input shape and classes."""
        return build_model(self.cfg.model, self.datamodule, **overrides)

    def accelerator_metrics(self, model: nn.Module) -> dict[str, float]:
        """``accel/cycles``, ``accel/index_words`` and ``accel/fits`` of ``model`` on the run's ``accelerator``
        build (none without one): what a sweep's objective or constraint can name. ConfigError for a layer the
        accelerator cannot run."""
        build = self.cfg.get("accelerator")
        if build is None:
            return {}
        if isinstance(build, DictConfig):
            build = OmegaConf.to_container(build)
        return AcceleratorCost(build).of_model(model, self.datamodule.input_shape).metrics()

    @property
    def loggers(self) -> list[Logger]:
        """The run's loggers, created once (one W&B run per job) with the resolved config logged."""
        if self._loggers is None:
            self._loggers = build_loggers(self.cfg.get("logger"))
            resolved = OmegaConf.to_container(self.cfg, resolve=True)
            for logger in self._loggers:
                logger.log_hyperparams(resolved)
        return self._loggers

    @property
    def progress_bars(self) -> bool:
        """Whether the run shows progress bars: a progress bar is among ``cfg.callbacks``. The searches'
        bars follow the same switch, so ``callbacks.progress_bar=null`` means no bar at all."""
        nodes = (self.cfg.get("callbacks") or {}).values()
        return any(issubclass(get_class(node._target_), ProgressBar) for node in nodes if node and "_target_" in node)

    def build_trainer(self, extra_callbacks: list[L.Callback] | None = None, **overrides: object) -> L.Trainer:
        """A Trainer from ``cfg.trainer`` with fresh callbacks from ``cfg.callbacks``."""
        callbacks_cfg = self.cfg.get("callbacks") or {}
        callbacks = [instantiate(node) for node in callbacks_cfg.values() if node and "_target_" in node]
        callbacks += extra_callbacks or []
        if not any(isinstance(callback, ProgressBar) for callback in callbacks) and (
            "enable_progress_bar" not in self.cfg.trainer
        ):
            # no bar configured: without this Lightning would add its default (Rich) bar
            overrides.setdefault("enable_progress_bar", False)
        return instantiate(self.cfg.trainer, callbacks=callbacks, logger=self.loggers or False, **overrides)

    def test_best(self, trainer: L.Trainer, module: L.LightningModule) -> dict[str, float]:
        """Test metrics of the best checkpoint when one was kept, else of the module as it is."""
        checkpoint = trainer.checkpoint_callback
        has_best = checkpoint is not None and bool(getattr(checkpoint, "best_model_path", ""))
        results = trainer.test(
            module, datamodule=self.datamodule, ckpt_path="best" if has_best else None, weights_only=True
        )
        return {name: float(value) for name, value in results[0].items()}


def build_model(model_cfg: DictConfig, datamodule: L.LightningDataModule, **overrides: object) -> nn.Module:
    channels, height, _ = datamodule.input_shape
    injected = {"in_channels": channels, "input_size": height}
    if hasattr(datamodule, "num_classes"):  # classification data; super-resolution data have none
        injected["num_classes"] = datamodule.num_classes
    return instantiate(model_cfg, **injected, **overrides)
