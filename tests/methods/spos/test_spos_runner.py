"""method=spos end to end: supernet -> search -> retrain (-> fidelity) in one run, its outputs, the stages
run one at a time from another run's files, and bad settings refused with one line."""

from __future__ import annotations

import json
import random
import re

import pytest
import torch
from conftest import QUICK, TINY_SEARCH, compose_config, read_results, run_train, start_train, wait_for

from slimkit.errors import ConfigError
from slimkit.methods.spos import path_for_step
from slimkit.methods.spos.search import Caps
from slimkit.models.shufflenet_costs import LatencyTable, build_cost_table, build_latency_table
from slimkit.models.shufflenet_supernet import Path, ShuffleNetOneShot, ShuffleNetSpace
from slimkit.pipeline import check_config

PAPER = ShuffleNetSpace()  # the paper's 20-block space
DIGITS = ShuffleNetSpace((1, 1, 2, 1), (32, 64, 128, 256), 16, 512)  # experiment=spos_digits

MAX_FLOPS = 1.1e6  # below the median path of the digits space at 8x8: the cap rejects draws
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
    done = run_train([*TINY, "method.fidelity_samples=3", "method.retrain_seeds=2", f"hydra.run.dir={run_dir}"])
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
    network = ShuffleNetOneShot(1, 10, 8, str(finished_run / "search" / "best.json"), **vars(DIGITS))
    assert results["model/params"] == sum(p.numel() for p in network.parameters())
    for plot in ("curve.png", "scatter.png"):
        assert (finished_run / "search" / plot).read_bytes()[:4] == b"\x89PNG"
    assert 0.0 <= results["test/acc"] <= 1.0 and "supernet/test_acc" in results
    each = [results["test/acc_seed42"], results["test/acc_seed43"]]  # method.retrain_seeds=2 from seed 42
    assert results["test/acc"] == pytest.approx(sum(each) / 2) and "test/acc_std" in results
    stages = {path.stem for path in (finished_run / "stages").glob("*.pt")}
    fidelity = [f"fidelity_flops1.1M_{index}{seed}" for index in range(3) for seed in ("", "_seed43")]
    assert stages == {"supernet", "retrain", "retrain_seed43", *fidelity}


@pytest.mark.slow
def test_the_fidelity_stage_ranks_the_searched_architecture_among_random_ones_under_the_cap(finished_run):
    results = read_results(finished_run)["metrics"]
    report = json.loads((finished_run / "fidelity" / "flops1.1M.json").read_text())
    assert report["count"] == len(report["architectures"]) == 3
    assert all(row["flops"] <= MAX_FLOPS for row in report["architectures"])
    assert len({json.dumps(row["architecture"]) for row in report["architectures"]}) == 3, "distinct draws"
    searched = report["searched"]
    assert searched["architecture"] == json.loads((finished_run / "search" / "best.json").read_text())
    assert searched["trained"] == results["test/acc"], "the retrain stage's network, not trained twice"
    assert all(len(row["trained_seeds"]) == 2 for row in report["architectures"])
    assert report["retraining"]["seeds"] == 2 and "first_vs_second_seed" in report["retraining"]
    assert results["fidelity/searched_percentile"] == searched["percentile"]
    assert (finished_run / "fidelity" / "flops1.1M.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.slow
def test_a_killed_fidelity_stage_continues_to_the_report_of_an_uninterrupted_one(finished_run, tmp_path):
    supernet = finished_run / "stages" / "supernet.pt"
    fidelity = [*TINY, "method.stage=fidelity", f"method.supernet={supernet}", "method.fidelity_samples=3"]
    fidelity += ["objective=fidelity/kendall", "callbacks.progress_bar=null"]
    killed, whole = tmp_path / "killed", tmp_path / "whole"
    state = killed / "fidelity" / "flops1.1M.state.json"

    def one_trained() -> bool:  # the first architecture's training is saved, the second's under way
        return state.is_file() and sum(row["trained"] is not None for row in json.loads(state.read_text())["rows"]) >= 1

    process = start_train([*fidelity, f"hydra.run.dir={killed}"], tmp_path / "killed.log")
    wait_for(one_trained, process)
    process.kill()
    process.wait()
    assert not (killed / "fidelity" / "flops1.1M.json").exists()
    first = killed / "stages" / "fidelity_flops1.1M_0.pt"
    first_trained = first.stat().st_mtime_ns
    rerun = run_train([*fidelity, f"hydra.run.dir={killed}"])
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert first.stat().st_mtime_ns == first_trained, "the finished architecture was not trained again"
    done = run_train([*fidelity, f"hydra.run.dir={whole}"])
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((killed / "fidelity" / "flops1.1M.json").read_text())
    assert report == json.loads((whole / "fidelity" / "flops1.1M.json").read_text())


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
    assert retrained["test/acc"] == original["test/acc_seed42"], "retrained alike (the first of its two seeds)"


@pytest.mark.slow
def test_a_cap_no_architecture_meets_is_one_line_before_the_supernet_trains(tmp_path):
    done = run_train([*TINY, "method.search.max_flops=1000", f"hydra.run.dir={tmp_path}"])
    assert done.returncode == 2
    last = done.stderr.strip().splitlines()[-1]
    assert "method.search.max_flops=1000 is below the cheapest architecture of this space" in last
    assert "Traceback" not in done.stderr and not (tmp_path / "stages").exists()


@pytest.mark.slow
def test_a_model_that_is_not_the_supernet_is_named_in_one_line(tmp_path):
    done = run_train(
        ["method=spos", "model=wrn", "data=digits", "data.image_size=8", *QUICK, f"hydra.run.dir={tmp_path}"]
    )
    assert done.returncode == 2
    last = done.stderr.strip().splitlines()[-1]
    assert "method=spos trains a supernet: use model=shufflenet_supernet (got slimkit.models.WideResNet)" in last


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("method.stage=retrain", "method.stage=retrain needs method.architecture="),
        ("method.stage=fidelity", "method.stage=fidelity needs method.fidelity_samples >= 3"),
        ("method.stage=everything", "method.stage='everything'"),
        ("method.space=widths", "method.space='widths'"),
        ("+method.search.popsize=3", "method.search.popsize is not a setting of SposSearchSettings; allowed:"),
        (
            "method.search.accelerator=mac_8x8",
            "method=spos searches ShuffleNet blocks, whose depthwise convs it cannot",
        ),
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
    costs = build_cost_table(1, 10, 8, search_channels=False, space=PAPER)
    latency = build_latency_table(1, 10, 8, search_channels=False, space=PAPER, repeats=2)
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
    blocks = DIGITS.num_blocks
    sampled = {(block, op) for step in range(3) for block, op in enumerate(path_for_step(42, step, blocks).blocks)}
    for name, value in initial.items():
        if name.startswith("model.blocks.") and not name.endswith(("running_mean", "running_var", "tracked")):
            block, op = (int(part) for part in name.split(".")[2:4])
            assert torch.equal(trained[name], value) != ((block, op) in sampled), name


@pytest.mark.slow
def test_joint_block_and_channel_search_under_a_latency_cap(tmp_path):
    """The search reads its latency table from a file (one written here, so the test does not depend on how
    fast this machine is at the moment): 1 ms per MFLOP of each op, the cap at the median path's."""
    costs = build_cost_table(1, 10, 8, search_channels=True, space=DIGITS)
    table = LatencyTable(
        "target", 1, costs.base_flops / 1e6, tuple({k: v / 1e6 for k, v in t.items()} for t in costs.block_flops)
    )
    (tmp_path / "latency.json").write_text(json.dumps(table.to_json()))
    rng = random.Random(0)
    paths = [Path.sample(rng, DIGITS.num_blocks, search_channels=True) for _ in range(101)]
    cap = sorted(table.latency_ms(path) for path in paths)[50]
    caps = [f"method.search.max_latency_ms={cap}", f"method.search.latency_table={tmp_path / 'latency.json'}"]
    run_dir = tmp_path / "run"
    done = run_train([*TINY, "method.space=joint", *caps, "method.search.max_flops=null", f"hydra.run.dir={run_dir}"])
    assert done.returncode == 0, done.stderr[-3000:]
    top = json.loads((run_dir / "search" / "top.json").read_text())
    assert all(entry["latency_ms"] <= cap for entry in top)
    scales = {scale for entry in top for scale in entry["architecture"]["scales"]}
    assert len(scales) > 1, "channel scales are searched"


def test_a_latency_table_round_trips_and_must_cover_the_space():
    costs = build_cost_table(1, 10, 8, search_channels=False, space=DIGITS)
    table = LatencyTable("cpu", 1, 0.5, tuple({key: 1.0 for key in t} for t in costs.block_flops))
    assert LatencyTable.from_json(json.loads(json.dumps(table.to_json())), costs) == table
    joint = build_cost_table(1, 10, 8, search_channels=True, space=DIGITS)
    with pytest.raises(ValueError, match="misses ops of this space"):
        LatencyTable.from_json(table.to_json(), joint)
    with pytest.raises(ValueError, match="not a latency table"):
        LatencyTable.from_json({"device": "cpu"}, costs)
