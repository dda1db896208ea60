"""Every sampler config of hydra/sweeper/sampler builds and optimises a toy objective through the
same ask/tell calls and distributions the Optuna sweeper uses."""

from __future__ import annotations

import optuna
import pytest
from hydra.core.config_store import ConfigStore
from hydra.utils import instantiate

from hydra_plugins.slimkit_sweepers import config  # noqa: F401 - registers the configs
from hydra_plugins.slimkit_sweepers.optuna_sweeper import to_distribution
from hydra_plugins.slimkit_sweepers.search_space import parse_search_space

SAMPLERS = ["tpe", "cmaes", "nsgaii", "random", "grid"]


def sampler_config(name: str):
    return ConfigStore.instance().load(f"hydra/sweeper/sampler/{name}.yaml").node


@pytest.mark.parametrize("name", SAMPLERS)
def test_sampler_configs_optimise_a_toy_objective(name):
    _, space = parse_search_space(["x=range(-4,5)", "y=range(-4,5)"])
    distributions = {key: to_distribution(parameter) for key, parameter in space.items()}
    extra = {"search_space": {key: p.discrete_values() for key, p in space.items()}} if name == "grid" else {}
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="minimize", sampler=instantiate(sampler_config(name), **extra))
    for _ in range(30):
        trial = study.ask(distributions)
        study.tell(trial, (trial.params["x"] - 2) ** 2 + (trial.params["y"] + 1) ** 2)
    assert study.best_value <= 2
    assert len({tuple(t.params.values()) for t in study.trials}) > 10


def test_grid_sampler_covers_the_grid_without_stopping_the_loop():
    _, space = parse_search_space(["x=1,2,3", "y=a,b"])
    distributions = {key: to_distribution(parameter) for key, parameter in space.items()}
    grid = {key: p.discrete_values() for key, p in space.items()}
    study = optuna.create_study(sampler=instantiate(sampler_config("grid"), search_space=grid))
    for _ in range(6):
        trial = study.ask(distributions)
        study.tell(trial, 0.0)  # Optuna's own GridSampler would raise here, at the last point
    assert sorted((t.params["x"], t.params["y"]) for t in study.trials) == [(x, y) for x in (1, 2, 3) for y in "ab"]
