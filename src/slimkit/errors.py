"""Errors a user can cause with a config or a command line, and sweep failures worth one line."""


class ConfigError(Exception):
    """A bad override, an impossible combination or a missing input: reported as one line, exit 2."""


class JobLostError(Exception):
    """A sweep job that ended without a result: cancelled, killed (OOM), its node failed, its time ran out,
    or it left the queue unseen. ``slurm_state`` is what Slurm reported (``LOST`` when it no longer knew)."""

    def __init__(self, message: str, slurm_state: str) -> None:
        super().__init__(message)
        self.slurm_state = slurm_state


class SweepFailedError(Exception):
    """A sweep stopped because too many of its jobs failed (``max_failure_rate``)."""
