"""StageRunner: a finished stage is reloaded, not retrained; one that no longer fits is one clear error."""

from __future__ import annotations

import lightning as L
import pytest
import torch
from omegaconf import OmegaConf
from torch import nn

from slimkit.errors import ConfigError
from slimkit.methods.stages import StageRunner
from slimkit.run_context import RunContext


class Holder(L.LightningModule):
    def __init__(self, features: int) -> None:
        super().__init__()
        self.layer = nn.Linear(features, 2)


def test_a_finished_stage_is_reloaded_and_one_of_another_network_is_one_clear_error(tmp_path):
    """Same settings, another network (a stage file left by another version of the code): refused with the
    file named, not a traceback of size mismatches."""
    cfg = OmegaConf.create({"method": {"name": "m"}, "model": {}, "data": {}, "seed": 1})
    stages = StageRunner(RunContext(cfg, tmp_path, datamodule=None))
    finished = Holder(3)
    (tmp_path / "stages").mkdir()
    state = {"module": finished.state_dict(), "metrics": {"test/acc": 0.5}, "fingerprint": stages.fingerprint}
    torch.save(state, tmp_path / "stages" / "retrain.pt")

    reloaded = Holder(3)
    assert stages.fit("retrain", reloaded, epochs=1) == {"test/acc": 0.5}
    torch.testing.assert_close(reloaded.layer.weight, finished.layer.weight)
    with pytest.raises(
        ConfigError, match="retrain.pt does not fit this stage's network \\(size mismatch for layer.weight"
    ):
        stages.fit("retrain", Holder(4), epochs=1)
