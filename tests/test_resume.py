"""Interrupted jobs resume: after kill -9 from the last checkpoint to the same final metrics as an
uninterrupted run; SIGTERM / SIGUSR1 write last.ckpt before the job ends."""

from __future__ import annotations

import signal
import time

import pytest
import torch
from conftest import read_results, run_train, start_train, wait_for

pytestmark = pytest.mark.slow  # every test runs train.py (killed, signalled, rerun)

# ~150 steps per epoch on digits: long enough to be killed in the middle of an epoch
SLOW_DIGITS = ["data.batch_size=8", "trainer.max_epochs=5", "callbacks.progress_bar=null", "seed=11"]


def test_kill_9_then_rerun_resumes_to_the_same_metrics(tmp_path):
    killed_dir, reference_dir = tmp_path / "killed", tmp_path / "reference"
    last = killed_dir / "checkpoints" / "last.ckpt"
    process = start_train([*SLOW_DIGITS, f"hydra.run.dir={killed_dir}"], tmp_path / "killed.log")
    wait_for(lambda: last.is_file(), process)
    time.sleep(0.3)  # into the next epoch
    process.kill()  # SIGKILL: no handler runs, the job just dies
    process.wait()
    assert not (killed_dir / "results.json").exists()
    saved_epoch = torch.load(last, weights_only=True)["epoch"]
    assert saved_epoch < 4, "the run finished before it was killed"

    resumed = run_train([*SLOW_DIGITS, f"hydra.run.dir={killed_dir}"])
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    reference = run_train([*SLOW_DIGITS, f"hydra.run.dir={reference_dir}"])
    assert reference.returncode == 0, reference.stderr[-2000:]

    resumed_results, reference_results = read_results(killed_dir), read_results(reference_dir)
    assert resumed_results["resumed_from"].endswith("last.ckpt")
    assert resumed_results["metrics"] == reference_results["metrics"]
    assert torch.load(last, weights_only=True)["epoch"] == 4


@pytest.mark.parametrize(("signum", "returncode"), [(signal.SIGTERM, 143), (signal.SIGUSR1, -signal.SIGUSR1)])
def test_a_stop_signal_saves_last_ckpt_mid_epoch(signum, returncode, tmp_path):
    run_dir = tmp_path / "run"
    args = [
        "data=synthetic",
        "data.train_size=1000000",
        "data.batch_size=16",
        "trainer.max_epochs=1",
        "trainer.log_every_n_steps=1",
        "+logger.csv.flush_logs_every_n_steps=1",
        "callbacks.progress_bar=null",
        f"hydra.run.dir={run_dir}",
    ]
    process = start_train(args, tmp_path / "train.log")
    wait_for(lambda: (run_dir / "metrics.csv").is_file(), process)
    process.send_signal(signum)
    assert process.wait(timeout=60) == returncode, (tmp_path / "train.log").read_text()[-2000:]
    checkpoint = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)
    assert checkpoint["epoch"] == 0 and checkpoint["global_step"] > 0
    assert not (run_dir / "results.json").exists()


def test_last_ckpt_is_written_every_epoch_even_without_improvement(tmp_path):
    """A learning rate of 0 never improves val/acc; last.ckpt must still follow every epoch."""
    from conftest import QUICK, compose_config

    from slimkit.pipeline import run

    run(compose_config([*QUICK, "trainer.max_epochs=3", "method.runner.optimizer.lr=0.0"], tmp_path))
    assert torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)["epoch"] == 2
    assert (tmp_path / "checkpoints" / "best.ckpt").is_file()
