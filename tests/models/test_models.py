"""The plain networks: the papers' parameter counts, shapes on any input size, clear errors."""

from __future__ import annotations

import pytest
import torch

from slimkit.models import VGG16, CifarResNet, LeNet5, WideResNet


def parameter_count(model: torch.nn.Module) -> int:
    return sum(parameter.numel() for parameter in model.parameters())


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        (CifarResNet(3, 10, 32, depth=20), 269_722),  # He et al.: 0.27M
        (CifarResNet(3, 10, 32, depth=56), 853_018),  # 0.85M
        (WideResNet(3, 10, 32, depth=16, widen_factor=4), 2_748_890),  # Zagoruyko & Komodakis: 2.7M
        (WideResNet(3, 10, 32, depth=28, widen_factor=10), 36_479_194),  # 36.5M
        (VGG16(3, 10, 32), 14_724_042),
        (LeNet5(1, 10, 32), 61_706),  # LeCun et al.: ~60k
    ],
)
def test_parameter_counts_match_the_papers(model, expected):
    assert parameter_count(model) == expected


@pytest.mark.parametrize("size", [16, 28, 32])
@pytest.mark.parametrize("channels", [1, 3])
def test_models_size_themselves_from_the_input(size, channels):
    inputs = torch.randn(2, channels, size, size)
    models = [
        LeNet5(channels, 7, size),
        CifarResNet(channels, 7, size, depth=8),
        WideResNet(channels, 7, size, depth=10),
    ]
    if size >= 32:
        models.append(VGG16(channels, 7, size))
    for model in models:
        assert model(inputs).shape == (2, 7)


def test_resnet_downsamples_twice_with_parameter_free_shortcuts():
    model = CifarResNet(3, 10, 32, depth=20)
    features = model.stages(model.stem(torch.randn(1, 3, 32, 32)))
    assert features.shape == (1, 64, 8, 8)
    assert not any("shortcut" in name for name, _ in model.named_parameters())


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: CifarResNet(3, 10, 32, depth=21), "6n\\+2"),
        (lambda: WideResNet(3, 10, 32, depth=15), "6n\\+4"),
        (lambda: WideResNet(3, 10, 32, widen_factor=0), "widen_factor"),
        (lambda: VGG16(3, 10, 16), "at least 32x32"),
        (lambda: LeNet5(1, 10, 8), "at least 16x16"),
    ],
)
def test_impossible_shapes_are_rejected(build, message):
    with pytest.raises(ValueError, match=message):
        build()
