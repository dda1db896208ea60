"""Magnitude pruning: exact sparsity, the largest weights kept, zeros held through training."""

from __future__ import annotations

import pytest
import torch

from slimkit.quant.pruning import global_magnitude_masks, magnitude_mask


def test_mask_keeps_exactly_the_largest_magnitudes():
    weight = torch.tensor([[0.1, -3.0, 0.2], [2.0, -0.05, 1.0]])
    mask = magnitude_mask(weight, sparsity=0.5)
    assert mask.tolist() == [[False, True, False], [True, False, True]]
    ties = magnitude_mask(torch.ones(10), sparsity=0.7)
    assert int(ties.sum()) == 3
    with pytest.raises(ValueError, match="sparsity must be in"):
        magnitude_mask(weight, 1.0)


def test_global_masks_use_one_threshold_and_keep_each_layers_floor():
    big = torch.linspace(-0.1, 0.1, 1000)  # small weights: a global threshold prunes this layer hardest
    small = torch.linspace(0.5, 1.0, 20)
    masks = global_magnitude_masks({"big": big, "small": small}, sparsity=0.9)
    assert int(masks["big"].sum() + masks["small"].sum()) == round(0.1 * 1020)
    assert bool(masks["small"].all())  # every weight of the small layer beats the threshold
    kept_big = big[masks["big"]].abs()
    assert kept_big.min() >= big[~masks["big"]].abs().max()
    floored = global_magnitude_masks({"big": big, "small": small * 0.001}, sparsity=0.9, min_density=0.25)
    assert int(floored["small"].sum()) == 5  # a quarter of 20, though all are below the threshold
    with pytest.raises(ValueError, match="sparsity must be in"):
        global_magnitude_masks({"big": big}, sparsity=1.0)
