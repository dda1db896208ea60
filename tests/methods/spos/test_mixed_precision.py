"""method=spos_bits (SPOS mixed-precision search): widths drawn per step from (seed, step), exact DP levels
straight through, costs from the layers, and a run that returns widths within the budget, compared with the
uniform network of the same cost."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import QUICK, TINY_SEARCH, read_results, run_train

from slimkit.accelerator.network_cost import AcceleratorCost
from slimkit.methods.spos.mixed_precision import bits_for_step, measure_costs
from slimkit.models import CifarResNet, LeNet5
from slimkit.quant import optimal_codebook
from slimkit.quant.quantized_weight import attach_bits_choice, set_bits


def test_a_layer_at_b_bits_takes_the_dp_levels_and_passes_gradients_straight_through():
    torch.manual_seed(0)
    model = LeNet5(1, 10, 16)
    names = attach_bits_choice(model)
    set_bits(model, [2] * len(names))
    layer = model.get_submodule(names[0])
    original = layer.parametrizations.weight.original
    levels = optimal_codebook(original, 4).codebook.to(original.dtype)
    assert set(layer.weight.detach().unique().tolist()) <= set(levels.tolist())
    layer.weight.sum().backward()
    assert torch.equal(original.grad, torch.ones_like(original))
    set_bits(model, None)
    assert torch.equal(layer.weight, original)


def test_costs_count_index_bits_codebooks_and_macs():
    model = LeNet5(1, 10, 16)
    costs = measure_costs(model, (1, 16, 16))
    weights = [m.weight.numel() for m in model.modules() if isinstance(m, torch.nn.Conv2d | torch.nn.Linear)]
    assert list(costs.weights) == weights
    bits = [2, 3, 4, 8, 2]
    assert costs.size_bits(bits) == sum(n * b + 32 * 2**b for n, b in zip(weights, bits, strict=True))
    first = next(m for m in model.modules() if isinstance(m, torch.nn.Conv2d))
    out = first(torch.zeros(1, 1, 16, 16))
    assert costs.macs[0] == out.numel() * first.weight[0].numel()
    assert costs.bitops(bits, 8) == sum(m * b * 8 for m, b in zip(costs.macs, bits, strict=True))


def test_every_rank_draws_the_same_widths_and_steps_differ():
    assert bits_for_step(3, 17, 20, [2, 3, 4, 8]) == bits_for_step(3, 17, 20, [2, 3, 4, 8])
    assert len({tuple(bits_for_step(3, step, 20, [2, 3, 4, 8])) for step in range(10)}) == 10


@pytest.mark.slow
def test_a_run_returns_widths_within_the_budget_and_the_uniform_network_of_the_same_cost(tmp_path):
    done = run_train(
        [
            "experiment=spos_bits_digits",
            *QUICK,
            "trainer.max_epochs=1",
            "trainer.limit_test_batches=2",
            "method.finetune_epochs=1",
            "method.finetune_seeds=2",
            "method.fidelity_samples=3",
            *TINY_SEARCH,
            "accelerator=mac_8x8",  # its 5-bit indices hold widths 2, 3 and 4, not 8
            "method.search.must_fit=true",
            f"hydra.run.dir={tmp_path}",
        ]
    )
    assert done.returncode == 0, done.stderr[-3000:]
    metrics = read_results(tmp_path)["metrics"]
    chosen = json.loads((tmp_path / "search" / "bits.json").read_text())
    assert chosen["cost"] <= chosen["limit"] == metrics["search/budget"]
    model = CifarResNet(1, 10, 16)
    layers = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d | torch.nn.Linear)]
    assert set(chosen["bits"]) <= {2, 3, 4} and len(chosen["bits"]) == len(layers)
    assert metrics["accel/cycles"] == AcceleratorCost("mac_8x8").of_model(model, (1, 16, 16)).cycles
    for name in ("mixed/test_acc", "uniform/test_acc", "mixed/test_acc_shared", "uniform/test_acc_shared"):
        assert 0.0 <= metrics[name] <= 1.0
    assert metrics["test/acc"] == metrics["mixed/test_acc"]
    each = [metrics["mixed/test_acc_seed42"], metrics["mixed/test_acc_seed43"]]  # two fine-tuning seeds from 42
    assert metrics["mixed/test_acc"] == pytest.approx(sum(each) / 2) and "uniform/test_acc_std" in metrics
    finetuned = {f"{stage}{seed}" for stage in ("finetune_mixed", "finetune_uniform") for seed in ("", "_seed43")}
    fidelity = {f"fidelity_size3bits_{index}{seed}" for index in range(3) for seed in ("", "_seed43")}
    assert {p.stem for p in (tmp_path / "stages").glob("*.pt")} == {"supernet"} | finetuned | fidelity
    # the shared fidelity measurement: random widths within the budget, the chosen ones ranked among them
    report = json.loads((tmp_path / "fidelity" / "size3bits.json").read_text())
    assert all(row["cost"] <= chosen["limit"] for row in report["architectures"]) and report["count"] == 3
    assert report["searched"]["bits"] == chosen["bits"] and report["searched"]["trained"] == metrics["mixed/test_acc"]
    assert report["retraining"]["seeds"] == 2 and 0.0 <= report["retraining"]["kendall_ceiling"] <= 1.0


@pytest.mark.slow
@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("method.budget_bits=2", "method.budget_bits=2 must be above the smallest of method.widths [2, 3, 4, 8]"),
        ("method.widths=[0,3]", "method.widths[0]=0 is out of range: must be in [1, 16]"),
        ("+method.search.popsize=3", "method.search.popsize is not a setting of WeightSharingSearchSettings"),
        ("accelerator=mac_8x8 method.search.max_cycles=100", "is outside cycles <= 100 on mac_8x8 at any bit widths"),
        (
            "accelerator=mac_8x8 method.search.must_fit=true method.widths=[6,8] method.budget_bits=8",
            "none fits the build's 5-bit",
        ),
        (
            "method.fidelity_samples=3",
            "method.fidelity_samples needs >= 3 architectures and method.finetune_epochs > 0",
        ),
    ],
)
def test_bad_settings_are_one_line(tmp_path, override, message):
    done = run_train(["method=spos_bits", *override.split(), f"hydra.run.dir={tmp_path}"])
    assert done.returncode == 2 and message in done.stderr.strip().splitlines()[-1]
