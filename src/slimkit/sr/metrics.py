"""PSNR and SSIM on the Y channel, as SR papers report them (EDSR/RCAN/Meta-SR evaluation).

Y is MATLAB's rgb2ycbcr luminance for 0-255 inputs, kept unrounded in float64. A border of ``shave`` pixels
(ceil(r) on benchmarks) is removed from every side before measuring. Grayscale images (HxW or one channel) are
their own luminance. ``psnr_y_torch`` is the batched version used during training and validation: it quantises
[0, 1] outputs to 0..255 first, as saving a PNG would, so it matches ``psnr_y`` on the saved images.
"""

from __future__ import annotations

import math

import numpy as np
import torch

Y_COEFFICIENTS = (65.738, 129.057, 25.064)  # MATLAB rgb2ycbcr, divided by 256, offset 16
SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_K1, SSIM_K2 = 0.01, 0.03
PEAK = 255.0


def rgb_to_y(image: np.ndarray) -> np.ndarray:
    """Y = 16 + (65.738 R + 129.057 G + 25.064 B) / 256 for HxWx3 images in 0..255; HxW and HxWx1 images are
    returned as HxW float64 unchanged."""
    image = np.asarray(image, dtype=np.float64)
    if image.ndim == 2:
        return image
    if image.ndim == 3 and image.shape[2] == 1:
        return image[..., 0]
    if image.ndim == 3 and image.shape[2] == 3:
        red, green, blue = image[..., 0], image[..., 1], image[..., 2]
        return 16.0 + (Y_COEFFICIENTS[0] * red + Y_COEFFICIENTS[1] * green + Y_COEFFICIENTS[2] * blue) / 256.0
    raise ValueError(f"expected an HxW, HxWx1 or HxWx3 image, got shape {image.shape}")


def _shaved_y(sr: np.ndarray, hr: np.ndarray, shave: int) -> tuple[np.ndarray, np.ndarray]:
    sr, hr = np.asarray(sr), np.asarray(hr)
    if sr.shape != hr.shape:
        raise ValueError(f"SR and HR shapes differ: {sr.shape} vs {hr.shape}")
    if shave < 0 or 2 * shave >= min(sr.shape[:2]):
        raise ValueError(f"shave={shave} leaves nothing of a {sr.shape[0]}x{sr.shape[1]} image")
    window = (slice(shave, sr.shape[0] - shave), slice(shave, sr.shape[1] - shave))
    return rgb_to_y(sr)[window], rgb_to_y(hr)[window]


def psnr_y(sr: np.ndarray, hr: np.ndarray, shave: int) -> float:
    """PSNR (dB, peak 255) between the Y channels of two 0..255 images after shaving ``shave`` border pixels;
    inf for identical images."""
    y_sr, y_hr = _shaved_y(sr, hr, shave)
    mse = float(np.mean((y_sr - y_hr) ** 2))
    return math.inf if mse == 0 else 10.0 * math.log10(PEAK**2 / mse)


def gaussian_window(size: int = SSIM_WINDOW, sigma: float = SSIM_SIGMA) -> np.ndarray:
    """MATLAB's fspecial('gaussian', size, sigma) as its 1-D factor (normalised; the 2-D window is its outer
    product)."""
    offsets = np.arange(size, dtype=np.float64) - (size - 1) / 2
    weights = np.exp(-(offsets**2) / (2 * sigma**2))
    return weights / weights.sum()


def _filter_valid(image: np.ndarray, window: np.ndarray) -> np.ndarray:
    """filter2(window' * window, image, 'valid') with the separable window."""
    size = len(window)
    rows = sum(window[k] * image[k : image.shape[0] - size + 1 + k] for k in range(size))
    return sum(window[k] * rows[:, k : image.shape[1] - size + 1 + k] for k in range(size))


def ssim_y(sr: np.ndarray, hr: np.ndarray, shave: int) -> float:
    """Mean SSIM (Wang et al. 2004, the ssim_index.m that EDSR/RCAN evaluation calls) of the Y channels after
    shaving: 11x11 Gaussian window with sigma 1.5, K1 = 0.01, K2 = 0.03, L = 255, 'valid' filtering."""
    y_sr, y_hr = _shaved_y(sr, hr, shave)
    if min(y_sr.shape) < SSIM_WINDOW:
        raise ValueError(f"SSIM needs at least {SSIM_WINDOW}x{SSIM_WINDOW} pixels after shaving, got {y_sr.shape}")
    window = gaussian_window()
    c1, c2 = (SSIM_K1 * PEAK) ** 2, (SSIM_K2 * PEAK) ** 2
    mu_sr, mu_hr = _filter_valid(y_sr, window), _filter_valid(y_hr, window)
    var_sr = _filter_valid(y_sr * y_sr, window) - mu_sr**2
    var_hr = _filter_valid(y_hr * y_hr, window) - mu_hr**2
    covariance = _filter_valid(y_sr * y_hr, window) - mu_sr * mu_hr
    ssim_map = ((2 * mu_sr * mu_hr + c1) * (2 * covariance + c2)) / (
        (mu_sr**2 + mu_hr**2 + c1) * (var_sr + var_hr + c2)
    )
    return float(ssim_map.mean())


def quantize(images: torch.Tensor) -> torch.Tensor:
    """[0, 1] images -> 0..255 integers (as float64), clipped and rounded as saving a PNG would."""
    return (images.detach().to(torch.float64).clamp(0, 1) * 255).round()


def psnr_y_torch(sr: torch.Tensor, hr: torch.Tensor, shave: int) -> torch.Tensor:
    """Per-image PSNR on Y of [B, C, H, W] batches in [0, 1] (C = 3 RGB or C = 1 gray), both quantised to
    0..255 first; shaves ``shave`` border pixels; returns [B] float64 (inf where an image matches exactly).
    Computed in float64 so it equals ``psnr_y`` on the saved images."""
    if sr.shape != hr.shape or sr.ndim != 4 or sr.shape[1] not in (1, 3):
        raise ValueError(
            f"expected two [B, 1 or 3, H, W] batches of one shape, got {tuple(sr.shape)}, {tuple(hr.shape)}"
        )
    height, width = sr.shape[2:]
    if shave < 0 or 2 * shave >= min(height, width):
        raise ValueError(f"shave={shave} leaves nothing of a {height}x{width} image")
    window = (..., slice(shave, height - shave), slice(shave, width - shave))
    difference = (quantize(sr) - quantize(hr))[window]
    if difference.shape[1] == 3:
        coefficients = torch.tensor(Y_COEFFICIENTS, dtype=torch.float64, device=sr.device) / 256.0
        difference = (difference * coefficients.view(1, 3, 1, 1)).sum(dim=1, keepdim=True)  # the offset 16 cancels
    mse = difference.pow(2).flatten(1).mean(dim=1)
    return 10.0 * torch.log10(PEAK**2 / mse)
