"""Magnitude pruning (Deep Compression's first stage): keep the largest-magnitude weights of a
layer, hold the rest at zero while retraining. Masks are applied with torch.nn.utils.prune, so the
pruned weights stay zero through optimiser steps and ``prune.remove`` makes them permanent."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils import prune


def magnitude_mask(weight: torch.Tensor, sparsity: float) -> torch.Tensor:
    """A mask keeping exactly ``round((1 - sparsity) * n)`` weights, those of largest magnitude
    (ties broken by position, so the kept count is exact)."""
    if not 0.0 <= sparsity < 1.0:
        raise ValueError(f"sparsity must be in [0, 1), got {sparsity}")
    keep = round((1.0 - sparsity) * weight.numel())
    mask = torch.zeros(weight.numel(), dtype=torch.bool, device=weight.device)
    mask[torch.topk(weight.detach().abs().reshape(-1), keep, sorted=False).indices] = True
    return mask.reshape(weight.shape)


def prune_by_magnitude(module: nn.Module, sparsity: float, name: str = "weight") -> torch.Tensor:
    """Mask ``module.<name>`` to the given sparsity (kept through training); return the mask."""
    mask = magnitude_mask(getattr(module, name), sparsity)
    prune.custom_from_mask(module, name, mask)
    return mask
