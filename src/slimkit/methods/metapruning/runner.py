"""``method=metapruning``: PruningNet training -> one evolutionary search per FLOPs budget -> the searched
networks and uniform-width networks of the same budgets trained alike (REFERENCE.md section 3).

Stages (``method.stage``): pruningnet | search | retrain | all; each resumes (StageRunner stage files, the
search's per-generation state). The model config names the network (``model=mobilenet_v2``, ``mobilenet_v1``
or ``prunable_resnet``); budgets are fractions of its full-width FLOPs or absolute FLOPs.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Literal

import lightning as L
import torch

from slimkit.errors import ConfigError
from slimkit.methods.classification import LinearDecayModule, OptimizerFactory
from slimkit.methods.metapruning.module import PruningNetModule
from slimkit.methods.metapruning.pruningnet import DEFAULT_RATIOS, PruningNet
from slimkit.methods.metapruning.report import write_search_report
from slimkit.methods.metapruning.search import evaluate_choice, search_structure, uniform_ratio
from slimkit.methods.stages import StageRunner, load_stage_file
from slimkit.models.channel_net import ChannelNet, resolve_encoding
from slimkit.models.channel_spec import NetSpec, network_flops
from slimkit.run_context import RunContext
from slimkit.search.weight_sharing import EVOLUTION_KEYS, SEARCH_DEFAULTS, batches_of, search_settings

log = logging.getLogger(__name__)


class MetaPruningRunner:
    def __init__(
        self,
        optimizer: OptimizerFactory,
        stage: Literal["pruningnet", "search", "retrain", "all"] = "all",
        ratios: list[float] | None = None,
        generator_hidden: int = 32,
        label_smoothing: float = 0.1,
        pruningnet_epochs: int = 64,
        budgets: list[float] | None = None,
        pruningnet: str | None = None,
        search: dict[str, Any] | None = None,
        encoding: str | list[float] | None = None,
        retrain_epochs: int = 64,
        init_from_pruningnet: bool = False,
        uniform_baseline: bool = True,
    ) -> None:
        budgets = list(budgets) if budgets is not None else [0.5]
        if not budgets or any(budget <= 0 for budget in budgets):
            raise ConfigError(f"method.budgets must be fractions of the full FLOPs (0-1] or FLOPs > 1, got {budgets}")
        if pruningnet is not None and not Path(pruningnet).is_file():
            raise ConfigError(f"method.pruningnet={pruningnet} is not a file (a stages/pruningnet.pt of a run)")
        if stage == "retrain" and encoding is None:
            raise ConfigError("method.stage=retrain needs method.encoding=<search/<budget>/best.json or a list>")
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
        self.label_smoothing = label_smoothing
        self.pruningnet_epochs = pruningnet_epochs
        self.budgets = budgets
        self.pruningnet_file = pruningnet
        self.search_settings = search_settings(search, SEARCH_DEFAULTS)
        self.encoding = encoding
        self.retrain_epochs = retrain_epochs
        self.init_from_pruningnet = init_from_pruningnet
        self.uniform_baseline = uniform_baseline

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
            return metrics | self._train(context, stages, "retrain", spec, encoding)

        net = self._pruningnet(context, stages, spec, metrics)
        if self.stage == "pruningnet":
            return metrics
        caps = [budget * full_flops if budget <= 1 else budget for budget in self.budgets]
        tags = [f"flops{round(100 * cap / full_flops)}" for cap in caps]
        for max_flops, tag in zip(caps, tags, strict=True):
            choice, summary = self._search(context, net, max_flops, tag)
            metrics |= {f"{tag}/{name}": value for name, value in summary.items()}
            if self.stage == "all":
                metrics |= self._compare(context, stages, net, choice, tag)
        # the first budget's figures under the names objectives use by default
        metrics["search/holdout_acc"] = metrics[f"{tags[0]}/search_holdout_acc"]
        if f"{tags[0]}/test_acc" in metrics:
            metrics["test/acc"] = metrics[f"{tags[0]}/test_acc"]
        return metrics

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
        net = PruningNet(spec, self.ratios, self.hidden)
        module = PruningNetModule(
            net, spec.num_classes, self.optimizer, self.label_smoothing, seed=int(context.cfg.seed)
        )
        if self.pruningnet_file:
            load_stage_file(module, self.pruningnet_file, "method.pruningnet", "a PruningNet of this model and data")
        elif self.stage == "search" and not stages.done("pruningnet"):
            raise ConfigError(
                "method.stage=search needs a trained PruningNet: method.pruningnet=<stages/pruningnet.pt>"
            )
        else:
            # the structure (so every conv shape) changes every step: cuDNN autotuning would re-benchmark each
            # new shape (the official code ran 79 img/s on an H100 that way, 887 without it)
            fitted = stages.fit("pruningnet", module, self.pruningnet_epochs, benchmark=False)
            metrics |= {f"pruningnet/{name.replace('/', '_')}": value for name, value in fitted.items()}
        return net

    def _search(
        self, context: RunContext, net: PruningNet, max_flops: float, tag: str
    ) -> tuple[tuple[int, ...], dict[str, float]]:
        settings = self.search_settings
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        net.to(device)
        data = context.datamodule
        data.setup("fit")
        calibration = batches_of(data.train_dataloader(), settings["calibration_batches"], device)
        holdout = batches_of(data.val_dataloader(), settings["holdout_batches"], device)
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
        best, summary = write_search_report(search, net, folder, settings["top"], max_flops)
        net.cpu()
        return best, summary

    def _compare(
        self,
        context: RunContext,
        stages: StageRunner,
        net: PruningNet,
        choice: tuple[int, ...],
        tag: str,
    ) -> dict[str, float]:
        """The searched network and (``uniform_baseline``) the uniform-width network of equal FLOPs (nearest the
        searched network's, which may sit below the budget), trained alike."""
        spec = net.spec
        initial = net.materialize(choice) if self.init_from_pruningnet else None
        searched = self._train(context, stages, f"{tag}_searched", spec, net.encoding(choice), initial)
        metrics = {
            f"{tag}/test_acc": searched["test/acc"],
            f"{tag}/flops": searched["model/flops"],
            f"{tag}/params": searched["model/params"],
        }
        if self.uniform_baseline:
            ratio = uniform_ratio(spec, searched["model/flops"])
            uniform = self._train(context, stages, f"{tag}_uniform", spec, (ratio,) * len(spec.genes))
            metrics |= {
                f"{tag}/uniform_test_acc": uniform["test/acc"],
                f"{tag}/uniform_flops": uniform["model/flops"],
                f"{tag}/uniform_params": uniform["model/params"],
                f"{tag}/uniform_ratio": ratio,
            }
            log.info(
                "%s: searched %.4f (%.4g FLOPs) vs uniform x%.3f %.4f (%.4g FLOPs)",
                tag,
                searched["test/acc"],
                searched["model/flops"],
                ratio,
                uniform["test/acc"],
                uniform["model/flops"],
            )
        return metrics

    def _train(
        self,
        context: RunContext,
        stages: StageRunner,
        name: str,
        spec: NetSpec,
        encoding: tuple[float, ...],
        initial: ChannelNet | None = None,
    ) -> dict[str, float]:
        """Train the plain network of ``encoding`` (from ``initial``'s weights, else from scratch; the same seed
        for every network, so they are trained alike)."""
        L.seed_everything(int(context.cfg.seed), workers=True)
        network = ChannelNet(spec, encoding)
        if initial is not None:
            network.load_state_dict(initial.state_dict())
        module = LinearDecayModule(network, spec.num_classes, self.optimizer, None, self.label_smoothing)
        flops = network_flops(spec, encoding)
        log.info("%s: %.2f MFLOPs, %s", name, flops / 1e6, describe_widths(network))
        metrics = stages.fit(name, module, self.retrain_epochs)
        params = sum(p.numel() for p in network.parameters())
        return {**metrics, "model/flops": float(flops), "model/params": float(params)}


def describe_widths(network: ChannelNet) -> str:
    return "widths " + " ".join(str(layer.conv.out_channels) for layer in network.layers)
