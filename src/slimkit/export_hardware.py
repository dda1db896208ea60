"""Deprecated alias of ``slimkit-export-hw`` (``python -m slimkit.accelerator.export``), kept for one release."""

from slimkit.accelerator.export import main
from slimkit.cli import run_moved_command

if __name__ == "__main__":
    run_moved_command("slimkit.export_hardware", "slimkit-export-hw (python -m slimkit.accelerator.export)", main)
