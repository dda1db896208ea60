"""Quantized weights as torch parametrizations: which layers carry them, their widths, the nearest-level lookup
and the straight-through step, and the two parametrizations built on them.

- ``CompressedWeight`` (``method=dp_quant``, DP-Net): one fixed width per layer, a pruning mask, a trainable
  codebook and each weight's cluster, all in the state dict, in one of four modes (see the class).
- ``BitsChoiceWeight`` (``method=spos_bits``): a width chosen per step among several (or none: the float weight);
  the DP levels of each width are solved from the current weights when first needed and cached until
  ``forget_codebooks``. It adds nothing to the state dict.

They stay two classes because their state differs (buffers and a parameter against a cache); what they share,
the lookup of each weight's level and the gradient passed straight through, is one function each here.
The float weight is kept as the parametrization's ``original``; a layer's ``weight`` is what the layer sees.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn.utils import parametrize

from slimkit.quant.dp import optimal_codebook

MODES = ("float", "dpq", "dpr", "shared")


def quantizable_layers(model: nn.Module) -> dict[str, nn.Module]:
    """Every Conv2d and Linear layer by module name, in model order: the layers whose weights are quantized."""
    return {name: module for name, module in model.named_modules() if isinstance(module, nn.Conv2d | nn.Linear)}


def layer_widths(bits: int | Sequence[int], layers: int, key: str = "bits") -> list[int]:
    """One bit width per layer from one width for all or a list of one per layer (``key`` names it in the error)."""
    widths = [bits] * layers if isinstance(bits, int) else list(bits)
    if len(widths) != layers:
        raise ValueError(f"{key} lists {len(widths)} widths but the model has {layers} conv/linear layers")
    return [int(width) for width in widths]


def nearest_level(values: torch.Tensor, levels: torch.Tensor) -> torch.Tensor:
    """Each value replaced by its nearest level (``levels`` sorted ascending); no gradient flows through it."""
    levels = levels.detach()
    return levels[torch.bucketize(values.detach(), (levels[1:] + levels[:-1]) / 2)]


def straight_through(weight: torch.Tensor, quantized: torch.Tensor) -> torch.Tensor:
    """``quantized`` forward, the identity backward: the gradient of the quantized weight reaches ``weight``."""
    return weight + (quantized - weight).detach()


def original_weight(layer: nn.Module) -> torch.Tensor:
    """The float weight a parametrized layer keeps."""
    return layer.parametrizations.weight.original


class CompressedWeight(nn.Module):
    """What DP-Net compression does to a layer's weight; the layer sees, by ``mode``:

    - ``float``: the weight times its pruning mask (pruned weights stay exactly zero while retraining);
    - ``dpq``: DPQ, every kept weight replaced by its nearest codebook value, straight-through backward;
    - ``dpr``: as ``float``; the runner adds the clustering cost (``sse``) to the loss;
    - ``shared``: weight sharing, ``codebook[assignment]`` at the kept positions; only the codebook
      trains, so each centroid's gradient is the sum over its cluster (Deep Compression's fine-tuning).

    Between DP recomputations the codebook is frozen and each weight takes its nearest codebook value. Right
    after a recomputation that is exactly the DP's clustering (an optimal 1-D clustering assigns every value to
    its nearest centroid), so ``sse()`` is the exact optimum there and an upper bound on it in between; weights
    may cross to a neighbouring cluster at any step. (A frozen *assignment* instead lets weights of one cluster
    drift apart unseen: measured on LeNet-5, the next re-solve then dropped validation accuracy from 0.97 to
    0.29.) Every buffer has a fixed shape from the start, so one checkpoint format serves every stage.
    """

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
            return straight_through(masked, torch.where(self.mask, self.nearest(original), 0.0))
        return masked

    def nearest(self, values: torch.Tensor) -> torch.Tensor:
        """Each value replaced by its nearest codebook entry (the codebook is sorted)."""
        return nearest_level(values, self.codebook)

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


class BitsChoiceWeight(nn.Module):
    """The float weight (``bits`` None), or its nearest DP level at ``bits`` bits, straight through."""

    def __init__(self) -> None:
        super().__init__()
        self.bits: int | None = None
        self.codebooks: dict[int, torch.Tensor] = {}

    def forward(self, original: torch.Tensor) -> torch.Tensor:
        if self.bits is None:
            return original
        codebook = self.codebooks.get(self.bits)
        if codebook is None:
            codebook = self.solve(original, self.bits)
        return straight_through(original, nearest_level(original, codebook))

    def solve(self, original: torch.Tensor, bits: int) -> torch.Tensor:
        """The exact DP levels of ``original`` at ``bits`` bits, cached for this width."""
        codebook = optimal_codebook(original.detach(), 2**bits).codebook.to(original.dtype)
        self.codebooks[bits] = codebook
        return codebook


def parametrized_layers(model: nn.Module) -> dict[str, tuple[nn.Module, nn.Module]]:
    """(layer, its weight's parametrization) by name, for every quantizable layer whose weight has one."""
    return {
        name: (layer, layer.parametrizations.weight[0])
        for name, layer in quantizable_layers(model).items()
        if parametrize.is_parametrized(layer, "weight")
    }


def attach_compressed(model: nn.Module, bits: int | Sequence[int], key: str = "bits") -> dict[str, CompressedWeight]:
    """Give every quantizable layer's weight a CompressedWeight; ``bits`` is one width or one per layer, in order
    (``key``: the setting's name in the error when they do not match)."""
    layers = quantizable_layers(model)
    compressed = {}
    for (name, layer), width in zip(layers.items(), layer_widths(bits, len(layers), key), strict=True):
        compressed[name] = CompressedWeight(layer.weight, width)
        parametrize.register_parametrization(layer, "weight", compressed[name], unsafe=True)
    return compressed


def compressed_weights(model: nn.Module) -> dict[str, tuple[nn.Module, CompressedWeight]]:
    """(layer, its CompressedWeight) by layer name, for a model prepared with ``attach_compressed``."""
    return parametrized_layers(model)


def set_mode(model: nn.Module, mode: str) -> None:
    """Every CompressedWeight's mode; in ``shared`` only the codebooks learn, otherwise only the float weights."""
    if mode not in MODES:
        raise ValueError(f"unknown compression mode {mode!r}; choose one of {', '.join(MODES)}")
    for layer, compressed in compressed_weights(model).values():
        compressed.mode = mode
        original_weight(layer).requires_grad_(mode != "shared")
        compressed.codebook.requires_grad_(mode == "shared")


def attach_bits_choice(model: nn.Module) -> list[str]:
    """Give every quantizable layer's weight not parametrized yet a BitsChoiceWeight; the layer names, in order."""
    layers = quantizable_layers(model)
    for layer in layers.values():
        if not parametrize.is_parametrized(layer, "weight"):
            parametrize.register_parametrization(layer, "weight", BitsChoiceWeight())
    return list(layers)


def bit_choices(model: nn.Module) -> list[BitsChoiceWeight]:
    """Every layer's BitsChoiceWeight, in order, for a model prepared with ``attach_bits_choice``."""
    return [choice for _, choice in parametrized_layers(model).values()]


def set_bits(model: nn.Module, bits: int | Sequence[int] | None) -> None:
    """Every layer's width: one for all, one per layer, or None (the float weights)."""
    choices = bit_choices(model)
    widths = [None] * len(choices) if bits is None else layer_widths(bits, len(choices))
    for choice, width in zip(choices, widths, strict=True):
        choice.bits = width


def forget_codebooks(model: nn.Module) -> None:
    """Drop the cached levels: the next forward re-solves the DP from the current weights."""
    for choice in bit_choices(model):
        choice.codebooks.clear()
