"""``method=spos``: Single Path One-Shot NAS end to end (docs/methods/spos.md).

Stages (``stage``: supernet, search, retrain, or all three), each resumable:
1. ``supernet``: the ShuffleNetV2 supernet (``model=shufflenet_supernet``, affine-free BN) trained with one
   uniformly sampled path per step, optionally rejection-sampled into ``flops_range``;
2. ``search``: the evolutionary search over the trained supernet under FLOPs / parameter / latency caps
   (checked before evaluation), each candidate scored after BN recalibration on one fixed held-out split (the
   data's validation split, carved from the training set); resumable per generation; ``search/top.json``,
   ``search/best.json``, ``search/curve.png``, ``search/scatter.png``;
3. ``retrain``: the best architecture (or ``architecture=<json>``) as a standalone network with normal BN,
   trained from scratch; ``random_baseline=N`` retrains N random architectures under the same caps alike.
"""

from __future__ import annotations

import logging
import random
from pathlib import Path as FilePath
from typing import Literal

import lightning as L
import torch

from slimkit.errors import ConfigError
from slimkit.methods.classification import LinearDecayModule, OptimizerFactory
from slimkit.methods.spos.module import SupernetModule
from slimkit.methods.spos.report import write_search_report
from slimkit.methods.spos.search import Caps, SposSearchSettings, evaluate_path, run_search
from slimkit.methods.stages import Products, Stage, StagePlan, StageRunner
from slimkit.models.shufflenet_costs import CostTable, build_cost_table, build_latency_table
from slimkit.models.shufflenet_supernet import Path, ShuffleNetOneShot, ShuffleNetSupernet, resolve_path
from slimkit.run_context import RunContext
from slimkit.search.weight_sharing import batches_of
from slimkit.settings import Count, Fraction

log = logging.getLogger(__name__)
SUPERNET_TARGET = "slimkit.models.ShuffleNetSupernet"


class SposRunner:
    """Settings and their defaults: conf/method/spos.yaml (``search``: conf/search/evolution.yaml and SPOS's caps)."""

    def __init__(
        self,
        optimizer: OptimizerFactory,
        stage: Literal["supernet", "search", "retrain", "all"],
        space: Literal["block", "channel", "joint"],
        label_smoothing: Fraction,
        supernet_epochs: Count,
        flops_range: list[float] | None,
        supernet: str | None,
        search: SposSearchSettings,
        architecture: str | None,
        retrain_epochs: Count,
        random_baseline: Count,
        compile: bool,
    ) -> None:
        if flops_range is not None and (len(flops_range) != 2 or flops_range[0] > flops_range[1]):
            raise ConfigError(f"method.flops_range must be [min, max], got {flops_range}")
        if supernet is not None and not FilePath(supernet).is_file():
            raise ConfigError(f"method.supernet={supernet} is not a file (a stages/supernet.pt of an spos run)")
        try:  # read now: a bad file is one line before the run starts
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
        self.search_settings = search
        self.retrain_epochs = retrain_epochs
        self.random_baseline = random_baseline
        self.compile = compile
        self.plan = StagePlan(
            [
                Stage("supernet", self._supernet, produces=("supernet",), reusable=True, prefix=True),
                Stage("search", self._search, needs=("supernet",), produces=("architecture",)),
                Stage("retrain", self._retrain_best, needs=("architecture",)),
            ],
            stage,
            how={
                "supernet": "a trained supernet: method.supernet=<stages/supernet.pt>",
                "architecture": "method.architecture=<search/best.json or JSON text>",
            },
            supplied=[name for name, given in (("supernet", supernet), ("architecture", architecture)) if given],
        )

    def run(self, context: RunContext) -> dict[str, float]:
        channels, size, _ = context.datamodule.input_shape
        classes = context.datamodule.num_classes
        costs = build_cost_table(channels, classes, size, self.search_channels)
        products = {"costs": costs, "caps": self._caps(channels, classes, size)}
        if self.architecture is not None:
            products["architecture"] = self.architecture
        return self.plan.run(StageRunner(context), products)

    def _caps(self, channels: int, classes: int, size: int) -> Caps:
        settings = self.search_settings
        latency = None
        if settings.max_latency_ms is not None:
            device = "cuda" if torch.cuda.is_available() else "cpu"
            latency = build_latency_table(
                channels, classes, size, self.search_channels, device, settings.latency_batch_size
            )
            log.info("latency table measured on %s at batch %d", device, settings.latency_batch_size)
        return Caps(settings.max_flops, settings.max_params, settings.max_latency_ms, latency)

    def _supernet(self, stages: StageRunner, products: Products) -> dict[str, float]:
        context, costs = stages.context, products["costs"]
        target = context.cfg.model.get("_target_")
        if target != SUPERNET_TARGET:
            raise ConfigError(f"method=spos trains a supernet: use model=shufflenet_supernet (got {target})")
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
        data = context.datamodule
        data.setup("fit")
        calibration = batches_of(data.train_dataloader(), settings.calibration_batches, device)
        holdout = batches_of(data.val_dataloader(), settings.holdout_batches, device)
        log.info(
            "search: BN recalibration on %d training batches, scored on %d held-out batches",
            len(calibration),
            len(holdout),
        )
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

    def _retrain_best(self, stages: StageRunner, products: Products) -> dict[str, float]:
        """The architecture (searched or given) retrained and, with ``random_baseline``, random ones alike."""
        costs = products["costs"]
        metrics = self._retrain(stages.context, stages, "retrain", products["architecture"], costs)
        if self.random_baseline:
            metrics |= self._random_baseline(stages.context, stages, costs, products["caps"], metrics["test/acc"])
        return metrics

    def _retrain(
        self, context: RunContext, stages: StageRunner, name: str, path: Path, costs: CostTable
    ) -> dict[str, float]:
        """Train ``path`` from scratch with normal BN; every retrain starts from the same seed (alike)."""
        L.seed_everything(int(context.cfg.seed), workers=True)
        channels, size, _ = context.datamodule.input_shape
        network = ShuffleNetOneShot(channels, context.datamodule.num_classes, size, path)
        module = LinearDecayModule(network, context.datamodule.num_classes, self.optimizer, None, self.label_smoothing)
        log.info("%s: %s (%.2f MFLOPs)", name, path.to_json(), costs.flops(path) / 1e6)
        metrics = stages.fit(name, module, self.retrain_epochs)
        return {**metrics, "model/params": float(costs.params(path)), "model/flops": float(costs.flops(path))}

    def _random_baseline(
        self, context: RunContext, stages: StageRunner, costs: CostTable, caps: Caps, searched: float
    ) -> dict[str, float]:
        rng = random.Random(int(context.cfg.seed) + 1)
        accuracies = []
        for index in range(self.random_baseline):
            path = _feasible_random_path(rng, caps, costs, self.search_blocks, self.search_channels)
            accuracies.append(self._retrain(context, stages, f"random{index}", path, costs)["test/acc"])
        mean = sum(accuracies) / len(accuracies)
        std = (sum((acc - mean) ** 2 for acc in accuracies) / len(accuracies)) ** 0.5
        log.info("searched architecture %.4f vs %d random ones %.4f +- %.4f", searched, len(accuracies), mean, std)
        return {
            "random/mean_test_acc": mean,
            "random/std_test_acc": std,
            "random/max_test_acc": max(accuracies),
            "random/count": float(len(accuracies)),
            "searched_minus_random_mean": searched - mean,
        }


def _is_ddp(context: RunContext) -> bool:
    return str(context.cfg.trainer.get("strategy", "")).startswith("ddp")


def _feasible_random_path(
    rng: random.Random, caps: Caps, costs: CostTable, search_blocks: bool, search_channels: bool, draws: int = 10_000
) -> Path:
    for _ in range(draws):
        path = Path.sample(rng, search_channels=search_channels, search_blocks=search_blocks)
        if caps.allows(costs, path):
            return path
    raise ConfigError(f"no random architecture within the caps after {draws} draws: loosen method.search.max_*")
