"""StageRunner: a finished stage is reloaded, not retrained; one that no longer fits is one clear error."""

from __future__ import annotations

import lightning as L
import pytest
import torch
from omegaconf import OmegaConf
from torch import nn

from slimkit.errors import ConfigError
from slimkit.methods.stages import Stage, StagePlan, StageRunner
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


def plan_of(selected: str, supplied: tuple[str, ...] = ()) -> tuple[StagePlan, list[str]]:
    """supernet (reusable) -> search -> retrain, and an extra analysis outside 'all'; the order they ran in."""
    ran: list[str] = []

    def work(name: str, product: str | None = None):
        def run(files, products):
            ran.append(name)
            if product:
                products[product] = name
            return {"test/acc": 0.5}

        return run

    stages = [
        Stage("supernet", work("supernet", "supernet"), produces=("supernet",), reusable=True, prefix=True),
        Stage("search", work("search", "architecture"), needs=("supernet",), produces=("architecture",)),
        Stage("retrain", work("retrain"), needs=("architecture",)),
        Stage("fidelity", work("fidelity"), needs=("supernet",), in_all=False),
    ]
    how = {"supernet": "a trained supernet: method.supernet=<stages/supernet.pt>", "architecture": "method.arch=<json>"}
    return StagePlan(stages, selected, how, supplied), ran


def stage_files(tmp_path, finished: tuple[str, ...] = ()) -> StageRunner:
    cfg = OmegaConf.create({"method": {"name": "m"}, "model": {}, "data": {}, "seed": 1})
    files = StageRunner(RunContext(cfg, tmp_path, datamodule=None))
    files.stage_dir.mkdir(parents=True, exist_ok=True)
    for name in finished:
        (files.stage_dir / f"{name}.pt").touch()
    return files


def test_all_runs_the_declared_stages_in_order_with_prefixed_metrics_where_asked(tmp_path):
    plan, ran = plan_of("all")
    metrics = plan.run(stage_files(tmp_path), {})
    assert ran == ["supernet", "search", "retrain"]  # fidelity is run by name only
    assert metrics == {"supernet/test_acc": 0.5, "test/acc": 0.5}


def test_a_need_no_setting_can_supply_is_one_line_when_the_plan_is_built():
    with pytest.raises(ConfigError, match=r"^method.stage=retrain needs method.arch=<json>$"):
        plan_of("retrain")
    plan, ran = plan_of("retrain", supplied=("architecture",))
    products = {"architecture": "given"}
    plan.run(None, products)
    assert ran == ["retrain"]


def test_a_reusable_producer_runs_only_from_a_finished_or_given_stage_file(tmp_path):
    plan, ran = plan_of("search")
    with pytest.raises(ConfigError, match="^method.stage=search needs a trained supernet: method.supernet="):
        plan.run(stage_files(tmp_path), {})
    assert ran == []
    plan.run(stage_files(tmp_path, finished=("supernet",)), {})
    assert ran == ["supernet", "search"]  # the producer's work loads the finished stage
    plan, ran = plan_of("fidelity", supplied=("supernet",))
    plan.run(stage_files(tmp_path / "other"), {})
    assert ran == ["supernet", "fidelity"]


def test_an_unknown_stage_is_one_line_listing_the_stages():
    with pytest.raises(
        ConfigError,
        match="^method.stage=prune is not a stage; choose one of: supernet, search, retrain, fidelity, all$",
    ):
        plan_of("prune")


def test_a_need_only_a_setting_supplies_is_one_line_without_it():
    """MetaPruning's retrain needs method.encoding, which no stage makes."""
    stages = [Stage("retrain", lambda files, products: {}, needs=("encoding",))]
    with pytest.raises(ConfigError, match=r"^method.stage=retrain needs method.encoding=<list>$"):
        StagePlan(stages, "retrain", {"encoding": "method.encoding=<list>"})
    assert StagePlan(stages, "retrain", {"encoding": "x"}, supplied=["encoding"]).run(None, {"encoding": [1]}) == {}
