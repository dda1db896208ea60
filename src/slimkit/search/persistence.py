"""JSON helpers for saving a search: the random generator's state and crash-safe file writes."""

from __future__ import annotations

import json
import os
import random
import tempfile
from pathlib import Path
from typing import Any


def rng_state_to_json(rng: random.Random) -> list[Any]:
    """``rng.getstate()`` as JSON lists: ``[version, [625 ints], gauss_next]``."""
    version, internal, gauss_next = rng.getstate()
    return [version, list(internal), gauss_next]


def rng_from_json(data: list[Any]) -> random.Random:
    """A generator in exactly the state :func:`rng_state_to_json` recorded."""
    version, internal, gauss_next = data
    rng = random.Random()
    rng.setstate((int(version), tuple(int(word) for word in internal), gauss_next))
    return rng


def write_json_atomic(path: str | os.PathLike[str], data: Any) -> Path:
    """Write ``data`` as JSON to ``path`` via a temp file and ``os.replace``.

    A crash or kill while writing leaves either the old file or the new one, never half of one,
    so a search state on disk is always loadable.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(data, indent=1, allow_nan=False)
    handle, temp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temp_name, target)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
    return target


def read_json(path: str | os.PathLike[str]) -> Any:
    """The JSON value stored at ``path``; ValueError naming the file when it is not valid JSON."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not a valid JSON file: {error}") from error
