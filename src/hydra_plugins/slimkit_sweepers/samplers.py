"""Samplers adapted to the ask/tell loop of the Optuna sweeper."""

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
