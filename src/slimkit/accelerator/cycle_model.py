"""Analytic cycle model of hardware/rtl/dpq_accel.v (plain MAC mode), exact for a source that always has the
next activation beat ready and a sink that is always ready.

From the edge that samples ``start`` to the edge that raises ``done``:

    column_tiles                       the first vector streams in (one beat of ``cols`` activations per cycle)
  + vectors * row_tiles * column_tiles one tile issued per cycle; later vectors load into the other buffer
                                       bank meanwhile, which never stalls because a vector's compute
                                       (row_tiles * column_tiles cycles) is never shorter than its load
  + 4 + log2(cols)                     pipeline: memory read, codebook lookup, multiply, log2(cols) adder-tree
                                       levels, accumulate into the output register, hand-off that raises done
"""

from __future__ import annotations

from dataclasses import dataclass

from slimkit.accelerator.config import ArrayConfig

PIPELINE_CYCLES = 4  # read, lookup, multiply, output hand-off; plus one per adder-tree level


@dataclass(frozen=True)
class LayerTiming:
    cycles: int
    macs: int  # useful multiply-accumulates: rows * columns * vectors

    @property
    def macs_per_cycle(self) -> float:
        return self.macs / self.cycles


def layer_cycles(config: ArrayConfig, rows: int, columns: int, vectors: int) -> int:
    """Cycles from start to done for one rows x columns layer over ``vectors`` input vectors."""
    if min(rows, columns, vectors) < 1:
        raise ValueError(f"rows, columns and vectors must be >= 1, got {rows}, {columns}, {vectors}")
    row_tiles, column_tiles = config.tiles(rows, columns)
    return column_tiles + vectors * row_tiles * column_tiles + PIPELINE_CYCLES + (config.cols.bit_length() - 1)


def layer_timing(config: ArrayConfig, rows: int, columns: int, vectors: int) -> LayerTiming:
    return LayerTiming(layer_cycles(config, rows, columns, vectors), rows * columns * vectors)


def utilisation(config: ArrayConfig, timing: LayerTiming) -> float:
    """Useful MACs over what the array could do in those cycles (rows * cols per cycle)."""
    return timing.macs_per_cycle / (config.rows * config.cols)
