"""What separates the trained accuracies of SPOS fidelity runs, op by op, and does the supernet's proxy see it?

For finished SPOS fidelity runs of a block space (``method.fidelity_samples`` > 0, ``method.space=block``): fits
the trained accuracy (and, apart, the proxy) as a sum of one effect per (block, op), and prints

- how much of the trained accuracies that additive model explains: Kendall tau of its leave-one-out
  predictions against the trained accuracies (near the run's ``kendall_ceiling``: the truth is additive);
- each op's effect in each block against the 3x3 ShuffleNet unit in the same block, on the trained accuracy
  and on the proxy, side by side;
- for every op, Kendall tau between how often an architecture uses it and its trained accuracy, and the same
  for the proxy: a one-number "proxy" that already ranks, and whether the supernet ranks by the same thing.

Runs of the same space, data and retraining are also pooled (their proxies come from their own supernets).

    python benchmarks/spos_op_effects.py <run folder> [<run folder> ...]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path as FilePath
from typing import Any

import numpy as np
from omegaconf import OmegaConf
from scipy import stats

from slimkit.errors import ConfigError
from slimkit.models.shufflenet_supernet import BLOCK_CHOICES
from slimkit.search.fidelity import finished_run, retraining_noise

POOLED_WHEN_EQUAL = ("model", "data", "method.retrain_epochs", "method.retrain_seeds")


def read_run(run: FilePath) -> tuple[Any, list[dict[str, Any]]]:
    """The run's config and its fidelity rows; one line and exit 1 for anything else."""
    try:
        config, report = finished_run(run)
    except ConfigError as error:
        sys.exit(f"error: {error}")
    rows = report["architectures"]
    if any(set(row["architecture"].get("scales", [1.0])) != {1.0} for row in rows):
        sys.exit(f"error: {run} searched channels too; this analysis is for block spaces (method.space=block)")
    return OmegaConf.load(config), rows


def op_design(blocks: list[list[int]]) -> np.ndarray:
    """An intercept and one indicator per (block, op other than op 0): op 0 of each block is the reference."""
    num_blocks, ops = len(blocks[0]), range(1, len(BLOCK_CHOICES))
    columns = [[float(path[block] == op) for path in blocks] for block in range(num_blocks) for op in ops]
    return np.column_stack([np.ones(len(blocks)), *columns])


def fit(design: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Least squares; an op no architecture uses in a block gets effect 0 (the minimum-norm solution)."""
    return np.linalg.lstsq(design, target, rcond=None)[0]


def leave_one_out(design: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Each architecture's value as predicted by the additive model fitted to all the others."""
    keep = ~np.eye(len(target), dtype=bool)
    return np.array([design[row] @ fit(design[keep[row]], target[keep[row]]) for row in range(len(target))])


def kendall(first: Any, second: Any) -> str:
    result = stats.kendalltau(first, second)
    return f"{result.statistic:6.3f} (p {result.pvalue:.2g})"


def report(title: str, rows: list[dict[str, Any]], seed: int) -> None:
    blocks = [row["architecture"]["blocks"] for row in rows]
    trained = np.array([row["trained"] for row in rows])
    proxy = np.array([row["proxy"] for row in rows])
    design = op_design(blocks)
    num_blocks, num_ops = len(blocks[0]), len(BLOCK_CHOICES)
    seeds = min(len(row["trained_seeds"]) for row in rows)
    print(f"{title}: {len(rows)} architectures of {num_blocks} blocks, trained accuracy the mean of {seeds} seeds")
    ceiling = ""
    if seeds > 1:
        noise = retraining_noise([row["trained_seeds"] for row in rows], seed)
        ceiling = f"; a perfect proxy would reach {noise['kendall_ceiling']:.2f}"
    print(f"  the proxy vs trained: Kendall tau {kendall(proxy, trained)}{ceiling}")
    for name, values in (("trained", trained), ("the proxy", proxy)):
        predicted = leave_one_out(design, values)
        print(f"  additive op model of {name}, left-one-out vs {name}: Kendall tau {kendall(predicted, values)}")
    effects_trained, effects_proxy = fit(design, trained)[1:], fit(design, proxy)[1:]
    print(f"  each op's effect against {BLOCK_CHOICES[0]} in the same block, trained | proxy (architectures using it):")
    for block in range(num_blocks):
        cells = []
        for op in range(1, num_ops):
            column = block * (num_ops - 1) + op - 1
            used = sum(path[block] == op for path in blocks)
            cells.append(f"{BLOCK_CHOICES[op]} {effects_trained[column]:+.4f} | {effects_proxy[column]:+.4f} ({used})")
        print(f"    block {block}: " + ", ".join(cells))
    print("  how often an architecture uses each op, Kendall tau against trained | against the proxy:")
    for op, name in enumerate(BLOCK_CHOICES):
        uses = [sum(choice == op for choice in path) for path in blocks]
        print(f"    {name:>10}: {kendall(uses, trained)} | {kendall(uses, proxy)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", type=FilePath, nargs="+", help="output folders of finished SPOS fidelity runs")
    args = parser.parse_args()
    runs = [(run, *read_run(run)) for run in args.runs]
    for run, cfg, rows in runs:
        report(str(run), rows, cfg.seed)
    if len(runs) > 1:
        differing = [
            key for key in POOLED_WHEN_EQUAL if len({str(OmegaConf.select(cfg, key)) for _, cfg, _ in runs}) > 1
        ]
        if differing:
            print(f"not pooled: the runs differ in {', '.join(differing)}")
        else:
            report(f"pooled ({len(runs)} runs)", [row for _, _, rows in runs for row in rows], runs[0][1].seed)


if __name__ == "__main__":
    main()
