"""Meta-Upscale: equal (<= 1e-4) to the direct per-pixel algorithm at integer and non-integer scales, in both
of its evaluation paths, forward and backward; exact output sizes; tiles equal the whole image."""

from __future__ import annotations

import warnings

import pytest
import torch

from slimkit.methods.meta_sr.upscale import output_range, upscale
from slimkit.models import MetaEDSR, MetaRDN
from slimkit.models.meta_upscale import MetaUpscale, meta_upscale_per_pixel
from slimkit.sr.imresize import output_size

SCALES = [2.0, 3.0, 4.0, 1.5, 2.5, 2.7, 3.7, 1.1, 3.14159]


@pytest.mark.parametrize("path", ["row_offset_convs", "gathered_patches"])
@pytest.mark.parametrize("scale", SCALES)
def test_equals_the_per_pixel_algorithm_forward_and_backward(scale, path):
    torch.manual_seed(0)
    module = MetaUpscale(8, chunk_elements=5000)
    if path == "gathered_patches":
        module.conv_waste_limit = 0
    features = torch.randn(2, 8, 5, 7, requires_grad=True)
    ours = module(features, scale)
    reference = meta_upscale_per_pixel(features, scale, module.predict)
    assert ours.shape == (2, 3, output_size(5, scale), output_size(7, scale))  # H and W kept apart
    torch.testing.assert_close(ours, reference, atol=1e-4, rtol=1e-4)
    gradient = torch.randn_like(ours)
    ours_grads = torch.autograd.grad(ours, [features, *module.parameters()], gradient)
    reference_grads = torch.autograd.grad(reference, [features, *module.parameters()], gradient)
    for mine, theirs in zip(ours_grads, reference_grads, strict=True):
        torch.testing.assert_close(mine, theirs, atol=1e-3, rtol=1e-3)


def test_output_sizes_are_floor_of_scale_times_size():
    assert [output_size(10, scale) for scale in (2.7, 3.0, 1.1, 2.5, 4.0)] == [27, 30, 11, 25, 40]
    assert output_size(37, 2.7) == 99  # 99.9 -> 99
    model = MetaRDN(config="small")
    assert model(torch.rand(1, 3, 10, 13), 2.7).shape == (1, 3, 27, 35)


@pytest.mark.parametrize("scale", [2.0, 2.7])
def test_tiles_give_the_whole_image_output(scale):
    torch.manual_seed(0)
    model = MetaEDSR(blocks=1, features=8).eval()
    image = torch.rand(1, 3, 11, 14)
    with torch.no_grad():
        whole = model(image, scale).clamp(0, 1)
    tiled = upscale(model, image, scale, tile=4, margin=16)  # margin past the receptive field: exact
    torch.testing.assert_close(tiled, whole, atol=1e-5, rtol=1e-5)
    assert output_range(4, 8, 11, scale) == (
        next(i for i in range(100) if int(i / scale + 1e-9) >= 4),
        next(i for i in range(100) if int(i / scale + 1e-9) >= 8),
    )


def test_any_scale_above_one_runs_and_outside_the_trained_range_warns_once():
    model = MetaRDN(config="small").eval()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model(torch.rand(1, 3, 6, 6), 3.3)  # inside 1.1..4.0: silent
    with pytest.warns(UserWarning, match="outside the trained range"):
        model(torch.rand(1, 3, 6, 6), 6.0)
    with pytest.raises(ValueError, match="must be > 1"):
        model(torch.rand(1, 3, 6, 6), 1.0)


def test_rdn_config_b_has_the_papers_size():
    params = sum(p.numel() for p in MetaRDN(config="B").parameters())
    assert 22.0e6 < params < 22.6e6  # RDN ~22M + the weight-prediction MLP
