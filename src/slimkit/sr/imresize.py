"""MATLAB-compatible bicubic ``imresize`` with an explicit output size, and the size protocol of SR benchmarks.

SR papers make their LR images with MATLAB's ``imresize(hr, [h w])`` (bicubic, antialiasing on when shrinking).
PIL, OpenCV and torch use other kernels (a = -0.75) or no antialiasing, so LR images made with them, and every
PSNR measured on them, differ from the published ones. ``imresize`` follows MATLAB's imresize.m step by step:
contributions() per axis, the mirrored border indices, the order of the axes and, for uint8 images, the rounding
after each axis (MATLAB's resize kernel returns the class of its input, so the intermediate image is uint8 too).

Sizes: the LR side of an HR side H at scale r is floor(H / r) and a model's output side of an LR side h is
floor(r * h). Both are computed with a 1e-9 tolerance (``SIZE_EPSILON``) so float noise cannot drop a pixel
(2.3 * 10 is 22.999999999999996 in floating point, but the output side is 23). Use ``lr_size`` and ``output_size``
everywhere so data, models and metrics agree on every size.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import sparse  # a dependency of scikit-image

KERNEL_WIDTH = 4.0  # support of the cubic kernel, before widening for antialiasing
SIZE_EPSILON = 1e-9


def cubic(x: np.ndarray) -> np.ndarray:
    """Keys' (1981) cubic convolution kernel with a = -0.5, MATLAB's 'bicubic'; zero outside [-2, 2]."""
    ax = np.abs(np.asarray(x, dtype=np.float64))
    ax2, ax3 = ax * ax, ax * ax * ax
    inner = (1.5 * ax3 - 2.5 * ax2 + 1) * (ax <= 1)
    outer = (-0.5 * ax3 + 2.5 * ax2 - 4 * ax + 2) * ((ax > 1) & (ax <= 2))
    return inner + outer


def contributions(in_length: int, out_length: int, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """The input indices (0-based, mirrored at the borders) and weights of every output index along one axis,
    both [out_length, taps], as MATLAB's contributions(): when shrinking, the kernel is stretched by 1 / scale
    and scaled by scale (antialiasing); weights are normalised to sum 1 per output index."""
    if scale < 1:

        def kernel(x: np.ndarray) -> np.ndarray:
            return scale * cubic(scale * x)

        width = KERNEL_WIDTH / scale
    else:
        kernel, width = cubic, KERNEL_WIDTH
    x = np.arange(1, out_length + 1, dtype=np.float64)  # MATLAB's 1-based output coordinates
    u = x / scale + 0.5 * (1 - 1 / scale)  # where output pixel x falls in input coordinates
    left = np.floor(u - width / 2)
    taps = math.ceil(width) + 2
    indices = left[:, None] + np.arange(taps)  # 1-based, may run past both borders
    weights = kernel(u[:, None] - indices)
    weights = weights / weights.sum(axis=1, keepdims=True)
    # MATLAB's aux = [1:in_length, in_length:-1:1] indexed modulo its length: symmetric padding that repeats the
    # border pixel (index 0 reads 1, index -1 reads 2, in_length + 1 reads in_length) and stays valid far out.
    mirror = np.concatenate([np.arange(in_length), np.arange(in_length - 1, -1, -1)])
    indices = mirror[np.mod(indices.astype(np.int64) - 1, 2 * in_length)]
    used = np.any(weights != 0, axis=0)  # MATLAB drops tap columns that are zero for every output index
    return indices[:, used], weights[:, used]


def _resize_axis(image: np.ndarray, axis: int, indices: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Resize one axis of a float64 image: a sparse [out, in] matrix (taps nonzeros per row; mirrored taps that
    read the same pixel are summed) times the image with that axis first."""
    out_length, taps = indices.shape
    rows = np.repeat(np.arange(out_length), taps)
    matrix = sparse.csr_array((weights.ravel(), (rows, indices.ravel())), shape=(out_length, image.shape[axis]))
    moved = np.moveaxis(image, axis, 0)
    resized = matrix @ moved.reshape(moved.shape[0], -1)
    return np.moveaxis(resized.reshape((out_length,) + moved.shape[1:]), 0, axis)


def _round_to_uint8_range(image: np.ndarray) -> np.ndarray:
    """Clip to 0..255 and round half away from zero (MATLAB's conversion to uint8), kept as float64."""
    return np.floor(np.clip(image, 0, 255) + 0.5)


def imresize(image: np.ndarray, output_shape: tuple[int, int]) -> np.ndarray:
    """MATLAB's ``imresize(image, [rows cols])`` (bicubic, antialiasing on) for HxW or HxWxC arrays.

    The scale per axis is output / input size, so non-integer scales, up or down, give exactly the requested
    shape. The axis with the smaller scale is resized first (rows first on a tie), as MATLAB does. uint8 in ->
    uint8 out, rounded and clipped after each axis like MATLAB; any other dtype is computed and returned as
    float64, not clipped.
    """
    image = np.asarray(image)
    if image.ndim not in (2, 3) or image.shape[0] < 1 or image.shape[1] < 1:
        raise ValueError(f"imresize expects a non-empty HxW or HxWxC image, got shape {image.shape}")
    if len(output_shape) != 2:
        raise ValueError(f"imresize needs output_shape=(rows, cols), got {output_shape}")
    rows, cols = output_shape
    if int(rows) != rows or int(cols) != cols or rows < 1 or cols < 1:
        raise ValueError(f"imresize output sizes must be positive integers, got {output_shape}")
    sizes = (int(rows), int(cols))
    is_uint8 = image.dtype == np.uint8
    result = image.astype(np.float64)
    scales = [sizes[axis] / image.shape[axis] for axis in (0, 1)]
    for axis in np.argsort(scales, kind="stable"):
        axis = int(axis)
        indices, weights = contributions(image.shape[axis], sizes[axis], scales[axis])
        result = _resize_axis(result, axis, indices, weights)
        if is_uint8:
            result = _round_to_uint8_range(result)
    return result.astype(np.uint8) if is_uint8 else result


def _check_scale(scale: float) -> None:
    if not scale > 0:
        raise ValueError(f"scale must be positive, got {scale}")


def lr_size(hr_size: int, scale: float) -> int:
    """The LR side of an HR side at scale r: floor(hr / r), with the ``SIZE_EPSILON`` tolerance."""
    _check_scale(scale)
    return math.floor(hr_size / scale + SIZE_EPSILON)


def output_size(lr_size: int, scale: float) -> int:
    """A model's output side for an LR side at scale r: floor(r * lr), with the ``SIZE_EPSILON`` tolerance."""
    _check_scale(scale)
    return math.floor(lr_size * scale + SIZE_EPSILON)


def crop_to_scale(hr: np.ndarray, scale: float) -> tuple[np.ndarray, tuple[int, int]]:
    """The benchmark protocol: LR size (floor(H / r), floor(W / r)); the HR cropped (top-left, a view) to
    (floor(r * lr_h), floor(r * lr_w)), the exact size of a model's output for that LR image."""
    if not scale >= 1:
        raise ValueError(f"super-resolution scales must be >= 1, got {scale}")
    height, width = hr.shape[:2]
    lr_h, lr_w = lr_size(height, scale), lr_size(width, scale)
    if lr_h < 1 or lr_w < 1:
        raise ValueError(f"an image of {height}x{width} is too small for scale {scale}")
    return hr[: output_size(lr_h, scale), : output_size(lr_w, scale)], (lr_h, lr_w)
