"""Super-resolution data: one scale per batch on the tenths grid, batches fixed by (seed, epoch, batch), validation
and benchmark items that follow the crop protocol, and clear errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from lightning.fabric.utilities.data import _set_sampler_epoch
from PIL import Image
from torch.utils.data import DataLoader

from slimkit.data import SRBenchmarkSet, SRImagesDataModule
from slimkit.data.sr import EMBEDDED_PHOTOS, load_embedded_photo
from slimkit.errors import ConfigError
from slimkit.sr.imresize import crop_to_scale, imresize, output_size

PATCH = 12
GRID = [round(tenths / 10, 1) for tenths in range(11, 41)]


def small_photos(**overrides: object) -> SRImagesDataModule:
    settings = {"patch_size": PATCH, "batch_size": 4, "patches_per_epoch": 30, **overrides}
    datamodule = SRImagesDataModule(**settings)
    datamodule.setup("fit")
    return datamodule


@pytest.fixture(scope="module")
def photos() -> SRImagesDataModule:
    return small_photos()


def to_uint8(image: torch.Tensor) -> np.ndarray:
    return (image * 255).round().byte().permute(1, 2, 0).numpy()


def batch_of(datamodule: SRImagesDataModule, epoch: int, index: int) -> tuple[torch.Tensor, ...]:
    loader = datamodule.train_dataloader()
    _set_sampler_epoch(loader, epoch)  # what Lightning's fit loop calls at the start of every epoch
    for position, batch in enumerate(loader):
        if position == index:
            return batch
    raise AssertionError("the epoch has fewer batches")


def test_embedded_photos_load_offline_and_split(photos):
    assert photos.task == "super_resolution" and photos.input_shape == (3, PATCH, PATCH)
    assert not hasattr(photos, "num_classes")
    assert sorted(photos.split["train"] + photos.split["val"]) == sorted(EMBEDDED_PHOTOS)
    assert len(photos.split["val"]) == 2 and len(photos.train_set.images) == len(EMBEDDED_PHOTOS) - 2
    for image in photos.train_set.images:
        assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
    camera = load_embedded_photo("camera")  # grayscale: repeated to 3 channels
    assert camera.shape == (512, 512, 3) and np.array_equal(camera[..., 0], camera[..., 2])


def test_training_batches_share_one_scale_on_the_grid(photos):
    loader = photos.train_dataloader()
    assert len(loader) == 8  # ceil(30 / 4)
    seen = []
    for lr, hr, scale in loader:
        value = float(scale[0])
        side = output_size(PATCH, value)
        assert lr.shape[1:] == (3, PATCH, PATCH) and hr.shape[1:] == (3, side, side) and len(lr) == len(hr)
        assert lr.dtype == hr.dtype == torch.float32 and lr.min() >= 0 and hr.max() <= 1
        assert scale.dtype == torch.float64 and torch.all(scale == value) and value in GRID
        for low, high in zip(lr, hr, strict=True):
            assert np.array_equal(to_uint8(low), imresize(to_uint8(high), (PATCH, PATCH)))
        seen.append(len(lr))
    assert seen == [4] * 7 + [2]


def test_scales_cover_the_range_and_respect_the_limits(photos):
    sampler = small_photos(patches_per_epoch=4 * 300).train_sampler()
    scales = {sampler.batch(0, index)[0].scale for index in range(300)}
    assert scales == set(GRID)
    narrow = small_photos(scale_min=2.0, scale_max=2.5, scale_step=0.1, patches_per_epoch=800).train_sampler()
    assert {narrow.batch(0, index)[0].scale for index in range(200)} == {2.0, 2.1, 2.2, 2.3, 2.4, 2.5}


def test_batches_depend_only_on_seed_epoch_and_index(photos):
    again = small_photos()  # a resumed run builds a new datamodule
    first, second = batch_of(photos, 3, 2), batch_of(again, 3, 2)
    assert all(torch.equal(a, b) for a, b in zip(first, second, strict=True))
    other_epoch = batch_of(photos, 4, 2)
    assert not (first[0].shape == other_epoch[0].shape and torch.equal(first[1], other_epoch[1]))
    sampler = photos.train_sampler()
    assert sampler.batch(3, 2) != sampler.batch(4, 2) and sampler.batch(3, 2) != sampler.batch(3, 1)
    reseeded = small_photos(shuffle_seed=1).train_sampler()
    assert reseeded.batch(3, 2) != sampler.batch(3, 2)


def test_augmentation_uses_all_flips_and_can_be_turned_off(photos):
    sampler = photos.train_sampler()
    transforms = {key.transform for epoch in range(3) for index in range(8) for key in sampler.batch(epoch, index)}
    assert transforms == set(range(8))
    plain = small_photos(augment=False).train_sampler()
    assert {key.transform for index in range(8) for key in plain.batch(0, index)} == {0}
    with pytest.raises(IndexError):
        sampler.batch(0, 8)


def test_validation_items_follow_the_crop_protocol(photos):
    val_set = photos.val_set
    assert len(val_set) == 2 * 3 and photos.test_set is val_set
    originals = {name: load_embedded_photo(name) for name in photos.split["val"]}
    for index in range(len(val_set)):
        name, scale = val_set.describe(index)
        lr, hr, value = val_set[index]
        expected_hr, lr_shape = crop_to_scale(originals[name], scale)
        assert float(value) == scale and tuple(lr.shape[1:]) == lr_shape
        assert np.array_equal(to_uint8(hr), expected_hr)
        assert np.array_equal(to_uint8(lr), imresize(expected_hr, lr_shape))
    lr, hr, scale = next(iter(photos.val_dataloader()))
    assert lr.shape[0] == 1 and scale.tolist() == [2.0]


def write_png(path: Path, shape: tuple[int, ...], seed: int) -> np.ndarray:
    pixels = np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return pixels


def test_a_folder_of_hr_images(tmp_path):
    for index in range(4):
        write_png(tmp_path / f"{index:04d}.png", (60, 70, 3), index)
    write_png(tmp_path / "0004.png", (64, 64), 9)  # grayscale: 3 equal channels for training
    (tmp_path / "notes.txt").write_text("not an image")
    datamodule = SRImagesDataModule(str(tmp_path), val_images=1, patch_size=12, batch_size=2, patches_per_epoch=6)
    assert len(datamodule.split["train"]) == 4 and len(datamodule.split["val"]) == 1
    datamodule.setup()
    lr, hr, scale = next(iter(datamodule.train_dataloader()))
    assert lr.shape == (2, 3, 12, 12) and hr.shape[2] == output_size(12, float(scale[0]))
    assert all(image.shape[2] == 3 for image in datamodule.train_set.images)


def test_benchmark_folder_with_a_grayscale_image(tmp_path):
    rgb = write_png(tmp_path / "baby.png", (50, 41, 3), 0)
    gray = write_png(tmp_path / "img_003.png", (37, 45), 1)
    benchmark = SRBenchmarkSet(tmp_path, [2, 3.5])
    assert len(benchmark) == 4
    items = [benchmark[index] for index in range(4)]
    assert [(item.name, float(item.scale), item.gray) for item in items] == [
        ("baby", 2.0, False),
        ("img_003", 2.0, True),
        ("baby", 3.5, False),
        ("img_003", 3.5, True),
    ]
    for item, source in zip(items, [rgb, np.repeat(gray[..., None], 3, axis=2)] * 2, strict=True):
        expected_hr, lr_shape = crop_to_scale(source, float(item.scale))
        assert item.lr.shape == (3, *lr_shape) and np.array_equal(to_uint8(item.hr), expected_hr)
        assert np.array_equal(to_uint8(item.lr), imresize(expected_hr, lr_shape))
    gray_lr = to_uint8(items[3].lr)
    assert np.array_equal(gray_lr[..., 0], imresize(crop_to_scale(gray, 3.5)[0], gray_lr.shape[:2]))
    batch = next(iter(DataLoader(benchmark, batch_size=1)))
    assert list(batch.name) == ["baby"] and batch.gray.tolist() == [False] and batch.lr.shape == (1, 3, 25, 20)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"root": "/nope"}, "data.root=/nope is not a folder"),
        ({"scale_min": 1.0}, "1 < scale_min <= scale_max"),
        ({"scale_min": 3.0, "scale_max": 2.0}, "1 < scale_min <= scale_max"),
        ({"scale_step": 0}, "scale_step must be > 0"),
        ({"patch_size": 4}, "patch_size must be >= 8"),
        ({"batch_size": 0}, "batch_size must be >= 1"),
        ({"patches_per_epoch": 0}, "patches_per_epoch must be >= 1"),
        ({"val_images": 0}, r"val_images must be in \[1, 9\]"),
        ({"val_images": 10}, r"val_images must be in \[1, 9\]"),
        ({"val_scales": []}, "val_scales must be a non-empty list"),
        ({"val_scales": [2, 0.5]}, "val_scales must be a non-empty list of scales >= 1"),
    ],
)
def test_bad_sr_settings_are_config_errors(settings, message):
    with pytest.raises(ConfigError, match=message):
        SRImagesDataModule(**settings)


def test_folder_errors_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="holds no images"):
        SRImagesDataModule(str(tmp_path))
    with pytest.raises(ConfigError, match="holds no images"):
        SRBenchmarkSet(tmp_path, [2])
    with pytest.raises(ConfigError, match="is not a folder"):
        SRBenchmarkSet(tmp_path / "missing", [2])
    write_png(tmp_path / "a.png", (30, 30, 3), 0)
    write_png(tmp_path / "b.png", (30, 30, 3), 1)
    with pytest.raises(ConfigError, match="benchmark scales must be"):
        SRBenchmarkSet(tmp_path, [0.5])
    datamodule = SRImagesDataModule(str(tmp_path), val_images=1, patch_size=8, scale_max=4.0)
    with pytest.raises(ConfigError, match=r"is 30x30, smaller than the HR patch 32x32"):
        datamodule.setup()
