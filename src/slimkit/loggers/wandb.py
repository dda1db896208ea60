"""W&B logging for Hydra jobs.

W&B specifics that users trip over: with no account the run is written offline (``wandb sync``
later); every job calls ``wandb.finish()`` or the next multirun job would log into the same run;
multirun jobs share a group named after the sweep dir; the run id is kept in the output dir so a
resumed or requeued job continues its run instead of starting a new one.
"""

from __future__ import annotations

import netrc
import os
import secrets
import string
import sys
from collections.abc import Sequence
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from lightning.pytorch.loggers import WandbLogger

from slimkit.errors import ConfigError

WANDB_MODES = ("auto", "online", "offline", "disabled")
RUN_ID_FILE = "wandb_run_id"


def finish_wandb_run(failed: bool) -> None:
    """Finish the W&B run of this job (if any), so the next job of a multirun starts its own."""
    wandb = sys.modules.get("wandb")
    if wandb is not None and getattr(wandb, "run", None) is not None:
        wandb.finish(exit_code=1 if failed else 0)


def wandb_logger(
    project: str,
    save_dir: str,
    entity: str | None = None,
    mode: str = "auto",
    tags: Sequence[str] = (),
    name: str | None = None,
) -> WandbLogger:
    """A WandbLogger for this job: offline without an account, resumable, grouped per sweep."""
    if mode not in WANDB_MODES:
        raise ConfigError(f"logger.wandb.mode={mode} is not allowed; choose one of: {', '.join(WANDB_MODES)}")
    resolved_mode = resolve_wandb_mode(mode)
    directory = Path(save_dir)
    directory.mkdir(parents=True, exist_ok=True)
    group, default_name = _sweep_group_and_name(directory)
    return WandbLogger(
        project=project,
        entity=entity,
        save_dir=str(directory),
        id=_persistent_run_id(directory),
        resume="allow",
        group=group,
        name=name or default_name,
        tags=list(tags),
        log_model=False,
        mode=resolved_mode,
    )


def resolve_wandb_mode(mode: str) -> str:
    """``auto``: WANDB_MODE if set, online when an API key is configured, offline otherwise."""
    if mode != "auto":
        return mode
    if os.environ.get("WANDB_MODE"):
        return os.environ["WANDB_MODE"]
    return "online" if _has_wandb_api_key() else "offline"


def _has_wandb_api_key() -> bool:
    if os.environ.get("WANDB_API_KEY"):
        return True
    try:
        return netrc.netrc().authenticators("api.wandb.ai") is not None
    except (FileNotFoundError, netrc.NetrcParseError, OSError):
        return False


def _persistent_run_id(directory: Path) -> str:
    id_file = directory / RUN_ID_FILE
    if id_file.is_file():
        return id_file.read_text().strip()
    run_id = "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(8))
    id_file.write_text(run_id + "\n")
    return run_id


def _sweep_group_and_name(directory: Path) -> tuple[str | None, str]:
    """(group, run name): the sweep dir's name and ``<sweep>-<job>`` in a multirun, else (None, dir name)."""
    if HydraConfig.initialized():
        hydra_cfg = HydraConfig.get()
        if hydra_cfg.mode == RunMode.MULTIRUN:
            sweep = Path(hydra_cfg.sweep.dir).name
            return sweep, f"{sweep}-{hydra_cfg.job.num}"
    return None, directory.name
