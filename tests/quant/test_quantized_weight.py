"""Quantized weights: dp_quant's CompressedWeight (masks hold, DPQ sees the DP codebook, DPR's cost is the exact
optimum right after a re-solve, weight sharing pools gradients per cluster), the shared pieces (nearest level,
straight through, per-layer widths) and spos_bits' BitsChoiceWeight on the same lookup and gradient."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from slimkit.quant import optimal_codebook
from slimkit.quant.quantized_weight import (
    attach_bits_choice,
    attach_compressed,
    bit_choices,
    compressed_weights,
    layer_widths,
    nearest_level,
    original_weight,
    quantizable_layers,
    set_bits,
    set_mode,
    straight_through,
)


@pytest.fixture
def layer():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(40, 30))
    (compressed,) = attach_compressed(model, 3).values()
    compressed.mask.copy_(torch.rand(30, 40) > 0.3)
    return model[0], compressed


def test_masked_weights_are_zero_and_get_no_gradient(layer):
    linear, compressed = layer
    assert torch.equal(linear.weight == 0, ~compressed.mask | (original_weight(linear) == 0))
    linear(torch.randn(5, 40)).sum().backward()
    assert (original_weight(linear).grad[~compressed.mask] == 0).all()


def test_dpq_forward_is_the_dp_quantization_and_backward_is_straight_through(layer):
    linear, compressed = layer
    set_mode(linear, "dpq")
    compressed.recompute_dp(original_weight(linear))
    kept = original_weight(linear).detach()[compressed.mask]
    expected = optimal_codebook(kept, 8).dequantize().float()
    assert torch.allclose(linear.weight[compressed.mask], expected)
    assert len(torch.unique(linear.weight[compressed.mask])) <= 8
    inputs = torch.randn(5, 40)
    linear(inputs).sum().backward()
    # straight-through: the float weights get the gradient of the quantized weights, masked
    assert torch.allclose(original_weight(linear).grad, (inputs.sum(0).expand(30, 40)) * compressed.mask)


def test_clustering_cost_is_the_exact_optimum_after_a_re_solve_and_an_upper_bound_after(layer):
    linear, compressed = layer
    weight = original_weight(linear)
    compressed.recompute_dp(weight)
    optimum = optimal_codebook(weight.detach()[compressed.mask], 8).sse
    assert compressed.sse(weight).item() == pytest.approx(optimum, rel=1e-5)
    with torch.no_grad():
        weight.add_(0.05 * torch.randn_like(weight))  # a few steps later, codebook not re-solved
    moved_optimum = optimal_codebook(weight.detach()[compressed.mask], 8).sse
    assert compressed.sse(weight).item() >= moved_optimum * (1 - 1e-6)
    # its gradient is 2 (w - nearest centroid) on kept weights
    (gradient,) = torch.autograd.grad(compressed.sse(weight), weight)
    kept = weight.detach()[compressed.mask]
    assert torch.allclose(gradient[compressed.mask], 2 * (kept - compressed.nearest(kept)))


def test_weight_sharing_trains_only_the_codebook_with_gradients_summed_per_cluster(layer):
    linear, compressed = layer
    compressed.recompute_dp(original_weight(linear))
    set_mode(linear, "shared")
    inputs = torch.randn(5, 40)
    linear(inputs).pow(2).sum().backward()
    assert original_weight(linear).grad is None
    weight_gradient = (2 * linear(inputs).T @ inputs).detach()  # d loss / d weight
    pooled = torch.zeros(8).index_add_(0, compressed.assignment[compressed.mask], weight_gradient[compressed.mask])
    assert torch.allclose(compressed.codebook.grad, pooled, atol=1e-4)


def test_bits_per_layer_must_match_the_layers():
    model = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 2))
    with pytest.raises(ValueError, match="lists 1 widths but the model has 2"):
        attach_compressed(model, [4])
    attach_compressed(model, [2, 5])
    assert [c.clusters for _, c in compressed_weights(model).values()] == [4, 32]


def test_nearest_level_takes_the_closest_level_and_straight_through_passes_the_gradient_unchanged():
    torch.manual_seed(1)
    values, levels = torch.randn(500), torch.sort(torch.randn(7)).values
    brute_force = levels[(values[:, None] - levels[None, :]).abs().argmin(dim=1)]
    assert torch.equal(nearest_level(values, levels), brute_force)
    weight = values.clone().requires_grad_()
    quantized = straight_through(weight, nearest_level(weight, levels))
    assert torch.allclose(quantized, brute_force, rtol=0, atol=1e-6)  # w + (q - w): q up to rounding
    gradient = torch.randn(500)
    quantized.backward(gradient)
    assert torch.equal(weight.grad, gradient)


def test_dp_quant_and_spos_bits_layers_see_the_same_levels_and_pass_the_same_gradient():
    torch.manual_seed(2)
    weight = torch.randn(6, 5)
    levels = optimal_codebook(weight, 4).codebook.to(weight.dtype)
    dp_model, bits_model = nn.Sequential(nn.Linear(5, 6)), nn.Sequential(nn.Linear(5, 6))
    for model in (dp_model, bits_model):
        model[0].weight.data.copy_(weight)
    (compressed,) = attach_compressed(dp_model, 2).values()
    compressed.set_codebook(levels, torch.zeros(30, dtype=torch.long))
    set_mode(dp_model, "dpq")
    attach_bits_choice(bits_model)
    set_bits(bits_model, 2)
    bit_choices(bits_model)[0].codebooks[2] = levels
    assert torch.allclose(dp_model[0].weight, nearest_level(weight, levels), rtol=0, atol=1e-6)
    assert torch.equal(bits_model[0].weight, dp_model[0].weight)
    gradient = torch.randn(6, 5)
    for model in (dp_model, bits_model):
        (model[0].weight * gradient).sum().backward()
        assert torch.equal(original_weight(model[0]).grad, gradient)


def test_widths_per_layer_one_for_all_or_one_each():
    assert layer_widths(3, 4) == [3, 3, 3, 3]
    assert layer_widths([2, 8], 2) == [2, 8]
    with pytest.raises(ValueError, match="method.bits lists 3 widths but the model has 2 conv/linear layers"):
        layer_widths([2, 3, 4], 2, key="method.bits")
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(2, 2))
    assert attach_bits_choice(model) == list(quantizable_layers(model)) == ["0", "2"]
    set_bits(model, [2, 3])
    assert [choice.bits for choice in bit_choices(model)] == [2, 3]
    with pytest.raises(ValueError, match="lists 1 widths"):
        set_bits(model, [2])
    set_bits(model, None)
    assert [choice.bits for choice in bit_choices(model)] == [None, None]
