"""Fixed-width bit packing of small non-negative integers (cluster indices before entropy coding)."""

from __future__ import annotations

import numpy as np


def bits_needed(max_value: int) -> int:
    """Bits for the integers 0..max_value (at least 1)."""
    return max(1, int(max_value).bit_length())


def pack(values: np.ndarray, bits: int) -> bytes:
    """``values`` (each < 2**bits) as ``bits``-bit fields, most significant bit first, zero-padded."""
    values = np.asarray(values, dtype=np.uint64).reshape(-1)
    if values.size and int(values.max()) >> bits:
        raise ValueError(f"a value does not fit in {bits} bits")
    shifts = np.arange(bits - 1, -1, -1, dtype=np.uint64)
    return np.packbits(((values[:, None] >> shifts) & np.uint64(1)).astype(np.uint8)).tobytes()


def unpack(data: bytes, bits: int, count: int) -> np.ndarray:
    """The ``count`` integers packed by :func:`pack`."""
    field_bits = np.unpackbits(np.frombuffer(data, dtype=np.uint8))[: count * bits]
    if field_bits.size < count * bits:
        raise ValueError("the packed data is shorter than its declared length")
    weights = 1 << np.arange(bits - 1, -1, -1, dtype=np.int64)
    return field_bits.reshape(count, bits).astype(np.int64) @ weights
