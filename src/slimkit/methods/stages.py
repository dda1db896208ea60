"""A method's stages, declared once: what each needs and produces, run in order, resumable.

``StagePlan`` runs the stages a user selects (``method.stage=<name>|all``) in their declared order. A stage
that needs a product of a stage that does not run gets it from a reusable producer (a training stage whose
file this run finished, or another run's file given by a setting) or fails with one line naming what is
missing and the setting that supplies it; the check runs when the runner is built, before anything is
written, wherever settings alone decide it. Metrics of a stage marked ``prefix`` are reported under
``<stage>/...``.

``StageRunner`` trains one stage, so that a killed job resumes where it stopped. A finished stage leaves
``stages/<name>.pt`` (the module's weights and the stage's test metrics);
a rerun loads it instead of training again. An unfinished stage resumes from the run's
``checkpoints/last.ckpt``, which is removed when its stage finishes, so it always belongs to the
stage in progress. Stage files carry a fingerprint of the config that made them (method, model,
data, seed): a rerun with other settings in the same folder is refused instead of silently reusing them.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import lightning as L
import torch
from omegaconf import DictConfig, OmegaConf

from slimkit.errors import ConfigError
from slimkit.run_context import RunContext

log = logging.getLogger(__name__)
ALL = "all"
Products = dict[str, Any]


@dataclass(frozen=True)
class Stage:
    """One named step of a method: the work (which may add to ``products``), what it needs and makes."""

    name: str
    work: Callable[[StageRunner, Products], dict[str, float]]
    needs: tuple[str, ...] = ()
    produces: tuple[str, ...] = ()
    reusable: bool = False  # a training stage: a finished stage file (or a given one) supplies its products
    prefix: bool = False  # report its metrics as <name>/<metric>
    in_all: bool = True  # part of method.stage=all (an extra analysis is run only by name)


class StagePlan:
    """The stages of a method and the one a user selected (or all), checked against what they need.

    ``supplied`` names the products that settings provide (``method.architecture``, ``method.supernet``);
    ``how`` says, per product, what it is and which setting supplies it, for the error line.
    """

    def __init__(
        self,
        stages: Sequence[Stage],
        selected: str,
        how: Mapping[str, str],
        supplied: Collection[str] = (),
    ) -> None:
        names = [stage.name for stage in stages]
        if selected != ALL and selected not in names:
            raise ConfigError(f"method.stage={selected} is not a stage; choose one of: {', '.join([*names, ALL])}")
        self.stages = list(stages)
        self.selected = selected
        self.how = dict(how)
        self.supplied = set(supplied)
        self.to_run = [s for s in stages if s.name == selected or (selected == ALL and s.in_all)]
        made: set[str] = set()
        for stage in self.to_run:
            for need in stage.needs:
                if need not in made and need not in self.supplied and not self._reusable(need):
                    raise self._missing(need)
            made |= set(stage.produces)

    def run(self, files: StageRunner, products: Products) -> dict[str, float]:
        """Run the selected stages in order. ``products`` is what stages share: what the runner puts there
        (settings' values, tables every stage uses) and what each stage makes."""
        metrics: dict[str, float] = {}
        for stage in self.to_run:
            for need in stage.needs:
                if need in products:
                    continue
                if not (self._reusable(need) and (need in self.supplied or files.done(self._producer(need).name))):
                    raise self._missing(need)
                metrics |= self._work(self._producer(need), files, products)
            metrics |= self._work(stage, files, products)
        return metrics

    def _work(self, stage: Stage, files: StageRunner, products: Products) -> dict[str, float]:
        found = stage.work(files, products)
        return prefixed(stage.name, found) if stage.prefix else found

    def _producer(self, product: str) -> Stage | None:
        return next((stage for stage in self.stages if product in stage.produces), None)

    def _reusable(self, product: str) -> bool:
        """A training stage makes it: a finished or given stage file can stand in for running that stage."""
        producer = self._producer(product)
        return producer is not None and producer.reusable

    def _missing(self, product: str) -> ConfigError:
        return ConfigError(f"method.stage={self.selected} needs {self.how[product]}")


def prefixed(stage: str, metrics: Mapping[str, float]) -> dict[str, float]:
    """``test/acc`` of stage ``supernet`` -> ``supernet/test_acc``."""
    return {f"{stage}/{name.replace('/', '_')}": value for name, value in metrics.items()}


class StageRunner:
    def __init__(self, context: RunContext) -> None:
        self.context = context
        self.stage_dir = context.output_dir / "stages"
        self.checkpoint_dir = context.output_dir / "checkpoints"
        self.fingerprint = config_fingerprint(context.cfg)

    def done(self, name: str) -> bool:
        return (self.stage_dir / f"{name}.pt").is_file()

    def fit(self, name: str, module: L.LightningModule, epochs: int, **trainer_overrides: object) -> dict[str, float]:
        """Train ``module`` for ``epochs`` (or load the finished stage); its test metrics, best checkpoint."""
        saved = self.stage_dir / f"{name}.pt"
        if saved.is_file():
            state = torch.load(saved, map_location="cpu", weights_only=True)
            if state.get("fingerprint") != self.fingerprint:
                raise ConfigError(
                    f"{saved} was made with other method/model/data settings; use a new output folder or delete it"
                )
            try:
                module.load_state_dict(state["module"])
            except RuntimeError as error:  # same settings, another network: made by another version of the code
                raise ConfigError(f"{saved} does not fit this stage's network ({mismatch(error)}); delete it") from None
            log.info("stage %s: finished earlier, loaded %s", name, saved)
            return state["metrics"]
        last = self.checkpoint_dir / "last.ckpt"
        resume = str(last) if last.is_file() and self.context.cfg.get("resume", True) else None
        log.info("stage %s: %d epochs%s", name, epochs, f", resuming from {resume}" if resume else "")
        trainer = self.context.build_trainer(max_epochs=epochs, **trainer_overrides)
        trainer.fit(module, datamodule=self.context.datamodule, ckpt_path=resume, weights_only=True)
        metrics = self.context.test_best(trainer, module)
        if trainer.is_global_zero:
            self.stage_dir.mkdir(parents=True, exist_ok=True)
            partial = saved.with_suffix(".tmp")
            torch.save({"module": module.state_dict(), "metrics": metrics, "fingerprint": self.fingerprint}, partial)
            partial.replace(saved)  # atomic: a kill leaves either no stage file or a whole one
            for checkpoint in ("last.ckpt", "best.ckpt"):
                (self.checkpoint_dir / checkpoint).unlink(missing_ok=True)
        trainer.strategy.barrier()
        return metrics

    def train_or_load(
        self,
        name: str,
        module: L.LightningModule,
        epochs: int,
        given: str | None,
        option: str,
        what: str,
        **trainer_overrides: object,
    ) -> dict[str, float]:
        """The stage's module from another run's stage file ``given`` (no metrics: none were measured here), else
        trained as stage ``name`` (resumed, or loaded when finished)."""
        if given:
            load_stage_file(module, given, option, what)
            return {}
        return self.fit(name, module, epochs, **trainer_overrides)

    def test(self, module: L.LightningModule) -> dict[str, float]:
        """Test metrics of ``module`` as it is (no training)."""
        trainer = self.context.build_trainer(max_epochs=1)
        results = trainer.test(module, datamodule=self.context.datamodule, weights_only=True)
        return {name: float(value) for name, value in results[0].items()}


def load_stage_file(module: L.LightningModule, file: str, option: str, what: str) -> None:
    """Weights from another run's stage file (``stages/<name>.pt``) or a plain state dict, with one clear
    line when they do not fit ``module`` (given by ``option``, e.g. method.supernet)."""
    state = torch.load(file, map_location="cpu", weights_only=True)
    try:
        module.load_state_dict(state.get("module", state))
    except RuntimeError as error:
        raise ConfigError(f"{option}={file} is not {what}: {mismatch(error)}") from None


def mismatch(error: RuntimeError) -> str:
    """The first thing ``load_state_dict`` found wrong (its first line only says that something was)."""
    lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()]
    return lines[1] if len(lines) > 1 else lines[0]


def config_fingerprint(cfg: DictConfig) -> str:
    """A hash of what decides a stage's result: the method, model and data configs and the seed."""
    resolved = OmegaConf.to_container(cfg, resolve=True)
    parts = {key: resolved.get(key) for key in ("method", "model", "data", "seed")}
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]
