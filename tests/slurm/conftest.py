"""Tests that run jobs on the local single-node Slurm cluster (`make slurm-up`, scripts/local_slurm.sh).

Every test here uses the ``slurm_env`` fixture: the environment for a subprocess with ``SLURM_CONF``
pointing at the running cluster. When the cluster is not up the tests skip, saying how to start it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from slurm.sweeps import Sweep, run_slurm

DEFAULT_STATE_DIR = "/tmp/slimkit-slurm"
NOT_UP = "local Slurm is not up: run `make slurm-up`"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slurm: runs jobs on the local Slurm cluster (`make slurm-up`); skips without")


def find_local_slurm() -> tuple[dict[str, str] | None, str]:
    """(environment with SLURM_CONF, "") when the local cluster answers, else (None, why not)."""
    conf = Path(os.environ.get("SLIMKIT_SLURM_DIR") or DEFAULT_STATE_DIR) / "slurm.conf"
    if not conf.is_file():
        return None, f"{NOT_UP} (no {conf})"
    if shutil.which("sinfo") is None:
        return None, f"{NOT_UP} (no sinfo on PATH)"
    if not _pid_file_alive(conf.parent / "slurmctld.pid"):  # sinfo would retry for ~10 s
        return None, f"{NOT_UP} (no slurmctld running from {conf.parent})"
    environment = {**os.environ, "SLURM_CONF": str(conf)}
    try:
        answer = subprocess.run(
            ["sinfo", "-h", "-o", "%t"], env=environment, capture_output=True, text=True, timeout=15
        )
    except subprocess.TimeoutExpired:
        return None, f"{NOT_UP} (sinfo with SLURM_CONF={conf} did not answer in 15 s)"
    states = answer.stdout.split()
    if answer.returncode != 0 or not states:
        detail = (answer.stderr.strip().splitlines() or ["no node"])[-1]
        return None, f"{NOT_UP} (sinfo with SLURM_CONF={conf}: {detail})"
    if not any(state in ("idle", "mix", "alloc", "comp") for state in states):  # "idle*": not responding
        return None, f"{NOT_UP} (node state: {', '.join(states)})"
    return environment, ""


def _pid_file_alive(pid_file: Path) -> bool:
    try:
        os.kill(int(pid_file.read_text().strip()), 0)
    except PermissionError:  # alive, owned by another user
        return True
    except (OSError, ValueError):
        return False
    return True


@pytest.fixture(scope="session")
def slurm_env() -> dict[str, str]:
    """The environment for subprocesses that submit to the local cluster; skips when it is not up."""
    environment, reason = find_local_slurm()
    if environment is None:
        pytest.skip(reason)
    return environment


@pytest.fixture
def launch(slurm_env: dict[str, str]) -> Iterator[Callable[..., Sweep]]:
    """``launch(sweep_dir, overrides, name=None, env=None)`` starts a sweep (``name``: its Slurm job name, to
    rerun a sweep under the same one; ``env``: extra variables); all are stopped, their jobs cancelled, after
    the test."""
    sweeps: list[Sweep] = []

    def start(
        sweep_dir: Path, overrides: list[str], name: str | None = None, env: dict[str, str] | None = None
    ) -> Sweep:
        sweeps.append(Sweep({**slurm_env, **(env or {})}, sweep_dir, overrides, name))
        return sweeps[-1]

    yield start
    for sweep in sweeps:
        sweep.stop()


@pytest.fixture
def busy_node(slurm_env: dict[str, str]) -> Iterator[Callable[[], None]]:
    """Holds the whole node with a job of its own until the test calls the fixture's value: jobs submitted
    meanwhile stay PENDING, whatever the machine's speed. (Cancelling a running job instead races its end:
    Slurm sends SIGTERM, which submitit's jobs ignore, and a short job may finish within KillWait.)"""
    blocker = run_slurm(
        slurm_env, "sbatch", "--parsable", "--exclusive", "-J", "slimkit-test-busy", "--wrap", "sleep 600"
    )
    blocker = blocker.strip().split(";")[0]
    deadline = time.monotonic() + 60
    while run_slurm(slurm_env, "squeue", "-h", "-j", blocker, "-o", "%T").strip() != "RUNNING":
        assert time.monotonic() < deadline, f"the job holding the node ({blocker}) did not start in 60 s"
        time.sleep(0.2)

    def free() -> None:
        run_slurm(slurm_env, "scancel", blocker)

    yield free
    free()


class SuiteClock:
    """Adds up this directory's test results, for one summary line at the end of the run (CI's record of
    how long the Slurm tests take)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.outcomes: dict[str, int] = {}

    def add(self, report: pytest.TestReport) -> None:
        self.seconds += report.duration
        if report.when == "call" or report.outcome != "passed":
            outcome = "skipped" if report.skipped else report.outcome
            self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1


SLURM_SUITE = SuiteClock()


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.nodeid.startswith("tests/slurm/"):
        SLURM_SUITE.add(report)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if SLURM_SUITE.outcomes:
        counts = ", ".join(f"{number} {outcome}" for outcome, number in sorted(SLURM_SUITE.outcomes.items()))
        terminalreporter.write_line(f"tests/slurm: {counts} in {SLURM_SUITE.seconds:.1f} s")
