"""How far to trust a PruningNet's ranking (``method.stage=fidelity``): random structures under one FLOPs cap
are scored as the search scores them (generated weights, recalibrated BN, held-out top-1) and trained from
scratch as the pruned networks are; the rank agreement of the two says whether the search's choice can beat
a uniform-width network. Structures are drawn as the search draws them (uniform, then narrowed to the cap)."""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from typing import Any

from scipy import stats

from slimkit.methods.metapruning.pruningnet import PruningNet
from slimkit.methods.metapruning.search import choice_of, choice_space, narrow_to_fit, within_flops
from slimkit.models.channel_spec import network_flops


def sample_structures(net: PruningNet, max_flops: float, count: int, seed: int) -> list[tuple[int, ...]]:
    """``count`` distinct structures (ratio indices) within ``max_flops``, drawn like the search's random ones."""
    spec = net.spec
    feasible = within_flops(net, max_flops)
    space = choice_space(net)
    rng = random.Random(seed)
    structures: list[tuple[int, ...]] = []
    for _ in range(100 * count):
        if len(structures) == count:
            break
        drawn = space.values(space.random_indices(rng))
        narrowed = narrow_to_fit(drawn, feasible, rng, net.lowest_choices)
        choice = choice_of(spec, narrowed)
        if feasible(narrowed) and choice not in structures:
            structures.append(choice)
    return structures


def rank_agreement(proxy: list[float], trained: list[float]) -> dict[str, float]:
    """Spearman's rho and Kendall's tau between the proxy scores and the trained accuracies (1 = same order;
    NaN, undefined, when either list is all ties: short trainings of small networks can all score alike)."""
    return {
        "spearman": float(stats.spearmanr(proxy, trained).statistic),
        "kendall": float(stats.kendalltau(proxy, trained).statistic),
    }


def measure_fidelity(
    net: PruningNet,
    structures: list[tuple[int, ...]],
    proxy: Callable[[tuple[int, ...]], float],
    trained: Callable[[int, tuple[int, ...]], float],
    uniform_trained: float,
) -> dict[str, Any]:
    """Score and train every structure (``trained(index, choice)``): per-structure rows, rank agreement, and
    how many trained better than the uniform network (``uniform_trained``)."""
    rows = []
    for index, choice in enumerate(structures):
        rows.append(
            {
                "choice": list(choice),
                "encoding": list(net.encoding(choice)),
                "flops": network_flops(net.spec, net.encoding(choice)),
                "proxy_holdout_acc": proxy(choice),
                "trained_test_acc": trained(index, choice),
            }
        )
    agreement = rank_agreement([row["proxy_holdout_acc"] for row in rows], [row["trained_test_acc"] for row in rows])
    best_by_proxy = max(rows, key=lambda row: row["proxy_holdout_acc"])
    return {
        **agreement,
        "uniform_trained_test_acc": uniform_trained,
        "above_uniform": sum(row["trained_test_acc"] > uniform_trained for row in rows),
        "proxy_best_trained_test_acc": best_by_proxy["trained_test_acc"],
        "best_trained_test_acc": max(row["trained_test_acc"] for row in rows),
        "structures": rows,
    }


def undefined_as_null(result: dict[str, Any]) -> dict[str, Any]:
    """``result`` with NaN figures (an undefined rank agreement) as None: JSON has no NaN."""
    return {name: None if isinstance(value, float) and math.isnan(value) else value for name, value in result.items()}
