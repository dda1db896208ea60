"""MATLAB-compatible bicubic imresize: the kernel, hand-derived resizes, invariants, and the SR size protocol."""

from __future__ import annotations

import math

import numpy as np
import pytest

from slimkit.sr.imresize import crop_to_scale, cubic, imresize, lr_size, output_size


def test_cubic_kernel_is_keys_with_a_minus_half():
    # Keys (1981), a = -0.5: (a+2)|x|^3 - (a+3)|x|^2 + 1 on |x| <= 1, a|x|^3 - 5a|x|^2 + 8a|x| - 4a on 1 < |x| <= 2
    points = np.array([0, 0.5, 1, 1.5, 2, 2.5, -0.5, -1.5])
    expected = [1, 0.5625, 0, -0.0625, 0, 0, 0.5625, -0.0625]
    assert np.allclose(cubic(points), expected, rtol=0, atol=1e-15)


def test_downscale_by_two_matches_the_hand_derivation():
    # 1 x 4 -> 1 x 2, scale 0.5. Antialiasing: h(x) = 0.5 * cubic(0.5 x), kernel width 4 / 0.5 = 8, taps 8 + 2.
    # Output 1: u = 1 / 0.5 + 0.5 (1 - 2) = 1.5, left = floor(1.5 - 4) = -3, taps at indices -3..6, distances
    # u - index = 4.5 3.5 2.5 1.5 0.5 -0.5 ... -4.5, so h = 0, 0.5 cubic(1.75), 0.5 cubic(1.25), 0.5 cubic(0.75),
    # 0.5 cubic(0.25), mirrored: cubic(1.75) = -0.0234375, cubic(1.25) = -0.0703125, cubic(0.75) = 0.2265625,
    # cubic(0.25) = 0.8671875, so the weights on indices -2..5 are (-1.5, -4.5, 14.5, 55.5, 55.5, 14.5, -4.5, -1.5)
    # / 128 (sum 1: no renormalisation). Mirroring aux = [1 2 3 4 4 3 2 1] (modulo 8) reads indices -2..5 as pixels
    # 3 2 1 1 2 3 4 4, so out(1) = (-4.5 - 9 + 14.5 + 55.5 + 111 + 43.5 - 18 - 6) / 128 = 187 / 128.
    # Output 2 (u = 3.5) mirrors output 1: 5 - 187 / 128 = 453 / 128.
    row = np.array([[1.0, 2.0, 3.0, 4.0]])
    assert np.allclose(imresize(row, (1, 2)), [[187 / 128, 453 / 128]], rtol=0, atol=1e-12)
    # 4 x 4 with a[i, j] = 10 i + j (1-based) is separable and linear: each axis maps [1 2 3 4] to
    # [187/128, 453/128], so the result is 10 * [1.4609375, 3.5390625]' + [1.4609375, 3.5390625]
    image = 10.0 * np.arange(1, 5)[:, None] + np.arange(1, 5)[None, :]
    expected = [[16.0703125, 18.1484375], [36.8515625, 38.9296875]]
    assert np.allclose(imresize(image, (2, 2)), expected, rtol=0, atol=1e-12)


def test_upscale_by_two_matches_the_hand_derivation():
    # 1 x 4 -> 1 x 8, scale 2: plain cubic, width 4, taps 6. Output 1: u = 0.5 + 0.5 (1 - 0.5) = 0.75,
    # left = floor(0.75 - 2) = -2, distances 2.75 1.75 0.75 -0.25 -1.25 -2.25 -> weights (-6, 58, 222, -18) / 256
    # on indices -1, 0, 1, 2, which read pixels 2, 1, 1, 2 (values 10, 0, 0, 10): (-60 - 180) / 256 = -0.9375.
    # Output 2: u = 1.25, weights (-18, 222, 58, -6) / 256 on indices 0..3 -> pixels 1 1 2 3: 460 / 256 = 1.796875.
    # Output 3: u = 1.75, weights (-6, 58, 222, -18) / 256 on indices 0..3 -> pixels 1 1 2 3: 1860 / 256.
    # Output 4: u = 2.25 reads pixels 1..4 with (-18, 222, 58, -6) / 256: 3200 / 256 = 12.5 (the ramp, exactly).
    # The signal is antisymmetric about 15, so outputs 5..8 are 30 minus outputs 4..1.
    row = np.array([[0.0, 10.0, 20.0, 30.0]])
    first = [-0.9375, 1.796875, 1860 / 256, 12.5]
    expected = first + [30 - value for value in reversed(first)]
    assert np.allclose(imresize(row, (1, 8)), [expected], rtol=0, atol=1e-12)


def matlab_imresize_literal(image: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """A slow, literal transcription of imresize.m (1-based loops, float64) to check the vectorised version."""

    def resize_axis(values: np.ndarray, out_length: int) -> np.ndarray:
        in_length = values.shape[0]
        scale = out_length / in_length
        width = 4 / scale if scale < 1 else 4

        def kernel(x):
            return scale * cubic(scale * x) if scale < 1 else cubic(x)

        aux = list(range(1, in_length + 1)) + list(range(in_length, 0, -1))
        out = np.zeros((out_length,) + values.shape[1:])
        for x in range(1, out_length + 1):
            u = x / scale + 0.5 * (1 - 1 / scale)
            left = math.floor(u - width / 2)
            taps = [left + k for k in range(math.ceil(width) + 2)]
            weights = np.array([float(kernel(u - index)) for index in taps])
            weights /= weights.sum()
            for index, weight in zip(taps, weights, strict=True):
                out[x - 1] += weight * values[aux[(index - 1) % len(aux)] - 1]
        return out

    scales = [rows / image.shape[0], cols / image.shape[1]]
    result = image.astype(np.float64)
    for axis in sorted((0, 1), key=lambda a: scales[a]):
        moved = np.moveaxis(result, axis, 0)
        result = np.moveaxis(resize_axis(moved, (rows, cols)[axis]), 0, axis)
    return result


@pytest.mark.parametrize("size", [(5, 17), (13, 4), (3, 3), (20, 9), (1, 6)])
def test_vectorised_resize_equals_the_literal_transcription(size):
    image = np.random.default_rng(0).uniform(0, 255, (7, 11, 2))
    assert np.allclose(imresize(image, size), matlab_imresize_literal(image, *size), rtol=0, atol=1e-9)


@pytest.mark.parametrize("scale", [1.1, 2.7, 0.37, 4.0, 0.25])
def test_constant_images_stay_constant(scale):
    size = (max(1, round(40 * scale)), max(1, round(30 * scale)))
    floats = np.full((40, 30, 3), 123.4)
    assert np.allclose(imresize(floats, size), 123.4, rtol=0, atol=1e-10)
    assert np.all(imresize(np.full((40, 30), 77, dtype=np.uint8), size) == 77)


def test_uint8_rounds_half_away_from_zero_and_clips():
    row = np.array([[0, 10, 20, 30]], dtype=np.uint8)
    # the float outputs -0.9375 1.796875 7.265625 12.5 17.5 22.734375 28.203125 30.9375: 12.5 rounds up to 13
    # (round half to even would give 12) and -0.9375 clips to 0
    resized = imresize(row, (1, 8))
    assert resized.dtype == np.uint8
    assert resized.tolist() == [[0, 2, 7, 13, 18, 23, 28, 31]]
    step = np.array([[0, 0, 255, 255]] * 2, dtype=np.uint8)
    assert imresize(step.astype(np.float64), (2, 8)).min() < 0 and imresize(step.astype(np.float64), (2, 8)).max() > 255
    clipped = imresize(step, (2, 8))
    assert clipped.min() == 0 and clipped.max() == 255


def test_uint8_is_rounded_after_each_axis_like_matlab():
    # MATLAB's resize kernel returns the class of its input, so a uint8 image is rounded after the first axis too.
    # a[i, j] = 10 i + j: rows first gives [14.609375 + j, 35.390625 + j] -> [15 + j, 35 + j], then the columns
    # give 15 + [1.4609375, 3.5390625] -> [16, 19] and 35 + ... -> [36, 39]. Rounding only once at the end would
    # give round([[16.0703125, 18.1484375], [36.8515625, 38.9296875]]) = [[16, 18], [37, 39]].
    image = (10 * np.arange(1, 5)[:, None] + np.arange(1, 5)[None, :]).astype(np.uint8)
    assert imresize(image, (2, 2)).tolist() == [[16, 19], [36, 39]]


@pytest.mark.parametrize(("shape", "size"), [((50, 70, 3), (37, 53)), ((50, 70), (1, 1)), ((9, 8, 1), (200, 7))])
def test_output_has_exactly_the_requested_shape(shape, size):
    image = np.random.default_rng(1).integers(0, 256, shape, dtype=np.uint8)
    resized = imresize(image, size)
    assert resized.shape == size + shape[2:] and resized.dtype == np.uint8
    assert imresize(image.astype(np.float32), size).dtype == np.float64


def test_up_then_down_at_an_integer_scale_is_close_to_identity():
    rows, cols = np.meshgrid(np.arange(64), np.arange(48), indexing="ij")
    smooth = 128 + 60 * np.sin(rows / 7.0) * np.cos(cols / 5.0) + 30 * np.cos((rows + cols) / 11.0)
    back = imresize(imresize(smooth, (128, 96)), (64, 48))
    interior = (slice(4, -4), slice(4, -4))
    assert np.abs(back - smooth)[interior].max() < 0.5
    assert np.abs(back - smooth)[interior].mean() < 0.1


def test_rows_and_columns_are_resized_independently_per_channel():
    image = np.random.default_rng(2).uniform(0, 255, (21, 17, 3))
    stacked = np.stack([imresize(image[..., channel], (10, 30)) for channel in range(3)], axis=2)
    assert np.array_equal(imresize(image, (10, 30)), stacked)


@pytest.mark.parametrize(("image", "size", "message"), [
    (np.zeros((4, 4)), (0, 3), "positive integers"),
    (np.zeros((4, 4)), (3, -1), "positive integers"),
    (np.zeros((4, 4)), (2.5, 3), "positive integers"),
    (np.zeros((4, 4)), (2, 3, 4), "output_shape"),
    (np.zeros((0, 4)), (2, 3), "non-empty"),
    (np.zeros(4), (2, 3), "non-empty"),
])  # fmt: skip
def test_bad_sizes_are_value_errors(image, size, message):
    with pytest.raises(ValueError, match=message):
        imresize(image, size)


def test_sizes_are_exact_on_the_tenths_grid():
    # plain floor() loses a pixel here: 1.4 * 45 = 62.99999999999999 and 33 / 1.1 = 29.999999999999996
    assert output_size(45, 1.4) == 63 and lr_size(33, 1.1) == 30
    for tenths in range(11, 121):
        scale = tenths / 10
        for side in range(1, 400):
            assert output_size(side, scale) == side * tenths // 10
            assert lr_size(side, scale) == 10 * side // tenths


def test_crop_to_scale_protocol():
    hr = np.arange(100 * 75 * 3).reshape(100, 75, 3)
    cropped, lr_shape = crop_to_scale(hr, 3.0)
    assert lr_shape == (33, 25) and cropped.shape == (99, 75, 3) and np.array_equal(cropped, hr[:99, :75])
    cropped, lr_shape = crop_to_scale(hr, 2.7)  # 100 / 2.7 = 37.04, 37 * 2.7 = 99.9; 75 / 2.7 = 27.8, 27 * 2.7 = 72.9
    assert lr_shape == (37, 27) and cropped.shape == (99, 72, 3)
    for tenths in range(11, 41):
        scale = tenths / 10
        for height in range(3 * tenths // 10 + 1, 200, 7):
            cropped, (lr_h, _) = crop_to_scale(np.zeros((height, 90)), scale)
            assert cropped.shape[0] == output_size(lr_h, scale) <= height
            assert height - cropped.shape[0] < scale + 1


def test_crop_to_scale_rejects_impossible_requests():
    with pytest.raises(ValueError, match="scales must be >= 1"):
        crop_to_scale(np.zeros((10, 10)), 0.5)
    with pytest.raises(ValueError, match="too small for scale 4"):
        crop_to_scale(np.zeros((3, 10)), 4.0)
    with pytest.raises(ValueError, match="scale must be positive"):
        lr_size(10, 0)
