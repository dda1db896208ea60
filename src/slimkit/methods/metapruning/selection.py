"""Re-ranking the search's best structures by training them (``method.select_top``; not in the paper, which
keeps the PruningNet's favourite). The PruningNet's held-out score ranks structures only roughly: its top few
are often within a few held-out images of each other, and which of them trains best is what the pruned
network is for. Each of the top ``N`` is trained once, as the pruned networks are but with a seed none of
their trainings uses, and scored on the same held-out split the search used (never the test set); the best
trained score wins, ties going to the search's higher rank. ``selection.json`` keeps every candidate's two
scores; ``best.json`` becomes the chosen structure (what ``model.encoding`` reads)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from slimkit.methods.metapruning.pruningnet import Choice
from slimkit.search.persistence import write_json_atomic

log = logging.getLogger(__name__)


def select_by_training(
    top: Sequence[dict[str, Any]], trained_holdout_acc: Callable[[int, Choice], float], folder: Path
) -> tuple[tuple[int, ...], dict[str, float]]:
    """The structure of ``top`` (the search's top.json rows, best first) whose trained network scores best on
    the held-out split (``trained_holdout_acc(rank, choice)``); writes selection.json and best.json in
    ``folder``; summary metrics."""
    rows = []
    for entry in top:
        trained = trained_holdout_acc(entry["rank"], tuple(entry["choice"]))
        rows.append({**entry, "trained_holdout_acc": trained})
        log.info(
            "selection: search rank %d (held-out %.4f) trained to %.4f held-out",
            entry["rank"],
            entry["holdout_acc"],
            trained,
        )
    chosen = max(rows, key=lambda row: (row["trained_holdout_acc"], -row["rank"]))
    write_json_atomic(folder / "selection.json", rows)
    write_json_atomic(folder / "best.json", {**chosen, "selected_by": "trained held-out top-1"})
    return tuple(chosen["choice"]), {
        "selected_rank": float(chosen["rank"]),
        "selected_trained_holdout_acc": chosen["trained_holdout_acc"],
        "selected_holdout_acc": chosen["holdout_acc"],
        "selected_flops": float(chosen["flops"]),
    }
