"""How MetaPruning trains its pruned networks (the searched ones, the uniform baselines, fidelity draws and
selection candidates) alike: the paper's recipe (``LinearDecayModule``), as resumable stages, from generated
weights or from scratch, repeated with seeds that every network of a run shares, so comparisons pair seed
with seed."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from slimkit.accelerator.network_cost import AcceleratorCost
from slimkit.methods.classification import LinearDecayModule, OptimizerFactory
from slimkit.methods.repeated_training import SeedAccuracies, accuracy_over_seeds, seeded_repeat
from slimkit.methods.stages import StageRunner
from slimkit.models.channel_net import ChannelNet
from slimkit.models.channel_spec import NetSpec, network_flops
from slimkit.run_context import RunContext
from slimkit.search.weight_sharing import Batches, accuracy

log = logging.getLogger(__name__)


@dataclass
class PrunedTraining:
    context: RunContext
    stages: StageRunner
    optimizer: OptimizerFactory
    label_smoothing: float
    epochs: int
    repeats: int  # method.retrain_seeds
    accelerator: AcceleratorCost | None = None  # also report each network's cycles on this build

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
        scratch, as repeat ``repeat`` (``seeded_repeat``); the trained network (best checkpoint) and its test
        metrics."""
        with seeded_repeat(self.context, repeat):
            network = ChannelNet(spec, encoding)
            if initial is not None:
                network.load_state_dict(initial.state_dict())
            module = LinearDecayModule(network, spec.num_classes, self.optimizer, None, self.label_smoothing)
            log.info("%s: %.2f MFLOPs, %s", stage, network_flops(spec, encoding) / 1e6, describe_widths(network))
            fitted = self.stages.fit(stage, module, epochs or self.epochs)
        return network, fitted

    def repeated(
        self, name: str, spec: NetSpec, encoding: tuple[float, ...], initial: ChannelNet | None = None
    ) -> Trained:
        """The network of ``encoding`` trained once per seed (the run's seed first, as stage ``name``, then
        ``name_seed<N>``): each seed's test accuracy, and the metrics (``SeedAccuracies.metrics`` with the
        network's FLOPs, parameters and, on an accelerator, its cost there)."""
        networks = []

        def train(stage: str, repeat: int) -> float:
            network, fitted = self.once(stage, spec, encoding, initial, repeat)
            networks.append(network)
            return fitted["test/acc"]

        accuracies = accuracy_over_seeds(self.context, name, self.repeats, train)
        metrics = {
            **accuracies.metrics(),
            "model/flops": float(network_flops(spec, encoding)),
            "model/params": float(sum(p.numel() for p in networks[-1].parameters())),
        }
        if self.accelerator is not None:
            metrics |= self.accelerator.of_spec(spec, encoding).metrics()
        return Trained(accuracies, metrics)


@dataclass(frozen=True)
class Trained:
    """A network trained from every seed of the run (``PrunedTraining.repeated``)."""

    accuracies: SeedAccuracies
    metrics: dict[str, float]


def holdout_accuracy(network: ChannelNet, holdout: Batches) -> float:
    """Top-1 of a trained network on the held-out batches (on their device; the network back on the CPU)."""
    network.to(holdout[0][0].device).eval()
    score = accuracy(network, holdout)
    network.cpu()
    return score


def describe_widths(network: ChannelNet) -> str:
    return "widths " + " ".join(str(layer.conv.out_channels) for layer in network.layers)
