"""Keep torch / numpy / python RNG states in every checkpoint, so a resumed run draws the same
random numbers (dropout, augmentation) as the uninterrupted run from that point on."""

from __future__ import annotations

import random
from typing import Any

import lightning as L
import numpy as np
import torch


def capture_rng_states() -> dict[str, Any]:
    """All RNG states as tensors and plain tuples (loadable with ``weights_only=True``)."""
    kind, keys, position, has_gauss, cached_gauss = np.random.get_state()
    states: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": (kind, torch.from_numpy(keys.astype(np.int64)), position, has_gauss, cached_gauss),
        "python": random.getstate(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def restore_rng_states(states: dict[str, Any]) -> None:
    torch.set_rng_state(states["torch"])
    kind, keys, position, has_gauss, cached_gauss = states["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), position, has_gauss, cached_gauss))
    version, internal, gauss = states["python"]
    random.setstate((version, tuple(internal), gauss))
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


class RNGStateInCheckpoint(L.Callback):
    def state_dict(self) -> dict[str, Any]:
        return capture_rng_states()

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        if state_dict:
            restore_rng_states(state_dict)
