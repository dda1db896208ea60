"""``hydra/sweeper=evolution``: slimkit's evolutionary search where every candidate is a Hydra job.

One launcher batch per generation (so with ``hydra/launcher=slurm`` a generation is one job
array). The search state, RNG included, is saved in the sweep dir after every generation; rerunning
the same command (same ``study_name``, hence the same sweep dir) continues where it stopped. Job
numbers continue after the highest existing job dir, so no job dir is ever overwritten; under the Slurm
launcher, whose jobs outlive a killed sweep, the interrupted generation keeps its job numbers so that the
launcher collects its jobs instead of running duplicates. A candidate whose job ended without a result
(cancelled, OOM-killed, node failure) is dropped from its generation, said in the log.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from hydra_plugins.slimkit_sweepers.common import SlimkitSweeper, job_values, lost_state
from hydra_plugins.slimkit_sweepers.evolution_report import write_report
from hydra_plugins.slimkit_sweepers.search_space import as_override, parse_search_space
from slimkit.search import Candidate, EvolutionSearch, EvolutionSearchSettings, SearchSpace
from slimkit.settings import build_settings

log = logging.getLogger(__name__)
STATE_FILE = "evolution_state.json"
PENDING_FILE = "evolution_pending.json"  # the generation being evaluated: its first job number and overrides


class EvolutionSweeper(SlimkitSweeper):
    def __init__(
        self,
        study_name: str,
        params: DictConfig | None = None,
        constraint: DictConfig | None = None,
        max_failure_rate: float = 0.2,
        **search_settings: Any,
    ) -> None:
        """``search_settings`` are EvolutionSearch's own (population_size, generations, top_k, ...:
        see conf/evolution.yaml), checked here by their types (EvolutionSearchSettings): a bad one is one line."""
        super().__init__(constraint, max_failure_rate)
        self.study_name = str(study_name)
        self.settings = build_settings(EvolutionSearchSettings, search_settings, "hydra.sweeper")
        self.params = OmegaConf.to_container(params) if params else {}

    def sweep(self, arguments: list[str]) -> list[list[Any]]:
        fixed, parameters = parse_search_space(arguments, self.params, self.parser())
        if not parameters:
            return self.run_once(fixed)
        space = SearchSpace({key: parameter.discrete_values() for key, parameter in parameters.items()})
        self.save_multirun_config()
        search = self.open_search(space, fixed)
        returns: list[list[Any]] = []
        failures = 0
        planned = search.settings.population_size * search.settings.generations
        while not search.finished:
            candidates = search.ask()
            if not candidates:
                break
            batch = [self.overrides(fixed, candidate) for candidate in candidates]
            results = self.launch(batch, self.first_job_index(batch))
            for candidate, result in zip(candidates, results, strict=True):
                values = job_values(result)
                slurm_state = lost_state(result)
                if slurm_state is not None:
                    log.warning("candidate %s dropped: its job ended %s without a result", dict(candidate), slurm_state)
                if values is not None and len(values) != 1:
                    raise ValueError("the evolution sweeper optimises one objective; the job returned several")
                failures += values is None
                search.tell(candidate, None if values is None else values[0])
            search.save(self.state_path)
            (self.sweep_dir / PENDING_FILE).unlink(missing_ok=True)
            returns.append(list(results))
            self.check_failure_rate(failures, planned)
        write_report(search, self.sweep_dir)
        return returns

    def first_job_index(self, batch: list[list[str]]) -> int:
        """The generation's first job number: the interrupted run's when its jobs may still be running."""
        pending = self.sweep_dir / PENDING_FILE
        if getattr(self.launcher, "jobs_outlive_the_sweep", False) and pending.is_file():
            earlier = json.loads(pending.read_text())
            if earlier["batch"] == batch:
                return int(earlier["first_job"])
        first = self.next_free_job_index()
        pending.write_text(json.dumps({"first_job": first, "batch": batch}))
        return first

    @property
    def state_path(self) -> Path:
        return self.sweep_dir / STATE_FILE

    def open_search(self, space: SearchSpace, fixed: list[str]) -> EvolutionSearch:
        def feasible(values: dict[str, Any]) -> bool:
            return self.check_constraint(self.overrides(fixed, Candidate(values)))[0]

        constraint = feasible if self.constraint is not None else None
        if not self.state_path.is_file():
            return EvolutionSearch(space, constraint=constraint, **asdict(self.settings))
        search = EvolutionSearch.load(self.state_path, constraint=constraint)
        if search.space.to_dict() != space.to_dict():
            raise ValueError(f"{self.state_path} holds a search over another space; use another study_name")
        log.info("resuming the search in %s at generation %d", self.state_path, search.generation)
        return search

    @staticmethod
    def overrides(fixed: list[str], candidate: Candidate) -> list[str]:
        return fixed + [as_override(key, value) for key, value in candidate.items()]
