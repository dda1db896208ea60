"""`python train.py -m hydra/launcher=slurm ...` on the local Slurm cluster, for real: a sweep is one
job array, a job requeued mid-run resumes from its last.ckpt, and srun creates the ranks of a DDP job."""

from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

PROJECT_ROOT = Path(__file__).resolve().parents[2]
# tiny jobs: the point is the launcher, not the training
SMALL = [
    "trainer.max_epochs=2",
    "trainer.limit_train_batches=4",
    "trainer.limit_val_batches=2",
    "callbacks.progress_bar=null",
    "hydra.launcher.cpus_per_task=1",
    "hydra.launcher.timeout_min=10",
]
SWEEP_TIMEOUT_S = 240.0


class Sweep:
    """One ``python train.py -m ...`` in the background, its Slurm jobs named uniquely (for squeue/scancel)."""

    def __init__(self, environment: dict[str, str], sweep_dir: Path, overrides: list[str]) -> None:
        self.environment = environment
        self.sweep_dir = sweep_dir
        self.name = f"slimkit-test-{uuid.uuid4().hex[:8]}"
        self.log = sweep_dir.with_name(sweep_dir.name + ".log")
        command = [
            sys.executable,
            "train.py",
            "-m",
            *overrides,
            f"hydra.sweep.dir={sweep_dir}",
            f"hydra.launcher.name={self.name}",
        ]
        self._log_handle = open(self.log, "w")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            command,
            cwd=PROJECT_ROOT,
            env=environment,
            stdout=self._log_handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def slurm(self, *args: str) -> str:
        return subprocess.run(
            list(args), env=self.environment, capture_output=True, text=True, check=True, timeout=30
        ).stdout

    def job_ids(self) -> list[str]:
        """Ids (``<job>`` or ``<array>_<task>``) of this sweep's jobs that Slurm still lists."""
        return self.slurm("squeue", "-h", "--name", self.name, "-o", "%i").split()

    def wait(self, timeout: float = SWEEP_TIMEOUT_S) -> None:
        """Wait for the launcher to collect every result; fail with the logs when it does not."""
        try:
            status = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the sweep did not finish in {timeout:.0f} s\n{self.report()}")
        assert status == 0, f"the sweep exited with status {status}\n{self.report()}"

    def report(self) -> str:
        """The launcher's log and the jobs' stderr, without submitit's warnings about sacct."""
        lines = [line for line in self.log.read_text().splitlines() if "sacct" not in line]
        parts = ["---- launcher log", *lines[-30:]]
        for error_log in sorted(self.sweep_dir.glob(".submitit/*/*_log.err")):
            parts += [f"---- {error_log.name}", *error_log.read_text().splitlines()[-15:]]
        return "\n".join(parts)

    def stop(self) -> None:
        """End the launcher if it still runs and cancel whatever it left in the queue."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(30)
        subprocess.run(["scancel", "--name", self.name], env=self.environment, capture_output=True, timeout=30)
        self._log_handle.close()


@pytest.fixture
def launch(slurm_env: dict[str, str]) -> Iterator[Callable[..., Sweep]]:
    """``launch(sweep_dir, overrides)`` starts a sweep; all are stopped (and their jobs cancelled) after the test."""
    sweeps: list[Sweep] = []

    def start(sweep_dir: Path, overrides: list[str]) -> Sweep:
        sweeps.append(Sweep(slurm_env, sweep_dir, overrides))
        return sweeps[-1]

    yield start
    for sweep in sweeps:
        sweep.stop()


def load_result(result_pickle: Path) -> tuple[str, object]:
    """submitit's ``(outcome, value)`` of one task; the value of a Hydra job is its JobReturn."""
    with result_pickle.open("rb") as handle:
        return pickle.load(handle)


def test_three_job_sweep_is_one_job_array(launch, tmp_path):
    sweep_dir = tmp_path / "sweep"
    launch(sweep_dir, ["hydra/launcher=slurm", "seed=1,2,3", *SMALL]).wait()

    submitit = sweep_dir / ".submitit"
    task_dirs = sorted(path.name for path in submitit.iterdir() if path.is_dir() and "_" in path.name)
    array_ids = {name.split("_")[0] for name in task_dirs}
    assert len(array_ids) == 1, f"expected the tasks of one job array, got {task_dirs}"
    array_id = array_ids.pop()
    assert task_dirs == [f"{array_id}_{task}" for task in range(3)]
    assert "#SBATCH --array=0-2%" in (submitit / array_id / f"{array_id}_submission.sh").read_text()
    for job in range(3):
        outcome, job_return = load_result(submitit / f"{array_id}_{job}" / f"{array_id}_{job}_0_result.pkl")
        results = json.loads((sweep_dir / str(job) / "results.json").read_text())
        assert outcome == "success"
        assert results["seed"] == job + 1
        assert job_return.return_value == pytest.approx(results["value"])


# ~150 steps per epoch on digits at batch 8: the job is still training when the signal comes.
REQUEUE_EPOCHS = 5
REQUEUE_JOB = [
    "data.batch_size=8",
    f"trainer.max_epochs={REQUEUE_EPOCHS}",
    "callbacks.progress_bar=null",
    "hydra.launcher.cpus_per_task=1",
    "hydra.launcher.timeout_min=10",
]


def test_job_requeued_mid_run_resumes_from_last_checkpoint(launch, tmp_path):
    """USR2 (Slurm's warning before the time limit, submitit's requeue signal) in the middle of training:
    CheckpointOnSignal saves last.ckpt and hands the signal to submitit, which requeues the job; the
    requeued job reruns in the same dir, resumes from last.ckpt and finishes; the launcher collects it."""
    sweep_dir = tmp_path / "sweep"
    job_dir = sweep_dir / "0"
    last = job_dir / "checkpoints" / "last.ckpt"
    sweep = launch(sweep_dir, ["hydra/launcher=slurm", *REQUEUE_JOB])

    deadline = time.monotonic() + 120
    while not last.is_file():
        assert sweep.process.poll() is None, f"the sweep ended before the job wrote last.ckpt\n{sweep.report()}"
        assert time.monotonic() < deadline, f"no {last} after 120 s\n{sweep.report()}"
        time.sleep(0.1)
    job_ids = sweep.job_ids()
    assert len(job_ids) == 1, f"expected one running job, squeue lists {job_ids}\n{sweep.report()}"
    job_id = job_ids[0]
    # to the job's steps (the python process under srun), as Slurm does `signal_delay_s` before the limit
    sweep.slurm("scancel", "--signal=USR2", job_id)
    sweep.wait()

    job_log = (sweep_dir / ".submitit" / job_id / f"{job_id}_0_log.out").read_text()
    assert f"Requeued job {job_id}" in job_log, "submitit did not requeue the job (did it finish first?)"
    results = json.loads((job_dir / "results.json").read_text())
    assert results["resumed_from"] and results["resumed_from"].endswith("last.ckpt")
    assert torch.load(last, weights_only=True)["epoch"] == REQUEUE_EPOCHS - 1
    outcome, job_return = load_result(sweep_dir / ".submitit" / job_id / f"{job_id}_0_result.pkl")
    assert outcome == "success"
    assert job_return.return_value == pytest.approx(results["value"])


@pytest.mark.parametrize(
    "launcher",
    [
        ["hydra/launcher=slurm", "hydra.launcher.tasks_per_node=2"],
        # tasks_per_node (and gpus_per_node) follow ${trainer.devices}; no GPUs on the test cluster
        ["hydra/launcher=slurm_ddp", "hydra.launcher.gpus_per_node=null"],
    ],
    ids=["slurm", "slurm_ddp"],
)
def test_two_task_cpu_ddp_job_gets_its_ranks_from_srun(launch, tmp_path, launcher):
    sweep_dir = tmp_path / "sweep"
    launch(sweep_dir, [*launcher, "trainer=ddp_cpu", "trainer.devices=2", *SMALL]).wait()

    (job_folder,) = [path for path in (sweep_dir / ".submitit").iterdir() if path.is_dir()]
    job_id = job_folder.name
    assert "#SBATCH --ntasks-per-node=2" in (job_folder / f"{job_id}_submission.sh").read_text()
    for rank in (0, 1):
        outcome, _ = load_result(job_folder / f"{job_id}_{rank}_result.pkl")
        assert outcome == "success"
    assert "GLOBAL_RANK: 1, MEMBER: 2/2" in (job_folder / f"{job_id}_1_log.out").read_text()
    results = json.loads((sweep_dir / "0" / "results.json").read_text())
    assert results["value"] is not None


def test_evolution_sweeper_runs_one_job_array_per_generation(launch, tmp_path):
    """hydra/sweeper=evolution with hydra/launcher=slurm: 3 generations of 6 candidates, each a job array."""
    sweep_dir = tmp_path / "sweep"
    sweep = launch(
        sweep_dir,
        [
            "hydra/launcher=slurm",
            "hydra/sweeper=evolution",
            "model=lenet,resnet",
            "data.batch_size=16,32,64",
            "method.runner.optimizer.lr=0.01,0.05,0.1,0.2",
            *SMALL,
        ],
    )
    sweep.wait()
    arrays = {path.name.split("_")[0] for path in (sweep_dir / ".submitit").glob("[0-9]*_[0-9]*")}
    assert len(arrays) == 3
    assert all((sweep_dir / str(job) / "results.json").is_file() for job in range(18))
    report = (sweep_dir / "evolution_results.yaml").read_text()
    assert "generations_completed: 3" in report
