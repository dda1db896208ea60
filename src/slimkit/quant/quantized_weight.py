"""What DP-Net compression does to a layer's weight, as one torch parametrization per layer.

The float weight (``original``) is kept; what the layer sees depends on the stage:

- ``float``: the weight times its pruning mask (pruned weights stay exactly zero while retraining);
- ``dpq``: DPQ, every kept weight replaced by its cluster's centroid, straight-through backward;
- ``dpr``: as ``float``; the runner adds the clustering cost of ``original`` to the loss;
- ``shared``: weight sharing, ``codebook[assignment]`` at the kept positions; only the codebook
  trains, so each centroid's gradient is the sum over its cluster (Deep Compression's fine-tuning).

Between DP recomputations (every N steps) the codebook is frozen and each weight takes its nearest
codebook value. Right after a recomputation that is exactly the DP's clustering (an optimal 1-D
clustering assigns every value to its nearest centroid), so ``sse()`` is the exact optimum SSE*_k
there and an upper bound on it in between; weights may cross to a neighbouring cluster at any step.
(A frozen *assignment* instead lets weights of one cluster drift apart unseen: measured on LeNet-5,
the next re-solve then dropped validation accuracy from 0.97 to 0.29.)
Every buffer has a fixed shape from the start, so one checkpoint format serves every stage.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils import parametrize

from slimkit.quant import optimal_codebook

MODES = ("float", "dpq", "dpr", "shared")


class CompressedWeight(nn.Module):
    def __init__(self, weight: torch.Tensor, bits: int) -> None:
        super().__init__()
        if not 1 <= bits <= 16:
            raise ValueError(f"bits must be in 1..16, got {bits}")
        self.bits = bits
        self.mode = "float"
        self.register_buffer("mask", torch.ones_like(weight, dtype=torch.bool))
        self.register_buffer("assignment", torch.zeros_like(weight, dtype=torch.long))
        self.codebook = nn.Parameter(torch.zeros(2**bits, dtype=weight.dtype, device=weight.device))

    @property
    def clusters(self) -> int:
        return 2**self.bits

    def forward(self, original: torch.Tensor) -> torch.Tensor:
        if self.mode == "shared":
            return torch.where(self.mask, self.codebook[self.assignment], 0.0)
        masked = original * self.mask
        if self.mode == "dpq":
            quantized = torch.where(self.mask, self.nearest(original), 0.0)
            return masked + (quantized - masked).detach()
        return masked

    def nearest(self, values: torch.Tensor) -> torch.Tensor:
        """Each value replaced by its nearest codebook entry (the codebook is sorted)."""
        codebook = self.codebook.detach()
        return codebook[torch.bucketize(values.detach(), (codebook[1:] + codebook[:-1]) / 2)]

    def sse(self, original: torch.Tensor) -> torch.Tensor:
        """Sum of squared distances of the kept weights to their nearest codebook values (differentiable)."""
        values = original[self.mask]
        return (values - self.nearest(values)).pow(2).sum()

    @torch.no_grad()
    def set_codebook(self, codebook: torch.Tensor, assignment_of_kept: torch.Tensor) -> None:
        """Install a sorted codebook and the cluster of every kept weight. A codebook shorter than 2^bits
        (fewer distinct weights) is padded with its last value, so it stays sorted."""
        self.codebook.copy_(codebook[-1] if codebook.numel() else 0.0)
        self.codebook[: codebook.numel()] = codebook.to(self.codebook)
        self.assignment.zero_()
        self.assignment[self.mask] = assignment_of_kept.to(self.assignment)

    @torch.no_grad()
    def recompute_dp(self, original: torch.Tensor) -> None:
        """Exact DP clustering of the kept weights: new assignment, centroids as codebook."""
        result = optimal_codebook(original[self.mask], self.clusters)
        self.set_codebook(result.codebook, result.assignment)


def quantizable_layers(model: nn.Module) -> dict[str, nn.Module]:
    """Every Conv2d and Linear layer by module name: the layers whose weights DP-Net compresses."""
    return {name: module for name, module in model.named_modules() if isinstance(module, nn.Conv2d | nn.Linear)}


def attach(model: nn.Module, bits: int | list[int]) -> dict[str, CompressedWeight]:
    """Parametrize every quantizable layer's weight; ``bits`` is one width or one per layer, in order."""
    layers = quantizable_layers(model)
    widths = [bits] * len(layers) if isinstance(bits, int) else list(bits)
    if len(widths) != len(layers):
        raise ValueError(f"method.bits lists {len(widths)} widths but the model has {len(layers)} conv/linear layers")
    compressed = {}
    for (name, layer), width in zip(layers.items(), widths, strict=True):
        compressed[name] = CompressedWeight(layer.weight, int(width))
        parametrize.register_parametrization(layer, "weight", compressed[name], unsafe=True)
    return compressed


def compressed_weights(model: nn.Module) -> dict[str, tuple[nn.Module, CompressedWeight]]:
    """(layer, its CompressedWeight) by layer name, for a model prepared with ``attach``."""
    found = {}
    for name, layer in quantizable_layers(model).items():
        if parametrize.is_parametrized(layer, "weight"):
            found[name] = (layer, layer.parametrizations.weight[0])
    return found


def original_weight(layer: nn.Module) -> torch.Tensor:
    return layer.parametrizations.weight.original


def set_mode(model: nn.Module, mode: str) -> None:
    if mode not in MODES:
        raise ValueError(f"unknown compression mode {mode!r}; choose one of {', '.join(MODES)}")
    for layer, compressed in compressed_weights(model).values():
        compressed.mode = mode
        # in weight sharing only the codebook learns; the float weights are no longer used
        original_weight(layer).requires_grad_(mode != "shared")
        compressed.codebook.requires_grad_(mode == "shared")
