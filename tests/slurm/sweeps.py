"""A ``python train.py -m ...`` sweep run in the background against the local Slurm cluster, for tests."""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SWEEP_TIMEOUT_S = 240.0


def run_slurm(environment: dict[str, str], *command: str) -> str:
    """A Slurm command's output (``sbatch``, ``squeue``, ``scancel``, ...); fails the test when it fails."""
    return subprocess.run(list(command), env=environment, capture_output=True, text=True, check=True, timeout=30).stdout


class Sweep:
    """One ``python train.py -m ...`` in the background, its Slurm jobs named uniquely (for squeue/scancel)."""

    def __init__(
        self, environment: dict[str, str], sweep_dir: Path, overrides: list[str], name: str | None = None
    ) -> None:
        self.environment = environment
        self.sweep_dir = sweep_dir
        self.name = name or f"slimkit-test-{uuid.uuid4().hex[:8]}"
        self.log = sweep_dir.with_name(f"{sweep_dir.name}-{uuid.uuid4().hex[:4]}.log")
        self.command = [
            sys.executable,
            "train.py",
            "-m",
            *overrides,
            f"hydra.sweep.dir={sweep_dir}",
            f"hydra.launcher.name={self.name}",
        ]
        self._log_handle = open(self.log, "w")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            self.command,
            cwd=PROJECT_ROOT,
            env=environment,
            stdout=self._log_handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def slurm(self, *args: str) -> str:
        return run_slurm(self.environment, *args)

    def job_ids(self) -> list[str]:
        """Ids (``<job>`` or ``<array>_<task>``) of this sweep's jobs that Slurm still lists."""
        return self.slurm("squeue", "-h", "-r", "--name", self.name, "-o", "%i").split()

    def wait_for(self, condition, what: str, timeout: float = 120.0) -> None:  # noqa: ANN001
        """Poll ``condition()`` while the sweep runs; fail with the logs if the sweep ends or time runs out."""
        deadline = time.monotonic() + timeout
        while not condition():
            assert self.process.poll() is None, f"the sweep ended before {what}\n{self.report()}"
            assert time.monotonic() < deadline, f"no {what} after {timeout:.0f} s\n{self.report()}"
            time.sleep(0.2)

    def finish(self, timeout: float = SWEEP_TIMEOUT_S) -> int:
        """Wait for the launcher to end; its exit status."""
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the sweep did not finish in {timeout:.0f} s\n{self.report()}")

    def wait(self, timeout: float = SWEEP_TIMEOUT_S) -> None:
        """Wait for the launcher to collect every result; fail with the logs when it does not."""
        status = self.finish(timeout)
        assert status == 0, f"the sweep exited with status {status}\n{self.report()}"

    def output(self) -> str:
        self._log_handle.flush()
        return self.log.read_text()

    def report(self) -> str:
        """The launcher's log and the jobs' stderr."""
        parts = ["---- launcher log", *self.output().splitlines()[-30:]]
        for error_log in sorted(self.sweep_dir.glob(".submitit/*/*_log.err")):
            parts += [f"---- {error_log.name}", *error_log.read_text().splitlines()[-15:]]
        return "\n".join(parts)

    def kill_parent(self) -> None:
        """kill -9 of the launcher process alone, as a lost login session or an OOM kill would: its jobs stay."""
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(30)

    def stop(self) -> None:
        """End the launcher if it still runs and cancel whatever it left in the queue."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(30)
        subprocess.run(["scancel", "--name", self.name], env=self.environment, capture_output=True, timeout=30)
        self._log_handle.close()


def load_result(result_pickle: Path) -> tuple[str, object]:
    """submitit's ``(outcome, value)`` of one task; the value of a Hydra job is its JobReturn."""
    with result_pickle.open("rb") as handle:
        return pickle.load(handle)
