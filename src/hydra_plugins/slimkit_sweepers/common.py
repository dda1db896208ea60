"""What both slimkit sweepers share: launcher setup, candidate configs, the pre-launch
constraint, job numbering that never reuses a job dir, and reading job results."""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.plugins import Plugins
from hydra.core.utils import JobReturn, JobStatus
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf, open_dict

from slimkit.errors import JobLostError, SweepFailedError

log = logging.getLogger(__name__)
Constraint = Callable[[DictConfig], "tuple[bool, dict[str, Any]] | bool"]


class SlimkitSweeper(Sweeper):
    """Base class: subclasses implement ``sweep``."""

    def __init__(self, constraint: DictConfig | None = None, max_failure_rate: float = 0.2) -> None:
        self.constraint_cfg = constraint
        self.max_failure_rate = max_failure_rate
        self.config: DictConfig | None = None
        self.hydra_context: HydraContext | None = None
        self.launcher = None
        self.constraint: Constraint | None = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.config = config
        self.hydra_context = hydra_context
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )
        self.constraint = instantiate(self.constraint_cfg) if self.constraint_cfg else None

    @property
    def sweep_dir(self) -> Path:
        assert self.config is not None
        return Path(self.config.hydra.sweep.dir)

    def parser(self) -> OverridesParser:
        assert self.hydra_context is not None
        return OverridesParser.create(config_loader=self.hydra_context.config_loader)

    def save_multirun_config(self) -> None:
        self.sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(self.config, self.sweep_dir / "multirun.yaml")

    def job_config(self, overrides: Sequence[str]) -> DictConfig:
        """The task config a job with these overrides would get (composition errors raise here)."""
        assert self.hydra_context is not None and self.config is not None
        cfg = self.hydra_context.config_loader.load_sweep_config(self.config, list(overrides))
        with open_dict(cfg):
            del cfg["hydra"]
        return cfg

    def check_constraint(self, overrides: Sequence[str]) -> tuple[bool, dict[str, Any]]:
        """(feasible, costs) from the configured constraint; always feasible without one."""
        if self.constraint is None:
            return True, {}
        verdict = self.constraint(self.job_config(overrides))
        return verdict if isinstance(verdict, tuple) else (bool(verdict), {})

    def next_free_job_index(self, at_least: int = 0) -> int:
        """The first job number whose directory does not exist yet (never overwrite a job dir)."""
        numbers = [int(path.name) for path in self.sweep_dir.glob("*") if re.fullmatch(r"\d+", path.name)]
        return max([at_least, *(number + 1 for number in numbers)])

    def run_once(self, fixed: list[str]) -> list[list[JobReturn]]:
        """No search space: there is nothing to optimise, so run the one job the command describes."""
        log.warning("no search space given (key=a,b / choice / range / interval): running a single job")
        self.save_multirun_config()
        return [list(self.launch([fixed], self.next_free_job_index()))]

    def launch(self, batch: Sequence[Sequence[str]], first_job_index: int) -> Sequence[JobReturn]:
        assert self.launcher is not None
        log.info("launching %d job(s) from job %d", len(batch), first_job_index)
        return self.launcher.launch([list(overrides) for overrides in batch], initial_job_idx=first_job_index)

    def check_failure_rate(self, failures: int, planned: int) -> None:
        """Stop once more jobs failed than ``max_failure_rate`` of the planned ones, rounded up (so a small
        sweep survives one failure unless the rate is 0)."""
        allowed = math.ceil(self.max_failure_rate * planned - 1e-9)
        if failures > allowed:
            raise SweepFailedError(
                f"{failures} job(s) failed, more than max_failure_rate={self.max_failure_rate} of {planned} "
                f"planned allows ({allowed}); see the failed jobs' logs in the sweep dir"
            )


def lost_state(result: JobReturn) -> str | None:
    """The Slurm state of a job that ended without a result (the launcher said so already), else None."""
    error = result._return_value
    return error.slurm_state if result.status == JobStatus.FAILED and isinstance(error, JobLostError) else None


def job_values(result: JobReturn) -> tuple[float, ...] | None:
    """The job's objective as a tuple of floats, or None when it failed or returned nothing usable."""
    if result.status != JobStatus.COMPLETED:
        if lost_state(result) is None:
            log.warning("job %s failed: %s", result.overrides, result._return_value)
        return None
    value = result.return_value
    values = tuple(value) if isinstance(value, list | tuple) else (value,)
    try:
        floats = tuple(float(item) for item in values)
    except (TypeError, ValueError):
        log.warning("job %s returned %r, not a number", result.overrides, value)
        return None
    return None if any(math.isnan(item) for item in floats) else floats
