"""The end of an evolution sweep: evolution_results.yaml and a search-curve plot."""

from __future__ import annotations

import logging
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from omegaconf import OmegaConf  # noqa: E402

from slimkit.search import EvolutionSearch  # noqa: E402

log = logging.getLogger(__name__)


def write_report(search: EvolutionSearch, sweep_dir: Path, top: int = 10) -> Path:
    """Write evolution_results.yaml (the top candidates, per-generation bests) and search_curve.png."""
    history = search.history
    results = {
        "name": "evolution",
        "generations_completed": search.generation,
        "direction": search.settings.direction,
        "top": [{"values": candidate.to_dict(), "score": score} for candidate, score in search.best(top)],
        "best_per_generation": [record["best"]["score"] if record["best"] else None for record in history],
    }
    path = sweep_dir / "evolution_results.yaml"
    OmegaConf.save(OmegaConf.create(results), path)
    _plot_curve(history, sweep_dir / "search_curve.png")
    log.info("wrote %s", path)
    return path


def _plot_curve(history: list[dict], path: Path) -> None:
    figure, axes = plt.subplots(figsize=(8, 5))
    for record in history:
        scores = [item["score"] for item in record["candidates"] if item["score"] is not None]
        axes.scatter([record["generation"]] * len(scores), scores, s=12, alpha=0.5, color="tab:blue")
    bests = [(record["generation"], record["best"]["score"]) for record in history if record["best"]]
    if bests:
        axes.plot(*zip(*bests, strict=True), color="tab:red", marker="o", label="best so far")
        axes.legend()
    axes.set_xlabel("generation")
    axes.set_ylabel("score")
    axes.set_title("Evolutionary search")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
