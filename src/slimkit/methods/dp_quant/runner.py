"""``method=dp_quant``: DP-Net compression end to end (docs/methods/dp_quant.md).

Stages, each resumable (slimkit.methods.stages):
1. ``pretrain``: the fp32 model (or ``pretrained=<checkpoint>``, only tested; a stage file of an
   earlier run brings its pruning masks, so e.g. several bit widths can start from one pruned network);
2. ``prune1..N``: magnitude pruning to ``sparsity`` in ``prune_steps`` steps (density falling
   geometrically), retraining after each (Deep Compression's first stage; *inferred* for DP-Net);
3. ``cluster``: clustering-friendly training, DPQ or DPR (``scheme``), the exact DP recomputed every
   ``recompute_every`` steps;
4. hard quantization of every conv/linear layer to ``bits`` (2^bits shared values) by the exact DP,
   then ``finetune_dp``: centroid fine-tuning; the same from the same weights with k-means
   (``baseline=kmeans``, Deep Compression's quantizer) for comparison;
5. the file: ``model.dpz`` (and ``kmeans.dpz``) written, decoded into a fresh network, and tested.
With ``adversarial=pgd`` every training stage is PGD adversarial training and natural and PGD accuracy
are measured before (fp32) and after compression.
"""

from __future__ import annotations

import copy
import functools
import logging
from pathlib import Path
from typing import Annotated, Any, Literal

import torch
from annotated_types import Ge, Interval, MinLen
from omegaconf import OmegaConf

from slimkit.errors import ConfigError
from slimkit.methods.classification import ClassificationModule, OptimizerFactory, SchedulerFactory
from slimkit.methods.dp_quant.adversarial import PgdConfig
from slimkit.methods.dp_quant.codebooks import QUANTIZERS, sse
from slimkit.methods.dp_quant.module import CompressionModule
from slimkit.methods.dp_quant.report import write_report
from slimkit.methods.stages import StageRunner
from slimkit.quant.package import (
    architecture_of,
    bits_per_layer,
    encode_compressed_model,
    load_compressed_model,
    plain_state_dict,
    round_dense_tensors,
)
from slimkit.quant.pruning import global_magnitude_masks
from slimkit.quant.quantized_weight import attach_compressed, compressed_weights, original_weight, set_mode
from slimkit.run_context import RunContext
from slimkit.settings import BitWidth, Count, Fraction, Positive, PositiveInt

log = logging.getLogger(__name__)
DENSE_DTYPES = {"float32": torch.float32, "float16": torch.float16}
# parametrization state never taken from a pretrained checkpoint: it depends on the bit widths
MADE_LATER = (".codebook", ".assignment")


class DpQuantRunner:
    """Settings and their defaults: conf/method/dp_quant.yaml."""

    def __init__(
        self,
        optimizer: OptimizerFactory,
        scheduler: SchedulerFactory | None,
        label_smoothing: Fraction,
        pretrained: str | None,
        pretrain_epochs: Count,
        sparsity: Annotated[float, Interval(ge=0, lt=1)],
        prune_steps: PositiveInt,
        prune_epochs: Count,
        min_density: Fraction,
        scheme: Literal["dpq", "dpr", "none"],
        bits: BitWidth | Annotated[list[BitWidth], MinLen(1)],
        cluster_epochs: Count,
        recompute_every: Count,
        clustering_weight: Annotated[float, Ge(0)],
        finetune_epochs: Count,
        finetune_lr: Positive,
        baseline: Literal["kmeans"] | None,
        dense_dtype: Literal["float32", "float16"],
        adversarial: Literal["pgd"] | None,
        pgd: PgdConfig,
    ) -> None:
        if pretrained is not None and not Path(pretrained).is_file():
            raise ConfigError(f"method.pretrained={pretrained} is not a file (a .ckpt of the fp32 model)")
        self.optimizer = optimizer
        self.scheduler = scheduler
        self.label_smoothing = label_smoothing
        self.pretrained = pretrained
        self.pretrain_epochs = pretrain_epochs
        self.sparsity = sparsity
        self.prune_steps = prune_steps
        self.prune_epochs = prune_epochs
        self.min_density = min_density
        self.scheme = scheme
        self.bits = bits if isinstance(bits, int) else [int(width) for width in bits]
        self.cluster_epochs = cluster_epochs
        self.recompute_every = recompute_every
        self.clustering_weight = clustering_weight
        self.finetune_epochs = finetune_epochs
        self.finetune_lr = finetune_lr
        self.dense_dtype = dense_dtype
        self.quantizers = ["dp"] + ([baseline] if baseline else [])
        self.pgd = pgd if adversarial == "pgd" else None

    def run(self, context: RunContext) -> dict[str, float]:
        stages = StageRunner(context)
        model = context.build_model()
        params = sum(parameter.numel() for parameter in model.parameters())
        accelerator = context.accelerator_metrics(model)  # the layers' shapes, before compression wraps them
        try:
            attach_compressed(model, self.bits, key="method.bits")
        except ValueError as error:
            raise ConfigError(str(error)) from error
        if self.pretrained:
            load_pretrained(model, self.pretrained)
        attack = self.pgd.attack_for(context.datamodule) if self.pgd else None
        metrics: dict[str, float] = {"model/params": float(params), "fp32/bytes": 4.0 * params, **accelerator}

        module = self._module(model, context, attack, self.pretrain_epochs)
        fp32 = stages.test(module) if self.pretrained else stages.fit("pretrain", module, self.pretrain_epochs)
        metrics |= self._accuracies("pretrained" if self.pretrained else "fp32", fp32, model, context)

        if self.sparsity > 0:
            for step in range(1, self.prune_steps + 1):
                target = 1.0 - (1.0 - self.sparsity) ** (step / self.prune_steps)
                self._prune(model, target)
                module = self._module(model, context, attack, self.prune_epochs)
                pruned = stages.fit(f"prune{step}", module, self.prune_epochs)
            metrics |= self._accuracies("pruned", pruned, model, context)
        metrics["pruned/sparsity"] = sparsity_of(model)

        if self.scheme != "none" and self.cluster_epochs > 0:
            set_mode(model, self.scheme)
            module = self._module(
                model,
                context,
                attack,
                self.cluster_epochs,
                recompute_every=self.recompute_every or 1,
                clustering_weight=self.clustering_weight if self.scheme == "dpr" else 0.0,
            )
            metrics |= self._accuracies("clustered", stages.fit("cluster", module, self.cluster_epochs), model, context)
            set_mode(model, "float")

        before_quantization = copy.deepcopy(model.state_dict())
        layers: dict[str, dict[str, Any]] = {}
        for quantizer in self.quantizers:
            model.load_state_dict(before_quantization)
            for name, details in self._quantize(model, quantizer).items():
                layers.setdefault(name, {}).update(details)
            metrics[f"{quantizer}/sse"] = sum(layer[f"{quantizer}_sse"] for layer in layers.values())
            metrics |= self._compress(model, quantizer, stages, context, attack, layers, metrics["fp32/bytes"])
        metrics["test/acc"] = metrics["dp/test_acc"]
        write_report(context.output_dir, metrics, layers)
        return metrics

    def _module(
        self, model: torch.nn.Module, context: RunContext, attack: Any, epochs: int, **options: Any
    ) -> CompressionModule:
        return CompressionModule(
            model,
            context.datamodule.num_classes,
            options.pop("optimizer", self.optimizer),
            self._scheduler(epochs),
            self.label_smoothing,
            attack=attack,
            **options,
        )

    def _scheduler(self, epochs: int) -> SchedulerFactory | None:
        """The scheduler with T_max set to the stage's epochs (each stage runs its own schedule)."""
        if isinstance(self.scheduler, functools.partial) and "T_max" in self.scheduler.keywords:
            return functools.partial(self.scheduler, T_max=max(epochs, 1))
        return self.scheduler

    def _prune(self, model: torch.nn.Module, sparsity: float) -> None:
        layers = compressed_weights(model)
        weights = {name: original_weight(layer) * compressed.mask for name, (layer, compressed) in layers.items()}
        masks = global_magnitude_masks(weights, sparsity, self.min_density)
        with torch.no_grad():
            for name, (layer, compressed) in layers.items():
                compressed.mask.logical_and_(masks[name])  # what is pruned stays pruned
                original_weight(layer).mul_(masks[name])
        log.info("pruned to %.4f sparsity (target %.4f)", sparsity_of(model), sparsity)

    def _quantize(self, model: torch.nn.Module, quantizer: str) -> dict[str, dict[str, float]]:
        """Hard weight sharing of every layer by ``quantizer``; each layer's bits and SSE."""
        details = {}
        for name, (layer, compressed) in compressed_weights(model).items():
            values = original_weight(layer).detach()[compressed.mask]
            codebook, assignment = QUANTIZERS[quantizer](values, compressed.clusters)
            codebook = codebook.float()  # the file stores float32 centroids: quantize to what is stored
            compressed.set_codebook(codebook, assignment)
            details[name] = {"bits": compressed.bits, f"{quantizer}_sse": sse(values, codebook, assignment)}
        set_mode(model, "shared")
        return details

    def _compress(
        self,
        model: torch.nn.Module,
        quantizer: str,
        stages: StageRunner,
        context: RunContext,
        attack: Any,
        layers: dict[str, dict[str, Any]],
        fp32_bytes: float,
    ) -> dict[str, float]:
        """Fine-tune the shared codebooks, write the file, decode it and test what was decoded."""
        finetune = functools.partial(self.optimizer, lr=self.finetune_lr, weight_decay=0.0)
        module = self._module(model, context, attack, self.finetune_epochs, optimizer=finetune)
        metrics = {f"{quantizer}/test_acc_before_finetune": stages.test(module)["test/acc"]}
        if self.finetune_epochs > 0:
            stages.fit(f"finetune_{quantizer}", module, self.finetune_epochs)
        path = context.output_dir / ("model.dpz" if quantizer == "dp" else f"{quantizer}.dpz")
        architecture = architecture_of(
            OmegaConf.to_container(context.cfg.model, resolve=True),
            context.datamodule.input_shape,
            context.datamodule.num_classes,
        )
        round_dense_tensors(model, DENSE_DTYPES[self.dense_dtype])
        blob = encode_compressed_model(model, architecture, dense_dtype=self.dense_dtype)
        path.write_bytes(blob)
        fixed_bytes = len(encode_compressed_model(model, architecture, False, self.dense_dtype))
        decoded = load_compressed_model(path)
        if not decodes_exactly(model, decoded):
            raise RuntimeError(f"{path} does not decode to the weights it was written from")
        for name, cost in bits_per_layer(path).items():
            layers.setdefault(name.removesuffix(".weight"), {}).update({f"{quantizer}_{k}": v for k, v in cost.items()})
        plain_module = ClassificationModule(decoded, context.datamodule.num_classes, self.optimizer)
        tested = stages.test(plain_module)
        metrics |= {
            f"{quantizer}/test_acc": tested["test/acc"],
            f"{quantizer}/file_bytes": float(len(blob)),
            f"{quantizer}/compression_ratio": fp32_bytes / len(blob),
            f"{quantizer}/compression_ratio_before_entropy_coding": fp32_bytes / fixed_bytes,
        }
        if self.pgd is not None:
            metrics[f"{quantizer}/test_pgd_acc"] = self.pgd.accuracy(decoded, context.datamodule)
        return metrics

    def _accuracies(
        self, prefix: str, tested: dict[str, float], model: torch.nn.Module, context: RunContext
    ) -> dict[str, float]:
        found = {f"{prefix}/test_acc": tested["test/acc"]}
        if self.pgd is not None:
            found[f"{prefix}/test_pgd_acc"] = self.pgd.accuracy(model, context.datamodule)
        return found


def sparsity_of(model: torch.nn.Module) -> float:
    masks = [compressed.mask for _, compressed in compressed_weights(model).values()]
    return 1.0 - float(sum(int(mask.sum()) for mask in masks)) / max(sum(mask.numel() for mask in masks), 1)


def decodes_exactly(model: torch.nn.Module, decoded: torch.nn.Module) -> bool:
    """Every tensor of the decoded network equals the weight-shared model's, bit for bit."""
    original = plain_state_dict(model)
    return all(
        torch.equal(original[name].cpu(), tensor.cpu())
        for name, tensor in decoded.state_dict().items()
        if tensor.is_floating_point()
    )


def load_pretrained(model: torch.nn.Module, checkpoint: str) -> None:
    """Start from a checkpoint of a classification run: a Lightning .ckpt (keys ``model.<name>``), or a
    dp_quant stage file (``stages/pretrain.pt``, ``stages/prune3.pt``, ...), whose pruning masks come
    along, so a run can start from an already pruned network. ``model`` is already parametrized;
    codebooks and assignments are not taken (they depend on the bit widths)."""
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    state = state.get("state_dict", state.get("module", state))
    parametrized = set(compressed_weights(model))
    weights = {}
    for key, value in state.items():
        name = key.removeprefix("model.")
        layer, _, attribute = name.rpartition(".")
        if attribute == "weight" and layer in parametrized:
            name = f"{layer}.parametrizations.weight.original"  # a plain checkpoint's weight
        if not name.endswith(MADE_LATER):
            weights[name] = value
    expected = model.state_dict()
    # a plain checkpoint brings no masks: it is unpruned
    missing = [name for name in expected if name not in weights and not name.endswith((*MADE_LATER, ".mask"))]
    try:
        if missing:
            raise RuntimeError(f"missing {', '.join(missing[:3])}")
        model.load_state_dict({key: value for key, value in weights.items() if key in expected}, strict=False)
    except RuntimeError as error:
        raise ConfigError(f"method.pretrained={checkpoint} does not fit this model: {error}") from error
