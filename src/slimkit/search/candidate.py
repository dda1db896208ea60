"""One point of a search space: an immutable, hashable mapping from gene name to a JSON value."""

from __future__ import annotations

import json
from collections.abc import ItemsView, Iterator, KeysView, Mapping
from typing import Any


def canonical_json(value: Any) -> str:
    """The one spelling of a JSON value that identifies it.

    Keys are sorted and floats keep Python's exact ``repr``, so equal values give equal text in
    every process (unlike ``hash``, which is salted per process for strings). ``1``, ``1.0`` and
    ``True`` stay distinct, as they are in JSON.
    """
    try:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{value!r} is not a JSON value (numbers, strings, booleans, null, lists, dicts)") from error


class Candidate:
    """An immutable, hashable set of gene values; what ``ask()`` returns and ``tell()`` takes back.

    Mapping-like: ``candidate["depth"]``, ``dict(candidate)``, ``len``, ``in`` and iteration work.
    ``candidate.values`` is a fresh plain ``dict`` on every access (a property, not the method of
    ``collections.abc.Mapping``, which is why Candidate is not registered as one), so no caller can
    change a candidate after it was hashed. Values are stored as plain JSON (a tuple becomes a list), and
    ``Candidate(json.loads(json.dumps(candidate.values))) == candidate`` always holds. Equality and
    hashing use :attr:`key`, which ignores the order the genes were given in.
    """

    __slots__ = ("_values", "_texts", "_key", "_hash")

    def __init__(self, values: Mapping[str, Any]) -> None:
        if isinstance(values, Candidate):
            values = values.values
        if not isinstance(values, Mapping):
            raise TypeError(f"a Candidate is built from a mapping of gene name to value, got {type(values).__name__}")
        texts: dict[str, str] = {}
        for name, value in values.items():
            if not isinstance(name, str):
                raise TypeError(f"gene names are strings, got {name!r}")
            texts[name] = canonical_json(value)
        object.__setattr__(self, "_texts", texts)
        object.__setattr__(self, "_values", {name: json.loads(text) for name, text in texts.items()})
        key = tuple(sorted(texts.items()))
        object.__setattr__(self, "_key", key)
        object.__setattr__(self, "_hash", hash(key))

    @property
    def values(self) -> dict[str, Any]:
        """A fresh plain-dict copy of the gene values, safe to change and to serialise as JSON."""
        return {name: json.loads(text) for name, text in self._texts.items()}

    @property
    def key(self) -> tuple[tuple[str, str], ...]:
        """``((gene, canonical JSON of its value), ...)`` sorted by gene: the identity of the candidate."""
        return self._key

    def to_dict(self) -> dict[str, Any]:
        """The JSON form of the candidate (the same as :attr:`values`); ``Candidate(d)`` reverses it."""
        return self.values

    def __getitem__(self, name: str) -> Any:
        value = self._values[name]
        return json.loads(self._texts[name]) if isinstance(value, list | dict) else value

    def get(self, name: str, default: Any = None) -> Any:
        """The value of gene ``name``, or ``default`` when the candidate has no such gene."""
        return self[name] if name in self._values else default

    def keys(self) -> KeysView[str]:
        """The gene names, in the order they were given."""
        return self._texts.keys()

    def items(self) -> ItemsView[str, Any]:
        """``(gene, value)`` pairs, in the order the genes were given (values are copies)."""
        return self.values.items()

    def __iter__(self) -> Iterator[str]:
        return iter(self._texts)

    def __len__(self) -> int:
        return len(self._texts)

    def __contains__(self, name: object) -> bool:
        return name in self._texts

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Candidate):
            return NotImplemented
        return self._key == other._key

    def __hash__(self) -> int:
        return self._hash

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Candidate is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("Candidate is immutable")

    def __reduce__(self) -> tuple[type[Candidate], tuple[dict[str, Any]]]:
        # pickle (multiprocessing, submitit) rebuilds from the plain values; the hash is recomputed
        return (Candidate, (self.values,))

    def __repr__(self) -> str:
        return f"Candidate({self._values!r})"
