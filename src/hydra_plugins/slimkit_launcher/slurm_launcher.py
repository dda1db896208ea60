"""``hydra/launcher=slurm``: hydra-submitit-launcher's Slurm launcher, made to survive a cluster's failures.

- A job that ends without a result (cancelled, killed by the OOM killer, its node failed past requeue, its
  time limit reached past ``max_num_timeout``) comes back as a failed job naming its Slurm state
  (``JobLostError``) instead of an endless wait, so the sweeper records it and the sweep goes on. Without
  accounting, a job that left the queue without a result for ``lost_grace_s`` is failed the same way.
- Slurm is asked about all of the sweep's jobs in one call per ``poll_interval_s``; a missing accounting
  database is said once per sweep.
- The submitted jobs are recorded in the sweep dir (``JobRecord``): rerunning the command of a killed sweep
  waits for (or, with ``earlier_jobs=cancel``, cancels) its jobs that are still queued or running, and adopts
  the results of those that finished, instead of submitting duplicates that would share their job dirs.
"""

import logging
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, JobStatus, filter_overrides
from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf
from hydra_plugins.hydra_submitit_launcher.submitit_launcher import SlurmLauncher
from omegaconf import OmegaConf

from hydra_plugins.slimkit_launcher.config import EARLIER_JOBS
from hydra_plugins.slimkit_launcher.job_record import JobRecord, SubmittedJob
from hydra_plugins.slimkit_launcher.job_states import GONE, SlurmStates
from slimkit.errors import ConfigError, JobLostError
from slimkit.slurm_states import ALIVE

log = logging.getLogger(__name__)
RESULT_SETTLE_S = 15.0  # a job Slurm reports ended may still be flushing its result file (shared filesystems)
CANCEL_WAIT_S = 120.0
INIT_KEYS = {"submitit_folder", "max_num_timeout"}


@dataclass
class WatchedJob:
    job_num: int
    slurm_id: str
    overrides: list[str]
    result_files: list[Path]  # one per task; the job is done when every task wrote its file
    log_file: Path


class SlimkitSlurmLauncher(SlurmLauncher):
    jobs_outlive_the_sweep = True  # its jobs run on after a killed sweep: sweepers relaunch them to collect

    def __init__(
        self, poll_interval_s: float = 10.0, lost_grace_s: float = 120.0, earlier_jobs: str = "wait", **params: Any
    ) -> None:
        if earlier_jobs not in EARLIER_JOBS:
            raise ConfigError(f"hydra.launcher.earlier_jobs={earlier_jobs} is not one of {', '.join(EARLIER_JOBS)}")
        super().__init__(**params)
        self.poll_interval_s = float(poll_interval_s)
        self.lost_grace_s = float(lost_grace_s)
        self.earlier_jobs = earlier_jobs
        self.slurm = SlurmStates()  # one per sweep: says once that there is no accounting

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        assert self.config is not None and job_overrides
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        log.info("Submitit 'slurm' sweep output dir : %s", sweep_dir)
        record = JobRecord(sweep_dir)
        numbers = list(range(initial_job_idx, initial_job_idx + len(job_overrides)))
        batch = dict(zip(numbers, (list(overrides) for overrides in job_overrides), strict=True))
        watched = self.take_over_earlier_jobs(record, batch)
        submit = {number: overrides for number, overrides in batch.items() if number not in watched}
        if submit:
            new_jobs = self.submit(submit)
            record.add(SubmittedJob(job.job_num, job.slurm_id, job.overrides) for job in new_jobs)
            watched.update((job.job_num, job) for job in new_jobs)
        results = self.collect(watched, sweep_dir)
        record.mark_collected(numbers)
        return [results[number] for number in numbers]

    def executor(self) -> Any:
        import submitit

        executor = submitit.AutoExecutor(
            cluster="slurm",
            folder=self.params["submitit_folder"],
            slurm_max_num_timeout=self.params.get("max_num_timeout", 0),
        )
        shared = set(OmegaConf.structured(BaseQueueConf).keys())
        executor.update_parameters(
            **{
                key if key in shared else f"slurm_{key}": value
                for key, value in self.params.items()
                if key not in INIT_KEYS
            }
        )
        return executor

    def submit(self, batch: dict[int, list[str]]) -> list[WatchedJob]:
        """Submit the batch as one job array; the watched jobs, in the batch's order."""
        for number, overrides in batch.items():
            log.info("\t#%d : %s", number, " ".join(filter_overrides(overrides)))
        arguments = [
            (overrides, "hydra.sweep.dir", number, f"job_id_for_{number}", Singleton.get_state())
            for number, overrides in batch.items()
        ]
        jobs = self.executor().map_array(self, *zip(*arguments, strict=True))
        return [self.watch(number, job.job_id, batch[number]) for number, job in zip(batch, jobs, strict=True)]

    def watch(self, job_num: int, slurm_id: str, overrides: list[str]) -> WatchedJob:
        from submitit.core.utils import JobPaths

        tasks = int(self.params.get("tasks_per_node") or 1) * int(self.params.get("nodes") or 1)
        folder = self.params["submitit_folder"]
        paths = [JobPaths(folder, job_id=slurm_id, task_id=task) for task in range(tasks)]
        return WatchedJob(job_num, slurm_id, overrides, [path.result_pickle for path in paths], paths[0].stdout)

    def take_over_earlier_jobs(self, record: JobRecord, batch: dict[int, list[str]]) -> dict[int, WatchedJob]:
        """Jobs of a killed earlier run of this sweep to collect instead of submitting again."""
        earlier = {number: record.uncollected(number, overrides) for number, overrides in batch.items()}
        earlier = {number: job for number, job in earlier.items() if job is not None}
        if not earlier:
            return {}
        states = self.slurm.states(job.slurm_id for job in earlier.values())
        taken: dict[int, WatchedJob] = {}
        for number, job in earlier.items():
            watched = self.watch(number, job.slurm_id, job.overrides)
            state = states[job.slurm_id]
            if all(path.is_file() for path in watched.result_files):
                log.info("job %d: adopting the result of Slurm job %s from an earlier run", number, job.slurm_id)
                taken[number] = watched
            elif state in ALIVE and self.earlier_jobs == "wait":
                log.info("job %d: Slurm job %s of an earlier run is %s: waiting for it", number, job.slurm_id, state)
                taken[number] = watched
            elif state in ALIVE:
                log.info("job %d: cancelling Slurm job %s of an earlier run (%s)", number, job.slurm_id, state)
                self.cancel(job.slurm_id)
        return taken

    def cancel(self, slurm_id: str) -> None:
        """scancel, then wait until the job has left (its run-dir lock released) so a new job can start there."""
        subprocess.run(["scancel", slurm_id], capture_output=True, timeout=60, check=False)
        deadline = time.monotonic() + CANCEL_WAIT_S
        while self.slurm.states([slurm_id])[slurm_id] in ALIVE and time.monotonic() < deadline:
            time.sleep(1)

    def collect(self, watched: dict[int, WatchedJob], sweep_dir: Path) -> dict[int, JobReturn]:
        """Wait until every job has written its result or is known to have ended without one."""
        results: dict[int, JobReturn] = {}
        ended_since: dict[int, float] = {}
        next_poll = time.monotonic() + min(self.poll_interval_s, 2.0)
        while watched:
            for number, job in list(watched.items()):
                if all(path.is_file() for path in job.result_files):
                    results[number] = read_result(job, sweep_dir)
                    del watched[number]
            if not watched:
                break
            if time.monotonic() >= next_poll:
                next_poll = time.monotonic() + self.poll_interval_s
                states = self.slurm.states(job.slurm_id for job in watched.values())
                for number, job in list(watched.items()):
                    lost = self.lost(job, states[job.slurm_id], ended_since)
                    if lost is not None:
                        results[number] = failed_return(job, sweep_dir, lost)
                        del watched[number]
            time.sleep(1)
        return results

    def lost(self, job: WatchedJob, state: str, ended_since: dict[int, float]) -> JobLostError | None:
        """The error for a job that has been ended, with no result, for longer than its grace; else None."""
        if state == "UNKNOWN":  # Slurm did not answer: no news either way
            return None
        if state in ALIVE:
            ended_since.pop(job.job_num, None)
            return None
        first_seen = ended_since.setdefault(job.job_num, time.monotonic())
        grace = self.lost_grace_s if state == GONE else RESULT_SETTLE_S
        if time.monotonic() - first_seen < grace:
            return None
        how = (
            f"left the queue without a result (no accounting says why; waited {grace:.0f} s)"
            if state == GONE
            else f"ended {state} without a result"
        )
        message = f"sweep job {job.job_num} (Slurm job {job.slurm_id}) {how}; its log: {job.log_file}"
        log.error("%s", message)
        return JobLostError(message, "LOST" if state == GONE else state)


def read_result(job: WatchedJob, sweep_dir: Path) -> JobReturn:
    """Task 0's JobReturn (Hydra's run_job already turns the task's exceptions into a failed one)."""
    from submitit.core.utils import pickle_load

    outcome, value = pickle_load(job.result_files[0])
    if outcome == "success":
        return value
    last_line = next((line for line in reversed(str(value).strip().splitlines()) if line.strip()), "no traceback")
    message = f"sweep job {job.job_num} (Slurm job {job.slurm_id}) failed outside the task: {last_line.strip()}"
    return failed_return(job, sweep_dir, RuntimeError(message))


def failed_return(job: WatchedJob, sweep_dir: Path, error: Exception) -> JobReturn:
    return JobReturn(
        overrides=job.overrides,
        working_dir=str(sweep_dir / str(job.job_num)),
        status=JobStatus.FAILED,
        _return_value=error,
    )
