"""Hydra's own sweeper test suites (shipped in hydra-core) run against slimkit's sweepers.

IntegrationTestSuite applies: it runs small apps of its own, in fresh processes, with our sweepers
selected (so their configs must come from the plugin's ConfigStore, not from slimkit's conf/), and
checks job names, sweep/job dirs and original-cwd handling. BatchedSweeperTestSuite does not apply:
it expects BasicSweeper's fixed enumeration of a grid for a task that returns no objective, while
these sweepers optimise the objective a task returns.
"""

from __future__ import annotations

import pytest
from hydra.core.plugins import Plugins
from hydra.plugins.sweeper import Sweeper
from hydra.test_utils.launcher_common_tests import IntegrationTestSuite

from hydra_plugins.slimkit_sweepers.evolution_sweeper import EvolutionSweeper
from hydra_plugins.slimkit_sweepers.optuna_sweeper import OptunaSweeper


def test_sweepers_are_discovered_as_hydra_plugins():
    names = {plugin.__name__ for plugin in Plugins.instance().discover(Sweeper)}
    assert {OptunaSweeper.__name__, EvolutionSweeper.__name__} <= names


@pytest.mark.parametrize(
    ("task_launcher_cfg", "extra_flags"),
    [
        pytest.param(
            {},
            ["-m", "hydra/sweeper=optuna", "hydra/launcher=basic", "hydra/hydra_logging=disabled"],
            id="optuna",
        ),
        pytest.param(
            {},
            ["-m", "hydra/sweeper=evolution", "hydra/launcher=basic", "hydra/hydra_logging=disabled"],
            id="evolution",
        ),
    ],
)
class TestSlimkitSweepersIntegration(IntegrationTestSuite):
    pass
