"""The shared fidelity measurement: rank statistics with p-values and bootstrap intervals, the searched
architecture's percentile, the report and plot, and a measurement killed midway that continues to the report
an uninterrupted one writes."""

from __future__ import annotations

import json
import random
import re

import numpy as np
import pytest
from scipy import stats

from slimkit.errors import ConfigError
from slimkit.search.fidelity import (
    Searched,
    check_samples,
    describe_fidelity,
    distinct_feasible,
    fidelity_metrics,
    finished_run,
    kendall_ceiling,
    measure_fidelity,
    percentile_of,
    rank_statistics,
    retraining_noise,
    seeds_for_ceiling,
)


class Killed(Exception):
    pass


class Arithmetic:
    """Architectures are integers; the proxy is a noisy version of the trained accuracy, so the ranks agree
    well but not perfectly; each of ``seeds`` trainings adds its own noise of ``seed_noise``. ``kill_after``
    trainings, it raises (a killed process)."""

    def __init__(self, kill_after: int | None = None, seeds: int = 1, seed_noise: float = 0.0) -> None:
        self.kill_after = kill_after
        self.seeds, self.seed_noise = seeds, seed_noise
        self.trainings: list[str] = []

    def sample(self, count: int, seed: int) -> list[int]:
        return random.Random(seed).sample(range(1000), count)

    def describe(self, architecture: int) -> dict[str, int]:
        return {"architecture": architecture, "flops": 10 * architecture}

    def proxy(self, architecture: int) -> float:
        return architecture / 1000 + random.Random(architecture).uniform(0, 0.3)

    def trained(self, name: str, architecture: int) -> list[float]:
        if self.kill_after is not None and len(self.trainings) == self.kill_after:
            raise Killed
        self.trainings.append(name)
        rng = random.Random(architecture)
        return [architecture / 1000 + rng.uniform(0, self.seed_noise) for _ in range(self.seeds)]


def test_rank_statistics_are_scipys_with_bootstrap_intervals_around_them():
    rng = random.Random(0)
    proxy = [rng.random() for _ in range(24)]
    trained = [p + rng.gauss(0, 0.2) for p in proxy]
    result = rank_statistics(proxy, trained, seed=1)
    kendall, spearman = stats.kendalltau(proxy, trained), stats.spearmanr(proxy, trained)
    assert result["kendall"]["tau"] == pytest.approx(kendall.statistic)
    assert result["kendall"]["p"] == pytest.approx(kendall.pvalue)
    assert result["spearman"]["rho"] == pytest.approx(spearman.statistic)
    low, high = result["kendall"]["ci95"]
    assert low < result["kendall"]["tau"] < high <= 1.0
    assert result == rank_statistics(proxy, trained, seed=1), "the bootstrap is seeded"
    tied = rank_statistics([0.1, 0.5, 0.3], [0.8, 0.8, 0.8], seed=1)  # all ties: undefined, not an error
    assert tied["kendall"]["tau"] != tied["kendall"]["tau"]  # NaN


def test_percentile_counts_ties_half():
    assert percentile_of(0.9, [0.1, 0.2, 0.3, 0.4]) == 100.0
    assert percentile_of(0.1, [0.1, 0.2, 0.3, 0.4]) == 12.5
    assert percentile_of(0.0, [0.1, 0.2]) == 0.0


def test_the_report_ranks_the_searched_architecture_and_plots(tmp_path):
    subject = Arithmetic()
    report = measure_fidelity(subject, 12, 3, tmp_path, "cap", Searched(999, "retrain"), extra={"flops_cap": 1e4})
    written = json.loads((tmp_path / "cap.json").read_text())
    assert written == report and report["count"] == 12 and report["flops_cap"] == 1e4
    assert report["kendall"]["tau"] > 0.4 and report["kendall"]["p"] < 0.05
    assert report["searched"]["percentile"] == 100.0 and report["searched"]["flops"] == 9990
    assert subject.trainings[-1] == "retrain" and subject.trainings[0] == "fidelity_cap_0"
    assert (tmp_path / "cap.png").read_bytes()[:4] == b"\x89PNG"
    metrics = fidelity_metrics(report)
    assert metrics["fidelity/kendall"] == report["kendall"]["tau"] and metrics["fidelity/searched_percentile"] == 100


def test_with_two_seeds_the_report_says_how_well_retraining_ranks_by_itself(tmp_path):
    steady = measure_fidelity(Arithmetic(seeds=2, seed_noise=0.01), 24, 3, tmp_path / "steady", "cap")
    noisy = measure_fidelity(Arithmetic(seeds=2, seed_noise=5.0), 24, 3, tmp_path / "noisy", "cap")
    assert steady["retraining"]["seeds"] == 2
    assert steady["retraining"]["first_vs_second_seed"]["kendall"]["tau"] > 0.9
    assert abs(noisy["retraining"]["first_vs_second_seed"]["kendall"]["tau"]) < 0.4
    assert noisy["retraining"]["std_between_seeds"] > noisy["retraining"]["std_between_architectures"] / 2
    assert steady["architectures"][0]["trained"] == sum(steady["architectures"][0]["trained_seeds"]) / 2
    assert steady["retraining"]["kendall_ceiling"] > 0.9
    assert noisy["retraining"]["kendall_ceiling"] < 0.4
    assert {"fidelity/retrain_kendall", "fidelity/kendall_ceiling"} <= set(fidelity_metrics(steady))
    assert "training seeds each: seed 1 vs seed 2 Kendall tau" in describe_fidelity(noisy)
    assert "a perfect proxy would reach Kendall tau" in describe_fidelity(noisy)
    assert "; no number of seeds raises it" in describe_fidelity(noisy)
    assert re.search(
        r"\(95% CI [\d.]+\.\.[\d.]+; 0\.4 with \d+ seeds?, 0\.6 with \d+ seeds?\)", describe_fidelity(steady)
    )
    one_seed = measure_fidelity(Arithmetic(), 8, 3, tmp_path / "one", "cap")
    assert "retraining" not in one_seed and "fidelity/retrain_kendall" not in fidelity_metrics(one_seed)


@pytest.mark.parametrize("noise", [0.5, 1.0, 2.0])
def test_the_ceiling_is_what_a_proxy_that_knows_the_truth_reaches_against_noisy_means(noise):
    rng = np.random.default_rng(7)
    truth = rng.normal(0, 1, 400)  # each architecture's expected accuracy, in units of its spread
    runs = truth[:, None] + rng.normal(0, noise, (400, 2))  # two trainings of each
    report = retraining_noise(runs.tolist(), 0)
    ceiling, (low, high) = report["kendall_ceiling"], report["kendall_ceiling_ci95"]
    reached = stats.kendalltau(truth, runs.mean(axis=1)).statistic
    expected = 2 / np.pi * np.arcsin((1 / (1 + noise**2 / 2)) ** 0.5)
    assert ceiling == pytest.approx(reached, abs=0.06) and ceiling == pytest.approx(expected, abs=0.06)
    assert low < ceiling < high and low < expected < high and high - low < 0.25  # 400 architectures: narrow
    assert kendall_ceiling(1.0, 2.0) == 0.0 and kendall_ceiling(0.0, 0.0) == 0.0  # noise explains all


def test_the_seeds_a_ceiling_needs_are_what_a_proxy_that_knows_the_truth_needs_to_reach_it():
    rng = np.random.default_rng(11)
    truth = rng.normal(0, 1, 2000)  # architectures' spread 1, seeds' 3: two seeds are far too noisy to rank
    exact = seeds_for_ceiling(1.0, 9.0, 0.6)
    assert kendall_ceiling(1 + 9 / exact, 9 / exact) >= 0.6 > kendall_ceiling(1 + 9 / (exact - 1), 9 / (exact - 1))
    with_exact = truth[:, None] + rng.normal(0, 3.0, (2000, exact))
    assert stats.kendalltau(truth, with_exact.mean(axis=1)).statistic == pytest.approx(0.6, abs=0.04)
    report = retraining_noise((truth[:, None] + rng.normal(0, 3.0, (2000, 2))).tolist(), 0)
    assert report["kendall_ceiling"] < 0.4
    assert report["seeds_for_ceiling"]["0.6"] == pytest.approx(exact, rel=0.35)  # estimated from two seeds
    assert report["seeds_for_ceiling"]["0.4"] < report["seeds_for_ceiling"]["0.6"]
    assert seeds_for_ceiling(0.0, 1.0, 0.4) is None and seeds_for_ceiling(-0.1, 1.0, 0.4) is None


def test_a_finished_run_is_read_back_by_its_config_and_its_one_report_not_the_state_file(tmp_path):
    measured = measure_fidelity(Arithmetic(), 5, 3, tmp_path / "fidelity", "cap")
    assert (tmp_path / "fidelity" / "cap.state.json").is_file()
    with pytest.raises(ConfigError, match="is not a finished fidelity run"):
        finished_run(tmp_path)  # no .hydra/config.yaml: not a run folder
    (tmp_path / ".hydra").mkdir()
    (tmp_path / ".hydra" / "config.yaml").write_text("seed: 3\n")
    config, report = finished_run(tmp_path)
    assert config == tmp_path / ".hydra" / "config.yaml" and report == json.loads(json.dumps(measured))
    measure_fidelity(Arithmetic(), 5, 3, tmp_path / "fidelity", "other")
    with pytest.raises(ConfigError, match="one fidelity report"):
        finished_run(tmp_path)  # two reports: which one is meant is not known


def test_a_killed_measurement_continues_where_it_stopped_to_the_same_report(tmp_path):
    whole = measure_fidelity(Arithmetic(), 8, 5, tmp_path / "whole", "cap")
    killed = Arithmetic(kill_after=3)
    with pytest.raises(Killed):
        measure_fidelity(killed, 8, 5, tmp_path / "killed", "cap")
    rerun = Arithmetic()
    assert measure_fidelity(rerun, 8, 5, tmp_path / "killed", "cap") == whole
    assert rerun.trainings == [f"fidelity_cap_{index}" for index in range(3, 8)], "the first three were kept"
    with pytest.raises(ConfigError, match="measured other architectures"):
        measure_fidelity(Arithmetic(), 8, 6, tmp_path / "killed", "cap")  # another seed, same folder


def test_a_rerun_with_another_seed_count_stops_before_mixing_rows(tmp_path):
    with pytest.raises(Killed):
        measure_fidelity(Arithmetic(kill_after=3), 8, 5, tmp_path, "cap")
    saved = (tmp_path / "cap.state.json").read_text()
    with pytest.raises(ConfigError, match=r"trained from 1 seed\(s\) each and this run trains from 2"):
        measure_fidelity(Arithmetic(seeds=2), 8, 5, tmp_path, "cap")
    assert (tmp_path / "cap.state.json").read_text() == saved, "nothing of the mixed run was kept"
    assert measure_fidelity(Arithmetic(), 8, 5, tmp_path, "cap")["count"] == 8  # the earlier count continues
    searched = Searched(500, "searched")  # every row trained: only the searched one is trained in the rerun
    with pytest.raises(ConfigError, match="this run trains from 2"):
        measure_fidelity(Arithmetic(seeds=2), 8, 5, tmp_path, "cap", searched=searched)


def test_the_fidelity_stage_needs_three_samples():
    check_samples("fidelity", 3)
    check_samples("all", 0)
    with pytest.raises(ConfigError, match="needs method.fidelity_samples >= 3"):
        check_samples("fidelity", 2)


def test_draws_are_distinct_and_allowed_and_too_few_is_one_line():
    rng = random.Random(0)
    drawn = distinct_feasible(lambda: rng.randrange(10), lambda n: n % 2 == 0, 5, "loosen the cap")
    assert sorted(drawn) == [0, 2, 4, 6, 8]
    with pytest.raises(ConfigError, match="only 5 distinct architectures within the caps .* loosen the cap"):
        distinct_feasible(lambda: rng.randrange(10), lambda n: n % 2 == 0, 6, "loosen the cap")
