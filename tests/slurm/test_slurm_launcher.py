"""`python train.py -m hydra/launcher=slurm ...` on the local Slurm cluster, for real: a sweep is one
job array, a job requeued mid-run resumes from its last.ckpt, and srun creates the ranks of a DDP job."""

from __future__ import annotations

import json
import time

import pytest
import torch

from slurm.sweeps import load_result

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

# tiny jobs: the point is the launcher, not the training
SMALL = [
    "trainer.max_epochs=2",
    "trainer.limit_train_batches=4",
    "trainer.limit_val_batches=2",
    "callbacks.progress_bar=null",
    "hydra.launcher.cpus_per_task=1",
    "hydra.launcher.timeout_min=10",
]


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


# 158 steps per epoch on digits at batch 8 (0.6 s on a 2-core CPU): the job trains 14 more epochs after its
# first last.ckpt, so it is still training when the signal comes (one that ends first is not requeued).
REQUEUE_EPOCHS = 15
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
