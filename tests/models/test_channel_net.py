"""Channel-prunable networks: the FLOPs count equals torch's FlopCounterMode for random encodings, the
full-width networks have the papers' sizes, and encodings are read from lists and search files alike."""

from __future__ import annotations

import json
import random
from functools import partial

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from slimkit.methods.metapruning import DEFAULT_RATIOS
from slimkit.models import MobileNetV1, MobileNetV2, PrunableResNet
from slimkit.models.channel_spec import network_flops

NETWORKS = {
    "mobilenet_v1": MobileNetV1,
    "mobilenet_v2": MobileNetV2,  # the official MetaPruning PruningNet's layout
    "mobilenet_v2_torchvision": partial(MobileNetV2, layout="torchvision"),
    "resnet20": PrunableResNet,
}


def counted_flops(model: torch.nn.Module, channels: int, size: int) -> int:
    with FlopCounterMode(display=False) as counter:
        model.eval()(torch.randn(1, channels, size, size))
    return counter.get_total_flops()


@pytest.mark.parametrize("name", NETWORKS)
def test_flops_equal_the_flop_counter_for_20_random_encodings(name):
    rng = random.Random(0)
    genes = len(NETWORKS[name](1, 10, 8).spec.genes)
    for _ in range(20):
        encoding = [rng.choice(DEFAULT_RATIOS) for _ in range(genes)]
        model = NETWORKS[name](1, 10, 8, encoding=encoding)
        assert network_flops(model.spec, encoding) == counted_flops(model, 1, 8)


@pytest.mark.parametrize("name", ["mobilenet_v1", "mobilenet_v2_torchvision"])
def test_imagenet_size_flops_and_parameters_are_the_papers(name):
    """Full width at 224x224: torchvision's MobileNetV2 (3,504,872 parameters, 300.8M multiply-adds) and the
    MobileNetV1 paper's 4.2M parameters and 569M multiply-adds; a pruned encoding is counted exactly too."""
    model = NETWORKS[name](3, 1000, 224)
    params = sum(p.numel() for p in model.parameters())
    flops = network_flops(model.spec, model.encoding)
    assert flops == counted_flops(model, 3, 224)
    if name == "mobilenet_v2_torchvision":
        assert params == 3_504_872 and round(flops / 2e6, 1) == 300.8
    else:
        assert round(params / 1e6, 1) == 4.2 and round(flops / 2e6) == 569
    encoding = [random.Random(1).choice(DEFAULT_RATIOS) for _ in model.spec.genes]
    pruned = NETWORKS[name](3, 1000, 224, encoding=encoding)
    assert network_flops(pruned.spec, encoding) == counted_flops(pruned, 3, 224)


def test_an_encoding_is_read_from_a_list_json_or_a_search_file(tmp_path):
    genes = len(PrunableResNet(1, 10, 8).spec.genes)
    encoding = [0.5] * genes
    best = tmp_path / "best.json"
    best.write_text(json.dumps({"encoding": encoding, "flops": 1}))
    widths = [layer.conv.out_channels for layer in PrunableResNet(1, 10, 8, encoding=encoding).layers]
    assert widths == [layer.conv.out_channels for layer in PrunableResNet(1, 10, 8, encoding=str(best)).layers]
    assert widths[0] == 8  # the stem shares stage 1's gene: 16 * 0.5
    with pytest.raises(ValueError, match=f"has {genes} genes"):
        PrunableResNet(1, 10, 8, encoding=[0.5])
    with pytest.raises(ValueError, match=r"ratios must be in \(0, 1\]"):
        PrunableResNet(1, 10, 8, encoding=[1.5] * genes)
    with pytest.raises(ValueError, match="cannot read the encoding file"):
        PrunableResNet(1, 10, 8, encoding=str(tmp_path / "missing.json"))
