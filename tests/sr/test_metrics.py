"""Y-channel PSNR and SSIM against scikit-image on the same Y images, and the torch PSNR against the numpy one."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from slimkit.sr.metrics import psnr_y, psnr_y_torch, rgb_to_y, ssim_y


def noisy_pair(shape: tuple[int, ...], sigma: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    hr = rng.integers(0, 256, shape).astype(np.uint8)
    sr = np.clip(hr + rng.normal(0, sigma, shape), 0, 255).round().astype(np.uint8)
    return sr, hr


def test_y_is_matlab_rgb2ycbcr_luminance():
    pixels = np.array([[[0, 0, 0], [255, 255, 255], [255, 0, 0], [10, 200, 30]]], dtype=np.uint8)
    expected = [16, 16 + 219.859 * 255 / 256, 16 + 65.738 * 255 / 256, 16 + (657.38 + 25811.4 + 751.92) / 256]
    y = rgb_to_y(pixels)
    assert y.dtype == np.float64 and y.shape == (1, 4)
    assert np.allclose(y, [expected], rtol=0, atol=1e-12)
    gray = np.arange(12, dtype=np.uint8).reshape(3, 4)
    assert np.array_equal(rgb_to_y(gray), gray.astype(np.float64))
    assert np.array_equal(rgb_to_y(gray[..., None]), gray.astype(np.float64))


@pytest.mark.parametrize("shave", [0, 3])
def test_psnr_equals_scikit_image_on_shaved_y(shave):
    sr, hr = noisy_pair((40, 52, 3), sigma=8.0)
    window = (slice(shave, 40 - shave), slice(shave, 52 - shave))
    expected = peak_signal_noise_ratio(rgb_to_y(hr)[window], rgb_to_y(sr)[window], data_range=255)
    assert psnr_y(sr, hr, shave) == pytest.approx(expected, abs=1e-9)
    assert psnr_y(sr.astype(np.float64), hr.astype(np.float64), shave) == pytest.approx(expected, abs=1e-9)


def test_psnr_of_identical_images_is_infinite():
    _, hr = noisy_pair((20, 20, 3), sigma=1.0)
    assert psnr_y(hr, hr, 2) == math.inf


def test_grayscale_psnr_uses_the_pixels_themselves():
    sr, hr = noisy_pair((30, 30), sigma=5.0)
    expected = peak_signal_noise_ratio(hr[2:-2, 2:-2], sr[2:-2, 2:-2], data_range=255)
    assert psnr_y(sr, hr, 2) == pytest.approx(expected, abs=1e-9)
    assert psnr_y(sr[..., None], hr[..., None], 2) == pytest.approx(expected, abs=1e-9)


def test_psnr_shave_only_drops_the_border():
    hr = np.full((20, 20, 3), 100, dtype=np.uint8)
    sr = hr.copy()
    sr[:2] = 0  # errors only in a 2-pixel border
    assert psnr_y(sr, hr, 2) == math.inf
    # shave 1 keeps one wrong row of 18 in an 18 x 18 window; its Y error is 100 * 219.859 / 256
    expected = 10 * math.log10(255**2 / ((100 * 219.859 / 256) ** 2 / 18))
    assert psnr_y(sr, hr, 1) == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize("channels", [3, 1])
def test_torch_psnr_equals_numpy_per_image(channels):
    generator = torch.Generator().manual_seed(0)
    hr = torch.rand(3, channels, 24, 30, generator=generator)
    sr = (hr + 0.03 * torch.randn(3, channels, 24, 30, generator=generator)).clamp(-0.1, 1.1)  # outside [0, 1] too
    sr[1] = hr[1]  # an exact match -> inf
    values = psnr_y_torch(sr, hr, shave=2)
    assert values.shape == (3,) and values.dtype == torch.float64

    def saved(batch: torch.Tensor, index: int) -> np.ndarray:
        return (batch[index].clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()

    for index in range(3):
        expected = psnr_y(saved(sr, index), saved(hr, index), 2)
        assert values[index].item() == pytest.approx(expected, abs=1e-9)
    assert math.isinf(values[1].item())


def test_ssim_is_one_for_identical_images_and_drops_with_noise():
    _, hr = noisy_pair((48, 48, 3), sigma=1.0)
    assert ssim_y(hr, hr, 4) == pytest.approx(1.0, abs=1e-12)
    rows, cols = np.meshgrid(np.arange(64), np.arange(64), indexing="ij")
    smooth = (128 + 80 * np.sin(rows / 6.0) * np.cos(cols / 9.0)).astype(np.uint8)
    noisy = np.clip(smooth + np.random.default_rng(0).normal(0, 25, smooth.shape), 0, 255).astype(np.uint8)
    assert ssim_y(noisy, smooth, 2) < 0.8


@pytest.mark.parametrize(("shape", "shave"), [((50, 60, 3), 4), ((40, 40), 2)])
def test_ssim_matches_scikit_image_gaussian_ssim_on_y(shape, shave):
    sr, hr = noisy_pair(shape, sigma=12.0, seed=3)
    window = (slice(shave, shape[0] - shave), slice(shave, shape[1] - shave))
    expected = structural_similarity(
        rgb_to_y(hr)[window],
        rgb_to_y(sr)[window],
        gaussian_weights=True,
        sigma=1.5,
        use_sample_covariance=False,
        data_range=255,
    )
    assert ssim_y(sr, hr, shave) == pytest.approx(expected, abs=1e-9)  # same definition: equal to float noise


def test_mismatched_or_over_shaved_inputs_are_value_errors():
    _, hr = noisy_pair((20, 20, 3), sigma=1.0)
    with pytest.raises(ValueError, match="shapes differ"):
        psnr_y(hr[:10], hr, 0)
    with pytest.raises(ValueError, match="leaves nothing"):
        psnr_y(hr, hr, 10)
    with pytest.raises(ValueError, match="at least 11x11"):
        ssim_y(hr, hr, 5)
    with pytest.raises(ValueError, match="leaves nothing"):
        psnr_y_torch(torch.zeros(1, 3, 8, 8), torch.zeros(1, 3, 8, 8), 4)
