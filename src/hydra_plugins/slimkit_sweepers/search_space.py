"""Hydra's sweep syntax -> search parameters, shared by the Optuna and the evolution sweeper.

``key=a,b,c`` / ``choice(a,b)``: a categorical; ``range(0,10,2)``: integers (or floats) with a step,
stop excluded as in Hydra; ``interval(0.1,1)``: a continuous interval (``tag(int, interval(8,64))`` for integers);
``tag(log, interval(1e-4,1e-1))``: sampled on a log scale. Plain ``key=value`` is fixed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import ChoiceSweep, IntervalSweep, Override, RangeSweep
from omegaconf import OmegaConf

from slimkit.errors import ConfigError


@dataclass(frozen=True)
class SearchParameter:
    name: str
    kind: str  # "choice" | "int" | "float"
    choices: tuple[Any, ...] = ()
    low: float = 0.0
    high: float = 0.0
    step: float | None = None
    log: bool = False

    def discrete_values(self) -> list[Any]:
        """Every value, for samplers that need a finite set (grid, evolution)."""
        if self.kind == "choice":
            return list(self.choices)
        if self.step is None:
            raise ConfigError(f"{self.name}: an interval has no finite set of values; use choice(...) or range(...)")
        count = int(round((self.high - self.low) / self.step)) + 1
        values = [self.low + index * self.step for index in range(count)]
        return [int(value) for value in values] if self.kind == "int" else values


def parse_search_space(
    arguments: Iterable[str], params: Mapping[str, Any] | None = None, parser: OverridesParser | None = None
) -> tuple[list[str], dict[str, SearchParameter]]:
    """(fixed overrides for every job, search parameters by key) from ``params`` then the command line."""
    parser = parser or OverridesParser.create()
    lines = [f"{key}={value}" for key, value in (params or {}).items()] + list(arguments)
    fixed: list[str] = []
    space: dict[str, SearchParameter] = {}
    for override in parser.parse_overrides(lines):
        key = override.get_key_element()
        if override.is_sweep_override():
            space[key] = _parameter(key, override)
        else:
            fixed.append(f"{key}={override.get_value_element_as_str()}")
    return fixed, space


def _parameter(key: str, override: Override) -> SearchParameter:
    sweep = override.value()
    log = "log" in getattr(sweep, "tags", set())
    if isinstance(sweep, ChoiceSweep):
        return SearchParameter(key, "choice", tuple(_plain(value) for value in sweep.list))
    if isinstance(sweep, RangeSweep):
        step = sweep.step if sweep.step is not None else 1
        values = [_plain(value) for value in override.sweep_iterator()]
        if not values:
            raise ConfigError(f"{key}: range({sweep.start}, {sweep.stop}, {step}) is empty")
        kind = "int" if all(isinstance(value, int) for value in values) else "float"
        return SearchParameter(key, kind, low=values[0], high=values[-1], step=step, log=log)
    if isinstance(sweep, IntervalSweep):  # Hydra reads interval ends as floats: tag(int, ...) asks for integers
        kind = "int" if "int" in sweep.tags else "float"
        return SearchParameter(key, kind, low=sweep.start, high=sweep.end, log=log)
    raise ConfigError(f"{key}: unsupported sweep {override.get_value_element_as_str()}")


def _plain(value: Any) -> Any:
    """Lists / dicts from the override grammar as plain Python values."""
    return OmegaConf.to_container(OmegaConf.create({"v": value}))["v"] if isinstance(value, list | dict) else value


def as_override(key: str, value: Any) -> str:
    """``key=value`` in Hydra's override grammar (strings with special characters quoted)."""
    if isinstance(value, str) and any(char in value for char in " ,()[]{}'\"=:"):
        escaped = value.replace("\\", "\\\\").replace("'", "\\'")
        return f"{key}='{escaped}'"
    if isinstance(value, list | dict):
        return f"{key}={_grammar(value)}"
    return f"{key}={value}"


def _grammar(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ",".join(_grammar(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{key}:{_grammar(item)}" for key, item in value.items()) + "}"
    return str(value)
