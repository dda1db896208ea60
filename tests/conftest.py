"""Shared test helpers: compose the real configs in-process, or run train.py as a user would."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig
from PIL import Image

PROJECT_ROOT = Path(__file__).resolve().parents[1]
CONF_DIR = PROJECT_ROOT / "conf"
# small, fast settings for runs that only need to go through the whole harness
QUICK = [
    "trainer.max_epochs=2",
    "trainer.log_every_n_steps=1",
    "trainer.limit_train_batches=4",
    "trainer.limit_val_batches=2",
    "callbacks.progress_bar=null",
]

# an evolutionary search of 2 generations of 4 candidates, scored on 2 + 2 batches (SPOS, spos_bits)
TINY_SEARCH = [
    "method.search.population_size=4",
    "method.search.generations=2",
    "method.search.top_k=2",
    "method.search.mutation_count=1",
    "method.search.crossover_count=1",
    "method.search.calibration_batches=2",
    "method.search.holdout_batches=2",
]


def compose_config(overrides: list[str], output_dir: Path) -> DictConfig:
    """The composed train config, as train.py would see it, with the job's output dir set."""
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose("train", overrides=[*overrides, f"paths.output_dir={output_dir}"])


def group_options(group: str) -> list[str]:
    return sorted(path.stem for path in (CONF_DIR / group).glob("*.yaml"))


def run_train(
    args: list[str], timeout: float = 300, env: dict[str, str | None] | None = None
) -> subprocess.CompletedProcess:
    """``python train.py <args>`` in the project root, as a user types it (env: None removes a variable)."""
    environment = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "train.py", *args],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={name: value for name, value in environment.items() if value is not None},
    )


def start_train(args: list[str], log: Path) -> subprocess.Popen:
    handle = open(log, "w")  # noqa: SIM115 - closed by the child's exit
    return subprocess.Popen([sys.executable, "train.py", *args], cwd=PROJECT_ROOT, stdout=handle, stderr=handle)


def wait_for(condition: Callable[[], bool], process: subprocess.Popen, timeout: float = 120.0) -> None:
    """Poll ``condition`` until true, failing if ``process`` ends first or ``timeout`` seconds pass."""
    deadline = time.time() + timeout
    while not condition():
        assert process.poll() is None, "training ended before the test could interrupt it"
        assert time.time() < deadline, "timed out waiting"
        time.sleep(0.05)


def read_results(run_dir: Path) -> dict:
    return json.loads((run_dir / "results.json").read_text())


@pytest.fixture(scope="session")
def fake_cifar_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder laid out like the CIFAR-10 and CIFAR-100 python archives, with a few random images."""
    root = tmp_path_factory.mktemp("cifar")
    rng = np.random.default_rng(0)

    def write(folder: Path, name: str, count: int, label_key: bytes, classes: int) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        batch = {
            b"data": rng.integers(0, 256, (count, 3072), dtype=np.uint8),
            label_key: rng.integers(0, classes, count).tolist(),
        }
        (folder / name).write_bytes(pickle.dumps(batch))

    for index in range(1, 6):
        write(root / "cifar10" / "cifar-10-batches-py", f"data_batch_{index}", 20, b"labels", 10)
    write(root / "cifar10" / "cifar-10-batches-py", "test_batch", 20, b"labels", 10)
    write(root / "cifar100" / "cifar-100-python", "train", 100, b"fine_labels", 100)
    write(root / "cifar100" / "cifar-100-python", "test", 20, b"fine_labels", 100)
    return root


@pytest.fixture(scope="session")
def fake_imagenet_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """train/<class>/ and val/<class>/ folders holding small JPEGs of different sizes."""
    root = tmp_path_factory.mktemp("imagenet")
    rng = np.random.default_rng(0)
    for split in ("train", "val"):
        for label in ("n01", "n02", "n03"):
            folder = root / split / label
            folder.mkdir(parents=True)
            for index in range(3):
                pixels = rng.integers(0, 256, (40 + 7 * index, 56, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(folder / f"{index}.JPEG")
    return root


@pytest.fixture(scope="module")
def digits_pruningnet():
    """A CIFAR-size ResNet-20 PruningNet for 8x8 digits (untrained) with 2 calibration and 2 held-out batches."""
    from slimkit.data import DigitsDataModule
    from slimkit.methods.metapruning import PruningNet
    from slimkit.models.channel_spec import resnet_spec

    torch.manual_seed(0)
    data = DigitsDataModule(image_size=8, batch_size=32)
    data.setup("fit")
    calibration = [batch for batch, _ in zip(data.train_dataloader(), range(2), strict=False)]
    holdout = [batch for batch, _ in zip(data.val_dataloader(), range(2), strict=False)]
    return PruningNet(resnet_spec(1, 10, 8)).eval(), calibration, holdout
