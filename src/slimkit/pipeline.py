"""One job: check the config -> record it -> run the method's stages -> write results.json.

Nothing is written before the checks pass, so a bad command never touches an earlier run.
The pipeline knows nothing about particular methods: ``cfg.method.runner`` builds an object
whose ``run(context)`` returns the final metrics.
"""

from __future__ import annotations

import json
import logging
import os
import time
import warnings
from pathlib import Path
from typing import Any

import lightning as L
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.errors import InstantiationException
from hydra.types import RunMode
from hydra.utils import get_class, instantiate
from lightning.pytorch.utilities import rank_zero_only
from lightning.pytorch.utilities.exceptions import SIGTERMException
from omegaconf import DictConfig, OmegaConf

from slimkit.config_checks import INJECTED_ARGUMENTS, check_ddp_launch, check_target_node, typed_arguments
from slimkit.errors import ConfigError
from slimkit.loggers import close_loggers
from slimkit.run_context import RunContext, build_model
from slimkit.run_lock import hold_run_dir

log = logging.getLogger(__name__)
RESULTS_FILE = "results.json"
LAST_CHECKPOINT = Path("checkpoints") / "last.ckpt"
EXIT_SIGTERM = 143


def run(cfg: DictConfig) -> float | tuple[float, ...]:
    """Run the job described by ``cfg`` in ``cfg.paths.output_dir``; return its objective."""
    output_dir = Path(cfg.paths.output_dir)
    _log_lightning_once()
    _quiet_lightning()
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    datamodule, runner = check_config(cfg)
    resume_from = find_resume_checkpoint(cfg, output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    with hold_run_dir(output_dir):  # one job writes a run dir: a second one stops here with one line
        if rank_zero_only.rank == 0:
            record_config(cfg, output_dir)
        if resume_from:
            log.info("resuming from %s", resume_from)
        context = RunContext(cfg=cfg, output_dir=output_dir, datamodule=datamodule, resume_from=resume_from)
        started = time.time()
        failed = True
        try:
            metrics = runner.run(context)
            failed = False
        except SIGTERMException:
            log.warning("stopped by SIGTERM; rerun the same command to resume from %s", output_dir / LAST_CHECKPOINT)
            raise SystemExit(EXIT_SIGTERM) from None
        finally:
            close_loggers(failed)
        return write_results(cfg, output_dir, metrics, time.time() - started, resume_from)


def _log_lightning_once() -> None:
    """The ``lightning`` package adds its own console handler; under Hydra the root logger (console
    and the job's log file) already gets Lightning's records, so drop it to avoid every line twice."""
    if logging.getLogger().handlers:
        logging.getLogger("lightning").handlers.clear()


# Lightning's info lines that tell a user nothing about their run: advertisements (litlogger, litmodels) and
# that it keeps slimkit's model summary (conf/callbacks) instead of adding its own
LIGHTNING_NOISE = ("💡 Tip:", "Trainer already configured with model summary callbacks")


def _drop_lightning_noise(record: logging.LogRecord) -> bool:
    return not str(record.msg).startswith(LIGHTNING_NOISE)


def _quiet_lightning() -> None:
    """Silence what is noise on the console: LIGHTNING_NOISE, a deprecation inside Lightning's own pytree
    helper on current torch, and the note that ``test(ckpt_path="best")`` uses the first checkpoint
    callback (the best one, by conf/callbacks)."""
    logging.getLogger("lightning.pytorch.utilities.rank_zero").addFilter(_drop_lightning_noise)  # once: same object
    warnings.filterwarnings("ignore", r"`isinstance\(treespec, LeafSpec\)` is deprecated", FutureWarning)
    warnings.filterwarnings("ignore", r"`\.test\(ckpt_path=\"best\"\)` is called with Trainer configured with multiple")


# keys of a method's config that are not its runner's settings: the checkpoint metric (``monitor``,
# ``monitor_mode``) and default ``objective`` a method reports in (see conf/callbacks and conf/train.yaml)
METHOD_KEYS = ("name", "task", "runner", "monitor", "monitor_mode", "objective")


def check_config(cfg: DictConfig) -> tuple[L.LightningDataModule, Any]:
    """Check every part of the config and build the datamodule and the method's runner.

    Raises ConfigError (one line for the user) on any problem; writes nothing.
    """
    for group in ("data", "model", "trainer"):
        if "_target_" not in (cfg.get(group) or {}):
            raise ConfigError(f"{group} has no _target_: pick an option of the '{group}' config group")
    for path in ("data", "model", "trainer", "method.runner"):
        check_target_node(OmegaConf.select(cfg, path), path, INJECTED_ARGUMENTS.get(path, set()))
    check_target_node(method_settings(cfg, with_target=True), "method")
    for group in ("callbacks", "logger"):
        for name, node in (cfg.get(group) or {}).items():
            if node and "_target_" in node:
                check_target_node(node, f"{group}.{name}")
    multirun = HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN
    check_ddp_launch(cfg.trainer, multirun, dict(os.environ))
    datamodule = instantiate_user_node(cfg.data, "data")
    check_model_serves_data(cfg, datamodule)
    return datamodule, build_runner(cfg)


def method_settings(cfg: DictConfig, with_target: bool = False) -> DictConfig:
    """The method's own settings: every key of ``cfg.method`` but name, task and runner, passed to the
    runner as arguments (so a user writes ``method.sparsity=0.9``), resolved against the whole config."""
    method = OmegaConf.to_container(cfg.method, resolve=True)
    resolved = {key: value for key, value in method.items() if key not in METHOD_KEYS}
    if with_target:
        resolved["_target_"] = cfg.method.runner["_target_"]
    return OmegaConf.create(resolved)


def build_runner(cfg: DictConfig) -> Any:
    """The method's runner: ``method.runner`` (optimizer, ...) with the method's settings as arguments, those
    typed as a settings dataclass (``method.search``) built into one."""
    factory = instantiate_user_node(cfg.method.runner, "method.runner", _partial_=True)
    settings = OmegaConf.to_container(method_settings(cfg))
    arguments = typed_arguments(factory.func, settings, "method")
    try:
        return factory(**arguments)
    except (ValueError, TypeError) as error:
        raise ConfigError(f"method.runner: {error}") from None


def instantiate_user_node(node: DictConfig, path: str, **kwargs: Any) -> Any:
    """``instantiate``, with the user's mistakes (ConfigError, ValueError) turned into one line."""
    try:
        return instantiate(node, **kwargs)
    except InstantiationException as error:
        cause = error.__cause__
        if isinstance(cause, ConfigError):
            raise cause from None
        if isinstance(cause, ValueError | TypeError):
            raise ConfigError(f"{path}: {cause}") from None
        raise


def check_model_serves_data(cfg: DictConfig, datamodule: L.LightningDataModule) -> None:
    """The method, model and data agree on the task, and the model takes the data's input shape.

    The model is built on the meta device (no memory, no time) and run on one meta batch.
    """
    model_cls = get_class(cfg.model._target_)
    tasks = {
        "method": cfg.method.get("task"),
        "model": getattr(model_cls, "task", None),
        "data": getattr(datamodule, "task", None),
    }
    if len(set(tasks.values())) != 1:
        described = ", ".join(f"{part} is for {task}" for part, task in tasks.items())
        raise ConfigError(f"method, model and data must be for the same task: {described}")
    shape = tuple(datamodule.input_shape)
    with torch.device("meta"):
        try:
            model = build_model(cfg.model, datamodule)
        except InstantiationException as error:
            raise ConfigError(f"model: {error.__cause__}") from None
        try:
            model.eval()(torch.empty(2, *shape))
        except RuntimeError as error:
            reason = str(error).strip().splitlines()[0]
            raise ConfigError(f"model {model_cls.__name__} cannot take inputs of shape {shape}: {reason}") from None


def find_resume_checkpoint(cfg: DictConfig, output_dir: Path) -> str | None:
    """``ckpt_path`` when given (it must exist), else the job's own last.ckpt when resume=true."""
    if cfg.get("ckpt_path"):
        path = Path(cfg.ckpt_path)
        if not path.is_file():
            raise ConfigError(f"ckpt_path={cfg.ckpt_path} does not exist")
        return str(path)
    last = output_dir / LAST_CHECKPOINT
    return str(last) if cfg.get("resume", True) and last.is_file() else None


def record_config(cfg: DictConfig, output_dir: Path) -> None:
    """Write ``.hydra/`` (config, overrides, Hydra's own config), as Hydra would, but after the checks."""
    record = output_dir / ".hydra"
    record.mkdir(exist_ok=True)
    OmegaConf.save(cfg, record / "config.yaml")
    if HydraConfig.initialized():
        hydra_cfg = HydraConfig.get()
        OmegaConf.save(OmegaConf.create(list(hydra_cfg.overrides.task)), record / "overrides.yaml")
        OmegaConf.save(OmegaConf.create({"hydra": hydra_cfg}), record / "hydra.yaml")


def write_results(
    cfg: DictConfig, output_dir: Path, metrics: dict[str, float], seconds: float, resumed_from: str | None
) -> float | tuple[float, ...]:
    """Write results.json (atomically) and return the objective: one metric, or a tuple for a list of them."""
    names = [cfg.objective] if isinstance(cfg.objective, str) else list(cfg.objective)
    values = [metrics.get(name) for name in names]
    results = {
        "objective": cfg.objective if isinstance(cfg.objective, str) else names,
        "direction": cfg.direction if isinstance(cfg.direction, str) else list(cfg.direction),
        "value": values[0] if isinstance(cfg.objective, str) else values,
        "metrics": metrics,
        "method": cfg.method.get("name"),
        "model": cfg.model._target_.rsplit(".", 1)[-1],
        "data": cfg.data._target_.rsplit(".", 1)[-1],
        "seed": cfg.seed,
        "resumed_from": resumed_from,
        "seconds": round(seconds, 2),
    }
    if rank_zero_only.rank == 0:  # under DDP every rank returns the objective, one writes the file
        temporary = output_dir / (RESULTS_FILE + ".tmp")
        temporary.write_text(json.dumps(results, indent=2) + "\n")
        os.replace(temporary, output_dir / RESULTS_FILE)
    missing = [name for name, value in zip(names, values, strict=True) if value is None]
    if missing:
        raise ConfigError(f"objective {', '.join(missing)} is not among the final metrics: {', '.join(metrics)}")
    log.info(
        "%s = %s (results in %s)", ", ".join(names), ", ".join(f"{v:.4f}" for v in values), output_dir / RESULTS_FILE
    )
    return float(values[0]) if isinstance(cfg.objective, str) else tuple(float(value) for value in values)
