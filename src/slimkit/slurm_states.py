"""Slurm job states in which a job may still run or write (a requeued job passes through several of them):
one list for everything that asks Slurm whether a job is alive (the run-dir lock, the Slurm launcher)."""

ALIVE = frozenset(
    {
        "PENDING",
        "CONFIGURING",
        "RUNNING",
        "COMPLETING",
        "REQUEUED",
        "REQUEUE_FED",
        "REQUEUE_HOLD",
        "RESIZING",
        "SUSPENDED",
        "SIGNALING",
        "STAGE_OUT",
        "STOPPED",
    }
)
