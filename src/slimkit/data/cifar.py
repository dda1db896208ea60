"""CIFAR-10 / CIFAR-100 from the official "python version" archives, extracted in a folder the
user names (``data.root``). Nothing is downloaded: a missing folder is a clear error."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from slimkit.data.base import ClassificationDataModule, require_folder
from slimkit.data.transforms import normalize, random_crop_flip
from slimkit.errors import ConfigError

CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.2470, 0.2435, 0.2616)
LAYOUTS = {
    10: ("cifar-10-batches-py", [f"data_batch_{i}" for i in range(1, 6)], ["test_batch"], b"labels"),
    100: ("cifar-100-python", ["train"], ["test"], b"fine_labels"),
}


def load_cifar_split(folder: Path, files: list[str], label_key: bytes) -> tuple[np.ndarray, np.ndarray]:
    """uint8 images (N, 3, 32, 32) and int64 labels from CIFAR pickle files."""
    images, labels = [], []
    for name in files:
        with open(folder / name, "rb") as handle:
            batch = pickle.load(handle, encoding="bytes")
        images.append(np.asarray(batch[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
        labels.append(np.asarray(batch[label_key], dtype=np.int64))
    return np.concatenate(images), np.concatenate(labels)


class CifarImages(Dataset):
    def __init__(self, images: np.ndarray, labels: np.ndarray, augment: bool) -> None:
        self.images = torch.from_numpy(images)
        self.labels = torch.from_numpy(labels)
        self.augment = augment

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        image = self.images[index].float() / 255.0
        if self.augment:
            image = random_crop_flip(image, padding=4)
        return normalize(image, CIFAR_MEAN, CIFAR_STD), self.labels[index]


class CifarDataModule(ClassificationDataModule):
    """Train / held-out val (``val_size`` images carved from train) / official test split."""

    def __init__(
        self,
        root: str,
        num_classes: int = 10,
        val_size: int = 5000,
        batch_size: int = 128,
        num_workers: int = 4,
        augment: bool = True,
        split_seed: int = 0,
        shuffle_seed: int = 0,
    ) -> None:
        super().__init__(batch_size, num_workers, shuffle_seed, pin_memory=torch.cuda.is_available())
        if num_classes not in LAYOUTS:
            raise ConfigError(f"data.num_classes must be 10 or 100 for CIFAR, got {num_classes}")
        subfolder, self.train_files, self.test_files, self.label_key = LAYOUTS[num_classes]
        root_path = require_folder(root, f"cifar{num_classes}", f"a folder holding {subfolder}/ (CIFAR python version)")
        self.folder = root_path / subfolder if (root_path / subfolder).is_dir() else root_path
        missing = [name for name in self.train_files + self.test_files if not (self.folder / name).is_file()]
        if missing:
            raise ConfigError(f"data.root={root} lacks {subfolder}/{missing[0]} (the CIFAR python version)")
        self.input_shape = (3, 32, 32)
        self.normalization = (CIFAR_MEAN, CIFAR_STD)
        self.num_classes = num_classes
        self.val_size = val_size
        self.augment = augment
        self.split_seed = split_seed

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        images, labels = load_cifar_split(self.folder, self.train_files, self.label_key)
        if not 0 <= self.val_size < len(labels):
            raise ConfigError(f"data.val_size must be in [0, {len(labels)}), got {self.val_size}")
        order = np.random.default_rng(self.split_seed).permutation(len(labels))
        val, train = order[: self.val_size], order[self.val_size :]
        test_images, test_labels = load_cifar_split(self.folder, self.test_files, self.label_key)
        self.train_set = CifarImages(images[train], labels[train], augment=self.augment)
        self.test_set = CifarImages(test_images, test_labels, augment=False)
        # with val_size=0 the test split is monitored instead (the usual CIFAR practice)
        self.val_set = CifarImages(images[val], labels[val], augment=False) if len(val) else self.test_set
