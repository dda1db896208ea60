"""Verilator -Wall finds nothing in any configuration the scripts and builds use (hardware/scripts/lint.py)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # Verilator lint of every configuration

SPEC = importlib.util.spec_from_file_location("hw_lint", Path(__file__).resolve().parents[1] / "scripts" / "lint.py")
hw_lint = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(hw_lint)


@pytest.mark.parametrize(("name", "config", "top"), hw_lint.lint_sets(), ids=lambda value: str(value)[:40])
def test_verilator_lint_is_clean(name, config, top):
    assert hw_lint.lint(config, top) == "", name
