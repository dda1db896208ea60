"""``hydra/sweeper=optuna``: a Hydra sweeper on current Optuna, driven through ask/tell.

Resume is real: the study lives in storage (SQLite in the sweep dir by default), so rerunning the
same command with the same ``study_name`` continues until ``n_trials`` trials have finished in
total. Trials left RUNNING by a crash are marked FAIL and their parameters asked again; job numbers
continue after the highest existing job dir, which is never overwritten. Under the Slurm launcher, whose
jobs outlive a killed sweep, such trials are launched again at their own job numbers instead: the launcher
collects the earlier job if it is still running or finished, and otherwise resubmits it, resuming from its
last.ckpt. Infeasible candidates (``constraint``) are told PRUNED and never launched; failed jobs are told
FAIL; a job that ended without a result (cancelled, OOM-killed, node failure: ``slurm_state`` user attr)
is told FAIL and its parameters asked again.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from hydra.utils import instantiate
from omegaconf import DictConfig, ListConfig, OmegaConf

from hydra_plugins.slimkit_sweepers.common import SlimkitSweeper, job_values, lost_state
from hydra_plugins.slimkit_sweepers.optuna_report import write_report
from hydra_plugins.slimkit_sweepers.search_space import SearchParameter, as_override, parse_search_space

# optuna only where a sweep uses it: Hydra imports this module at plugin discovery, on every `python train.py`
if TYPE_CHECKING:
    import optuna
    from optuna.distributions import BaseDistribution

log = logging.getLogger(__name__)
FAILED_JOB = "job_failed"  # user attr on trials whose job ran and failed (they count towards n_trials)
INFEASIBLE = "infeasible"  # user attr on trials rejected by the constraint (never launched, not counted)
SLURM_STATE = "slurm_state"  # user attr on trials whose job ended without a result (asked again, not counted)


class OptunaSweeper(SlimkitSweeper):
    def __init__(
        self,
        sampler: DictConfig,
        study_name: str,
        direction: str | Sequence[str] = "maximize",
        storage: str | None = None,
        n_trials: int = 20,
        n_jobs: int = 1,
        params: DictConfig | None = None,
        constraint: DictConfig | None = None,
        max_failure_rate: float = 0.2,
        max_infeasible_per_trial: int = 100,
    ) -> None:
        super().__init__(constraint, max_failure_rate)
        self.sampler_cfg = sampler
        self.study_name = str(study_name)
        self.directions = [direction] if isinstance(direction, str) else list(direction)
        self.storage = storage
        self.n_trials = n_trials
        self.n_jobs = n_jobs
        self.params = OmegaConf.to_container(params) if params else {}
        self.max_infeasible_per_trial = max_infeasible_per_trial

    def sweep(self, arguments: list[str]) -> list[list[Any]]:
        import optuna

        fixed, space = parse_search_space(arguments, self.params, self.parser())
        if not space:
            return self.run_once(fixed)
        distributions = {key: to_distribution(parameter) for key, parameter in space.items()}
        self.save_multirun_config()
        study = self.open_study(space)
        next_job, failures = self.recover_crashed_trials(study, fixed)
        target = self.n_trials
        if isinstance(study.sampler, optuna.samplers.GridSampler):  # includes AskTellGridSampler
            target = min(target, _grid_size(space))
        returns: list[list[Any]] = []
        while (finished := count_finished(study)) < target:
            trials, batch = self.ask_feasible(study, distributions, fixed, min(self.n_jobs, target - finished))
            next_job = self.next_free_job_index(next_job)
            for offset, trial in enumerate(trials):
                trial.set_user_attr("job_num", next_job + offset)
            results = self.launch(batch, next_job)
            next_job += len(batch)
            failures += self.tell_results(study, trials, results)
            returns.append(list(results))
            self.check_failure_rate(failures, target)
        write_report(study, self.sweep_dir, self.objective_names())
        return returns

    def open_study(self, space: dict[str, SearchParameter]) -> optuna.Study:
        import optuna

        storage = self.storage or f"sqlite:///{(self.sweep_dir / 'optuna.db').resolve()}"
        study = optuna.create_study(
            study_name=self.study_name, storage=storage, directions=self.directions, load_if_exists=True
        )
        if [d.name.lower() for d in study.directions] != [d.lower() for d in self.directions]:
            raise ValueError(f"study {self.study_name} in {storage} was created with other directions")
        # a resumed study gets a sampler seeded past the trials it already has, so a seeded sampler
        # does not propose the first run's candidates again
        sampler_kwargs: dict[str, Any] = {}
        if self.sampler_cfg.get("seed") is not None:
            sampler_kwargs["seed"] = int(self.sampler_cfg.seed) + len(study.trials)
        if self.sampler_cfg._target_.endswith("GridSampler"):
            sampler_kwargs["search_space"] = {key: p.discrete_values() for key, p in space.items()}
        study.sampler = instantiate(self.sampler_cfg, **sampler_kwargs)
        with warnings.catch_warnings():  # set_metric_names is "experimental" in Optuna
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names(self.objective_names())
        log.info("study %s in %s: %d trial(s) so far", self.study_name, storage, len(study.trials))
        return study

    def tell_results(self, study: optuna.Study, trials: Sequence[optuna.Trial], results: Sequence[Any]) -> int:
        """Tell each trial its job's outcome; the number of failed jobs."""
        from optuna.trial import TrialState

        failures = 0
        for trial, result in zip(trials, results, strict=True):
            values = job_values(result)
            slurm_state = lost_state(result)
            if slurm_state is not None:
                trial.set_user_attr(SLURM_STATE, slurm_state)
                study.tell(trial, state=TrialState.FAIL)
                study.enqueue_trial(trial.params, skip_if_exists=False)
                log.warning("trial %d: its job ended %s without a result; asking it again", trial.number, slurm_state)
            elif values is None or len(values) != len(self.directions):
                if values is not None:
                    log.warning("job returned %d value(s) for %d direction(s)", len(values), len(self.directions))
                trial.set_user_attr(FAILED_JOB, True)
                study.tell(trial, state=TrialState.FAIL)
            else:
                study.tell(trial, list(values) if len(values) > 1 else values[0])
                continue
            failures += 1
        return failures

    def recover_crashed_trials(self, study: optuna.Study, fixed: list[str]) -> tuple[int, int]:
        """Settle the trials a killed sweep left RUNNING; (the next job number, failed jobs among them).

        Where jobs outlive the sweep (Slurm), each is launched again at its own job number, so the launcher
        collects the earlier job instead of running a duplicate; elsewhere it is marked FAIL and asked again.
        """
        import optuna
        from optuna.trial import TrialState

        next_job = 0
        running: list[optuna.trial.FrozenTrial] = []
        for trial in study.get_trials(deepcopy=False):
            next_job = max(next_job, int(trial.user_attrs.get("job_num", -1)) + 1)
            if trial.state != TrialState.RUNNING:
                continue
            if getattr(self.launcher, "jobs_outlive_the_sweep", False) and "job_num" in trial.user_attrs:
                running.append(trial)
                continue
            log.warning("trial %d was left running by an earlier sweep: asking it again", trial.number)
            study.enqueue_trial(trial.params, skip_if_exists=False)
            study.tell(trial.number, state=TrialState.FAIL)
        failures = 0
        for group in consecutive_job_numbers(running):
            numbers = [trial.number for trial in group]
            log.warning("trials %s were left running by an earlier sweep: collecting their jobs", numbers)
            batch = [fixed + [as_override(key, value) for key, value in trial.params.items()] for trial in group]
            results = self.launch(batch, int(group[0].user_attrs["job_num"]))
            live = [optuna.trial.Trial(study, trial._trial_id) for trial in group]  # tell-able from this process
            failures += self.tell_results(study, live, results)
        return next_job, failures

    def ask_feasible(
        self, study: optuna.Study, distributions: dict[str, BaseDistribution], fixed: list[str], count: int
    ) -> tuple[list[optuna.Trial], list[list[str]]]:
        """``count`` trials whose configs pass the constraint; infeasible ones are told PRUNED."""
        from optuna.trial import TrialState

        trials, batch, rejected = [], [], 0
        while len(trials) < count:
            trial = study.ask(distributions)
            overrides = fixed + [as_override(key, value) for key, value in trial.params.items()]
            feasible, costs = self.check_constraint(overrides)
            for name, value in costs.items():
                trial.set_user_attr(name, value)
            if feasible:
                trials.append(trial)
                batch.append(overrides)
                continue
            trial.set_user_attr(INFEASIBLE, True)
            study.tell(trial, state=TrialState.PRUNED)
            rejected += 1
            if rejected > self.max_infeasible_per_trial * count:
                raise RuntimeError(f"{rejected} candidates in a row violated the constraint; relax it or the space")
        if rejected:
            log.info("rejected %d infeasible candidate(s) before launch", rejected)
        return trials, batch

    def objective_names(self) -> list[str]:
        assert self.config is not None
        objective = self.config.get("objective", "objective")
        names = list(objective) if isinstance(objective, ListConfig | list) else [str(objective)]
        return names if len(names) == len(self.directions) else [f"objective_{i}" for i in range(len(self.directions))]


def consecutive_job_numbers(trials: list[optuna.trial.FrozenTrial]) -> list[list[optuna.trial.FrozenTrial]]:
    """Trials grouped into runs of consecutive job numbers (each run was one launcher batch)."""
    groups: list[list[optuna.trial.FrozenTrial]] = []
    for trial in sorted(trials, key=lambda t: int(t.user_attrs["job_num"])):
        if groups and int(trial.user_attrs["job_num"]) == int(groups[-1][-1].user_attrs["job_num"]) + 1:
            groups[-1].append(trial)
        else:
            groups.append([trial])
    return groups


def count_finished(study: optuna.Study) -> int:
    """Trials that count towards n_trials: completed, or launched and failed (not crashed, not infeasible)."""
    from optuna.trial import TrialState

    return sum(
        trial.state == TrialState.COMPLETE
        or (trial.state == TrialState.FAIL and bool(trial.user_attrs.get(FAILED_JOB)))
        for trial in study.get_trials(deepcopy=False)
    )


def to_distribution(parameter: SearchParameter) -> BaseDistribution:
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    if parameter.kind == "choice":
        return CategoricalDistribution(parameter.choices)
    if parameter.kind == "int":
        return IntDistribution(
            int(parameter.low), int(parameter.high), log=parameter.log, step=int(parameter.step or 1)
        )
    step = None if parameter.log else parameter.step
    return FloatDistribution(float(parameter.low), float(parameter.high), log=parameter.log, step=step)


def _grid_size(space: dict[str, SearchParameter]) -> int:
    size = 1
    for parameter in space.values():
        size *= len(parameter.discrete_values())
    return size
