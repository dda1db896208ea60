"""Analytic cycle model of the accelerator (hardware/spinal, generated as Verilog `dpq_accel`), exact for a source
that always has the next activation beat ready and a sink that is always ready. Cycles count from the edge that
samples ``start`` to the edge that raises ``done``. A layer is ``vectors * row_tiles`` row tiles of
``column_tiles`` tiles each.

MAC mode (a multiplier per weight):

    2 + column_tiles                     the loop bounds register, the loop counters load them, then the first
                                         vector streams in (one beat of ``cols`` activations a cycle)
  + vectors * row_tiles * column_tiles   one tile issued per cycle; later vectors load into the other buffer
                                         bank meanwhile, which never stalls: a vector's compute
                                         (row_tiles * column_tiles cycles) is never shorter than its load
  + 9 + log2(cols)                       memory read, index register, codebook read, multiply, log2(cols)
                                         adder-tree levels, row-sum register, three accumulator parts (the
                                         last pushes into the output buffer), hand-off, registered finish
                                         that raises done

Centroid mode: a row tile's bins fill in ``column_tiles`` cycles, then drain through one multiplier per row
in ``entries = 2**index_bits`` cycles while the next row tile fills the other bank. With n counting row
tiles, s_n the edge issuing its first tile and e_n the edge reading its last bin:

    s_0 = column_tiles + 3,   s_n = max(s_{n-1} + column_tiles, e_{n-2} + 1)   (two bin banks)
    e_n = max(s_n + column_tiles + 2, e_{n-1} + 1) + entries - 1
    cycles = e_last + 4                  multiply, accumulate into the output register, hand-off, finish

so a layer costs about max(column_tiles, entries) cycles per row tile: the mode keeps pace with the MAC
array only when a row has at least ``cols * entries`` columns.
"""

from __future__ import annotations

from dataclasses import dataclass

from slimkit.accelerator.config import ArrayConfig

MAC_PIPELINE_CYCLES = 9  # read, index register, codebook, multiply, row sum, 3 accumulator parts, finish; + tree
CENTROID_TAIL_CYCLES = 4  # after the last bin read: multiply, accumulate, output hand-off, registered finish


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
    if config.mode == "mac":
        tree_levels = config.cols.bit_length() - 1
        return 2 + column_tiles + vectors * row_tiles * column_tiles + MAC_PIPELINE_CYCLES + tree_levels
    return _centroid_cycles(vectors * row_tiles, column_tiles, 2**config.index_bits)


def _centroid_cycles(row_tiles: int, column_tiles: int, entries: int) -> int:
    starts: list[int] = []
    ends: list[int] = []
    for n in range(row_tiles):
        start = column_tiles + 3 if n == 0 else starts[-1] + column_tiles
        if n >= 2:
            start = max(start, ends[n - 2] + 1)
        first_read = start + column_tiles + 2
        if n >= 1:
            first_read = max(first_read, ends[-1] + 1)
        starts.append(start)
        ends.append(first_read + entries - 1)
    return ends[-1] + CENTROID_TAIL_CYCLES


def layer_timing(config: ArrayConfig, rows: int, columns: int, vectors: int) -> LayerTiming:
    return LayerTiming(layer_cycles(config, rows, columns, vectors), rows * columns * vectors)


def utilisation(config: ArrayConfig, timing: LayerTiming) -> float:
    """Useful MACs over what the array's multipliers could do in those cycles (MAC mode: rows * cols per
    cycle). Centroid mode does fewer multiplies than MACs, so there it is MACs per cycle per lane."""
    return timing.macs_per_cycle / (config.rows * config.cols)
