"""Settings as types: a setting's type says its range (``Annotated[int, Ge(1)]``), checked in one place.

``first_problem`` checks a value against an annotation: the base type (scalars, Optional / Union, Literal,
list items), then the ``annotated_types`` bounds (Ge, Gt, Le, Lt, Interval, MinLen, MaxLen, Len). It serves
slimkit.config_checks (config nodes, before anything runs) and settings dataclasses, whose ``__post_init__``
calls ``check_fields``. Standard library and ``annotated_types`` only: slimkit.search imports it.
"""

from __future__ import annotations

import dataclasses
import inspect
import types
import typing
from collections.abc import Iterator, Mapping, Sequence
from typing import Annotated, Any, Literal, TypeVar, Union

from annotated_types import Ge, GroupedMetadata, Gt, Interval, Le, Lt, MaxLen, MinLen

from slimkit.errors import ConfigError

__all__ = [
    "BadSetting",
    "BitWidth",
    "Count",
    "Fraction",
    "Positive",
    "PositiveInt",
    "build_settings",
    "check_fields",
    "describe",
    "field_types",
    "first_problem",
    "matches",
    "out_of_range",
    "settings_class",
]

PositiveInt = Annotated[int, Ge(1)]
Count = Annotated[int, Ge(0)]  # epochs, repeats: 0 allowed
Positive = Annotated[float, Gt(0)]
Fraction = Annotated[float, Interval(ge=0, le=1)]
BitWidth = Annotated[int, Interval(ge=1, le=16)]  # bits per quantized weight (2^bits shared values)
Settings = TypeVar("Settings")


class BadSetting(ValueError):
    """A value that does not fit its setting's type or range: ``key=value <reason>``.

    ``at(path)`` words it for a config key (``method.search`` + ``population_size=4 ...``).
    """

    def __init__(self, key: str, value: Any, reason: str) -> None:
        super().__init__(f"{key}={value!r} {reason}")
        self.key, self.value, self.reason = key, value, reason

    def at(self, path: str) -> str:
        """The message for the setting at ``path.key`` of a config."""
        return f"{path}.{self.key}={self.value!r} {self.reason}"


def out_of_range(key: str, value: Any, requirement: str) -> BadSetting:
    """The error for a value outside its range (also for checks between settings): ``must be ...``."""
    return BadSetting(key, value, f"is out of range: {requirement}")


def matches(value: Any, annotation: Any) -> bool | None:
    """True / False when the value clearly does / does not have the annotated type, None when we cannot tell."""
    if annotation is inspect.Parameter.empty or annotation is Any:
        return None
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        return matches(value, typing.get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        verdicts = [matches(value, option) for option in typing.get_args(annotation)]
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
        return _is_sequence(value) or None
    if dataclasses.is_dataclass(annotation):
        return isinstance(value, annotation | Mapping)
    return None


def describe(annotation: Any) -> str:
    """The annotation as a user reads it: ``int | None``, ``one of 'dpq', 'dpr'``, ``list[int]``."""
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        return describe(typing.get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        return " | ".join(describe(option) for option in typing.get_args(annotation))
    if origin is Literal:
        return "one of " + ", ".join(repr(option) for option in typing.get_args(annotation))
    if annotation is type(None):
        return "None"
    if origin in (list, tuple):
        return f"{origin.__name__}[{', '.join(describe(arg) for arg in typing.get_args(annotation))}]"
    return getattr(annotation, "__name__", str(annotation))


def first_problem(value: Any, annotation: Any, key: str, owner: str) -> BadSetting | None:
    """Why ``value`` does not fit ``annotation`` (type first, then range; list items as ``key[i]``), or None.

    ``owner`` names who expects the type (a class or function), for the message.
    """
    if matches(value, annotation) is False:
        return BadSetting(key, value, f"has the wrong type: {owner} expects {describe(annotation)}")
    return _range_problem(value, annotation, key, owner)


def _range_problem(value: Any, annotation: Any, key: str, owner: str) -> BadSetting | None:
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        base, *metadata = typing.get_args(annotation)
        requirement = _violated(value, list(_flatten(metadata)))
        if requirement is not None:
            return out_of_range(key, value, requirement)
        return _range_problem(value, base, key, owner)
    if origin in (Union, types.UnionType):
        for option in typing.get_args(annotation):
            if matches(value, option) is True:
                return _range_problem(value, option, key, owner)
        return None
    if origin is list and _is_sequence(value):
        (item_type,) = typing.get_args(annotation) or (Any,)
        for index, item in enumerate(value):
            problem = first_problem(item, item_type, f"{key}[{index}]", owner)
            if problem is not None:
                return problem
    return None


def _flatten(metadata: Sequence[Any]) -> Iterator[Any]:
    for item in metadata:
        if isinstance(item, GroupedMetadata):
            yield from item
        else:
            yield item


def _violated(value: Any, constraints: list[Any]) -> str | None:
    """``must be ...`` (every bound of the annotation) when ``value`` breaks one of them, else None."""
    bounds = [c for c in constraints if isinstance(c, Ge | Gt | Le | Lt)]
    lengths = [c for c in constraints if isinstance(c, MinLen | MaxLen)]
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if bounds and number and not all(_within(value, bound) for bound in bounds):
        return f"must be {_describe_bounds(bounds)}"
    if lengths and _is_sequence(value):
        low = max((c.min_length for c in lengths if isinstance(c, MinLen)), default=0)
        high = min((c.max_length for c in lengths if isinstance(c, MaxLen)), default=None)
        if len(value) < low or (high is not None and len(value) > high):
            if high is None:
                return f"must have at least {low} item{'s' * (low != 1)}"
            if low == high:
                return f"must have exactly {low} item{'s' * (low != 1)}"
            return f"must have {low} to {high} items" if low else f"must have at most {high} items"
    return None


def _within(value: float, bound: Any) -> bool:
    if isinstance(bound, Ge):
        return value >= bound.ge
    if isinstance(bound, Gt):
        return value > bound.gt
    if isinstance(bound, Le):
        return value <= bound.le
    return value < bound.lt


def _describe_bounds(bounds: list[Any]) -> str:
    """``>= 1``, ``< 0.5``, or ``in [0, 1)`` for a lower and an upper bound."""
    lower = next((b for b in bounds if isinstance(b, Ge | Gt)), None)
    upper = next((b for b in bounds if isinstance(b, Le | Lt)), None)
    if lower is not None and upper is not None:
        left = f"[{lower.ge}" if isinstance(lower, Ge) else f"({lower.gt}"
        right = f"{upper.le}]" if isinstance(upper, Le) else f"{upper.lt})"
        return f"in {left}, {right}"
    if lower is not None:
        return f">= {lower.ge}" if isinstance(lower, Ge) else f"> {lower.gt}"
    return f"<= {upper.le}" if isinstance(upper, Le) else f"< {upper.lt}"


def field_types(cls: type) -> dict[str, Any]:
    """The annotations of a settings dataclass's fields, ``Annotated`` kept."""
    hints = typing.get_type_hints(cls, include_extras=True)
    return {field.name: hints[field.name] for field in dataclasses.fields(cls) if field.init}


def check_fields(settings: Any) -> None:
    """Raise BadSetting for the first field of a settings dataclass that breaks its type or range."""
    owner = type(settings).__name__
    for name, annotation in field_types(type(settings)).items():
        problem = first_problem(getattr(settings, name), annotation, name, owner)
        if problem is not None:
            raise problem


def build_settings(cls: type[Settings], values: Mapping[str, Any], path: str) -> Settings:
    """A settings dataclass from a config mapping (nested settings dataclasses too); a value that does not fit is
    one ConfigError line naming ``path.key``."""
    types_ = field_types(cls)
    unknown = [key for key in values if key not in types_]
    if unknown:
        raise ConfigError(f"{path}.{unknown[0]} is not a setting of {cls.__name__}; allowed: {', '.join(types_)}")
    arguments = {}
    for key, value in values.items():
        nested = settings_class(types_[key])
        is_mapping = isinstance(value, Mapping) and not isinstance(value, nested or ())
        arguments[key] = build_settings(nested, value, f"{path}.{key}") if nested and is_mapping else value
    try:
        return cls(**arguments)
    except BadSetting as error:
        raise ConfigError(error.at(path)) from None
    except TypeError as error:  # a required setting is missing
        raise ConfigError(f"{path}: {error}") from None


def settings_class(annotation: Any) -> type | None:
    """The settings dataclass an annotation names (itself, or inside Optional), or None."""
    if typing.get_origin(annotation) is Annotated:
        return settings_class(typing.get_args(annotation)[0])
    if typing.get_origin(annotation) in (Union, types.UnionType):
        found = [settings_class(option) for option in typing.get_args(annotation)]
        return next((cls for cls in found if cls is not None), None)
    return annotation if isinstance(annotation, type) and dataclasses.is_dataclass(annotation) else None


def _is_sequence(value: Any) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, str | bytes)
