"""Hydra's sweep syntax read into search parameters."""

from __future__ import annotations

import pytest

from hydra_plugins.slimkit_sweepers.search_space import as_override, parse_search_space
from slimkit.errors import ConfigError


def test_sweep_syntax_becomes_parameters_and_fixed_overrides():
    fixed, space = parse_search_space(
        ["model=lenet,wrn", "trainer.max_epochs=3", "seed=range(1,7,2)"],
        {"lr": "tag(log, interval(1e-4, 0.1))", "width": "tag(int, interval(8, 64))", "drop": "choice(0.0, 0.5)"},
    )
    assert fixed == ["trainer.max_epochs=3"]
    assert space["model"].kind == "choice" and space["model"].choices == ("lenet", "wrn")
    assert space["seed"].kind == "int" and space["seed"].discrete_values() == [1, 3, 5]
    assert space["lr"].kind == "float" and space["lr"].log and (space["lr"].low, space["lr"].high) == (1e-4, 0.1)
    assert space["width"].kind == "int" and not space["width"].log
    assert space["drop"].discrete_values() == [0.0, 0.5]
    with pytest.raises(ConfigError, match="no finite set of values"):
        space["lr"].discrete_values()


def test_values_are_written_back_in_override_grammar():
    assert as_override("model", "wrn") == "model=wrn"
    assert as_override("tags", ["a", "b"]) == "tags=[a,b]"
    assert as_override("name", "a,b") == "name='a,b'"
    assert as_override("lr", 0.5) == "lr=0.5"
