"""The end of an Optuna sweep: optimization_results.yaml and plots (history, Pareto front).

optuna and matplotlib are imported inside the functions: Hydra imports this module at plugin discovery,
on every ``python train.py``, and they would cost more than the rest of a ``--cfg job`` together.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from omegaconf import OmegaConf

if TYPE_CHECKING:
    import optuna

log = logging.getLogger(__name__)


def write_report(study: optuna.Study, sweep_dir: Path, objective_names: list[str]) -> Path:
    """Write optimization_results.yaml (best trial, or the Pareto front) and PNG plots; return the yaml path."""
    from optuna.trial import TrialState

    completed = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    results: dict = {
        "name": "optuna",
        "study_name": study.study_name,
        "directions": [direction.name.lower() for direction in study.directions],
        "objectives": objective_names,
        "trials": {state.name.lower(): len(study.get_trials(deepcopy=False, states=(state,))) for state in TrialState},
    }
    if completed and len(study.directions) == 1:
        best = study.best_trial
        results.update(best_params=best.params, best_value=best.value, best_job=best.user_attrs.get("job_num"))
    elif completed:
        results["pareto_front"] = [
            {"params": t.params, "values": t.values, "job": t.user_attrs.get("job_num")} for t in study.best_trials
        ]
    path = sweep_dir / "optimization_results.yaml"
    OmegaConf.save(OmegaConf.create(results), path)
    if completed:
        _save_plots(study, sweep_dir, objective_names)
    log.info("wrote %s", path)
    return path


def _save_plots(study: optuna.Study, sweep_dir: Path, objective_names: list[str]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import optuna

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        if len(study.directions) == 1:
            axes = optuna.visualization.matplotlib.plot_optimization_history(study, target_name=objective_names[0])
        else:
            axes = optuna.visualization.matplotlib.plot_optimization_history(
                study, target=lambda trial: trial.values[0], target_name=objective_names[0]
            )
        _save(axes, sweep_dir / "optimization_history.png")
        if len(study.directions) > 1:
            axes = optuna.visualization.matplotlib.plot_pareto_front(study, target_names=objective_names)
            _save(axes, sweep_dir / "pareto_front.png")


def _save(axes: object, path: Path) -> None:
    import matplotlib.pyplot as plt

    figure = axes.figure if hasattr(axes, "figure") else axes[0].figure  # type: ignore[index,union-attr]
    figure.set_size_inches(8, 5)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
