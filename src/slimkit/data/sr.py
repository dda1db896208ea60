"""Super-resolution data for arbitrary-scale SR (Meta-SR, docs/methods/meta_sr.md): HR photos in memory, LR images
made on the fly by MATLAB-compatible bicubic downscaling (``slimkit.sr.imresize``) at any scale.

Training batches share one scale (Meta-SR's upscaling module is built per scale): the scale, the images, the crop
positions and the flips of batch b in epoch e are drawn from (shuffle_seed, e, b) alone by a batch sampler, so a
run resumed from a checkpoint sees the same batches as an uninterrupted one. Validation and test run whole
held-out images at fixed scales with the benchmark crop protocol (``crop_to_scale``), one image per batch because
sizes differ. The default data are scikit-image's bundled photos (no download); ``root`` names a folder of HR
images instead (DIV2K style).

Images are 8-bit; grayscale images become 3 equal channels for the model. ``SRBenchmarkSet`` records which images
were grayscale so metrics can use their single channel (as MATLAB evaluation scripts do).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import NamedTuple

import lightning as L
import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset, Sampler

from slimkit.data.base import require_folder
from slimkit.errors import ConfigError
from slimkit.sr.imresize import crop_to_scale, imresize, output_size

HR_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp"}
GRAY_MODES = {"1", "L", "LA", "I", "I;16", "F"}
# scikit-image photos that ship inside the package (checked offline with scikit-image 0.26); the others in
# skimage.data need a download. retina (1411x1411, mostly black) is left out: whole-image validation on it is slow.
EMBEDDED_PHOTOS = (
    "astronaut",
    "camera",  # grayscale
    "chelsea",
    "coffee",
    "coins",  # grayscale
    "hubble_deep_field",
    "immunohistochemistry",
    "moon",  # grayscale
    "motorcycle",  # the left view of stereo_motorcycle
    "rocket",
)


def to_rgb(image: np.ndarray) -> np.ndarray:
    """HxW or HxWxC uint8 -> HxWx3 uint8 (gray repeated to 3 channels, alpha dropped)."""
    if image.ndim == 2:
        image = image[..., None]
    if image.shape[2] == 1:
        return np.repeat(image, 3, axis=2)
    return np.ascontiguousarray(image[..., :3])


def load_hr_image(path: Path) -> tuple[np.ndarray, bool]:
    """An 8-bit image file as HxWx3 uint8, and whether the file was grayscale."""
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB")), image.mode in GRAY_MODES


def list_hr_images(folder: Path) -> list[Path]:
    """The image files directly in ``folder`` (not recursive), sorted by name."""
    return sorted(path for path in folder.iterdir() if path.is_file() and path.suffix.lower() in HR_SUFFIXES)


def load_embedded_photo(name: str) -> np.ndarray:
    """One of ``EMBEDDED_PHOTOS`` as HxWx3 uint8."""
    from skimage import data

    image = data.stereo_motorcycle()[0] if name == "motorcycle" else getattr(data, name)()
    return to_rgb(np.asarray(image, dtype=np.uint8))


def to_tensor(image: np.ndarray) -> torch.Tensor:
    """HxWx3 uint8 -> [3, H, W] float32 in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).float().div(255.0)


def dihedral(image: np.ndarray, transform: int) -> np.ndarray:
    """One of the 8 flips/rotations of a square patch: rot90 ``transform % 4`` times, then a left-right flip
    when ``transform >= 4``."""
    image = np.rot90(image, transform % 4, axes=(0, 1))
    return image[:, ::-1] if transform >= 4 else image


def scale_grid(scale_min: float, scale_max: float, scale_step: float) -> list[float]:
    """scale_min, scale_min + step, ... up to scale_max, rounded to 4 decimals so 1.1 + 7 * 0.1 is 1.8."""
    count = math.floor((scale_max - scale_min) / scale_step + 1e-9) + 1
    return [round(scale_min + index * scale_step, 4) for index in range(count)]


class PatchKey(NamedTuple):
    """Everything that defines one training patch (drawn by the batch sampler, read by the dataset)."""

    image: int
    top: int
    left: int
    scale: float
    transform: int  # 0..7, see dihedral()


class SRPatches(Dataset):
    """Training patches by key: the HR patch of side floor(r * patch_size) at (top, left) of an image, flipped or
    rotated, and its LR patch imresize(HR, patch_size x patch_size) (uint8, as a saved LR image would be)."""

    def __init__(self, images: list[np.ndarray], patch_size: int) -> None:
        self.images = images
        self.patch_size = patch_size

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, key: PatchKey) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        side = output_size(self.patch_size, key.scale)
        hr = self.images[key.image][key.top : key.top + side, key.left : key.left + side]
        hr = dihedral(hr, key.transform)
        lr = imresize(hr, (self.patch_size, self.patch_size))
        # float64 so that float(scale) is exactly the drawn scale: 2.3 in float32 is 2.2999999523, and
        # floor(2.2999999523 * 10) would lose an output pixel
        return to_tensor(lr), to_tensor(hr), torch.tensor(key.scale, dtype=torch.float64)


class ScaleBatchSampler(Sampler[list[PatchKey]]):
    """``ceil(patches_per_epoch / batch_size)`` batches of patch keys; batch b of epoch e draws one scale from
    ``scales`` and, per item, an image, a crop position and (with ``augment``) one of 8 flips/rotations, all from
    a generator seeded with (seed, e, b) only. Lightning calls set_epoch on ``batch_sampler.sampler``, which is
    this object itself."""

    def __init__(
        self,
        image_sizes: Sequence[tuple[int, int]],
        scales: Sequence[float],
        patch_size: int,
        batch_size: int,
        patches_per_epoch: int,
        seed: int,
        augment: bool,
    ) -> None:
        self.image_sizes = list(image_sizes)
        self.scales = list(scales)
        self.patch_size = patch_size
        self.batch_size = batch_size
        self.patches_per_epoch = patches_per_epoch
        self.seed = seed
        self.augment = augment
        self.epoch = 0

    @property
    def sampler(self) -> ScaleBatchSampler:
        return self

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return math.ceil(self.patches_per_epoch / self.batch_size)

    def batch(self, epoch: int, index: int) -> list[PatchKey]:
        """The keys of batch ``index`` of ``epoch`` (the last batch of an epoch may be smaller)."""
        if not 0 <= index < len(self):
            raise IndexError(f"batch {index} of an epoch of {len(self)} batches")
        rng = np.random.default_rng([self.seed % 2**64, epoch, index])
        scale = self.scales[int(rng.integers(len(self.scales)))]
        side = output_size(self.patch_size, scale)
        size = min(self.batch_size, self.patches_per_epoch - index * self.batch_size)
        keys = []
        for image in rng.integers(len(self.image_sizes), size=size).tolist():
            height, width = self.image_sizes[image]
            top, left = int(rng.integers(height - side + 1)), int(rng.integers(width - side + 1))
            transform = int(rng.integers(8)) if self.augment else 0
            keys.append(PatchKey(image, top, left, scale, transform))
        return keys

    def __iter__(self) -> Iterator[list[PatchKey]]:
        epoch = self.epoch
        for index in range(len(self)):
            yield self.batch(epoch, index)


class SRWholeImages(Dataset):
    """Every image at every scale (all images at the first scale, then the next...): the HR cropped by
    ``crop_to_scale`` and its LR by imresize; items (lr, hr, scale)."""

    def __init__(self, images: list[np.ndarray], names: list[str], scales: Sequence[float]) -> None:
        self.images = images
        self.names = names
        self.scales = list(scales)

    def __len__(self) -> int:
        return len(self.images) * len(self.scales)

    def describe(self, index: int) -> tuple[str, float]:
        """(image name, scale) of item ``index``."""
        return self.names[index % len(self.images)], self.scales[index // len(self.images)]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        scale = self.scales[index // len(self.images)]
        hr, lr_shape = crop_to_scale(self.images[index % len(self.images)], scale)
        return to_tensor(imresize(hr, lr_shape)), to_tensor(hr), torch.tensor(scale, dtype=torch.float64)


class SRImagesDataModule(L.LightningDataModule):
    """HR images split once (``split_seed``) into a training pool and ``val_images`` held-out images.

    Training: random LR patches of ``patch_size`` with their HR patches, one scale per batch from
    {scale_min, scale_min + scale_step, ..., scale_max}; a batch is (lr [B, 3, p, p], hr [B, 3, P, P],
    scale [B] float64) with P = floor(r * p). Validation and test: the held-out images at each of ``val_scales``.
    """

    task = "super_resolution"

    def __init__(
        self,
        root: str | None = None,
        val_images: int = 2,
        patch_size: int = 48,
        batch_size: int = 16,
        scale_min: float = 1.1,
        scale_max: float = 4.0,
        scale_step: float = 0.1,
        patches_per_epoch: int = 1000,
        val_scales: Sequence[float] = (2.0, 3.0, 4.0),
        num_workers: int = 0,
        split_seed: int = 0,
        shuffle_seed: int = 0,
        augment: bool = True,
    ) -> None:
        super().__init__()
        if patch_size < 8:
            raise ConfigError(f"data.patch_size must be >= 8 (LR pixels), got {patch_size}")
        if batch_size < 1:
            raise ConfigError(f"data.batch_size must be >= 1, got {batch_size}")
        if patches_per_epoch < 1:
            raise ConfigError(f"data.patches_per_epoch must be >= 1, got {patches_per_epoch}")
        if num_workers < 0:
            raise ConfigError(f"data.num_workers must be >= 0, got {num_workers}")
        if not scale_step > 0:
            raise ConfigError(f"data.scale_step must be > 0, got {scale_step}")
        if not 1 < scale_min <= scale_max:
            raise ConfigError(
                f"data.scale_min and data.scale_max must satisfy 1 < scale_min <= scale_max, "
                f"got scale_min={scale_min}, scale_max={scale_max}"
            )
        val_scales = [float(scale) for scale in val_scales]
        if not val_scales or min(val_scales) < 1:
            raise ConfigError(f"data.val_scales must be a non-empty list of scales >= 1, got {val_scales}")
        if root is None:
            self.image_names = list(EMBEDDED_PHOTOS)
            self.image_paths: list[Path] | None = None
        else:
            folder = require_folder(root, "super-resolution", "HR images (*.png, *.jpg, *.jpeg, *.bmp)")
            self.image_paths = list_hr_images(folder)
            if not self.image_paths:
                raise ConfigError(f"data.root={root} holds no images (*.png, *.jpg, *.jpeg, *.bmp)")
            self.image_names = [path.name for path in self.image_paths]
        if not 1 <= val_images < len(self.image_names):
            raise ConfigError(
                f"data.val_images must be in [1, {len(self.image_names) - 1}] "
                f"({len(self.image_names)} images, at least one stays for training), got {val_images}"
            )
        self.root = root
        self.patch_size = patch_size
        self.batch_size = batch_size
        self.scales = scale_grid(scale_min, scale_max, scale_step)
        self.patches_per_epoch = patches_per_epoch
        self.val_scales = val_scales
        self.num_workers = num_workers
        self.shuffle_seed = shuffle_seed
        self.augment = augment
        self.input_shape = (3, patch_size, patch_size)
        order = np.random.default_rng(split_seed % 2**64).permutation(len(self.image_names))
        self.split_indices = {"train": sorted(order[val_images:].tolist()), "val": sorted(order[:val_images].tolist())}
        self.split = {part: [self.image_names[i] for i in indices] for part, indices in self.split_indices.items()}
        self.train_set: SRPatches | None = None
        self.val_set: SRWholeImages | None = None
        self.test_set: SRWholeImages | None = None

    def _load(self, index: int) -> np.ndarray:
        if self.image_paths is None:
            return load_embedded_photo(self.image_names[index])
        return load_hr_image(self.image_paths[index])[0]

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        train = [self._load(index) for index in self.split_indices["train"]]
        side = output_size(self.patch_size, self.scales[-1])
        for name, image in zip(self.split["train"], train, strict=True):
            if min(image.shape[:2]) < side:
                raise ConfigError(
                    f"training image {name} is {image.shape[0]}x{image.shape[1]}, smaller than the HR patch "
                    f"{side}x{side} (data.patch_size={self.patch_size} at scale {self.scales[-1]})"
                )
        val = [self._load(index) for index in self.split_indices["val"]]
        self.train_set = SRPatches(train, self.patch_size)
        self.val_set = SRWholeImages(val, self.split["val"], self.val_scales)
        self.test_set = self.val_set

    def held_out_images(self) -> list[tuple[str, np.ndarray]]:
        """The held-out HR images (name, HxWx3 uint8), for an evaluation that reads image files."""
        return [
            (Path(name).stem, self._load(index))
            for name, index in zip(self.split["val"], self.split_indices["val"], strict=True)
        ]

    def train_sampler(self) -> ScaleBatchSampler:
        """The batch sampler of the training loader (set_epoch(e) selects the batches of epoch e)."""
        assert self.train_set is not None, "setup() has not run"
        sizes = [image.shape[:2] for image in self.train_set.images]
        return ScaleBatchSampler(
            sizes,
            self.scales,
            self.patch_size,
            self.batch_size,
            self.patches_per_epoch,
            self.shuffle_seed,
            self.augment,
        )

    def train_dataloader(self) -> DataLoader:
        assert self.train_set is not None, "setup() has not run"
        return DataLoader(
            self.train_set,
            batch_sampler=self.train_sampler(),
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
            pin_memory=torch.cuda.is_available(),
        )

    def val_dataloader(self) -> DataLoader:
        assert self.val_set is not None, "setup() has not run"
        return self._whole_image_loader(self.val_set)

    def test_dataloader(self) -> DataLoader:
        assert self.test_set is not None, "setup() has not run"
        return self._whole_image_loader(self.test_set)

    def _whole_image_loader(self, dataset: Dataset) -> DataLoader:
        return DataLoader(dataset, batch_size=1, shuffle=False, num_workers=self.num_workers)


class SRSample(NamedTuple):
    """One benchmark item. ``lr``/``hr`` are [3, h, w] float32 in [0, 1]; for a grayscale file (``gray``) the
    channels are equal copies: score such images on one channel (e.g. ``sr[:, :1]`` and ``hr[:, :1]``), not on
    Y of the copies (Y would scale the error by 0.86 and add about 1.3 dB)."""

    lr: torch.Tensor
    hr: torch.Tensor
    scale: torch.Tensor  # float64 scalar
    name: str
    gray: bool


class SRBenchmarkSet(Dataset):
    """A folder of HR images (Set5, Set14, B100, Urban100 style) at each of ``scales`` (all images at the first
    scale, then the next...): HR cropped by ``crop_to_scale``, LR by MATLAB-compatible bicubic imresize.
    Images are read from disk per item (nothing is kept in memory)."""

    def __init__(self, root: str | Path, scales: Sequence[float]) -> None:
        folder = require_folder(root, "an SR benchmark", "HR images (*.png, *.jpg, *.jpeg, *.bmp)")
        self.paths = list_hr_images(folder)
        if not self.paths:
            raise ConfigError(f"{root} holds no images (*.png, *.jpg, *.jpeg, *.bmp)")
        self.scales = [float(scale) for scale in scales]
        if not self.scales or min(self.scales) < 1:
            raise ConfigError(f"benchmark scales must be a non-empty list of scales >= 1, got {self.scales}")

    def __len__(self) -> int:
        return len(self.paths) * len(self.scales)

    def __getitem__(self, index: int) -> SRSample:
        path = self.paths[index % len(self.paths)]
        scale = self.scales[index // len(self.paths)]
        image, gray = load_hr_image(path)
        hr, lr_shape = crop_to_scale(image, scale)
        lr = imresize(hr, lr_shape)
        return SRSample(to_tensor(lr), to_tensor(hr), torch.tensor(scale, dtype=torch.float64), path.stem, gray)
