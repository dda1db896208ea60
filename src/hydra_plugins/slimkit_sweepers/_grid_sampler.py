"""AskTellGridSampler, reached as ``hydra_plugins.slimkit_sweepers.samplers.AskTellGridSampler``.

Its own module with a leading underscore because Hydra's plugin scan skips such modules: a subclass
of an Optuna class needs optuna at import time, which every ``python train.py`` would otherwise pay for.
"""

from __future__ import annotations

from collections.abc import Sequence

import optuna
from optuna.trial import FrozenTrial, TrialState


class AskTellGridSampler(optuna.samplers.GridSampler):
    """Optuna's GridSampler calls ``study.stop()`` once the grid is covered, which is only legal
    inside ``study.optimize``; the sweeper caps n_trials at the grid size and stops by itself."""

    def after_trial(
        self, study: optuna.Study, trial: FrozenTrial, state: TrialState, values: Sequence[float] | None
    ) -> None:
        return None
