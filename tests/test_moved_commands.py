"""The method tools as console scripts, and their old ``python -m`` paths: still running for one release, with
one deprecation line on stderr that names the new command."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import entry_points

import pytest

from slimkit.accelerator.export import main as export_main
from slimkit.methods.meta_sr.upscale import main as upscale_main


def test_console_scripts_point_at_the_moved_commands():
    scripts = {entry.name: entry for entry in entry_points(group="console_scripts")}
    assert scripts["slimkit-export-hw"].load() is export_main
    assert scripts["slimkit-upscale"].load() is upscale_main


@pytest.mark.slow
@pytest.mark.parametrize(
    ("old", "arguments", "new", "error"),
    [
        (
            "slimkit.export_hardware",
            ["none.dpz", "-o", "out"],
            "slimkit-export-hw (python -m slimkit.accelerator.export)",
            "error: none.dpz is not a file",
        ),
        (
            "slimkit.upscale",
            ["none.png", "--scale", "0.5", "--ckpt", "x.ckpt", "-o", "o.png"],
            "slimkit-upscale (python -m slimkit.methods.meta_sr.upscale)",
            "error: --scale must be > 1, got 0.5",
        ),
    ],
)
def test_the_old_module_paths_still_run_with_one_deprecation_line(old, arguments, new, error, tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", old, *arguments], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"warning: python -m {old} is deprecated (gone next release); use {new}",
        error,
    ]
