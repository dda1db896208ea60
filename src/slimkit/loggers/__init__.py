"""Experiment loggers: built from ``cfg.logger``, closed at the end of every job."""

from __future__ import annotations

from hydra.utils import instantiate
from lightning.pytorch.loggers import Logger
from omegaconf import DictConfig

from slimkit.loggers.csv import ResumableCSVLogger
from slimkit.loggers.wandb import finish_wandb_run, wandb_logger

__all__ = ["ResumableCSVLogger", "build_loggers", "close_loggers", "wandb_logger"]


def build_loggers(logger_cfg: DictConfig | None) -> list[Logger]:
    if not logger_cfg:
        return []
    return [instantiate(node) for node in logger_cfg.values() if node and "_target_" in node]


def close_loggers(failed: bool) -> None:
    finish_wandb_run(failed)
