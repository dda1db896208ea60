"""Candidate and SearchSpace: identity, immutability, JSON round trips, clear errors, operators."""

from __future__ import annotations

import json
import pickle
import random

import pytest

from slimkit.search import Candidate, SearchSpace


def test_candidate_is_an_immutable_hashable_mapping():
    candidate = Candidate({"depth": 20, "width": 16, "blocks": [1, 2]})
    assert candidate["depth"] == 20 and len(candidate) == 3 and "width" in candidate and "lr" not in candidate
    assert dict(candidate) == {"depth": 20, "width": 16, "blocks": [1, 2]}
    assert list(candidate) == ["depth", "width", "blocks"]
    assert candidate.get("lr", 0.1) == 0.1
    with pytest.raises(AttributeError):
        candidate.depth = 32
    # values are copies: changing them cannot change the candidate or its hash
    candidate.values["depth"] = 56
    candidate["blocks"].append(3)
    assert candidate["depth"] == 20 and candidate["blocks"] == [1, 2]
    assert {candidate: "x"}[Candidate({"blocks": (1, 2), "width": 16, "depth": 20})] == "x"  # order, tuple vs list


def test_candidate_identity_follows_json():
    assert Candidate({"a": 1}) != Candidate({"a": 1.0}) != Candidate({"a": True})
    assert Candidate({"a": 0.1, "b": "x"}) == Candidate({"b": "x", "a": 0.1})
    with pytest.raises(ValueError, match="not a JSON value"):
        Candidate({"a": object()})
    with pytest.raises(ValueError, match="not a JSON value"):
        Candidate({"a": float("nan")})


def test_candidate_round_trips_through_json_and_pickle():
    candidate = Candidate({"depth": 56, "lr": 0.1 + 0.2, "act": "relu", "bits": [4, 8], "extra": {"k": None}})
    assert Candidate(json.loads(json.dumps(candidate.to_dict()))) == candidate
    restored = pickle.loads(pickle.dumps(candidate))
    assert restored == candidate and hash(restored) == hash(candidate) and restored["lr"] == 0.1 + 0.2


def test_space_rejects_bad_definitions_with_clear_errors():
    with pytest.raises(ValueError, match="at least one gene"):
        SearchSpace({})
    with pytest.raises(ValueError, match="'depth' has no allowed values"):
        SearchSpace({"depth": []})
    with pytest.raises(ValueError, match="lists the value 20 twice"):
        SearchSpace({"depth": [20, 32, 20]})
    with pytest.raises(ValueError, match="must be a list"):
        SearchSpace({"act": "relu"})
    with pytest.raises(ValueError, match="not a JSON value"):
        SearchSpace({"act": [print]})


def test_space_maps_candidates_to_indices_and_back():
    space = SearchSpace({"depth": [20, 32, 56], "width": [16, 32], "lr": [0.01, 0.1]})
    assert space.size == 12 and space.sizes == (3, 2, 2) and space.names == ("depth", "width", "lr")
    candidate = space.candidate((2, 0, 1))
    assert candidate == Candidate({"depth": 56, "width": 16, "lr": 0.1})
    assert space.indices(candidate) == (2, 0, 1) and candidate in space
    assert Candidate({"depth": 21, "width": 16, "lr": 0.1}) not in space
    with pytest.raises(ValueError, match="does not allow the value 21"):
        space.indices({"depth": 21, "width": 16, "lr": 0.1})
    with pytest.raises(ValueError, match="has genes"):
        space.indices({"depth": 20})
    assert SearchSpace.from_dict(json.loads(json.dumps(space.to_dict()))) == space
    assert len(set(space.all_indices())) == 12


def test_mutation_changes_exactly_the_resampled_genes_and_crossover_mixes_parents():
    space = SearchSpace({f"g{i}": list(range(4)) for i in range(8)} | {"fixed": ["only"]})
    rng = random.Random(0)
    parent = (0, 1, 2, 3, 0, 1, 2, 3, 0)
    assert all(space.mutated_indices(parent, 1.0, rng)[gene] != parent[gene] for gene in range(8))
    assert space.mutated_indices(parent, 1.0, rng)[8] == 0  # a gene with one value cannot change
    assert space.mutated_indices(parent, 0.0, rng) == parent
    other = (3, 2, 1, 0, 3, 2, 1, 0, 0)
    children = [space.crossed_indices(parent, other, rng) for _ in range(200)]
    assert all(c[g] in (parent[g], other[g]) for c in children for g in range(9))
    assert len(set(children)) > 50  # genes are taken independently, not in blocks
