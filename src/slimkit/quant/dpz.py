"""The ``.dpz`` compressed-model file: what DP-Net compression writes and its decoder reads.

Layout (version 1), all integers little-endian:

    b"DPZ" | version: uint8 | header length: uint32 | header: zlib(UTF-8 JSON) | payload | SHA-256 of all before

The JSON header holds the architecture config (to rebuild the network) and one entry per tensor:
``{"name", "shape", "kind": "quantized" | "dense", ...}``. A quantized tensor stores its float32
codebook, its cluster indices (``"indices": {"encoding": "huffman" | "packed", ...}``: Huffman with
one code length per codebook entry, or fixed-width ``bits``), and for a pruned tensor the positions of
the kept weights (``"positions"``) as relative indices, Deep Compression's scheme: the gap before each
kept weight, where a gap of ``max_run`` or more is written as filler symbols ``max_run`` (skip that many
positions, no weight) followed by the rest. ``max_run`` (15, 31, ..., 255) is chosen per tensor for the
smallest file; the symbols are Huffman-coded like the indices. A dense tensor (biases, BN) is raw
float32, or float16 when it was given as float16 (``"dtype"``); it is read back as float32. Every
``offset``/``nbytes`` points into the payload. The checksum covers the whole file, so any flipped byte
is reported, not decoded into wrong weights.
"""

from __future__ import annotations

import hashlib
import json
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from slimkit.quant import bitpack, huffman

MAGIC = b"DPZ"
VERSION = 1
DIGEST_SIZE = 32
DENSE_DTYPES = {"float32": np.float32, "float16": np.float16}


class DpzFormatError(ValueError):
    """A file that is not a valid .dpz file of a version this code reads (or was corrupted)."""


@dataclass
class QuantizedTensor:
    """``codebook[indices]`` placed at ``positions`` (flat, sorted; None = every position) of ``shape``."""

    shape: tuple[int, ...]
    codebook: np.ndarray
    indices: np.ndarray
    positions: np.ndarray | None = None

    def dense(self) -> np.ndarray:
        values = self.codebook.astype(np.float32)[self.indices]
        if self.positions is None:
            return values.reshape(self.shape)
        out = np.zeros(int(np.prod(self.shape)), dtype=np.float32)
        out[self.positions] = values
        return out.reshape(self.shape)


class _Payload:
    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.size = 0

    def add(self, data: bytes) -> dict[str, int]:
        self.chunks.append(data)
        self.size += len(data)
        return {"offset": self.size - len(data), "nbytes": len(data)}


def _encode_symbols(symbols: np.ndarray, alphabet: int, payload: _Payload, entropy_coding: bool) -> dict[str, Any]:
    """Huffman or fixed-width, whichever is smaller for these symbols (fixed-width only without entropy coding)."""
    bits = bitpack.bits_needed(alphabet - 1)
    packed = bitpack.pack(symbols, bits)
    if not entropy_coding:
        return {"encoding": "packed", "count": int(symbols.size), "bits": bits, **payload.add(packed)}
    lengths = huffman.code_lengths(np.bincount(symbols, minlength=alphabet)) if symbols.size else [0] * alphabet
    coded = huffman.encode(symbols, lengths)
    if len(coded) + alphabet < len(packed):  # a code length per symbol is ~1 byte in the header
        return {"encoding": "huffman", "count": int(symbols.size), "lengths": lengths, **payload.add(coded)}
    return {"encoding": "packed", "count": int(symbols.size), "bits": bits, **payload.add(packed)}


MAX_RUNS = (15, 31, 63, 127, 255)


def _encode_positions(positions: np.ndarray, payload: _Payload, entropy_coding: bool) -> dict[str, Any]:
    """Relative indices with filler symbols, for the ``max_run`` that gives the fewest bytes."""
    gaps = np.diff(positions, prepend=-1) - 1
    best: tuple[int, dict[str, Any], _Payload] | None = None
    for max_run in MAX_RUNS:
        fillers = gaps // max_run
        symbols = np.full(int((fillers + 1).sum()), max_run, dtype=np.int64)
        symbols[np.cumsum(fillers + 1) - 1] = gaps % max_run  # each gap's last symbol: what is left of it
        trial = _Payload()
        entry = {"max_run": max_run, **_encode_symbols(symbols, max_run + 1, trial, entropy_coding)}
        cost = trial.size + len(entry.get("lengths", ()))
        if best is None or cost < best[0]:
            best = (cost, entry, trial)
    assert best is not None
    _, entry, trial = best
    return entry | payload.add(b"".join(trial.chunks))


def _decode_positions(entry: dict[str, Any], payload: memoryview) -> np.ndarray:
    symbols = _decode_symbols(entry, payload)
    max_run = entry["max_run"]
    # a filler moves the cursor max_run places; a gap symbol s puts a weight s places on, then moves past it
    steps = np.where(symbols == max_run, max_run, symbols + 1)
    return (np.cumsum(steps) - 1)[symbols != max_run]


def _decode_symbols(entry: dict[str, Any], payload: memoryview) -> np.ndarray:
    data = bytes(payload[entry["offset"] : entry["offset"] + entry["nbytes"]])
    if entry["encoding"] == "huffman":
        return huffman.decode(data, entry["lengths"], entry["count"])
    return bitpack.unpack(data, entry["bits"], entry["count"])


def encode_dpz(
    quantized: dict[str, QuantizedTensor],
    dense: dict[str, np.ndarray],
    architecture: dict[str, Any],
    entropy_coding: bool = True,
) -> bytes:
    """The bytes of a .dpz file. ``entropy_coding=False`` stores every index and
    position gap fixed-width (the size before Huffman coding, for comparison)."""
    payload = _Payload()
    tensors: list[dict[str, Any]] = []
    for name, tensor in quantized.items():
        entry: dict[str, Any] = {"name": name, "kind": "quantized", "shape": list(tensor.shape)}
        codebook = np.asarray(tensor.codebook, dtype=np.float32)
        entry["codebook"] = {"count": int(codebook.size), **payload.add(codebook.tobytes())}
        indices = np.asarray(tensor.indices, dtype=np.int64)
        entry["indices"] = _encode_symbols(indices, codebook.size, payload, entropy_coding)
        if tensor.positions is not None:
            entry["positions"] = _encode_positions(
                np.asarray(tensor.positions, dtype=np.int64), payload, entropy_coding
            )
        tensors.append(entry)
    for name, array in dense.items():
        values = np.asarray(array)
        dtype = "float16" if values.dtype == np.float16 else "float32"
        values = values.astype(dtype)
        entry = {"name": name, "kind": "dense", "shape": list(values.shape), "dtype": dtype}
        tensors.append(entry | payload.add(values.tobytes()))
    header = zlib.compress(
        json.dumps({"architecture": architecture, "tensors": tensors}, separators=(",", ":")).encode(), 9
    )
    body = MAGIC + struct.pack("<BI", VERSION, len(header)) + header + b"".join(payload.chunks)
    return body + hashlib.sha256(body).digest()


def write_dpz(path: str | Path, *args: Any, **kwargs: Any) -> int:
    """Write a .dpz file (arguments of ``encode_dpz`` after the path); return its size in bytes."""
    blob = encode_dpz(*args, **kwargs)
    Path(path).write_bytes(blob)
    return len(blob)


def read_header(path: str | Path) -> dict[str, Any]:
    """The JSON header of an intact .dpz file: architecture and per-tensor entries (with byte counts)."""
    return _load(path)[0]


def read_dpz(path: str | Path) -> tuple[dict[str, QuantizedTensor], dict[str, np.ndarray], dict[str, Any]]:
    """(quantized tensors, dense tensors, architecture) from a .dpz file; DpzFormatError if it is not intact."""
    header, payload = _load(path)
    quantized: dict[str, QuantizedTensor] = {}
    dense: dict[str, np.ndarray] = {}
    for entry in header["tensors"]:
        shape = tuple(entry["shape"])
        if entry["kind"] == "dense":
            raw = payload[entry["offset"] : entry["offset"] + entry["nbytes"]]
            stored = np.frombuffer(raw, dtype=DENSE_DTYPES[entry.get("dtype", "float32")])
            dense[entry["name"]] = stored.astype(np.float32).reshape(shape)
            continue
        book = entry["codebook"]
        codebook = np.frombuffer(payload[book["offset"] : book["offset"] + book["nbytes"]], dtype=np.float32).copy()
        indices = _decode_symbols(entry["indices"], payload)
        positions = None
        if "positions" in entry:
            positions = _decode_positions(entry["positions"], payload)
        quantized[entry["name"]] = QuantizedTensor(shape, codebook, indices, positions)
    return quantized, dense, header["architecture"]


def _load(path: str | Path) -> tuple[dict[str, Any], memoryview]:
    blob = Path(path).read_bytes()
    if len(blob) < len(MAGIC) + 5 + DIGEST_SIZE or blob[: len(MAGIC)] != MAGIC:
        raise DpzFormatError(f"{path} is not a .dpz file")
    body, digest = blob[:-DIGEST_SIZE], blob[-DIGEST_SIZE:]
    if hashlib.sha256(body).digest() != digest:
        raise DpzFormatError(f"{path} is corrupted: its SHA-256 checksum does not match")
    version, header_size = struct.unpack_from("<BI", body, len(MAGIC))
    if version != VERSION:
        raise DpzFormatError(f"{path} is .dpz version {version}; this slimkit reads version {VERSION}")
    start = len(MAGIC) + 5
    try:
        header = json.loads(zlib.decompress(body[start : start + header_size]))
    except (zlib.error, ValueError) as error:
        raise DpzFormatError(f"{path} has an unreadable header: {error}") from error
    return header, memoryview(body)[start + header_size :]
