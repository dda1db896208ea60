"""Callbacks: RNG state in checkpoints and a checkpoint on preemption signals (resumable runs), channels_last,
progress lines when there is no progress bar, and a model summary without an empty FLOPs column."""

from slimkit.callbacks.channels_last import ChannelsLast
from slimkit.callbacks.model_summary import ModelSummary
from slimkit.callbacks.progress_log import ProgressLog
from slimkit.callbacks.rng_state import RNGStateInCheckpoint
from slimkit.callbacks.signal_checkpoint import CheckpointOnSignal

__all__ = ["ChannelsLast", "CheckpointOnSignal", "ModelSummary", "ProgressLog", "RNGStateInCheckpoint"]
