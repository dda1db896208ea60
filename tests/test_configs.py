"""Every valid method x model x data combination composes, type-checks and builds; every other
config option composes and type-checks; impossible combinations fail with one clear line."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import compose_config, group_options
from hydra.utils import get_class, instantiate
from omegaconf import OmegaConf
from PIL import Image

from slimkit.config_checks import check_ddp_launch, check_target_node
from slimkit.errors import ConfigError
from slimkit.pipeline import check_config
from slimkit.run_context import build_model

FOLDER_DATA = {"cifar10": "cifar10", "cifar100": "cifar100"}


def data_overrides(data: str, cifar_root: Path, imagenet_root: Path) -> list[str]:
    if data in FOLDER_DATA:
        return [f"data.root={cifar_root / FOLDER_DATA[data]}", "data.val_size=10"]
    if data == "imagenet":
        return [f"data.root={imagenet_root}", "data.image_size=32"]
    return []


def task_of(group: str, option: str) -> str:
    """The task a method, model or data option is for (a method says it; models and data by class)."""
    node = OmegaConf.load(Path(__file__).parents[1] / "conf" / group / f"{option}.yaml")
    if group == "method":
        return node.task
    if "_target_" not in node:  # an option that extends another (wrn_28_10 -> wrn)
        return task_of(group, node.defaults[0])
    return get_class(node._target_).task


COMBINATIONS = [
    (method, model, data)
    for method in group_options("method")
    for model in group_options("model")
    for data in group_options("data")
    if task_of("method", method) == task_of("model", model) == task_of("data", data)
]


def sr_overrides(model: str, data: str, tmp_path: Path) -> list[str]:
    overrides = ["model.config=small"] if model == "rdn" else ["model.blocks=2"] if model == "edsr" else []
    if data == "sr_folder":
        folder = tmp_path.parent / f"{tmp_path.name}_hr"
        folder.mkdir(exist_ok=True)
        for index in range(3):
            Image.fromarray(np.full((80, 80, 3), 60 * index, dtype=np.uint8)).save(folder / f"{index}.png")
        overrides.append(f"data.root={folder}")
    return [*overrides, "data.patch_size=16"]


@pytest.mark.parametrize(("method", "model", "data"), COMBINATIONS)
def test_every_combination_builds_and_runs_a_batch(method, model, data, fake_cifar_root, fake_imagenet_root, tmp_path):
    overrides = [f"method={method}", f"model={model}", f"data={data}", "data.num_workers=0", "data.batch_size=2"]
    overrides += data_overrides(data, fake_cifar_root, fake_imagenet_root)
    super_resolution = task_of("data", data) == "super_resolution"
    if super_resolution:
        overrides += sr_overrides(model, data, tmp_path)
    cfg = compose_config(overrides, tmp_path)
    datamodule, runner = check_config(cfg)
    assert hasattr(runner, "run")
    assert not any(tmp_path.iterdir()), "checking a config must not write anything"
    datamodule.setup("fit")
    network = build_model(cfg.model, datamodule).eval()
    if super_resolution:
        low, high, scale = next(iter(datamodule.train_dataloader()))
        with torch.no_grad():
            assert network(low, float(scale[0])).shape == high.shape
        assert tuple(low.shape[1:]) == tuple(datamodule.input_shape)
        return
    inputs, labels = next(iter(datamodule.val_dataloader()))
    with torch.no_grad():
        logits = network(inputs)
    assert tuple(logits.shape) == (len(labels), datamodule.num_classes)
    assert tuple(inputs.shape[1:]) == tuple(datamodule.input_shape)


def test_every_method_model_and_data_has_a_partner_for_its_task():
    covered = {part for combination in COMBINATIONS for part in combination}
    assert covered == set(group_options("method")) | set(group_options("model")) | set(group_options("data"))


@pytest.mark.parametrize("group", ["trainer", "logger", "callbacks", "experiment", "debug"])
def test_every_option_of_other_groups_composes_and_type_checks(group, tmp_path):
    for option in group_options(group):
        cfg = compose_config([f"{group}={option}"], tmp_path)
        for path in ("trainer", "method.runner", "model", "data"):
            check_target_node(OmegaConf.select(cfg, path), path, {"in_channels", "num_classes", "input_size"})
        for section in ("logger", "callbacks"):
            for name, node in (cfg.get(section) or {}).items():
                check_target_node(node, f"{section}.{name}")


def test_experiment_overrides_groups_globally(tmp_path):
    cfg = compose_config(["experiment=wrn_digits"], tmp_path)
    assert cfg.model._target_ == "slimkit.models.WideResNet"
    assert cfg.trainer.max_epochs == 15 and cfg.data.batch_size == 128
    assert cfg.method.runner.scheduler.T_max == 15  # interpolations follow the experiment's values


def test_wrn_28_10_is_available(tmp_path):
    cfg = compose_config(["model=wrn_28_10"], tmp_path)
    assert (cfg.model.depth, cfg.model.widen_factor) == (28, 10)


def test_method_model_hook_is_loaded_when_present(tmp_path):
    hook = Path(__file__).resolve().parents[1] / "conf" / "method_model" / "baseline_lenet.yaml"
    hook.write_text("# @package _global_\ntags: [from_hook]\n")
    try:
        assert list(compose_config(["model=lenet"], tmp_path).tags) == ["from_hook"]
        assert list(compose_config(["model=resnet"], tmp_path).tags) == []
    finally:
        hook.unlink()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["method.task=super_resolution"], "method is for super_resolution, model is for classification"),
        (["model=vgg16", "data.image_size=16"], "needs at least 32x32"),
        (["model=lenet", "data.image_size=8"], "LeNet5 needs inputs of at least 16x16"),
        (["model=resnet", "model.depth=21"], "depth must be 6n+2"),
        (["trainer.max_epochs=abc"], "trainer.max_epochs='abc' has the wrong type"),
        (["trainer.precision=bf17"], "trainer.precision='bf17' has the wrong type"),
        (["+model.depth=3"], "model.depth is not an argument of slimkit.models.LeNet5"),
        (["data=cifar10", "data.root=/nope"], "data.root=/nope is not a folder"),
        (["data=imagenet", "data.root=/"], "has no train/ folder"),
        (["data.batch_size=0"], "data.batch_size must be >= 1"),
    ],
)
def test_impossible_configs_fail_with_a_clear_error(overrides, message, tmp_path):
    cfg = compose_config(overrides, tmp_path / "run")
    with pytest.raises(ConfigError, match=re.escape(message)):
        check_config(cfg)
    assert not (tmp_path / "run").exists()


def test_optimizer_and_scheduler_are_partials(tmp_path):
    cfg = compose_config([], tmp_path)
    runner = instantiate(cfg.method.runner)
    optimizer = runner.optimizer([torch.nn.Parameter(torch.zeros(1))])
    assert isinstance(optimizer, torch.optim.SGD) and optimizer.defaults["lr"] == cfg.method.runner.optimizer.lr


def test_ddp_spawned_by_lightning_is_refused_in_a_local_multirun(tmp_path):
    trainer_cfg = compose_config(["trainer=ddp_cpu"], tmp_path).trainer
    with pytest.raises(ConfigError, match="would re-launch the sweep"):
        check_ddp_launch(trainer_cfg, multirun=True, environ={})
    check_ddp_launch(trainer_cfg, multirun=False, environ={})  # a single run: Lightning's launcher is fine
    check_ddp_launch(trainer_cfg, multirun=True, environ={"SLURM_NTASKS": "2"})  # srun made the ranks
    check_ddp_launch(compose_config([], tmp_path).trainer, multirun=True, environ={})
