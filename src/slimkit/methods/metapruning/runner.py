"""``method=metapruning``: PruningNet training -> one evolutionary search per FLOPs budget -> the searched
networks and uniform-width networks of the same budgets trained alike (REFERENCE.md section 3).

Stages (``method.stage``): pruningnet | search | retrain | all, and fidelity (how well the PruningNet ranks
structures under the first budget: ``fidelity.py``); each resumes (StageRunner stage files, the
search's per-generation state). The model config names the network (``model=mobilenet_v2``, ``mobilenet_v1``
or ``prunable_resnet``); budgets are fractions of its full-width FLOPs or absolute FLOPs.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Literal

import torch

from slimkit.errors import ConfigError
from slimkit.methods.classification import OptimizerFactory
from slimkit.methods.metapruning.fidelity import measure_fidelity, sample_structures, undefined_as_null
from slimkit.methods.metapruning.module import PruningNetModule
from slimkit.methods.metapruning.pruned_training import PrunedTraining, describe_accuracy, holdout_accuracy
from slimkit.methods.metapruning.pruningnet import DEFAULT_RATIOS, PruningNet, conv_precision_for_matmuls
from slimkit.methods.metapruning.report import write_search_report
from slimkit.methods.metapruning.search import (
    evaluate_choice,
    generated_network,
    nearest_uniform_choice,
    search_structure,
    uniform_ratio,
)
from slimkit.methods.metapruning.selection import select_by_training
from slimkit.methods.stages import StageRunner, load_stage_file
from slimkit.models.channel_net import ChannelNet, resolve_encoding
from slimkit.models.channel_spec import NetSpec, network_flops
from slimkit.run_context import RunContext
from slimkit.search.persistence import write_json_atomic
from slimkit.search.weight_sharing import EVOLUTION_KEYS, SEARCH_DEFAULTS, Batches, batches_of, search_settings

log = logging.getLogger(__name__)


class MetaPruningRunner:
    def __init__(
        self,
        optimizer: OptimizerFactory,
        stage: Literal["pruningnet", "search", "retrain", "all", "fidelity"] = "all",
        ratios: list[float] | None = None,
        generator_hidden: int = 32,
        generated_affine: bool = False,
        min_channels: int = 1,
        label_smoothing: float = 0.1,
        pruningnet_epochs: int = 64,
        budgets: list[float] | None = None,
        pruningnet: str | None = None,
        search: dict[str, Any] | None = None,
        select_top: int = 0,
        select_epochs: int | None = None,
        encoding: str | list[float] | None = None,
        retrain_epochs: int = 64,
        retrain_seeds: int = 1,
        init_from_pruningnet: bool = False,
        uniform_baseline: bool = True,
        fidelity_samples: int = 16,
    ) -> None:
        budgets = list(budgets) if budgets is not None else [0.5]
        if not budgets or any(budget <= 0 for budget in budgets):
            raise ConfigError(f"method.budgets must be fractions of the full FLOPs (0-1] or FLOPs > 1, got {budgets}")
        if pruningnet is not None and not Path(pruningnet).is_file():
            raise ConfigError(f"method.pruningnet={pruningnet} is not a file (a stages/pruningnet.pt of a run)")
        if stage == "retrain" and encoding is None:
            raise ConfigError("method.stage=retrain needs method.encoding=<search/<budget>/best.json or a list>")
        if fidelity_samples < 3:
            raise ConfigError(f"method.fidelity_samples must be >= 3 (a rank correlation), got {fidelity_samples}")
        if retrain_seeds < 1:
            raise ConfigError(f"method.retrain_seeds must be >= 1, got {retrain_seeds}")
        if min_channels < 1:
            raise ConfigError(f"method.min_channels must be >= 1, got {min_channels}")
        if select_top < 0:
            raise ConfigError(f"method.select_top must be >= 0 (0: the search's best), got {select_top}")
        if select_epochs is not None and select_epochs < 1:
            raise ConfigError(f"method.select_epochs must be >= 1 or null (the retrain epochs), got {select_epochs}")
        if generator_hidden < 1:
            raise ConfigError(f"method.generator_hidden must be >= 1, got {generator_hidden}")
        try:
            self.ratios = tuple(float(r) for r in ratios) if ratios is not None else DEFAULT_RATIOS
            PruningNet.check_ratios(self.ratios)
        except ValueError as error:
            raise ConfigError(f"method.ratios: {error}") from None
        self.optimizer = optimizer
        self.stage = stage
        self.hidden = generator_hidden
        self.generated_affine = generated_affine
        self.min_channels = min_channels
        self.label_smoothing = label_smoothing
        self.pruningnet_epochs = pruningnet_epochs
        self.budgets = budgets
        self.pruningnet_file = pruningnet
        self.search_settings = search_settings(search, SEARCH_DEFAULTS)
        if select_top > self.search_settings["top"]:
            raise ConfigError(
                f"method.select_top={select_top} re-ranks the search's top structures: method.search.top "
                f"({self.search_settings['top']}) must be at least that"
            )
        self.select_top = select_top
        self.select_epochs = select_epochs if select_epochs is not None else retrain_epochs
        self.encoding = encoding
        self.retrain_epochs = retrain_epochs
        self.retrain_seeds = retrain_seeds
        self.init_from_pruningnet = init_from_pruningnet
        self.uniform_baseline = uniform_baseline
        self.fidelity_samples = fidelity_samples

    def run(self, context: RunContext) -> dict[str, float]:
        spec = self._spec(context)
        stages = StageRunner(context)
        full_flops = network_flops(spec, spec.full_encoding())
        metrics: dict[str, float] = {"model/full_flops": float(full_flops)}
        if self.stage == "retrain":
            try:
                encoding = resolve_encoding(spec, self.encoding)
            except (ValueError, KeyError) as error:
                raise ConfigError(f"method.encoding: {error}") from None
            return metrics | self._training(context, stages).repeated("retrain", spec, encoding)

        net = self._pruningnet(context, stages, spec, metrics)
        if self.stage == "pruningnet":
            return metrics
        caps = [budget * full_flops if budget <= 1 else budget for budget in self.budgets]
        tags = [f"flops{round(100 * cap / full_flops)}" for cap in caps]
        batches = self._search_batches(context, search_device())
        training = self._training(context, stages)
        if self.stage == "fidelity":
            return metrics | self._fidelity(training, net, batches, caps[0], tags[0])
        for max_flops, tag in zip(caps, tags, strict=True):
            choice, summary = self._search(training, net, batches, max_flops, tag)
            metrics |= {f"{tag}/{name}": value for name, value in summary.items()}
            if self.stage == "all":
                metrics |= self._compare(training, net, batches[0], choice, tag)
        # the first budget's figures under the names objectives use by default
        metrics["search/holdout_acc"] = metrics[f"{tags[0]}/search_holdout_acc"]
        if f"{tags[0]}/test_acc" in metrics:
            metrics["test/acc"] = metrics[f"{tags[0]}/test_acc"]
        return metrics

    def _training(self, context: RunContext, stages: StageRunner) -> PrunedTraining:
        return PrunedTraining(
            context, stages, self.optimizer, self.label_smoothing, self.retrain_epochs, self.retrain_seeds
        )

    def _spec(self, context: RunContext) -> NetSpec:
        model = context.build_model()
        if not isinstance(model, ChannelNet):
            target = context.cfg.model.get("_target_")
            raise ConfigError(
                f"method=metapruning prunes model=mobilenet_v2, mobilenet_v1 or prunable_resnet (got {target})"
            )
        return model.spec

    def _pruningnet(
        self, context: RunContext, stages: StageRunner, spec: NetSpec, metrics: dict[str, float]
    ) -> PruningNet:
        try:
            net = PruningNet(spec, self.ratios, self.hidden, self.generated_affine, self.min_channels)
        except ValueError as error:  # the ratios were checked on construction: only the floor can fail here
            raise ConfigError(f"method.min_channels: {error}") from None
        module = PruningNetModule(
            net, spec.num_classes, self.optimizer, self.label_smoothing, seed=int(context.cfg.seed)
        )
        if self.pruningnet_file:
            load_stage_file(module, self.pruningnet_file, "method.pruningnet", "a PruningNet of this model and data")
        elif self.stage in ("search", "fidelity") and not stages.done("pruningnet"):
            raise ConfigError(
                f"method.stage={self.stage} needs a trained PruningNet: method.pruningnet=<stages/pruningnet.pt>"
            )
        else:
            # the structure (so every conv shape) changes every step: cuDNN autotuning would re-benchmark each
            # new shape (the official code ran 79 img/s on an H100 that way, 887 without it)
            with conv_precision_for_matmuls():
                fitted = stages.fit("pruningnet", module, self.pruningnet_epochs, benchmark=False)
            metrics |= {f"pruningnet/{name.replace('/', '_')}": value for name, value in fitted.items()}
        return net

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
            "search %s: FLOPs <= %.4g, %d calibration / %d held-out batches",
            tag,
            max_flops,
            len(calibration),
            len(holdout),
        )
        search = search_structure(
            net,
            max_flops,
            lambda choice: evaluate_choice(net, choice, calibration, holdout),
            folder / "state.json",
            progress=settings["progress"],
            seed=int(context.cfg.seed),
            **{key: settings[key] for key in EVOLUTION_KEYS},
        )
        top, summary = write_search_report(search, net, folder, settings["top"], max_flops)
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

    def _search_batches(self, context: RunContext, device: torch.device) -> tuple[Batches, Batches]:
        """The training batches every candidate's BN is recalibrated on and the held-out ones it is scored on."""
        data = context.datamodule
        data.setup("fit")
        settings = self.search_settings
        calibration = batches_of(data.train_dataloader(), settings["calibration_batches"], device)
        return calibration, batches_of(data.val_dataloader(), settings["holdout_batches"], device)

    def _fidelity(
        self,
        training: PrunedTraining,
        net: PruningNet,
        batches: tuple[Batches, Batches],
        max_flops: float,
        tag: str,
    ) -> dict[str, float]:
        """``fidelity_samples`` structures under ``max_flops`` scored as the search scores them and trained as
        pruned networks are (``retrain_seeds`` each; from their generated weights with ``init_from_pruningnet``),
        with the uniform network of the cap: fidelity/<tag>.json."""
        spec, context = net.spec, training.context
        calibration, holdout = batches
        structures = sample_structures(net, max_flops, self.fidelity_samples, int(context.cfg.seed))
        net.to(search_device())
        proxy = {choice: evaluate_choice(net, choice, calibration, holdout) for choice in structures}
        net.cpu()

        def trained(index: int, choice: tuple[int, ...]) -> float:
            name = f"fidelity_{tag}_{index}"
            initial = self._inherited(net, choice, calibration)
            return training.repeated(name, spec, net.encoding(choice), initial)["test/acc"]

        _, encoding, initial = self._uniform(net, calibration, max_flops)
        uniform = training.repeated(f"fidelity_{tag}_uniform", spec, encoding, initial)
        result = measure_fidelity(net, structures, proxy.__getitem__, trained, uniform["test/acc"])
        report = {"flops_cap": max_flops, **undefined_as_null(result)}
        write_json_atomic(context.output_dir / "fidelity" / f"{tag}.json", report)
        log.info(
            "fidelity %s: %d structures, Spearman %.3f, Kendall %.3f between held-out score and trained accuracy; "
            "%d trained above the uniform network (%.4f); the proxy's best trained to %.4f, the best to %.4f",
            tag,
            len(structures),
            result["spearman"],
            result["kendall"],
            result["above_uniform"],
            result["uniform_trained_test_acc"],
            result["proxy_best_trained_test_acc"],
            result["best_trained_test_acc"],
        )
        return {f"fidelity/{name}": float(value) for name, value in result.items() if name != "structures"}

    def _compare(
        self,
        training: PrunedTraining,
        net: PruningNet,
        calibration: Batches,
        choice: tuple[int, ...],
        tag: str,
    ) -> dict[str, float]:
        """The searched network and (``uniform_baseline``) the uniform-width network of equal FLOPs (nearest the
        searched network's, which may sit below the budget), trained alike: both from scratch or, with
        ``init_from_pruningnet``, both from their generated weights."""
        spec = net.spec
        initial = self._inherited(net, choice, calibration)
        searched = training.repeated(f"{tag}_searched", spec, net.encoding(choice), initial)
        metrics = {f"{tag}/{metric_suffix(name)}": value for name, value in searched.items()}
        if not self.uniform_baseline:
            return metrics
        ratio, encoding, initial = self._uniform(net, calibration, searched["model/flops"])
        uniform = training.repeated(f"{tag}_uniform", spec, encoding, initial)
        metrics |= {f"{tag}/uniform_{metric_suffix(name)}": value for name, value in uniform.items()}
        metrics[f"{tag}/uniform_ratio"] = ratio
        seeds = training.seeds
        ahead = sum(searched[f"test/acc_seed{seed}"] > uniform[f"test/acc_seed{seed}"] for seed in seeds)
        metrics[f"{tag}/searched_ahead_seeds"] = float(ahead)
        log.info(
            "%s: searched %s (%.4g FLOPs) vs uniform x%.3f %s (%.4g FLOPs); searched ahead with %d of %d seeds",
            tag,
            describe_accuracy(searched),
            searched["model/flops"],
            ratio,
            describe_accuracy(uniform),
            uniform["model/flops"],
            ahead,
            len(seeds),
        )
        return metrics

    def _inherited(self, net: PruningNet, choice: tuple[int, ...], calibration: Batches) -> ChannelNet | None:
        """The generated network a pruned network starts from (``init_from_pruningnet``), None from scratch."""
        return generated_network(net, choice, calibration) if self.init_from_pruningnet else None

    def _uniform(
        self, net: PruningNet, calibration: Batches, flops: float
    ) -> tuple[float, tuple[float, ...], ChannelNet | None]:
        """The uniform baseline of ``flops``: its width multiplier, its encoding and what it starts from (with
        ``init_from_pruningnet`` a network whose widths the PruningNet generates, from them)."""
        if not self.init_from_pruningnet:
            ratio = uniform_ratio(net.spec, flops)
            return ratio, (ratio,) * len(net.spec.genes), None
        choice, ratio = nearest_uniform_choice(net, flops)
        return ratio, net.encoding(choice), generated_network(net, choice, calibration)


def search_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def metric_suffix(name: str) -> str:
    """``test/acc`` -> ``test_acc``, ``model/flops`` -> ``flops``: a trained network's figure under a budget's tag."""
    return name.removeprefix("model/").replace("/", "_")
