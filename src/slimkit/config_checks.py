"""Checks of a composed config that run before anything is written or trained.

Types: every ``_target_`` node's values are checked against the target's type hints (scalar
types, Optional, Union, Literal and list items; anything richer is left to the target), and so are
the ranges the hints carry (``Annotated[int, Ge(1)]``: slimkit.settings). A value whose parameter is a
settings dataclass (``method.search``) is checked key by key against its fields. So
``trainer.max_epochs=abc`` or ``method.search.population_size=0`` fails in one line naming the key, the
value and the expected type or range, before a run dir is touched.
"""

from __future__ import annotations

import dataclasses
import inspect
import typing
from collections.abc import Callable, Mapping
from typing import Any

from hydra.utils import get_object
from omegaconf import DictConfig, ListConfig

from slimkit.errors import ConfigError
from slimkit.settings import build_settings, field_types, first_problem, settings_class

HYDRA_KEYS = {"_target_", "_partial_", "_recursive_", "_convert_", "_args_"}
# arguments the pipeline passes itself (shape and classes come from the datamodule)
INJECTED_ARGUMENTS = {"model": {"in_channels", "num_classes", "input_size"}}


def check_target_node(node: DictConfig, path: str, injected: set[str] = frozenset()) -> None:  # type: ignore[assignment]
    """Check the keys, value types and ranges of a ``_target_`` node and of the nodes inside it."""
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
        check_value(value, hints.get(key, inspect.Parameter.empty), key_path, target_name)


def check_value(value: Any, annotation: Any, path: str, owner: str) -> None:
    """One value against its annotation: type and range, or each key of a settings dataclass node."""
    settings = settings_class(annotation)
    if settings is not None and isinstance(value, DictConfig):
        check_settings_node(value, settings, path)
        return
    problem = first_problem(value, annotation, path, owner)
    if problem is not None:
        raise ConfigError(str(problem))


def check_settings_node(node: DictConfig, settings: type, path: str) -> None:
    """A node for a settings dataclass: no unknown or missing key, every value of its field's type and range."""
    types_ = field_types(settings)
    for key in node:
        if key not in types_:
            raise ConfigError(f"{path}.{key} is not a setting of {settings.__name__}; allowed: {', '.join(types_)}")
    for field in dataclasses.fields(settings):
        no_default = field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING
        if field.init and no_default and field.name not in node:
            raise ConfigError(f"{path}.{field.name} is missing: {settings.__name__} needs it")
    for key in node:
        check_value(node[key], types_[key], f"{path}.{key}", settings.__name__)


def typed_arguments(target: Callable, values: Mapping[str, Any], path: str) -> dict[str, Any]:
    """``values`` as arguments of ``target``: a mapping whose parameter is a settings dataclass is built into one
    (its checks between fields are a ConfigError naming ``path.key``)."""
    _, hints = _signature_of(target)
    arguments = dict(values)
    for key, value in values.items():
        settings = settings_class(hints.get(key))
        if settings is not None and isinstance(value, Mapping):
            arguments[key] = build_settings(settings, value, f"{path}.{key}")
    return arguments


def _signature_of(target: Callable) -> tuple[dict[str, inspect.Parameter], dict[str, Any]]:
    function = target.__init__ if inspect.isclass(target) else target
    try:
        parameters = dict(inspect.signature(function).parameters)
    except (TypeError, ValueError):
        return {}, {}
    parameters.pop("self", None)
    try:
        hints = typing.get_type_hints(function, include_extras=True)
    except Exception:  # unresolved forward references: check names only
        hints = {}
    return parameters, hints


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
