"""Register the sweepers' configs with Hydra's ConfigStore, so ``hydra/sweeper=optuna`` and
``hydra/sweeper=evolution`` (and ``hydra/sweeper/sampler=...``) work in any Hydra app, not only in
slimkit's train.py. Hydra imports every module of ``hydra_plugins`` when it discovers plugins.
The configs themselves are the YAML files next to this module."""

from __future__ import annotations

from pathlib import Path

from hydra.core.config_store import ConfigStore
from omegaconf import OmegaConf

CONF_DIR = Path(__file__).parent / "conf"


def register_configs() -> None:
    store = ConfigStore.instance()
    for name in ("optuna", "evolution"):
        store.store(
            group="hydra/sweeper", name=name, node=OmegaConf.load(CONF_DIR / f"{name}.yaml"), provider="slimkit"
        )
    for path in sorted((CONF_DIR / "sampler").glob("*.yaml")):
        store.store(group="hydra/sweeper/sampler", name=path.stem, node=OmegaConf.load(path), provider="slimkit")


register_configs()
