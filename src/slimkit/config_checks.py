"""Checks of a composed config that run before anything is written or trained.

Types: every ``_target_`` node's values are checked against the target's type hints (scalar
types, Optional, Union and Literal; anything richer is left to the target). So
``trainer.max_epochs=abc`` fails in one line naming the expected type, before a run dir is touched.
"""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Callable
from typing import Any, Literal, Union

from hydra.utils import get_object
from omegaconf import DictConfig, ListConfig

from slimkit.errors import ConfigError

HYDRA_KEYS = {"_target_", "_partial_", "_recursive_", "_convert_", "_args_"}
# arguments the pipeline passes itself (shape and classes come from the datamodule)
INJECTED_ARGUMENTS = {"model": {"in_channels", "num_classes", "input_size"}}


def check_target_node(node: DictConfig, path: str, injected: set[str] = frozenset()) -> None:  # type: ignore[assignment]
    """Check the keys and value types of a ``_target_`` node and of the target nodes inside it."""
    target_name = node["_target_"]
    try:
        target = get_object(target_name)
    except Exception as error:
        raise ConfigError(f"{path}._target_={target_name} cannot be imported: {error}") from error
    parameters, hints = _signature_of(target)
    accepts_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    for key in node:
        if key in HYDRA_KEYS or key in injected:
            continue
        value = node[key]
        key_path = f"{path}.{key}"
        if isinstance(value, DictConfig) and "_target_" in value:
            check_target_node(value, key_path)
            continue
        if key not in parameters:
            if accepts_any:
                continue
            allowed = ", ".join(name for name in parameters if name not in injected)
            raise ConfigError(f"{key_path} is not an argument of {target_name}; allowed: {allowed}")
        annotation = hints.get(key, inspect.Parameter.empty)
        if _matches(value, annotation) is False:
            raise ConfigError(f"{key_path}={value!r} has the wrong type: {target_name} expects {_describe(annotation)}")


def _signature_of(target: Callable) -> tuple[dict[str, inspect.Parameter], dict[str, Any]]:
    function = target.__init__ if inspect.isclass(target) else target
    try:
        parameters = dict(inspect.signature(function).parameters)
    except (TypeError, ValueError):
        return {}, {}
    parameters.pop("self", None)
    try:
        hints = typing.get_type_hints(function)
    except Exception:  # unresolved forward references: check names only
        hints = {}
    return parameters, hints


def _matches(value: Any, annotation: Any) -> bool | None:
    """True / False when the value clearly does / does not fit, None when we cannot tell."""
    if annotation is inspect.Parameter.empty or annotation is Any:
        return None
    origin = typing.get_origin(annotation)
    if origin in (Union, types.UnionType):
        verdicts = [_matches(value, option) for option in typing.get_args(annotation)]
        if True in verdicts:
            return True
        return None if None in verdicts else False
    if origin is Literal:
        return value in typing.get_args(annotation)
    if annotation is type(None):
        return value is None
    if annotation is bool:
        return isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if annotation is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if annotation is str:
        return isinstance(value, str)
    if origin in (list, tuple) or annotation in (list, tuple):
        return isinstance(value, ListConfig | list | tuple) or None
    return None


def _describe(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    if origin in (Union, types.UnionType):
        return " | ".join(_describe(option) for option in typing.get_args(annotation))
    if origin is Literal:
        return "one of " + ", ".join(repr(option) for option in typing.get_args(annotation))
    if annotation is type(None):
        return "None"
    return getattr(annotation, "__name__", str(annotation))


# Set by srun, torchrun or Lightning itself when the ranks are created outside the job's process.
EXTERNAL_LAUNCH_VARIABLES = ("LOCAL_RANK", "TORCHELASTIC_RUN_ID")


def check_ddp_launch(trainer_cfg: DictConfig, multirun: bool, environ: dict[str, str]) -> None:
    """Refuse DDP that Lightning would spawn itself inside a local multirun.

    Lightning re-runs the command line for each extra rank, which inside a Hydra multirun re-launches
    the whole sweep. Under Slurm (tasks_per_node = devices) srun creates the ranks and all is well.
    """
    strategy = str(trainer_cfg.get("strategy", "auto"))
    devices = trainer_cfg.get("devices", 1)
    several = devices not in (1, "1") and not (isinstance(devices, ListConfig | list) and len(devices) == 1)
    spawns_ranks = "ddp" in strategy and "spawn" not in strategy and several
    launched_outside = (
        any(name in environ for name in EXTERNAL_LAUNCH_VARIABLES) or int(environ.get("SLURM_NTASKS", "1")) > 1
    )
    if multirun and spawns_ranks and not launched_outside:
        raise ConfigError(
            f"trainer.strategy={strategy} with devices={devices} inside a local multirun would re-launch the sweep "
            "in every rank; use hydra/launcher=slurm (tasks_per_node = devices) or run the jobs one at a time"
        )
