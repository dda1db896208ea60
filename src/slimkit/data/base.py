"""What every classification datamodule shares: loaders, and a shuffle that depends only on
(seed, epoch), so a run resumed from a checkpoint sees the same batches as an uninterrupted one."""

from __future__ import annotations

from collections.abc import Iterator, Sized
from pathlib import Path

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from slimkit.errors import ConfigError


class EpochSeededRandomSampler(Sampler[int]):
    """A random permutation per epoch drawn from ``seed + epoch`` (Lightning calls set_epoch)."""

    def __init__(self, data_source: Sized, seed: int) -> None:
        self.size = len(data_source)
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[int]:
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        return iter(torch.randperm(self.size, generator=generator).tolist())

    def __len__(self) -> int:
        return self.size


class ClassificationDataModule(L.LightningDataModule):
    """Subclasses set ``input_shape`` and ``num_classes`` in __init__ and the three datasets in setup().

    ``normalization`` is the per-channel (mean, std) that maps pixels in [0, 1] to the model's inputs
    (known after setup(); None for data that are not images), which attacks need to scale eps.
    """

    task = "classification"
    input_shape: tuple[int, int, int]
    num_classes: int
    normalization: tuple[tuple[float, ...], tuple[float, ...]] | None = None

    def __init__(self, batch_size: int, num_workers: int = 0, shuffle_seed: int = 0, pin_memory: bool = False) -> None:
        super().__init__()
        if batch_size < 1:
            raise ConfigError(f"data.batch_size must be >= 1, got {batch_size}")
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.shuffle_seed = shuffle_seed
        self.pin_memory = pin_memory
        self.train_set: Dataset | None = None
        self.val_set: Dataset | None = None
        self.test_set: Dataset | None = None

    def train_dataloader(self) -> DataLoader:
        assert self.train_set is not None, "setup() has not run"
        sampler = EpochSeededRandomSampler(self.train_set, self.shuffle_seed)
        return self._loader(self.train_set, sampler=sampler, drop_last=False)

    def val_dataloader(self) -> DataLoader:
        assert self.val_set is not None, "setup() has not run"
        return self._loader(self.val_set)

    def test_dataloader(self) -> DataLoader:
        assert self.test_set is not None, "setup() has not run"
        return self._loader(self.test_set)

    def _loader(self, dataset: Dataset, **kwargs: object) -> DataLoader:
        return DataLoader(
            dataset,
            batch_size=self.batch_size,
            num_workers=self.num_workers,
            pin_memory=self.pin_memory,
            persistent_workers=self.num_workers > 0,
            **kwargs,
        )


def require_folder(root: str | Path, dataset: str, expected: str) -> Path:
    """The dataset folder as a Path, or a ConfigError that says what the folder should hold."""
    path = Path(root).expanduser()
    if not path.is_dir():
        raise ConfigError(f"data.root={root} is not a folder; {dataset} expects {expected}")
    return path
