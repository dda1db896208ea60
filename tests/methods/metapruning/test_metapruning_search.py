"""MetaPruning's search: one encoding decoded alike everywhere, the FLOPs cap checked before evaluation, resumable
per generation, uniform baselines of the nearest FLOPs, the channel floor."""

from __future__ import annotations

import json
import random

import pytest
import torch

from slimkit.accelerator.network_cost import AcceleratorCost, CycleLimits
from slimkit.errors import ConfigError
from slimkit.methods.metapruning import DEFAULT_RATIOS, PruningNet, choice_for_step
from slimkit.methods.metapruning.fidelity import sample_structures
from slimkit.methods.metapruning.report import describe, write_search_report
from slimkit.methods.metapruning.search import (
    choice_of,
    evaluate_choice,
    generated_network,
    narrow_to_fit,
    nearest_uniform_choice,
    search_structure,
    uniform_ratio,
)
from slimkit.models.channel_spec import layer_widths, network_flops, resnet_spec

SETTINGS = dict(
    population_size=6, generations=3, top_k=2, mutation_count=2, mutation_prob=0.1, crossover_count=2, seed=3
)


class Killed(Exception):
    pass


def test_search_and_evaluation_decode_one_encoding_to_identical_widths(digits_pruningnet):
    """The structure scored by the search, the network materialised from it, the plain network built from
    best.json and its FLOPs all have the same widths, and the materialised network computes what the
    PruningNet computed for that structure."""
    net, calibration, holdout = digits_pruningnet
    choice = tuple(random.Random(2).randrange(len(DEFAULT_RATIOS)) for _ in net.spec.genes)
    evaluate_choice(net, choice, calibration, holdout)  # recalibrated BN statistics of this structure
    record = describe(net, choice)
    materialised = net.materialize(choice).eval()
    from_file = type(materialised)(net.spec, json.loads(json.dumps(record))["encoding"])
    for plain in (materialised, from_file):
        assert [[layer.conv.in_channels, layer.conv.out_channels] for layer in plain.layers] == record["conv_widths"]
    inputs = calibration[0][0]
    with torch.no_grad():
        torch.testing.assert_close(materialised(inputs), net(inputs, choice), rtol=1e-4, atol=1e-4)
    assert record["flops"] == network_flops(net.spec, record["encoding"])


def test_an_inherited_uniform_baseline_has_widths_the_pruningnet_generates_and_is_recalibrated_for_itself(
    digits_pruningnet,
):
    """With method.init_from_pruningnet the uniform baseline is the uniform network of nearest FLOPs at the
    PruningNet choice of identical widths; where a width is one the PruningNet never generates (22 of 64
    channels lies between its ratios 0.34 and 0.37; a width under the floor) it is the PruningNet's own uniform
    structure of nearest FLOPs. Both networks are materialised with BN statistics re-estimated for their own
    structure (the search leaves another candidate's), so each computes what the PruningNet computes for it."""
    net, calibration, holdout = digits_pruningnet
    spec = net.spec

    def uniform_flops(ratio: float) -> int:
        return network_flops(spec, (ratio,) * len(spec.genes))

    exact, ratio = nearest_uniform_choice(net, uniform_flops(0.25))  # 4, 8, 16 channels: on the grid
    assert layer_widths(spec, net.encoding(exact)) == layer_widths(spec, (ratio,) * len(spec.genes))
    assert network_flops(spec, net.encoding(exact)) == uniform_flops(0.25)
    target = uniform_flops(0.34375)  # 5, 11, 22 channels
    between, ratio = nearest_uniform_choice(net, target)
    assert set(between) == {net.ratios.index(ratio)}
    assert all(abs(uniform_flops(ratio) - target) <= abs(uniform_flops(r) - target) for r in net.ratios)
    small = uniform_flops(0.22)  # 3 of stage1's 16 channels
    floored = PruningNet(spec, min_channels=8)  # 8 of 16: 0.52 (0.49 gives 7)
    assert nearest_uniform_choice(floored, small)[1] == 0.52

    evaluate_choice(net, (0,) * len(exact), calibration, holdout)  # the statistics of another structure
    network = generated_network(net, exact, calibration).eval()
    inputs = calibration[0][0]
    with torch.no_grad():
        torch.testing.assert_close(network(inputs), net(inputs, exact), rtol=1e-4, atol=1e-4)


@pytest.mark.slow
def test_the_search_never_evaluates_an_infeasible_structure_and_resumes_to_the_same_result(digits_pruningnet, tmp_path):
    net, calibration, holdout = digits_pruningnet
    cap = 0.3 * network_flops(net.spec, net.spec.full_encoding())
    evaluated: list[tuple[int, ...]] = []

    def evaluate(choice: tuple[int, ...]) -> float:
        evaluated.append(choice)
        return evaluate_choice(net, choice, calibration, holdout)

    whole = search_structure(net, cap, evaluate, tmp_path / "whole.json", **SETTINGS)
    assert evaluated and all(network_flops(net.spec, net.encoding(choice)) <= cap for choice in evaluated)
    assert sum(record["repaired"] for record in whole.history) > 0  # the cap was met by narrowing draws

    def kill_after_first(search: object) -> None:
        raise Killed

    with pytest.raises(Killed):
        search_structure(net, cap, evaluate, tmp_path / "resumed.json", on_generation=kill_after_first, **SETTINGS)
    resumed = search_structure(net, cap, evaluate, tmp_path / "resumed.json", **SETTINGS)
    assert resumed.best(3) == whole.best(3)


@pytest.mark.slow
def test_a_tight_cap_still_fills_every_generation_with_structures_just_under_it(digits_pruningnet, tmp_path):
    """At 5% of the full FLOPs about 3 in 10,000 uniformly random structures fit; narrowing over-cap draws
    keeps every generation full, and each narrowed structure would break the cap with any gene one step up."""
    net, calibration, holdout = digits_pruningnet
    spec = net.spec
    cap = 0.05 * network_flops(spec, spec.full_encoding())

    def flops(values: dict) -> int:
        return network_flops(spec, net.encoding(tuple(values[gene] for gene in spec.genes)))

    rng = random.Random(0)
    for _ in range(20):
        drawn = {gene: rng.randrange(len(DEFAULT_RATIOS)) for gene in spec.genes}
        narrowed = narrow_to_fit(drawn, lambda values: flops(values) <= cap, rng, net.lowest_choices)
        assert flops(narrowed) <= cap and all(narrowed[gene] <= drawn[gene] for gene in spec.genes)
        last_step = [gene for gene in spec.genes if narrowed[gene] < drawn[gene]]
        assert any(flops({**narrowed, gene: narrowed[gene] + 1}) > cap for gene in last_step)

    search = search_structure(
        net, cap, lambda choice: evaluate_choice(net, choice, calibration, holdout), tmp_path / "s.json", **SETTINGS
    )
    assert [len(record["candidates"]) for record in search.history] == [SETTINGS["population_size"]] * 3
    assert all(
        network_flops(spec, net.encoding(tuple(item["values"][gene] for gene in spec.genes))) <= cap
        for record in search.history
        for item in record["candidates"]
    )


@pytest.mark.slow
def test_a_channel_floor_keeps_training_search_and_fidelity_draws_at_or_above_it(digits_pruningnet, tmp_path):
    """With min_channels=2 no sampled, searched or fidelity structure has a pruned layer narrower than 2
    channels (the floor is counted per layer, so a gene's lowest ratio depends on its widest base), the
    narrowing stops at the floor, and the default (1) leaves every ratio open as the paper does."""
    _, calibration, holdout = digits_pruningnet
    spec = resnet_spec(1, 10, 8, depth=20, base_width=8)
    assert PruningNet(spec).gene_choices == (range(len(DEFAULT_RATIOS)),) * len(spec.genes)
    net = PruningNet(spec, min_channels=2)
    lowest = dict(zip(spec.genes, (DEFAULT_RATIOS[a.start] for a in net.gene_choices), strict=True))
    assert lowest["stage1"] == 0.25 and lowest["stage2"] == 0.13 and lowest["stage3"] == 0.1  # bases 8/16/32

    def narrowest(choice: tuple[int, ...]) -> int:
        widths, _ = layer_widths(spec, net.encoding(choice))
        return min(out for (_, out), conv in zip(widths, spec.convs, strict=True) if conv.out_gene is not None)

    assert min(narrowest(choice_for_step(0, step, net.gene_choices)) for step in range(200)) == 2
    cap = 0.06 * network_flops(spec, spec.full_encoding())
    assert all(narrowest(choice) >= 2 for choice in sample_structures(net, cap, 8, seed=1))
    search = search_structure(
        net, cap, lambda choice: evaluate_choice(net, choice, calibration, holdout), tmp_path / "s.json", **SETTINGS
    )
    searched = [choice_of(spec, item["values"]) for record in search.history for item in record["candidates"]]
    assert all(narrowest(choice) >= 2 for choice in searched)
    floor = net.lowest_choices
    widest = {gene: len(DEFAULT_RATIOS) - 1 for gene in spec.genes}
    assert narrow_to_fit(widest, lambda _: False, random.Random(0), floor) == floor
    with pytest.raises(ValueError, match="keeps stage1 at 8 channels"):
        PruningNet(spec, ratios=(0.5, 0.9), min_channels=8)


@pytest.mark.parametrize("measure", ["flops", "cycles"])
def test_the_uniform_baseline_has_the_cost_nearest_the_searched_network(measure):
    """FLOPs, or under a cycle cap the cycles on the build (a step function of the ratio)."""
    spec = resnet_spec(1, 10, 8)
    cost = network_flops if measure == "flops" else AcceleratorCost("up5k_mac_2x4").cycles
    target = 0.4 * cost(spec, spec.full_encoding())
    ratio = uniform_ratio(spec, target, cost=cost)
    distance = abs(cost(spec, (ratio,) * len(spec.genes)) - target)
    for other in (r / 1000 for r in range(100, 1001)):
        assert distance <= abs(cost(spec, (other,) * len(spec.genes)) - target)


@pytest.mark.slow
def test_under_a_cycle_cap_every_evaluated_structure_runs_within_it_on_the_build(digits_pruningnet, tmp_path):
    """method.search.max_cycles / must_fit: checked before any evaluation like the FLOPs cap, over-cap draws
    narrowed to fit; every evaluated structure within both, and the report gives the best one's cycles."""
    net, calibration, holdout = digits_pruningnet
    spec = net.spec
    cost = AcceleratorCost("up5k_mac_2x4")
    cap = cost.of_spec(spec, (0.4,) * len(spec.genes)).cycles
    limits = CycleLimits(cost, max_cycles=cap, must_fit=True)
    full_flops = network_flops(spec, spec.full_encoding())
    evaluated: list[tuple[int, ...]] = []

    def evaluate(choice: tuple[int, ...]) -> float:
        evaluated.append(choice)
        return evaluate_choice(net, choice, calibration, holdout)

    search = search_structure(net, full_flops, evaluate, tmp_path / "state.json", limits=limits, **SETTINGS)
    costs = [cost.of_spec(spec, net.encoding(choice)) for choice in evaluated]
    assert len(evaluated) == 3 * SETTINGS["population_size"]
    assert all(network.cycles <= cap and network.fits for network in costs)
    assert sum(record["repaired"] for record in search.history) > 0  # uniform draws mostly exceed the cap
    top, summary = write_search_report(search, net, tmp_path, 2, full_flops, limits)
    assert top[0]["accelerator"] == cost.of_spec(spec, top[0]["encoding"]).to_dict()
    assert summary["search_cycles"] == top[0]["accelerator"]["cycles"] <= cap
    assert summary["evaluated_max_cycles"] == max(network.cycles for network in costs) <= summary["cycles_cap"]
    assert (tmp_path / "cycles.png").is_file()


def test_a_cycle_cap_below_the_narrowest_structure_ends_in_one_line(digits_pruningnet, tmp_path):
    net, calibration, holdout = digits_pruningnet
    limits = CycleLimits(AcceleratorCost("up5k_mac_2x4"), max_cycles=100)
    full_flops = network_flops(net.spec, net.spec.full_encoding())
    with pytest.raises(ConfigError, match="the narrowest structure is within .* FLOPs and cycles <= 100 on up5k"):
        search_structure(net, full_flops, lambda choice: 0.0, tmp_path / "s.json", limits=limits, **SETTINGS)
