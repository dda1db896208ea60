"""slimkit.quant and slimkit.accelerator stay below the methods: no module of theirs imports slimkit.methods."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SOURCE = Path(__file__).resolve().parents[2] / "src" / "slimkit"


def imported_modules(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


@pytest.mark.parametrize("package", ["quant", "accelerator"])
def test_the_package_does_not_import_the_methods(package):
    offending = {
        str(path.relative_to(SOURCE)): sorted(
            name for name in imported_modules(path) if name.startswith("slimkit.methods")
        )
        for path in sorted((SOURCE / package).rglob("*.py"))
    }
    assert {path: names for path, names in offending.items() if names} == {}
