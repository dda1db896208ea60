"""`make hw-gen`: the Verilog of every design the project checks (the named builds, the UP5K builds' FPGA
shells, the cocotb tests' and the lint's configurations), generated from hardware/spinal by sbt into
hardware/build/rtl/<configuration>/<top>/. Designs already generated from the same Scala sources are skipped.

    python hardware/scripts/generate.py [--list]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tb"))
from generated import GenerationError, design_dir, designs, generate  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--list", action="store_true", help="print the designs and where their Verilog goes")
    args = parser.parse_args(argv)
    listed = designs()
    if args.list:
        for config, top in listed:
            print(f"{top:15s} {design_dir(config, top)}")
        return 0
    started = time.monotonic()
    try:
        made = generate(listed)
    except GenerationError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    seconds = time.monotonic() - started
    print(f"hw-gen: {len(made)} of {len(listed)} designs generated in {seconds:.1f} s, the rest up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
