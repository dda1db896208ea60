"""``hydra/launcher=slimkit_slurm``: hydra-submitit-launcher's Slurm settings plus how slimkit's launcher
treats jobs that end without a result. conf/hydra/launcher/slurm.yaml builds on it."""

from dataclasses import dataclass

from hydra.core.config_store import ConfigStore
from hydra_plugins.hydra_submitit_launcher.config import SlurmQueueConf

EARLIER_JOBS = ("wait", "cancel")


@dataclass
class SlimkitSlurmConf(SlurmQueueConf):
    _target_: str = "hydra_plugins.slimkit_launcher.slurm_launcher.SlimkitSlurmLauncher"
    # seconds between two questions to Slurm about the sweep's jobs (one sacct or squeue call for all)
    poll_interval_s: float = 10.0
    # a job that Slurm no longer lists (no accounting, or sacct forgot it) and that wrote no result for
    # this long is failed
    lost_grace_s: float = 120.0
    # a rerun finding jobs of an earlier, killed run of the same sweep still queued or running:
    # wait (collect their results instead of submitting duplicates) or cancel (then submit anew)
    earlier_jobs: str = "wait"


ConfigStore.instance().store(group="hydra/launcher", name="slimkit_slurm", node=SlimkitSlurmConf(), provider="slimkit")
