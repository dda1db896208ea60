"""Would another score of the same supernet rank SPOS's architectures better? Measured against a finished
SPOS fidelity run (``method.fidelity_samples`` > 0): every architecture of its report is scored again with the
run's supernet in several ways, and each score's Kendall tau against the report's trained accuracies is
printed next to the run's own proxy and the tau a perfect proxy would reach (with two or more training seeds).

The scores: accuracy (what the search uses), cross-entropy and the mean probability of the true class, on the
held-out split and on the training images (never shifted here), each after BN recalibration on 4, 16 and all
training batches; and, for each of those counts, the held-out accuracy after three draws of the calibration
batches (another shuffle, other shifts) ranked against each other: how much of the proxy is the draw.

    python benchmarks/spos_proxy_variants.py <run folder> [--supernet <another run's stages/supernet.pt>]
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from collections.abc import Callable
from pathlib import Path as FilePath
from typing import Any

import torch
import torch.nn.functional as F
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from scipy import stats

from slimkit.errors import ConfigError
from slimkit.models.shufflenet_supernet import Path
from slimkit.run_context import build_model
from slimkit.search.fidelity import finished_run, retraining_noise
from slimkit.search.weight_sharing import Batches, batches_of, recalibrate_bn

CALIBRATION_DRAWS = 3
CALIBRATION_BATCHES = (4, 16, None)  # None: every training batch


@torch.no_grad()
def scores(forward: Callable[[torch.Tensor], torch.Tensor], batches: Batches) -> dict[str, float]:
    logits = torch.cat([forward(inputs) for inputs, _ in batches])
    labels = torch.cat([labels for _, labels in batches])
    return {
        "accuracy": (logits.argmax(dim=1) == labels).float().mean().item(),
        "-cross-entropy": -F.cross_entropy(logits, labels).item(),
        "p(true class)": logits.softmax(dim=1)[torch.arange(len(labels)), labels].mean().item(),
    }


def data_module(cfg: DictConfig, draw: int, unshifted: bool = False) -> Any:
    """The run's data, its training batches shuffled (and shifted) as draw ``draw`` of them."""
    torch.manual_seed(draw)
    overrides: dict[str, Any] = {"shuffle_seed": draw}
    if unshifted and "shift" in cfg.data:
        overrides["shift"] = 0
    data = instantiate(cfg.data, **overrides)
    data.setup("fit")
    return data


def load(run: FilePath, supernet_file: str | None) -> tuple[DictConfig, Any, dict[str, Any]]:
    """The run's config, its supernet with the trained weights, and its fidelity report."""
    try:
        config, report = finished_run(run)
    except ConfigError as error:
        sys.exit(f"error: {error}")
    cfg = OmegaConf.load(config)
    search_channels = cfg.method.get("space", "block") in ("channel", "joint")  # as SposRunner reads method.space
    supernet = build_model(cfg.model, data_module(cfg, 0), search_channels=search_channels)
    weights = supernet_file or cfg.method.get("supernet") or run / "stages" / "supernet.pt"
    state = torch.load(weights, map_location="cpu", weights_only=True)["module"]
    supernet.load_state_dict({name.removeprefix("model."): value for name, value in state.items()})
    return cfg, supernet, report


def kendall(scored: list[float], trained: list[float]) -> str:
    result = stats.kendalltau(scored, trained)
    return f"{result.statistic:6.3f} (p {result.pvalue:.2g})"


def score_paths(supernet: Any, paths: list[Path], calibration: Batches, splits: dict[str, Batches]) -> dict:
    """Every score of every path on every split, BN recalibrated per path on ``calibration``."""
    scored: dict[str, list[float]] = {}
    for path in paths:

        def forward(inputs: torch.Tensor, path: Path = path) -> torch.Tensor:
            return supernet(inputs, path)

        recalibrate_bn(supernet, calibration, forward)
        for split, batches in splits.items():
            for name, value in scores(forward, batches).items():
                scored.setdefault(f"{split}, {name}", []).append(value)
    return scored


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=FilePath, help="the output folder of a finished SPOS fidelity run")
    parser.add_argument("--supernet", help="score with this supernet instead (same space, e.g. trained longer)")
    args = parser.parse_args()
    cfg, supernet, report = load(args.run, args.supernet)
    rows = report["architectures"]
    paths = [Path.from_json(json.dumps(row["architecture"])) for row in rows]
    trained = [row["trained"] for row in rows]
    print(f"{len(rows)} architectures of {args.run}")
    print(f"  the run's own proxy: Kendall tau {kendall([row['proxy'] for row in rows], trained)}")
    if min(len(row["trained_seeds"]) for row in rows) > 1:
        ceiling = retraining_noise([row["trained_seeds"] for row in rows], report["seed"])["kendall_ceiling"]
        print(f"  a perfect proxy would reach Kendall tau {ceiling:.2f}")

    plain = data_module(cfg, 0, unshifted=True)
    held_out = {"held-out": batches_of(plain.val_dataloader(), None, "cpu")}
    splits = held_out | {"training images": batches_of(plain.train_dataloader(), None, "cpu")}
    for count in CALIBRATION_BATCHES:
        what = f"BN on {count or 'all'} training batches"
        draws = []
        for draw in range(CALIBRATION_DRAWS):
            calibration = batches_of(data_module(cfg, draw).train_dataloader(), count, "cpu")
            scored = score_paths(supernet, paths, calibration, splits if draw == 0 else held_out)
            if draw == 0:
                for name, values in scored.items():
                    print(f"  {name}, {what}: Kendall tau {kendall(values, trained)}")
            draws.append(scored["held-out, accuracy"])
        taus = ", ".join(kendall(accuracies, trained).strip() for accuracies in draws)
        agreement = ", ".join(f"{stats.kendalltau(a, b).statistic:.3f}" for a, b in itertools.combinations(draws, 2))
        print(f"  held-out accuracy, {what}, {CALIBRATION_DRAWS} draws of them: Kendall tau {taus}")
        print(f"    the draws ranked against each other: Kendall tau {agreement}")


if __name__ == "__main__":
    main()
