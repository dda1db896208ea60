"""``method=metapruning`` from train.py: every stage end to end, retraining a searched encoding, clear errors
for bad settings."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import QUICK, TINY_SEARCH, read_results, run_train

from slimkit.accelerator.network_cost import AcceleratorCost
from slimkit.models.channel_spec import resnet_spec
from slimkit.search.fidelity import rank_statistics

TINY = [
    "experiment=metapruning_digits",
    "model.depth=20",  # the experiment's setup on the shallower ResNet, to keep these runs short
    *QUICK,
    "trainer.max_epochs=1",
    "trainer.limit_test_batches=2",
    "method.retrain_epochs=1",
    "method.budgets=[0.5]",
    *TINY_SEARCH,
]


STAGES_OF_TWO_SEEDS = ("flops50_searched.pt", "flops50_searched_seed6.pt")


@pytest.mark.slow
def test_train_py_runs_the_pipeline_and_retrains_a_searched_encoding(tmp_path):
    run = tmp_path / "run"
    result = run_train([*TINY, "method.retrain_seeds=2", "seed=5", f"hydra.run.dir={run}"])
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = read_results(run)["metrics"]
    for name in ("flops50/search_holdout_acc", "flops50/test_acc", "flops50/uniform_test_acc", "test/acc"):
        assert name in metrics
    # every network trained with seeds 5 and 6: the mean, the spread, each seed, and the paired count
    for network in ("", "uniform_"):
        each = [metrics[f"flops50/{network}test_acc_seed{seed}"] for seed in (5, 6)]
        assert metrics[f"flops50/{network}test_acc"] == pytest.approx(sum(each) / 2)
        assert metrics[f"flops50/{network}test_acc_std"] == pytest.approx(abs(each[0] - each[1]) / 2**0.5)
    assert 0 <= metrics["flops50/searched_ahead_seeds"] <= 2
    seeded = [torch.load(run / "stages" / name, weights_only=True)["module"] for name in STAGES_OF_TWO_SEEDS]
    assert any(not torch.equal(seeded[0][key], seeded[1][key]) for key in seeded[0])
    assert metrics["flops50/flops"] <= 0.5 * metrics["model/full_flops"]
    assert abs(metrics["flops50/uniform_flops"] / metrics["flops50/flops"] - 1) < 0.15
    search = run / "search" / "flops50"
    for name in ("top.json", "best.json", "curve.png", "scatter.png", "state.json"):
        assert (search / name).is_file(), name
    best = json.loads((search / "best.json").read_text())
    assert best["flops"] == metrics["flops50/flops"]
    # any method trains the searched network from its file
    retrain = run_train(
        [
            *QUICK,
            "model=prunable_resnet",
            f"model.encoding={search / 'best.json'}",
            "data=digits",
            "data.image_size=8",
            f"hydra.run.dir={tmp_path / 'retrain'}",
        ]
    )
    assert retrain.returncode == 0, retrain.stderr[-3000:]
    assert read_results(tmp_path / "retrain")["metrics"]["test/acc"] > 0
    # how well that PruningNet ranks structures: scored like the search, trained like the pruned networks
    fidelity = tmp_path / "fidelity"
    pruningnet = run / "stages" / "pruningnet.pt"
    checked = run_train(
        [*TINY, "method.stage=fidelity", f"method.pruningnet={pruningnet}", "method.fidelity_samples=3"]
        + ["objective=fidelity/spearman"]
        + [f"hydra.run.dir={fidelity}"]
    )
    assert checked.returncode == 0, checked.stderr[-3000:]
    report = json.loads((fidelity / "fidelity" / "flops50.json").read_text())
    rows = report["architectures"]
    assert len(rows) == 3 and all(row["flops"] <= report["flops_cap"] for row in rows)
    agreement = rank_statistics([row["proxy"] for row in rows], [row["trained"] for row in rows], seed=42)
    metrics = read_results(fidelity)["metrics"]
    assert metrics["fidelity/spearman"] == pytest.approx(agreement["spearman"]["rho"], nan_ok=True)  # nan: ties
    assert metrics["fidelity/above_uniform"] == sum(row["trained"] > report["uniform_trained_test_acc"] for row in rows)
    assert "searched" not in report, "no search in this run: nothing to rank"
    # searched and uniform networks both started from that PruningNet's generated weights
    inherited = tmp_path / "inherited"
    # and the searched one chosen among the search's top 2 by training each (method.select_top)
    started = run_train(
        [*TINY, f"method.pruningnet={pruningnet}", "method.init_from_pruningnet=true", "method.select_top=2"]
        + [f"hydra.run.dir={inherited}"]
    )
    assert started.returncode == 0, started.stderr[-3000:]
    metrics = read_results(inherited)["metrics"]
    assert {"flops50/test_acc", "flops50/uniform_test_acc"} <= set(metrics)
    selection = json.loads((inherited / "search" / "flops50" / "selection.json").read_text())
    chosen = selection[int(metrics["flops50/selected_rank"]) - 1]
    assert len(selection) == 2 and chosen["trained_holdout_acc"] == max(row["trained_holdout_acc"] for row in selection)
    assert metrics["flops50/flops"] == chosen["flops"]  # the chosen structure is the one trained and compared
    assert (inherited / "stages" / "flops50_select2.pt").is_file()


@pytest.mark.slow
def test_a_cycle_capped_run_names_its_budget_and_reports_the_searched_networks_cycles(tmp_path):
    """accelerator=up5k_mac_2x4 with a cycle cap and no FLOPs cap: the budget is cycles<cap>, best.json holds
    the searched network's cost on the build (what layer_report --predicted reads), the trained network's
    accel/cycles is that cost and within the cap."""
    spec = resnet_spec(1, 10, 8, depth=20, base_width=8)
    cost = AcceleratorCost("up5k_mac_2x4")
    cap = cost.of_spec(spec, (0.5,) * len(spec.genes)).cycles
    budget = ["accelerator=up5k_mac_2x4", f"method.search.max_cycles={cap}", "method.search.must_fit=true"]
    result = run_train([*TINY, *budget, "method.budgets=[1.0]", f"hydra.run.dir={tmp_path}"])
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = read_results(tmp_path)["metrics"]
    best = json.loads((tmp_path / "search" / f"cycles{cap}" / "best.json").read_text())
    assert best["accelerator"] == cost.of_spec(spec, best["encoding"]).to_dict()
    assert metrics["accel/cycles"] == metrics[f"cycles{cap}/accel_cycles"] == best["accelerator"]["cycles"] <= cap
    assert metrics[f"cycles{cap}/evaluated_max_cycles"] <= cap and metrics[f"cycles{cap}/accel_fits"] == 1.0
    assert (tmp_path / "search" / f"cycles{cap}" / "cycles.png").is_file()
    assert f"cycles{cap}/uniform_accel_cycles" in metrics  # the uniform baseline of the nearest cycles


@pytest.mark.slow
@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("model=resnet", "method=metapruning prunes model=mobilenet_v2, mobilenet_v1 or prunable_resnet"),
        ("method.ratios=[0.5,0.2]", "method.ratios: channel ratios must be distinct, increasing"),
        ("method.budgets=[-0.5]", "method.budgets[0]=-0.5 is out of range: must be > 0"),
        ("method.stage=retrain", "method.stage=retrain needs method.encoding"),
        ("method.retrain_seeds=0", "method.retrain_seeds=0 is out of range: must be >= 1"),
        ("method.min_channels=0", "method.min_channels=0 is out of range: must be >= 1"),
        ("method.min_channels=9 method.ratios=[0.5,0.9]", "method.min_channels: no ratio in [0.5, 0.9] keeps"),
        ("method.stage=fidelity method.fidelity_samples=3", "method.stage=fidelity needs a trained PruningNet"),
        ("method.stage=fidelity", "method.stage=fidelity needs method.fidelity_samples >= 3"),
        ("+method.search.populaton_size=4", "method.search.populaton_size is not a setting of"),
        ("method.search.calibration_batches=0", "method.search.calibration_batches=0 is out of range: must be >= 1"),
        ("method.select_top=-1", "method.select_top=-1 is out of range: must be >= 0"),
        ("method.select_epochs=0", "method.select_epochs=0 is out of range: must be >= 1"),
        ("method.select_top=3 method.search.top=2", "method.search.top (2) must be at least that"),
        ("method.search.max_cycles=9000", "method.search.max_cycles and must_fit need method.search.accelerator"),
        ("accelerator=up5k", "unknown accelerator build 'up5k': choose from up5k_mac_2x4, up5k_centroid_2x4"),
        ("accelerator=up5k_mac_2x4 method.search.max_cycles=10", "not even the narrowest structure is within"),
    ],
)
def test_bad_settings_end_with_one_clear_line(override, message, tmp_path):
    result = run_train([*TINY, *override.split(), f"hydra.run.dir={tmp_path}"])
    assert result.returncode != 0
    assert message in result.stderr.strip().splitlines()[-1]
