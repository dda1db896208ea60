"""ImageNet-style folders: ``<root>/train/<class>/<image>`` and ``<root>/val/<class>/<image>``.
Train: random resized crop + flip; eval: resize to 8/7 of the size and center crop."""

from __future__ import annotations

import math
import random
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from slimkit.data.base import ClassificationDataModule, require_folder
from slimkit.data.transforms import normalize
from slimkit.errors import ConfigError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".ppm"}


def list_images(split_dir: Path, classes: list[str]) -> list[tuple[Path, int]]:
    samples = []
    for label, name in enumerate(classes):
        for path in sorted((split_dir / name).iterdir()):
            if path.suffix.lower() in IMAGE_SUFFIXES:
                samples.append((path, label))
    return samples


def random_resized_crop_box(width: int, height: int, rng: random.Random) -> tuple[int, int, int, int]:
    """A box covering 8%..100% of the area with aspect ratio 3/4..4/3 (Inception-style)."""
    area = width * height
    for _ in range(10):
        target = area * rng.uniform(0.08, 1.0)
        ratio = math.exp(rng.uniform(math.log(3 / 4), math.log(4 / 3)))
        w, h = round(math.sqrt(target * ratio)), round(math.sqrt(target / ratio))
        if 0 < w <= width and 0 < h <= height:
            left, top = rng.randint(0, width - w), rng.randint(0, height - h)
            return left, top, left + w, top + h
    side = min(width, height)
    return (width - side) // 2, (height - side) // 2, (width + side) // 2, (height + side) // 2


class ImageFolderImages(Dataset):
    def __init__(self, samples: list[tuple[Path, int]], image_size: int, train: bool) -> None:
        self.samples = samples
        self.image_size = image_size
        self.train = train

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        path, label = self.samples[index]
        image = Image.open(path).convert("RGB")
        size = self.image_size
        if self.train:
            rng = random.Random(torch.randint(0, 2**31, ()).item())
            image = image.resize((size, size), Image.BILINEAR, box=random_resized_crop_box(*image.size, rng))
            if rng.random() < 0.5:
                image = image.transpose(Image.FLIP_LEFT_RIGHT)
        else:
            short = round(size * 8 / 7)
            scale = short / min(image.size)
            image = image.resize((max(short, round(image.width * scale)), max(short, round(image.height * scale))))
            left, top = (image.width - size) // 2, (image.height - size) // 2
            image = image.crop((left, top, left + size, top + size))
        tensor = torch.from_numpy(np.asarray(image, dtype=np.float32) / 255.0).permute(2, 0, 1)
        return normalize(tensor, IMAGENET_MEAN, IMAGENET_STD), label


class ImageFolderDataModule(ClassificationDataModule):
    """Classes are the sub-folders of ``train/``; ``val/`` serves as validation and test split."""

    def __init__(
        self, root: str, image_size: int = 224, batch_size: int = 256, num_workers: int = 8, shuffle_seed: int = 0
    ) -> None:
        super().__init__(batch_size, num_workers, shuffle_seed, pin_memory=torch.cuda.is_available())
        path = require_folder(root, "imagenet", "train/<class>/ and val/<class>/ image folders")
        for split in ("train", "val"):
            if not (path / split).is_dir():
                raise ConfigError(f"data.root={root} has no {split}/ folder (expected train/<class>/ and val/<class>/)")
        self.classes = sorted(entry.name for entry in (path / "train").iterdir() if entry.is_dir())
        if not self.classes:
            raise ConfigError(f"data.root={root}: train/ holds no class folders")
        self.root = path
        self.image_size = image_size
        self.input_shape = (3, image_size, image_size)
        self.normalization = (IMAGENET_MEAN, IMAGENET_STD)
        self.num_classes = len(self.classes)

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is None:
            self.train_set = ImageFolderImages(list_images(self.root / "train", self.classes), self.image_size, True)
            self.val_set = ImageFolderImages(list_images(self.root / "val", self.classes), self.image_size, False)
            self.test_set = self.val_set
