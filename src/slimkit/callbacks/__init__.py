"""Callbacks: RNG state in checkpoints and a checkpoint on preemption signals (resumable runs), channels_last."""

from slimkit.callbacks.channels_last import ChannelsLast
from slimkit.callbacks.rng_state import RNGStateInCheckpoint
from slimkit.callbacks.signal_checkpoint import CheckpointOnSignal

__all__ = ["ChannelsLast", "CheckpointOnSignal", "RNGStateInCheckpoint"]
