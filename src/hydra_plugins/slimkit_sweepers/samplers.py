"""Samplers adapted to the ask/tell loop of the Optuna sweeper (``_target_`` of conf/sampler/grid.yaml).

Hydra imports every module of hydra_plugins at plugin discovery, on every ``python train.py``, so this
module must not import optuna: the sampler classes live in private modules (skipped by that scan) and
are imported on first access (PEP 562), i.e. when a sweep instantiates one.
"""

from __future__ import annotations


def __getattr__(name: str) -> type:
    if name == "AskTellGridSampler":
        from hydra_plugins.slimkit_sweepers._grid_sampler import AskTellGridSampler

        return AskTellGridSampler
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
