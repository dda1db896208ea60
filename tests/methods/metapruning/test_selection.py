"""Selection of the search's top structures by training each once."""

from __future__ import annotations

import json

from slimkit.methods.metapruning.report import describe
from slimkit.methods.metapruning.selection import select_by_training
from slimkit.models.channel_spec import network_flops


def test_selection_keeps_the_best_trained_structure_ties_to_the_search_rank_and_rewrites_best_json(
    digits_pruningnet, tmp_path
):
    """method.select_top: the search's top structures are trained and the best held-out score after training
    wins (a tie goes to the search's higher rank); best.json, what model.encoding reads, becomes that one and
    selection.json keeps both scores of every candidate."""
    net = digits_pruningnet[0]
    choices = [(index,) * len(net.spec.genes) for index in (3, 1, 2, 4)]
    top = [
        {"rank": rank, "holdout_acc": 0.9 - rank / 100, **describe(net, choice)}
        for rank, choice in enumerate(choices, 1)
    ]
    trained = {1: 0.80, 2: 0.85, 3: 0.85, 4: 0.70}
    seen = []

    def trained_holdout_acc(rank: int, choice: tuple[int, ...]) -> float:
        seen.append((rank, choice))
        return trained[rank]

    chosen, metrics = select_by_training(top, trained_holdout_acc, tmp_path)
    assert seen == list(enumerate(choices, 1))
    assert chosen == choices[1]  # search ranks 2 and 3 tie after training: rank 2 kept
    assert metrics["selected_rank"] == 2 and metrics["selected_trained_holdout_acc"] == 0.85
    assert metrics["selected_holdout_acc"] == top[1]["holdout_acc"]
    best = json.loads((tmp_path / "best.json").read_text())
    assert tuple(best["choice"]) == chosen and best["encoding"] == list(net.encoding(chosen))
    assert best["flops"] == metrics["selected_flops"] == network_flops(net.spec, net.encoding(chosen))
    rows = json.loads((tmp_path / "selection.json").read_text())
    assert [(row["rank"], row["trained_holdout_acc"]) for row in rows] == sorted(trained.items())
