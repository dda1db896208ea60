"""Magnitude pruning (Deep Compression's first stage): which weights to keep. The masks are held
through retraining by dp_quant's weight parametrization (slimkit.quant.quantized_weight.CompressedWeight)."""

from __future__ import annotations

import torch


def magnitude_mask(weight: torch.Tensor, sparsity: float) -> torch.Tensor:
    """A mask keeping exactly ``round((1 - sparsity) * n)`` weights, those of largest magnitude
    (ties broken by position, so the kept count is exact)."""
    if not 0.0 <= sparsity < 1.0:
        raise ValueError(f"sparsity must be in [0, 1), got {sparsity}")
    keep = round((1.0 - sparsity) * weight.numel())
    mask = torch.zeros(weight.numel(), dtype=torch.bool, device=weight.device)
    mask[torch.topk(weight.detach().abs().reshape(-1), keep, sorted=False).indices] = True
    return mask.reshape(weight.shape)


def global_magnitude_masks(
    weights: dict[str, torch.Tensor], sparsity: float, min_density: float = 0.0
) -> dict[str, torch.Tensor]:
    """Masks keeping the largest-magnitude weights over all layers together (one threshold), so
    large, redundant layers give up more than small ones; each layer keeps at least ``min_density``
    of its weights (a tiny first conv would otherwise be wiped out). The total kept is exact when no
    layer hits its floor, slightly above the target when some do."""
    if not 0.0 <= min_density <= 1.0:
        raise ValueError(f"min_density must be in [0, 1], got {min_density}")
    magnitudes = torch.cat([weight.detach().abs().reshape(-1).float().cpu() for weight in weights.values()])
    keep = round((1.0 - sparsity) * magnitudes.numel()) if 0.0 <= sparsity < 1.0 else -1
    if keep < 0:
        raise ValueError(f"sparsity must be in [0, 1), got {sparsity}")
    chosen = torch.zeros(magnitudes.numel(), dtype=torch.bool)
    chosen[torch.topk(magnitudes, keep, sorted=False).indices] = True
    masks, start = {}, 0
    for name, weight in weights.items():
        mask = chosen[start : start + weight.numel()].reshape(weight.shape).to(weight.device)
        start += weight.numel()
        floor = min(weight.numel(), round(min_density * weight.numel()))
        if int(mask.sum()) < floor:
            mask = magnitude_mask(weight, 1.0 - floor / weight.numel())
        masks[name] = mask
    return masks
