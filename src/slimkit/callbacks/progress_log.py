"""Progress as log lines for runs without a progress bar (``callbacks.progress_bar=null``, Slurm logs, CI):
one line per training epoch, and one every ``every_minutes`` inside a long epoch, so a run never goes quiet
for longer than that. With a bar on the console the bar says it all and this callback stays silent."""

from __future__ import annotations

import logging
import math
import time
from datetime import timedelta
from typing import Any

import lightning as L

log = logging.getLogger(__name__)


class ProgressLog(L.Callback):
    """``epoch 3/30 (step 60): train/acc 0.9125, ..., val/loss 0.1801; 0:00:42 elapsed`` after every
    training epoch (its validation included), and the same with the batch every ``every_minutes``
    minutes in between (None: epoch lines only). Logged by rank zero only."""

    def __init__(self, every_minutes: float | None = 5.0) -> None:
        if every_minutes is not None and not every_minutes > 0:
            raise ValueError(f"every_minutes must be > 0 or null, got {every_minutes}")
        self.every_seconds = None if every_minutes is None else 60.0 * every_minutes
        self.active = False
        self.started = self.last_line = 0.0

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        self.active = trainer.progress_bar_callback is None and trainer.is_global_zero

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.started = self.last_line = time.monotonic()

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        if not self.active or self.every_seconds is None or time.monotonic() - self.last_line < self.every_seconds:
            return
        batches = trainer.num_training_batches
        of_batches = f"/{batches}" if isinstance(batches, int) else ""  # inf for an iterable without a length
        # the latest batch's values: epoch-level ones are still those of the previous epoch
        metrics = {name: value for name, value in trainer.callback_metrics.items() if name.endswith("_step")}
        self._line(trainer, f"batch {batch_idx + 1}{of_batches}", metrics)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.active:
            # a metric logged per step and per epoch is there three times: x (the epoch's), x_epoch and x_step
            metrics = trainer.callback_metrics
            epoch_values = {
                name: value
                for name, value in metrics.items()
                if not name.endswith("_step")
                and not (name.endswith("_epoch") and name.removesuffix("_epoch") in metrics)
            }
            self._line(trainer, "", epoch_values)

    def _line(self, trainer: L.Trainer, position: str, metrics: dict[str, Any]) -> None:
        now = time.monotonic()
        self.last_line = now
        max_epochs = trainer.max_epochs if trainer.max_epochs is not None and trainer.max_epochs >= 0 else None
        epoch = f"epoch {trainer.current_epoch + 1}" + (f"/{max_epochs}" if max_epochs else "")
        where = ", ".join(filter(None, [epoch, position]))
        values = ", ".join(f"{name} {_number(value)}" for name, value in sorted(metrics.items()))
        elapsed = timedelta(seconds=round(now - self.started))
        log.info("%s (step %d)%s; %s elapsed", where, trainer.global_step, f": {values}" if values else "", elapsed)


def _number(value: Any) -> str:
    number = float(value)
    return f"{number:.4f}" if math.isfinite(number) and abs(number) < 1e4 else f"{number:.4g}"
