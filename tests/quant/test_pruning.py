"""Magnitude pruning: exact sparsity, the largest weights kept, zeros held through training."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from slimkit.quant.pruning import magnitude_mask, prune_by_magnitude


def test_mask_keeps_exactly_the_largest_magnitudes():
    weight = torch.tensor([[0.1, -3.0, 0.2], [2.0, -0.05, 1.0]])
    mask = magnitude_mask(weight, sparsity=0.5)
    assert mask.tolist() == [[False, True, False], [True, False, True]]
    ties = magnitude_mask(torch.ones(10), sparsity=0.7)
    assert int(ties.sum()) == 3
    with pytest.raises(ValueError, match="sparsity must be in"):
        magnitude_mask(weight, 1.0)


def test_pruned_weights_stay_zero_while_retraining():
    torch.manual_seed(0)
    layer = nn.Linear(20, 10)
    mask = prune_by_magnitude(layer, sparsity=0.9)
    optimizer = torch.optim.SGD(layer.parameters(), lr=0.1)
    for _ in range(5):
        optimizer.zero_grad()
        layer(torch.randn(8, 20)).pow(2).sum().backward()
        optimizer.step()
    assert int((layer.weight != 0).sum()) == int(mask.sum()) == 20
    assert torch.all(layer.weight[~mask] == 0)
