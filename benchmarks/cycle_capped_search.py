"""MetaPruning on digits searched under the accelerator's cycle cap, against the same search under a FLOPs cap
chosen so that its network spends the same cycles: accuracy, FLOPs and cycles per run seed.

Both searches use one trained PruningNet (``--pruningnet``, a stages/pruningnet.pt of experiment=metapruning_digits),
require every layer to fit the build (``method.search.must_fit=true``) and train their network alike (from its
generated weights, ``experiment=metapruning_digits``'s retraining). Per seed:

1. cycle-capped: ``accelerator=<build> method.search.max_cycles=<cap> method.budgets=[1.0]``, searched and trained;
2. FLOPs-capped: searches alone under FLOPs caps moved by the ratio of cycle cap to cycles found (starting at the
   cycle-capped network's FLOPs) until the searched network spends between 97% and 100% of the cycle cap (at most
   ``--rounds`` searches; the widest within the cap is kept), then that run is completed (its search resumed,
   its network trained).

    python benchmarks/cycle_capped_search.py --pruningnet outputs/<run>/stages/pruningnet.pt --max-cycles 30000
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def train(run_dir: Path, overrides: list[str]) -> dict[str, float]:
    """One train.py job in ``run_dir`` (resumed when it exists); its final metrics."""
    command = [sys.executable, str(ROOT / "train.py"), *overrides, f"hydra.run.dir={run_dir}"]
    finished = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if finished.returncode != 0:
        raise SystemExit(f"error: {' '.join(command)} failed:\n{finished.stderr[-2000:]}")
    return json.loads((run_dir / "results.json").read_text())["metrics"]


def best_structure(run_dir: Path) -> dict:
    (best,) = (run_dir / "search").glob("*/best.json")
    return json.loads(best.read_text())


def compare_seed(args: argparse.Namespace, seed: int) -> list[dict]:
    common = [
        "experiment=metapruning_digits",
        f"method.pruningnet={args.pruningnet}",
        f"accelerator={args.build}",
        "method.search.must_fit=true",
        "method.retrain_seeds=1",
        "method.uniform_baseline=false",
        "callbacks.progress_bar=null",
        f"seed={seed}",
    ]
    folder = args.out / f"seed{seed}"
    cycles_run = folder / "cycle_capped"
    capped = train(cycles_run, [*common, "method.budgets=[1.0]", f"method.search.max_cycles={args.max_cycles}"])
    rows = [row("cycles", args.max_cycles, seed, capped, best_structure(cycles_run))]

    flops_cap, chosen = best_structure(cycles_run)["flops"], None
    for attempt in range(args.rounds):
        run = folder / f"flops_capped_{attempt}"
        train(run, [*common, "method.stage=search", f"method.budgets=[{flops_cap}]", "objective=search/holdout_acc"])
        cycles = best_structure(run)["accelerator"]["cycles"]
        print(f"seed {seed}: FLOPs cap {flops_cap} -> {cycles} cycles", flush=True)
        if cycles <= args.max_cycles and (chosen is None or cycles > chosen[2]):
            chosen = (run, flops_cap, cycles)
        if 0.97 * args.max_cycles <= cycles <= args.max_cycles:
            break
        flops_cap = int(flops_cap * args.max_cycles / cycles)
    if chosen is None:
        raise SystemExit(f"error: seed {seed}: no FLOPs cap tried gave a network within {args.max_cycles} cycles")
    run, flops_cap, _ = chosen
    metrics = train(run, [*common, "method.stage=all", f"method.budgets=[{flops_cap}]"])
    rows.append(row("FLOPs", flops_cap, seed, metrics, best_structure(run)))
    return rows


def row(cap_kind: str, cap: float, seed: int, metrics: dict[str, float], best: dict) -> dict:
    return {
        "seed": seed,
        "cap": f"{cap_kind} <= {cap:.0f}",
        "test_acc": metrics["test/acc"],
        "flops": best["flops"],
        "cycles": best["accelerator"]["cycles"],
        "holdout_acc": best["holdout_acc"],
        "fits": best["accelerator"]["fits"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pruningnet", type=Path, required=True)
    parser.add_argument("--max-cycles", type=int, required=True)
    parser.add_argument("--build", default="up5k_mac_2x4")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--rounds", type=int, default=4, help="FLOPs-capped searches per seed, at most")
    parser.add_argument("--out", type=Path, default=ROOT / "outputs" / "cycle_capped_search")
    args = parser.parse_args()
    args.pruningnet = args.pruningnet.resolve()
    rows = [result for seed in args.seeds for result in compare_seed(args, seed)]
    print("\n| seed | search | test top-1 | MFLOPs | cycles | held-out (search) |")
    print("|---|---|---|---|---|---|")
    for result in rows:
        print(
            f"| {result['seed']} | {result['cap']} | {result['test_acc']:.4f} | {result['flops'] / 1e6:.3f} "
            f"| {result['cycles']} | {result['holdout_acc']:.4f} |"
        )
    (args.out / "comparison.json").write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
