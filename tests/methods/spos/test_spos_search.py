"""SPOS search: constraints are checked before evaluation (an infeasible path is never evaluated), BN is
recalibrated per candidate on the same batches, and a search killed between generations resumes to the
result of an uninterrupted one with the same seed."""

from __future__ import annotations

import random

import pytest
import torch

from slimkit.data import DigitsDataModule
from slimkit.errors import ConfigError
from slimkit.methods.spos.search import Caps, evaluate_path, run_search
from slimkit.models.shufflenet_costs import build_cost_table
from slimkit.models.shufflenet_supernet import Path, ShuffleNetSpace, ShuffleNetSupernet

PAPER = ShuffleNetSpace()  # the paper's 20-block space
NUM_BLOCKS = PAPER.num_blocks

SETTINGS = dict(
    population_size=6, generations=3, top_k=2, mutation_count=2, mutation_prob=0.1, crossover_count=2, seed=3
)


class Killed(Exception):
    pass


@pytest.fixture(scope="module")
def setup():
    torch.manual_seed(0)
    data = DigitsDataModule(image_size=8, batch_size=32)
    data.setup("fit")
    calibration = [batch for batch, _ in zip(data.train_dataloader(), range(2), strict=False)]
    holdout = [batch for batch, _ in zip(data.val_dataloader(), range(2), strict=False)]
    supernet = ShuffleNetSupernet(1, 10, 8).eval()
    costs = build_cost_table(1, 10, 8, search_channels=False, space=PAPER)
    flops = sorted(costs.flops(Path.sample(random.Random(i), NUM_BLOCKS)) for i in range(41))
    return supernet, costs, Caps(max_flops=flops[20]), calibration, holdout


def test_bn_recalibration_makes_an_evaluation_independent_of_the_previous_ones(setup):
    supernet, _, _, calibration, holdout = setup
    first, other = Path.sample(random.Random(1), NUM_BLOCKS), Path.sample(random.Random(2), NUM_BLOCKS)
    score = evaluate_path(supernet, first, calibration, holdout)
    evaluate_path(supernet, other, calibration, holdout)
    assert evaluate_path(supernet, first, calibration, holdout) == score


def test_recalibration_sets_every_used_bn_to_the_plain_average_of_the_calibration_batches(setup):
    supernet, _, _, calibration, holdout = setup
    path = Path.sample(random.Random(4), NUM_BLOCKS)
    evaluate_path(supernet, path, calibration, holdout)
    stem_bn = supernet.stem[1]
    with torch.no_grad():
        batch_means = [supernet.stem[0](inputs).mean(dim=(0, 2, 3)) for inputs, _ in calibration]
    assert int(stem_bn.num_batches_tracked) == len(calibration)
    torch.testing.assert_close(stem_bn.running_mean, torch.stack(batch_means).mean(dim=0))
    op_bn = supernet.blocks[0][path.blocks[0]].branch[0].bn  # a sliced BN of the path
    assert int(op_bn.num_batches_tracked) == len(calibration) and op_bn.running_mean.abs().sum() > 0


@pytest.mark.slow
def test_the_search_never_evaluates_an_infeasible_path(setup, tmp_path):
    supernet, costs, caps, calibration, holdout = setup
    evaluated: list[Path] = []

    def evaluate(path: Path) -> float:
        evaluated.append(path)
        return evaluate_path(supernet, path, calibration, holdout)

    search = run_search(evaluate, costs, caps, tmp_path / "search.json", **SETTINGS)
    assert search.finished and len(evaluated) >= SETTINGS["population_size"]
    assert all(costs.flops(path) <= caps.max_flops for path in evaluated)
    rejected = sum(generation["rejected"]["infeasible"] for generation in search.history)
    assert rejected > 0, "the cap at the median should have rejected some draws"


@pytest.mark.slow
def test_a_search_killed_between_generations_resumes_to_the_same_result(setup, tmp_path):
    supernet, costs, caps, calibration, holdout = setup

    def evaluate(path: Path) -> float:
        return evaluate_path(supernet, path, calibration, holdout)

    whole = run_search(evaluate, costs, caps, tmp_path / "whole.json", **SETTINGS)

    def kill_after_first(search) -> None:
        if search.generation == 1:
            raise Killed

    with pytest.raises(Killed):
        run_search(evaluate, costs, caps, tmp_path / "resumed.json", on_generation=kill_after_first, **SETTINGS)
    resumed = run_search(evaluate, costs, caps, tmp_path / "resumed.json", **SETTINGS)
    assert resumed.history == whole.history
    assert resumed.best(3) == whole.best(3)


def test_a_cap_below_the_cheapest_architecture_is_one_line_before_any_evaluation():
    costs = build_cost_table(1, 10, 8, search_channels=False, space=PAPER)
    cheapest = costs.base_flops + sum(min(table.values()) for table in costs.block_flops)
    Caps(max_flops=cheapest).check_reachable(costs)
    with pytest.raises(ConfigError, match="method.search.max_flops=.* is below the cheapest architecture"):
        Caps(max_flops=cheapest - 1).check_reachable(costs)
