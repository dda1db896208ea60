"""What the console shows: progress lines instead of a bar, ``progress_bar=null`` means no bar, no FLOPs
column of zeros, no Lightning advertisements."""

from __future__ import annotations

import logging

import lightning as L
import torch
from conftest import compose_config
from lightning.pytorch.callbacks import RichProgressBar
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from slimkit.callbacks import ModelSummary, ProgressLog
from slimkit.pipeline import _quiet_lightning, check_config
from slimkit.run_context import RunContext


class TinyModule(L.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.layer = nn.Linear(4, 1)

    def training_step(self, batch, batch_idx):
        loss = nn.functional.mse_loss(self.layer(batch[0]), batch[1])
        self.log("train/loss", loss, on_step=True, on_epoch=True)
        return loss

    def validation_step(self, batch, batch_idx):
        self.log("val/loss", nn.functional.mse_loss(self.layer(batch[0]), batch[1]))

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def fit_tiny(callbacks: list[L.Callback], epochs: int = 3, **trainer_args) -> None:
    data = TensorDataset(torch.randn(8, 4), torch.randn(8, 1))
    trainer = L.Trainer(
        max_epochs=epochs,
        callbacks=callbacks,
        logger=False,
        enable_checkpointing=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        **trainer_args,
    )
    trainer.fit(TinyModule(), DataLoader(data, batch_size=4), DataLoader(data, batch_size=4))


def progress_lines(caplog) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.name == "slimkit.callbacks.progress_log"]


def test_without_a_bar_one_line_per_epoch_with_its_train_and_val_metrics(caplog):
    with caplog.at_level(logging.INFO, logger="slimkit.callbacks.progress_log"):
        fit_tiny([ProgressLog(every_minutes=None)], enable_progress_bar=False)
    lines = progress_lines(caplog)
    assert [line.split(" (")[0] for line in lines] == ["epoch 1/3", "epoch 2/3", "epoch 3/3"]
    assert "(step 6): train/loss " in lines[-1] and ", val/loss " in lines[-1] and lines[-1].endswith(" elapsed")
    assert "loss_step" not in lines[-1] and "loss_epoch" not in lines[-1]


def test_a_line_every_few_minutes_inside_an_epoch(caplog):
    with caplog.at_level(logging.INFO, logger="slimkit.callbacks.progress_log"):
        fit_tiny([ProgressLog(every_minutes=1e-9)], epochs=1, enable_progress_bar=False)
    lines = progress_lines(caplog)
    assert [line.split(" (")[0] for line in lines] == ["epoch 1/1, batch 1/2", "epoch 1/1, batch 2/2", "epoch 1/1"]
    assert "train/loss_step " in lines[0]


def test_silent_while_a_bar_is_shown(caplog):
    with caplog.at_level(logging.INFO, logger="slimkit.callbacks.progress_log"):
        fit_tiny([ProgressLog(every_minutes=1e-9), RichProgressBar()], epochs=1)
    assert progress_lines(caplog) == []


def test_progress_bar_null_builds_a_trainer_without_any_bar(tmp_path):
    for overrides, bars in [([], True), (["callbacks.progress_bar=null"], False)]:
        cfg = compose_config(overrides, tmp_path)
        datamodule, _ = check_config(cfg)
        context = RunContext(cfg=cfg, output_dir=tmp_path, datamodule=datamodule)
        trainer = context.build_trainer()
        assert context.progress_bars is bars
        assert (trainer.progress_bar_callback is not None) is bars
        assert any(isinstance(callback, ProgressLog) for callback in trainer.callbacks)


def test_the_summary_has_no_flops_column_when_none_were_counted(capsys):
    ModelSummary.summarize(
        [(" ", ["0"]), ("Name", ["model"]), ("Type", ["LeNet5"]), ("Params", ["61.7 K"]), ("Mode", ["train"])]
        + [("FLOPs", ["0"])],
        61706,
        61706,
        0.247,
        {"train": 19, "eval": 0},
        0,
    )
    printed = capsys.readouterr().out
    assert "LeNet5" in printed and "Total params: 61.7 K" in printed
    assert "FLOPs" not in printed


def test_lightning_advertisements_and_notes_about_its_defaults_are_not_logged(caplog):
    _quiet_lightning()
    with caplog.at_level(logging.INFO):
        L.Trainer(logger=False, callbacks=[ModelSummary()], enable_checkpointing=False, enable_progress_bar=False)
    messages = [record.getMessage() for record in caplog.records]
    assert any("GPU available" in message for message in messages)
    assert not any("litlogger" in message or "model summary" in message for message in messages)
