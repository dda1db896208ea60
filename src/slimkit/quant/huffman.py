"""Canonical Huffman coding of integer symbols (cluster indices, sparse-position gaps), as in
Deep Compression's last stage. A code is fully described by its code lengths, so the compressed
file stores one length per symbol; encoding and decoding are vectorised with NumPy where possible.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence

import numpy as np

TABLE_BITS_LIMIT = 16  # decode through a 2^L lookup table when the longest code has at most L bits


def code_lengths(frequencies: Sequence[int]) -> list[int]:
    """Optimal (Huffman) code length per symbol; 0 for symbols that never occur.

    A single used symbol gets length 1 so that every symbol costs at least one bit.
    """
    used = [(int(count), symbol) for symbol, count in enumerate(frequencies) if count > 0]
    lengths = [0] * len(frequencies)
    if len(used) == 1:
        lengths[used[0][1]] = 1
        return lengths
    # heap of (weight, tie-breaker, symbols in the subtree): merging deepens every symbol below by one
    heap = [(count, symbol, [symbol]) for count, symbol in used]
    heapq.heapify(heap)
    while len(heap) > 1:
        weight_a, tie_a, symbols_a = heapq.heappop(heap)
        weight_b, tie_b, symbols_b = heapq.heappop(heap)
        for symbol in symbols_a + symbols_b:
            lengths[symbol] += 1
        heapq.heappush(heap, (weight_a + weight_b, min(tie_a, tie_b), symbols_a + symbols_b))
    return lengths


def canonical_codes(lengths: Sequence[int]) -> np.ndarray:
    """The canonical code value of each symbol (shorter codes first, then by symbol); 0 where unused."""
    order = sorted((length, symbol) for symbol, length in enumerate(lengths) if length > 0)
    codes = np.zeros(len(lengths), dtype=np.uint64)
    code, previous_length = 0, order[0][0] if order else 0
    for index, (length, symbol) in enumerate(order):
        if index:
            code = (code + 1) << (length - previous_length)
        codes[symbol] = code
        previous_length = length
    return codes


def encode(symbols: np.ndarray, lengths: Sequence[int]) -> bytes:
    """Bit-pack the canonical codes of ``symbols`` (most significant bit first, zero-padded)."""
    symbols = np.asarray(symbols, dtype=np.int64).reshape(-1)
    if symbols.size == 0:
        return b""
    length_of = np.asarray(lengths, dtype=np.int64)
    if np.any(length_of[symbols] == 0):
        raise ValueError("a symbol to encode has no code (frequency 0 when the code was built)")
    codes = canonical_codes(lengths)[symbols]
    sizes = length_of[symbols]
    width = int(sizes.max())
    positions = np.arange(width, dtype=np.int64)
    shifts = (sizes[:, None] - 1 - positions[None, :]).clip(min=0).astype(np.uint64)
    bits = ((codes[:, None] >> shifts) & np.uint64(1)).astype(np.uint8)
    return np.packbits(bits[positions[None, :] < sizes[:, None]]).tobytes()


def decode(data: bytes, lengths: Sequence[int], count: int) -> np.ndarray:
    """The ``count`` symbols encoded in ``data`` with the canonical code of ``lengths``."""
    if count == 0:
        return np.zeros(0, dtype=np.int64)
    bits = np.unpackbits(np.frombuffer(data, dtype=np.uint8))
    longest = max(lengths)
    if longest <= TABLE_BITS_LIMIT:
        return _decode_with_table(bits, lengths, count, longest)
    return _decode_bit_by_bit(bits, lengths, count)


def _decode_with_table(bits: np.ndarray, lengths: Sequence[int], count: int, longest: int) -> np.ndarray:
    codes = canonical_codes(lengths)
    table_symbol = np.zeros(1 << longest, dtype=np.int64)
    table_length = np.zeros(1 << longest, dtype=np.int64)
    for symbol, length in enumerate(lengths):
        if length:
            first = int(codes[symbol]) << (longest - length)
            table_symbol[first : first + (1 << (longest - length))] = symbol
            table_length[first : first + (1 << (longest - length))] = length
    padded = np.concatenate([bits, np.zeros(longest, dtype=np.uint8)]).astype(np.int64)
    # window[p]: the `longest` bits starting at bit p, as an integer
    window = np.zeros(len(bits), dtype=np.int64)
    for offset in range(longest):
        window = (window << 1) | padded[offset : offset + len(bits)]
    out = np.empty(count, dtype=np.int64)
    position = 0
    for index in range(count):  # each step is two table lookups: the chain itself is sequential
        if position >= len(bits):
            raise ValueError("the Huffman data ends before the last symbol")
        entry = window[position]
        out[index] = table_symbol[entry]
        position += table_length[entry]
    if position > len(bits):
        raise ValueError("the Huffman data ends before the last symbol")
    return out


def _decode_bit_by_bit(bits: np.ndarray, lengths: Sequence[int], count: int) -> np.ndarray:
    codes = canonical_codes(lengths)
    lookup = {(int(length), int(codes[symbol])): symbol for symbol, length in enumerate(lengths) if length}
    out = np.empty(count, dtype=np.int64)
    code = length = index = 0
    for bit in bits.tolist():
        code, length = (code << 1) | bit, length + 1
        symbol = lookup.get((length, code))
        if symbol is not None:
            out[index], code, length, index = symbol, 0, 0, index + 1
            if index == count:
                return out
    raise ValueError("the Huffman data ends before the last symbol")
