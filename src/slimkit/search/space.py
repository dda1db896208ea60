"""A discrete search space (ordered genes, each with allowed values) and its genetic operators.

The operators work on index tuples (one choice index per gene, in gene order): cheap to hash and
compare while the searcher rejects duplicates and infeasible draws, and independent of the values'
Python types. All randomness comes from the ``random.Random`` the caller passes in.
"""

from __future__ import annotations

import copy
import itertools
import json
import math
import random
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from slimkit.search.candidate import Candidate, canonical_json

Indices = tuple[int, ...]


class SearchSpace:
    """Ordered genes -> allowed values (any JSON values), e.g. ``{"depth": [20, 32], "lr": [0.1, 0.01]}``.

    The gene order and each gene's value order are kept: they fix what the seeded searcher draws.
    """

    def __init__(self, genes: Mapping[str, Sequence[Any]]) -> None:
        if not isinstance(genes, Mapping) or not genes:
            raise ValueError("a SearchSpace needs at least one gene: a mapping of gene name -> list of allowed values")
        names: list[str] = []
        choices: list[tuple[Any, ...]] = []
        lookups: list[dict[str, int]] = []
        for name, values in genes.items():
            if not isinstance(name, str) or not name:
                raise ValueError(f"gene names are non-empty strings, got {name!r}")
            if isinstance(values, str | bytes | Mapping) or not isinstance(values, Sequence):
                raise ValueError(f"gene {name!r}: allowed values must be a list, got {values!r}")
            if not values:
                raise ValueError(f"gene {name!r} has no allowed values")
            lookup: dict[str, int] = {}
            for value in values:
                text = canonical_json(value)
                if text in lookup:
                    raise ValueError(f"gene {name!r} lists the value {value!r} twice")
                lookup[text] = len(lookup)
            names.append(name)
            choices.append(tuple(json.loads(text) for text in lookup))
            lookups.append(lookup)
        self._names = tuple(names)
        self._choices = tuple(choices)
        self._lookups = tuple(lookups)
        self._sizes = tuple(len(values) for values in choices)

    @property
    def names(self) -> tuple[str, ...]:
        """The gene names, in order."""
        return self._names

    @property
    def sizes(self) -> tuple[int, ...]:
        """How many values each gene allows, in gene order."""
        return self._sizes

    @property
    def size(self) -> int:
        """How many distinct candidates the space holds (before any constraint)."""
        return math.prod(self._sizes)

    @property
    def genes(self) -> dict[str, list[Any]]:
        """A copy of the space as ``{gene: [allowed values]}``."""
        return {name: copy.deepcopy(list(values)) for name, values in zip(self._names, self._choices, strict=True)}

    def values(self, indices: Indices) -> dict[str, Any]:
        """The gene values at ``indices`` as a fresh dict (what a constraint function receives)."""
        return {
            name: copy.deepcopy(values[i]) if isinstance(values[i], list | dict) else values[i]
            for name, values, i in zip(self._names, self._choices, indices, strict=True)
        }

    def candidate(self, indices: Indices) -> Candidate:
        """The candidate at ``indices``."""
        return Candidate(self.values(indices))

    def indices(self, candidate: Candidate | Mapping[str, Any]) -> Indices:
        """The choice index of each gene of ``candidate``; ValueError when it is not in this space."""
        texts = dict(Candidate(candidate).key)
        if set(texts) != set(self._names):
            raise ValueError(f"{candidate!r} has genes {sorted(texts)}, the search space has {sorted(self._names)}")
        found = []
        for name, lookup in zip(self._names, self._lookups, strict=True):
            if texts[name] not in lookup:
                raise ValueError(f"gene {name!r} does not allow the value {texts[name]} (candidate {candidate!r})")
            found.append(lookup[texts[name]])
        return tuple(found)

    def __contains__(self, candidate: object) -> bool:
        if not isinstance(candidate, Candidate | Mapping):
            return False
        try:
            self.indices(candidate)
        except (TypeError, ValueError):
            return False
        return True

    def all_indices(self) -> Iterator[Indices]:
        """Every candidate of the space as indices, in a fixed order (for exhausting small spaces)."""
        return itertools.product(*(range(size) for size in self._sizes))

    def random_indices(self, rng: random.Random) -> Indices:
        """A uniformly random candidate: each gene drawn independently (SPOS's uniform sampling)."""
        return tuple(rng.randrange(size) for size in self._sizes)

    def mutated_indices(self, parent: Indices, probability: float, rng: random.Random) -> Indices:
        """``parent`` with each gene, with ``probability``, changed to a different allowed value.

        Unlike the SPOS official code (docs/methods/spos.md), a resampled gene never keeps its old
        value, so ``probability`` is the real per-gene change rate. Genes with one value never change.
        """
        child = list(parent)
        for gene, size in enumerate(self._sizes):
            if rng.random() < probability and size > 1:
                other = rng.randrange(size - 1)
                child[gene] = other + 1 if other >= parent[gene] else other
        return tuple(child)

    def crossed_indices(self, first: Indices, second: Indices, rng: random.Random) -> Indices:
        """Uniform crossover: each gene taken from ``first`` or ``second`` with probability 1/2."""
        return tuple(a if rng.random() < 0.5 else b for a, b in zip(first, second, strict=True))

    def to_dict(self) -> dict[str, Any]:
        """JSON form that keeps the gene order: ``{"genes": [[name, [values...]], ...]}``."""
        return {"genes": [[name, list(values)] for name, values in self.genes.items()]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SearchSpace:
        """Rebuild a space written by :meth:`to_dict`."""
        return cls({name: values for name, values in data["genes"]})

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SearchSpace):
            return NotImplemented
        return self._names == other._names and self._lookups == other._lookups

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"SearchSpace({self.genes!r})"
