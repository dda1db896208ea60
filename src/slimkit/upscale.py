"""Deprecated alias of ``slimkit-upscale`` (``python -m slimkit.methods.meta_sr.upscale``), kept for one release."""

from slimkit.cli import run_moved_command
from slimkit.methods.meta_sr.upscale import main

if __name__ == "__main__":
    run_moved_command("slimkit.upscale", "slimkit-upscale (python -m slimkit.methods.meta_sr.upscale)", main)
