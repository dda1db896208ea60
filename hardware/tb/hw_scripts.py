"""hardware/scripts/*.py as modules for the tests (the scripts are run as files, not imported as a package)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


def load_script(name: str) -> ModuleType:
    """The module of hardware/scripts/<name>.py."""
    spec = importlib.util.spec_from_file_location(f"hw_{name}", SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
