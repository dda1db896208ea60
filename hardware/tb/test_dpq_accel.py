"""The accelerator against the integer golden model and the cycle model, on Icarus and Verilator, over array
sizes and word widths; plus real layers exported by `slimkit-export-hw` from a dp_quant model
trained on digits. Each (simulator, configuration) compiles once and runs all its cases in one simulation."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from configs import TEST_CONFIGS as CONFIGS
from simulate import simulate, unavailable

from slimkit.accelerator import ArrayConfig
from slimkit.accelerator.memory_images import read_export
from slimkit.accelerator.network_cost import AcceleratorCost
from slimkit.models.channel_spec import resnet_spec

pytestmark = pytest.mark.slow  # Icarus / Verilator simulations

ROOT = Path(__file__).resolve().parents[2]


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


def train_dp_quant(run_dir: Path, *overrides: str) -> None:
    """A short dp_quant run in ``run_dir`` (``overrides`` give the model and the fp32 training's length)."""
    quick = ["trainer.limit_val_batches=2", "callbacks.progress_bar=null"]
    quick += ["method.cluster_epochs=1", "method.finetune_epochs=1"]
    train = [sys.executable, "train.py", "method=dp_quant", *quick, "method.baseline=null", *overrides]
    done = subprocess.run([*train, f"hydra.run.dir={run_dir}"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]


def export_one_sample(run_dir: Path, export_dir: Path, *options: str) -> Path:
    """``slimkit-export-hw`` of the run's model.dpz with the layer inputs of one test image."""
    export = [sys.executable, "-m", "slimkit.accelerator.export", str(run_dir / "model.dpz"), "-o", str(export_dir)]
    done = subprocess.run([*export, "--samples", "1", *options], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return export_dir


@pytest.fixture(scope="module")
def exported_lenet(tmp_path_factory) -> Path:
    """A LeNet-5 trained and DP-quantized on digits (short run), exported with the export command."""
    run_dir = tmp_path_factory.mktemp("lenet_dp")
    train_dp_quant(
        run_dir,
        "model=lenet",
        "trainer.max_epochs=2",
        "trainer.limit_train_batches=6",
        "method.sparsity=0.6",
        "method.prune_steps=1",
        "method.prune_epochs=1",
    )
    return export_one_sample(run_dir, run_dir / "hw")


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


def test_a_pruned_resnet_simulates_in_the_cycles_a_search_predicts(tmp_path):
    """The loop a cycle-capped search closes: a pruned ResNet (an encoding as a search writes it) DP-quantized
    with accelerator=up5k_mac_2x4, exported for one sample and simulated on the UP5K build: every layer's
    simulated cycles equal the prediction of ``slimkit.accelerator.network_cost`` (what the search checked),
    outputs bit-exact (the testbench asserts them), and the run's accel/cycles is their sum."""
    if reason := unavailable("verilator"):
        pytest.skip(reason)
    encoding = [0.5, 0.75, 0.5, 0.25, 1.0, 0.5, 0.75, 0.5, 1.0]  # ResNet-14 at base width 4: 3 stages, 6 mids
    run_dir = tmp_path / "run"
    architecture = ["model=prunable_resnet", "model.depth=14", "model.base_width=4", "data.image_size=8"]
    searched = [f"model.encoding={encoding}".replace(" ", ""), "accelerator=up5k_mac_2x4"]
    train_dp_quant(run_dir, *architecture, *searched, "trainer.max_epochs=1", "trainer.limit_train_batches=4")
    predicted = AcceleratorCost("up5k_mac_2x4").of_spec(resnet_spec(1, 10, 8, 14, 4), encoding)
    assert json.loads((run_dir / "results.json").read_text())["metrics"]["accel/cycles"] == predicted.cycles
    best = tmp_path / "best.json"
    best.write_text(json.dumps({"encoding": encoding, "accelerator": predicted.to_dict()}))
    export_one_sample(run_dir, tmp_path / "hw", "--accumulator-bits", "24")
    report = [sys.executable, str(ROOT / "hardware" / "scripts" / "layer_report.py"), str(tmp_path / "hw")]
    report += ["--build", "up5k_mac_2x4", "--predicted", str(best)]
    done = subprocess.run([*report, "--simulate", "verilator"], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    expected = f"all {len(predicted.layers)} layers: simulated {predicted.cycles} cycles == the search's predicted"
    assert expected in done.stdout
    off = predicted.to_dict()
    off["layers"][3]["cycles"] += 1
    best.write_text(json.dumps({"accelerator": off}))
    done = subprocess.run(report, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and "the search's prediction differs: layers ['layers.3.conv']" in done.stderr
