"""Whole jobs: what a run writes, seeded reproducibility, multirun job dirs."""

from __future__ import annotations

import pytest
import torch
from conftest import QUICK, compose_config, read_results, run_train

from slimkit.pipeline import run


def test_a_run_writes_its_record_and_returns_the_objective(tmp_path):
    value = run(compose_config(QUICK, tmp_path))
    results = read_results(tmp_path)
    assert value == results["value"] == results["metrics"]["test/acc"]
    assert results["objective"] == "test/acc" and 0 <= value <= 1
    for produced in (".hydra/config.yaml", "checkpoints/last.ckpt", "checkpoints/best.ckpt", "metrics.csv"):
        assert (tmp_path / produced).is_file(), produced
    header = (tmp_path / "metrics.csv").read_text().splitlines()[0].split(",")
    assert {"train/loss_step", "val/acc", "test/acc", "epoch"} <= set(header)
    checkpoint = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)
    assert checkpoint["epoch"] == 1 and checkpoint["global_step"] == 8


def test_seeded_runs_are_reproducible_on_cpu(tmp_path):
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        run(compose_config([*QUICK, f"seed={seed}"], tmp_path / name))
    assert read_results(tmp_path / "a")["metrics"] == read_results(tmp_path / "b")["metrics"]
    assert read_results(tmp_path / "c")["metrics"]["test/loss"] != read_results(tmp_path / "a")["metrics"]["test/loss"]


def test_a_finished_run_rerun_in_its_dir_does_not_train_again(tmp_path):
    run(compose_config(QUICK, tmp_path))
    before = read_results(tmp_path)
    run(compose_config(QUICK, tmp_path))
    after = read_results(tmp_path)
    assert after["resumed_from"].endswith("last.ckpt") and after["metrics"] == before["metrics"]


@pytest.mark.slow
def test_multirun_writes_one_job_dir_per_model(tmp_path):
    result = run_train(["-m", "model=lenet,wrn", *QUICK, f"hydra.sweep.dir={tmp_path}"])
    assert result.returncode == 0, result.stderr[-2000:]
    jobs = sorted(path for path in tmp_path.iterdir() if path.is_dir())
    assert [job.name for job in jobs] == ["0", "1"]
    assert [read_results(job)["model"] for job in jobs] == ["LeNet5", "WideResNet"]
    overrides = [(job / ".hydra" / "overrides.yaml").read_text() for job in jobs]
    assert "model=lenet" in overrides[0] and "model=wrn" in overrides[1]


def test_tensorboard_logger_writes_event_files(tmp_path):
    run(compose_config([*QUICK, "logger=tensorboard"], tmp_path))
    assert list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))
