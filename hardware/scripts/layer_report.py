"""Per-layer cycles, MACs per cycle and utilisation of an exported model on one accelerator build, from the
cycle model and, with --simulate, measured in simulation (every layer's outputs checked bit for bit against
its expected.mem, and the measured cycles against the model).

    slimkit-export-hw outputs/<run>/model.dpz -o hw_export --samples 4
    python hardware/scripts/layer_report.py hw_export --build mac_8x8 [--simulate verilator]
        [--predicted outputs/<search run>/search/<budget>/best.json]   (the search's cycles: must be equal)
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

HARDWARE = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(HARDWARE / "tb"))
from configs import SIMULATORS  # noqa: E402
from simulate import simulate  # noqa: E402

from slimkit.accelerator.builds import BUILDS  # noqa: E402
from slimkit.accelerator.cycle_model import layer_timing, utilisation  # noqa: E402
from slimkit.accelerator.memory_images import read_export  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("export_dir", type=Path)
    parser.add_argument("--build", default="mac_8x8", choices=list(BUILDS))
    parser.add_argument("--simulate", choices=SIMULATORS)
    parser.add_argument(
        "--predicted",
        type=Path,
        help="a search's best.json (method.search.accelerator): its cycles per layer, which must equal these",
    )
    args = parser.parse_args(argv)
    try:
        layers = read_export(args.export_dir)
        predicted = read_predicted(args.predicted, args.build) if args.predicted else {}
    except (OSError, ValueError, KeyError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    config = BUILDS[args.build]
    config = replace(config, acc_bits=max(config.acc_bits, *(x.meta["accumulator_bits"] for x in layers.values())))
    for name, layer in layers.items():
        meta = layer.meta
        try:
            config.check_layer(meta["rows"], meta["columns"], len(layer.codebook), meta["vectors"])
        except ValueError as error:
            print(f"error: {name} does not fit build {args.build}: {error}", file=sys.stderr)
            return 2

    measured: dict[str, int] = {}
    if args.simulate:
        cases = [{"name": name, "layer_dir": str(args.export_dir / name)} for name in layers]
        with tempfile.TemporaryDirectory() as work:
            records = simulate(args.simulate, config, cases, Path(work))
        measured = {record["name"]: record["cycles"] for record in records}

    print(f"build {args.build} ({config.rows}x{config.cols}, {config.mode}, {config.multipliers} multipliers)\n")
    print(
        "| layer | kind | rows x columns | vectors | cycles (model) | cycles (simulated) | cycles (search) "
        "| MACs/cycle | utilisation | index bits vs 16-bit dense |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    totals: dict[str, list[int]] = {}
    disagreements = []
    for name, layer in layers.items():
        meta = layer.meta
        timing = layer_timing(config, meta["rows"], meta["columns"], meta["vectors"])
        simulated = measured.get(name)  # the testbench asserted it equals the model
        searched = predicted.get(name)
        observed = simulated if simulated is not None else timing.cycles
        if searched is not None and not searched == observed == timing.cycles:
            disagreements.append(name)
        weights = meta["rows"] * meta["columns"]
        bits = weights * config.index_bits + 2**config.index_bits * config.codebook_bits
        print(
            f"| {name} | {meta['kind']} | {meta['rows']} x {meta['columns']} | {meta['vectors']} | {timing.cycles} "
            f"| {simulated if simulated is not None else '-'} | {searched if searched is not None else '-'} "
            f"| {timing.macs_per_cycle:.2f} | {utilisation(config, timing):.1%} "
            f"| {bits} vs {16 * weights} ({16 * weights / bits:.1f}x) |"
        )
        kind_total = totals.setdefault(meta["kind"], [0, 0])
        kind_total[0] += timing.macs
        kind_total[1] += timing.cycles
    for kind, (macs, cycles) in totals.items():
        print(
            f"\nall {kind} layers: {macs} MACs in {cycles} cycles = {macs / cycles:.2f} MACs/cycle, "
            f"utilisation {macs / cycles / (config.rows * config.cols):.1%}"
        )
    if predicted:
        return _compare_with_search(predicted, layers, measured, disagreements)
    return 0


def read_predicted(path: Path, build: str) -> dict[str, int]:
    """The cycles per layer that a search predicted (its best.json's ``accelerator``) on ``build``."""
    accelerator = json.loads(path.read_text())["accelerator"]
    if accelerator["build"] != build:
        raise ValueError(f"{path} predicts cycles on {accelerator['build']}, this report is for --build {build}")
    return {layer["name"]: layer["cycles"] for layer in accelerator["layers"]}


def _compare_with_search(
    predicted: dict[str, int], layers: dict, measured: dict[str, int], disagreements: list[str]
) -> int:
    """One line: whether every layer's cycles (simulated when simulated) equal the search's prediction."""
    missing = sorted(set(predicted) ^ set(layers))
    if missing or disagreements:
        print(f"error: the search's prediction differs: layers {missing or disagreements}", file=sys.stderr)
        return 1
    total = sum(measured.values()) if measured else None
    what = f"simulated {total}" if total is not None else "the cycle model's"
    print(f"\nall {len(layers)} layers: {what} cycles == the search's predicted {sum(predicted.values())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
