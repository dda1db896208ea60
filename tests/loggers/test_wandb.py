"""logger=wandb without an account: offline runs with the metrics and the resolved config, one
run per multirun job, grouped by sweep, and a resumed job continuing its own run."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import QUICK, run_train
from wandb_records import summarize_run

pytestmark = pytest.mark.slow  # every test runs train.py

NO_ACCOUNT = {"WANDB_API_KEY": None, "WANDB_MODE": None, "WANDB_SILENT": "true"}


def offline_runs(job_dir: Path) -> list[Path]:
    return sorted(job_dir.glob("wandb/offline-run-*/run-*.wandb"))


def test_multirun_gives_one_offline_run_per_job(tmp_path):
    env = {**NO_ACCOUNT, "HOME": str(tmp_path / "home")}  # no ~/.netrc: no account
    result = run_train(["-m", "logger=wandb", "seed=1,2", *QUICK, f"hydra.sweep.dir={tmp_path / 'sweep'}"], env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    runs = []
    for job in ("0", "1"):
        job_dir = tmp_path / "sweep" / job
        files = offline_runs(job_dir)
        assert len(files) == 1, f"job {job} should have exactly one offline run"
        run = summarize_run(files[0])
        assert run["id"] == (job_dir / "wandb_run_id").read_text().strip()
        assert run["group"] == "sweep"
        assert run["config"]["paths"]["output_dir"] == str(job_dir)  # resolved, not ${hydra:...}
        assert run["config"]["model"]["_target_"] == "slimkit.models.LeNet5"
        assert {"train/loss_step", "val/acc", "test/acc"} <= set(run["history"])
        runs.append(run)
    assert runs[0]["id"] != runs[1]["id"]
    assert [run["config"]["seed"] for run in runs] == [1, 2]


def test_a_rerun_in_the_same_dir_continues_the_same_run(tmp_path):
    env = {**NO_ACCOUNT, "HOME": str(tmp_path / "home")}
    run_dir = tmp_path / "run"
    for max_epochs in (1, 2):
        args = ["logger=wandb", *QUICK, f"trainer.max_epochs={max_epochs}", f"hydra.run.dir={run_dir}"]
        result = run_train(args, env=env)
        assert result.returncode == 0, result.stderr[-2000:]
    ids = {summarize_run(path)["id"] for path in offline_runs(run_dir)}
    assert ids == {(run_dir / "wandb_run_id").read_text().strip()}
