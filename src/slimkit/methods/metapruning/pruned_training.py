"""How MetaPruning trains its pruned networks (the searched ones, the uniform baselines, fidelity draws and
selection candidates) alike: the paper's recipe (``LinearDecayModule``), as resumable stages, from generated
weights or from scratch, repeated with seeds that every network of a run shares, so comparisons pair seed
with seed."""

from __future__ import annotations

import logging
import statistics
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import lightning as L

from slimkit.accelerator.network_cost import AcceleratorCost
from slimkit.methods.classification import LinearDecayModule, OptimizerFactory
from slimkit.methods.stages import StageRunner
from slimkit.models.channel_net import ChannelNet
from slimkit.models.channel_spec import NetSpec, network_flops
from slimkit.run_context import RunContext
from slimkit.search.weight_sharing import Batches, accuracy

log = logging.getLogger(__name__)

# The sampler shuffles epoch e with (shuffle seed + e); repeats of a training this far apart in shuffle seed
# never see one another's epoch orders (seed and seed + 1 would: shifted by one epoch).
SHUFFLE_STRIDE = 1_000_003


@dataclass
class PrunedTraining:
    context: RunContext
    stages: StageRunner
    optimizer: OptimizerFactory
    label_smoothing: float
    epochs: int
    repeats: int  # method.retrain_seeds
    accelerator: AcceleratorCost | None = None  # also report each network's cycles on this build

    @property
    def seeds(self) -> list[int]:
        """The run's seed and the ``repeats - 1`` after it."""
        first = int(self.context.cfg.seed)
        return list(range(first, first + self.repeats))

    def once(
        self,
        stage: str,
        spec: NetSpec,
        encoding: tuple[float, ...],
        initial: ChannelNet | None,
        repeat: int,
        epochs: int | None = None,
    ) -> tuple[ChannelNet, dict[str, float]]:
        """One training of the network of ``encoding`` as stage ``stage``, from ``initial``'s weights or from
        scratch: repeat ``r`` with seed run seed + r (the initial weights) and the data's shuffle seed moved by
        r * ``SHUFFLE_STRIDE`` (the batch order); the trained network (best checkpoint) and its test metrics."""
        L.seed_everything(int(self.context.cfg.seed) + repeat, workers=True)
        network = ChannelNet(spec, encoding)
        if initial is not None:
            network.load_state_dict(initial.state_dict())
        module = LinearDecayModule(network, spec.num_classes, self.optimizer, None, self.label_smoothing)
        log.info("%s: %.2f MFLOPs, %s", stage, network_flops(spec, encoding) / 1e6, describe_widths(network))
        with shuffle_offset_by(self.context.datamodule, repeat * SHUFFLE_STRIDE):
            fitted = self.stages.fit(stage, module, epochs or self.epochs)
        return network, fitted

    def repeated(
        self, name: str, spec: NetSpec, encoding: tuple[float, ...], initial: ChannelNet | None = None
    ) -> dict[str, float]:
        """The network of ``encoding`` trained once per seed (the run's seed first, as stage ``name``, then
        ``name_seed<N>``): ``test/acc`` is the mean, ``test/acc_std`` the spread, and every seed's own figure is
        kept (``test/acc_seed<N>``)."""
        accuracies = {}
        for repeat, seed in enumerate(self.seeds):
            stage = name if repeat == 0 else f"{name}_seed{seed}"
            network, fitted = self.once(stage, spec, encoding, initial, repeat)
            accuracies[seed] = fitted["test/acc"]
        values = list(accuracies.values())
        metrics = {
            "test/acc": statistics.fmean(values),
            "test/acc_std": statistics.stdev(values) if len(values) > 1 else 0.0,
            **{f"test/acc_seed{seed}": value for seed, value in accuracies.items()},
            "model/flops": float(network_flops(spec, encoding)),
            "model/params": float(sum(p.numel() for p in network.parameters())),
        }
        if self.accelerator is not None:
            metrics |= self.accelerator.of_spec(spec, encoding).metrics()
        return metrics


def holdout_accuracy(network: ChannelNet, holdout: Batches) -> float:
    """Top-1 of a trained network on the held-out batches (on their device; the network back on the CPU)."""
    network.to(holdout[0][0].device).eval()
    score = accuracy(network, holdout)
    network.cpu()
    return score


@contextmanager
def shuffle_offset_by(datamodule: L.LightningDataModule, offset: int) -> Iterator[None]:
    """The datamodule's ``shuffle_seed`` (when it has one) moved by ``offset`` for a while, so repeated
    trainings of one network differ in batch order as well as in initial weights."""
    if not hasattr(datamodule, "shuffle_seed"):
        yield
        return
    kept = datamodule.shuffle_seed
    datamodule.shuffle_seed = kept + offset
    try:
        yield
    finally:
        datamodule.shuffle_seed = kept


def describe_accuracy(metrics: dict[str, float]) -> str:
    seeds = sum(name.startswith("test/acc_seed") for name in metrics)
    if seeds == 1:
        return f"{metrics['test/acc']:.4f}"
    return f"{metrics['test/acc']:.4f} +- {metrics['test/acc_std']:.4f} ({seeds} seeds)"


def describe_widths(network: ChannelNet) -> str:
    return "widths " + " ".join(str(layer.conv.out_channels) for layer in network.layers)
