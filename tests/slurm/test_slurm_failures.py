"""Sweeps on the local Slurm cluster when jobs end without a result, the parent dies, or the node fails.

A cancelled (or OOM-killed, or lost) job is a failed job of the sweep within a poll or two, never an endless
wait; Optuna asks its parameters again; a rerun after kill -9 of the parent collects the jobs still running
instead of submitting duplicates that would write into the same job dirs; a node set DOWN requeues the job,
which resumes from last.ckpt."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from pathlib import Path

import optuna
import pytest

from slurm.sweeps import Sweep

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

# batch 8: 158 steps per epoch on digits, 15 epochs in 9.6 s on a 2-core CPU. A cancelled job gets SIGTERM,
# which submitit's jobs ignore (it waits for USR2 to requeue), then SIGKILL after KillWait (10 s here): a job
# cancelled mid-run must need far longer than that to finish, or it writes its result after all. LONG jobs are
# always cancelled, so their length costs nothing.
JOB = [
    "data.batch_size=8",
    "callbacks.progress_bar=null",
    "hydra/launcher=slurm",
    "hydra.launcher.cpus_per_task=1",
    "hydra.launcher.timeout_min=10",
]
LONG_EPOCHS = 200
LONG = f"trainer.max_epochs={LONG_EPOCHS}"
CANCEL_DEADLINE_S = 60.0  # the sweep ends this soon after a cancel (default poll 10 s + 15 s settle)
FIT_STOPPED = "`Trainer.fit` stopped"


def job_started(sweep_dir: Path, job: int) -> bool:
    """The job wrote its config (after the checks, before training): it is running."""
    return (sweep_dir / str(job) / ".hydra" / "config.yaml").is_file()


def slurm_id(sweep_dir: Path, job: int) -> str:
    """The Slurm id the launcher recorded for a sweep job."""
    record = json.loads((sweep_dir / ".submitit" / "jobs.json").read_text())
    return next(entry["slurm_id"] for entry in record if entry["job_num"] == job)


def error_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("error: ")]


def cancel_and_time(sweep: Sweep, job: int) -> float:
    """scancel one sweep job once it is running; seconds from the cancel to the end of the sweep."""
    sweep.wait_for(lambda: job_started(sweep.sweep_dir, job), f"job {job} running")
    sweep.wait_for(lambda: (sweep.sweep_dir / ".submitit" / "jobs.json").is_file(), "the launcher's job record")
    sweep.slurm("scancel", slurm_id(sweep.sweep_dir, job))
    cancelled = time.monotonic()
    sweep.finish()
    return time.monotonic() - cancelled


def test_a_cancelled_task_fails_the_sweep_soon_and_the_other_task_finishes(launch, tmp_path):
    sweep_dir = tmp_path / "sweep"
    sweep = launch(sweep_dir, [*JOB, f"trainer.max_epochs=1,{LONG_EPOCHS}"])
    seconds = cancel_and_time(sweep, job=1)

    assert seconds < CANCEL_DEADLINE_S, sweep.report()
    assert sweep.process.returncode != 0
    assert (sweep_dir / "0" / "results.json").is_file()
    assert not (sweep_dir / "1" / "results.json").exists()
    errors = error_lines(sweep.output())
    assert len(errors) == 1, sweep.report()
    assert re.fullmatch(
        r"error: sweep job 1 \(Slurm job \d+_1\) ended CANCELLED without a result; its log: .+", errors[0]
    )
    state = sweep.slurm("sacct", "-X", "-n", "-P", "-o", "State", "-j", slurm_id(sweep_dir, 1)).split()
    assert state and state[0] == "CANCELLED"
    assert sweep.output().count("sacct") == 0  # accounting answers: no warning about it


def test_optuna_tells_a_trial_cancelled_in_the_queue_fail_and_still_completes_n_trials(launch, busy_node, tmp_path):
    """Cancelled while PENDING, so it can never finish first. Slurm 22.05 then forgets the array task (neither
    sacct nor squeue lists it again): the launcher fails it as LOST after its grace."""
    sweep_dir = tmp_path / "sweep"
    sweep = launch(
        sweep_dir,
        [
            *JOB,
            "trainer.max_epochs=2",
            "hydra/sweeper=optuna",
            "hydra.sweeper.study_name=cancel_me",
            "hydra.sweeper.n_trials=4",
            "hydra.sweeper.n_jobs=2",
            "hydra/sweeper/sampler=random",
            "method.runner.optimizer.lr=interval(0.01,0.1)",
            "hydra.launcher.lost_grace_s=5",
            "hydra.launcher.poll_interval_s=2",
        ],
    )
    sweep.wait_for(lambda: (sweep_dir / ".submitit" / "jobs.json").is_file(), "the launcher's job record")
    job_0 = slurm_id(sweep_dir, 0)
    assert sweep.slurm("squeue", "-h", "-j", job_0, "-o", "%T").split() == ["PENDING"]
    sweep.slurm("scancel", job_0)
    busy_node()
    sweep.wait()

    study = optuna.load_study(study_name="cancel_me", storage=f"sqlite:///{sweep_dir / 'optuna.db'}")
    states = [trial.state for trial in study.trials]
    assert states.count(optuna.trial.TrialState.COMPLETE) == 4, sweep.report()
    (failed,) = [trial for trial in study.trials if trial.state == optuna.trial.TrialState.FAIL]
    assert failed.user_attrs["slurm_state"] == "LOST"
    assert failed.user_attrs["job_num"] == 0
    assert any(trial.params == failed.params for trial in study.trials if trial.number > failed.number)
    assert f"sweep job 0 (Slurm job {job_0}) left the queue without a result" in sweep.output()
    assert "trial 0: its job ended LOST without a result; asking it again" in sweep.output()
    assert not (sweep_dir / "0" / "results.json").exists()


def test_rerun_after_kill_9_of_the_parent_collects_the_running_jobs_instead_of_duplicating_them(launch, tmp_path):
    overrides = [*JOB, "trainer.max_epochs=12", "seed=1,2"]
    reference = launch(tmp_path / "uninterrupted", overrides)
    sweep_dir = tmp_path / "sweep"
    first = launch(sweep_dir, overrides)
    first.wait_for(lambda: job_started(sweep_dir, 0) and job_started(sweep_dir, 1), "both jobs running")
    first.wait_for(lambda: (sweep_dir / ".submitit" / "jobs.json").is_file(), "the launcher's job record")
    first.kill_parent()
    orphans = {slurm_id(sweep_dir, job) for job in (0, 1)}
    assert orphans & set(first.job_ids()), "the orphaned jobs ended before the rerun: nothing to test"

    rerun = launch(sweep_dir, overrides, name=first.name)
    rerun.wait()
    reference.wait()

    assert {slurm_id(sweep_dir, job) for job in (0, 1)} == orphans  # nothing was submitted again
    assert rerun.output().count("of an earlier run is") + rerun.output().count("adopting the result") == 2
    for job in (0, 1):
        log = (sweep_dir / str(job) / "train.log").read_text()
        assert log.count(FIT_STOPPED) == 1, log  # one writer, one attempt
        results = json.loads((sweep_dir / str(job) / "results.json").read_text())
        expected = json.loads((tmp_path / "uninterrupted" / str(job) / "results.json").read_text())
        assert results["value"] == expected["value"] and results["metrics"] == expected["metrics"]


def test_rerun_with_earlier_jobs_cancel_cancels_them_and_submits_anew(launch, tmp_path):
    overrides = [*JOB, LONG, "seed=1"]
    sweep_dir = tmp_path / "sweep"
    first = launch(sweep_dir, overrides)
    first.wait_for(lambda: job_started(sweep_dir, 0), "the job running")
    first.wait_for(lambda: (sweep_dir / ".submitit" / "jobs.json").is_file(), "the launcher's job record")
    first.kill_parent()
    orphan = slurm_id(sweep_dir, 0)

    rerun = launch(sweep_dir, [*overrides, "hydra.launcher.earlier_jobs=cancel"], name=first.name)
    rerun.wait_for(lambda: slurm_id(sweep_dir, 0) != orphan, "a new job submitted", timeout=180)
    assert f"job 0: cancelling Slurm job {orphan} of an earlier run" in rerun.output()
    state = rerun.slurm("sacct", "-X", "-n", "-P", "-o", "State", "-j", orphan).split()
    assert state and state[0] == "CANCELLED"  # the new job (cancelled by the fixture) would resume from last.ckpt


def test_a_second_job_in_a_dir_a_running_job_holds_stops_with_one_line_naming_it(launch, tmp_path):
    """Another command into the same sweep dir (so not a job of the earlier run): the run-dir lock refuses it."""
    sweep_dir = tmp_path / "sweep"
    first = launch(sweep_dir, [*JOB, LONG, "seed=1"])
    first.wait_for(lambda: (sweep_dir / "0" / "run.lock").is_file(), "the first job's run.lock")
    first.wait_for(lambda: (sweep_dir / ".submitit" / "jobs.json").is_file(), "the launcher's job record")
    holder = slurm_id(sweep_dir, 0)

    second = launch(sweep_dir, [*JOB, "trainer.max_epochs=1", "seed=1"])
    assert second.finish() != 0
    (error,) = error_lines(second.output())
    assert "is in use by pid " in error and f"(Slurm job {holder})" in error, error
    assert holder in first.job_ids()  # the first job runs on, alone


def test_a_node_set_down_mid_job_requeues_it_and_it_resumes(launch, tmp_path, slurm_env):
    sweep_dir = tmp_path / "sweep"
    sweep = launch(sweep_dir, [*JOB, "trainer.max_epochs=6"])
    last = sweep_dir / "0" / "checkpoints" / "last.ckpt"
    sweep.wait_for(last.is_file, "last.ckpt")
    node = sweep.slurm("sinfo", "-h", "-o", "%n").split()[0]
    try:
        sweep.slurm("scontrol", "update", f"nodename={node}", "state=down", "reason=slimkit-test")
        sweep.wait_for(
            lambda: sweep.slurm("squeue", "-h", "--name", sweep.name, "-o", "%T").strip() != "RUNNING",
            "the job off the node",
            timeout=60,
        )
    finally:
        subprocess.run(["scontrol", "update", f"nodename={node}", "state=resume"], env=slurm_env, timeout=30)
    sweep.wait()
    results = json.loads((sweep_dir / "0" / "results.json").read_text())
    assert results["resumed_from"] and results["resumed_from"].endswith("last.ckpt")


def test_without_accounting_a_cancelled_job_is_failed_after_the_grace_and_sacct_is_mentioned_once(launch, tmp_path):
    """A cluster without accounting, as far as the launcher can tell: ``sacct`` on its PATH fails as Slurm's
    does when accounting is disabled (the cluster itself is unchanged)."""
    shim = tmp_path / "bin"
    shim.mkdir()
    (shim / "sacct").write_text("#!/bin/sh\necho 'sacct: error: Slurm accounting storage is disabled' >&2\nexit 1\n")
    (shim / "sacct").chmod(0o755)
    sweep_dir = tmp_path / "sweep"
    sweep = launch(
        sweep_dir,
        [
            *JOB,
            f"trainer.max_epochs=1,{LONG_EPOCHS}",
            "hydra.launcher.lost_grace_s=5",
            "hydra.launcher.poll_interval_s=2",
        ],
        env={"PATH": f"{shim}:{os.environ['PATH']}"},
    )
    seconds = cancel_and_time(sweep, job=1)
    assert seconds < CANCEL_DEADLINE_S, sweep.report()
    assert sweep.process.returncode != 0
    assert (sweep_dir / "0" / "results.json").is_file()
    (error,) = error_lines(sweep.output())
    assert "left the queue without a result" in error
    assert sweep.output().count("sacct does not answer") == 1
