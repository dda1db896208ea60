"""How far a weight-sharing search's proxy can be trusted (``method.stage=fidelity`` of spos, spos_bits and
metapruning): architectures drawn uniformly under the search's caps are scored as the search scores them
(shared weights, BN recalibrated, the fixed held-out split) and trained as the method trains its result; the
rank agreement of the two (Kendall's tau and Spearman's rho, with p-values and bootstrap intervals) says
whether the search's choice means anything, and the searched architecture's trained accuracy as a percentile
of the random ones says whether it paid off. With two or more training seeds per architecture the report also
says how well training ranks the architectures by itself (seed 1 against seed 2): where a second training
does not agree with the first, no proxy can be seen to rank well, however good it is.

Resumable per architecture: every score and every training is saved in ``<tag>.state.json`` as soon as it
is known, so a killed measurement continues where it stopped (the method's trainings are resumable stages
too) and ends with the report an uninterrupted one writes. Torch-free: the method supplies the subject.
"""

from __future__ import annotations

import math
import statistics
import warnings
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from slimkit.errors import ConfigError
from slimkit.search.persistence import read_json, write_json_atomic

BOOTSTRAP_RESAMPLES = 2000
DRAWS_PER_ARCHITECTURE = 10_000
CEILING_TARGETS = (0.4, 0.6)  # the ceilings whose seed counts a report gives (seeds_for_ceiling)


class FidelitySubject(Protocol):
    """What a method supplies: how to draw, describe, score and train its architectures."""

    def sample(self, count: int, seed: int) -> list[Any]:
        """``count`` distinct architectures drawn uniformly under the search's caps (the same ones for a seed)."""
        ...

    def describe(self, architecture: Any) -> dict[str, Any]:
        """The architecture and its costs as JSON values (what the report lists)."""
        ...

    def proxy(self, architecture: Any) -> float:
        """The search's score of the architecture (shared weights)."""
        ...

    def trained(self, name: str, architecture: Any) -> list[float]:
        """Test accuracy of the architecture trained as the method trains its result, as stage ``name``: one
        figure per training seed (the method's ``retrain_seeds``, the same seeds for every architecture)."""
        ...


def distinct_feasible(
    draw: Callable[[], Hashable], feasible: Callable[[Any], bool], count: int, loosen: str
) -> list[Any]:
    """``count`` distinct draws that ``feasible`` allows, each drawn uniformly and redrawn until allowed
    (rejection sampling: uniform over what is allowed); one clear line naming ``loosen`` when too few are."""
    found: list[Any] = []
    for _ in range(DRAWS_PER_ARCHITECTURE * count):
        candidate = draw()
        if candidate not in found and feasible(candidate):
            found.append(candidate)
            if len(found) == count:
                return found
    raise ConfigError(
        f"only {len(found)} distinct architectures within the caps after {DRAWS_PER_ARCHITECTURE * count} draws, "
        f"{count} wanted: {loosen} or lower method.fidelity_samples"
    )


@dataclass(frozen=True)
class Searched:
    """The architecture a search chose, marked in the report and ranked among the random ones; ``stage`` is
    the name its training already has in the run (e.g. ``retrain``), so it is not trained twice."""

    architecture: Any
    stage: str


def measure_fidelity(
    subject: FidelitySubject,
    count: int,
    seed: int,
    directory: str | Path,
    tag: str,
    searched: Searched | None = None,
    extra: Mapping[str, Any] | None = None,
    log: Callable[[str], None] = lambda line: None,
) -> dict[str, Any]:
    """Score and train ``count`` random architectures (and ``searched``), write ``<directory>/<tag>.json``
    (rank agreement, the rows, ``extra``) and ``<tag>.png`` (proxy vs trained, the searched one marked)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    architectures = subject.sample(count, seed)
    state_file = directory / f"{tag}.state.json"
    rows = _resumed_rows(state_file, [subject.describe(a) for a in architectures])
    for row, architecture in zip(rows, architectures, strict=True):
        if row["proxy"] is None:
            row["proxy"] = subject.proxy(architecture)
            write_json_atomic(state_file, {"rows": rows})
    for index, (row, architecture) in enumerate(zip(rows, architectures, strict=True)):
        if row["trained"] is None:
            seeds = subject.trained(f"fidelity_{tag}_{index}", architecture)
            _check_seed_count(state_file, rows, len(seeds))
            row["trained_seeds"], row["trained"] = seeds, statistics.fmean(seeds)
            write_json_atomic(state_file, {"rows": rows})
            log(f"fidelity {tag}: {index + 1}/{len(rows)} trained ({row['trained']:.4f}, proxy {row['proxy']:.4f})")
    report: dict[str, Any] = {"tag": tag, "count": len(rows), "seed": seed}
    proxies, trained = [row["proxy"] for row in rows], [row["trained"] for row in rows]
    report |= rank_statistics(proxies, trained, seed)
    report["random"] = summary(trained)
    if min(len(row["trained_seeds"]) for row in rows) > 1:
        report["retraining"] = retraining_noise([row["trained_seeds"] for row in rows], seed)
    if searched is not None:
        seeds = subject.trained(searched.stage, searched.architecture)
        _check_seed_count(state_file, rows, len(seeds))  # its percentile compares it with the rows' means
        chosen = {
            **subject.describe(searched.architecture),
            "proxy": subject.proxy(searched.architecture),
            "trained": statistics.fmean(seeds),
            "trained_seeds": seeds,
        }
        chosen["percentile"] = percentile_of(chosen["trained"], trained)
        report["searched"] = chosen
    report |= dict(extra or {})
    report["architectures"] = rows
    report = _nan_as_null(report)
    write_json_atomic(directory / f"{tag}.json", report)
    _plot(rows, report.get("searched"), directory / f"{tag}.png", tag)
    return report


def finished_run(run: str | Path) -> tuple[Path, dict[str, Any]]:
    """The config file (``.hydra/config.yaml``) and the one fidelity report (``fidelity/<tag>.json``, not its
    state file) of a finished fidelity run's folder, for tools that read such runs again."""
    run = Path(run)
    config = run / ".hydra" / "config.yaml"
    reports = [file for file in (run / "fidelity").glob("*.json") if not file.name.endswith(".state.json")]
    if not config.is_file() or len(reports) != 1:
        raise ConfigError(f"{run} is not a finished fidelity run (.hydra/config.yaml and one fidelity report)")
    return config, read_json(reports[0])


def _resumed_rows(state_file: Path, described: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows saved by an earlier (killed) measurement of the same architectures, or fresh ones."""
    if state_file.exists():
        rows = read_json(state_file)["rows"]
        measured = ("proxy", "trained", "trained_seeds")
        if [{k: v for k, v in row.items() if k not in measured} for row in rows] != described:
            raise ConfigError(
                f"{state_file} measured other architectures (another seed, cap or count); delete it or use a new "
                "output folder"
            )
        for row in rows:  # a state file written before rows kept each seed's figure
            row.setdefault("trained_seeds", None if row["trained"] is None else [row["trained"]])
        return rows
    return [{**description, "proxy": None, "trained": None, "trained_seeds": None} for description in described]


def _check_seed_count(state_file: Path, rows: list[dict[str, Any]], count: int) -> None:
    """A resumed measurement must train every architecture from as many seeds as the rows it continues: a
    report over rows of one and of two seeds would mix means of different noise."""
    earlier = {len(row["trained_seeds"]) for row in rows if row["trained_seeds"] is not None}
    if earlier and earlier != {count}:
        raise ConfigError(
            f"{state_file} holds architectures trained from {min(earlier)} seed(s) each and this run trains from "
            f"{count} (method.retrain_seeds changed?); rerun with the earlier value, or delete it"
        )


def check_samples(stage: str, samples: int) -> None:
    """``method.stage=fidelity`` needs ``method.fidelity_samples`` >= 3: a rank correlation needs three."""
    if stage == "fidelity" and samples < 3:
        raise ConfigError(
            f"method.stage=fidelity needs method.fidelity_samples >= 3 (a rank correlation needs three), got {samples}"
        )


def rank_statistics(proxy: list[float], trained: list[float], seed: int) -> dict[str, Any]:
    """Kendall's tau and Spearman's rho between the proxy scores and the trained accuracies, each with its
    two-sided p-value and a 95% percentile-bootstrap interval (pairs resampled; NaN where undefined, e.g.
    all ties)."""
    import numpy as np
    from scipy import stats

    def both(x: Any, y: Any) -> tuple[float, float, float, float]:
        kendall, spearman = stats.kendalltau(x, y), stats.spearmanr(x, y)
        return kendall.statistic, kendall.pvalue, spearman.statistic, spearman.pvalue

    x, y = np.asarray(proxy, dtype=float), np.asarray(trained, dtype=float)
    rng = np.random.default_rng(seed)
    with warnings.catch_warnings():  # a resample (or the data) of all ties is undefined: NaN, said in the report
        warnings.simplefilter("ignore", stats.ConstantInputWarning)
        tau, tau_p, rho, rho_p = both(x, y)
        draws = [both(x[i], y[i]) for i in (rng.integers(0, len(x), len(x)) for _ in range(BOOTSTRAP_RESAMPLES))]
    taus = np.array([draw[0] for draw in draws], dtype=float)
    rhos = np.array([draw[2] for draw in draws], dtype=float)

    def interval(values: Any) -> list[float]:
        values = values[~np.isnan(values)]
        return [float(v) for v in np.percentile(values, [2.5, 97.5])] if len(values) else [math.nan, math.nan]

    return {
        "kendall": {"tau": float(tau), "p": float(tau_p), "ci95": interval(taus)},
        "spearman": {"rho": float(rho), "p": float(rho_p), "ci95": interval(rhos)},
    }


def retraining_noise(trained_seeds: list[list[float]], seed: int) -> dict[str, Any]:
    """How far training from scratch ranks the architectures by itself (every architecture trained from two
    or more seeds): the rank agreement of the first two seeds' accuracies, the spread between architectures
    (of their mean accuracies) against the spread between seeds of one architecture, and the Kendall tau no
    proxy can be expected to beat against these means (``kendall_ceiling``, with a bootstrap interval over
    the architectures and the seeds it would take to reach ``CEILING_TARGETS``)."""
    import numpy as np

    first, second = [runs[0] for runs in trained_seeds], [runs[1] for runs in trained_seeds]
    seeds = min(len(runs) for runs in trained_seeds)
    variances = np.array([statistics.variance(runs) for runs in trained_seeds])  # each architecture's seeds
    means = np.array([statistics.fmean(runs) for runs in trained_seeds])

    def spreads(rows: Any) -> tuple[float, float]:
        """The variance of these architectures' means and the noise variance of one mean (seeds averaged)."""
        return float(means[rows].var(ddof=1)), float(variances[rows].mean()) / seeds

    everyone = np.arange(len(means))
    variance_of_means, noise = spreads(everyone)
    rng = np.random.default_rng(seed)
    resampled = (rng.integers(0, len(means), len(means)) for _ in range(BOOTSTRAP_RESAMPLES))
    ceilings = [kendall_ceiling(*spreads(rows)) for rows in resampled]
    return {
        "seeds": seeds,
        "first_vs_second_seed": rank_statistics(first, second, seed),
        "std_between_seeds": float(variances.mean()) ** 0.5,
        "std_between_architectures": float(means.std()),
        "kendall_ceiling": kendall_ceiling(variance_of_means, noise),
        "kendall_ceiling_ci95": [float(v) for v in np.percentile(ceilings, [2.5, 97.5])],
        "seeds_for_ceiling": {
            f"{target}": seeds_for_ceiling(variance_of_means - noise, noise * seeds, target)
            for target in CEILING_TARGETS
        },
    }


def kendall_ceiling(variance_of_means: float, noise_variance_of_a_mean: float) -> float:
    """The Kendall tau a perfect proxy (each architecture's expected trained accuracy) reaches on average
    against trained accuracies whose means vary by ``variance_of_means`` across architectures, of which
    ``noise_variance_of_a_mean`` is the retraining's noise: with the true spread ``variance_of_means`` minus
    the noise, the correlation of truth and measurement is ``r = sqrt(true / variance_of_means)`` and, for
    normal variation, Kendall's tau is ``2 / pi * asin(r)``. Zero where the noise explains all the spread."""
    if variance_of_means <= 0:
        return 0.0
    true_variance = max(0.0, variance_of_means - noise_variance_of_a_mean)
    return 2 / math.pi * math.asin(math.sqrt(true_variance / variance_of_means))


def seeds_for_ceiling(true_variance: float, within_variance: float, target: float) -> int | None:
    """How many training seeds per architecture bring ``kendall_ceiling`` to ``target``: the noise of a mean
    of k seeds is ``within_variance / k``, and the ceiling reaches ``target`` once the architectures' own
    spread (``true_variance``) is a share ``sin(pi/2 * target)**2`` of the means' variance. None where the
    architectures show no spread of their own (no number of seeds will do)."""
    if true_variance <= 0:
        return None
    share = math.sin(math.pi / 2 * target) ** 2
    return max(1, math.ceil(within_variance / (true_variance * (1 / share - 1))))


def summary(values: list[float]) -> dict[str, float]:
    mean = sum(values) / len(values)
    return {
        "mean": mean,
        "std": (sum((v - mean) ** 2 for v in values) / len(values)) ** 0.5,
        "max": max(values),
        "min": min(values),
    }


def percentile_of(value: float, population: list[float]) -> float:
    """The share of ``population`` below ``value``, ties counted half (0-100)."""
    below = sum(other < value for other in population)
    ties = sum(other == value for other in population)
    return 100.0 * (below + 0.5 * ties) / len(population)


def fidelity_metrics(report: Mapping[str, Any]) -> dict[str, float]:
    """The report's figures as run metrics (``fidelity/kendall`` ...; NaN where undefined)."""

    def number(value: Any) -> float:
        return math.nan if value is None else float(value)

    metrics = {
        "fidelity/kendall": number(report["kendall"]["tau"]),
        "fidelity/kendall_p": number(report["kendall"]["p"]),
        "fidelity/spearman": number(report["spearman"]["rho"]),
        "fidelity/spearman_p": number(report["spearman"]["p"]),
        "fidelity/random_mean_test_acc": number(report["random"]["mean"]),
        "fidelity/random_max_test_acc": number(report["random"]["max"]),
    }
    if "retraining" in report:
        metrics["fidelity/retrain_kendall"] = number(report["retraining"]["first_vs_second_seed"]["kendall"]["tau"])
        metrics["fidelity/kendall_ceiling"] = number(report["retraining"]["kendall_ceiling"])
    if "searched" in report:
        metrics["fidelity/searched_test_acc"] = number(report["searched"]["trained"])
        metrics["fidelity/searched_percentile"] = number(report["searched"]["percentile"])
    return metrics


def describe_fidelity(report: Mapping[str, Any]) -> str:
    """One log line: the rank agreement and where the searched architecture landed."""
    kendall, spearman, random = report["kendall"], report["spearman"], report["random"]
    line = (
        f"fidelity {report['tag']}: {report['count']} architectures, Kendall tau {_fmt(kendall['tau'])} "
        f"(p {_fmt(kendall['p'], '.2g')}, 95% CI {_fmt(kendall['ci95'][0])}..{_fmt(kendall['ci95'][1])}), "
        f"Spearman rho {_fmt(spearman['rho'])} (p {_fmt(spearman['p'], '.2g')}); "
        f"trained: random {random['mean']:.4f} +- {random['std']:.4f} (max {random['max']:.4f})"
    )
    if "searched" in report:
        searched = report["searched"]
        line += f", searched {searched['trained']:.4f} (percentile {searched['percentile']:.1f})"
    if "retraining" in report:
        noise, again = report["retraining"], report["retraining"]["first_vs_second_seed"]["kendall"]
        line += (
            f"; {noise['seeds']} training seeds each: seed 1 vs seed 2 Kendall tau {_fmt(again['tau'])} "
            f"(p {_fmt(again['p'], '.2g')}); std between seeds "
            f"{noise['std_between_seeds']:.4f}, between architectures {noise['std_between_architectures']:.4f}; "
            f"a perfect proxy would reach Kendall tau {noise['kendall_ceiling']:.2f}"
        )
        notes = []  # reports written before the interval and the seed counts have neither
        if "kendall_ceiling_ci95" in noise:
            low, high = noise["kendall_ceiling_ci95"]
            notes.append(f"95% CI {low:.2f}..{high:.2f}")
        needed = noise.get("seeds_for_ceiling", {})
        if needed and None in needed.values():
            notes.append("no number of seeds raises it: the architectures show no spread of their own")
        elif needed:
            notes.append(
                ", ".join(f"{target} with {count} seed{'s' * (count > 1)}" for target, count in needed.items())
            )
        if notes:
            line += f" ({'; '.join(notes)})"
    return line


def _fmt(value: float | None, spec: str = ".3f") -> str:
    return "undefined" if value is None else format(value, spec)


def _nan_as_null(value: Any) -> Any:
    """JSON has no NaN: undefined figures (a rank correlation of all ties) are written as null."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {key: _nan_as_null(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_nan_as_null(item) for item in value]
    return value


def _plot(rows: list[dict[str, Any]], searched: dict[str, Any] | None, path: Path, tag: str) -> None:
    from slimkit.search.plots import plot_scatter

    highlight = (searched["proxy"], searched["trained"]) if searched else None
    plot_scatter(
        [(row["proxy"], row["trained"]) for row in rows],
        path,
        "proxy: held-out accuracy with shared weights",
        "trained from scratch: test accuracy",
        highlight,
        labels=("random architectures", "searched"),
        title=f"Fidelity {tag}",
    )
