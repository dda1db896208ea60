"""What Slurm says about a sweep's jobs, asked once per poll for all of them.

``sacct`` when the cluster keeps accounting (it knows how a job ended: CANCELLED, OUT_OF_MEMORY, NODE_FAIL,
TIMEOUT, ...); where ``sacct`` fails, ``squeue``, which only knows the jobs still queued or running. A job
that neither lists is ``GONE`` (and ``UNKNOWN`` when Slurm did not answer): the launcher decides how long to
wait for its result.
"""

from __future__ import annotations

import getpass
import logging
import re
import subprocess
from collections.abc import Iterable

log = logging.getLogger(__name__)

GONE = "GONE"  # listed by neither sacct nor squeue: left the queue unseen (or not yet recorded)
COMMAND_TIMEOUT_S = 60
_RANGE = re.compile(r"^(\d+)_\[([^\]]+)\]$")


class SlurmStates:
    """``states(job_ids) -> {job_id: STATE}`` for ids like ``123`` or ``123_4`` (array tasks).

    The first time ``sacct`` fails, one warning says so and every later poll of this sweep uses
    ``squeue`` without warning again (a cluster without accounting stays without it).
    """

    def __init__(self) -> None:
        self.accounting = True

    def states(self, job_ids: Iterable[str]) -> dict[str, str]:
        wanted = sorted(set(job_ids))
        if not wanted:
            return {}
        if self.accounting:
            found = self._from_sacct(wanted)
            if found is not None:
                return found
        return self._from_squeue(wanted)

    def _from_sacct(self, job_ids: list[str]) -> dict[str, str] | None:
        arrays = sorted({job_id.split("_")[0] for job_id in job_ids})
        command = ["sacct", "-X", "-n", "-P", "-o", "JobID,State", "-j", ",".join(arrays)]
        output = _run(command)
        if output is None:
            self.accounting = False
            log.warning(
                "sacct does not answer (no accounting on this cluster?): job states come from squeue, and a "
                "job that leaves the queue without a result is failed after hydra.launcher.lost_grace_s"
            )
            return None
        return _wanted(parse_listing(output), job_ids, missing=GONE)

    def _from_squeue(self, job_ids: list[str]) -> dict[str, str]:
        output = _run(["squeue", "-h", "-r", "-o", "%i|%T", "-u", getpass.getuser()])
        if output is None:  # the controller is busy or down: say nothing new about any job
            return dict.fromkeys(job_ids, "UNKNOWN")
        return _wanted(parse_listing(output), job_ids, missing=GONE)


def parse_listing(output: str) -> dict[str, str]:
    """``JobID|State`` lines -> {job id: first word of the state}; ``123_[0-3%2]`` ranges expanded."""
    states: dict[str, str] = {}
    for line in output.splitlines():
        job_id, _, state = line.strip().partition("|")
        if not job_id or "." in job_id or not state:
            continue
        word = state.split()[0].rstrip("+").upper()  # "CANCELLED by 0", "CANCELLED+"
        pending = _RANGE.match(job_id)
        if pending is None:
            states[job_id] = word
            continue
        array, ranges = pending.group(1), pending.group(2).split("%")[0]
        for part in ranges.split(","):
            first, _, last = part.partition("-")
            for task in range(int(first), int(last or first) + 1):
                states[f"{array}_{task}"] = word
    return states


def _wanted(states: dict[str, str], job_ids: list[str], missing: str) -> dict[str, str]:
    return {job_id: states.get(job_id, missing) for job_id in job_ids}


def _run(command: list[str]) -> str | None:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as error:
        log.debug("%s: %s", command[0], error)
        return None
    if done.returncode != 0:
        log.debug("%s exited %d: %s", command[0], done.returncode, done.stderr.strip())
        return None
    return done.stdout
