"""DPR's exact clustering cost has the exact gradient; DPQ quantizes forward and passes gradients through."""

from __future__ import annotations

import pytest
import torch

from slimkit.quant import optimal_codebook
from slimkit.quant.clustering_friendly import clustering_cost, quantize_straight_through


def test_clustering_cost_gradient_matches_finite_differences():
    torch.manual_seed(0)
    weight = torch.randn(40, dtype=torch.float64, requires_grad=True)
    cost = clustering_cost(weight, 4)
    cost.backward()
    assert cost.item() == pytest.approx(optimal_codebook(weight, 4).sse)
    step = 1e-6
    for index in range(0, 40, 7):
        plus, minus = weight.detach().clone(), weight.detach().clone()
        plus[index] += step
        minus[index] -= step
        numeric = (optimal_codebook(plus, 4).sse - optimal_codebook(minus, 4).sse) / (2 * step)
        assert weight.grad[index].item() == pytest.approx(numeric, rel=1e-4, abs=1e-7)


def test_gradient_descent_on_the_cost_pulls_weights_into_k_clusters():
    torch.manual_seed(1)
    weight = torch.randn(200, requires_grad=True)
    before = clustering_cost(weight, 3).item()
    optimizer = torch.optim.SGD([weight], lr=0.1)
    for _ in range(20):
        optimizer.zero_grad()
        clustering_cost(weight, 3).backward()
        optimizer.step()
    assert clustering_cost(weight, 3).item() < 0.05 * before


def test_straight_through_quantization():
    weight = torch.tensor([0.0, 0.1, 1.0, 1.2, 5.0], requires_grad=True)
    quantized = quantize_straight_through(weight, 3)
    assert torch.allclose(quantized, torch.tensor([0.05, 0.05, 1.1, 1.1, 5.0]))
    (quantized * torch.arange(5.0)).sum().backward()
    assert torch.equal(weight.grad, torch.arange(5.0))
