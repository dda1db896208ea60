"""``method=baseline``: plain supervised training of the chosen model."""

from slimkit.methods.baseline.runner import BaselineRunner

__all__ = ["BaselineRunner"]
