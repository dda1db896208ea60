"""The Slurm launcher's decisions without a cluster: reading Slurm's listings, the record of submitted
jobs, when a job without a result counts as lost, and the sweepers' failure budget. The launcher against
a real Slurm is tested in tests/slurm."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra.core.utils import JobReturn, JobStatus

from hydra_plugins.slimkit_launcher import slurm_launcher
from hydra_plugins.slimkit_launcher.job_record import JobRecord, SubmittedJob
from hydra_plugins.slimkit_launcher.job_states import GONE, parse_listing
from hydra_plugins.slimkit_launcher.slurm_launcher import SlimkitSlurmLauncher, WatchedJob
from hydra_plugins.slimkit_sweepers.common import SlimkitSweeper, job_values, lost_state
from hydra_plugins.slimkit_sweepers.optuna_sweeper import consecutive_job_numbers
from slimkit.errors import ConfigError, JobLostError, SweepFailedError


def test_listing_expands_pending_array_ranges_and_keeps_the_first_word_of_a_state():
    listing = "123_[0-2,5%2]|PENDING\n124_1|CANCELLED by 0\n124_1.batch|CANCELLED\n125|RUNNING\n126|TIMEOUT+\n"
    assert parse_listing(listing) == {
        "123_0": "PENDING",
        "123_1": "PENDING",
        "123_2": "PENDING",
        "123_5": "PENDING",
        "124_1": "CANCELLED",
        "125": "RUNNING",
        "126": "TIMEOUT",
    }


def test_record_offers_an_earlier_job_only_with_the_same_overrides_and_uncollected(tmp_path: Path):
    record = JobRecord(tmp_path)
    record.add([SubmittedJob(0, "11_0", ["seed=1"]), SubmittedJob(1, "11_1", ["seed=2"])])
    reread = JobRecord(tmp_path)
    earlier = reread.uncollected(0, ["seed=1"])
    # fields, not ==: Hydra's plugin scan may re-execute the module, making a second SubmittedJob class
    assert earlier is not None and (earlier.slurm_id, earlier.overrides) == ("11_0", ["seed=1"])
    assert reread.uncollected(0, ["seed=9"]) is None  # another command: not the same job
    assert reread.uncollected(2, ["seed=1"]) is None
    reread.mark_collected([0])
    assert JobRecord(tmp_path).uncollected(0, ["seed=1"]) is None
    assert JobRecord(tmp_path).uncollected(1, ["seed=2"]) is not None


@pytest.fixture
def launcher() -> SlimkitSlurmLauncher:
    return SlimkitSlurmLauncher(poll_interval_s=1, lost_grace_s=100, submitit_folder="x/%j")


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    now = [1000.0]
    monkeypatch.setattr(slurm_launcher.time, "monotonic", lambda: now[0])
    return now


def watched_job(tmp_path: Path) -> WatchedJob:
    return WatchedJob(3, "77_3", ["seed=4"], [tmp_path / "77_3_0_result.pkl"], tmp_path / "77_3_0_log.out")


def test_an_ended_job_is_lost_after_the_result_settle_time_with_its_slurm_state(launcher, clock, tmp_path):
    job, ended = watched_job(tmp_path), {}
    assert launcher.lost(job, "RUNNING", ended) is None
    assert launcher.lost(job, "CANCELLED", ended) is None  # its result file may still be on its way
    clock[0] += slurm_launcher.RESULT_SETTLE_S
    error = launcher.lost(job, "CANCELLED", ended)
    assert isinstance(error, JobLostError) and error.slurm_state == "CANCELLED"
    assert str(error).startswith("sweep job 3 (Slurm job 77_3) ended CANCELLED without a result; its log: ")


def test_a_job_unseen_by_slurm_is_lost_only_after_the_grace_and_a_requeue_resets_the_clock(launcher, clock, tmp_path):
    job, ended = watched_job(tmp_path), {}
    assert launcher.lost(job, GONE, ended) is None
    clock[0] += 60
    assert launcher.lost(job, "PENDING", ended) is None  # requeued: back in the queue
    clock[0] += 60
    assert launcher.lost(job, GONE, ended) is None  # gone again, the grace starts over
    assert launcher.lost(job, "UNKNOWN", ended) is None  # Slurm did not answer: no news
    clock[0] += 100
    error = launcher.lost(job, GONE, ended)
    assert error is not None and error.slurm_state == "LOST" and "left the queue without a result" in str(error)


def test_a_bad_earlier_jobs_setting_is_one_config_error():
    with pytest.raises(ConfigError, match="earlier_jobs=keep is not one of wait, cancel"):
        SlimkitSlurmLauncher(earlier_jobs="keep", submitit_folder="x/%j")


def test_sweepers_tell_a_lost_job_from_a_job_that_failed_inside():
    lost = JobReturn(status=JobStatus.FAILED, _return_value=JobLostError("gone", "OUT_OF_MEMORY"))
    failed = JobReturn(status=JobStatus.FAILED, _return_value=ValueError("bad"))
    assert lost_state(lost) == "OUT_OF_MEMORY" and lost_state(failed) is None
    assert job_values(lost) is None and job_values(failed) is None


class NoSweep(SlimkitSweeper):
    def sweep(self, arguments: list[str]) -> None:
        raise NotImplementedError


@pytest.mark.parametrize(("rate", "planned", "survives"), [(0.2, 4, 1), (0.2, 10, 2), (0.0, 10, 0), (0.25, 8, 2)])
def test_failure_budget_is_the_rate_of_planned_jobs_rounded_up(rate, planned, survives):
    sweeper = NoSweep(max_failure_rate=rate)
    sweeper.check_failure_rate(survives, planned)
    with pytest.raises(SweepFailedError, match=f"{survives + 1} job\\(s\\) failed"):
        sweeper.check_failure_rate(survives + 1, planned)


class FrozenTrialStub:
    def __init__(self, number: int, job_num: int) -> None:
        self.number = number
        self.user_attrs = {"job_num": job_num}


def test_trials_left_running_regroup_into_their_launch_batches():
    trials = [FrozenTrialStub(n, job) for n, job in [(4, 7), (1, 2), (2, 3), (5, 8), (3, 5)]]
    groups = consecutive_job_numbers(trials)
    assert [[trial.user_attrs["job_num"] for trial in group] for group in groups] == [[2, 3], [5], [7, 8]]
