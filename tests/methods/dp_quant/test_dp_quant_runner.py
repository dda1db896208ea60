"""method=dp_quant end to end: every stage runs, the file decodes to the same network and accuracy,
DP beats k-means on SSE in every layer, finished stages are reused and a changed config is refused."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import numpy as np
import pytest
import torch
from conftest import QUICK, compose_config, read_results, run_train
from lightning import Trainer

from slimkit.accelerator.export import sample_images
from slimkit.accelerator.memory_images import golden_outputs, read_export
from slimkit.data import DigitsDataModule
from slimkit.errors import ConfigError
from slimkit.methods.classification import ClassificationModule
from slimkit.pipeline import check_config
from slimkit.quant.dpz import read_dpz
from slimkit.quant.package import load_compressed_model

PIPELINE = [
    "method=dp_quant",
    "model=lenet",
    *QUICK,
    "trainer.limit_test_batches=3",
    "method.sparsity=0.8",
    "method.prune_steps=2",
    "method.prune_epochs=1",
    "method.cluster_epochs=1",
    "method.recompute_every=2",
    "method.finetune_epochs=1",
    "method.bits=[4,4,3,3,5]",
    "method.dense_dtype=float16",
]


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("dp_quant")
    done = run_train([*PIPELINE, f"hydra.run.dir={run_dir}"])
    assert done.returncode == 0, done.stderr[-3000:]
    return run_dir


@pytest.mark.slow
def test_every_stage_runs_and_the_file_is_what_is_reported(finished_run):
    metrics = read_results(finished_run)["metrics"]
    assert {f"{prefix}/test_acc" for prefix in ("fp32", "pruned", "clustered", "dp", "kmeans")} <= set(metrics)
    assert metrics["pruned/sparsity"] == pytest.approx(0.8, abs=0.01)
    file_bytes = (finished_run / "model.dpz").stat().st_size
    assert metrics["dp/file_bytes"] == file_bytes
    assert metrics["dp/compression_ratio"] == pytest.approx(4 * metrics["model/params"] / file_bytes)
    # Huffman coding can only shrink the file relative to fixed-width indices and gaps
    assert metrics["dp/compression_ratio"] > metrics["dp/compression_ratio_before_entropy_coding"] > 1
    assert sorted(path.name for path in (finished_run / "stages").iterdir()) == [
        "cluster.pt",
        "finetune_dp.pt",
        "finetune_kmeans.pt",
        "pretrain.pt",
        "prune1.pt",
        "prune2.pt",
    ]


@pytest.mark.slow
def test_the_file_rebuilds_the_network_with_the_same_accuracy(finished_run):
    quantized, _, architecture = read_dpz(finished_run / "model.dpz")
    assert architecture["model"]["_target_"] == "slimkit.models.LeNet5"
    # per-layer bit widths as configured: at most 2^bits distinct shared values per layer
    for tensor, bits in zip(quantized.values(), [4, 4, 3, 3, 5], strict=True):
        assert len(tensor.codebook) == 2**bits and tensor.indices.max() < 2**bits
        assert tensor.positions is not None  # pruned layers store their positions
    model = load_compressed_model(finished_run / "model.dpz")
    datamodule = DigitsDataModule(shuffle_seed=42)
    trainer = Trainer(accelerator="cpu", logger=False, enable_progress_bar=False, limit_test_batches=3)
    tested = trainer.test(ClassificationModule(model, 10, torch.optim.SGD), datamodule=datamodule, verbose=False)
    assert tested[0]["test/acc"] == pytest.approx(read_results(finished_run)["metrics"]["dp/test_acc"], abs=1e-6)


@pytest.mark.slow
def test_dp_has_lower_sse_than_kmeans_in_every_layer(finished_run):
    report = json.loads((finished_run / "compression_report.json").read_text())
    assert len(report["layers"]) == 5
    for name, layer in report["layers"].items():
        assert layer["dp_sse"] <= layer["kmeans_sse"] * (1 + 1e-9), name
    assert "| dp |" in (finished_run / "compression_report.md").read_text()


@pytest.mark.slow
def test_a_rerun_reuses_finished_stages_and_a_changed_config_is_refused(finished_run):
    before = read_results(finished_run)["metrics"]
    again = run_train([*PIPELINE, f"hydra.run.dir={finished_run}"])
    assert again.returncode == 0, again.stderr[-3000:]
    assert "finished earlier" in again.stdout + again.stderr
    assert read_results(finished_run)["metrics"] == before
    changed = run_train([*PIPELINE, "method.sparsity=0.5", f"hydra.run.dir={finished_run}"])
    assert changed.returncode == 2
    assert "made with other method/model/data settings" in changed.stderr.strip().splitlines()[-1]


@pytest.mark.slow
def test_a_run_can_start_from_a_pruned_stage_of_another_run(finished_run, tmp_path):
    start = finished_run / "stages" / "prune2.pt"
    overrides = ["method.sparsity=0", "method.cluster_epochs=0", "method.finetune_epochs=0", "method.bits=2"]
    done = run_train([*PIPELINE, *overrides, f"method.pretrained={start}", f"hydra.run.dir={tmp_path}"])
    assert done.returncode == 0, done.stderr[-3000:]
    metrics = read_results(tmp_path)["metrics"]
    assert metrics["pruned/sparsity"] == pytest.approx(0.8, abs=0.01)  # the masks came with the weights
    assert metrics["pretrained/test_acc"] == pytest.approx(read_results(finished_run)["metrics"]["pruned/test_acc"])
    assert not (tmp_path / "stages" / "pretrain.pt").exists()


@pytest.mark.slow
def test_bits_that_do_not_match_the_model_give_one_line_and_exit_2(tmp_path):
    done = run_train(["method=dp_quant", "model=lenet", *QUICK, "method.bits=[4,4]", f"hydra.run.dir={tmp_path}"])
    assert done.returncode == 2
    assert "method.bits lists 2 widths but the model has 5 conv/linear layers" in done.stderr.strip().splitlines()[-1]


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("method.scheme=magic", "DpQuantRunner expects one of 'dpq', 'dpr', 'none'"),
        ("method.sparsity=1.5", "method.sparsity=1.5 is out of range: must be in [0, 1)"),
        ("method.pretrained=/nope.ckpt", "method.pretrained=/nope.ckpt is not a file"),
        ("method.sparsity=lots", "method.sparsity='lots' has the wrong type"),
    ],
)
def test_bad_settings_are_refused_before_anything_runs(tmp_path, override, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        check_config(compose_config(["method=dp_quant", "model=lenet", override], tmp_path))
    assert not any(tmp_path.iterdir())


@pytest.mark.slow
def test_robust_compression_reports_natural_and_pgd_accuracy(tmp_path):
    done = run_train(
        [
            *PIPELINE,
            "method.adversarial=pgd",
            "method.pgd.steps=2",
            "method.pgd.eval_steps=3",
            "method.baseline=null",
            "trainer.limit_test_batches=null",  # PGD accuracy is measured on the whole test split
            f"hydra.run.dir={tmp_path}",
        ]
    )
    assert done.returncode == 0, done.stderr[-3000:]
    metrics = read_results(tmp_path)["metrics"]
    for prefix in ("fp32", "pruned", "clustered", "dp"):
        # an attack can only lower accuracy on the same images
        assert metrics[f"{prefix}/test_pgd_acc"] <= metrics[f"{prefix}/test_acc"] + 1e-6
    assert "kmeans/test_acc" not in metrics


@pytest.mark.slow
def test_hardware_export_of_the_trained_model_matches_its_layers(finished_run, tmp_path):
    out = tmp_path / "hw"
    done = subprocess.run(
        [sys.executable, "-m", "slimkit.accelerator.export", str(finished_run / "model.dpz"), "-o", str(out)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    exported = read_export(out)
    assert list(exported) == ["features.0", "features.3", "classifier.1", "classifier.3", "classifier.5"]
    model = load_compressed_model(finished_run / "model.dpz").eval()
    modules = dict(model.named_modules())
    outputs = {}
    hooks = [
        modules[name].register_forward_hook(lambda m, i, o, name=name: outputs.update({name: o.clone()}))
        for name in exported
    ]
    with torch.no_grad():
        model(sample_images(finished_run / "model.dpz", 1))
    for hook in hooks:
        hook.remove()
    for name, layer in exported.items():
        assert np.array_equal(layer.expected, golden_outputs(layer.codebook, layer.indices, layer.activations))
        bias = modules[name].bias
        expected = outputs[name] - (0 if bias is None else bias.view(-1, *[1] * (outputs[name].dim() - 2)))
        real = torch.from_numpy(layer.real_outputs()).float().reshape(expected.shape)
        # 8-bit activations and codebook: within a few percent of the float layer (without its bias)
        assert torch.linalg.norm(real - expected) <= 0.05 * torch.linalg.norm(expected) + 1e-6, name


@pytest.mark.slow
def test_hardware_export_names_unknown_layers(finished_run, tmp_path):
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "slimkit.accelerator.export",
            str(finished_run / "model.dpz"),
            "-o",
            str(tmp_path),
            "--layer",
            "nope",
        ],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    layers = "features.0, features.3, classifier.1, classifier.3, classifier.5"
    assert done.stderr.strip() == f"error: --layer nope: not a quantized layer; choose from {layers}"
