"""The channels_last callback: same outputs, NHWC weights and activations, and usable from the command line."""

from __future__ import annotations

import lightning as L
import pytest
import torch
from conftest import QUICK, read_results, run_train
from torch import nn

from slimkit.callbacks import ChannelsLast


def test_the_model_runs_in_channels_last_with_the_same_outputs():
    torch.manual_seed(0)
    module = L.LightningModule()
    module.net = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU(), nn.Conv2d(8, 4, 1))
    x = torch.randn(2, 3, 9, 9)
    before = module.net(x)
    ChannelsLast().on_fit_start(None, module)
    assert all(p.is_contiguous(memory_format=torch.channels_last) for p in module.parameters() if p.ndim == 4)
    after = module.net(x)  # an NCHW input: the first conv's NHWC weight carries the format on
    assert after.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(after, before)


@pytest.mark.slow
def test_train_py_takes_the_callback(tmp_path):
    result = run_train(
        [*QUICK, "+callbacks.channels_last._target_=slimkit.callbacks.ChannelsLast", f"hydra.run.dir={tmp_path}"]
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert read_results(tmp_path)["metrics"]["test/acc"] > 0
