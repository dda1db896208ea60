"""Train convolutional networks in channels_last memory format: on GPUs in bf16 that lets cuDNN use its NHWC
kernels (SPOS supernet on an H100: 1,805 -> 5,930 img/s together with bf16; benchmarks/spos_throughput.py).
Converting the model's 4-D weights is enough: a convolution whose weight is channels_last returns a
channels_last output, so the format propagates from the first layer on."""

from __future__ import annotations

import lightning as L
import torch


class ChannelsLast(L.Callback):
    """``+callbacks.channels_last._target_=slimkit.callbacks.ChannelsLast``: the model in channels_last from
    the start of fit (checkpoints hold the same tensors; the format is not saved)."""

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        pl_module.to(memory_format=torch.channels_last)
