"""Packing between the exported memory images ([row][column] indices, [vector][column] activations) and the
accelerator's words: one index word per (row tile, column tile), one activation beat per column tile, one
result beat per (vector, row tile). Lane (i, j) of a tile is row ``rt*rows + i``, column ``ct*cols + j``;
padding rows and columns are zero (the hardware zeroes padding activations itself, so padding indices are
harmless)."""

from __future__ import annotations

import numpy as np

from slimkit.accelerator.config import ArrayConfig


def _pack(lanes: np.ndarray, bits: int) -> int:
    """Little-endian concatenation: lane 0 in the lowest ``bits`` bits (values taken modulo 2**bits)."""
    word = 0
    for lane in reversed(lanes.tolist()):
        word = (word << bits) | (int(lane) & ((1 << bits) - 1))
    return word


def _padded(matrix: np.ndarray, rows: int, cols: int) -> np.ndarray:
    out = np.zeros((rows, cols), dtype=np.int64)
    out[: matrix.shape[0], : matrix.shape[1]] = matrix
    return out


def index_words(indices: np.ndarray, config: ArrayConfig) -> list[int]:
    """The index memory image: word rt * column_tiles + ct holds tile (rt, ct)."""
    row_tiles, column_tiles = config.tiles(*indices.shape)
    padded = _padded(indices, row_tiles * config.rows, column_tiles * config.cols)
    tiles = padded.reshape(row_tiles, config.rows, column_tiles, config.cols).transpose(0, 2, 1, 3)
    return [_pack(tile.reshape(-1), config.index_bits) for tile in tiles.reshape(-1, config.rows * config.cols)]


def activation_beats(activations: np.ndarray, config: ArrayConfig) -> list[int]:
    """The input stream: for each vector, its column tiles in order."""
    vectors, columns = activations.shape
    _, column_tiles = config.tiles(1, columns)
    padded = _padded(activations, vectors, column_tiles * config.cols)
    return [_pack(beat, config.act_bits) for beat in padded.reshape(-1, config.cols)]


def unpack_results(beats: list[int], rows: int, config: ArrayConfig) -> np.ndarray:
    """Output beats (vector by vector, row tile by row tile) to a signed (vectors, rows) matrix."""
    row_tiles, _ = config.tiles(rows, 1)
    if len(beats) % row_tiles:
        raise ValueError(f"{len(beats)} result beats is not a whole number of vectors of {row_tiles} row tiles")
    mask, sign = (1 << config.acc_bits) - 1, 1 << (config.acc_bits - 1)
    lanes = [((beat >> (i * config.acc_bits)) & mask) for beat in beats for i in range(config.rows)]
    values = np.array([lane - (lane & sign) * 2 for lane in lanes], dtype=np.int64)
    return values.reshape(-1, row_tiles * config.rows)[:, :rows]


def wrap(values: np.ndarray, bits: int) -> np.ndarray:
    """Two's complement wrap of int64 values to ``bits`` bits (what a ``bits``-wide accumulator holds)."""
    half = 1 << (bits - 1)
    return (values + half) % (1 << bits) - half
