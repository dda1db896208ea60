"""Evolutionary search with an ask/tell API, shared by SPOS, MetaPruning and the evolution sweeper.

The algorithm is the one of the SPOS and MetaPruning official searches (docs/methods/spos.md and
docs/methods/metapruning.md): a random first population; then, each generation, parents = the ``top_k`` best of
everything evaluated so far, ``mutation_count`` mutants, ``crossover_count`` uniform crossovers,
and random candidates for the rest; the constraint is checked before a candidate is ever
evaluated. Unlike the official code, a mutated gene always changes value, crossover takes two distinct parents,
no candidate is evaluated twice, and ranking never depends on the order scores arrive in.
Scoring every candidate on the same held-out batches (the other SPOS official bug) is up to the
caller's evaluation function.

The caller owns evaluation, so the same object drives an in-process loop or one Hydra job per
candidate::

    while not search.finished:
        for candidate in search.ask():
            search.tell(candidate, evaluate(candidate))
"""

from __future__ import annotations

import copy
import logging
import math
import random
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Literal

from slimkit.search.candidate import Candidate
from slimkit.search.generation import Entry, Generation
from slimkit.search.persistence import read_json, rng_from_json, rng_state_to_json, write_json_atomic
from slimkit.search.space import Indices, SearchSpace
from slimkit.settings import Count, Fraction, PositiveInt, check_fields, out_of_range

log = logging.getLogger(__name__)

STATE_FORMAT = "slimkit.search.EvolutionSearch"
STATE_VERSION = 1
ENUMERATION_LIMIT = 100_000
"""Spaces up to this size are enumerated when random draws stop finding new feasible candidates."""

Constraint = Callable[[dict[str, Any]], bool]
Repair = Callable[[dict[str, Any], random.Random], dict[str, Any]]


@dataclass(frozen=True, kw_only=True)
class EvolutionSettings:
    """The search's hyper-parameters, ranges in their types; the values come from the config that uses them
    (conf/search/evolution.yaml: the SPOS/MetaPruning official ones; the evolution sweeper's own)."""

    population_size: PositiveInt
    generations: Count
    top_k: PositiveInt
    mutation_count: Count
    mutation_prob: Fraction
    crossover_count: Count

    def __post_init__(self) -> None:
        check_fields(self)
        children = self.mutation_count + self.crossover_count
        if children > self.population_size:
            requirement = f"must be >= mutation_count + crossover_count = {children}"
            raise out_of_range("population_size", self.population_size, requirement)

    def evolution(self) -> dict[str, Any]:
        """These hyper-parameters alone (a subclass's settings left out), as EvolutionSearch's arguments."""
        return {field.name: getattr(self, field.name) for field in fields(EvolutionSettings)}


@dataclass(frozen=True, kw_only=True)
class EvolutionSearchSettings(EvolutionSettings):
    """What one EvolutionSearch runs with: the hyper-parameters, which way is better, the seed and the number of
    draws before a slot is given up (saved with the search's state)."""

    direction: Literal["maximize", "minimize"] = "maximize"
    seed: Count = 0
    max_attempts: PositiveInt = 1000


class EvolutionSearch:
    """Seeded, resumable evolutionary search over a :class:`SearchSpace` (see the module docstring).

    ``constraint(values) -> bool`` (True = feasible) is called on a plain dict of gene values
    before a candidate can be returned by :meth:`ask`, possibly several times for the same values;
    it must be deterministic for resumed runs to repeat exactly. ``repair(values, rng) -> values``, when
    given, turns an infeasible draw into a feasible one (e.g. narrows a network until it fits a FLOPs cap:
    under a tight cap almost no uniformly random draw is feasible); it must draw only from ``rng``, so a
    resumed search repeats. When ``max_attempts`` draws for one
    slot find no new feasible candidate, the slot is given up with a warning: missing mutants and
    crossovers are replaced by random candidates, and missing random candidates leave the generation
    short (spaces of up to ``ENUMERATION_LIMIT`` candidates are enumerated first, so a short
    generation there means every feasible candidate has been asked). A generation that gets no
    candidate at all ends the search early (``finished`` becomes True).
    """

    def __init__(
        self,
        space: SearchSpace,
        *,
        population_size: int,
        generations: int,
        top_k: int,
        mutation_count: int,
        mutation_prob: float,
        crossover_count: int,
        direction: Literal["maximize", "minimize"] = "maximize",
        constraint: Constraint | None = None,
        seed: int = 0,
        max_attempts: int = 1000,
        repair: Repair | None = None,
    ) -> None:
        if not isinstance(space, SearchSpace):
            raise TypeError(f"space must be a SearchSpace, got {type(space).__name__}")
        self.space = space
        self.settings = EvolutionSearchSettings(
            population_size=population_size,
            generations=generations,
            top_k=top_k,
            mutation_count=mutation_count,
            mutation_prob=float(mutation_prob),
            crossover_count=crossover_count,
            direction=direction,
            seed=seed,
            max_attempts=max_attempts,
        )
        self.constraint = constraint
        self.repair = repair
        self._rng = random.Random(seed)
        self._completed = 0
        self._exhausted = False
        self._current: Generation | None = None
        self._history: list[dict[str, Any]] = []
        self._seen: dict[Indices, int] = {}  # every candidate ever asked -> its generation
        self._scored: list[tuple[tuple[float, int, int], Candidate, float]] = []  # (rank key, candidate, score)

    # ----------------------------------------------------------------------------------- ask / tell
    @property
    def finished(self) -> bool:
        """True once ``generations`` generations are complete, or when the space ran out of candidates."""
        return self._exhausted or self._completed >= self.settings.generations

    @property
    def generation(self) -> int:
        """Index of the generation being asked/told (= how many generations are complete)."""
        return self._completed

    def ask(self) -> list[Candidate]:
        """The current generation's candidates that have no score yet, in a fixed order.

        Asking again before telling returns the same list (minus what was told since), also after a
        part-told generation was saved and loaded; the next generation is drawn only on the first ask
        after every candidate of the current one has been told. Returns [] only when the search is
        finished, which this very call may find out (no new feasible candidate left).
        """
        if self.finished:
            return []
        if self._current is None:
            self._start_generation()
            if self._current is None:
                return []
        return [entry.candidate for entry in self._current.entries if not entry.told]

    def tell(self, candidate: Candidate | Mapping[str, Any], score: float | None) -> None:
        """Record the score of an asked candidate; None or a non-finite score marks a failed evaluation.

        Failed candidates are never parents and never asked again. Raises ValueError for a candidate
        that the current generation did not ask, or that was told already.
        """
        try:
            indices = self.space.indices(candidate)
        except (TypeError, ValueError) as error:
            raise ValueError(f"tell: {candidate!r} was not asked by this search: {error}") from None
        generation = self._current
        entry = generation.by_indices.get(indices) if generation is not None else None
        if entry is None:
            earlier = self._seen.get(indices)
            if earlier is not None:
                raise ValueError(f"tell: {candidate!r} was evaluated in generation {earlier}; tell each candidate once")
            raise ValueError(f"tell: {candidate!r} was not asked by this search; tell only candidates from ask()")
        if entry.told:
            raise ValueError(f"tell: {candidate!r} was already told (score {entry.score}); tell each candidate once")
        entry.told, entry.score = True, _as_score(score)
        generation.pending -= 1
        if entry.score is not None:
            self._scored.append((self._rank_key(entry.score, generation.index, entry), entry.candidate, entry.score))
        if generation.pending == 0:
            self._finish_generation(generation)

    def best(self, k: int = 1) -> list[tuple[Candidate, float]]:
        """The ``k`` best successfully evaluated candidates so far, best first.

        Ties go to the candidate asked first, so the ranking (and the parents) never depend on the
        order in which scores were told.
        """
        ranked = sorted(self._scored, key=lambda item: item[0])
        return [(candidate, score) for _, candidate, score in ranked[: max(k, 0)]]

    @property
    def history(self) -> list[dict[str, Any]]:
        """One JSON-able record per complete generation, for plots and analysis (a copy).

        A part-told generation is not in it (it is in ``state_dict()["current"]``).

        Keys: ``generation``; ``candidates`` (``values``, ``score`` (None = failed), ``origin``
        and ``parents``, positions in ``parents``); ``parents`` (``values``, ``score``);
        ``rejected`` (draws dropped as ``duplicate`` or ``infeasible``); ``repaired`` (infeasible draws
        the repair changed); ``unfilled`` (slots of
        ``population_size`` left empty); ``generation_best`` and ``best`` (best so far), each
        ``{"values", "score"}`` or None.
        """
        return copy.deepcopy(self._history)

    # ------------------------------------------------------------------------------- persistence
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue exactly where this search stands, as JSON-able data.

        Includes the random generator's full state and a part-told current generation; the
        constraint is code, not state, and is passed again to :meth:`from_state_dict`.
        """
        current = self._current.to_dict(with_told=True) if self._current is not None else None
        return {
            "format": STATE_FORMAT,
            "version": STATE_VERSION,
            "space": self.space.to_dict(),
            "settings": asdict(self.settings),
            "rng": rng_state_to_json(self._rng),
            "exhausted": self._exhausted,
            "history": copy.deepcopy(self._history),
            "current": current,
        }

    @classmethod
    def from_state_dict(
        cls, state: Mapping[str, Any], constraint: Constraint | None = None, repair: Repair | None = None
    ) -> EvolutionSearch:
        """A search that continues exactly like the one whose :meth:`state_dict` gave ``state``."""
        if not isinstance(state, Mapping) or state.get("format") != STATE_FORMAT:
            raise ValueError(f"not a saved EvolutionSearch state (expected format {STATE_FORMAT!r})")
        if state.get("version") != STATE_VERSION:
            raise ValueError(f"EvolutionSearch state version {state.get('version')!r} is not supported")
        try:
            space = SearchSpace.from_dict(state["space"])
            search = cls(space, constraint=constraint, repair=repair, **state["settings"])
            search._rng = rng_from_json(state["rng"])
            for record in state["history"]:
                search._restore_generation(record, complete=True)
                search._history.append(copy.deepcopy(record))
                search._completed += 1
            if state["current"] is not None:
                search._current = search._restore_generation(state["current"], complete=False)
                if search._current.pending == 0:
                    raise ValueError("broken EvolutionSearch state: the open generation has no untold candidate")
            search._exhausted = bool(state["exhausted"])
        except (KeyError, TypeError, IndexError) as error:
            raise ValueError(f"broken EvolutionSearch state: {type(error).__name__}: {error}") from error
        return search

    def save(self, path: str | Path) -> Path:
        """Write :meth:`state_dict` as JSON atomically (temp file + ``os.replace``); return the path."""
        return write_json_atomic(path, self.state_dict())

    @classmethod
    def load(
        cls, path: str | Path, constraint: Constraint | None = None, repair: Repair | None = None
    ) -> EvolutionSearch:
        """Continue a search saved with :meth:`save`; pass the same constraint and repair it was built with."""
        return cls.from_state_dict(read_json(path), constraint=constraint, repair=repair)

    def __repr__(self) -> str:
        return (
            f"EvolutionSearch(generation={self._completed}/{self.settings.generations}, "
            f"evaluated={len(self._seen)}, finished={self.finished})"
        )

    # ---------------------------------------------------------------------------------- internals
    def _rank_key(self, score: float, generation: int, entry: Entry) -> tuple[float, int, int]:
        signed = -score if self.settings.direction == "maximize" else score
        return (signed, generation, entry.position)

    def _start_generation(self) -> None:
        """Draw the next generation (lazily, on the first ask() after the previous one completed)."""
        settings = self.settings
        index = self._completed
        parents = self.best(settings.top_k) if index > 0 else []
        generation = Generation(index=index, parents=parents)
        self._current = generation
        parent_indices = [self.space.indices(candidate) for candidate, _ in parents]
        if index > 0 and not parents:
            log.warning("generation %d: no successful evaluation yet, so every candidate is random", index)
        if parent_indices:
            self._fill(generation, "mutation", settings.mutation_count, lambda: self._mutant(parent_indices))
        if len(parent_indices) >= 2:
            self._fill(generation, "crossover", settings.crossover_count, lambda: self._crossover(parent_indices))
        elif parent_indices and settings.crossover_count:
            log.warning("generation %d: one parent only, so the crossover slots get random candidates", index)
        self._fill_random(generation, settings.population_size - len(generation.entries))
        generation.unfilled = settings.population_size - len(generation.entries)
        generation.pending = len(generation.entries)
        if not generation.entries:
            log.warning("generation %d: no new feasible candidate left; the search ends early", index)
            self._exhausted = True
            self._current = None

    def _mutant(self, parent_indices: list[Indices]) -> tuple[Indices, list[int]]:
        parent = self._rng.randrange(len(parent_indices))
        child = self.space.mutated_indices(parent_indices[parent], self.settings.mutation_prob, self._rng)
        return child, [parent]

    def _crossover(self, parent_indices: list[Indices]) -> tuple[Indices, list[int]]:
        first, second = self._rng.sample(range(len(parent_indices)), 2)
        return self.space.crossed_indices(parent_indices[first], parent_indices[second], self._rng), [first, second]

    def _random(self) -> tuple[Indices, list[int]]:
        return self.space.random_indices(self._rng), []

    def _fill(self, generation: Generation, origin: str, count: int, make: Callable[[], Any]) -> None:
        for filled in range(count):
            found = self._draw(generation, make)
            if found is None:
                log.warning(
                    "generation %d: no new feasible %s child in %d draws; %d of %d %s slots filled, "
                    "the rest get random candidates",
                    generation.index,
                    origin,
                    self.settings.max_attempts,
                    filled,
                    count,
                    origin,
                )
                return
            self._add(generation, found[0], origin, found[1])

    def _fill_random(self, generation: Generation, count: int) -> None:
        filled = 0
        while filled < count:
            found = self._draw(generation, self._random)
            if found is None:
                break
            self._add(generation, found[0], "random", [])
            filled += 1
        if filled == count:
            return
        if self.space.size > ENUMERATION_LIMIT:
            reason = f"none found in {self.settings.max_attempts} random draws"
        else:
            # small space: list what is left instead of hoping a random draw hits it
            unseen = [indices for indices in self.space.all_indices() if indices not in self._seen]
            self._rng.shuffle(unseen)
            for indices in unseen:
                if filled == count:
                    return
                if self._feasible(indices):
                    self._add(generation, indices, "random", [])
                    filled += 1
                else:
                    generation.rejected["infeasible"] += 1
            if filled == count:
                return
            reason = "the space holds no further feasible candidate"
        log.warning(
            "generation %d: %d of %d random candidates (%s); the generation has %d of %d candidates",
            generation.index,
            filled,
            count,
            reason,
            len(generation.entries),
            self.settings.population_size,
        )

    def _draw(self, generation: Generation, make: Callable[[], Any]) -> tuple[Indices, list[int]] | None:
        """Bounded rejection sampling: a new, feasible child (repaired when a repair is given), or None after
        ``max_attempts`` draws."""
        for _ in range(self.settings.max_attempts):
            indices, parents = make()
            # with a repair the constraint decides whether to repair (and checks the result); without one it
            # runs only for draws not seen before
            feasible = None
            if self.repair is not None:
                feasible = self._feasible(indices)
                if not feasible:
                    indices = self.space.indices(self.repair(self.space.values(indices), self._rng))
                    generation.repaired += 1
                    feasible = self._feasible(indices)
            if indices in self._seen:
                generation.rejected["duplicate"] += 1
            elif not (self._feasible(indices) if feasible is None else feasible):
                generation.rejected["infeasible"] += 1
            else:
                return indices, parents
        return None

    def _feasible(self, indices: Indices) -> bool:
        return self.constraint is None or bool(self.constraint(self.space.values(indices)))

    def _add(self, generation: Generation, indices: Indices, origin: str, parents: list[int]) -> None:
        candidate = self.space.candidate(indices)
        entry = Entry(indices, candidate, position=len(generation.entries), origin=origin, parents=parents)
        generation.entries.append(entry)
        generation.by_indices[indices] = entry
        self._seen[indices] = generation.index

    def _finish_generation(self, generation: Generation) -> None:
        record = generation.to_dict(with_told=False)
        told = [entry for entry in generation.entries if entry.score is not None]
        generation_best = min(told, key=lambda e: self._rank_key(e.score, generation.index, e), default=None)
        record["generation_best"] = (
            None
            if generation_best is None
            else {"values": generation_best.candidate.values, "score": generation_best.score}
        )
        overall = self.best(1)
        record["best"] = None if not overall else {"values": overall[0][0].values, "score": overall[0][1]}
        self._history.append(record)
        self._completed += 1
        self._current = None
        log.info(
            "generation %d/%d: %d candidates, %d failed, best so far %s",
            self._completed,
            self.settings.generations,
            len(generation.entries),
            len(generation.entries) - len(told),
            record["best"],
        )

    def _restore_generation(self, data: Mapping[str, Any], complete: bool) -> Generation:
        """Rebuild one generation of a saved state into the seen set and the scores."""
        index = int(data["generation"])
        if index != self._completed:
            raise ValueError(f"broken EvolutionSearch state: generation {index} where {self._completed} was expected")
        parents = [(Candidate(parent["values"]), float(parent["score"])) for parent in data["parents"]]
        generation = Generation(index=index, parents=parents, rejected=dict(data["rejected"]))
        generation.unfilled = int(data["unfilled"])
        generation.repaired = int(data.get("repaired", 0))  # states saved before repairs existed lack it
        for item in data["candidates"]:
            indices = self.space.indices(item["values"])
            self._add(generation, indices, item["origin"], list(item["parents"]))
            entry = generation.entries[-1]
            entry.told = True if complete else bool(item["told"])
            entry.score = None if item["score"] is None else float(item["score"])
            if entry.score is not None:
                self._scored.append((self._rank_key(entry.score, index, entry), entry.candidate, entry.score))
        generation.pending = sum(not entry.told for entry in generation.entries)
        return generation


def _as_score(score: object) -> float | None:
    """A float score, or None for a failed evaluation (None, nan or +-inf)."""
    if score is None:
        return None
    try:
        value = float(score)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise TypeError(f"score must be a number, or None/nan for a failed evaluation; got {score!r}") from None
    return value if math.isfinite(value) else None
