"""Callbacks that make runs resumable: RNG state in checkpoints, a checkpoint on preemption signals."""

from slimkit.callbacks.rng_state import RNGStateInCheckpoint
from slimkit.callbacks.signal_checkpoint import CheckpointOnSignal

__all__ = ["CheckpointOnSignal", "RNGStateInCheckpoint"]
