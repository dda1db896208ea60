"""method=spos end to end: supernet -> search -> retrain (+ random baseline) in one run, its outputs, the stages
run one at a time from another run's files, and bad settings refused with one line."""

from __future__ import annotations

import json
import re

import pytest
import torch
from conftest import QUICK, TINY_SEARCH, compose_config, read_results, run_train

from slimkit.errors import ConfigError
from slimkit.methods.spos import path_for_step
from slimkit.methods.spos.search import Caps
from slimkit.models.shufflenet_costs import build_cost_table, build_latency_table
from slimkit.models.shufflenet_supernet import Path, ShuffleNetOneShot
from slimkit.pipeline import check_config

MAX_FLOPS = 12.6e6  # below the median path at 8x8: the cap rejects draws
TINY = [
    "experiment=spos_digits",
    *QUICK,
    "trainer.max_epochs=1",
    "trainer.limit_test_batches=2",
    "method.retrain_epochs=1",
    *TINY_SEARCH,
    "method.search.progress=false",
    f"method.search.max_flops={MAX_FLOPS}",
]


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("spos")
    done = run_train([*TINY, "method.random_baseline=2", f"hydra.run.dir={run_dir}"])
    assert done.returncode == 0, done.stderr[-3000:]
    return run_dir


@pytest.mark.slow
def test_the_pipeline_leaves_ranked_feasible_architectures_plots_and_a_retrained_network(finished_run):
    results = read_results(finished_run)["metrics"]
    top = json.loads((finished_run / "search" / "top.json").read_text())
    assert [entry["rank"] for entry in top] == list(range(1, len(top) + 1)) and len(top) >= 2
    assert [entry["holdout_acc"] for entry in top] == sorted((entry["holdout_acc"] for entry in top), reverse=True)
    assert all(entry["flops"] <= MAX_FLOPS for entry in top)
    assert results["search/holdout_acc"] == top[0]["holdout_acc"] and results["search/flops"] == top[0]["flops"]
    assert results["search/rejected_infeasible"] > 0
    best = Path.from_json((finished_run / "search" / "best.json").read_text())
    assert json.loads(best.to_json()) == top[0]["architecture"]
    network = ShuffleNetOneShot(1, 10, 8, str(finished_run / "search" / "best.json"))
    assert results["model/params"] == sum(p.numel() for p in network.parameters())
    for plot in ("curve.png", "scatter.png"):
        assert (finished_run / "search" / plot).read_bytes()[:4] == b"\x89PNG"
    assert 0.0 <= results["test/acc"] <= 1.0 and "supernet/test_acc" in results
    assert results["random/count"] == 2
    assert results["searched_minus_random_mean"] == pytest.approx(results["test/acc"] - results["random/mean_test_acc"])
    stages = {path.stem for path in (finished_run / "stages").glob("*.pt")}
    assert stages == {"supernet", "retrain", "random0", "random1"}


@pytest.mark.slow
def test_stages_run_one_at_a_time_from_another_runs_files(finished_run, tmp_path):
    search_dir, retrain_dir = tmp_path / "search", tmp_path / "retrain"
    supernet = finished_run / "stages" / "supernet.pt"
    search_only = ["method.stage=search", f"method.supernet={supernet}", "objective=search/holdout_acc"]
    done = run_train([*TINY, *search_only, f"hydra.run.dir={search_dir}"])
    assert done.returncode == 0, done.stderr[-3000:]
    assert not (search_dir / "stages").exists(), "a search from a given supernet trains nothing"
    # same supernet, data, seed and search settings: the same search
    assert (search_dir / "search" / "top.json").read_text() == (finished_run / "search" / "top.json").read_text()
    architecture = search_dir / "search" / "best.json"
    retrain_only = ["method.stage=retrain", f"method.architecture={architecture}"]
    done = run_train([*TINY, *retrain_only, f"hydra.run.dir={retrain_dir}"])
    assert done.returncode == 0, done.stderr[-3000:]
    assert {path.stem for path in (retrain_dir / "stages").glob("*.pt")} == {"retrain"}
    retrained, original = read_results(retrain_dir)["metrics"], read_results(finished_run)["metrics"]
    assert retrained["test/acc"] == original["test/acc"], "retrained alike"


@pytest.mark.slow
def test_a_model_that_is_not_the_supernet_is_named_in_one_line(tmp_path):
    done = run_train([*TINY, "model=wrn", f"hydra.run.dir={tmp_path}"])
    assert done.returncode == 2
    last = done.stderr.strip().splitlines()[-1]
    assert "method=spos trains a supernet: use model=shufflenet_supernet (got slimkit.models.WideResNet)" in last


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("method.stage=retrain", "method.stage=retrain needs method.architecture="),
        ("method.stage=everything", "method.stage='everything'"),
        ("method.space=widths", "method.space='widths'"),
        ("+method.search.popsize=3", "method.search.popsize is not a setting of SposSearchSettings; allowed:"),
        ("method.flops_range=[3e6,1e6]", "method.flops_range must be [min, max]"),
        ("method.supernet=/nope.pt", "method.supernet=/nope.pt is not a file"),
        ("method.architecture=/nope.json", "method.architecture: cannot read the architecture file /nope.json"),
    ],
)
def test_bad_settings_are_refused_before_anything_runs(tmp_path, override, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        check_config(compose_config(["method=spos", override], tmp_path))
    assert not any(tmp_path.iterdir())


@pytest.mark.slow
def test_a_latency_cap_is_a_sum_of_measured_ops_and_needs_its_table():
    costs = build_cost_table(1, 10, 8, search_channels=False)
    latency = build_latency_table(1, 10, 8, search_channels=False, repeats=2)
    path = Path((1, 2, 3, 0) * 5)
    entries = zip(latency.block_ms, path.blocks, path.scales, strict=True)
    assert latency.latency_ms(path) == pytest.approx(latency.base_ms + sum(table[(op, s)] for table, op, s in entries))
    assert all(value > 0 for table in latency.block_ms for value in table.values())
    assert Caps(max_latency_ms=latency.latency_ms(path), latency=latency).allows(costs, path)
    assert not Caps(max_latency_ms=latency.latency_ms(path) * 0.5, latency=latency).allows(costs, path)
    with pytest.raises(ValueError, match="a latency cap needs a latency table"):
        Caps(max_latency_ms=1.0)


@pytest.mark.slow
def test_under_ddp_every_rank_trains_the_same_paths_and_unsampled_ops_stay_untouched(tmp_path):
    """Two CPU ranks (gloo), 3 steps: every op of a path drawn from (seed, step) moved, every other op kept
    its initial weights exactly (a run with 0 epochs saves them): no rank updated an op the others did not."""
    ddp = [*TINY, "trainer=ddp_cpu", "trainer.devices=2", "trainer.limit_train_batches=3", "method.stage=supernet"]
    ddp.append("objective=supernet/test_acc")
    for epochs, folder in ((0, "initial"), (1, "trained")):
        done = run_train([*ddp, f"trainer.max_epochs={epochs}", f"hydra.run.dir={tmp_path / folder}"])
        assert done.returncode == 0, done.stderr[-3000:]
    initial, trained = (
        torch.load(tmp_path / folder / "stages" / "supernet.pt", weights_only=True)["module"]
        for folder in ("initial", "trained")
    )
    sampled = {(block, op) for step in range(3) for block, op in enumerate(path_for_step(42, step).blocks)}
    for name, value in initial.items():
        if name.startswith("model.blocks.") and not name.endswith(("running_mean", "running_var", "tracked")):
            block, op = (int(part) for part in name.split(".")[2:4])
            assert torch.equal(trained[name], value) != ((block, op) in sampled), name


@pytest.mark.slow
def test_joint_block_and_channel_search_under_a_latency_cap(tmp_path):
    cap = ["method.space=joint", "method.search.max_latency_ms=50", "method.random_baseline=0"]
    done = run_train([*TINY, *cap, "method.search.max_flops=null", f"hydra.run.dir={tmp_path}"])
    assert done.returncode == 0, done.stderr[-3000:]
    top = json.loads((tmp_path / "search" / "top.json").read_text())
    assert all(0 < entry["latency_ms"] <= 50 for entry in top)
    scales = {scale for entry in top for scale in entry["architecture"]["scales"]}
    assert len(scales) > 1, "channel scales are searched"
