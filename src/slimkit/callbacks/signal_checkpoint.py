"""Write ``last.ckpt`` when the job is told to stop, then let the signal do what it did before.

SIGTERM: Lightning already stops at the next batch boundary (raising SIGTERMException); we save
the checkpoint from ``on_exception``. SIGUSR1 / SIGUSR2 (Slurm's warning before a time limit,
submitit's requeue signal): we note the signal, save at the next batch boundary, where the state is
consistent, and then hand the signal to whichever handler was installed before us (submitit's
requeue, Lightning's SLURM requeue, or the default action).
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from types import FrameType
from typing import Any

import lightning as L
from lightning.pytorch.utilities.exceptions import SIGTERMException
from lightning.pytorch.utilities.rank_zero import rank_zero_info

FORWARDED_SIGNALS = (signal.SIGUSR1, signal.SIGUSR2)


class CheckpointOnSignal(L.Callback):
    def __init__(self, dirpath: str, filename: str = "last.ckpt") -> None:
        self.path = Path(dirpath) / filename
        self.pending_signal: int | None = None
        self.previous_handlers: dict[int, Any] = {}

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        for signum in FORWARDED_SIGNALS:
            self.previous_handlers[signum] = signal.signal(signum, self._note_signal)

    def _note_signal(self, signum: int, frame: FrameType | None) -> None:
        self.pending_signal = signum

    def on_train_batch_end(self, trainer: L.Trainer, *args: Any) -> None:
        if self.pending_signal is None:
            return
        signum, self.pending_signal = self.pending_signal, None
        self._save(trainer, signal.Signals(signum).name)
        previous = self.previous_handlers.get(signum, signal.SIG_DFL)
        self._restore_handlers()
        if callable(previous):
            previous(signum, None)
        elif previous == signal.SIG_DFL:
            os.kill(os.getpid(), signum)  # the default action: end the process

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        if isinstance(exception, SIGTERMException):
            self._save(trainer, "SIGTERM")
        self._restore_handlers()

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._restore_handlers()

    def _save(self, trainer: L.Trainer, reason: str) -> None:
        trainer.save_checkpoint(self.path)
        rank_zero_info(f"{reason}: saved {self.path} at step {trainer.global_step}; rerun the command to resume")

    def _restore_handlers(self) -> None:
        for signum, handler in self.previous_handlers.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)
        self.previous_handlers = {}
