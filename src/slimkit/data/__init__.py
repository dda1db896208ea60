"""LightningDataModules. Each exposes ``input_shape`` (C, H, W) and ``task`` (classification ones also
``num_classes``) before any data is loaded, so models and checks can be built from them first."""

from slimkit.data.base import ClassificationDataModule, EpochSeededRandomSampler
from slimkit.data.cifar import CifarDataModule
from slimkit.data.digits import DigitsDataModule
from slimkit.data.image_folder import ImageFolderDataModule
from slimkit.data.sr import SRBenchmarkSet, SRImagesDataModule
from slimkit.data.synthetic import SyntheticDataModule

__all__ = [
    "CifarDataModule",
    "ClassificationDataModule",
    "DigitsDataModule",
    "EpochSeededRandomSampler",
    "ImageFolderDataModule",
    "SRBenchmarkSet",
    "SRImagesDataModule",
    "SyntheticDataModule",
]
