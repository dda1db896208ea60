"""Memory images for the accelerator: exact round trips, an integer golden model that matches torch's
layers on the fixed-point values, pruned weights on a zero codeword, and clear errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from slimkit.accelerator.memory_images import (
    capture_layer_inputs,
    export_layer,
    export_model,
    frac_bits_for,
    golden_outputs,
    quantized_layer_names,
    read_export,
    read_layer,
    to_fixed_point,
)
from slimkit.quant import optimal_codebook
from slimkit.quant.dpz import QuantizedTensor


def quantize(weight: torch.Tensor, k: int, keep: torch.Tensor | None = None) -> QuantizedTensor:
    flat = weight.detach().reshape(-1).double()
    positions = None if keep is None else torch.nonzero(keep.reshape(-1)).reshape(-1).numpy()
    values = flat if positions is None else flat[positions]
    result = optimal_codebook(values, k)
    return QuantizedTensor(
        tuple(weight.shape), result.codebook.numpy().astype(np.float32), result.assignment.numpy(), positions
    )


def layer_output(module: nn.Module, weight: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
    """The layer without bias (host side) on float64 values."""
    if isinstance(module, nn.Linear):
        return F.linear(inputs, weight)
    return F.conv2d(inputs, weight, None, module.stride, module.padding, module.dilation)


@pytest.fixture
def conv_layer():
    torch.manual_seed(0)
    conv = nn.Conv2d(3, 5, kernel_size=3, stride=2, padding=1, dilation=1)
    inputs = torch.randn(2, 3, 9, 7)
    return conv, quantize(conv.weight, 8), inputs


def test_round_trip_gives_the_written_integers(tmp_path, conv_layer):
    conv, quantized, inputs = conv_layer
    layer_dir = export_layer(tmp_path, "features.0", conv, quantized, inputs)
    layer = read_layer(layer_dir)
    meta = layer.meta
    assert meta["kind"] == "conv" and meta["rows"] == 5 and meta["columns"] == 3 * 3 * 3
    assert meta["conv"]["output_size"] == [5, 4] and meta["vectors"] == 2 * 5 * 4
    # the integers the export computed, recomputed from the inputs and the json's scales
    codebook = to_fixed_point(quantized.codebook, meta["codebook_frac_bits"])
    np.testing.assert_array_equal(layer.codebook, codebook)
    np.testing.assert_array_equal(layer.indices, quantized.indices.reshape(5, -1))
    acts = to_fixed_point(inputs.numpy(), meta["activation_frac_bits"])
    unfolded = F.unfold(torch.from_numpy(acts).double(), 3, padding=1, stride=2)
    np.testing.assert_array_equal(layer.activations, unfolded.transpose(1, 2).reshape(-1, 27).long().numpy())
    np.testing.assert_array_equal(layer.expected, golden_outputs(layer.codebook, layer.indices, layer.activations))
    # words are two's complement of the declared width, one per line
    lines = (layer_dir / "codebook.mem").read_text().splitlines()
    assert all(len(line) == 2 for line in lines) and len(lines) == meta["codebook_entries"]
    assert all(len(line) == 8 for line in (layer_dir / "expected.mem").read_text().splitlines())
    assert np.abs(layer.codebook).max() <= 127 and np.abs(layer.activations).max() <= 127


def test_golden_model_is_the_integer_matmul():
    rng = np.random.default_rng(1)
    codebook = rng.integers(-128, 128, size=6)
    indices = rng.integers(0, 6, size=(4, 10))
    acts = rng.integers(-128, 128, size=(3, 10))
    out = golden_outputs(codebook, indices, acts)
    assert out.dtype == np.int64
    np.testing.assert_array_equal(out, acts.astype(np.int64) @ codebook[indices].astype(np.int64).T)
    for v in range(3):  # and element by element, in Python integers
        for r in range(4):
            assert out[v, r] == sum(int(codebook[indices[r, c]]) * int(acts[v, c]) for c in range(10))


def test_conv_export_equals_conv2d_on_the_fixed_point_values(tmp_path):
    torch.manual_seed(2)
    conv = nn.Conv2d(4, 6, kernel_size=(3, 2), stride=(1, 2), padding=(2, 1), dilation=(2, 1))
    inputs = torch.randn(3, 4, 8, 6)
    quantized = quantize(conv.weight, 16)
    layer = read_layer(export_layer(tmp_path, "conv", conv, quantized, inputs))
    meta = layer.meta
    weight = layer.codebook[layer.indices].reshape(conv.weight.shape) * 2.0 ** -meta["codebook_frac_bits"]
    acts = to_fixed_point(inputs.numpy(), meta["activation_frac_bits"]) * 2.0 ** -meta["activation_frac_bits"]
    reference = layer_output(conv, torch.from_numpy(weight), torch.from_numpy(acts))
    assert meta["conv"]["output_size"] == list(reference.shape[2:])
    np.testing.assert_array_equal(layer.real_outputs(), reference.numpy())  # exact: dyadic values, float64


@pytest.mark.parametrize("kind", ["fc", "conv"])
def test_golden_output_is_close_to_the_float_layer(tmp_path, kind):
    torch.manual_seed(3)
    if kind == "fc":
        module, inputs = nn.Linear(40, 7), torch.randn(16, 40)
    else:
        module, inputs = nn.Conv2d(3, 4, 3, padding=1), torch.randn(2, 3, 6, 6)
    quantized = quantize(module.weight, 16)
    layer = read_layer(export_layer(tmp_path, "layer", module, quantized, inputs))
    meta = layer.meta
    weight = torch.from_numpy(quantized.dense()).double()  # the DP-quantized float weights
    exact = layer_output(module, weight, inputs.double()).numpy()
    # w a - w' a' = (w - w') a + w' (a - a'), each rounding at most half a step (' = fixed point)
    weight_step, act_step = 2.0 ** -meta["codebook_frac_bits"], 2.0 ** -meta["activation_frac_bits"]
    bound = layer_output(module, torch.ones_like(weight), inputs.double().abs()) * weight_step / 2
    fixed_weight = torch.from_numpy(layer.codebook[layer.indices] * weight_step).reshape(weight.shape)
    bound += layer_output(module, fixed_weight.abs(), torch.ones_like(inputs).double()) * act_step / 2
    error = np.abs(layer.real_outputs() - exact)
    assert (error <= bound.numpy() + 1e-12).all()
    assert np.linalg.norm(error) < 0.05 * np.linalg.norm(exact)


def test_pruned_weights_point_at_a_zero_codeword_and_index_bits(tmp_path):
    torch.manual_seed(4)
    fc = nn.Linear(64, 8)
    weight = torch.randn(8, 64)
    weight = weight + 0.5 * weight.sign()  # no weight near zero: no codeword rounds to 0
    keep = weight.abs() > weight.abs().quantile(0.5)
    dense = read_layer(export_layer(tmp_path, "dense", fc, quantize(weight, 16), torch.randn(4, 64)))
    assert dense.meta["codebook_entries"] == 16 and dense.meta["index_bits"] == 4
    assert dense.meta["zero_index"] is None and not dense.meta["appended_zero"]

    pruned = quantize(weight, 16, keep)
    layer = read_layer(export_layer(tmp_path, "pruned", fc, pruned, torch.randn(4, 64)))
    assert layer.meta["codebook_entries"] == 17 and layer.meta["index_bits"] == 5 and layer.meta["appended_zero"]
    zero = layer.meta["zero_index"]
    assert zero == 16 and layer.codebook[zero] == 0
    assert (layer.indices[~keep.numpy()] == zero).all() and (layer.indices[keep.numpy()] != zero).all()
    dequantized = layer.codebook[layer.indices] * 2.0 ** -layer.meta["codebook_frac_bits"]
    np.testing.assert_allclose(dequantized, pruned.dense(), atol=2.0 ** -layer.meta["codebook_frac_bits"] / 2)


def test_an_existing_zero_codeword_is_reused(tmp_path):
    fc = nn.Linear(6, 2)
    quantized = QuantizedTensor((2, 6), np.array([-1.0, 0.001, 1.0]), np.array([0, 1, 2, 2, 0]), np.arange(0, 10, 2))
    layer = read_layer(export_layer(tmp_path, "fc", fc, quantized, torch.randn(3, 6)))
    assert layer.meta["codebook_entries"] == 3 and layer.meta["zero_index"] == 1  # 0.001 rounds to 0
    np.testing.assert_array_equal(layer.indices.reshape(-1)[1::2], 1)


def test_frac_bits_fit_the_largest_magnitude():
    assert frac_bits_for(1.0, 8) == 6  # 64 fits, 128 does not
    assert frac_bits_for(127.0, 8) == 0 and frac_bits_for(127.6, 8) == -1
    assert frac_bits_for(0.0039, 8) == 14  # 0.0039 * 2**15 = 127.8 would round to 128
    assert frac_bits_for(500.0, 8) == -2


def test_export_model_with_captured_inputs(tmp_path):
    torch.manual_seed(5)
    model = nn.Sequential(
        nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Dropout(0.5), nn.Linear(4 * 4 * 4, 3)
    )
    model.train()
    quantized = {"0.weight": quantize(model[0].weight, 4), "5": quantize(model[5].weight, 8)}
    names = quantized_layer_names(model, quantized)
    assert names == ["0", "5"]
    inputs = torch.randn(2, 1, 6, 6)
    captured = capture_layer_inputs(model, inputs, names)
    assert model.training and all(m.training for m in model.modules())  # mode restored
    torch.testing.assert_close(captured["0"], inputs)
    model.eval()
    torch.testing.assert_close(captured["5"], model[:5](inputs))  # eval mode: BN statistics, no dropout
    manifest = export_model(tmp_path, model, quantized, captured)
    assert [layer["name"] for layer in manifest["layers"]] == ["0", "5"]
    assert json.loads((tmp_path / "manifest.json").read_text()) == manifest
    layers = read_export(tmp_path)
    assert layers["0"].meta["kind"] == "conv" and layers["5"].meta["kind"] == "fc"
    assert layers["5"].activations.shape == (2, 64) and layers["0"].activations.shape == (2 * 4 * 4, 9)


def test_bad_inputs_raise_clear_errors(tmp_path):
    grouped = nn.Conv2d(4, 4, 3, groups=2)
    with pytest.raises(ValueError, match="groups must be 1"):
        export_layer(tmp_path, "g", grouped, quantize(grouped.weight, 4), torch.randn(1, 4, 5, 5))
    fc = nn.Linear(8, 3)
    with pytest.raises(ValueError, match=r"quantized shape \(3, 4\) != weight shape \(3, 8\)"):
        export_layer(tmp_path, "fc", fc, quantize(torch.randn(3, 4), 4), torch.randn(2, 8))
    with pytest.raises(ValueError, match=r"needs inputs \(N, 8\)"):
        export_layer(tmp_path, "fc", fc, quantize(fc.weight, 4), torch.randn(2, 7))
    with pytest.raises(ValueError, match="only nn.Linear and nn.Conv2d"):
        export_layer(tmp_path, "bn", nn.BatchNorm1d(3), quantize(torch.randn(3), 2), torch.randn(2, 3))
    huge = nn.Linear(4096, 1)
    weight = torch.full((1, 4096), 1.0)
    with pytest.raises(ValueError, match="beyond a signed 16-bit accumulator"):
        export_layer(tmp_path, "big", huge, quantize(weight, 1), torch.ones(1, 4096), accumulator_bits=16)
