"""The accelerator's cost of a whole network on one build: per layer, the cycles of the cycle model, the index
memory words of its weights and whether it fits the build; totals per network.

A network runs layer by layer: the host loads a layer's codebook and index memory, streams the layer's input
vectors (im2col windows for a conv) through it and applies bias, BN, the nonlinearity, residual additions and
pooling to the outputs itself. So the accelerator's share of one inference is the sum of its Linear and Conv2d
layers' cycles on one sample, and a layer fits when its own index image, shapes and column tiles fit the build.
Depthwise and grouped convs do not run on the accelerator: a network holding one is refused in one line that
names the layer.

Two ways in, equal by test: ``of_model`` hooks any module on PyTorch's meta device (what the export exports),
``of_spec`` reads a channel-prunable ``NetSpec`` at an encoding without building anything (what a search calls
thousands of times; each distinct layer shape is costed once and kept).
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from slimkit.accelerator.builds import resolve_build
from slimkit.accelerator.config import ArrayConfig
from slimkit.accelerator.cycle_model import layer_cycles
from slimkit.accelerator.geometry import matrix_shape
from slimkit.errors import ConfigError
from slimkit.models.channel_spec import NetSpec, layer_widths


@dataclass(frozen=True)
class LayerCost:
    name: str  # the module name (as the export names the layer's folder)
    rows: int
    columns: int
    vectors: int  # per inference (one sample)
    cycles: int
    index_words: int  # words of the layer's index memory image
    misfit: str | None  # why the layer does not fit the build; None when it fits


@dataclass(frozen=True)
class NetworkCost:
    build: str
    layers: tuple[LayerCost, ...]

    @property
    def cycles(self) -> int:
        return sum(layer.cycles for layer in self.layers)

    @property
    def index_words(self) -> int:
        """Index memory words of all layers' images (what the host stores and loads layer by layer)."""
        return sum(layer.index_words for layer in self.layers)

    @property
    def fits(self) -> bool:
        return all(layer.misfit is None for layer in self.layers)

    @property
    def misfits(self) -> list[str]:
        return [f"{layer.name}: {layer.misfit}" for layer in self.layers if layer.misfit is not None]

    def metrics(self) -> dict[str, float]:
        """The totals as a run's metrics (``accel/cycles`` is what objectives and caps name)."""
        return {
            "accel/cycles": float(self.cycles),
            "accel/index_words": float(self.index_words),
            "accel/fits": float(self.fits),
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "build": self.build,
            "cycles": self.cycles,
            "index_words": self.index_words,
            "fits": self.fits,
            "layers": [asdict(layer) for layer in self.layers],
        }


class AcceleratorCost:
    """The cost of networks on one build (a name of ``slimkit.accelerator.builds.BUILDS``, ArrayConfig's fields
    or an ArrayConfig)."""

    def __init__(self, build: str | Mapping[str, Any] | ArrayConfig) -> None:
        self.build, self.config = resolve_build(build)
        self._shape_cost = functools.lru_cache(maxsize=None)(self._uncached_shape_cost)

    def layer(self, name: str, rows: int, columns: int, vectors: int) -> LayerCost:
        cycles, words, misfit = self._shape_cost(rows, columns, vectors)
        return LayerCost(name, rows, columns, vectors, cycles, words, misfit)

    def of_model(self, model: nn.Module, input_shape: Sequence[int]) -> NetworkCost:
        """The cost of ``model`` (any module; its Linear and Conv2d layers run on the accelerator) on one sample
        of ``input_shape`` (C, H, W or features), traced on the meta device. ConfigError for a layer the
        accelerator cannot run."""
        shapes = _layer_input_shapes(model, tuple(input_shape))
        layers = []
        for name, (module, shape) in shapes.items():
            try:
                rows, columns, vectors = matrix_shape(module, shape)
            except ValueError as error:
                raise ConfigError(f"layer {name} cannot run on the accelerator: {error}") from None
            layers.append(self.layer(name, rows, columns, vectors))
        return NetworkCost(self.build, tuple(layers))

    def of_spec(self, spec: NetSpec, encoding: Sequence[float]) -> NetworkCost:
        """The cost of ``spec`` at ``encoding`` (a ratio per gene), as ``of_model`` of its ChannelNet gives it."""
        widths, features = layer_widths(spec, encoding)
        layers = []
        for index, (conv, (in_width, out_width)) in enumerate(zip(spec.convs, widths, strict=True)):
            name = f"layers.{index}.conv"
            if conv.depthwise:
                raise ConfigError(f"layer {name} of {spec.name} is a depthwise conv: the accelerator cannot run it")
            columns = in_width * conv.kernel * conv.kernel
            layers.append(self.layer(name, out_width, columns, conv.out_size * conv.out_size))
        layers.append(self.layer("classifier", spec.num_classes, features, 1))
        return NetworkCost(self.build, tuple(layers))

    def cycles(self, spec: NetSpec, encoding: Sequence[float]) -> int:
        """``of_spec``'s cycles alone."""
        return self.of_spec(spec, encoding).cycles

    def _uncached_shape_cost(self, rows: int, columns: int, vectors: int) -> tuple[int, int, str | None]:
        row_tiles, column_tiles = self.config.tiles(rows, columns)
        try:
            self.config.check_layer(rows, columns, 1, vectors)  # the codebook's width is the quantizer's choice
            misfit = None
        except ValueError as error:
            misfit = str(error)
        return layer_cycles(self.config, rows, columns, vectors), row_tiles * column_tiles, misfit


@dataclass(frozen=True)
class CycleLimits:
    """A search's accelerator constraint: at most ``max_cycles`` per inference (None: any) and, with
    ``must_fit``, every layer within the build's memories and shape ports."""

    cost: AcceleratorCost
    max_cycles: int | None = None
    must_fit: bool = False

    def allows(self, network: NetworkCost) -> bool:
        within = self.max_cycles is None or network.cycles <= self.max_cycles
        return within and (network.fits or not self.must_fit)

    def describe(self) -> str:
        limits = [f"cycles <= {self.max_cycles}"] if self.max_cycles is not None else []
        limits += ["every layer fitting"] if self.must_fit else []
        return f"{' and '.join(limits) or 'no limit'} on {self.cost.build}"

    def spec_constraint(self, spec: NetSpec) -> Callable[[Sequence[float]], bool]:
        """``allows`` for encodings of ``spec``."""
        return lambda encoding: self.allows(self.cost.of_spec(spec, encoding))


def _layer_input_shapes(model: nn.Module, input_shape: tuple[int, ...]) -> dict[str, tuple[nn.Module, tuple]]:
    """Every Linear/Conv2d module of ``model`` (in call order) and the input shape it sees in one forward of one
    sample, on a meta-device copy (nothing is computed; ``model`` itself is left as it was)."""
    seen: dict[str, tuple[nn.Module, tuple]] = {}

    def hook_for(name: str) -> Callable[[nn.Module, tuple], None]:
        def hook(module: nn.Module, args: tuple) -> None:
            if name in seen:
                raise ConfigError(f"layer {name} runs twice per forward: the accelerator cost needs one call each")
            seen[name] = (module, tuple(args[0].shape))

        return hook

    meta = copy.deepcopy(model).to("meta")
    handles = [
        module.register_forward_pre_hook(hook_for(name))
        for name, module in meta.named_modules()
        if isinstance(module, nn.Linear | nn.Conv2d)
    ]
    try:
        with torch.no_grad():
            meta.eval()(torch.empty(1, *input_shape, device="meta"))
    finally:
        for handle in handles:
            handle.remove()
    return seen
