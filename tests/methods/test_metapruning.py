"""MetaPruning: the PruningNet generates and crops weights per structure, search and evaluation decode one
encoding to the same widths, the search checks the FLOPs cap before evaluating and resumes per generation,
and ``method=metapruning`` runs end to end from train.py with clear errors for bad settings."""

from __future__ import annotations

import json
import random

import pytest
import torch
import torch.nn.functional as F
from conftest import QUICK, TINY_SEARCH, read_results, run_train

from slimkit.data import DigitsDataModule
from slimkit.methods.metapruning import DEFAULT_RATIOS, PruningNet, choice_for_step
from slimkit.methods.metapruning.fidelity import rank_agreement, sample_structures, undefined_as_null
from slimkit.methods.metapruning.pruningnet import conv_precision_for_matmuls, pointwise_conv
from slimkit.methods.metapruning.report import describe
from slimkit.methods.metapruning.search import (
    choice_of,
    evaluate_choice,
    generated_network,
    narrow_to_fit,
    nearest_uniform_choice,
    search_structure,
    uniform_ratio,
)
from slimkit.methods.metapruning.selection import select_by_training
from slimkit.models.channel_spec import layer_widths, mobilenet_v2_spec, network_flops, resnet_spec

SETTINGS = dict(
    population_size=6, generations=3, top_k=2, mutation_count=2, mutation_prob=0.1, crossover_count=2, seed=3
)
TINY = [
    "experiment=metapruning_digits",
    "model.depth=20",  # the experiment's setup on the shallower ResNet, to keep these runs short
    *QUICK,
    "trainer.max_epochs=1",
    "trainer.limit_test_batches=2",
    "method.retrain_epochs=1",
    "method.budgets=[0.5]",
    *TINY_SEARCH,
]


STAGES_OF_TWO_SEEDS = ("flops50_searched.pt", "flops50_searched_seed6.pt")


class Killed(Exception):
    pass


@pytest.fixture(scope="module")
def setup():
    torch.manual_seed(0)
    data = DigitsDataModule(image_size=8, batch_size=32)
    data.setup("fit")
    calibration = [batch for batch, _ in zip(data.train_dataloader(), range(2), strict=False)]
    holdout = [batch for batch, _ in zip(data.val_dataloader(), range(2), strict=False)]
    return PruningNet(resnet_spec(1, 10, 8)).eval(), calibration, holdout


def test_generated_weights_are_cropped_to_the_structure_and_only_its_bns_run():
    torch.manual_seed(0)
    net = PruningNet(mobilenet_v2_spec(1, 10, 8), pointwise_matmul=False)  # every weight through F.conv2d
    choice = choice_for_step(0, 5, net.gene_choices)
    widths, features = layer_widths(net.spec, net.encoding(choice))
    used: list[tuple[int, ...]] = []
    original = F.conv2d
    try:
        F.conv2d = lambda x, weight, *args: used.append(tuple(weight.shape)) or original(x, weight, *args)
        F.cross_entropy(net.train()(torch.randn(4, 1, 8, 8), choice), torch.arange(4)).backward()
    finally:
        F.conv2d = original
    expected = [
        (out, 1 if conv.depthwise else cin, conv.kernel, conv.kernel)
        for conv, (cin, out) in zip(net.spec.convs, widths, strict=True)
    ]
    assert sorted(used) == sorted(expected)
    for conv, layer in zip(net.spec.convs, net.layers, strict=True):
        ran = [int(norm.num_batches_tracked) for norm in layer.norms]
        chosen = 0 if conv.out_gene is None else choice[conv.out_gene]
        assert ran[chosen] == 1 and sum(ran) == 1
        assert layer.generate.weight.grad.abs().sum() > 0  # every generator learns from every structure
    assert net.classifier.weight.grad[:, features:].abs().sum() == 0


@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
def test_a_pointwise_conv_as_a_matrix_product_equals_conv2d_and_keeps_the_layout(layout):
    torch.manual_seed(0)
    x = torch.randn(3, 7, 5, 6).contiguous(memory_format=layout).requires_grad_()
    weight = torch.randn(11, 7, 1, 1, requires_grad=True)
    product = pointwise_conv(x, weight)
    conv = F.conv2d(x, weight)
    torch.testing.assert_close(product, conv)
    assert product.is_contiguous(memory_format=layout)
    for ours, reference in zip(
        torch.autograd.grad(product.square().sum(), (x, weight)),
        torch.autograd.grad(conv.square().sum(), (x, weight)),
        strict=True,
    ):
        torch.testing.assert_close(ours, reference, rtol=1e-4, atol=1e-4)


def test_a_pruningnet_with_matrix_product_pointwise_convs_computes_what_the_all_conv_one_does():
    """MobileNetV2 (34 of its 52 convs are stride-1 1x1): same weights, same structures, same logits; and while
    a PruningNet trains, matrix products take cuDNN's conv precision and get their own back afterwards."""
    torch.manual_seed(0)
    spec = mobilenet_v2_spec(3, 10, 32, width_mult=0.5)
    convs = PruningNet(spec, pointwise_matmul=False).train()
    products = PruningNet(spec).train()
    products.load_state_dict(convs.state_dict())
    x = torch.randn(4, 3, 32, 32)
    for step in range(3):
        choice = choice_for_step(0, step, convs.gene_choices)
        torch.testing.assert_close(products(x, choice), convs(x, choice), rtol=1e-4, atol=1e-4)
    kept = torch.backends.cuda.matmul.allow_tf32
    try:
        torch.backends.cuda.matmul.allow_tf32 = False
        with conv_precision_for_matmuls():
            assert torch.backends.cuda.matmul.allow_tf32 == torch.backends.cudnn.allow_tf32
        assert torch.backends.cuda.matmul.allow_tf32 is False
    finally:
        torch.backends.cuda.matmul.allow_tf32 = kept


def test_search_and_evaluation_decode_one_encoding_to_identical_widths(setup):
    """The structure scored by the search, the network materialised from it, the plain network built from
    best.json and its FLOPs all have the same widths, and the materialised network computes what the
    PruningNet computed for that structure."""
    net, calibration, holdout = setup
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


def test_generated_bn_scale_follows_both_ratios_and_the_materialised_network_keeps_it(setup):
    """With generated_affine every BN starts at scale 1 and shift 0 for any structure, as a plain BN does; once
    trained, a block's last conv gets a BN scale that changes with the block's mid ratio (its input) and not
    only with the stage width (its output), and materialising a structure copies the scale and shift into the
    plain network's BN, which then computes what the PruningNet computed."""
    _, calibration, holdout = setup
    torch.manual_seed(0)
    net = PruningNet(resnet_spec(1, 10, 8), generated_affine=True).eval()
    genes = net.spec.genes
    last = next(i for i, conv in enumerate(net.spec.convs) if conv.in_gene is not None and "mid" in genes[conv.in_gene])
    layer, conv = net.layers[last], net.spec.convs[last]
    narrow_mid, wide_mid = (torch.tensor([ratio, 0.5]) for ratio in (0.1, 1.0))
    for code in (narrow_mid, wide_mid):
        _, scale, shift = layer.generated(code, conv.in_base, conv.out_base)
        assert torch.equal(scale, torch.ones(conv.out_base)) and torch.equal(shift, torch.zeros(conv.out_base))
    with torch.no_grad():  # as training moves the generator's affine part
        for other in net.layers:
            other.generate.weight[other.weight_size :].normal_(0, 0.2)
            other.generate.bias[other.weight_size :].normal_(0, 0.2)
    _, narrow_scale, _ = layer.generated(narrow_mid, conv.in_base, conv.out_base)
    _, wide_scale, _ = layer.generated(wide_mid, conv.in_base, conv.out_base)
    assert narrow_scale.shape == (conv.out_base,) and not torch.allclose(narrow_scale, wide_scale)

    choice = tuple(random.Random(4).randrange(len(DEFAULT_RATIOS)) for _ in net.spec.genes)
    evaluate_choice(net, choice, calibration, holdout)
    materialised = net.materialize(choice).eval()
    codes = net.codes(net.encoding(choice))
    widths, _ = layer_widths(net.spec, net.encoding(choice))
    _, scale, shift = layer.generated(codes[last], *widths[last])
    torch.testing.assert_close(materialised.layers[last].bn.weight, scale)
    torch.testing.assert_close(materialised.layers[last].bn.bias, shift)
    inputs = calibration[0][0]
    with torch.no_grad():
        torch.testing.assert_close(materialised(inputs), net(inputs, choice), rtol=1e-4, atol=1e-4)


def test_an_inherited_uniform_baseline_has_widths_the_pruningnet_generates_and_is_recalibrated_for_itself(setup):
    """With method.init_from_pruningnet the uniform baseline is the uniform network of nearest FLOPs at the
    PruningNet choice of identical widths; where a width is one the PruningNet never generates (22 of 64
    channels lies between its ratios 0.34 and 0.37; a width under the floor) it is the PruningNet's own uniform
    structure of nearest FLOPs. Both networks are materialised with BN statistics re-estimated for their own
    structure (the search leaves another candidate's), so each computes what the PruningNet computes for it."""
    net, calibration, holdout = setup
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
def test_the_search_never_evaluates_an_infeasible_structure_and_resumes_to_the_same_result(setup, tmp_path):
    net, calibration, holdout = setup
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
def test_a_tight_cap_still_fills_every_generation_with_structures_just_under_it(setup, tmp_path):
    """At 5% of the full FLOPs about 3 in 10,000 uniformly random structures fit; narrowing over-cap draws
    keeps every generation full, and each narrowed structure would break the cap with any gene one step up."""
    net, calibration, holdout = setup
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


def test_fidelity_draws_distinct_structures_under_the_cap_and_ranks_agreement(setup):
    net = setup[0]
    cap = 0.1 * network_flops(net.spec, net.spec.full_encoding())
    structures = sample_structures(net, cap, 8, seed=1)
    assert len(set(structures)) == 8
    assert all(network_flops(net.spec, net.encoding(choice)) <= cap for choice in structures)
    assert structures == sample_structures(net, cap, 8, seed=1)
    assert rank_agreement([0.1, 0.5, 0.3], [0.2, 0.9, 0.4]) == {"spearman": 1.0, "kendall": 1.0}
    assert rank_agreement([0.1, 0.5, 0.3], [0.9, 0.2, 0.4]) == {"spearman": -1.0, "kendall": -1.0}
    tied = rank_agreement([0.1, 0.5, 0.3], [0.8, 0.8, 0.8])  # short trainings can all score alike: undefined
    assert undefined_as_null({**tied, "above_uniform": 0}) == {"spearman": None, "kendall": None, "above_uniform": 0}


def test_selection_keeps_the_best_trained_structure_ties_to_the_search_rank_and_rewrites_best_json(setup, tmp_path):
    """method.select_top: the search's top structures are trained and the best held-out score after training
    wins (a tie goes to the search's higher rank); best.json, what model.encoding reads, becomes that one and
    selection.json keeps both scores of every candidate."""
    net = setup[0]
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


@pytest.mark.slow
def test_a_channel_floor_keeps_training_search_and_fidelity_draws_at_or_above_it(setup, tmp_path):
    """With min_channels=2 no sampled, searched or fidelity structure has a pruned layer narrower than 2
    channels (the floor is counted per layer, so a gene's lowest ratio depends on its widest base), the
    narrowing stops at the floor, and the default (1) leaves every ratio open as the paper does."""
    _, calibration, holdout = setup
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


def test_the_uniform_baseline_has_the_flops_nearest_the_searched_network():
    spec = resnet_spec(1, 10, 8)
    target = 0.4 * network_flops(spec, spec.full_encoding())
    ratio = uniform_ratio(spec, target)
    distance = abs(network_flops(spec, (ratio,) * len(spec.genes)) - target)
    for other in (r / 1000 for r in range(100, 1001)):
        assert distance <= abs(network_flops(spec, (other,) * len(spec.genes)) - target)


@pytest.mark.slow
def test_train_py_runs_the_pipeline_and_retrains_a_searched_encoding(tmp_path):
    run = tmp_path / "run"
    result = run_train([*TINY, "method.retrain_seeds=2", "seed=5", f"hydra.run.dir={run}"])
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = read_results(run)["metrics"]
    for name in ("flops50/search_holdout_acc", "flops50/test_acc", "flops50/uniform_test_acc", "test/acc"):
        assert name in metrics
    # every network trained with seeds 5 and 6: the mean, the spread, each seed, and the paired count
    for network in ("", "uniform_"):
        each = [metrics[f"flops50/{network}test_acc_seed{seed}"] for seed in (5, 6)]
        assert metrics[f"flops50/{network}test_acc"] == pytest.approx(sum(each) / 2)
        assert metrics[f"flops50/{network}test_acc_std"] == pytest.approx(abs(each[0] - each[1]) / 2**0.5)
    assert 0 <= metrics["flops50/searched_ahead_seeds"] <= 2
    seeded = [torch.load(run / "stages" / name, weights_only=True)["module"] for name in STAGES_OF_TWO_SEEDS]
    assert any(not torch.equal(seeded[0][key], seeded[1][key]) for key in seeded[0])
    assert metrics["flops50/flops"] <= 0.5 * metrics["model/full_flops"]
    assert abs(metrics["flops50/uniform_flops"] / metrics["flops50/flops"] - 1) < 0.15
    search = run / "search" / "flops50"
    for name in ("top.json", "best.json", "curve.png", "scatter.png", "state.json"):
        assert (search / name).is_file(), name
    best = json.loads((search / "best.json").read_text())
    assert best["flops"] == metrics["flops50/flops"]
    # any method trains the searched network from its file
    retrain = run_train(
        [
            *QUICK,
            "model=prunable_resnet",
            f"model.encoding={search / 'best.json'}",
            "data=digits",
            "data.image_size=8",
            f"hydra.run.dir={tmp_path / 'retrain'}",
        ]
    )
    assert retrain.returncode == 0, retrain.stderr[-3000:]
    assert read_results(tmp_path / "retrain")["metrics"]["test/acc"] > 0
    # how well that PruningNet ranks structures: scored like the search, trained like the pruned networks
    fidelity = tmp_path / "fidelity"
    pruningnet = run / "stages" / "pruningnet.pt"
    checked = run_train(
        [*TINY, "method.stage=fidelity", f"method.pruningnet={pruningnet}", "method.fidelity_samples=3"]
        + ["objective=fidelity/spearman"]
        + [f"hydra.run.dir={fidelity}"]
    )
    assert checked.returncode == 0, checked.stderr[-3000:]
    report = json.loads((fidelity / "fidelity" / "flops50.json").read_text())
    assert len(report["structures"]) == 3 and all(row["flops"] <= report["flops_cap"] for row in report["structures"])
    rows = report["structures"]
    agreement = rank_agreement([row["proxy_holdout_acc"] for row in rows], [row["trained_test_acc"] for row in rows])
    reported = read_results(fidelity)["metrics"]["fidelity/spearman"]
    assert reported == pytest.approx(agreement["spearman"], nan_ok=True)  # nan when the 1-epoch nets tie
    assert report["above_uniform"] == sum(
        row["trained_test_acc"] > report["uniform_trained_test_acc"] for row in report["structures"]
    )
    # searched and uniform networks both started from that PruningNet's generated weights
    inherited = tmp_path / "inherited"
    # and the searched one chosen among the search's top 2 by training each (method.select_top)
    started = run_train(
        [*TINY, f"method.pruningnet={pruningnet}", "method.init_from_pruningnet=true", "method.select_top=2"]
        + [f"hydra.run.dir={inherited}"]
    )
    assert started.returncode == 0, started.stderr[-3000:]
    metrics = read_results(inherited)["metrics"]
    assert {"flops50/test_acc", "flops50/uniform_test_acc"} <= set(metrics)
    selection = json.loads((inherited / "search" / "flops50" / "selection.json").read_text())
    chosen = selection[int(metrics["flops50/selected_rank"]) - 1]
    assert len(selection) == 2 and chosen["trained_holdout_acc"] == max(row["trained_holdout_acc"] for row in selection)
    assert metrics["flops50/flops"] == chosen["flops"]  # the chosen structure is the one trained and compared
    assert (inherited / "stages" / "flops50_select2.pt").is_file()


@pytest.mark.slow
@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("model=resnet", "method=metapruning prunes model=mobilenet_v2, mobilenet_v1 or prunable_resnet"),
        ("method.ratios=[0.5,0.2]", "method.ratios: channel ratios must be distinct, increasing"),
        ("method.budgets=[-0.5]", "method.budgets[0]=-0.5 is out of range: must be > 0"),
        ("method.stage=retrain", "method.stage=retrain needs method.encoding"),
        ("method.retrain_seeds=0", "method.retrain_seeds=0 is out of range: must be >= 1"),
        ("method.min_channels=0", "method.min_channels=0 is out of range: must be >= 1"),
        ("method.min_channels=9 method.ratios=[0.5,0.9]", "method.min_channels: no ratio in [0.5, 0.9] keeps"),
        ("method.stage=fidelity", "method.stage=fidelity needs a trained PruningNet"),
        ("+method.search.populaton_size=4", "method.search.populaton_size is not a setting of"),
        ("method.search.calibration_batches=0", "method.search.calibration_batches=0 is out of range: must be >= 1"),
        ("method.select_top=-1", "method.select_top=-1 is out of range: must be >= 0"),
        ("method.select_epochs=0", "method.select_epochs=0 is out of range: must be >= 1"),
        ("method.select_top=3 method.search.top=2", "method.search.top (2) must be at least that"),
    ],
)
def test_bad_settings_end_with_one_clear_line(override, message, tmp_path):
    result = run_train([*TINY, *override.split(), f"hydra.run.dir={tmp_path}"])
    assert result.returncode != 0
    assert message in result.stderr.strip().splitlines()[-1]
