"""``method=spos_bits``: SPOS mixed-precision quantization search end to end (see mixed_precision.py).

1. ``supernet``: the model's shared weights trained under a uniformly drawn width per layer every step;
2. search: per-layer widths under a weight-memory (``budget=size``) or BitOPs (``budget=bitops``) budget equal
   to the cost of every layer at ``budget_bits`` (checked before evaluation), each candidate scored after BN
   recalibration on the same training batches, on the same held-out (validation) batches;
3. the chosen widths against every layer at ``budget_bits`` (the same cost): both from the shared weights
   with recalibrated BN, then both fine-tuned alike for ``finetune_epochs`` at their fixed widths and tested.
4. with ``fidelity_samples`` > 0 (and fine-tuning): that many random widths under the budget scored and
   fine-tuned alike, the chosen ones ranked among them (``slimkit.search.fidelity``, ``fidelity/<budget>.json``).
Outputs: ``search/bits.json`` (the chosen widths per layer, their cost), ``search/top.json``, the curve plot.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from typing import Annotated, Any, Literal

import torch
from annotated_types import MinLen

from slimkit.errors import ConfigError
from slimkit.methods.classification import OptimizerFactory, SchedulerFactory
from slimkit.methods.repeated_training import SeedAccuracies, accuracy_over_seeds, seeded_repeat
from slimkit.methods.spos.bits_fidelity import BitsFidelity
from slimkit.methods.spos.mixed_precision import BitsSupernetModule, LayerCosts, measure_costs
from slimkit.methods.stages import StageRunner, prefixed
from slimkit.quant.quantized_weight import bit_choices, forget_codebooks, quantizable_layers, set_bits
from slimkit.run_context import RunContext
from slimkit.search import EvolutionSearch, SearchSpace
from slimkit.search.fidelity import Searched, describe_fidelity, fidelity_metrics, measure_fidelity
from slimkit.search.persistence import write_json_atomic
from slimkit.search.plots import plot_search_curve
from slimkit.search.weight_sharing import (
    WeightSharingSearchSettings,
    accuracy,
    batches_of,
    candidate_batches,
    recalibrate_bn,
    run_evolution,
)
from slimkit.settings import BitWidth, Count, Fraction, PositiveInt

log = logging.getLogger(__name__)


class MixedPrecisionRunner:
    """Settings and their defaults: conf/method/spos_bits.yaml (``search``: conf/search/evolution.yaml)."""

    def __init__(
        self,
        optimizer: OptimizerFactory,
        scheduler: SchedulerFactory | None,
        widths: Annotated[list[BitWidth], MinLen(1)],
        label_smoothing: Fraction,
        supernet_epochs: Count,
        recompute_every: Count,
        budget: Literal["size", "bitops"],
        budget_bits: BitWidth,
        activation_bits: PositiveInt,
        search: WeightSharingSearchSettings,
        finetune_epochs: Count,
        finetune_seeds: PositiveInt,
        fidelity_samples: Count,
    ) -> None:
        widths = sorted({int(w) for w in widths})
        if not widths[0] < budget_bits <= widths[-1]:
            raise ConfigError(
                f"method.budget_bits={budget_bits} must be above the smallest of method.widths {widths} (at the "
                "smallest only the uniform network fits) and at most the largest"
            )
        self.optimizer, self.scheduler = optimizer, scheduler
        self.widths, self.label_smoothing = widths, label_smoothing
        self.supernet_epochs, self.recompute_every = supernet_epochs, recompute_every
        self.budget, self.budget_bits, self.activation_bits = budget, budget_bits, activation_bits
        self.search_settings = search
        self.limits = search.cycle_limits()
        self.finetune_epochs, self.finetune_seeds = finetune_epochs, finetune_seeds
        if fidelity_samples and (fidelity_samples < 3 or not finetune_epochs):
            raise ConfigError(
                "method.fidelity_samples needs >= 3 architectures and method.finetune_epochs > 0 (how each is trained)"
            )
        self.fidelity_samples = fidelity_samples

    def run(self, context: RunContext) -> dict[str, float]:
        stages = StageRunner(context)
        seed = int(context.cfg.seed)
        model = context.build_model()
        costs = measure_costs(model, context.datamodule.input_shape)
        accelerator, widest = self._accelerator(model, context)  # before training: a misfit is one line now
        module = self._module(model, context, seed)
        supernet = stages.fit("supernet", module, self.supernet_epochs)
        shared = copy.deepcopy(module.state_dict())  # the trained weights, before the search recalibrates BN
        metrics = prefixed("supernet", supernet) | accelerator

        layers = len(costs.weights)
        uniform = [self.budget_bits] * layers
        limit = self._cost(costs, uniform)
        data = context.datamodule
        data.setup("fit")
        settings = self.search_settings
        calibration, holdout = candidate_batches(data, settings, torch.device("cpu"))
        exact = _ExactCodebooks(model)

        def evaluate(bits: list[int], batches: list = holdout) -> float:
            exact.use(bits)
            recalibrate_bn(model, calibration, model)
            return accuracy(model, batches)

        chosen, search = self._search(evaluate, costs, limit, layers, seed, context, widest)
        metrics |= {
            "search/holdout_acc": search.best(1)[0][1],
            "search/cost": float(self._cost(costs, chosen)),
            "search/budget": float(limit),
            "uniform/holdout_acc": evaluate(uniform),
        }
        data.setup("test")
        test = batches_of(data.test_dataloader(), None, "cpu")
        for name, bits in (("mixed", chosen), ("uniform", uniform)):
            metrics[f"{name}/test_acc_shared"] = evaluate(bits, test)
        if self.finetune_epochs > 0:
            metrics |= self._finetune(context, stages, shared, {"mixed": chosen, "uniform": uniform})
        if self.fidelity_samples:
            finetune = self._finetune_one(context, stages, shared)
            subject = BitsFidelity(self.widths, layers, lambda b: self._cost(costs, b), limit, evaluate, finetune)
            tag = f"{self.budget}{self.budget_bits}bits"
            report = measure_fidelity(
                subject,
                self.fidelity_samples,
                seed,
                context.output_dir / "fidelity",
                tag,
                Searched(tuple(chosen), "finetune_mixed"),
                extra={"budget": self.budget, "limit": limit},
                log=log.info,
            )
            log.info(describe_fidelity(report))
            metrics |= fidelity_metrics(report)
        metrics["test/acc"] = metrics.get("mixed/test_acc", metrics["mixed/test_acc_shared"])
        log.info(
            "widths %s (cost %d <= %d); uniform %d bits: %s",
            chosen,
            self._cost(costs, chosen),
            limit,
            self.budget_bits,
            {k: round(v, 4) for k, v in metrics.items() if "test_acc" in k},
        )
        return metrics

    def _module(
        self, model: torch.nn.Module, context: RunContext, seed: int, fixed_bits: list[int] | None = None
    ) -> BitsSupernetModule:
        return BitsSupernetModule(
            model,
            context.datamodule.num_classes,
            self.optimizer,
            self.scheduler,
            self.widths,
            seed,
            self.recompute_every,
            self.label_smoothing,
            fixed_bits,
        )

    def _cost(self, costs: LayerCosts, bits: list[int]) -> int:
        return costs.size_bits(bits) if self.budget == "size" else costs.bitops(bits, self.activation_bits)

    def _accelerator(self, model: torch.nn.Module, context: RunContext) -> tuple[dict[str, float], int | None]:
        """The network's cost on ``method.search.accelerator`` (its bit widths change neither its cycles nor its
        index memory, whose words hold index_bits-wide indices whatever the width: narrower widths only save
        storage) and, with ``must_fit``, the widest width the build's codebooks hold (None: any)."""
        if self.limits is None:
            return {}, None
        network = self.limits.cost.of_model(model, context.datamodule.input_shape)
        if not self.limits.allows(network):
            problem = f"{network.cycles} cycles" + ("" if network.fits else f", {network.misfits[0]}")
            raise ConfigError(
                f"method.search.accelerator: the network ({problem}) is outside {self.limits.describe()} at any bit "
                "widths (spos_bits searches widths, not the architecture)"
            )
        if not self.limits.must_fit:
            return network.metrics(), None
        widest = self.limits.cost.config.index_bits
        if widest < min(self.widths):
            raise ConfigError(f"method.widths {self.widths}: none fits the build's {widest}-bit indices (must_fit)")
        return network.metrics(), widest

    def _search(
        self,
        evaluate: Any,
        costs: LayerCosts,
        limit: int,
        layers: int,
        seed: int,
        context: RunContext,
        widest: int | None,
    ) -> tuple[list[int], EvolutionSearch]:
        space = SearchSpace({f"bits{i}": self.widths for i in range(layers)})

        def as_bits(values: dict[str, Any]) -> list[int]:
            return [int(values[f"bits{i}"]) for i in range(layers)]

        def feasible(values: dict[str, Any]) -> bool:
            bits = as_bits(values)
            return self._cost(costs, bits) <= limit and (widest is None or max(bits) <= widest)

        settings = self.search_settings
        folder = context.output_dir / "search"
        folder.mkdir(parents=True, exist_ok=True)
        search = run_evolution(
            space,
            lambda values: evaluate(as_bits(values)),
            feasible,
            folder / "state.json",
            progress=settings.progress and context.progress_bars,
            seed=seed,
            **settings.evolution(),
        )
        if not search.best(1):
            raise ConfigError(f"the search found no widths within the budget ({limit}): raise method.budget_bits")
        top = [
            {"bits": as_bits(c.values), "holdout_acc": s, "cost": self._cost(costs, as_bits(c.values))}
            for c, s in search.best(settings.top)
        ]
        write_json_atomic(folder / "top.json", top)
        write_json_atomic(folder / "bits.json", {"budget": self.budget, "limit": limit, **top[0]})
        plot_search_curve(search.history, folder / "curve.png", ylabel="held-out top-1 (recalibrated BN)")
        return top[0]["bits"], search

    def _finetune(
        self,
        context: RunContext,
        stages: StageRunner,
        shared: dict[str, torch.Tensor],
        networks: dict[str, list[int]],
    ) -> dict[str, float]:
        """Each network from the shared weights, trained alike at its fixed widths (STE), then tested:
        ``<network>/test_acc`` the mean over ``finetune_seeds``, with its spread and each seed's."""
        finetune = self._finetune_one(context, stages, shared)
        metrics: dict[str, float] = {}
        for name, bits in networks.items():
            metrics |= finetune(f"finetune_{name}", bits).metrics(f"{name}/test_acc")
        return metrics

    def _finetune_one(
        self, context: RunContext, stages: StageRunner, shared: dict[str, torch.Tensor]
    ) -> Callable[[str, list[int]], SeedAccuracies]:
        """``finetune(stage, bits)``: the shared weights fine-tuned at ``bits``, once per seed of
        ``finetune_seeds`` (stage ``stage``, then ``stage_seed<N>``; every network from the same seeds), tested."""

        def finetune(name: str, bits: list[int]) -> SeedAccuracies:
            def train(stage: str, repeat: int) -> float:
                with seeded_repeat(context, repeat):
                    module = self._module(context.build_model(), context, int(context.cfg.seed), fixed_bits=bits)
                    module.load_state_dict(shared)
                    return stages.fit(stage, module, self.finetune_epochs)["test/acc"]

            return accuracy_over_seeds(context, name, self.finetune_seeds, train)

        return finetune


class _ExactCodebooks:
    """Codebooks solved once per (layer, width) from the trained weights, reused across candidates."""

    def __init__(self, model: torch.nn.Module) -> None:
        self.model = model
        self.cache: dict[tuple[int, int], torch.Tensor] = {}
        forget_codebooks(model)

    def use(self, bits: list[int]) -> None:
        set_bits(self.model, bits)
        layers = list(quantizable_layers(self.model).values())
        for index, (layer, choice, width) in enumerate(zip(layers, bit_choices(self.model), bits, strict=True)):
            key = (index, width)
            if key not in self.cache:
                self.cache[key] = choice.solve(layer.parametrizations.weight.original, width)
            choice.codebooks[width] = self.cache[key]
