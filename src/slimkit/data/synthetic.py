"""Random tensors of any shape, for throughput benchmarks (a small pool reused, so 224x224
benchmarks need no memory for the whole epoch)."""

from __future__ import annotations

import torch
from torch.utils.data import Dataset

from slimkit.data.base import ClassificationDataModule
from slimkit.errors import ConfigError

POOL_SIZE = 64


class RandomTensorDataset(Dataset):
    def __init__(self, length: int, input_shape: tuple[int, ...], num_classes: int, seed: int) -> None:
        generator = torch.Generator().manual_seed(seed)
        self.length = length
        self.inputs = torch.randn(POOL_SIZE, *input_shape, generator=generator)
        self.labels = torch.randint(0, num_classes, (POOL_SIZE,), generator=generator)

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.inputs[index % POOL_SIZE], self.labels[index % POOL_SIZE]


class SyntheticDataModule(ClassificationDataModule):
    def __init__(
        self,
        input_shape: list[int] | tuple[int, int, int] = (3, 32, 32),
        num_classes: int = 10,
        train_size: int = 1024,
        eval_size: int = 256,
        batch_size: int = 64,
        num_workers: int = 0,
        shuffle_seed: int = 0,
    ) -> None:
        super().__init__(batch_size, num_workers, shuffle_seed)
        shape = tuple(int(side) for side in input_shape)
        if len(shape) != 3 or min(shape) < 1 or shape[1] != shape[2]:
            raise ConfigError(f"data.input_shape must be [C, H, W] with H == W, got {list(shape)}")
        self.input_shape = shape  # type: ignore[assignment]
        self.num_classes = num_classes
        self.train_size = train_size
        self.eval_size = eval_size

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is None:
            self.train_set = RandomTensorDataset(self.train_size, self.input_shape, self.num_classes, seed=0)
            self.val_set = RandomTensorDataset(self.eval_size, self.input_shape, self.num_classes, seed=1)
            self.test_set = RandomTensorDataset(self.eval_size, self.input_shape, self.num_classes, seed=2)
