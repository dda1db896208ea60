"""The configurations hardware/ checks besides the named builds (slimkit.accelerator.builds): the cocotb tests'
parameter sets and the lint's edge cases. `make hw-gen` generates Verilog for all of them."""

from __future__ import annotations

from dataclasses import replace

from slimkit.accelerator import ArrayConfig
from slimkit.accelerator.builds import BUILDS
from slimkit.accelerator.config import MODES

SIMULATORS = ("icarus", "verilator")

# name: (configuration, simulators). Verilator builds take ~20 s each, so it gets three of them (and the UP5K
# build in test_a_pruned_resnet_simulates_in_the_cycles_a_search_predicts).
TEST_CONFIGS = {
    "4x4_index5": (ArrayConfig(rows=4, cols=4, index_bits=5, column_tiles=128, index_depth=4096), SIMULATORS),
    "2x8_index8_acc20": (
        ArrayConfig(rows=2, cols=8, index_bits=8, codebook_bits=6, act_bits=10, acc_bits=20),
        SIMULATORS,
    ),
    "8x1_index1": (ArrayConfig(rows=8, cols=1, index_bits=1, acc_bits=24), ("icarus",)),
    "up5k_mac_2x4": (BUILDS["up5k_mac_2x4"], ("icarus",)),  # the UP5K build: 24-bit sums, 12-bit shapes
    "1x2_index2_wide": (
        ArrayConfig(rows=1, cols=2, index_bits=2, codebook_bits=12, act_bits=12, acc_bits=40),
        ("icarus",),
    ),
    "centroid_4x4_index5": (
        ArrayConfig(rows=4, cols=4, index_bits=5, column_tiles=128, index_depth=4096, mode="centroid"),
        SIMULATORS,
    ),
    "centroid_4x2_index2_acc20": (
        ArrayConfig(rows=4, cols=2, index_bits=2, codebook_bits=6, act_bits=10, acc_bits=20, mode="centroid"),
        ("icarus",),
    ),
}

# lint edges, each in both modes: a 1x1 array with 1-bit indices and the smallest memories, 8-bit indices with
# wide words, narrow words with 8-bit shapes
_EDGES = [
    ArrayConfig(rows=1, cols=1, index_bits=1, acc_bits=20, column_tiles=2, index_depth=2),
    ArrayConfig(rows=8, cols=2, index_bits=8, codebook_bits=12, act_bits=12, acc_bits=40),
    ArrayConfig(rows=2, cols=16, index_bits=3, codebook_bits=4, act_bits=6, acc_bits=11, shape_bits=8),
]
LINT_EDGES = [replace(edge, mode=mode) for edge in _EDGES for mode in MODES]
