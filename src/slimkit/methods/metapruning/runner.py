"""``method=metapruning``: PruningNet training -> one evolutionary search per FLOPs budget -> the searched
networks and uniform-width networks of the same budgets trained alike (docs/methods/metapruning.md).

Stages (``method.stage``): pruningnet | search | retrain | all, and fidelity (how well the PruningNet ranks
structures under the first budget: ``fidelity.py``); each resumes (StageRunner stage files, the
search's per-generation state). The model config names the network (``model=mobilenet_v2``, ``mobilenet_v1``
or ``prunable_resnet``); budgets are fractions of its full-width FLOPs or absolute FLOPs.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, Literal

import torch
from annotated_types import MinLen

from slimkit.accelerator.network_cost import CycleLimits
from slimkit.errors import ConfigError
from slimkit.methods.classification import OptimizerFactory
from slimkit.methods.metapruning.fidelity import PruningNetFidelity
from slimkit.methods.metapruning.module import PruningNetModule
from slimkit.methods.metapruning.pruned_training import PrunedTraining, holdout_accuracy
from slimkit.methods.metapruning.pruningnet import (
    DEFAULT_RATIOS,
    GeneratorInput,
    PruningNet,
    conv_precision_for_matmuls,
)
from slimkit.methods.metapruning.report import write_search_report
from slimkit.methods.metapruning.search import (
    check_reachable,
    evaluate_choice,
    generated_network,
    nearest_uniform_choice,
    search_structure,
    uniform_ratio,
)
from slimkit.methods.metapruning.selection import select_by_training
from slimkit.methods.stages import Products, Stage, StagePlan, StageRunner
from slimkit.models.channel_net import ChannelNet, resolve_encoding
from slimkit.models.channel_spec import NetSpec, network_flops
from slimkit.run_context import RunContext
from slimkit.search.fidelity import Searched, check_samples, describe_fidelity, fidelity_metrics, measure_fidelity
from slimkit.search.weight_sharing import Batches, WeightSharingSearchSettings, candidate_batches
from slimkit.settings import Count, Fraction, Positive, PositiveInt

log = logging.getLogger(__name__)


class MetaPruningRunner:
    """Settings and their defaults: conf/method/metapruning.yaml (``search``: conf/search/evolution.yaml)."""

    def __init__(
        self,
        optimizer: OptimizerFactory,
        stage: Literal["pruningnet", "search", "retrain", "all", "fidelity"],
        ratios: list[float] | None,
        generator_hidden: PositiveInt | None,
        generator_input: GeneratorInput,
        generated_affine: bool,
        silent_residuals: bool,
        min_channels: PositiveInt,
        label_smoothing: Fraction,
        pruningnet_epochs: Count,
        budgets: Annotated[list[Positive], MinLen(1)],  # fractions of the full FLOPs (<= 1) or FLOPs (> 1)
        pruningnet: str | None,
        search: WeightSharingSearchSettings,
        select_top: Count,
        select_epochs: PositiveInt | None,
        encoding: str | list[float] | None,
        retrain_epochs: Count,
        retrain_seeds: PositiveInt,
        init_from_pruningnet: bool,
        uniform_baseline: bool,
        fidelity_samples: Count,
    ) -> None:
        budgets = list(budgets)
        if pruningnet is not None and not Path(pruningnet).is_file():
            raise ConfigError(f"method.pruningnet={pruningnet} is not a file (a stages/pruningnet.pt of a run)")
        try:
            self.ratios = tuple(float(r) for r in ratios) if ratios is not None else DEFAULT_RATIOS
            PruningNet.check_ratios(self.ratios)
        except ValueError as error:
            raise ConfigError(f"method.ratios: {error}") from None
        self.optimizer = optimizer
        self.hidden = generator_hidden
        self.generator_input = generator_input
        self.generated_affine = generated_affine
        if silent_residuals and not generated_affine:
            raise ConfigError("method.silent_residuals=true needs method.generated_affine=true (a generated BN scale)")
        self.silent_residuals = silent_residuals
        self.min_channels = min_channels
        self.label_smoothing = label_smoothing
        self.pruningnet_epochs = pruningnet_epochs
        self.budgets = budgets
        self.pruningnet_file = pruningnet
        self.search_settings = search
        self.limits = search.cycle_limits()
        if select_top > self.search_settings.top:
            raise ConfigError(
                f"method.select_top={select_top} re-ranks the search's top structures: method.search.top "
                f"({self.search_settings.top}) must be at least that"
            )
        self.select_top = select_top
        self.select_epochs = select_epochs if select_epochs is not None else retrain_epochs
        self.encoding = encoding
        self.retrain_epochs = retrain_epochs
        self.retrain_seeds = retrain_seeds
        self.init_from_pruningnet = init_from_pruningnet
        self.uniform_baseline = uniform_baseline
        check_samples(stage, fidelity_samples)
        self.fidelity_samples = fidelity_samples
        self.plan = StagePlan(
            [
                Stage("pruningnet", self._pruningnet, produces=("pruningnet",), reusable=True, prefix=True),
                Stage("search", self._search_budgets, needs=("pruningnet",), produces=("structures",)),
                Stage("compare", self._compare_budgets, needs=("pruningnet", "structures")),
                Stage("retrain", self._retrain, needs=("encoding",), in_all=False),
                Stage("fidelity", self._fidelity_stage, needs=("pruningnet",), in_all=fidelity_samples > 0),
            ],
            stage,
            how={
                "pruningnet": "a trained PruningNet: method.pruningnet=<stages/pruningnet.pt>",
                "structures": "a search in this run: method.stage=all",
                "encoding": "method.encoding=<search/<budget>/best.json or a list>",
            },
            supplied=[name for name, given in (("pruningnet", pruningnet), ("encoding", encoding)) if given],
        )

    def run(self, context: RunContext) -> dict[str, float]:
        spec = self._spec(context)
        stages = StageRunner(context)
        full_flops = network_flops(spec, spec.full_encoding())
        caps = [budget * full_flops if budget <= 1 else budget for budget in self.budgets]
        for cap in caps:  # before a PruningNet is trained: a cap no structure meets is one line now
            check_reachable(spec, (self.ratios[0],) * len(spec.genes), cap, self.limits)
        products = {
            "spec": spec,
            "budgets": {budget_tag(cap, full_flops, self.limits): cap for cap in caps},  # tag -> FLOPs cap
            "training": self._training(context, stages),
        }
        if self.encoding is not None:
            try:
                products["encoding"] = resolve_encoding(spec, self.encoding)
            except (ValueError, KeyError) as error:
                raise ConfigError(f"method.encoding: {error}") from None
        return {"model/full_flops": float(full_flops)} | self.plan.run(stages, products)

    def _retrain(self, stages: StageRunner, products: Products) -> dict[str, float]:
        """The network of ``method.encoding``, trained as the compared networks are."""
        return products["training"].repeated("retrain", products["spec"], products["encoding"]).metrics

    def _search_budgets(self, stages: StageRunner, products: Products) -> dict[str, float]:
        """One search per budget: its structure in ``structures`` and its figures under the budget's tag."""
        net, batches, metrics = products["pruningnet"], self._batches(stages, products), {}
        products["structures"] = {}
        for tag, max_flops in products["budgets"].items():
            choice, summary = self._search(products["training"], net, batches, max_flops, tag)
            products["structures"][tag] = choice
            metrics |= {f"{tag}/{name}": value for name, value in summary.items()}
        # the first budget's figure under the name objectives use by default
        metrics["search/holdout_acc"] = metrics[f"{next(iter(products['budgets']))}/search_holdout_acc"]
        return metrics

    def _compare_budgets(self, stages: StageRunner, products: Products) -> dict[str, float]:
        """Each budget's searched network against the uniform one of its FLOPs, trained alike."""
        net, calibration, metrics = products["pruningnet"], self._batches(stages, products)[0], {}
        for tag, choice in products["structures"].items():
            metrics |= self._compare(products["training"], net, calibration, choice, tag)
        first = next(iter(products["structures"]))
        metrics["test/acc"] = metrics[f"{first}/test_acc"]
        if self.limits is not None:
            metrics["accel/cycles"] = metrics[f"{first}/accel_cycles"]
        return metrics

    def _fidelity_stage(self, stages: StageRunner, products: Products) -> dict[str, float]:
        """How well the PruningNet ranks structures under the first budget."""
        tag, max_flops = next(iter(products["budgets"].items()))
        batches = self._batches(stages, products)
        searched = products.get("structures", {}).get(tag)
        return self._fidelity(products["training"], products["pruningnet"], batches, max_flops, tag, searched)

    def _batches(self, stages: StageRunner, products: Products) -> tuple[Batches, Batches]:
        """The search's calibration and held-out batches, built once per run."""
        if "batches" not in products:
            products["batches"] = candidate_batches(stages.context.datamodule, self.search_settings, search_device())
        return products["batches"]

    def _training(self, context: RunContext, stages: StageRunner) -> PrunedTraining:
        accelerator = self.limits.cost if self.limits is not None else None
        return PrunedTraining(
            context, stages, self.optimizer, self.label_smoothing, self.retrain_epochs, self.retrain_seeds, accelerator
        )

    def _spec(self, context: RunContext) -> NetSpec:
        model = context.build_model()
        if not isinstance(model, ChannelNet):
            target = context.cfg.model.get("_target_")
            raise ConfigError(
                f"method=metapruning prunes model=mobilenet_v2, mobilenet_v1 or prunable_resnet (got {target})"
            )
        return model.spec

    def _pruningnet(self, stages: StageRunner, products: Products) -> dict[str, float]:
        context, spec = stages.context, products["spec"]
        try:
            net = PruningNet(
                spec,
                self.ratios,
                self.hidden,
                self.generated_affine,
                self.min_channels,
                generator_input=self.generator_input,
                silent_residuals=self.silent_residuals,
            )
        except ValueError as error:  # the ratios were checked on construction: only the floor can fail here
            raise ConfigError(f"method.min_channels: {error}") from None
        module = PruningNetModule(
            net, spec.num_classes, self.optimizer, self.label_smoothing, seed=int(context.cfg.seed)
        )
        # the structure (so every conv shape) changes every step: cuDNN autotuning would re-benchmark each
        # new shape (the official code ran 79 img/s on an H100 that way, 887 without it)
        with conv_precision_for_matmuls():
            what = "a PruningNet of this model and data"
            fitted = stages.train_or_load(
                "pruningnet",
                module,
                self.pruningnet_epochs,
                self.pruningnet_file,
                "method.pruningnet",
                what,
                benchmark=False,
            )
        products["pruningnet"] = net
        return fitted

    def _search(
        self,
        training: PrunedTraining,
        net: PruningNet,
        batches: tuple[Batches, Batches],
        max_flops: float,
        tag: str,
    ) -> tuple[tuple[int, ...], dict[str, float]]:
        """The structure of one budget: the search's best or (``select_top``) the best trained of its top."""
        settings, context = self.search_settings, training.context
        net.to(search_device())
        calibration, holdout = batches
        folder = context.output_dir / "search" / tag
        folder.mkdir(parents=True, exist_ok=True)
        log.info(
            "search %s: FLOPs <= %.4g%s, %d calibration / %d held-out batches",
            tag,
            max_flops,
            f", {self.limits.describe()}" if self.limits is not None else "",
            len(calibration),
            len(holdout),
        )
        search = search_structure(
            net,
            max_flops,
            lambda choice: evaluate_choice(net, choice, calibration, holdout),
            folder / "state.json",
            progress=settings.progress and context.progress_bars,
            limits=self.limits,
            seed=int(context.cfg.seed),
            **settings.evolution(),
        )
        top, summary = write_search_report(search, net, folder, settings.top, max_flops, self.limits)
        net.cpu()
        if not self.select_top:
            return tuple(top[0]["choice"]), summary

        def trained_holdout_acc(rank: int, choice: tuple[int, ...]) -> float:
            initial = self._inherited(net, choice, calibration)
            stage, encoding = f"{tag}_select{rank}", net.encoding(choice)
            # repeat number `repeats`: a seed none of the compared trainings uses
            network, _ = training.once(stage, net.spec, encoding, initial, training.repeats, self.select_epochs)
            return holdout_accuracy(network, holdout)

        chosen, selected = select_by_training(top[: self.select_top], trained_holdout_acc, folder)
        return chosen, summary | selected

    def _fidelity(
        self,
        training: PrunedTraining,
        net: PruningNet,
        batches: tuple[Batches, Batches],
        max_flops: float,
        tag: str,
        searched: tuple[int, ...] | None,
    ) -> dict[str, float]:
        """``fidelity_samples`` structures under ``max_flops`` scored as the search scores them and trained as
        pruned networks are (``retrain_seeds`` each; from their generated weights with ``init_from_pruningnet``),
        with the uniform network of the cap and (after a search in this run) the searched one ranked among them:
        fidelity/<tag>.json (``slimkit.search.fidelity``)."""
        spec, context = net.spec, training.context
        calibration, holdout = batches
        net.to(search_device())

        def trained(name: str, choice: tuple[int, ...]) -> list[float]:
            initial = self._inherited(net, choice, calibration)
            return training.repeated(name, spec, net.encoding(choice), initial).accuracies.values

        cycles_cap = self.limits.max_cycles if self.limits is not None else None
        _, encoding, initial = self._uniform(net, calibration, max_flops, cycles_cap)
        uniform = training.repeated(f"fidelity_{tag}_uniform", spec, encoding, initial).accuracies.mean

        def score(choice: tuple[int, ...]) -> float:
            return evaluate_choice(net, choice, calibration, holdout)

        subject = PruningNetFidelity(net, max_flops, score, trained, self.limits)
        report = measure_fidelity(
            subject,
            self.fidelity_samples,
            int(context.cfg.seed),
            context.output_dir / "fidelity",
            tag,
            Searched(searched, f"{tag}_searched") if searched is not None else None,
            extra={"flops_cap": max_flops, "uniform_trained_test_acc": uniform},
            log=log.info,
        )
        above = sum(row["trained"] > uniform for row in report["architectures"])
        log.info("%s; %d trained above the uniform network (%.4f)", describe_fidelity(report), above, uniform)
        return fidelity_metrics(report) | {"fidelity/uniform_test_acc": uniform, "fidelity/above_uniform": float(above)}

    def _compare(
        self,
        training: PrunedTraining,
        net: PruningNet,
        calibration: Batches,
        choice: tuple[int, ...],
        tag: str,
    ) -> dict[str, float]:
        """The searched network and (``uniform_baseline``) the uniform-width network of equal FLOPs (nearest the
        searched network's, which may sit below the budget; under a cycle cap, of equal cycles), trained alike:
        both from scratch or, with ``init_from_pruningnet``, both from their generated weights."""
        spec = net.spec
        initial = self._inherited(net, choice, calibration)
        searched = training.repeated(f"{tag}_searched", spec, net.encoding(choice), initial)
        metrics = {f"{tag}/{metric_suffix(name)}": value for name, value in searched.metrics.items()}
        if not self.uniform_baseline:
            return metrics
        ratio, encoding, initial = self._uniform(
            net, calibration, searched.metrics["model/flops"], searched.metrics.get("accel/cycles")
        )
        uniform = training.repeated(f"{tag}_uniform", spec, encoding, initial)
        metrics |= {f"{tag}/uniform_{metric_suffix(name)}": value for name, value in uniform.metrics.items()}
        metrics[f"{tag}/uniform_ratio"] = ratio
        pairs = list(zip(searched.accuracies.values, uniform.accuracies.values, strict=True))  # seed with seed
        ahead = sum(mine > theirs for mine, theirs in pairs)
        metrics[f"{tag}/searched_ahead_seeds"] = float(ahead)
        log.info(
            "%s: searched %s (%.4g FLOPs) vs uniform x%.3f %s (%.4g FLOPs); searched ahead with %d of %d seeds",
            tag,
            searched.accuracies.describe(),
            searched.metrics["model/flops"],
            ratio,
            uniform.accuracies.describe(),
            uniform.metrics["model/flops"],
            ahead,
            len(pairs),
        )
        return metrics

    def _inherited(self, net: PruningNet, choice: tuple[int, ...], calibration: Batches) -> ChannelNet | None:
        """The generated network a pruned network starts from (``init_from_pruningnet``), None from scratch."""
        return generated_network(net, choice, calibration) if self.init_from_pruningnet else None

    def _uniform(
        self, net: PruningNet, calibration: Batches, flops: float, cycles: float | None = None
    ) -> tuple[float, tuple[float, ...], ChannelNet | None]:
        """The uniform baseline of ``flops`` (under a cycle cap: of ``cycles`` on the build): its width
        multiplier, its encoding and what it starts from (with ``init_from_pruningnet`` a network whose widths
        the PruningNet generates, from them)."""
        target, cost = flops, network_flops
        if cycles is not None and self.limits is not None and self.limits.max_cycles is not None:
            target, cost = cycles, self.limits.cost.cycles
        if not self.init_from_pruningnet:
            ratio = uniform_ratio(net.spec, target, cost=cost)
            return ratio, (ratio,) * len(net.spec.genes), None
        choice, ratio = nearest_uniform_choice(net, target, cost)
        return ratio, net.encoding(choice), generated_network(net, choice, calibration)


def budget_tag(max_flops: float, full_flops: float, limits: CycleLimits | None) -> str:
    """A budget's name in metrics and folders: ``flops<percent of the full FLOPs>``, with ``_cycles<cap>`` under a
    cycle cap (only ``cycles<cap>`` when the FLOPs cap is the full network's)."""
    flops = f"flops{round(100 * max_flops / full_flops)}"
    if limits is None or limits.max_cycles is None:
        return flops
    cycles = f"cycles{limits.max_cycles}"
    return cycles if max_flops >= full_flops else f"{flops}_{cycles}"


def search_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def metric_suffix(name: str) -> str:
    """``test/acc`` -> ``test_acc``, ``model/flops`` -> ``flops``: a trained network's figure under a budget's tag."""
    return name.removeprefix("model/").replace("/", "_")
