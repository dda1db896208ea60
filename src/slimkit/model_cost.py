"""Cheap costs of a candidate config, computed without training: parameters and FLOPs of its model.

The model is built on PyTorch's meta device (no memory, no time) and FLOPs are counted by
``torch.utils.flop_counter.FlopCounterMode`` on one meta sample of the data's input shape (it
counts functional convolutions, which thop and ptflops' default backend miss). Sweepers call a
``ModelBudget`` before launching a candidate, so infeasible candidates are never trained.
"""

from __future__ import annotations

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig
from torch.utils.flop_counter import FlopCounterMode

from slimkit.run_context import build_model


def model_cost(cfg: DictConfig) -> dict[str, int]:
    """``{"params": ..., "flops": ...}`` of ``cfg.model`` on ``cfg.data``'s input shape (one sample)."""
    datamodule = instantiate(cfg.data)
    with torch.device("meta"):
        model = build_model(cfg.model, datamodule).eval()
        counter = FlopCounterMode(display=False)
        with counter:
            model(torch.empty(1, *datamodule.input_shape))
    return {"params": sum(parameter.numel() for parameter in model.parameters()), "flops": counter.get_total_flops()}


class ModelBudget:
    """A constraint for sweepers: feasible when the model's params / FLOPs are within the limits."""

    def __init__(self, max_params: int | None = None, max_flops: int | None = None) -> None:
        self.limits = {"params": max_params, "flops": max_flops}

    def __call__(self, cfg: DictConfig) -> tuple[bool, dict[str, int]]:
        """(feasible, costs) for a candidate's composed job config."""
        costs = model_cost(cfg)
        feasible = all(limit is None or costs[name] <= limit for name, limit in self.limits.items())
        return feasible, costs
