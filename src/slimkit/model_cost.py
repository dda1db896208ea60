"""Cheap costs of a candidate config, computed without training: parameters and FLOPs of its model.

The model is built on PyTorch's meta device (no memory, no time) and FLOPs are counted by
``torch.utils.flop_counter.FlopCounterMode`` on one meta sample of the data's input shape (it counts functional
convolutions, which thop and ptflops' default backend miss); on an accelerator build, its cycles come from
``slimkit.accelerator.network_cost``. Sweepers call a ``ModelBudget`` before launching a candidate, so
infeasible candidates are never trained.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig
from torch.utils.flop_counter import FlopCounterMode

from slimkit.accelerator.network_cost import AcceleratorCost
from slimkit.errors import ConfigError
from slimkit.run_context import build_model


def model_cost(cfg: DictConfig, accelerator: AcceleratorCost | None = None) -> dict[str, int]:
    """``{"params": ..., "flops": ...}`` of ``cfg.model`` on ``cfg.data``'s input shape (one sample), with
    ``accelerator`` also its ``cycles`` per inference and whether it ``fits`` (1 or 0) that build."""
    datamodule = instantiate(cfg.data)
    with torch.device("meta"):
        model = build_model(cfg.model, datamodule).eval()
        counter = FlopCounterMode(display=False)
        with counter:
            model(torch.empty(1, *datamodule.input_shape))
    costs = {"params": sum(parameter.numel() for parameter in model.parameters()), "flops": counter.get_total_flops()}
    if accelerator is not None:
        network = accelerator.of_model(model, datamodule.input_shape)
        costs |= {"cycles": network.cycles, "fits": int(network.fits)}
    return costs


class ModelBudget:
    """A constraint for sweepers: feasible when the model's params / FLOPs are within the limits and, on an
    ``accelerator`` build (a name of ``slimkit.accelerator.builds`` or ArrayConfig's fields), its cycles per
    inference too and (``must_fit``) every layer fits the build."""

    def __init__(
        self,
        max_params: int | None = None,
        max_flops: int | None = None,
        accelerator: str | Mapping[str, Any] | None = None,
        max_cycles: int | None = None,
        must_fit: bool = False,
    ) -> None:
        if accelerator is None and (max_cycles is not None or must_fit):
            raise ConfigError("the sweeper's constraint: max_cycles and must_fit need an accelerator build")
        self.limits = {"params": max_params, "flops": max_flops, "cycles": max_cycles}
        self.must_fit = must_fit
        self.accelerator = AcceleratorCost(accelerator) if accelerator is not None else None

    def __call__(self, cfg: DictConfig) -> tuple[bool, dict[str, int]]:
        """(feasible, costs) for a candidate's composed job config."""
        costs = model_cost(cfg, self.accelerator)
        feasible = all(limit is None or costs[name] <= limit for name, limit in self.limits.items())
        return feasible and (costs.get("fits", 1) == 1 or not self.must_fit), costs
