"""The bookkeeping of one generation of an evolutionary search, and its JSON form (history, state files)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from slimkit.search.candidate import Candidate
from slimkit.search.space import Indices


@dataclass
class Entry:
    """One candidate of a generation: where it came from and, once told, its score."""

    indices: Indices
    candidate: Candidate
    position: int  # order of asking within the generation: breaks ranking ties
    origin: str  # "random", "mutation" or "crossover"
    parents: list[int]  # positions in the generation's parent list
    told: bool = False
    score: float | None = None  # None: failed evaluation (or not told yet)

    def to_dict(self, with_told: bool) -> dict[str, Any]:
        """JSON form; ``told`` is only needed in a state file, where a generation may be part-told."""
        data = {
            "values": self.candidate.values,
            "score": self.score,
            "origin": self.origin,
            "parents": list(self.parents),
        }
        return {**data, "told": self.told} if with_told else data


@dataclass
class Generation:
    """The candidates of one generation, the parents they were bred from and what was rejected."""

    index: int
    parents: list[tuple[Candidate, float]]
    entries: list[Entry] = field(default_factory=list)
    by_indices: dict[Indices, Entry] = field(default_factory=dict)
    rejected: dict[str, int] = field(default_factory=lambda: {"duplicate": 0, "infeasible": 0})
    repaired: int = 0  # infeasible draws made feasible by the search's repair (kept or then dropped)
    unfilled: int = 0
    pending: int = 0

    def to_dict(self, with_told: bool) -> dict[str, Any]:
        """JSON form: a ``history`` record (``with_told=False``) or the open generation of a state file."""
        return {
            "generation": self.index,
            "candidates": [entry.to_dict(with_told) for entry in self.entries],
            "parents": [{"values": candidate.values, "score": score} for candidate, score in self.parents],
            "rejected": dict(self.rejected),
            "repaired": self.repaired,
            "unfilled": self.unfilled,
        }
