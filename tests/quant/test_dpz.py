"""The .dpz file: exact round trips (dense, pruned, Huffman and packed indices), a clear error on
any corruption, and a size that reflects the bits actually needed."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from slimkit.quant import bitpack, optimal_codebook
from slimkit.quant.dpz import DpzFormatError, QuantizedTensor, read_dpz, write_dpz


def quantize(weights: np.ndarray, k: int, keep: np.ndarray | None = None) -> QuantizedTensor:
    flat = weights.reshape(-1)
    positions = None if keep is None else np.flatnonzero(keep.reshape(-1))
    values = flat if positions is None else flat[positions]
    result = optimal_codebook(torch.from_numpy(values), k)
    return QuantizedTensor(
        weights.shape, result.codebook.numpy().astype(np.float32), result.assignment.numpy(), positions
    )


@pytest.fixture
def model_tensors():
    rng = np.random.default_rng(0)
    conv = rng.normal(size=(8, 4, 3, 3)).astype(np.float32)
    fc = rng.standard_t(2, size=(10, 64)).astype(np.float32)
    keep = np.abs(fc) > np.quantile(np.abs(fc), 0.9)  # 90% pruned
    quantized = {"conv.weight": quantize(conv, 16), "fc.weight": quantize(fc, 4, keep)}
    dense = {"fc.bias": rng.normal(size=10).astype(np.float32)}
    return quantized, dense


def test_round_trip_is_exact(tmp_path, model_tensors):
    quantized, dense = model_tensors
    architecture = {"model": {"_target_": "slimkit.models.LeNet5"}, "input_shape": [1, 32, 32]}
    size = write_dpz(tmp_path / "model.dpz", quantized, dense, architecture)
    assert size == (tmp_path / "model.dpz").stat().st_size
    read_quantized, read_dense, read_architecture = read_dpz(tmp_path / "model.dpz")
    assert read_architecture == architecture
    for name, tensor in quantized.items():
        assert np.array_equal(read_quantized[name].dense(), tensor.dense())
        assert read_quantized[name].dense().shape == tensor.shape
    assert np.array_equal(read_dense["fc.bias"], dense["fc.bias"])
    assert np.count_nonzero(read_quantized["fc.weight"].dense()) <= 64  # only the kept 10%


def test_file_is_far_smaller_than_fp32(tmp_path, model_tensors):
    quantized, dense = model_tensors
    size = write_dpz(tmp_path / "model.dpz", quantized, dense, {})
    fp32_bytes = 4 * (8 * 4 * 3 * 3 + 10 * 64 + 10)
    assert size < fp32_bytes / 3


@pytest.mark.parametrize("position", [0, 3, 10, 200, -1, -40])
def test_a_flipped_byte_is_a_clear_error(tmp_path, model_tensors, position):
    path = tmp_path / "model.dpz"
    write_dpz(path, *model_tensors, {"model": "lenet"})
    blob = bytearray(path.read_bytes())
    blob[position] ^= 0x01
    path.write_bytes(bytes(blob))
    with pytest.raises(DpzFormatError, match="not a .dpz file|checksum does not match"):
        read_dpz(path)


def test_uniform_indices_use_fixed_width_packing(tmp_path):
    rng = np.random.default_rng(1)
    tensor = QuantizedTensor((4096,), np.arange(16, dtype=np.float32), rng.integers(0, 16, 4096))
    size = write_dpz(tmp_path / "u.dpz", {"w": tensor}, {}, {})
    assert size < 4096 * 4 / 8 + 400  # ~4 bits per index plus header
    assert np.array_equal(read_dpz(tmp_path / "u.dpz")[0]["w"].indices, tensor.indices)


def test_bitpack_round_trip_and_bounds():
    values = np.array([0, 5, 7, 1, 3])
    assert np.array_equal(bitpack.unpack(bitpack.pack(values, 3), 3, 5), values)
    with pytest.raises(ValueError, match="does not fit"):
        bitpack.pack(np.array([8]), 3)


@pytest.mark.parametrize("density", [0.9, 0.05, 0.001])
def test_positions_with_long_gaps_round_trip(tmp_path, density):
    """Relative indices with filler symbols: gaps far beyond every max_run, a weight at position 0
    and at the very end, all decode to the same positions."""
    rng = np.random.default_rng(1)
    size = 50_000
    keep = rng.random(size) < density
    keep[[0, -1]] = True
    positions = np.flatnonzero(keep)
    tensor = QuantizedTensor(
        (size,), np.array([0.5, -0.5], dtype=np.float32), rng.integers(0, 2, positions.size), positions
    )
    write_dpz(tmp_path / "sparse.dpz", {"w": tensor}, {}, {})
    decoded = read_dpz(tmp_path / "sparse.dpz")[0]["w"]
    assert np.array_equal(decoded.positions, positions)
    assert np.array_equal(decoded.dense(), tensor.dense())
