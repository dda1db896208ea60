"""hydra/sweeper=optuna on real jobs: resume after kill -9, multi-objective with a pre-launch
constraint, failed jobs, the grid sampler."""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
from pathlib import Path

import optuna
import pytest
from conftest import run_train, start_train
from omegaconf import OmegaConf
from optuna.trial import TrialState

pytestmark = pytest.mark.slow  # every test runs a sweep of train.py jobs

# one tiny epoch per job: the sweeper, not the training, is under test
NSGA2_SIX_TRIALS = ["-m", "hydra/sweeper=optuna", "hydra/sweeper/sampler=nsgaii", "hydra.sweeper.n_trials=6"]
NSGA2_SIX_TRIALS += ["hydra.sweeper.n_jobs=3"]
TINY_JOB = [
    "trainer.max_epochs=1",
    "trainer.limit_train_batches=2",
    "trainer.limit_val_batches=1",
    "trainer.limit_test_batches=1",
    "callbacks.progress_bar=null",
]


def load_study(sweep_dir: Path, name: str) -> optuna.Study:
    return optuna.load_study(study_name=name, storage=f"sqlite:///{sweep_dir / 'optuna.db'}")


def job_dirs(sweep_dir: Path) -> list[Path]:
    return sorted((path for path in sweep_dir.iterdir() if path.name.isdigit()), key=lambda path: int(path.name))


def count_state(study: optuna.Study, state: TrialState) -> int:
    return len(study.get_trials(deepcopy=False, states=(state,)))


def completed_so_far(sweep_dir: Path, name: str) -> int:
    """COMPLETE trials of a running sweep's study, read without Optuna: opening the storage with Optuna creates
    its tables when they are not there yet, racing the sweep that is creating them (``table ... already
    exists``). 0 while the tables or the study's record are not written yet."""
    query = (
        "SELECT COUNT(*) FROM trials JOIN studies ON trials.study_id = studies.study_id "
        "WHERE studies.study_name = ? AND trials.state = 'COMPLETE'"
    )
    with contextlib.closing(sqlite3.connect(f"file:{sweep_dir / 'optuna.db'}?mode=ro", uri=True)) as database:
        try:
            return database.execute(query, (name,)).fetchone()[0]
        except sqlite3.OperationalError:  # no such table (yet), or locked by the sweep's writer
            return 0


def test_killed_sweep_resumes_to_exactly_n_trials(tmp_path):
    sweep_dir = tmp_path / "sweep"
    command = [
        "-m",
        "hydra/sweeper=optuna",
        "hydra.sweeper.study_name=resume_me",
        "hydra.sweeper.n_trials=8",
        "hydra/sweeper/sampler=random",
        "method.runner.optimizer.lr=tag(log,interval(1e-3,0.3))",
        "data.batch_size=choice(16,32,64)",
        f"hydra.sweep.dir={sweep_dir}",
        *TINY_JOB,
    ]
    process = start_train(command, tmp_path / "first.log")
    deadline = time.time() + 240
    while (
        not (sweep_dir / "optuna.db").is_file()
        or completed_so_far(sweep_dir, "resume_me") < 3
        or not (sweep_dir / "3").is_dir()  # the 4th job has started: its trial is RUNNING when killed
    ):
        assert process.poll() is None, (tmp_path / "first.log").read_text()[-3000:]
        assert time.time() < deadline
        time.sleep(0.05)
    process.kill()
    process.wait()
    first_results = {
        path.name: (path / "results.json").read_text()
        for path in job_dirs(sweep_dir)
        if (path / "results.json").is_file()
    }
    assert 3 <= len(first_results) < 8

    result = run_train(command)
    assert result.returncode == 0, result.stderr[-3000:]
    study = load_study(sweep_dir, "resume_me")
    assert count_state(study, TrialState.COMPLETE) == 8
    for name, text in first_results.items():  # the first run's job dirs are untouched
        assert (sweep_dir / name / "results.json").read_text() == text
    complete = study.get_trials(states=(TrialState.COMPLETE,))
    crashed_trials = study.get_trials(states=(TrialState.FAIL,))  # left RUNNING by the kill, then asked again
    assert crashed_trials
    for crashed in crashed_trials:
        assert "job_failed" not in crashed.user_attrs
        assert any(trial.params == crashed.params and trial.number > crashed.number for trial in complete)
    job_numbers = [trial.user_attrs["job_num"] for trial in complete]
    assert len(set(job_numbers)) == 8
    assert all((sweep_dir / str(number) / "results.json").is_file() for number in job_numbers)
    report = OmegaConf.load(sweep_dir / "optimization_results.yaml")
    assert report.trials.complete == 8 and report.best_value == study.best_value
    assert (sweep_dir / "optimization_history.png").stat().st_size > 10_000


def test_multi_objective_pareto_front_and_constraint_before_launch(tmp_path):
    sweep_dir = tmp_path / "sweep"
    result = run_train(
        [
            *NSGA2_SIX_TRIALS,
            "objective=[test/acc,model/params]",
            "direction=[maximize,minimize]",
            "model=lenet,resnet,wrn",
            "data.batch_size=choice(16,32)",
            "+hydra.sweeper.constraint._target_=slimkit.model_cost.ModelBudget",
            "+hydra.sweeper.constraint.max_params=300000",
            f"hydra.sweep.dir={sweep_dir}",
            *TINY_JOB,
        ]
    )
    assert result.returncode == 0, result.stderr[-3000:]
    launched = [json.loads((job / "results.json").read_text()) for job in job_dirs(sweep_dir)]
    assert len(launched) == 6  # exactly n_trials jobs ran ...
    assert {job["model"] for job in launched} <= {"LeNet5", "CifarResNet"}  # ... none of them the 2.7M-param WRN
    study = load_study(sweep_dir, OmegaConf.load(sweep_dir / "optimization_results.yaml").study_name)
    pruned = study.get_trials(states=(TrialState.PRUNED,))
    assert pruned and all(t.user_attrs["infeasible"] and t.params["model"] == "wrn" for t in pruned)
    assert all(t.user_attrs["params"] > 300_000 for t in pruned)
    report = OmegaConf.load(sweep_dir / "optimization_results.yaml")
    front = report.pareto_front
    assert front and all(len(point["values"]) == 2 for point in front)
    for point in front:  # no point of the front is dominated by another completed trial
        accuracy, params = point["values"]
        assert not any(
            t.values[0] >= accuracy and t.values[1] <= params and tuple(t.values) != (accuracy, params)
            for t in study.get_trials(states=(TrialState.COMPLETE,))
        )
    assert (sweep_dir / "pareto_front.png").is_file()


def test_nsga2_trades_accuracy_for_accelerator_cycles_and_never_launches_over_the_cycle_cap(tmp_path):
    """objective=[test/acc,accel/cycles] on the UP5K build: every launched network within max_cycles and fitting
    the build (ResNets of base width 8 have 288-column layers, the build 256), the front non-dominated."""
    sweep_dir = tmp_path / "sweep"
    cap = 30_000
    result = run_train(
        [
            *NSGA2_SIX_TRIALS,
            "objective=[test/acc,accel/cycles]",
            "direction=[maximize,minimize]",
            "accelerator=up5k_mac_2x4",
            "model=prunable_resnet",
            "model.depth=choice(8,14,20)",
            "model.base_width=choice(4,6,8)",
            "data.image_size=8",
            "+hydra.sweeper.constraint._target_=slimkit.model_cost.ModelBudget",
            "+hydra.sweeper.constraint.accelerator=up5k_mac_2x4",
            f"+hydra.sweeper.constraint.max_cycles={cap}",
            "+hydra.sweeper.constraint.must_fit=true",
            f"hydra.sweep.dir={sweep_dir}",
            *TINY_JOB,
        ]
    )
    assert result.returncode == 0, result.stderr[-3000:]
    launched = [json.loads((job / "results.json").read_text())["metrics"] for job in job_dirs(sweep_dir)]
    assert len(launched) == 6
    assert all(job["accel/cycles"] <= cap and job["accel/fits"] == 1.0 for job in launched)
    study = load_study(sweep_dir, OmegaConf.load(sweep_dir / "optimization_results.yaml").study_name)
    pruned = study.get_trials(states=(TrialState.PRUNED,))
    assert all(t.user_attrs["cycles"] > cap or not t.user_attrs["fits"] for t in pruned)
    completed = study.get_trials(states=(TrialState.COMPLETE,))
    assert sorted(t.values[1] for t in completed) == sorted(job["accel/cycles"] for job in launched)
    for point in OmegaConf.load(sweep_dir / "optimization_results.yaml").pareto_front:
        accuracy, cycles = point["values"]
        assert not any(t.values[0] >= accuracy and t.values[1] < cycles for t in completed)
    assert (sweep_dir / "pareto_front.png").is_file()


def test_failed_jobs_are_told_fail_and_the_sweep_goes_on(tmp_path):
    sweep_dir = tmp_path / "sweep"
    result = run_train(
        [
            "-m",
            "hydra/sweeper=optuna",
            "hydra/sweeper/sampler=grid",
            "hydra.sweeper.n_trials=10",
            "hydra.sweeper.max_failure_rate=0.6",
            "model.depth=choice(20,21)",  # 21 is not 6n+2: those jobs fail
            "model=resnet",
            "seed=choice(1,2)",
            f"hydra.sweep.dir={sweep_dir}",
            *TINY_JOB,
        ]
    )
    assert result.returncode == 0, result.stderr[-3000:]
    study = load_study(sweep_dir, OmegaConf.load(sweep_dir / "optimization_results.yaml").study_name)
    assert count_state(study, TrialState.COMPLETE) == 2  # the grid has 4 points: n_trials is capped
    failed = study.get_trials(states=(TrialState.FAIL,))
    assert len(failed) == 2 and all(t.params["model.depth"] == 21 for t in failed)
    assert sorted((t.params["model.depth"], t.params["seed"]) for t in study.trials) == [
        (20, 1),
        (20, 2),
        (21, 1),
        (21, 2),
    ]


def test_too_many_failures_stop_the_sweep(tmp_path):
    result = run_train(
        [
            "-m",
            "hydra/sweeper=optuna",
            "hydra.sweeper.n_trials=4",
            "hydra.sweeper.max_failure_rate=0.0",
            "model=resnet",
            "model.depth=choice(21,27)",
            f"hydra.sweep.dir={tmp_path}",
            *TINY_JOB,
        ]
    )
    assert result.returncode != 0
    (error,) = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert "1 job(s) failed, more than max_failure_rate=0.0 of 4 planned allows (0)" in error
