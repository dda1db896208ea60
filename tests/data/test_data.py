"""Datamodules: the digits split, reproducible shuffling, folder datasets and their errors."""

from __future__ import annotations

import pytest
import torch

from slimkit.data import (
    CifarDataModule,
    DigitsDataModule,
    EpochSeededRandomSampler,
    ImageFolderDataModule,
    SyntheticDataModule,
)
from slimkit.data.transforms import random_shift
from slimkit.errors import ConfigError


def labels_of(dataset) -> torch.Tensor:
    return dataset.tensors[1]


def test_digits_split_is_stratified_disjoint_and_upsampled():
    datamodule = DigitsDataModule(image_size=32, val_fraction=0.1, test_fraction=0.2)
    datamodule.setup()
    sizes = [len(datamodule.train_set), len(datamodule.val_set), len(datamodule.test_set)]
    assert sum(sizes) == 1797 and sizes[2] == 360 and sizes[1] == 180
    for split in (datamodule.train_set, datamodule.val_set, datamodule.test_set):
        assert set(labels_of(split).tolist()) == set(range(10))
    train_images = datamodule.train_set.tensors[0]
    assert train_images.shape[1:] == (1, 32, 32) == datamodule.input_shape
    assert abs(train_images.mean().item()) < 1e-4 and abs(train_images.std().item() - 1) < 1e-3
    indices = [set(datamodule.split_indices[split].tolist()) for split in ("train", "val", "test")]
    assert len(set.union(*indices)) == 1797


def test_digits_split_does_not_depend_on_the_training_seed():
    first, second = DigitsDataModule(shuffle_seed=1), DigitsDataModule(shuffle_seed=2)
    first.setup(), second.setup()
    assert torch.equal(labels_of(first.test_set), labels_of(second.test_set))


def test_shuffle_depends_only_on_seed_and_epoch():
    data = list(range(100))
    sampler, again = EpochSeededRandomSampler(data, seed=7), EpochSeededRandomSampler(data, seed=7)
    sampler.set_epoch(3), again.set_epoch(3)
    assert list(sampler) == list(again)
    assert sorted(sampler) == data
    again.set_epoch(4)
    assert list(sampler) != list(again)


def test_cifar_folders_load_with_a_held_out_split(fake_cifar_root):
    datamodule = CifarDataModule(str(fake_cifar_root / "cifar10"), num_classes=10, val_size=30, num_workers=0)
    datamodule.setup()
    assert (len(datamodule.train_set), len(datamodule.val_set), len(datamodule.test_set)) == (70, 30, 20)
    image, label = datamodule.train_set[0]
    assert image.shape == (3, 32, 32) and 0 <= int(label) < 10
    hundred = CifarDataModule(str(fake_cifar_root / "cifar100"), num_classes=100, val_size=10, num_workers=0)
    hundred.setup()
    assert hundred.num_classes == 100 and len(hundred.train_set) == 90


def test_cifar_augmentation_keeps_the_shape_and_changes_pixels(fake_cifar_root):
    datamodule = CifarDataModule(str(fake_cifar_root / "cifar10"), val_size=0, num_workers=0, augment=True)
    datamodule.setup()
    torch.manual_seed(0)
    views = torch.stack([datamodule.train_set[0][0] for _ in range(8)])
    assert views.shape == (8, 3, 32, 32) and not all(torch.equal(views[0], view) for view in views[1:])


def moves_between(original: torch.Tensor, shifted: torch.Tensor, most: int, fill: float) -> list[tuple[int, int]]:
    """Every move (dy, dx), up to ``most`` pixels per axis, that turns ``original`` into ``shifted``, ``fill``
    where nothing was."""
    padded = torch.nn.functional.pad(original, (most, most, most, most), value=fill)
    height, width = original.shape[-2:]
    steps = range(-most, most + 1)
    return [
        (dy, dx)
        for dy in steps
        for dx in steps
        if torch.allclose(shifted, padded[:, most - dy : most - dy + height, most - dx : most - dx + width])
    ]


def test_random_shift_moves_the_image_and_fills_the_uncovered_pixels():
    image = torch.arange(1.0, 17.0).view(1, 4, 4)
    seen = set()
    for seed in range(40):
        shifted = random_shift(image, 1, fill=-5.0, generator=torch.Generator().manual_seed(seed))
        moves = moves_between(image, shifted, 1, -5.0)
        assert len(moves) == 1
        seen.add(moves[0])
    assert len(seen) == 9  # every move of up to one pixel per axis happens


def test_digits_shift_moves_training_images_only():
    plain, shifted = DigitsDataModule(image_size=16), DigitsDataModule(image_size=16, shift=1)
    plain.setup(), shifted.setup()
    blank = (0 - plain.normalization[0][0]) / plain.normalization[1][0]
    original = plain.train_set[3][0]
    torch.manual_seed(0)
    # one 8x8 pixel is two at 16x16: every view is the original moved by up to 2 per axis, blank where uncovered
    moves = [moves_between(original, shifted.train_set[3][0], 2, blank) for _ in range(60)]
    assert all(len(found) == 1 for found in moves) and len({found[0] for found in moves}) >= 15
    for split in ("val_set", "test_set"):
        assert torch.equal(getattr(shifted, split).tensors[0], getattr(plain, split).tensors[0])
    assert torch.equal(shifted.train_set.tensors[1], plain.train_set.tensors[1])


def test_image_folder_classes_and_crops(fake_imagenet_root):
    datamodule = ImageFolderDataModule(str(fake_imagenet_root), image_size=24, num_workers=0)
    datamodule.setup()
    assert datamodule.classes == ["n01", "n02", "n03"] and datamodule.num_classes == 3
    for dataset in (datamodule.train_set, datamodule.val_set):
        image, label = dataset[4]
        assert image.shape == (3, 24, 24) and label == 1


def test_synthetic_data_has_any_shape():
    datamodule = SyntheticDataModule(input_shape=[3, 224, 224], num_classes=1000, train_size=300, batch_size=32)
    datamodule.setup()
    inputs, labels = next(iter(datamodule.train_dataloader()))
    assert inputs.shape == (32, 3, 224, 224) and labels.max() < 1000 and len(datamodule.train_set) == 300


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: CifarDataModule("/nope"), "data.root=/nope is not a folder"),
        (lambda: ImageFolderDataModule("/nope"), "data.root=/nope is not a folder"),
        (lambda: DigitsDataModule(image_size=4), "image_size must be >= 8"),
        (lambda: DigitsDataModule(shift=4), "data.shift must be 0 to 3 pixels"),
        (lambda: SyntheticDataModule(input_shape=[3, 32]), "input_shape must be"),
    ],
)
def test_bad_data_settings_are_config_errors(build, message):
    with pytest.raises(ConfigError, match=message):
        build()


def test_cifar_folder_without_the_archive_is_named(tmp_path):
    with pytest.raises(ConfigError, match="lacks cifar-10-batches-py/data_batch_1"):
        CifarDataModule(str(tmp_path))
