"""What an SPOS search leaves behind: the top architectures with their costs, the chosen one as a file that
``method.architecture`` and ``model=shufflenet_oneshot model.path`` take, and two plots."""

from __future__ import annotations

import json
from pathlib import Path as FilePath

from slimkit.errors import ConfigError
from slimkit.methods.spos.search import Caps, candidate_path
from slimkit.models.shufflenet_costs import CostTable
from slimkit.models.shufflenet_supernet import Path
from slimkit.search import EvolutionSearch
from slimkit.search.persistence import write_json_atomic
from slimkit.search.plots import plot_scatter, plot_search_curve


def write_search_report(
    search: EvolutionSearch, costs: CostTable, caps: Caps, folder: FilePath, top: int
) -> tuple[Path, dict[str, float]]:
    """Write top.json, best.json, curve.png and scatter.png; the best path and its summary metrics."""
    ranked = [(candidate_path(candidate.values), score) for candidate, score in search.best(top)]
    if not ranked:
        raise ConfigError("the search found no architecture within the caps together: loosen method.search.max_*")
    write_json_atomic(
        folder / "top.json", [_entry(rank, path, score, costs, caps) for rank, (path, score) in enumerate(ranked, 1)]
    )
    best, best_score = ranked[0]
    (folder / "best.json").write_text(best.to_json() + "\n")
    history = search.history
    plot_search_curve(history, folder / "curve.png", ylabel="held-out top-1 (recalibrated BN)")
    evaluated = [
        (costs.flops(candidate_path(item["values"])) / 1e6, item["score"])
        for record in history
        for item in record["candidates"]
        if item["score"] is not None
    ]
    plot_scatter(evaluated, folder / "scatter.png", "MFLOPs", "held-out top-1", (costs.flops(best) / 1e6, best_score))
    evaluations = sum(len(record["candidates"]) for record in history)
    rejected = sum(record["rejected"].get("infeasible", 0) for record in history)
    return best, {
        "search/holdout_acc": best_score,
        "search/flops": float(costs.flops(best)),
        "search/params": float(costs.params(best)),
        "search/evaluated": float(evaluations),
        "search/rejected_infeasible": float(rejected),
        "search/generations": float(search.generation),
    }


def _entry(rank: int, path: Path, score: float, costs: CostTable, caps: Caps) -> dict:
    entry = {
        "rank": rank,
        "holdout_acc": score,
        "flops": costs.flops(path),
        "params": costs.params(path),
        "architecture": json.loads(path.to_json()),
    }
    if caps.latency is not None:
        entry["latency_ms"] = round(caps.latency.latency_ms(path), 4)
    return entry
