"""The per-layer compression parametrization: masks hold, DPQ sees the DP codebook, DPR's cost is the
exact optimum right after a re-solve, and weight sharing pools gradients per cluster."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from slimkit.methods.dp_quant.compressed_weight import attach, compressed_weights, original_weight, set_mode
from slimkit.quant import optimal_codebook


@pytest.fixture
def layer():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(40, 30))
    (compressed,) = attach(model, 3).values()
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
        attach(model, [4])
    attach(model, [2, 5])
    assert [c.clusters for _, c in compressed_weights(model).values()] == [4, 32]
