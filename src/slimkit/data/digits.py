"""scikit-learn's handwritten digits (1,797 8x8 grey images, 10 classes): the default data,
shipped inside scikit-learn, so the first run needs no download. Optionally shifted at random while training:
the 1,078 training images limit what any network reaches, so without it capacity barely matters (a ResNet-56
at half its width trains as well as at full width; README, MetaPruning)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch.utils.data import TensorDataset

from slimkit.data.base import ClassificationDataModule
from slimkit.data.transforms import random_shift
from slimkit.errors import ConfigError


class ShiftedImages(TensorDataset):
    """Images and labels, each image moved by up to ``max_shift`` pixels per axis whenever it is read."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, max_shift: int, fill: float) -> None:
        super().__init__(images, labels)
        self.max_shift = max_shift
        self.fill = fill

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        image, label = super().__getitem__(index)
        return random_shift(image, self.max_shift, self.fill), label


class DigitsDataModule(ClassificationDataModule):
    """Stratified train/val/test split (fixed by ``split_seed``), upsampled to ``image_size``; with ``shift``
    > 0 each training image moves by up to ``shift`` of its 8x8 pixels per axis every time it is read (the
    held-out and test images never)."""

    def __init__(
        self,
        image_size: int = 32,
        val_fraction: float = 0.1,
        test_fraction: float = 0.2,
        batch_size: int = 64,
        num_workers: int = 0,
        split_seed: int = 0,
        shuffle_seed: int = 0,
        shift: int = 0,
    ) -> None:
        super().__init__(batch_size, num_workers, shuffle_seed)
        if image_size < 8:
            raise ConfigError(f"data.image_size must be >= 8 (the digits are 8x8), got {image_size}")
        if not (0 < val_fraction < 1 and 0 < test_fraction < 1 and val_fraction + test_fraction < 1):
            raise ConfigError("data.val_fraction and data.test_fraction must be in (0, 1) and sum below 1")
        if not 0 <= shift <= 3:
            raise ConfigError(f"data.shift must be 0 to 3 pixels of the 8x8 digits, got {shift}")
        self.image_size = image_size
        self.shift = shift
        self.val_fraction = val_fraction
        self.test_fraction = test_fraction
        self.split_seed = split_seed
        self.input_shape = (1, image_size, image_size)
        self.num_classes = 10

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        digits = load_digits()
        images = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16.0
        labels = torch.tensor(digits.target, dtype=torch.long)
        indices = torch.arange(len(labels)).numpy()
        rest, test = train_test_split(
            indices, test_size=self.test_fraction, stratify=labels.numpy(), random_state=self.split_seed
        )
        val_share = self.val_fraction / (1 - self.test_fraction)
        train, val = train_test_split(
            rest, test_size=val_share, stratify=labels.numpy()[rest], random_state=self.split_seed
        )
        if self.image_size != 8:
            images = F.interpolate(images, size=self.image_size, mode="bilinear", align_corners=False)
        self.split_indices = {"train": train, "val": val, "test": test}
        mean, std = images[train].mean(), images[train].std()
        images = (images - mean) / std
        self.normalization = ((float(mean),), (float(std),))
        if self.shift:
            # the shift in upsampled pixels; uncovered pixels take the background's (blank) value
            scaled, blank = round(self.shift * self.image_size / 8), float((0 - mean) / std)
            self.train_set = ShiftedImages(images[train], labels[train], scaled, blank)
        else:
            self.train_set = TensorDataset(images[train], labels[train])
        self.val_set = TensorDataset(images[val], labels[val])
        self.test_set = TensorDataset(images[test], labels[test])
