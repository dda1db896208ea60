"""Verilator -Wall finds nothing in any configuration the scripts and builds use (hardware/scripts/lint.py)."""

from __future__ import annotations

import pytest
from hw_scripts import load_script

pytestmark = pytest.mark.slow  # Verilator lint of every configuration

hw_lint = load_script("lint")


@pytest.mark.parametrize(("name", "config", "top"), hw_lint.lint_sets(), ids=lambda value: str(value)[:40])
def test_verilator_lint_is_clean(name, config, top):
    assert hw_lint.lint(config, top) == "", name
