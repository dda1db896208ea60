"""Canonical Huffman coding: round trips, optimal lengths, prefix-free codes."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from slimkit.quant.huffman import canonical_codes, code_lengths, decode, encode


@pytest.mark.parametrize("alphabet", [2, 16, 256])
def test_round_trip_of_skewed_symbols_beats_fixed_width(alphabet):
    rng = np.random.default_rng(alphabet)
    probabilities = rng.dirichlet(np.full(alphabet, 0.3))
    symbols = rng.choice(alphabet, size=20_000, p=probabilities)
    lengths = code_lengths(np.bincount(symbols, minlength=alphabet))
    data = encode(symbols, lengths)
    assert np.array_equal(decode(data, lengths, len(symbols)), symbols)
    counts = np.bincount(symbols, minlength=alphabet)
    frequencies = counts[counts > 0] / len(symbols)
    entropy = -float((frequencies * np.log2(frequencies)).sum())
    average = 8 * len(data) / len(symbols)
    assert entropy <= average + 1e-9 and average < entropy + 1 + 8 / len(symbols)  # Huffman's bound


def test_lengths_are_optimal_on_a_textbook_example():
    # frequencies 45, 13, 12, 16, 9, 5 (CLRS): total cost 224 bits
    lengths = code_lengths([45, 13, 12, 16, 9, 5])
    assert sum(length * count for length, count in zip(lengths, [45, 13, 12, 16, 9, 5], strict=True)) == 224


def test_long_codes_decode_without_the_table():
    frequencies = [1, 1] + [2**i for i in range(1, 22)]  # Fibonacci-like: the longest code has 22 bits
    lengths = code_lengths(frequencies)
    assert max(lengths) > 16
    symbols = np.array([0, 1, 22, 5, 0, 21], dtype=np.int64)
    assert np.array_equal(decode(encode(symbols, lengths), lengths, len(symbols)), symbols)


def test_edge_cases():
    assert code_lengths([0, 7, 0]) == [0, 1, 0]
    assert np.array_equal(decode(encode(np.array([1, 1, 1]), [0, 1, 0]), [0, 1, 0], 3), [1, 1, 1])
    assert encode(np.array([], dtype=np.int64), [1, 1]) == b""
    with pytest.raises(ValueError, match="has no code"):
        encode(np.array([2]), [1, 1, 0])
    with pytest.raises(ValueError, match="ends before"):
        decode(b"", [1, 1], 3)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(0, 1000), min_size=2, max_size=40))
def test_codes_are_prefix_free_and_kraft_complete(frequencies):
    lengths = code_lengths(frequencies)
    used = [symbol for symbol, count in enumerate(frequencies) if count > 0]
    if len(used) < 2:
        return
    assert math.isclose(sum(2.0 ** -lengths[symbol] for symbol in used), 1.0)
    codes = canonical_codes(lengths)
    words = [format(int(codes[s]), f"0{lengths[s]}b") for s in used]
    assert not any(a != b and b.startswith(a) for a in words for b in words)
