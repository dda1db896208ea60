"""SPOS mixed-precision quantization search (Guo et al. 2020, who published no code for it): one set of
shared weights, each conv/linear layer quantized on the fly to one of several bit widths
by slimkit's exact DP quantizer (2^bits levels per layer, straight-through backward; the parametrization is
``BitsChoiceWeight`` in slimkit.quant.quantized_weight).

Supernet training draws every layer's width uniformly per step (from (seed, step), so DDP ranks agree); a
layer's DP codebooks are re-solved from its current weights every ``recompute_every`` steps; in between, each
weight takes its nearest level. The search evaluates a width per layer with codebooks solved exactly from the
trained weights. Costs: the weight memory (indices plus a float32 codebook per layer) and BitOPs (MACs x weight
bits x activation bits, MACs measured once by forward hooks).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from slimkit.methods.classification import ClassificationModule, OptimizerFactory, SchedulerFactory
from slimkit.quant.quantized_weight import attach_bits_choice, forget_codebooks, quantizable_layers, set_bits

CODEBOOK_ENTRY_BITS = 32


@dataclass(frozen=True)
class LayerCosts:
    weights: tuple[int, ...]  # per layer
    macs: tuple[int, ...]  # per layer, for one input

    def size_bits(self, bits: Sequence[int]) -> int:
        """Index bits plus one float32 codebook per layer."""
        return sum(n * b + (2**b) * CODEBOOK_ENTRY_BITS for n, b in zip(self.weights, bits, strict=True))

    def bitops(self, bits: Sequence[int], activation_bits: int) -> int:
        return sum(m * b * activation_bits for m, b in zip(self.macs, bits, strict=True))


def measure_costs(model: nn.Module, input_shape: Sequence[int]) -> LayerCosts:
    """Weights and MACs of each conv/linear layer, from one forward pass of one input on the CPU."""
    layers = quantizable_layers(model)
    macs: dict[str, int] = {}

    def hook(name: str):  # noqa: ANN202 - a forward hook factory
        def record(module: nn.Module, _: tuple, output: torch.Tensor) -> None:
            weight = module.weight
            per_output = weight[0].numel() if isinstance(module, nn.Conv2d) else weight.shape[1]
            macs[name] = int(output.numel() * per_output)

        return record

    handles = [layer.register_forward_hook(hook(name)) for name, layer in layers.items()]
    try:
        was_training = model.training
        model.eval()
        with torch.no_grad():
            model(torch.zeros(1, *input_shape))
        model.train(was_training)
    finally:
        for handle in handles:
            handle.remove()
    return LayerCosts(tuple(layers[name].weight.numel() for name in layers), tuple(macs[name] for name in layers))


def bits_for_step(seed: int, step: int, layers: int, widths: Sequence[int]) -> list[int]:
    rng = random.Random(seed * 1_000_003 + step)
    return [rng.choice(list(widths)) for _ in range(layers)]


class BitsSupernetModule(ClassificationModule):
    """Trains the shared weights under a uniformly drawn width per layer every step; validation and test use a
    fixed draw per batch index, so epochs compare."""

    def __init__(
        self,
        model: nn.Module,
        num_classes: int,
        optimizer: OptimizerFactory,
        scheduler: SchedulerFactory | None,
        widths: Sequence[int],
        seed: int,
        recompute_every: int,
        label_smoothing: float,
        fixed_bits: Sequence[int] | None = None,
    ) -> None:
        super().__init__(model, num_classes, optimizer, scheduler, label_smoothing)
        self.widths, self.seed, self.recompute_every = list(widths), seed, max(1, recompute_every)
        self.layer_count = len(attach_bits_choice(model))
        self.fixed_bits = None if fixed_bits is None else list(fixed_bits)

    def draw(self, step: int) -> list[int]:
        """The widths of a step: drawn uniformly, or always ``fixed_bits`` (fine-tuning one network)."""
        if self.fixed_bits is not None:
            return self.fixed_bits
        return bits_for_step(self.seed, step, self.layer_count, self.widths)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        if self.global_step % self.recompute_every == 0:
            forget_codebooks(self.model)
        set_bits(self.model, self.draw(self.global_step))
        return super().training_step(batch, batch_idx)

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        set_bits(self.model, self.draw(-1 - batch_idx))
        super().validation_step(batch, batch_idx)

    def test_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        set_bits(self.model, self.draw(-1 - batch_idx))
        super().test_step(batch, batch_idx)

    def on_validation_epoch_start(self) -> None:
        forget_codebooks(self.model)  # evaluated on codebooks of the weights as they are

    def on_test_epoch_start(self) -> None:
        forget_codebooks(self.model)
