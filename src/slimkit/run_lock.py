"""One writer per run directory: ``<run dir>/run.lock`` names the process that writes it.

Two ``python train.py hydra.run.dir=X`` at once (or a Slurm array task and an orphaned duplicate of
it) would both append to train.log and metrics.csv and overwrite each other's checkpoints, leaving a
run that is neither. So a job takes the lock after its config passed the checks and holds it until it
ends; a second job in the same dir stops with one line naming the first. The lock is a JSON file (host,
pid, the pid's start time, Slurm job, when it was taken), so a lock left behind by a job that is gone
(``kill -9``, a dead node, a requeued Slurm job) is taken over instead of blocking the dir for ever.

Whether the owner of a lock is alive, in this order:

1. on this host with its pid running and the same start time (a reused pid is not the owner): alive,
   unless that is this very process;
2. the same Slurm job as ours (a requeued job restarting in its own dir): ours to take over;
3. in a Slurm job and ``squeue`` answers: alive while that job is queued or running;
4. on this host (pid gone or reused): gone;
5. on another host without Slurm: nothing here can tell, so alive; the error says to delete the lock
   file if that process is gone.

The file is created with O_CREAT|O_EXCL, and every read and write of it happens under ``flock`` on it,
so two jobs taking over the same stale lock cannot both win.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, fields
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Literal

from lightning.pytorch.utilities import rank_zero_only

from slimkit.errors import ConfigError
from slimkit.slurm_states import ALIVE

log = logging.getLogger(__name__)
LOCK_FILE = "run.lock"
SQUEUE_TIMEOUT_S = 10.0
# an empty lock file is one its creator has not written yet; after this long, a creator that died
EMPTY_LOCK_WAIT_S = 10.0
# file systems without flock (Lustre mounted without -o flock): the check-and-write is then not atomic
NO_FLOCK = (errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOLCK, errno.EINVAL)

Verdict = Literal["ours", "alive", "unknown", "gone"]


@dataclass(frozen=True)
class Owner:
    """Who holds a run dir: enough to tell later, on this host or through Slurm, whether it still runs."""

    host: str
    pid: int
    pid_start: int | None  # the pid's start time (clock ticks after boot, /proc/<pid>/stat); None without /proc
    started: str  # when it took the lock, local time
    slurm_job_id: str | None = None  # SLURM_JOB_ID, what squeue -j takes
    slurm_job: str | None = None  # the id Slurm shows: <array job id>_<task id> for an array task

    @classmethod
    def this_process(cls) -> Owner:
        env = os.environ
        job_id = env.get("SLURM_JOB_ID") or None
        array_job, task = env.get("SLURM_ARRAY_JOB_ID"), env.get("SLURM_ARRAY_TASK_ID")
        return cls(
            host=socket.gethostname(),
            pid=os.getpid(),
            pid_start=process_start_time(os.getpid()),
            started=datetime.now().isoformat(timespec="seconds"),
            slurm_job_id=job_id,
            slurm_job=f"{array_job}_{task}" if job_id and array_job and task else job_id,
        )

    @classmethod
    def from_json(cls, text: bytes) -> Owner | None:
        """The owner written in a lock file, or None if the file is empty or unreadable."""
        try:
            data = json.loads(text)
            owner = cls(**{item.name: data[item.name] for item in fields(cls)})
        except (ValueError, TypeError, KeyError):
            return None
        return owner if isinstance(owner.host, str) and isinstance(owner.pid, int) and owner.pid > 0 else None

    def to_json(self) -> bytes:
        return (json.dumps(asdict(self)) + "\n").encode()

    def describe(self) -> str:
        slurm = f" (Slurm job {self.slurm_job})" if self.slurm_job else ""
        return f"pid {self.pid} on host {self.host}{slurm} since {self.started}"


def process_start_time(pid: int) -> int | None:
    """When process ``pid`` started (clock ticks after boot), or None if it does not run (or is a zombie)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    state, *rest = stat.rsplit(")", 1)[1].split()  # after the command name, which may hold spaces and ')'
    return None if state in ("Z", "X") else int(rest[18])  # field 22 of proc(5)


def is_running(pid: int, pid_start: int | None) -> bool:
    """Process ``pid`` of this host runs and, where its start time is known, is the one started then."""
    if Path("/proc/self/stat").is_file():
        start = process_start_time(pid)
        return start is not None and pid_start in (None, start)
    try:  # no /proc (macOS): only whether the pid exists
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return pid > 0


def slurm_job_alive(job_id: str) -> bool | None:
    """Whether Slurm job ``job_id`` is queued or running, by ``squeue``; None when squeue cannot tell."""
    squeue = shutil.which("squeue")
    if squeue is None:
        return None
    command = [squeue, "-h", "-j", job_id, "-o", "%T"]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=SQUEUE_TIMEOUT_S, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    if result.returncode != 0:  # a job Slurm has forgotten: "slurm_load_jobs error: Invalid job id specified"
        return False if "Invalid job id" in result.stderr else None
    return any(state in ALIVE for state in result.stdout.split())


def judge(owner: Owner, me: Owner) -> Verdict:
    """Whether the lock ``owner`` took still holds, as seen by ``me`` (the rules in the module docstring)."""
    local = owner.host == me.host
    if local and is_running(owner.pid, owner.pid_start):
        return "ours" if owner.pid == me.pid else "alive"
    if owner.slurm_job_id and owner.slurm_job_id == me.slurm_job_id:
        return "ours"
    if owner.slurm_job_id:
        alive = slurm_job_alive(owner.slurm_job_id)
        if alive is not None:
            return "alive" if alive else "gone"
    return "gone" if local else "unknown"


class RunLock:
    """``<run dir>/run.lock``, held by this process from ``acquire`` to ``release``; a context manager.

    ``acquire`` raises ConfigError (one line naming the dir and its owner) while another job holds it.
    """

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / LOCK_FILE
        self.owner: Owner | None = None

    def acquire(self) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        me = Owner.this_process()
        wait_until = time.monotonic() + EMPTY_LOCK_WAIT_S
        while True:
            with _flocked(self.path, create=True) as opened:
                if opened is not None and self._claim(*opened, me, wait_until):
                    self.owner = me
                    return
            time.sleep(0.05)  # released or being created meanwhile: look again

    def _claim(self, fd: int, created: bool, me: Owner, wait_until: float) -> bool:
        """Write ``me`` into the (flocked) lock file if its owner is gone; False: look again."""
        text = os.pread(fd, 1 << 16, 0)
        if not text and not created and time.monotonic() < wait_until:
            return False  # its creator has not written it yet
        previous = Owner.from_json(text)
        verdict = judge(previous, me) if previous else "gone"
        if previous and verdict in ("alive", "unknown"):
            unknown = f" (nothing here can check that host: if that process is gone, delete {self.path})"
            raise ConfigError(
                f"run dir {self.run_dir} is in use by {previous.describe()}{unknown if verdict == 'unknown' else ''}; "
                "wait for it or use another hydra.run.dir"
            )
        if verdict == "gone" and previous:
            log.warning("taking over %s from %s, which is gone", self.path, previous.describe())
        elif verdict == "gone" and not created:
            log.warning("taking over %s, which names no owner (its writer died writing it)", self.path)
        os.ftruncate(fd, 0)
        os.pwrite(fd, me.to_json(), 0)
        os.fsync(fd)
        return True

    def release(self) -> None:
        """Delete the lock file if it is still ours (a job that took over a lock it thought stale keeps it)."""
        if self.owner is None:
            return
        with _flocked(self.path, create=False) as opened:
            if opened is not None and Owner.from_json(os.pread(opened[0], 1 << 16, 0)) == self.owner:
                self.path.unlink()
        self.owner = None

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.release()


def hold_run_dir(run_dir: Path) -> contextlib.AbstractContextManager[object]:
    """The run dir's lock, taken by rank 0 only (the ranks of one DDP job share the dir); nothing on others."""
    return RunLock(run_dir) if rank_zero_only.rank == 0 else contextlib.nullcontext()


@contextlib.contextmanager
def _flocked(path: Path, create: bool) -> Iterator[tuple[int, bool] | None]:
    """``path`` opened and flocked: (fd, whether we created it); None when there is no such file, or it was
    deleted or replaced (by a release) while we waited for the flock."""
    created = False
    try:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644) if create else os.open(path, os.O_RDWR)
            created = create
        except FileExistsError:
            fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        yield None
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # released by os.close
        except OSError as error:
            if error.errno not in NO_FLOCK:
                raise
        try:
            current = os.path.samestat(os.fstat(fd), os.stat(path))
        except FileNotFoundError:
            current = False
        yield (fd, created) if current else None
    finally:
        os.close(fd)
