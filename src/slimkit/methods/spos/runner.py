"""``method=spos``: Single Path One-Shot NAS end to end (docs/methods/spos.md).

Stages (``stage``: supernet, search, retrain, or all three), each resumable:
1. ``supernet``: the ShuffleNetV2 supernet (``model=shufflenet_supernet``, affine-free BN) trained with one
   uniformly sampled path per step, optionally rejection-sampled into ``flops_range``;
2. ``search``: the evolutionary search over the trained supernet under FLOPs / parameter / latency caps
   (checked before evaluation), each candidate scored after BN recalibration on one fixed held-out split (the
   data's validation split, carved from the training set); resumable per generation; ``search/top.json``,
   ``search/best.json``, ``search/curve.png``, ``search/scatter.png``;
3. ``retrain``: the best architecture (or ``architecture=<json>``) as a standalone network with normal BN,
   trained from scratch;
4. ``fidelity`` (in ``all`` when ``fidelity_samples`` > 0): that many random architectures under the same caps
   scored with the supernet's weights and retrained alike: rank agreement and the searched architecture's
   percentile (``slimkit.search.fidelity``), ``fidelity/<tag>.json``.
"""

from __future__ import annotations

import logging
from pathlib import Path as FilePath
from typing import Literal

import torch

from slimkit.errors import ConfigError
from slimkit.methods.classification import LinearDecayModule, OptimizerFactory
from slimkit.methods.repeated_training import SeedAccuracies, accuracy_over_seeds, seeded_repeat
from slimkit.methods.spos.fidelity import SposFidelity
from slimkit.methods.spos.module import SupernetModule
from slimkit.methods.spos.report import write_search_report
from slimkit.methods.spos.search import Caps, SposSearchSettings, evaluate_path, run_search
from slimkit.methods.stages import Products, Stage, StagePlan, StageRunner
from slimkit.models.shufflenet_costs import CostTable, LatencyTable, build_cost_table, build_latency_table
from slimkit.models.shufflenet_supernet import (
    Path,
    ShuffleNetOneShot,
    ShuffleNetSpace,
    ShuffleNetSupernet,
    resolve_path,
)
from slimkit.run_context import RunContext
from slimkit.search.fidelity import Searched, check_samples, describe_fidelity, fidelity_metrics, measure_fidelity
from slimkit.search.persistence import read_json, write_json_atomic
from slimkit.search.weight_sharing import Batches, candidate_batches
from slimkit.settings import Count, Fraction, PositiveInt

log = logging.getLogger(__name__)
SUPERNET_TARGET = "slimkit.models.ShuffleNetSupernet"


class SposRunner:
    """Settings and their defaults: conf/method/spos.yaml (``search``: conf/search/evolution.yaml and SPOS's caps)."""

    def __init__(
        self,
        optimizer: OptimizerFactory,
        stage: Literal["supernet", "search", "retrain", "fidelity", "all"],
        space: Literal["block", "channel", "joint"],
        label_smoothing: Fraction,
        supernet_epochs: Count,
        flops_range: list[float] | None,
        supernet: str | None,
        search: SposSearchSettings,
        architecture: str | None,
        retrain_epochs: Count,
        retrain_seeds: PositiveInt,
        fidelity_samples: Count,
        compile: bool,
    ) -> None:
        if flops_range is not None and (len(flops_range) != 2 or flops_range[0] > flops_range[1]):
            raise ConfigError(f"method.flops_range must be [min, max], got {flops_range}")
        if supernet is not None and not FilePath(supernet).is_file():
            raise ConfigError(f"method.supernet={supernet} is not a file (a stages/supernet.pt of an spos run)")
        try:  # read now: a bad file is one line before the run starts (its length is checked against the space)
            self.architecture = resolve_path(architecture) if architecture is not None else None
        except ValueError as error:
            raise ConfigError(f"method.architecture: {error}") from None
        self.optimizer = optimizer
        self.search_blocks = space in ("block", "joint")
        self.search_channels = space in ("channel", "joint")
        self.label_smoothing = label_smoothing
        self.supernet_epochs = supernet_epochs
        self.flops_range = tuple(flops_range) if flops_range is not None else None
        self.supernet_file = supernet
        search.refuse_accelerator("method=spos searches ShuffleNet blocks, whose depthwise convs it cannot run")
        self.search_settings = search
        self.retrain_epochs = retrain_epochs
        self.retrain_seeds = retrain_seeds
        check_samples(stage, fidelity_samples)
        self.fidelity_samples = fidelity_samples
        self.compile = compile
        self.plan = StagePlan(
            [
                Stage("supernet", self._supernet, produces=("supernet",), reusable=True, prefix=True),
                Stage("search", self._search, needs=("supernet",), produces=("architecture",)),
                Stage("retrain", self._retrain_best, needs=("architecture",)),
                Stage("fidelity", self._fidelity, needs=("supernet",), in_all=fidelity_samples > 0),
            ],
            stage,
            how={
                "supernet": "a trained supernet: method.supernet=<stages/supernet.pt>",
                "architecture": "method.architecture=<search/best.json or JSON text>",
            },
            supplied=[name for name, given in (("supernet", supernet), ("architecture", architecture)) if given],
        )

    def run(self, context: RunContext) -> dict[str, float]:
        target = context.cfg.model.get("_target_")
        if target != SUPERNET_TARGET:  # the space (and so the caps) is the supernet model's
            raise ConfigError(f"method=spos trains a supernet: use model=shufflenet_supernet (got {target})")
        channels, size, _ = context.datamodule.input_shape
        classes = context.datamodule.num_classes
        try:
            space = ShuffleNetSpace.of(context.cfg.model)
            if self.architecture is not None:
                space.check(self.architecture)
        except ValueError as error:
            raise ConfigError(str(error)) from None
        self.space = space
        costs = build_cost_table(channels, classes, size, self.search_channels, space)
        caps = self._caps(channels, classes, size, costs, context.output_dir)
        caps.check_reachable(costs)  # before the supernet trains: a cap nothing meets is one line, not hours later
        products = {"costs": costs, "caps": caps}
        if self.architecture is not None:
            products["architecture"] = self.architecture
        return self.plan.run(StageRunner(context), products)

    def _caps(self, channels: int, classes: int, size: int, costs: CostTable, output_dir: FilePath) -> Caps:
        settings = self.search_settings
        latency = None
        if settings.max_latency_ms is not None and settings.latency_table is not None:
            try:
                latency = LatencyTable.from_json(read_json(settings.latency_table), costs)
            except (OSError, ValueError) as error:
                raise ConfigError(f"method.search.latency_table={settings.latency_table}: {error}") from None
            log.info(
                "latency table of %s at batch %d from %s", latency.device, latency.batch_size, settings.latency_table
            )
        elif settings.max_latency_ms is not None:
            device = "cuda" if torch.cuda.is_available() else "cpu"
            latency = build_latency_table(
                channels, classes, size, self.search_channels, self.space, device, settings.latency_batch_size
            )
            write_json_atomic(output_dir / "search" / "latency_table.json", latency.to_json())
            log.info("latency table measured on %s at batch %d: search/latency_table.json", device, latency.batch_size)
        return Caps(settings.max_flops, settings.max_params, settings.max_latency_ms, latency)

    def _supernet(self, stages: StageRunner, products: Products) -> dict[str, float]:
        context, costs = stages.context, products["costs"]
        model = context.build_model(search_channels=self.search_channels)
        if self.compile:
            model.compile_ops()
        module = SupernetModule(
            model,
            context.datamodule.num_classes,
            self.optimizer,
            self.label_smoothing,
            seed=int(context.cfg.seed),
            search_blocks=self.search_blocks,
            costs=costs,
            flops_range=self.flops_range,
        )
        trainer_overrides = {"strategy": "ddp_find_unused_parameters_true"} if _is_ddp(context) else {}
        what = "a supernet of this space and data"
        fitted = stages.train_or_load(
            "supernet", module, self.supernet_epochs, self.supernet_file, "method.supernet", what, **trainer_overrides
        )
        products["supernet"] = module
        return fitted

    def _search(self, stages: StageRunner, products: Products) -> dict[str, float]:
        context, costs, caps = stages.context, products["costs"], products["caps"]
        settings = self.search_settings
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        supernet: ShuffleNetSupernet = products["supernet"].model.to(device)
        calibration, holdout = self._batches(context, products, device)
        search_dir = context.output_dir / "search"
        search_dir.mkdir(parents=True, exist_ok=True)
        search = run_search(
            lambda path: evaluate_path(supernet, path, calibration, holdout),
            costs,
            caps,
            search_dir / "state.json",
            self.search_blocks,
            self.search_channels,
            progress=settings.progress and context.progress_bars,
            seed=int(context.cfg.seed),
            **settings.evolution(),
        )
        products["architecture"], summary = write_search_report(search, costs, caps, search_dir, settings.top)
        return summary

    def _batches(self, context: RunContext, products: Products, device: torch.device) -> tuple[Batches, Batches]:
        """The training batches every candidate's BN is recalibrated on and the held-out ones it is scored on,
        built once per run (the search and the fidelity stage score alike)."""
        if "batches" not in products:
            calibration, holdout = candidate_batches(context.datamodule, self.search_settings, device)
            log.info(
                "candidates: BN recalibration on %d training batches, scored on %d held-out batches",
                len(calibration),
                len(holdout),
            )
            products["batches"] = calibration, holdout
        return products["batches"]

    def _retrain_best(self, stages: StageRunner, products: Products) -> dict[str, float]:
        """The architecture (searched or given) retrained from scratch."""
        return self._retrain(stages.context, stages, "retrain", products["architecture"], products["costs"])

    def _fidelity(self, stages: StageRunner, products: Products) -> dict[str, float]:
        """``fidelity_samples`` random architectures under the caps scored with the supernet and retrained alike;
        the searched (or given) architecture, when there is one, ranked among them."""
        context, costs = stages.context, products["costs"]
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        calibration, holdout = self._batches(context, products, device)
        subject = SposFidelity(
            products["supernet"].model.to(device),
            costs,
            products["caps"],
            calibration,
            holdout,
            lambda name, path: self._retrained(context, stages, name, path, costs).values,
            self.search_blocks,
            self.search_channels,
        )
        searched = Searched(products["architecture"], "retrain") if "architecture" in products else None
        tag = _caps_tag(products["caps"])
        report = measure_fidelity(
            subject,
            self.fidelity_samples,
            int(context.cfg.seed),
            context.output_dir / "fidelity",
            tag,
            searched,
            log=log.info,
        )
        log.info(describe_fidelity(report))
        return fidelity_metrics(report)

    def _retrain(
        self, context: RunContext, stages: StageRunner, name: str, path: Path, costs: CostTable
    ) -> dict[str, float]:
        """``_retrained``'s accuracies as metrics (``test/acc`` the seeds' mean), with the path's costs."""
        metrics = self._retrained(context, stages, name, path, costs).metrics()
        return {**metrics, "model/params": float(costs.params(path)), "model/flops": float(costs.flops(path))}

    def _retrained(
        self, context: RunContext, stages: StageRunner, name: str, path: Path, costs: CostTable
    ) -> SeedAccuracies:
        """Train ``path`` from scratch with normal BN, once per seed of ``retrain_seeds`` (every architecture
        from the same seeds: alike)."""
        channels, size, _ = context.datamodule.input_shape
        classes = context.datamodule.num_classes
        log.info("%s: %s (%.2f MFLOPs)", name, path.to_json(), costs.flops(path) / 1e6)

        def train(stage: str, repeat: int) -> float:
            with seeded_repeat(context, repeat):
                network = ShuffleNetOneShot(channels, classes, size, path, **vars(self.space))
                module = LinearDecayModule(network, classes, self.optimizer, None, self.label_smoothing)
                return stages.fit(stage, module, self.retrain_epochs)["test/acc"]

        return accuracy_over_seeds(context, name, self.retrain_seeds, train)


def _is_ddp(context: RunContext) -> bool:
    return str(context.cfg.trainer.get("strategy", "")).startswith("ddp")


def _caps_tag(caps: Caps) -> str:
    """The fidelity report's name: its caps (``flops1.14M``, ``flops1.14M_params90k``), or ``uncapped``."""
    parts = []
    if caps.max_flops is not None:
        parts.append(f"flops{caps.max_flops / 1e6:.3g}M")
    if caps.max_params is not None:
        parts.append(f"params{caps.max_params / 1e3:.3g}k")
    if caps.max_latency_ms is not None:
        parts.append(f"latency{caps.max_latency_ms:.3g}ms")
    return "_".join(parts) or "uncapped"
