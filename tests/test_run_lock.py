"""One writer per run dir: run.lock names its owner; a live owner stops a second job with one line,
a gone one (dead pid, reused pid, finished Slurm job, our own requeued job) is taken over."""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import QUICK, compose_config, run_train, start_train, wait_for

from slimkit import run_lock
from slimkit.errors import ConfigError
from slimkit.run_lock import LOCK_FILE, Owner, RunLock, hold_run_dir, process_start_time

HOST = socket.gethostname()
SUFFIX = "; wait for it or use another hydra.run.dir"


@pytest.fixture(autouse=True)
def outside_slurm(monkeypatch):
    for name in ("SLURM_JOB_ID", "SLURM_ARRAY_JOB_ID", "SLURM_ARRAY_TASK_ID"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def sleeper():
    """A live process of this host (pid, start time)."""
    process = subprocess.Popen(["sleep", "30"])
    try:
        yield process.pid, process_start_time(process.pid)
    finally:
        process.kill()
        process.wait()


def dead_process() -> tuple[int, int | None]:
    """The pid and start time of a process that has ended (and been reaped)."""
    process = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    start = process_start_time(process.pid)
    process.communicate()
    return process.pid, start


def write_lock(run_dir: Path, owner: Owner) -> Path:
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / LOCK_FILE
    path.write_bytes(owner.to_json())
    return path


def owner(pid: int, pid_start: int | None, host: str = HOST, job: str | None = None, shown: str | None = None) -> Owner:
    return Owner(host, pid, pid_start, "2026-12-04T23:10:02", slurm_job_id=job, slurm_job=shown or job)


def read_lock(run_dir: Path) -> dict:
    return json.loads((run_dir / LOCK_FILE).read_text())


def test_a_free_dir_is_taken_and_released(tmp_path):
    run_dir = tmp_path / "new" / "run"
    with RunLock(run_dir):
        record = read_lock(run_dir)
        assert (record["host"], record["pid"]) == (HOST, os.getpid())
        assert record["pid_start"] == process_start_time(os.getpid()) and record["slurm_job_id"] is None
    assert not (run_dir / LOCK_FILE).exists()


def test_the_lock_is_released_when_the_run_fails(tmp_path):
    with pytest.raises(RuntimeError), RunLock(tmp_path):
        raise RuntimeError("a bug")
    assert not (tmp_path / LOCK_FILE).exists()


def test_a_stale_lock_of_a_dead_process_is_taken_over_with_a_warning(tmp_path, caplog):
    pid, start = dead_process()
    write_lock(tmp_path, owner(pid, start))
    with caplog.at_level(logging.WARNING, logger="slimkit.run_lock"), RunLock(tmp_path):
        assert read_lock(tmp_path)["pid"] == os.getpid()
    warnings = [record.getMessage() for record in caplog.records]
    assert warnings == [
        f"taking over {tmp_path / LOCK_FILE} from pid {pid} on host {HOST} since 2026-12-04T23:10:02, which is gone"
    ]
    assert not (tmp_path / LOCK_FILE).exists()


def test_an_unreadable_lock_is_taken_over_with_a_warning(tmp_path, caplog):
    (tmp_path / LOCK_FILE).write_text('{"host": "node1", "pi')  # its writer died mid-write
    with caplog.at_level(logging.WARNING, logger="slimkit.run_lock"), RunLock(tmp_path):
        assert read_lock(tmp_path)["pid"] == os.getpid()
    assert [record.getMessage() for record in caplog.records] == [
        f"taking over {tmp_path / LOCK_FILE}, which names no owner (its writer died writing it)"
    ]


def test_a_live_owner_on_this_host_is_refused_in_one_line(tmp_path, sleeper):
    pid, start = sleeper
    path = write_lock(tmp_path, owner(pid, start))
    before = path.read_text()
    with pytest.raises(ConfigError) as refused:
        RunLock(tmp_path).acquire()
    assert (
        str(refused.value)
        == f"run dir {tmp_path} is in use by pid {pid} on host {HOST} since 2026-12-04T23:10:02" + SUFFIX
    )
    assert path.read_text() == before


def test_a_reused_pid_is_not_the_owner(tmp_path, sleeper, caplog):
    pid, start = sleeper  # alive, but not the process that took the lock: that one started earlier
    write_lock(tmp_path, owner(pid, start - 1))
    with caplog.at_level(logging.WARNING, logger="slimkit.run_lock"), RunLock(tmp_path):
        assert read_lock(tmp_path)["pid"] == os.getpid()
    assert len(caplog.records) == 1 and "which is gone" in caplog.records[0].getMessage()


def test_our_own_requeued_slurm_job_takes_its_lock_over(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("SLURM_JOB_ID", "123")
    monkeypatch.setenv("SLURM_ARRAY_JOB_ID", "120")
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "3")
    write_lock(tmp_path, owner(4242, 17, host="node-before-requeue", job="123", shown="120_3"))
    with caplog.at_level(logging.WARNING, logger="slimkit.run_lock"), RunLock(tmp_path):
        record = read_lock(tmp_path)
        assert (record["pid"], record["slurm_job_id"], record["slurm_job"]) == (os.getpid(), "123", "120_3")
    assert not caplog.records


def test_an_owner_on_another_host_without_slurm_cannot_be_checked_so_it_is_refused(tmp_path):
    write_lock(tmp_path, owner(4242, 17, host="node1"))
    with pytest.raises(ConfigError) as refused:
        RunLock(tmp_path).acquire()
    message = str(refused.value)
    assert message.startswith(f"run dir {tmp_path} is in use by pid 4242 on host node1 since 2026-12-04T23:10:02 (")
    assert f"delete {tmp_path / LOCK_FILE}" in message and message.endswith(SUFFIX) and "\n" not in message


@pytest.mark.parametrize(
    ("squeue", "refused"),
    [
        ("echo RUNNING", True),
        ("echo COMPLETING", True),
        ("echo COMPLETED", False),
        ("true", False),  # gone from the queue
        ("echo 'slurm_load_jobs error: Invalid job id specified' >&2; exit 1", False),
        ("echo 'squeue: fatal: Could not establish a configuration source' >&2; exit 1", True),  # host rule
    ],
)
def test_an_owner_in_another_slurm_job_is_alive_while_squeue_lists_it(tmp_path, monkeypatch, squeue, refused):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "squeue").write_text(f'#!/bin/sh\n[ "$*" = "-h -j 123 -o %T" ] || exit 9\n{squeue}\n')
    (bin_dir / "squeue").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    run_dir = tmp_path / "run"
    write_lock(run_dir, owner(4242, 17, host="node1", job="123", shown="120_3"))
    if refused:
        with pytest.raises(ConfigError, match=r"in use by pid 4242 on host node1 \(Slurm job 120_3\) since "):
            RunLock(run_dir).acquire()
    else:
        with RunLock(run_dir):
            assert read_lock(run_dir)["pid"] == os.getpid()


def test_release_leaves_another_owners_lock_alone(tmp_path, sleeper):
    lock = RunLock(tmp_path)
    lock.acquire()
    pid, start = sleeper  # took the dir over meanwhile, thinking us gone
    path = write_lock(tmp_path, owner(pid, start))
    lock.release()
    assert read_lock(tmp_path)["pid"] == pid
    path.unlink()
    lock.release()  # twice, and with no file: nothing to do


def test_a_rank_other_than_0_takes_no_lock(tmp_path, monkeypatch):
    from lightning.pytorch.utilities import rank_zero_only

    monkeypatch.setattr(rank_zero_only, "rank", 1)
    with hold_run_dir(tmp_path):
        assert not (tmp_path / LOCK_FILE).exists()


def test_of_many_processes_taking_over_one_stale_lock_one_wins(tmp_path, monkeypatch):
    """Forked children wait for one signal, then all take the lock (judging its owner slowly, as a slow squeue
    would); each stays alive until all have tried."""
    judge = run_lock.judge
    monkeypatch.setattr(run_lock, "judge", lambda *args: time.sleep(0.2) or judge(*args))
    pid, start = dead_process()
    write_lock(tmp_path, owner(pid, start))
    go_read, go_write = os.pipe()
    done_read, done_write = os.pipe()
    results_read, results_write = os.pipe()
    children = []
    for _ in range(4):
        child = os.fork()
        if child == 0:  # pragma: no cover - the child
            code = 1
            try:
                os.close(go_write)
                os.read(go_read, 1)
                logging.disable(logging.CRITICAL)
                try:
                    RunLock(tmp_path).acquire()
                    os.write(results_write, b"W")
                except ConfigError:
                    os.write(results_write, b"R")
                os.close(done_write)
                os.read(done_read, 1)  # hold the lock until the parent has every answer
                code = 0
            finally:
                os._exit(code)
        children.append(child)
    os.close(go_write)  # go
    answers = b""
    while len(answers) < len(children):
        answers += os.read(results_read, 4)
    os.close(done_write)
    for child in children:
        assert os.waitpid(child, 0)[1] == 0
    assert sorted(answers) == sorted(b"WRRR")
    assert read_lock(tmp_path)["pid"] in children


def test_a_bad_config_takes_no_lock(tmp_path):
    from slimkit.pipeline import run

    with pytest.raises(ConfigError):
        run(compose_config(["data=cifar10", "data.root=/nope"], tmp_path / "run"))
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("objective", ["test/acc", "test/nope"])
def test_a_run_releases_its_lock_when_it_ends_or_fails(tmp_path, objective):
    from slimkit.pipeline import run

    config = compose_config([*QUICK, "trainer.max_epochs=1", f"objective={objective}"], tmp_path)
    if objective == "test/nope":  # the objective is checked once the training is done
        with pytest.raises(ConfigError, match="test/nope is not among the final metrics"):
            run(config)
    else:
        run(config)
    assert (tmp_path / "results.json").is_file() and not (tmp_path / LOCK_FILE).exists()


@pytest.mark.slow
def test_a_second_train_py_in_a_busy_run_dir_stops_in_one_line(tmp_path):
    run_dir = tmp_path / "run"
    # ~150 steps per epoch on digits for many epochs: it runs until the test stops it
    args = ["data.batch_size=8", "trainer.max_epochs=1000", "callbacks.progress_bar=null", f"hydra.run.dir={run_dir}"]
    first = start_train(args, tmp_path / "first.log")
    try:
        wait_for(lambda: (run_dir / LOCK_FILE).is_file(), first, timeout=300)
        second = run_train(args, timeout=300)
        assert first.poll() is None, "the first run ended before the second was checked"
        lines = [line for line in second.stderr.splitlines() if line.strip()]
        assert second.returncode == 2 and len(lines) == 1, second.stderr
        assert lines[0].startswith(f"error: run dir {run_dir} is in use by pid {first.pid} on host {HOST} since ")
        assert lines[0].endswith(SUFFIX)
        print(lines[0])
        first.send_signal(signal.SIGTERM)  # ends it as a preempted job ends: last.ckpt, exit 143
        assert first.wait(timeout=120) == 143, (tmp_path / "first.log").read_text()[-2000:]
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    assert not (run_dir / LOCK_FILE).exists()
    assert (run_dir / "checkpoints" / "last.ckpt").is_file()
    assert "in use" not in (run_dir / "train.log").read_text()  # the second wrote nothing there
