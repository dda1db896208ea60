"""The accelerator against the integer golden model and the cycle model, on Icarus and Verilator, over array
sizes and word widths; plus real layers exported by `slimkit-export-hw` from a dp_quant model
trained on digits. Each (simulator, configuration) compiles once and runs all its cases in one simulation."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from simulate import SIMULATORS, simulate, unavailable

from slimkit.accelerator import ArrayConfig
from slimkit.accelerator.memory_images import read_export

pytestmark = pytest.mark.slow  # Icarus / Verilator simulations

ROOT = Path(__file__).resolve().parents[2]

# (configuration, simulators): Verilator builds take ~20 s each, so it gets two of them
CONFIGS = {
    "4x4_index5": (ArrayConfig(rows=4, cols=4, index_bits=5, column_tiles=128, index_depth=4096), SIMULATORS),
    "2x8_index8_acc20": (
        ArrayConfig(rows=2, cols=8, index_bits=8, codebook_bits=6, act_bits=10, acc_bits=20),
        SIMULATORS,
    ),
    "8x1_index1": (ArrayConfig(rows=8, cols=1, index_bits=1, acc_bits=24), ("icarus",)),
    "1x2_index2_wide": (
        ArrayConfig(rows=1, cols=2, index_bits=2, codebook_bits=12, act_bits=12, acc_bits=40),
        ("icarus",),
    ),
    "centroid_4x4_index5": (
        ArrayConfig(rows=4, cols=4, index_bits=5, column_tiles=128, index_depth=4096, mode="centroid"),
        SIMULATORS,
    ),
    "centroid_4x2_index2_acc20": (
        ArrayConfig(rows=4, cols=2, index_bits=2, codebook_bits=6, act_bits=10, acc_bits=20, mode="centroid"),
        ("icarus",),
    ),
}


def random_cases(config: ArrayConfig) -> list[dict]:
    """Shapes on, below and past tile boundaries; the last case stalls both streams at random."""
    entries = 2**config.index_bits
    assert entries >= 2
    shapes = [
        (1, 1, 1),
        (config.rows, config.cols, 3),
        (config.rows + 1, config.cols * 3 - 1, 4),
        (3 * config.rows - 1, 5 * config.cols + 3, 2),
        (max(1, config.rows - 1), 2 * config.cols + 1, 7),
        # more column tiles than codebook entries: centroid mode's drains hide behind the accumulation
        (2 * config.rows, min(config.cols * (entries + 3), config.cols * config.column_tiles), 2),
    ]
    cases = [
        # odd seeds leave the last codebook entry unwritten
        {
            "name": f"random_{r}x{c}x{v}",
            "rows": r,
            "columns": c,
            "vectors": v,
            "entries": entries - seed % 2,
            "seed": seed,
        }
        for seed, (r, c, v) in enumerate(shapes)
    ]
    # one row tile per vector: loading a vector takes as long as computing it, so source stalls must show
    cases.append({**cases[4], "name": "random_stalls", "seed": 99, "stall_rate": 0.3})
    return cases


def parameters() -> list:
    return [
        pytest.param(simulator, name, id=f"{simulator}-{name}")
        for name, (_, simulators) in CONFIGS.items()
        for simulator in simulators
    ]


@pytest.mark.parametrize(("simulator", "config_name"), parameters())
def test_random_layers_match_golden_outputs_and_cycle_model(simulator, config_name, tmp_path):
    if reason := unavailable(simulator):
        pytest.skip(reason)
    config = CONFIGS[config_name][0]
    records = simulate(simulator, config, random_cases(config), tmp_path)
    assert len(records) == len(random_cases(config))
    # the testbench asserts outputs and cycles == model for the unstalled cases; stalls never save cycles,
    # and in MAC mode the stalled case is input-bound, so there they must cost some (centroid mode's
    # drains can hide them)
    for record in records:
        if record["stall_rate"] > 0:
            assert record["cycles"] >= record["predicted"], record
            if config.mode == "mac":
                assert record["cycles"] > record["predicted"], record


@pytest.fixture(scope="module")
def exported_lenet(tmp_path_factory) -> Path:
    """A LeNet-5 trained and DP-quantized on digits (short run), exported with the export command."""
    run_dir = tmp_path_factory.mktemp("lenet_dp")
    train = [
        sys.executable,
        "train.py",
        "method=dp_quant",
        "model=lenet",
        f"hydra.run.dir={run_dir}",
        "trainer.max_epochs=2",
        "trainer.limit_train_batches=6",
        "trainer.limit_val_batches=2",
        "callbacks.progress_bar=null",
        "method.sparsity=0.6",
        "method.prune_steps=1",
        "method.prune_epochs=1",
        "method.cluster_epochs=1",
        "method.finetune_epochs=1",
        "method.baseline=null",
    ]
    done = subprocess.run(train, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    export_dir = run_dir / "hw"
    export = [
        sys.executable,
        "-m",
        "slimkit.accelerator.export",
        str(run_dir / "model.dpz"),
        "-o",
        str(export_dir),
        "--samples",
        "1",
    ]
    done = subprocess.run(export, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return export_dir


@pytest.mark.parametrize(
    ("simulator", "config_name"),
    [("icarus", "4x4_index5"), ("verilator", "4x4_index5"), ("icarus", "centroid_4x4_index5")],
)
def test_exported_lenet_layers_run_bit_exact(simulator, config_name, exported_lenet, tmp_path):
    if reason := unavailable(simulator):
        pytest.skip(reason)
    config = CONFIGS[config_name][0]
    layers = read_export(exported_lenet)
    kinds = {layer.meta["kind"] for layer in layers.values()}
    assert kinds == {"conv", "fc"}
    cases = [{"name": name, "layer_dir": str(exported_lenet / name)} for name in layers]
    records = simulate(simulator, config, cases, tmp_path)
    for record, layer in zip(records, layers.values(), strict=True):
        assert (record["rows"], record["columns"], record["vectors"]) == (
            layer.meta["rows"],
            layer.meta["columns"],
            layer.meta["vectors"],
        )


def test_layer_report_lists_every_layer_and_refuses_a_build_too_small(exported_lenet):
    script = [sys.executable, str(ROOT / "hardware" / "scripts" / "layer_report.py"), str(exported_lenet)]
    done = subprocess.run([*script, "--build", "mac_8x8"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    for name in read_export(exported_lenet):
        assert f"| {name} |" in done.stdout
    assert "all conv layers" in done.stdout and "all fc layers" in done.stdout
    done = subprocess.run([*script, "--build", "up5k_mac_2x4"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.startswith("error: classifier.1 does not fit build up5k_mac_2x4")
