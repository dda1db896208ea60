"""Resource and timing report of the accelerator builds in slimkit.accelerator.builds.

For every build: Yosys `synth_ice40 -dsp -flowmap` (the centroid array mapped for area) and `synth_xilinx`
cell counts of the generated dpq_accel (LUTs, flip-flops, DSPs, block RAMs). For the builds that fit an iCE40
UP5K: nextpnr-ice40 place and route of the build inside its generated dpq_fpga_shell (the accelerator's ports
would need hundreds of pins), its multipliers placed by row (up5k_floorplan.py), at a 75 MHz target over ten
placer seeds (nextpnr's results spread widely over seeds: 72.3-82.0 MHz for up5k_mac_2x4 on 2026-12-05),
reporting the best post-route Fmax, the median and the worst, and the device utilisation.

    python hardware/scripts/synth.py [--builds up5k_mac_2x4 ...] [--out hardware/build/synth]

prints a Markdown table and writes results.json under --out.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

HARDWARE = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(HARDWARE / "tb"))
from generated import sources  # noqa: E402

from slimkit.accelerator import ArrayConfig  # noqa: E402
from slimkit.accelerator.builds import BUILDS, FITS_UP5K  # noqa: E402

SEEDS = tuple(range(1, 11))
TARGET_MHZ = 75
# Logic is mapped to LUTs depth-optimally (flowmap): ABC shared e.g. "a vector's last tile is issued" between
# the controller's state and a loop counter's clock enable and put a second LUT level in front of the enable.
# The centroid array is the exception, mapped by ABC for area: its logic is the decode of every column's index
# into the bins, which flowmap duplicates per bin (hardware/README.md, "Resources and Fmax").
AREA_MAPPED = "a:src=*/dpq_centroid_array.v:*"
ICE40_MAP_LUTS = (  # synth_ice40 -flowmap's map_luts step (Yosys 0.23) with flowmap kept off AREA_MAPPED
    "techmap -map +/ice40/latches_map.v",
    "simplemap",
    f"flowmap -maxlut 4 {AREA_MAPPED} %n",
    "abc -dress -lut 4",  # maps what flowmap left
    "ice40_wrapcarry -unwrap",
    "techmap -map +/ice40/ff_map.v",
    "clean",
    "opt_lut -dlogic SB_CARRY:I0=1:I1=2:CI=3 -dlogic SB_CARRY:CO=3",
)
FLOORPLAN = Path(__file__).resolve().parent / "up5k_floorplan.py"

ICE40 = {"LUT": ("SB_LUT4",), "FF": ("SB_DFF",), "DSP": ("SB_MAC16",), "BRAM": ("SB_RAM40_4K",)}
# Xilinx block RAM in 18 Kb units (a RAMB36 is two); LUT RAM counted apart from logic LUTs
XILINX = {
    "LUT": ("LUT",),
    "LUTRAM": ("RAM32", "RAM64", "RAM128", "RAM256"),
    "FF": ("FD",),
    "DSP": ("DSP48",),
    "BRAM": ("RAMB18", "RAMB36"),
}


def yosys(script: str, log: Path) -> None:
    done = subprocess.run(["yosys", "-q", "-l", str(log), "-p", script], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"yosys failed (log {log}):\n{done.stderr[-2000:]}")


def ice40_synth(config: ArrayConfig, top: str, json: Path | None = None) -> str:
    """Yosys `synth_ice40 -dsp -flowmap -top <top>` with the LUT mapping of ICE40_MAP_LUTS."""
    synth = f"synth_ice40 -dsp -top {top}"
    # a renamed centroid array would silently be depth-mapped again: fail instead
    check = [f"select -assert-min 1 {AREA_MAPPED}"] if config.mode == "centroid" else []
    last = f"{synth} -run map_cells:" + (f" -json {json}" if json is not None else "")
    return "; ".join((f"{synth} -run :map_luts", *check, *ICE40_MAP_LUTS, last))


def read_sources(config: ArrayConfig, top: str) -> str:
    return "read_verilog -defer " + " ".join(str(path) for path in sources(config, top))


def cell_counts(stat_json: Path, groups: dict[str, tuple[str, ...]]) -> dict[str, int]:
    cells = json.loads(stat_json.read_text())["design"]["num_cells_by_type"]
    counts = {name: 0 for name in groups}
    for cell, number in cells.items():
        for name, prefixes in groups.items():
            if cell.startswith(prefixes):
                counts[name] += number * (2 if cell.startswith("RAMB36") else 1)
                break
    return counts


def synthesize(config: ArrayConfig, family: str, work: Path) -> dict[str, int]:
    work.mkdir(parents=True, exist_ok=True)
    stat = work / f"{family}_stat.json"
    xilinx = "synth_xilinx -flatten -family xc7 -top dpq_accel"
    command = ice40_synth(config, "dpq_accel") if family == "ice40" else xilinx
    yosys(
        f"{read_sources(config, 'dpq_accel')}; {command}; tee -q -o {stat} stat -json",
        work / f"{family}.log",
    )
    return cell_counts(stat, ICE40 if family == "ice40" else XILINX)


def place_and_route(config: ArrayConfig, work: Path) -> dict:
    netlist = work / "shell.json"
    yosys(
        f"{read_sources(config, 'dpq_fpga_shell')}; {ice40_synth(config, 'dpq_fpga_shell', netlist)}",
        work / "shell.log",
    )
    runs = []
    for seed in SEEDS:
        report = work / f"nextpnr_seed{seed}.json"
        command = [
            "nextpnr-ice40",
            "--up5k",
            "--package",
            "sg48",
            "--json",
            str(netlist),
            "--pcf-allow-unconstrained",
            "--freq",
            str(TARGET_MHZ),
            "--timing-allow-fail",
            "--seed",
            str(seed),
            "--report",
            str(report),
            "--pre-place",
            str(FLOORPLAN),
        ]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            overfull = re.search(r"ICESTORM_LC:\s*(\d+)/\s*(\d+)", done.stderr)
            if overfull and int(overfull[1]) > int(overfull[2]):  # the one failure worth a table entry
                return {"target_mhz": TARGET_MHZ, "fits": False, "logic_cells": [int(overfull[1]), int(overfull[2])]}
            raise RuntimeError(f"nextpnr-ice40 failed (seed {seed}):\n{done.stderr[-2000:]}")
        data = json.loads(report.read_text())
        fmax = min(clock["achieved"] for clock in data["fmax"].values())
        used = {name: value["used"] for name, value in data["utilization"].items()}
        runs.append({"seed": seed, "fmax_mhz": round(fmax, 1), "utilization": used})
    fmax = sorted(r["fmax_mhz"] for r in runs)
    return {
        "target_mhz": TARGET_MHZ,
        "fits": True,
        "runs": runs,
        "best_fmax_mhz": fmax[-1],
        "median_fmax_mhz": round(statistics.median(fmax), 1),
        "worst_fmax_mhz": fmax[0],
    }


def index_memory_bits(config: ArrayConfig) -> tuple[int, int]:
    """(bits of the index memory, bits of the same weights as 16-bit words)."""
    weights = config.index_depth * config.rows * config.cols
    return weights * config.index_bits, weights * 16


def table(results: dict[str, dict]) -> str:
    lines = [
        "| build | multipliers | iCE40 LUT / FF / DSP / BRAM | Xilinx LUT / LUTRAM / FF / DSP / BRAM18 "
        f"| UP5K Fmax: best of {len(SEEDS)} seeds (median, worst) | index memory vs 16-bit dense |",
        "|---|---|---|---|---|---|",
    ]
    for name, result in results.items():
        ice, xil = result["ice40"], result["xilinx"]
        pnr = result.get("up5k")
        if pnr is None:
            fmax = "not placed (not a UP5K build)"
        elif not pnr["fits"]:
            fmax = "does not fit: {} of {} logic cells".format(*pnr["logic_cells"])
        else:
            fmax = f"{pnr['best_fmax_mhz']} MHz ({pnr['median_fmax_mhz']}, {pnr['worst_fmax_mhz']})"
        bits, dense = result["index_memory_bits"], result["dense_16bit_bits"]
        lines.append(
            f"| {name} | {result['multipliers']} | {ice['LUT']} / {ice['FF']} / {ice['DSP']} / {ice['BRAM']} "
            f"| {xil['LUT']} / {xil['LUTRAM']} / {xil['FF']} / {xil['DSP']} / {xil['BRAM']} | {fmax} "
            f"| {bits} vs {dense} bits ({dense / bits:.1f}x) |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--builds", nargs="+", default=list(BUILDS), choices=list(BUILDS))
    parser.add_argument("--out", type=Path, default=HARDWARE / "build" / "synth")
    parser.add_argument("--no-pnr", action="store_true", help="skip nextpnr (resource counts only)")
    parser.add_argument("--table", action="store_true", help="only print the table of an earlier --out results.json")
    args = parser.parse_args(argv)
    if args.table:
        print(table(json.loads((args.out / "results.json").read_text())))
        return 0
    missing = [tool for tool in ("yosys", "nextpnr-ice40") if shutil.which(tool) is None]
    if missing:
        print(f"error: {', '.join(missing)} not found: run `make hw-tools` (Debian packages)", file=sys.stderr)
        return 1
    results = {}
    for name in args.builds:
        config = BUILDS[name]
        work = args.out / name
        bits, dense = index_memory_bits(config)
        result = {
            "config": asdict(config),
            "multipliers": config.multipliers,
            "index_memory_bits": bits,
            "dense_16bit_bits": dense,
        }
        print(f"{name}: yosys ice40 ...", file=sys.stderr, flush=True)
        result["ice40"] = synthesize(config, "ice40", work)
        print(f"{name}: yosys xilinx ...", file=sys.stderr, flush=True)
        result["xilinx"] = synthesize(config, "xilinx", work)
        if name in FITS_UP5K and not args.no_pnr:
            print(f"{name}: nextpnr-ice40 up5k ...", file=sys.stderr, flush=True)
            result["up5k"] = place_and_route(config, work)
        results[name] = result
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=1))
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
