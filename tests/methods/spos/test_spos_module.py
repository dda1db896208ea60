"""SPOS supernet training: one uniformly drawn path per step, the same for a given (seed, step) on every
rank and after a resume; unsampled ops keep their weights exactly; FLOPs-range rejection sampling."""

from __future__ import annotations

import copy
import functools
import random

import pytest
import torch
from lightning import Trainer

from slimkit.data import DigitsDataModule
from slimkit.methods.spos import SupernetModule, path_for_step
from slimkit.models.shufflenet_costs import build_cost_table
from slimkit.models.shufflenet_supernet import Path, ShuffleNetSpace, ShuffleNetSupernet
from slimkit.search.weight_sharing import batch_statistics

PAPER = ShuffleNetSpace()  # the paper's 20-block space
NUM_BLOCKS = PAPER.num_blocks


def test_paths_depend_on_seed_and_step_only():
    assert path_for_step(3, 10, NUM_BLOCKS) == path_for_step(3, 10, NUM_BLOCKS)
    assert len({path_for_step(3, step, NUM_BLOCKS) for step in range(20)}) == 20
    assert path_for_step(3, 10, NUM_BLOCKS) != path_for_step(4, 10, NUM_BLOCKS)


def test_rejection_sampling_keeps_paths_in_the_flops_range():
    costs = build_cost_table(1, 10, 16, search_channels=False, space=PAPER)
    flops = sorted(costs.flops(path_for_step(0, step, NUM_BLOCKS)) for step in range(200))
    low, high = flops[50], flops[150]  # the middle half of the uniform distribution
    for step in range(30):
        assert low <= costs.flops(path_for_step(1, step, NUM_BLOCKS, costs=costs, flops_range=(low, high))) <= high
    with pytest.raises(ValueError, match="widen the range"):
        path_for_step(1, 0, NUM_BLOCKS, costs=costs, flops_range=(0, 1))


def test_supernet_training_updates_only_the_sampled_ops():
    torch.manual_seed(0)
    data = DigitsDataModule(image_size=16, batch_size=32)
    supernet = ShuffleNetSupernet(1, 10, 16)
    initial = copy.deepcopy(supernet.state_dict())
    optimizer = functools.partial(torch.optim.SGD, lr=0.1, momentum=0.9, weight_decay=4e-5)
    module = SupernetModule(supernet, 10, optimizer, label_smoothing=0.1, seed=7)
    trainer = Trainer(
        max_steps=3,
        limit_val_batches=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
    )
    trainer.fit(module, data)
    sampled = [path_for_step(7, step, NUM_BLOCKS).blocks for step in range(3)]
    for block in range(len(supernet.blocks)):
        used = {path[block] for path in sampled}
        for choice in range(4):
            prefix = f"blocks.{block}.{choice}."
            changed = any(
                not torch.equal(value, initial[name])
                for name, value in supernet.state_dict().items()
                if name.startswith(prefix) and name.endswith("weight")
            )
            assert changed == (choice in used), (block, choice)


def test_supernet_scoring_uses_batch_statistics_and_leaves_the_running_ones():
    torch.manual_seed(0)
    supernet = ShuffleNetSupernet(1, 10, 8).eval()
    path = Path.sample(random.Random(5), NUM_BLOCKS)
    inputs = torch.randn(16, 1, 8, 8)
    before = {
        name: value.clone() for name, value in supernet.state_dict().items() if "running" in name or "tracked" in name
    }
    reference = copy.deepcopy(supernet).train()
    with torch.no_grad(), batch_statistics(supernet):
        scored = supernet(inputs, path)
    with torch.no_grad():
        expected = reference(inputs, path)
    torch.testing.assert_close(scored, expected)
    after = supernet.state_dict()
    assert all(torch.equal(after[name], value) for name, value in before.items())
    assert not any(module.training for module in supernet.modules())
