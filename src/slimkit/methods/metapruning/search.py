"""MetaPruning's evolutionary search over a trained PruningNet (docs/methods/metapruning.md), in process: a gene per
prunable width with a ratio index as its value, an exact FLOPs cap checked before any evaluation
(``network_flops``, equal to ``torch.utils.flop_counter``) and optionally the accelerator's cycles and fit, BN
recalibration on the same training batches for every candidate and top-1 on one fixed held-out split;
resumable per generation. A draw over the cap is narrowed until it fits (random genes one ratio step down), so
tight caps, where almost no uniformly random structure is feasible, still fill every generation. Also the
uniform-width network of equal FLOPs, the baseline a searched network must beat."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from slimkit.accelerator.network_cost import CycleLimits
from slimkit.errors import ConfigError
from slimkit.methods.metapruning.pruningnet import Choice, PruningNet
from slimkit.models.channel_net import ChannelNet
from slimkit.models.channel_spec import NetSpec, network_flops
from slimkit.search import EvolutionSearch, SearchSpace
from slimkit.search.weight_sharing import Batches, accuracy, recalibrate_bn, run_evolution


def choice_space(net: PruningNet) -> SearchSpace:
    return SearchSpace({gene: list(allowed) for gene, allowed in zip(net.spec.genes, net.gene_choices, strict=True)})


def choice_of(spec: NetSpec, values: dict[str, Any]) -> tuple[int, ...]:
    return tuple(values[gene] for gene in spec.genes)


def evaluate_choice(net: PruningNet, choice: Choice, calibration: Batches, holdout: Batches) -> float:
    """Held-out top-1 of one structure after BN recalibration."""

    def forward(inputs: Any) -> Any:
        return net(inputs, choice)

    recalibrate_bn(net, calibration, forward)
    return accuracy(forward, holdout)


def generated_network(net: PruningNet, choice: Choice, calibration: Batches) -> ChannelNet:
    """The plain network of ``choice`` as the search scored it: the generated weights and BN statistics
    re-estimated for this choice on the calibration batches (after a search they are the last candidate's), on
    the CPU."""
    net.to(calibration[0][0].device)
    recalibrate_bn(net, calibration, lambda inputs: net(inputs, choice))
    network = net.materialize(choice)  # built on the CPU, the generated tensors copied in
    net.cpu()
    return network


def search_structure(
    net: PruningNet,
    max_flops: float,
    evaluate: Callable[[tuple[int, ...]], float],
    state_file: str | Path,
    on_generation: Callable[[EvolutionSearch], None] | None = None,
    progress: bool = False,
    limits: CycleLimits | None = None,
    **settings: Any,
) -> EvolutionSearch:
    """The search under ``max_flops`` and the accelerator's ``limits`` (``settings``: EvolutionSearch's),
    resumed from ``state_file``."""
    spec = net.spec
    feasible = within_caps(net, max_flops, limits)

    def score(values: dict[str, Any]) -> float:
        return evaluate(choice_of(spec, values))

    def repair(values: dict[str, Any], rng: random.Random) -> dict[str, Any]:
        return narrow_to_fit(values, feasible, rng, lowest)

    lowest = net.lowest_choices
    check_reachable(spec, net.encoding(choice_of(spec, lowest)), max_flops, limits)
    space = choice_space(net)
    return run_evolution(space, score, feasible, state_file, on_generation, progress, repair, **settings)


def check_reachable(spec: NetSpec, narrowest: Sequence[float], max_flops: float, limits: CycleLimits | None) -> None:
    """One line when even the ``narrowest`` encoding breaks the caps: no search could find a structure."""
    within_flops = network_flops(spec, narrowest) <= max_flops
    if within_flops and (limits is None or limits.spec_constraint(spec)(narrowest)):
        return
    caps = f"{max_flops:.6g} FLOPs" + (f" and {limits.describe()}" if limits is not None else "")
    raise ConfigError(f"not even the narrowest structure is within {caps}: raise method.budgets or the cycle cap")


def within_caps(
    net: PruningNet, max_flops: float, limits: CycleLimits | None = None
) -> Callable[[dict[str, Any]], bool]:
    """The caps as a search constraint: True for gene values (ratio indices) within ``max_flops`` and, when
    given, the accelerator's ``limits``. Both only fall as widths narrow, so ``narrow_to_fit`` repairs either."""
    on_accelerator = limits.spec_constraint(net.spec) if limits is not None else None

    def feasible(values: dict[str, Any]) -> bool:
        encoding = net.encoding(choice_of(net.spec, values))
        within_flops = network_flops(net.spec, encoding) <= max_flops
        return within_flops and (on_accelerator is None or on_accelerator(encoding))

    return feasible


def narrow_to_fit(
    values: dict[str, int],
    feasible: Callable[[dict[str, Any]], bool],
    rng: random.Random,
    lowest: dict[str, int],
) -> dict[str, int]:
    """``values`` (a ratio index per gene) with random genes stepped one ratio down until ``feasible``, or
    until every gene is at its narrowest allowed ratio (``lowest``: ``PruningNet.lowest_choices``). FLOPs fall
    with every step, so the result sits just under the cap, and which layers give up width is random, not a
    fixed order. Under a cycle cap too: drawing only steps that lower the cycles (flat within a tile) left
    networks further under the cap and scored lower (docs/results/hardware_aware_search.md)."""
    narrowed = dict(values)
    while not feasible(narrowed):
        wider = [gene for gene, index in narrowed.items() if index > lowest[gene]]
        if not wider:
            break
        narrowed[rng.choice(wider)] -= 1
    return narrowed


Cost = Callable[[NetSpec, Sequence[float]], float]  # of an encoding: network_flops, or cycles on a build


def nearest_uniform_choice(net: PruningNet, target: float, cost: Cost = network_flops) -> tuple[tuple[int, ...], float]:
    """The uniform baseline that starts from generated weights, as a PruningNet choice and its width multiplier:
    the uniform network of nearest ``cost`` (FLOPs by default; ``uniform_ratio``) at the choice of identical
    widths or, when the PruningNet never generates one of its widths (between two of its ratios, or under a
    gene's floor), the PruningNet's own uniform structure of nearest cost among the ratios it trains every
    gene at."""
    ratio = uniform_ratio(net.spec, target, cost=cost)
    try:
        return net.choice_for((ratio,) * len(net.spec.genes)), ratio
    except ValueError:
        lowest = max(allowed.start for allowed in net.gene_choices)
        ratio = uniform_ratio(net.spec, target, net.ratios[lowest:], cost=cost)
        return (net.ratios.index(ratio),) * len(net.spec.genes), ratio


def uniform_ratio(
    spec: NetSpec,
    target: float,
    ratios: Sequence[float] | None = None,
    iterations: int = 50,
    cost: Cost = network_flops,
) -> float:
    """The uniform width multiplier (every prunable width at one ratio) whose ``cost`` (FLOPs by default, or
    the accelerator's cycles: both only grow with the ratio) is nearest ``target``: the widest network within
    it or the next wider one, whichever is closer; among ``ratios`` only when given (a PruningNet's, for a
    uniform network started from its generated weights)."""
    genes = len(spec.genes)

    def cost_at(ratio: float) -> float:
        return cost(spec, (ratio,) * genes)

    if ratios is not None:
        return min(ratios, key=lambda ratio: (abs(cost_at(ratio) - target), ratio))
    if cost_at(1.0) <= target:
        return 1.0
    low, high = 0.0, 1.0  # cost_at(low) <= target < cost_at(high)
    for _ in range(iterations):
        middle = (low + high) / 2
        if cost_at(middle) <= target:
            low = middle
        else:
            high = middle
    if low == 0.0:
        return high
    return low if target - cost_at(low) <= cost_at(high) - target else high
