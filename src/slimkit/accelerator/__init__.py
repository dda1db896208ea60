"""Python side of the Verilog accelerator in hardware/: its configuration, the analytic cycle model, a whole
network's cost on a build (``network_cost``: what searches and sweeps constrain), the memory images of
DP-quantized layers (``memory_images``, written by ``slimkit-export-hw``: ``export``) and their packing into the
accelerator's words (hardware/README.md)."""

from slimkit.accelerator.config import ArrayConfig
from slimkit.accelerator.cycle_model import LayerTiming, layer_cycles, layer_timing
from slimkit.accelerator.tiles import activation_beats, index_words, unpack_results

__all__ = [
    "ArrayConfig",
    "LayerTiming",
    "activation_beats",
    "index_words",
    "layer_cycles",
    "layer_timing",
    "unpack_results",
]
