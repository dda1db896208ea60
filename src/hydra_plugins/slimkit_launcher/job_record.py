"""The Slurm jobs a sweep submitted, kept in its sweep dir so that a rerun after a killed parent finds them.

One entry per sweep job number: the Slurm id, the job's overrides and whether a launcher collected its
result. A rerun of the same command asks for the same job numbers; an entry with the same overrides and
no collected result is a job of the killed run, which the launcher waits for instead of submitting again.
"""

import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

RECORD_FILE = Path(".submitit") / "jobs.json"


@dataclass
class SubmittedJob:
    job_num: int
    slurm_id: str
    overrides: list[str]
    collected: bool = False


class JobRecord:
    def __init__(self, sweep_dir: Path) -> None:
        self.path = sweep_dir / RECORD_FILE
        self.jobs: dict[int, SubmittedJob] = {}
        if self.path.is_file():
            for entry in json.loads(self.path.read_text()):
                job = SubmittedJob(**entry)
                self.jobs[job.job_num] = job

    def uncollected(self, job_num: int, overrides: Sequence[str]) -> SubmittedJob | None:
        """The earlier job submitted for this number with these overrides whose result nobody collected."""
        job = self.jobs.get(job_num)
        return job if job is not None and not job.collected and job.overrides == list(overrides) else None

    def add(self, jobs: Iterable[SubmittedJob]) -> None:
        for job in jobs:
            self.jobs[job.job_num] = job
        self.save()

    def mark_collected(self, job_nums: Iterable[int]) -> None:
        for number in job_nums:
            if number in self.jobs:
                self.jobs[number].collected = True
        self.save()

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(self.path.name + ".tmp")
        temporary.write_text(json.dumps([asdict(job) for job in sorted(self.jobs.values(), key=lambda j: j.job_num)]))
        os.replace(temporary, self.path)
