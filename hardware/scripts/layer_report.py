"""Per-layer cycles, MACs per cycle and utilisation of an exported model on one accelerator build, from the
cycle model and, with --simulate, measured in simulation (every layer's outputs checked bit for bit against
its expected.mem, and the measured cycles against the model).

    slimkit-export-hw outputs/<run>/model.dpz -o hw_export --samples 4
    python hardware/scripts/layer_report.py hw_export --build mac_8x8 [--simulate verilator]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

HARDWARE = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(HARDWARE / "tb"))
from simulate import SIMULATORS, simulate  # noqa: E402

from slimkit.accelerator.builds import BUILDS  # noqa: E402
from slimkit.accelerator.cycle_model import layer_timing, utilisation  # noqa: E402
from slimkit.accelerator.memory_images import read_export  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("export_dir", type=Path)
    parser.add_argument("--build", default="mac_8x8", choices=list(BUILDS))
    parser.add_argument("--simulate", choices=SIMULATORS)
    args = parser.parse_args(argv)
    try:
        layers = read_export(args.export_dir)
    except (OSError, ValueError) as error:
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
        "| layer | kind | rows x columns | vectors | cycles (model) | cycles (simulated) | MACs/cycle | utilisation "
        "| index bits vs 16-bit dense |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    totals: dict[str, list[int]] = {}
    for name, layer in layers.items():
        meta = layer.meta
        timing = layer_timing(config, meta["rows"], meta["columns"], meta["vectors"])
        simulated = measured.get(name)  # the testbench asserted it equals the model
        weights = meta["rows"] * meta["columns"]
        bits = weights * config.index_bits + 2**config.index_bits * config.codebook_bits
        print(
            f"| {name} | {meta['kind']} | {meta['rows']} x {meta['columns']} | {meta['vectors']} | {timing.cycles} "
            f"| {simulated if simulated is not None else '-'} | {timing.macs_per_cycle:.2f} "
            f"| {utilisation(config, timing):.1%} | {bits} vs {16 * weights} ({16 * weights / bits:.1f}x) |"
        )
        kind_total = totals.setdefault(meta["kind"], [0, 0])
        kind_total[0] += timing.macs
        kind_total[1] += timing.cycles
    for kind, (macs, cycles) in totals.items():
        print(
            f"\nall {kind} layers: {macs} MACs in {cycles} cycles = {macs / cycles:.2f} MACs/cycle, "
            f"utilisation {macs / cycles / (config.rows * config.cols):.1%}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
