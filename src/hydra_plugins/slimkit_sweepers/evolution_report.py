"""The end of an evolution sweep: evolution_results.yaml and a search-curve plot."""

from __future__ import annotations

import logging
from pathlib import Path

from omegaconf import OmegaConf

from slimkit.search import EvolutionSearch

log = logging.getLogger(__name__)


def write_report(search: EvolutionSearch, sweep_dir: Path, top: int = 10) -> Path:
    """Write evolution_results.yaml (the top candidates, per-generation bests) and search_curve.png."""
    # matplotlib only here: Hydra imports this module at plugin discovery, on every `python train.py`
    from slimkit.search.plots import plot_search_curve

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
    plot_search_curve(history, sweep_dir / "search_curve.png")
    log.info("wrote %s", path)
    return path
