"""Tensor-only image augmentations (torchvision does not import beside the local torch build)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def random_shift(
    image: torch.Tensor, max_shift: int, fill: float, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Move the image by up to ``max_shift`` pixels along each axis (independently), uncovered pixels ``fill``:
    padding by ``max_shift`` and cropping back at a random offset."""
    _, height, width = image.shape
    padded = F.pad(image, (max_shift, max_shift, max_shift, max_shift), value=fill)
    top, left = torch.randint(0, 2 * max_shift + 1, (2,), generator=generator).tolist()
    return padded[:, top : top + height, left : left + width]


def random_crop_flip(image: torch.Tensor, padding: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Pad by ``padding`` (zeros), crop back to the original size at a random offset, flip half the time."""
    crop = random_shift(image, padding, 0.0, generator)
    if torch.rand((), generator=generator) < 0.5:
        crop = crop.flip(-1)
    return crop


def normalize(image: torch.Tensor, mean: tuple[float, ...], std: tuple[float, ...]) -> torch.Tensor:
    """Per-channel (x - mean) / std for a C x H x W float tensor."""
    mean_t = torch.tensor(mean, dtype=image.dtype).view(-1, 1, 1)
    std_t = torch.tensor(std, dtype=image.dtype).view(-1, 1, 1)
    return (image - mean_t) / std_t
