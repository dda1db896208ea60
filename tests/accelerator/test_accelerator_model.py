"""The Python side of the accelerator: configuration checks, the packing of memory images into the array's
words (inverse of what the hardware unpacks) and the cycle model's closed forms."""

from __future__ import annotations

import numpy as np
import pytest

from slimkit.accelerator import ArrayConfig, activation_beats, index_words, layer_cycles, unpack_results
from slimkit.accelerator.cycle_model import layer_timing, utilisation
from slimkit.accelerator.tiles import wrap


def lanes(word: int, count: int, bits: int) -> list[int]:
    return [(word >> (lane * bits)) & ((1 << bits) - 1) for lane in range(count)]


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"rows": 3}, "powers of two"),
        ({"index_bits": 9}, "index_bits"),
        ({"acc_bits": 16}, "acc_bits"),
        ({"mode": "systolic"}, "mode"),
        ({"column_tiles": 512, "shape_bits": 8}, "column_tiles"),
        ({"column_tiles": 1}, "at least 2"),
        ({"index_depth": 1}, "at least 2"),
    ],
)
def test_bad_configurations_are_refused(settings, message):
    with pytest.raises(ValueError, match=message):
        ArrayConfig(**settings)


def test_layers_that_do_not_fit_are_named():
    config = ArrayConfig(rows=2, cols=2, index_bits=2, index_depth=4, column_tiles=2)
    with pytest.raises(ValueError, match="codebook entries"):
        config.check_layer(2, 2, 5)
    with pytest.raises(ValueError, match="column tiles"):
        config.check_layer(2, 5, 4)
    with pytest.raises(ValueError, match="index words"):
        config.check_layer(6, 4, 4)


def test_index_words_hold_each_tile_lane_by_lane():
    config = ArrayConfig(rows=2, cols=4, index_bits=3)
    indices = np.random.default_rng(0).integers(0, 8, (3, 5))
    words = index_words(indices, config)
    assert len(words) == 2 * 2  # 2 row tiles x 2 column tiles, row tile major
    for word_index, word in enumerate(words):
        row_tile, column_tile = divmod(word_index, 2)
        for lane, value in enumerate(lanes(word, 8, 3)):
            row, column = row_tile * 2 + lane // 4, column_tile * 4 + lane % 4
            inside = row < 3 and column < 5
            assert value == (indices[row, column] if inside else 0)


def test_activation_beats_and_results_round_trip_signed_values():
    config = ArrayConfig(rows=4, cols=2, act_bits=6, acc_bits=20)
    activations = np.array([[-32, 31, -1], [5, 0, -7]])
    beats = activation_beats(activations, config)
    assert [lanes(beat, 2, 6) for beat in beats] == [[32, 31], [63, 0], [5, 0], [57, 0]]
    results = np.array([[-(2**19), 2**19 - 1, -1, 0, 7], [1, 2, 3, 4, 5]])
    padded = np.zeros((2, 8), dtype=np.int64)
    padded[:, :5] = results
    beats = [sum((int(v) & (2**20 - 1)) << (20 * i) for i, v in enumerate(tile)) for tile in padded.reshape(-1, 4)]
    assert np.array_equal(unpack_results(beats, 5, config), results)
    assert np.array_equal(wrap(np.array([2**19, -(2**19) - 1]), 20), [-(2**19), 2**19 - 1])


def test_mac_cycles_are_the_documented_closed_form():
    config = ArrayConfig(rows=4, cols=8)
    # 2 + column tiles + vectors * row tiles * column tiles + 9 + log2(cols)
    assert layer_cycles(config, 9, 17, 5) == 2 + 3 + 5 * 3 * 3 + 9 + 3
    timing = layer_timing(config, 64, 576, 1024)
    assert utilisation(config, timing) > 0.999


def test_centroid_mode_costs_the_larger_of_column_tiles_and_entries_per_row_tile():
    config = ArrayConfig(rows=2, cols=4, index_bits=4, mode="centroid")  # 16 entries

    def per_row_tile(column_tiles: int) -> float:  # marginal cost of 50 more row tiles
        columns = 4 * column_tiles
        return (layer_cycles(config, 200, columns, 1) - layer_cycles(config, 100, columns, 1)) / 50

    assert per_row_tile(4) == 16  # drain-bound
    assert per_row_tile(40) == 40  # accumulation-bound: drains hide behind it
    with pytest.raises(ValueError, match=">= 1"):
        layer_cycles(config, 0, 4, 1)
