"""EvolutionSearch: the SPOS/MetaPruning evolutionary search as ask/tell, exact resume, constraints."""

from __future__ import annotations

import json
import logging
import math
import os
import random
import re
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from slimkit.search import Candidate, EvolutionSearch, SearchSpace

# Shared with a child process in the resume test, so kept as source text.
TOY_SOURCE = '''
import math

def objective(values):
    """A deterministic score with non-trivial floats; some candidates fail (None) or diverge (nan)."""
    genes = list(values.values())
    if genes[0] == 3 and genes[1] == 1:
        return None
    if genes[2] == 2 and genes[3] == 0:
        return math.nan
    return sum((i + 1) * v for i, v in enumerate(genes)) / 7.0

def constraint(values):
    """Rejects about half of the space."""
    return sum(values.values()) % 2 == 0
'''
_toy: dict[str, Any] = {}
exec(TOY_SOURCE, _toy)
toy_objective: Callable[[dict], float | None] = _toy["objective"]
toy_constraint: Callable[[dict], bool] = _toy["constraint"]
RESUME_SETTINGS = dict(
    population_size=12, generations=6, top_k=4, mutation_count=5, mutation_prob=0.2, crossover_count=4, seed=7
)


def grid(genes: int, values: int) -> SearchSpace:
    """``genes`` genes, each allowing 0 .. values-1 (so a value is its own index)."""
    return SearchSpace({f"g{i}": list(range(values)) for i in range(genes)})


def index_sum(values: dict) -> float:
    return float(sum(values.values()))


class Driver:
    """Runs the ask/tell loop and records every ask, in order, as a sweeper would see it."""

    def __init__(self, objective: Callable[[dict], Any]):
        self.objective = objective
        self.asked: list[Candidate] = []

    def ask(self, search: EvolutionSearch) -> list[Candidate]:
        batch = search.ask()
        self.asked.extend(c for c in batch if c not in set(self.asked))
        return batch

    def run(self, search: EvolutionSearch, stop: Callable[[EvolutionSearch], bool] = lambda s: False) -> None:
        """Tell scores until the search finishes or ``stop`` (checked after every tell) says so."""
        while not search.finished:
            for candidate in self.ask(search):
                search.tell(candidate, self.objective(candidate.values))
                if stop(search):
                    return


def ranked(evaluated: list[tuple[int, int, Candidate, float]], direction: str) -> list[tuple[Candidate, float]]:
    """Reference ranking: by score, ties to the candidate asked first (generation, position)."""
    sign = -1 if direction == "maximize" else 1
    return [(c, s) for g, p, c, s in sorted(evaluated, key=lambda e: (sign * e[3], e[0], e[1]))]


def evaluated_before(history: list[dict], generation: int) -> list[tuple[int, int, Candidate, float]]:
    return [
        (record["generation"], position, Candidate(item["values"]), item["score"])
        for record in history[:generation]
        for position, item in enumerate(record["candidates"])
        if item["score"] is not None
    ]


def test_constraint_is_checked_before_every_ask_and_infeasible_candidates_are_never_returned():
    calls: list[Candidate] = []

    def constraint(values: dict) -> bool:
        assert isinstance(values, dict) and set(values) == {f"g{i}" for i in range(6)}
        calls.append(Candidate(values))
        return toy_constraint(values)

    search = EvolutionSearch(
        grid(6, 4),
        population_size=20,
        generations=6,
        top_k=5,
        mutation_count=8,
        mutation_prob=0.1,
        crossover_count=8,
        constraint=constraint,
        seed=1,
    )
    asked = []
    while not search.finished:
        batch = search.ask()
        checked = set(calls)
        for candidate in batch:
            assert candidate in checked, "asked before the constraint saw it"
            assert toy_constraint(candidate.values)
            search.tell(candidate, index_sum(candidate.values))
        asked += batch
    assert len(asked) == 6 * 20
    infeasible = sum(record["rejected"]["infeasible"] for record in search.history)
    assert infeasible > 0 and len(calls) == len(asked) + infeasible  # every call either asked or counted


def test_population_sizes_generation_counts_and_no_duplicates():
    search = EvolutionSearch(
        grid(10, 8),
        population_size=30,
        generations=5,
        top_k=5,
        mutation_count=10,
        mutation_prob=0.1,
        crossover_count=12,
        seed=3,
    )
    driver = Driver(index_sum)
    driver.run(search)
    history = search.history
    assert search.finished and search.generation == 5 and len(history) == 5 and search.ask() == []
    assert [len(record["candidates"]) for record in history] == [30] * 5
    assert all(item["origin"] == "random" for item in history[0]["candidates"])
    for record in history[1:]:
        origins = [item["origin"] for item in record["candidates"]]
        assert (origins.count("mutation"), origins.count("crossover"), origins.count("random")) == (10, 12, 8)
        assert record["unfilled"] == 0
    everything = [Candidate(item["values"]) for record in history for item in record["candidates"]]
    assert len(set(everything)) == len(everything) == 150
    assert everything == driver.asked  # history keeps the ask order


def test_parents_are_the_top_k_of_everything_evaluated_so_far_and_children_come_from_them():
    # integer scores tie a lot, which exercises the tie-break; failures must never be parents
    def objective(values: dict) -> float | None:
        return None if values["g0"] == 7 else index_sum(values) // 4

    search = EvolutionSearch(
        grid(8, 8),
        population_size=20,
        generations=6,
        top_k=6,
        mutation_count=8,
        mutation_prob=0.3,
        crossover_count=8,
        seed=5,
    )
    Driver(objective).run(search)
    history = search.history
    for generation in range(1, 6):
        expected = ranked(evaluated_before(history, generation), "maximize")[:6]
        parents = [(Candidate(p["values"]), p["score"]) for p in history[generation]["parents"]]
        assert parents == expected
        assert all(candidate["g0"] != 7 for candidate, _ in parents)
        for item in history[generation]["candidates"]:
            child = item["values"]
            sources = [parents[i][0].values for i in item["parents"]]
            if item["origin"] == "mutation":
                assert child != sources[0]
            if item["origin"] == "crossover":
                assert item["parents"][0] != item["parents"][1]
                assert all(child[g] in (sources[0][g], sources[1][g]) for g in child)
    all_evaluated = evaluated_before(history, 6)
    assert search.best(6) == ranked(all_evaluated, "maximize")[:6]
    assert history[-1]["best"] == {"values": search.best(1)[0][0].values, "score": search.best(1)[0][1]}


def test_evolution_beats_random_sampling_with_the_same_budget():
    space = grid(10, 8)  # best possible score: 70
    search = EvolutionSearch(
        space,
        population_size=50,
        generations=10,
        top_k=10,
        mutation_count=25,
        mutation_prob=0.1,
        crossover_count=25,
        seed=0,
    )
    Driver(index_sum).run(search)
    evaluations = sum(len(record["candidates"]) for record in search.history)
    assert evaluations == 500
    rng = random.Random(0)
    random_best = max(sum(space.random_indices(rng)) for _ in range(evaluations))
    best_scores = [record["best"]["score"] for record in search.history]
    assert best_scores == sorted(best_scores)  # best so far never gets worse
    assert search.best(1)[0][1] >= 66 and search.best(1)[0][1] >= random_best + 10, (best_scores, random_best)


def test_minimize_finds_low_scores_and_ranks_them_first():
    search = EvolutionSearch(
        grid(10, 8),
        population_size=40,
        generations=10,
        top_k=8,
        mutation_count=16,
        mutation_prob=0.1,
        crossover_count=16,
        direction="minimize",
        seed=2,
    )
    Driver(index_sum).run(search)
    scores = [score for _, score in search.best(8)]
    assert scores == sorted(scores) and scores[0] <= 4  # random sampling's best of 400 is 12 or more
    best_so_far = [record["best"]["score"] for record in search.history]
    assert best_so_far == sorted(best_so_far, reverse=True)
    last = search.history[-1]
    expected = ranked(evaluated_before(search.history, 9), "minimize")[:8]
    assert [(Candidate(p["values"]), p["score"]) for p in last["parents"]] == expected


def test_failed_evaluations_are_never_parents_nor_best():
    # the candidates that would score best all fail, with None or nan
    def objective(values: dict) -> float | None:
        if values["g0"] >= 6:
            return None
        if values["g1"] >= 6:
            return math.nan
        return index_sum(values)

    search = EvolutionSearch(
        grid(6, 8),
        population_size=20,
        generations=5,
        top_k=5,
        mutation_count=8,
        mutation_prob=0.1,
        crossover_count=8,
        seed=4,
    )
    Driver(objective).run(search)
    failed = [item for record in search.history for item in record["candidates"] if item["score"] is None]
    assert len(failed) > 10
    for record in search.history:
        for parent in record["parents"]:
            assert parent["values"]["g0"] < 6 and parent["values"]["g1"] < 6 and parent["score"] is not None
    assert all(c["g0"] < 6 and c["g1"] < 6 and not math.isnan(s) for c, s in search.best(20))


def test_a_generation_that_failed_entirely_leads_to_random_candidates(caplog):
    search = EvolutionSearch(
        grid(5, 5),
        population_size=6,
        generations=2,
        top_k=2,
        mutation_count=2,
        mutation_prob=0.1,
        crossover_count=2,
        seed=0,
    )
    with caplog.at_level(logging.WARNING, logger="slimkit.search"):
        Driver(lambda values: None).run(search)
    assert search.finished and search.best(1) == []
    assert [item["origin"] for item in search.history[1]["candidates"]] == ["random"] * 6
    assert "no successful evaluation yet" in caplog.text


def test_tell_rejects_candidates_that_were_not_asked_or_told_twice():
    space = grid(4, 4)
    search = EvolutionSearch(
        space, population_size=4, generations=3, top_k=2, mutation_count=1, mutation_prob=0.1, crossover_count=1
    )
    with pytest.raises(ValueError, match="was not asked"):
        search.tell(space.candidate((0, 0, 0, 0)), 1.0)
    batch = search.ask()
    assert search.ask() == batch  # asking again before telling changes nothing
    stranger = next(space.candidate(i) for i in space.all_indices() if space.candidate(i) not in batch)
    with pytest.raises(ValueError, match="was not asked"):
        search.tell(stranger, 1.0)
    with pytest.raises(ValueError, match="was not asked"):
        search.tell({"g0": 9, "g1": 0, "g2": 0, "g3": 0}, 1.0)
    with pytest.raises(TypeError, match="score must be a number"):
        search.tell(batch[0], "high")
    search.tell(dict(batch[0]), 1.0)  # a plain mapping with the same values is the same candidate
    with pytest.raises(ValueError, match="already told"):
        search.tell(batch[0], 2.0)
    assert search.ask() == batch[1:]
    for candidate in batch[1:]:
        search.tell(candidate, 0.5)
    search.ask()
    with pytest.raises(ValueError, match="evaluated in generation 0"):
        search.tell(batch[1], 3.0)


def test_the_order_of_tells_does_not_change_the_search():
    def run(reverse: bool) -> EvolutionSearch:
        search = EvolutionSearch(grid(6, 4), **RESUME_SETTINGS)
        while not search.finished:
            batch = search.ask()
            for candidate in reversed(batch) if reverse else batch:
                search.tell(candidate, index_sum(candidate.values) // 3)  # many ties
        return search

    forward, backward = run(False), run(True)
    assert forward.history == backward.history and forward.best(10) == backward.best(10)


def run_uninterrupted() -> tuple[Driver, EvolutionSearch]:
    search = EvolutionSearch(grid(6, 4), constraint=toy_constraint, **RESUME_SETTINGS)
    driver = Driver(toy_objective)
    driver.run(search)
    return driver, search


def json_round_trip(data: Any) -> Any:
    return json.loads(json.dumps(data))


def test_a_search_saved_after_a_generation_and_mid_generation_continues_exactly(tmp_path):
    reference_driver, reference = run_uninterrupted()
    assert any(item["score"] is None for record in reference.history for item in record["candidates"])

    driver = Driver(toy_objective)
    search = EvolutionSearch(grid(6, 4), constraint=toy_constraint, **RESUME_SETTINGS)
    driver.run(search, stop=lambda s: s.generation == 2)
    search.save(tmp_path / "search.json")
    search = EvolutionSearch.load(tmp_path / "search.json", constraint=toy_constraint)
    assert search.generation == 2 and not search.finished

    batch = driver.ask(search)
    for candidate in batch[:5]:
        search.tell(candidate, toy_objective(candidate.values))
    search.save(tmp_path / "search.json")
    search = EvolutionSearch.load(tmp_path / "search.json", constraint=toy_constraint)
    assert search.ask() == batch[5:]  # a reloaded part-told generation asks only what is left
    driver.run(search)

    assert driver.asked == reference_driver.asked
    assert search.history == reference.history
    assert search.best(10) == reference.best(10)
    assert json_round_trip(search.state_dict()) == json_round_trip(reference.state_dict())
    assert [path.name for path in tmp_path.iterdir()] == ["search.json"]  # no temp file left behind


def test_a_saved_search_continues_exactly_in_another_process(tmp_path):
    _, reference = run_uninterrupted()
    search = EvolutionSearch(grid(6, 4), constraint=toy_constraint, **RESUME_SETTINGS)
    Driver(toy_objective).run(search, stop=lambda s: s.generation == 2)
    search.save(tmp_path / "start.json")
    script = TOY_SOURCE + (
        "import sys\n"
        "from slimkit.search import EvolutionSearch\n"
        "search = EvolutionSearch.load(sys.argv[1], constraint=constraint)\n"
        "while not search.finished:\n"
        "    for candidate in search.ask():\n"
        "        search.tell(candidate, objective(candidate.values))\n"
        "search.save(sys.argv[2])\n"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}  # string hashing differs from this process
    subprocess.run([sys.executable, "-c", script, "start.json", "end.json"], cwd=tmp_path, env=env, check=True)
    assert json.loads((tmp_path / "end.json").read_text()) == json_round_trip(reference.state_dict())


def test_load_rejects_files_that_are_not_a_search_state(tmp_path):
    (tmp_path / "other.json").write_text('{"hello": 1}')
    with pytest.raises(ValueError, match="not a saved EvolutionSearch state"):
        EvolutionSearch.load(tmp_path / "other.json")
    (tmp_path / "broken.json").write_text("{")
    with pytest.raises(ValueError, match="not a valid JSON file"):
        EvolutionSearch.load(tmp_path / "broken.json")


def test_settings_are_checked():
    paper = dict(population_size=50, generations=20, top_k=10, mutation_count=25, mutation_prob=0.1, crossover_count=25)
    too_many = "population_size=10 is out of range: must be >= mutation_count + crossover_count = 11"
    with pytest.raises(ValueError, match=re.escape(too_many)):
        EvolutionSearch(grid(3, 3), **{**paper, "population_size": 10, "mutation_count": 6, "crossover_count": 5})
    with pytest.raises(ValueError, match=re.escape("direction='up' has the wrong type")):
        EvolutionSearch(grid(3, 3), direction="up", **paper)
    with pytest.raises(ValueError, match=re.escape("mutation_prob=1.5 is out of range: must be in [0, 1]")):
        EvolutionSearch(grid(3, 3), **{**paper, "mutation_prob": 1.5})
    with pytest.raises(ValueError, match=re.escape("top_k=0 is out of range: must be >= 1")):
        EvolutionSearch(grid(3, 3), **{**paper, "top_k": 0})


def test_a_small_space_is_exhausted_without_looping_forever(caplog):
    search = EvolutionSearch(
        SearchSpace({"a": [1, 2], "b": ["x", "y"]}),
        population_size=10,
        generations=5,
        top_k=2,
        mutation_count=3,
        mutation_prob=0.1,
        crossover_count=3,
    )
    with caplog.at_level(logging.WARNING, logger="slimkit.search"):
        batch = search.ask()
        assert len(batch) == 4 and search.history == []
        for candidate in batch:
            search.tell(candidate, 1.0)
        assert search.ask() == [] and search.finished and search.generation == 1
    assert search.history[0]["unfilled"] == 6
    assert "no further feasible candidate" in caplog.text and "ends early" in caplog.text


def test_a_large_space_where_draws_run_out_fills_what_it_can_and_warns(caplog):
    def rare(values: dict) -> bool:  # about one feasible candidate in a million, space too big to enumerate
        return all(v < 2 for v in values.values())

    search = EvolutionSearch(
        grid(10, 8),
        population_size=5,
        generations=3,
        top_k=2,
        mutation_count=1,
        mutation_prob=0.1,
        crossover_count=1,
        constraint=rare,
        max_attempts=50,
    )
    with caplog.at_level(logging.WARNING, logger="slimkit.search"):
        assert search.ask() == []
    assert search.finished and "none found in 50 random draws" in caplog.text


def lower_until_small(values: dict, rng: random.Random) -> dict:
    """A repair for ``small``: random genes stepped down until the sum fits."""
    values = dict(values)
    while not small(values):
        values[rng.choice([gene for gene, value in values.items() if value > 0])] -= 1
    return values


def small(values: dict) -> bool:  # under one feasible candidate in a million uniformly random draws
    return sum(values.values()) <= 12


def test_a_repair_fills_every_generation_where_random_draws_find_nothing_and_resumes_exactly(tmp_path):
    settings = dict(
        population_size=10, generations=4, top_k=3, mutation_count=4, mutation_prob=0.1, crossover_count=3, seed=5
    )
    unrepaired = EvolutionSearch(grid(10, 8), constraint=small, max_attempts=200, **settings)
    assert unrepaired.ask() == []  # rejection sampling alone gives up

    reference = EvolutionSearch(grid(10, 8), constraint=small, repair=lower_until_small, **settings)
    driver = Driver(index_sum)
    driver.run(reference)
    assert reference.generation == 4
    assert all(len(record["candidates"]) == 10 for record in reference.history)
    assert all(small(candidate.values) for candidate in driver.asked)
    assert all(record["repaired"] > 0 for record in reference.history)
    # repaired draws land at the cap, where the best scores are
    assert max(index_sum(candidate.values) for candidate in driver.asked) == 12

    search = EvolutionSearch(grid(10, 8), constraint=small, repair=lower_until_small, **settings)
    resumed_driver = Driver(index_sum)
    resumed_driver.run(search, stop=lambda s: s.generation == 2)
    search.save(tmp_path / "search.json")
    search = EvolutionSearch.load(tmp_path / "search.json", constraint=small, repair=lower_until_small)
    resumed_driver.run(search)
    assert resumed_driver.asked == driver.asked
    assert search.history == reference.history


@settings(max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    sizes=st.lists(st.integers(1, 4), min_size=1, max_size=4),
    seed=st.integers(0, 2**32),
    population_size=st.integers(1, 8),
    generations=st.integers(0, 4),
    top_k=st.integers(1, 4),
    split=st.tuples(st.floats(0, 1), st.floats(0, 1)),
    mutation_prob=st.floats(0, 1),
    modulus=st.integers(1, 4),
    fail_modulus=st.integers(2, 5),
)
def test_property_never_duplicate_never_infeasible(
    sizes, seed, population_size, generations, top_k, split, mutation_prob, modulus, fail_modulus
):
    space = SearchSpace({f"g{i}": list(range(size)) for i, size in enumerate(sizes)})

    def weight(values: dict) -> int:
        return sum((i + 1) * v for i, v in enumerate(values.values()))

    def feasible(values: dict) -> bool:  # rejects about 1/modulus of the space; modulus 1 rejects all of it
        return (weight(values) + seed) % modulus != 0

    mutation_count = int(split[0] * population_size)
    crossover_count = int(split[1] * (population_size - mutation_count))
    search = EvolutionSearch(
        space,
        population_size=population_size,
        generations=generations,
        top_k=top_k,
        mutation_count=mutation_count,
        crossover_count=crossover_count,
        mutation_prob=mutation_prob,
        constraint=feasible,
        seed=seed,
        max_attempts=20,
    )
    asked: list[Candidate] = []
    while not search.finished:
        batch = search.ask()
        assert len(batch) <= population_size
        assert batch or search.finished  # an empty ask only when nothing feasible is left
        for candidate in batch:
            assert candidate in space and feasible(candidate.values)
            search.tell(
                candidate, None if weight(candidate.values) % fail_modulus == 0 else float(weight(candidate.values))
            )
        asked += batch
    assert len(set(asked)) == len(asked)
    assert len(search.history) <= generations
    all_feasible = {space.candidate(i) for i in space.all_indices() if feasible(space.values(i))}
    if len(search.history) < generations or any(record["unfilled"] for record in search.history):
        assert set(asked) == all_feasible  # it stopped short only because nothing feasible was left
    for record in search.history:
        assert all(parent["score"] is not None for parent in record["parents"])
