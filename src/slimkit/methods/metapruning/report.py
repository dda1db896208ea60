"""What a MetaPruning search leaves behind, per budget: the top structures with their FLOPs and widths, the
chosen one as a file ``model.encoding`` takes (``{"encoding": [...]}``), the search curve and the
accuracy-vs-FLOPs scatter."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from slimkit.accelerator.network_cost import CycleLimits
from slimkit.errors import ConfigError
from slimkit.methods.metapruning.pruningnet import PruningNet
from slimkit.methods.metapruning.search import choice_of
from slimkit.models.channel_spec import layer_widths, network_flops
from slimkit.search import EvolutionSearch
from slimkit.search.persistence import write_json_atomic
from slimkit.search.plots import plot_scatter, plot_search_curve


def describe(net: PruningNet, choice: tuple[int, ...], limits: CycleLimits | None = None) -> dict:
    """A structure as JSON: its ratios (what ``model.encoding`` reads), ratio indices, widths and FLOPs, and with
    ``limits`` its accelerator cost (cycles per layer and in all, index words, fit)."""
    encoding = net.encoding(choice)
    widths, features = layer_widths(net.spec, encoding)
    described = {
        "model": net.spec.name,
        "encoding": list(encoding),
        "choice": list(choice),
        "genes": dict(zip(net.spec.genes, encoding, strict=True)),
        "conv_widths": [list(width) for width in widths],
        "features": features,
        "flops": network_flops(net.spec, encoding),
    }
    if limits is not None:
        described["accelerator"] = limits.cost.of_spec(net.spec, encoding).to_dict()
    return described


def write_search_report(
    search: EvolutionSearch,
    net: PruningNet,
    folder: Path,
    top: int,
    max_flops: float,
    limits: CycleLimits | None = None,
) -> tuple[list[dict[str, Any]], dict[str, float]]:
    """top.json, best.json, curve.png, scatter.png (and with ``limits`` cycles.png) in ``folder``; top.json's
    rows (the ``top`` best structures, best first: rank, held-out score and ``describe``'s fields) and summary
    metrics."""
    ranked = [(choice_of(net.spec, candidate.values), score) for candidate, score in search.best(top)]
    if not ranked:
        caps = f"{max_flops:.6g} FLOPs" + (f" and {limits.describe()}" if limits is not None else "")
        raise ConfigError(f"the search found no structure within {caps}: raise method.budgets or the cycle cap")
    entries = [
        {"rank": rank, "holdout_acc": score, **describe(net, choice, limits)}
        for rank, (choice, score) in enumerate(ranked, 1)
    ]
    write_json_atomic(folder / "top.json", entries)
    write_json_atomic(folder / "best.json", entries[0])
    best_score = entries[0]["holdout_acc"]
    history = search.history
    plot_search_curve(history, folder / "curve.png", ylabel="held-out top-1 (recalibrated BN)")
    evaluated = [
        (network_flops(net.spec, net.encoding(choice_of(net.spec, item["values"]))) / 1e6, item["score"])
        for record in history
        for item in record["candidates"]
        if item["score"] is not None
    ]
    best_flops = entries[0]["flops"]
    plot_scatter(evaluated, folder / "scatter.png", "MFLOPs", "held-out top-1", (best_flops / 1e6, best_score))
    summary = {
        "search_holdout_acc": best_score,
        "search_flops": float(best_flops),
        "flops_cap": float(max_flops),
        "evaluated": float(sum(len(record["candidates"]) for record in history)),
        "rejected_infeasible": float(sum(record["rejected"].get("infeasible", 0) for record in history)),
        "repaired_over_cap": float(sum(record.get("repaired", 0) for record in history)),
    }
    if limits is not None:
        summary |= _plot_cycles(history, net, limits, folder, entries[0])
    return entries, summary


def _plot_cycles(
    history: list[dict[str, Any]], net: PruningNet, limits: CycleLimits, folder: Path, best: dict[str, Any]
) -> dict[str, float]:
    """cycles.png (every evaluated structure's held-out score against its cycles) and the cycle figures."""
    evaluated = [
        (limits.cost.of_spec(net.spec, net.encoding(choice_of(net.spec, item["values"]))).cycles, item["score"])
        for record in history
        for item in record["candidates"]
        if item["score"] is not None
    ]
    cycles = best["accelerator"]["cycles"]
    xlabel = f"cycles per inference on {limits.cost.build}"
    plot_scatter(evaluated, folder / "cycles.png", xlabel, "held-out top-1", (cycles, best["holdout_acc"]))
    summary = {"search_cycles": float(cycles), "evaluated_max_cycles": float(max(c for c, _ in evaluated))}
    return summary | ({"cycles_cap": float(limits.max_cycles)} if limits.max_cycles is not None else {})
